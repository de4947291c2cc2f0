"""The text-level model seam: messages in, streamed text out, with usage and how the answer ended.

Every backend (the in-process llama.cpp / ctransformers engines, an OpenAI-compatible server) implements
`ChatModel`; the QA chain talks to nothing else. Counting tokens is a capability a backend may offer
(`CountsTokens`); `token_counter()` falls back to an estimate for those that cannot.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, Protocol, runtime_checkable

from models.text_stream import FinishReason

if TYPE_CHECKING:
    from langchain_core.language_models import BaseLLM

Role = Literal["system", "user", "assistant"]


@dataclass(frozen=True)
class Message:
    """One turn of a conversation."""

    role: Role
    content: str


def system(text: str) -> Message:
    """A system turn."""
    return Message("system", text)


def user(text: str) -> Message:
    """A user turn."""
    return Message("user", text)


def assistant(text: str) -> Message:
    """An assistant turn (an earlier answer)."""
    return Message("assistant", text)


@dataclass
class Usage:
    """Tokens one answer took; `estimated` when the backend could not count them exactly."""

    prompt_tokens: int = 0
    completion_tokens: int = 0
    estimated: bool = False


class Generation(Iterator[str]):
    """The streamed text of one answer. `finish_reason` and `usage` are final once it is exhausted;
    closing it (or leaving a `with` block) stops generation and, for a server, closes the request."""

    def __init__(self) -> None:
        self.finish_reason: FinishReason = "eos"
        self.usage = Usage()
        self._pieces: Iterator[str] = iter(())

    def bind(self, pieces: Iterator[str]) -> Generation:
        """Attach the backend's generator of text pieces (which fills in finish_reason and usage)."""
        self._pieces = pieces
        return self

    def __iter__(self) -> Generation:
        return self

    def __next__(self) -> str:
        return next(self._pieces)

    def close(self) -> None:
        """Stop generating now."""
        close = getattr(self._pieces, "close", None)
        if close is not None:
            close()

    def __enter__(self) -> Generation:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def text(self) -> str:
        """Everything still to come, joined."""
        try:
            return "".join(self)
        finally:
            self.close()


@runtime_checkable
class ChatModel(Protocol):
    """A language model behind docbot's one seam."""

    @property
    def backend_name(self) -> str:
        """The registry name it was loaded by (llama-cpp, ctransformers, openai)."""
        ...

    def stream_chat(
        self,
        messages: Sequence[Message],
        *,
        max_tokens: int | None = None,
        stop: Sequence[str] = (),
        deadline: float | None = None,
        cancel: threading.Event | None = None,
    ) -> Generation:
        """Answer the last user turn of `messages`, streaming text. Generation ends at the model's end of
        turn, a `stop` string, `max_tokens`, `deadline` (a time.monotonic() value) or `cancel`."""
        ...


@runtime_checkable
class CountsTokens(Protocol):
    """The optional capability: the model's own token count of a text."""

    def count_tokens(self, text: str) -> int:
        """Tokens `text` takes in a prompt."""
        ...


@runtime_checkable
class ChecksReady(Protocol):
    """The optional capability of a remote model: say at start whether it can answer."""

    def check_ready(self) -> str | None:
        """None when ready, else one line saying what is wrong."""
        ...


class LLMUnavailableError(RuntimeError):
    """The model cannot answer now (its server is down, overloaded or broke off); asking later may work."""


def estimate_tokens(text: str) -> int:
    """A rough token count (about 4 characters a token) for backends that cannot count."""
    return max(1, len(text) // 4)


def token_counter(model: object) -> Callable[[str], int]:
    """The model's own token count when it has one, else the estimate."""
    return model.count_tokens if isinstance(model, CountsTokens) else estimate_tokens


def split_conversation(messages: Sequence[Message]) -> tuple[str | None, list[tuple[str, str]], str]:
    """(system, previous (user, answer) turns, the last user turn) of a conversation."""
    if not messages or messages[-1].role != "user":
        raise ValueError("a conversation must end with a user turn")
    rest = list(messages[:-1])
    sys_text = rest.pop(0).content if rest and rest[0].role == "system" else None
    previous: list[tuple[str, str]] = []
    asked: str | None = None
    for message in rest:
        if message.role == "user" and asked is None:
            asked = message.content
        elif message.role == "assistant" and asked is not None:
            previous.append((asked, message.content))
            asked = None
        else:
            raise ValueError(f"unexpected {message.role} turn: turns must alternate user, assistant")
    if asked is not None:
        raise ValueError("a user turn without its answer")
    return sys_text, previous, messages[-1].content


class LangChainChat:
    """Any langchain-core LLM behind the seam (the local model's `previous`/`deadline` keywords kept)."""

    def __init__(self, llm: BaseLLM) -> None:
        self.llm = llm

    @property
    def backend_name(self) -> str:
        """The LangChain LLM's type."""
        return str(self.llm._llm_type)

    def count_tokens(self, text: str) -> int:
        """The LLM's own count when it defines one, else the estimate."""
        counter = getattr(self.llm, "count_tokens", None)
        return int(counter(text)) if callable(counter) else estimate_tokens(text)

    def stream_chat(
        self,
        messages: Sequence[Message],
        *,
        max_tokens: int | None = None,
        stop: Sequence[str] = (),
        deadline: float | None = None,
        cancel: threading.Event | None = None,
    ) -> Generation:
        """Stream the LLM's answer to the last user turn (a system turn is folded into it)."""
        sys_text, previous, prompt = split_conversation(messages)
        if sys_text:
            prompt = f"{sys_text}\n\n{prompt}"
        kwargs: dict[str, Any] = {"deadline": deadline}
        if previous:
            kwargs["previous"] = previous
        if max_tokens is not None:
            kwargs["max_new_tokens"] = max_tokens
        if cancel is not None:
            kwargs["cancel"] = cancel
        generation = Generation()
        return generation.bind(self._pieces(generation, prompt, list(stop) or None, kwargs))

    def _pieces(
        self, generation: Generation, prompt: str, stop: list[str] | None, kwargs: dict[str, Any]
    ) -> Iterator[str]:
        from langchain_core.callbacks import BaseCallbackHandler

        info: dict[str, Any] = {}

        class _Finish(BaseCallbackHandler):
            def on_llm_end(self, response: Any, **_: Any) -> None:
                for generations in response.generations:
                    for gen in generations:
                        info.update(gen.generation_info or {})

        count = 0
        said: list[str] = []
        for piece in self.llm.stream(prompt, stop=stop, config={"callbacks": [_Finish()]}, **kwargs):
            if piece:
                count += 1
                said.append(piece)
                yield piece
        reason = info.get("finish_reason")
        generation.finish_reason = reason if reason else "eos"
        if "prompt_tokens" in info:
            generation.usage = Usage(int(info["prompt_tokens"]), int(info.get("generated_tokens", count)))
        else:
            generation.usage = Usage(estimate_tokens(prompt), estimate_tokens("".join(said)), estimated=True)


def as_chat_model(llm: object) -> ChatModel:
    """`llm` behind the seam: a ChatModel as it is, a langchain-core LLM through LangChainChat."""
    if isinstance(llm, ChatModel):
        return llm
    from langchain_core.language_models import BaseLLM

    if isinstance(llm, BaseLLM):
        return LangChainChat(llm)
    raise TypeError(f"{type(llm).__name__} is neither a ChatModel nor a langchain-core LLM")
