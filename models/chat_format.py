"""A model's own chat format: the GGUF file's `tokenizer.chat_template`, Llama-2-chat's [INST], or raw.

Instruct models only stop cleanly when the prompt ends where their training put the start of an answer and
they see their own end-of-turn marker; the tutorial's raw template makes them write on into invented turns.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, Literal

logger = logging.getLogger(__name__)

PromptFormat = Literal["chat", "raw"]

# Llama-2-chat's format (Meta's reference code); used for GGML v3 files and GGUF files without a template.
LLAMA2_TEMPLATE = (
    "{% if messages[0]['role'] == 'system' %}{% set system = messages[0]['content'] %}"
    "{% set turns = messages[1:] %}{% else %}{% set turns = messages %}{% endif %}"
    "{% for message in turns %}"
    "{% if message['role'] == 'user' %}{{ bos_token }}[INST] "
    "{% if loop.first and system is defined %}<<SYS>>\n{{ system }}\n<</SYS>>\n\n{% endif %}"
    "{{ message['content'] }} [/INST]"
    "{% else %} {{ message['content'] }} {{ eos_token }}{% endif %}"
    "{% endfor %}"
)

# Strings that end a turn in the chat formats in common use; generation stops at any of them.
END_OF_TURN = ("</s>", "<|im_end|>", "<|eot_id|>", "<|end|>", "<end_of_turn>", "<|endoftext|>", "[INST]")
# Where a model that missed its end of turn starts writing the next one itself.
INVENTED_TURNS = ("\nHuman:", "\nUser:", "\nUSER:", "\nQuestion:", "\nContext:", "<|im_start|>")


@dataclass(frozen=True)
class ChatFormat:
    """Renders one system + user turn into the prompt text a model expects, with its stop strings."""

    name: str
    template: str | None
    bos_token: str = ""
    eos_token: str = ""
    special_tokens: tuple[str, ...] = field(default=())

    @cached_property
    def _compiled(self) -> Any:
        from jinja2.sandbox import ImmutableSandboxedEnvironment

        def raise_exception(message: str) -> None:
            raise ValueError(message)

        env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True)
        env.globals["raise_exception"] = raise_exception
        return env.from_string(self.template or "")

    @property
    def stops(self) -> tuple[str, ...]:
        """Strings at which an answer ends: end-of-turn markers and invented next turns."""
        if self.template is None:
            return ()
        own = tuple(s for s in (self.eos_token,) if s)
        return tuple(dict.fromkeys((*own, *END_OF_TURN, *INVENTED_TURNS)))

    def render(self, user: str, system: str | None = None, previous: Sequence[tuple[str, str]] = ()) -> str:
        """The prompt for one user turn (after an optional system message and `previous` (user, answer)
        turns), ending where the answer starts."""
        if self.template is None:
            return "".join(f"{asked}{answered}\n\n" for asked, answered in previous) + user
        messages = [{"role": "system", "content": system}] if system else []
        for asked, answered in previous:
            messages.append({"role": "user", "content": self.neutralise(asked)})
            messages.append({"role": "assistant", "content": self.neutralise(answered)})
        messages.append({"role": "user", "content": self.neutralise(user)})
        try:
            return str(
                self._compiled.render(
                    messages=messages,
                    add_generation_prompt=True,
                    bos_token=self.bos_token,
                    eos_token=self.eos_token,
                )
            )
        except Exception as exc:  # a template that rejects a system turn: fold it into the user turn
            if system is None:
                raise
            logger.debug("chat template rejected a system message (%s); folding it into the user turn", exc)
            return self.render(f"{system}\n\n{user}", previous=previous)

    def neutralise(self, text: str) -> str:
        """Text from documents with the model's control-token strings broken, so a PDF cannot end a turn."""
        for token in (*self.special_tokens, *END_OF_TURN):
            if token and token in text:
                text = text.replace(token, token[0] + "\u200b" + token[1:])
        return text


RAW = ChatFormat(name="raw", template=None)


def chat_format_for(
    metadata: Mapping[str, object],
    *,
    prompt_format: PromptFormat,
    bos_token: str = "<s>",
    eos_token: str = "</s>",
    special_tokens: tuple[str, ...] = (),
) -> ChatFormat:
    """The file's own chat template, Llama-2-chat's when it has none, or the raw prompt when asked for."""
    if prompt_format == "raw":
        return RAW
    template = metadata.get("tokenizer.chat_template")
    if isinstance(template, str) and template.strip():
        return ChatFormat("gguf-template", template, bos_token, eos_token, special_tokens)
    return ChatFormat("llama-2", LLAMA2_TEMPLATE, bos_token, eos_token, special_tokens)
