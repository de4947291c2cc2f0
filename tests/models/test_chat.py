"""The text-level model seam: conversations, the LangChain adapter, and the local model behind it (the
real SmolLM2 in process, and the same file behind llama-cpp-python's server: one interface, one answer)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from langchain_core.language_models.fake import FakeListLLM

from models.chat import (
    ChatModel,
    CountsTokens,
    LangChainChat,
    as_chat_model,
    assistant,
    estimate_tokens,
    split_conversation,
    system,
    token_counter,
    user,
)
from models.llm import LocalLLM, load_llm

PASSAGE = (
    "Commercial agreements. Our 10-year agreement with adidas began on 1 August 2015. The minimum guarantee "
    "payable by adidas over the term of the agreement is £750 million, subject to certain adjustments."
)
QUESTION = f"{PASSAGE}\n\nHow much is the minimum guarantee payable by adidas?"
BRIEF = system("Answer from the passage in one short sentence.")


def test_a_conversation_splits_into_system_previous_turns_and_the_question() -> None:
    conversation = [system("Be brief."), user("Q1"), assistant("A1"), user("Q2"), assistant("A2"), user("Q3")]
    assert split_conversation(conversation) == ("Be brief.", [("Q1", "A1"), ("Q2", "A2")], "Q3")
    assert split_conversation([user("Q")]) == (None, [], "Q")
    for broken in ([], [user("Q"), assistant("A")], [user("Q1"), user("Q2")], [assistant("A"), user("Q")]):
        with pytest.raises(ValueError):
            split_conversation(broken)


def test_a_langchain_llm_is_adapted_and_told_the_earlier_turns() -> None:
    seen: list[tuple[str, dict[str, Any]]] = []

    class Recorder(FakeListLLM):
        def _call(self, prompt: str, stop: Any = None, run_manager: Any = None, **kwargs: Any) -> str:
            seen.append((prompt, kwargs))
            return super()._call(prompt, stop, run_manager, **kwargs)

    model = as_chat_model(Recorder(responses=["yes"]))
    assert isinstance(model, LangChainChat) and isinstance(model, ChatModel)
    generation = model.stream_chat(
        [system("Rules."), user("Q1"), assistant("A1"), user("Sure?")], max_tokens=3, deadline=5.0
    )
    assert generation.text() == "yes" and generation.finish_reason == "eos"
    assert generation.usage.estimated and generation.usage.completion_tokens >= 1
    [(prompt, kwargs)] = seen
    assert prompt == "Rules.\n\nSure?"
    assert (
        kwargs["previous"] == [("Q1", "A1")] and kwargs["max_new_tokens"] == 3 and kwargs["deadline"] == 5.0
    )
    with pytest.raises(TypeError):
        as_chat_model("not a model")


def test_token_counting_is_a_capability_with_an_estimate_behind_it() -> None:
    class Counting:
        def count_tokens(self, text: str) -> int:
            return len(text.split())

    assert isinstance(Counting(), CountsTokens)
    assert token_counter(Counting())("a b c") == 3
    assert token_counter(object()) is estimate_tokens and estimate_tokens("x" * 40) == 10


@pytest.fixture(scope="module")
def smol(real_chat_model: Path, tiny_settings: Callable[..., Any]) -> LocalLLM:
    pytest.importorskip("llama_cpp")
    settings = tiny_settings(
        real_chat_model, context_length=2048, batch_size=256, max_new_tokens=64, temperature=0.01
    )
    return load_llm(settings.model_copy(update={"prompt_format": "chat"}))


def test_the_local_model_speaks_the_seam_natively(smol: LocalLLM) -> None:
    assert as_chat_model(smol) is smol  # no adapter: the chain talks to LocalLLM itself
    assert smol.backend_name == "llama-cpp"
    with smol.stream_chat([BRIEF, user(QUESTION)]) as generation:
        pieces = list(generation)
    assert len(pieces) > 2 and "750" in "".join(pieces)
    assert generation.finish_reason in ("eos", "stop")
    assert not generation.usage.estimated and generation.usage.completion_tokens >= len(pieces) - 1
    first_prompt = generation.usage.prompt_tokens
    rendered = smol.chat_format.render(QUESTION, BRIEF.content)
    assert first_prompt == len(smol._loaded.tokenize(rendered, add_bos=False, special=True))

    answer = "".join(pieces)
    follow_up = smol.stream_chat(
        [BRIEF, user(QUESTION), assistant(answer), user("Is that stated above? Reply yes or no.")],
        max_tokens=3,
    )
    assert follow_up.text().strip()
    assert follow_up.usage.completion_tokens <= 3
    assert follow_up.usage.prompt_tokens > first_prompt + smol.count_tokens(answer)


def test_cancel_stops_the_local_model_between_tokens(smol: LocalLLM) -> None:
    cancel = threading.Event()
    generation = smol.stream_chat([user("Write a long story about a dragon.")], max_tokens=200, cancel=cancel)
    next(generation)
    cancel.set()
    rest = generation.text()
    assert generation.finish_reason == "cancelled" and generation.usage.completion_tokens < 10, rest


def test_in_process_and_server_give_the_same_answer_through_the_seam(smol: LocalLLM, llm_server: Any) -> None:
    from models.openai_server import OpenAIServerChat, ServerConfig

    served = OpenAIServerChat(ServerConfig(base_url=llm_server.base_url, max_tokens=64))
    local_text = smol.stream_chat([BRIEF, user(QUESTION)]).text()
    served_text = served.stream_chat([BRIEF, user(QUESTION)]).text()
    assert "750" in local_text and "750" in served_text
