"""One citation formatter for every front end: file names with control characters or terminal escapes are
printed escaped by `docbot search`, `docbot ask`, the console chat and the Slack renderer."""

from __future__ import annotations

import io
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from langchain_core.embeddings import Embeddings

from bot.answer import Source, display_name
from bot.citations import citation, page_label
from bot.cli import main
from bot.console import run_console
from bot.engine import open_engine
from bot.slack.render import render_answer
from devtools.pdfs import make_text_pdf

ESCAPE_NAME = "\x1b[2J\x1b[31mred\x07.pdf"
TEXT = "Terminal colours are configured through the theme settings panel of the application."
QUESTION = "Where are terminal colours configured?"
RAW = ("\x1b", "\x07")


def test_citation_labels_the_printed_page_and_escapes_the_name() -> None:
    source = Source("a\nb\x1b.pdf", 53, "51", "snippet", 1.0, ocr=True)
    assert citation(source) == "a\\nb\\x1b.pdf — p. 53 (printed 51) (OCR)"
    assert page_label(Source("x.pdf", 4, "4", "", 0.0)) == "p. 4"
    assert page_label(Source("x.pdf", 4, "iv\x1b", "", 0.0)) == "p. 4 (printed iv\\x1b)"


@pytest.fixture
def hostile(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    for name in list(os.environ):
        if name.startswith(("DOCBOT_", "SLACK_")):
            monkeypatch.delenv(name)
    data = tmp_path / "data"
    make_text_pdf(data / ESCAPE_NAME, ["Cover page.", TEXT], labels=["i", "7"])
    monkeypatch.setenv("DOCBOT_DATA_DIR", str(data))
    monkeypatch.setenv("DOCBOT_INDEX_DIR", str(tmp_path / "index"))
    monkeypatch.setenv("DOCBOT_MODEL_PATH", str(tmp_path / "missing.gguf"))
    monkeypatch.chdir(tmp_path)
    assert main(["ingest"]) == 0
    return data


def _escaped_only(text: str) -> None:
    assert not any(char in text for char in RAW), repr(text)
    assert f"{display_name(ESCAPE_NAME)} — p. 2 (printed 7)" in text, text


def test_search_and_ask_print_the_name_escaped(hostile: Path, capsys: pytest.CaptureFixture[str]) -> None:
    capsys.readouterr()
    assert main(["search", QUESTION]) == 0
    _escaped_only(capsys.readouterr().out)
    assert main(["ask", QUESTION]) == 0  # no model: retrieval-only, the sources are still cited
    _escaped_only(capsys.readouterr().out)


def test_console_prints_the_name_escaped(
    hostile: Path, make_settings: Callable[..., Any], embeddings: Embeddings, tmp_path: Path
) -> None:
    settings = make_settings(data_dir=hostile, index_dir=tmp_path / "index")
    engine = open_engine(settings, embeddings=embeddings)
    out = io.StringIO()
    try:
        assert run_console(engine, io.StringIO(f"{QUESTION}\nstatus\nquit\n"), out) == 0
    finally:
        engine.close()
    _escaped_only(out.getvalue())


def test_slack_prints_the_name_escaped(
    hostile: Path, make_settings: Callable[..., Any], embeddings: Embeddings, tmp_path: Path
) -> None:
    settings = make_settings(data_dir=hostile, index_dir=tmp_path / "index")
    engine = open_engine(settings, load_llm=False, embeddings=embeddings)
    try:
        answer = engine.qa.answer(QUESTION)
    finally:
        engine.close()
    text = "\n".join(message.text + repr(message.blocks) for message in render_answer(answer))
    assert not any(char in text for char in RAW), text
    assert display_name(ESCAPE_NAME) in text and "p. 2 (printed 7)" in text
