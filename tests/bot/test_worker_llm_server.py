"""The worker answering in the fake Slack through the real QA chain with DOCBOT_LLM_BACKEND=openai against
llama-cpp-python's real server (SmolLM2): a streamed answer, and the server killed mid-answer."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest
from langchain_core.embeddings import Embeddings

from bot.answer import Answer, SourcesCallback, TokenCallback, Turn
from bot.engine import Engine, open_engine
from devtools.pdfs import make_text_pdf
from devtools.waiting import wait_until
from tests.bot.test_cli_real_model import GUARANTEE, LEAVE, QUESTION
from tests.bot.worker_rig import Rig
from tests.llm_server import LlamaServer, start_llama_server
from vectorstore.scopes import FileFilter

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]


def _engine(make_settings: Callable[..., Any], embeddings: Embeddings, tmp_path: Path, url: str) -> Engine:
    data = tmp_path / "data"
    make_text_pdf(data / "club report.pdf", ["Annual report 2022.", GUARANTEE], labels=["i", "43"])
    make_text_pdf(data / "handbook.pdf", [LEAVE])
    settings = make_settings(
        llm_backend="openai", llm_base_url=url, llm_retries=2, llm_retry_backoff_seconds=0.05, k=2
    )
    engine = open_engine(settings, embeddings=embeddings)
    engine.sync()
    assert engine.llm is not None and engine.llm_not_ready is None
    return engine


class KillsServerAtFirstToken:
    """The real QA chain; the server is killed (SIGKILL) as the first token reaches the worker."""

    def __init__(self, engine: Engine, server: LlamaServer) -> None:
        self.engine = engine
        self.server = server
        self.tokens: list[str] = []

    def answer(
        self,
        question: str,
        history: Sequence[Turn] = (),
        on_token: TokenCallback | None = None,
        scope: FileFilter | None = None,
        on_sources: SourcesCallback | None = None,
    ) -> Answer:
        def token(piece: str) -> None:
            if not self.tokens:
                self.server.kill()
            self.tokens.append(piece)
            if on_token is not None:
                on_token(piece)

        return self.engine.qa.answer(question, history, token, scope, on_sources)


@pytest.fixture
def own_server(real_chat_model: Path, tmp_path: Path) -> Iterator[LlamaServer]:
    pytest.importorskip("llama_cpp.server")
    server = start_llama_server(real_chat_model, tmp_path)
    yield server
    server.kill()


def test_an_answer_from_the_server_streams_into_slack_with_citations(
    rig: Rig,
    make_settings: Callable[..., Any],
    embeddings: Embeddings,
    tmp_path: Path,
    llm_server: LlamaServer,
) -> None:
    engine = _engine(make_settings, embeddings, tmp_path, llm_server.base_url)
    try:
        rig.worker(engine.qa)  # type: ignore[arg-type]
        job = rig.ask(QUESTION)
        rig.wait_answered(job, timeout=120)
        final = rig.final_text(job)
        assert "640" in final and "club report.pdf* — p. 2 (printed 43)" in final
        wait_until(lambda: rig.queue.history(job.channel, job.thread_ts), 5, "answer not recorded")
        assert "640" in rig.queue.history(job.channel, job.thread_ts)[0].answer
    finally:
        engine.close()


def test_the_server_killed_mid_answer_gives_an_apology_and_records_nothing(
    rig: Rig,
    make_settings: Callable[..., Any],
    embeddings: Embeddings,
    tmp_path: Path,
    own_server: LlamaServer,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO)
    engine = _engine(make_settings, embeddings, tmp_path, own_server.base_url)
    answerer = KillsServerAtFirstToken(engine, own_server)
    try:
        rig.worker(answerer)  # type: ignore[arg-type]
        job = rig.ask(QUESTION)
        rig.fake.wait_for(lambda _: "Sorry, something went wrong" in rig.final_text(job), 120)
        assert answerer.tokens, "the server was never killed: no token reached the worker"
        assert own_server.process.poll() is not None
        final = rig.final_text(job)
        partial = "".join(answerer.tokens).strip()
        assert "Sources" not in final and (len(partial) < 4 or partial not in final)
        assert rig.queue.history(job.channel, job.thread_ts) == []  # no partial answer kept as the answer
        assert "failed 3 times" in caplog.text and "cannot connect" in caplog.text
        assert "llm server request failed attempt=2" in caplog.text  # retried with backoff first
    finally:
        engine.close()
