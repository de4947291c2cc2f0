"""The console chat that `docbot run` starts without Slack tokens."""

from __future__ import annotations

import io
import os
import pty
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from langchain_core.embeddings import Embeddings

from bot.console import run_console
from bot.engine import open_engine
from devtools.pdfs import make_text_pdf

REPO = Path(__file__).resolve().parents[2]
ADIDAS = "The minimum guarantee payable by adidas over the term of the agreement is 750 million pounds."


class TypeAfterFirstPrompt(io.StringIO):
    """Stdin whose first line is typed only after a PDF was dropped into the data dir."""

    def __init__(self, text: str, before_first: Callable[[], None]) -> None:
        super().__init__(text)
        self.before_first: Callable[[], None] | None = before_first

    # typeshed: _TextIOBase.readline (str) itself overrides _IOBase.readline (bytes) incompatibly
    def readline(self, size: int = -1, /) -> str:  # type: ignore[override]
        if self.before_first:
            self.before_first()
            self.before_first = None
        return super().readline(size)


def test_empty_data_dir_then_dropped_pdf_is_answered_retrieval_only(
    make_settings: Callable[..., Any], embeddings: Embeddings
) -> None:
    settings = make_settings()
    engine = open_engine(settings, embeddings=embeddings)

    def drop() -> None:
        make_text_pdf(settings.data_dir / "club.pdf", ["Cover", ADIDAS], labels=["i", "43"])

    stdin = TypeAfterFirstPrompt("How much is the minimum guarantee payable by adidas?\nstatus\nquit\n", drop)
    out = io.StringIO()
    assert run_console(engine, stdin, out) == 0
    text = out.getvalue()
    assert "Retrieval-only mode" in text and "make model" in text
    assert f"No document is indexed yet. Put PDF reports in {settings.data_dir.resolve()}" in text
    assert "Index updated: 1 indexed" in text
    assert "[1] club.pdf — p. 2 (printed 43)" in text and "adidas" in text
    assert "1 file, updated just now" in text
    engine.close()


def _env(tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DOCBOT_", "SLACK_"))}
    env.update(
        PYTHONPATH=str(REPO),
        DOCBOT_DATA_DIR=str(tmp_path / "data"),
        DOCBOT_INDEX_DIR=str(tmp_path / "index"),
        DOCBOT_MODEL_PATH=str(tmp_path / "none.gguf"),
    )
    return env


def test_docbot_run_on_a_terminal_without_tokens_says_what_is_missing_and_starts_console(
    tmp_path: Path,
) -> None:
    main_fd, terminal = pty.openpty()  # stdin is a real terminal, as when a person types `docbot run`
    try:
        os.write(main_fd, b"quit\n")
        result = subprocess.run(
            [sys.executable, "-m", "bot", "run"],
            cwd=tmp_path,
            env=_env(tmp_path),
            stdin=terminal,
            capture_output=True,
            text=True,
            timeout=300,
        )
    finally:
        os.close(terminal)
        os.close(main_fd)
    assert result.returncode == 0, result.stderr
    assert "SLACK_BOT_TOKEN" in result.stderr and "slack/manifest.yml" in result.stderr
    assert "`docbot console` starts it directly" in result.stderr
    assert "docbot console — data dir" in result.stdout
    assert " INFO " not in result.stderr  # the service's log level would mix log lines into the chat


def test_docbot_console_chats_without_a_terminal_and_says_the_index_is_empty(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "bot", "console"],
        cwd=tmp_path,
        env=_env(tmp_path) | {"DOCBOT_REINDEX_MINUTES": "30"},
        input="reindex\nHow much is the minimum guarantee?\nquit\n",
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    data = (tmp_path / "data").resolve()
    assert "docbot console — data dir" in result.stdout
    assert (
        f"No document is indexed yet. Put PDF reports in {data}: the folder is re-indexed every 30 min,"
        " or at once when you type `reindex`."
    ) in result.stdout
    assert "nothing in the index matches" not in result.stdout
    assert "Slack is not configured" not in result.stderr  # asked for the console: no Slack lecture


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_with_a_real_model_the_pages_come_first_then_the_answer(
    make_settings: Callable[..., Any], embeddings: Embeddings, real_chat_model: Path
) -> None:
    pytest.importorskip("llama_cpp")
    settings = make_settings(model_path=real_chat_model, threads=2, k=2)
    make_text_pdf(settings.data_dir / "club.pdf", ["Cover", ADIDAS], labels=["i", "43"])
    engine = open_engine(settings, embeddings=embeddings)
    out = io.StringIO()
    try:
        stdin = io.StringIO("How much is the minimum guarantee payable by adidas?\nquit\n")
        assert run_console(engine, stdin, out) == 0
    finally:
        engine.close()
    text = out.getvalue()
    found, writing, answer = (
        text.index("[1] club.pdf — p. 2"),
        text.index("Writing the answer"),
        text.index("Answer: "),
    )
    assert found < writing < answer and "750" in text[answer:]
    assert text.count("[1] club.pdf") == 1
