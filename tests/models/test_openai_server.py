"""The OpenAI-compatible server backend against llama-cpp-python's real server running the real SmolLM2,
directly and through a loopback proxy that injects 429s, 500s, broken streams and a stalled server."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from models.chat import ChatModel, CountsTokens, LLMUnavailableError, Message, system, user
from models.openai_server import OpenAIServerChat, ServerConfig, sse_data
from tests.fault_proxy import FaultProxy
from tests.llm_server import MODEL_ALIAS, LlamaServer, free_port

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]

PASSAGE = (
    "Commercial agreements. We have a 10-year agreement with Northwind Sports which began on 1 August 2015. "
    "The minimum guarantee payable by Northwind Sports over the term of the agreement is £640 million."
)
QUESTION: list[Message] = [
    system("Answer from the passage in one short sentence."),
    user(f"{PASSAGE}\n\nHow much is the minimum guarantee payable by Northwind Sports?"),
]


def server_model(base_url: str, **config: object) -> OpenAIServerChat:
    values: dict[str, object] = {"max_tokens": 48, "retries": 3, "backoff": 0.2}
    values.update(config)
    return OpenAIServerChat(ServerConfig(base_url=base_url, **values))  # type: ignore[arg-type]


@pytest.fixture
def proxy(llm_server: LlamaServer) -> Iterator[FaultProxy]:
    proxy = FaultProxy("127.0.0.1", llm_server.port)
    yield proxy
    proxy.close()


@pytest.fixture(scope="module")
def direct_answer(llm_server: LlamaServer) -> str:
    """The answer straight from the server: what every retried answer must equal."""
    return server_model(llm_server.base_url).stream_chat(QUESTION).text()


def test_the_server_streams_an_answer_with_finish_reason_and_usage(llm_server: LlamaServer) -> None:
    model = server_model(llm_server.base_url)
    assert isinstance(model, ChatModel) and isinstance(model, CountsTokens)
    with model.stream_chat(QUESTION) as generation:
        pieces = list(generation)
    text = "".join(pieces)
    assert len(pieces) > 2, "the answer came in one piece, not streamed"
    assert "640" in text
    assert generation.finish_reason in ("eos", "stop")  # the model's own end of turn
    usage = generation.usage
    assert usage.completion_tokens >= len(pieces) - 1 and usage.prompt_tokens > 20
    assert model.model_name() == MODEL_ALIAS  # none configured: the one model the server lists


def test_the_token_limit_ends_the_answer_as_length(llm_server: LlamaServer) -> None:
    generation = server_model(llm_server.base_url, max_tokens=4).stream_chat([user("Tell me a long story.")])
    generation.text()
    assert generation.finish_reason == "length" and generation.usage.completion_tokens <= 4


def test_tokens_are_counted_by_the_servers_tokenizer(llm_server: LlamaServer, real_chat_model: Path) -> None:
    from llama_cpp import Llama

    vocab = Llama(model_path=str(real_chat_model), vocab_only=True, verbose=False)
    model = server_model(llm_server.base_url)
    for text in (PASSAGE, "£640,000,000.00 — ünïcödé 😀 tokens", "word " * 50):
        own = len(vocab.tokenize(text.encode("utf-8"), add_bos=False))
        assert model.count_tokens(text) in (own, own + 1)  # +1: a BOS the server may add
    assert model.count_tokens("😀" * 20) != len("😀" * 20) // 4  # not the estimate


def test_a_server_without_a_token_count_gets_the_estimate(proxy: FaultProxy) -> None:
    # Pointed at a path with no tokenizer endpoints under it, the count falls back to chars/4.
    model = server_model(proxy.base_url.replace("/v1", "/nothing/v1"))
    assert model.count_tokens("x" * 400) == 100


def test_readiness_check_passes_and_names_what_is_wrong(llm_server: LlamaServer) -> None:
    assert server_model(llm_server.base_url).check_ready() is None
    assert server_model(llm_server.base_url, model=MODEL_ALIAS).check_ready() is None
    wrong = server_model(llm_server.base_url, model="llama-70b").check_ready()
    assert wrong is not None and "\n" not in wrong
    assert "does not serve model 'llama-70b'" in wrong and MODEL_ALIAS in wrong
    down_url = f"http://127.0.0.1:{free_port()}/v1"
    down = server_model(down_url).check_ready()
    assert down is not None and "\n" not in down
    assert down.startswith(f"LLM server {down_url} not ready: cannot connect")
    not_api = server_model(llm_server.base_url.removesuffix("/v1") + "/v2").check_ready()
    assert not_api is not None and "404" in not_api and "DOCBOT_LLM_BASE_URL" in not_api


def test_429_then_500_are_retried_with_backoff(proxy: FaultProxy, direct_answer: str) -> None:
    proxy.faults[:] = ["429", "500"]
    text = server_model(proxy.base_url).stream_chat(QUESTION).text()
    assert text == direct_answer
    tries = proxy.requests()
    assert [t.fault for t in tries] == ["429", "500", None]
    # Backoff 0.2 s, doubled: the second retry waits longer than the first.
    assert tries[1].at - tries[0].at >= 0.19 and tries[2].at - tries[1].at >= 0.39


def test_a_broken_stream_is_retried_without_repeating_what_was_shown(
    proxy: FaultProxy, direct_answer: str
) -> None:
    proxy.faults[:] = ["drop:8"]
    pieces = list(server_model(proxy.base_url).stream_chat(QUESTION))
    assert "".join(pieces) == direct_answer
    first, second = proxy.requests()
    assert first.fault == "drop:8" and first.lines_relayed == 8 and second.fault is None


def test_retries_run_out_with_a_clear_error(proxy: FaultProxy) -> None:
    proxy.faults[:] = ["500"] * 5
    with pytest.raises(LLMUnavailableError, match=r"failed 3 times, last: HTTP 500: injected fault 500"):
        server_model(proxy.base_url, retries=2, backoff=0.01).stream_chat(QUESTION).text()
    assert len(proxy.requests()) == 3


def test_a_request_the_server_refuses_is_not_retried(proxy: FaultProxy) -> None:
    proxy.faults[:] = ["400"]
    with pytest.raises(LLMUnavailableError, match=r"refused: HTTP 400"):
        server_model(proxy.base_url).stream_chat(QUESTION).text()
    assert len(proxy.requests()) == 1


def test_the_deadline_ends_a_wait_on_a_stalled_server(proxy: FaultProxy) -> None:
    proxy.faults[:] = ["stall"]  # the proxy holds the request for 30 s
    started = time.monotonic()
    generation = server_model(proxy.base_url).stream_chat(QUESTION, deadline=time.monotonic() + 0.5)
    assert generation.text() == ""
    assert generation.finish_reason == "deadline"
    assert time.monotonic() - started < 15  # ended by the deadline, not by the stall or the read timeout


def test_closing_the_answer_closes_the_request(proxy: FaultProxy) -> None:
    generation = server_model(proxy.base_url, max_tokens=400).stream_chat(
        [user("Write a very long story about a dragon who learns to cook.")]
    )
    first = next(generation)
    assert first
    generation.close()
    assert proxy.client_gone.wait(30), "the proxy kept relaying to a client that had closed the answer"
    [request] = proxy.requests()
    assert request.client_gone


def test_the_api_key_is_sent_but_never_logged(proxy: FaultProxy, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    model = server_model(proxy.base_url, api_key="sk-test-5ecret")
    assert model.check_ready() is None
    proxy.faults[:] = ["500"]  # a failed attempt is logged: without the key
    model.stream_chat(QUESTION).text()
    assert {t.authorization for t in proxy.requests()} == {"Bearer sk-test-5ecret"}
    assert "5ecret" not in caplog.text and "5ecret" not in repr(model) and "5ecret" not in repr(model.config)


def test_sse_events_are_parsed_like_the_spec_says() -> None:
    lines = [": keep-alive", 'data: {"a":', "data: 1}", "", "event: x", "data:[DONE]", ""]
    assert list(sse_data(lines)) == ['{"a":\n1}', "[DONE]"]
