"""`docbot run`'s background re-index as people see it: the console chat and `docbot status`."""

from __future__ import annotations

import io
import json
import re
from collections.abc import Callable
from typing import Any

import pytest
from langchain_core.embeddings import Embeddings

from bot.cli import main
from bot.console import run_console
from bot.engine import open_engine
from bot.reindex import build_reindexer
from devtools.pdfs import make_text_pdf
from ingest.cpu_gate import CpuGate

pytestmark = pytest.mark.timeout(120)

ADIDAS = "The minimum guarantee payable by adidas over the term of the agreement is 750 million pounds."
CLOCK = r"\d\d:\d\d:\d\d"


class TypeWhen(io.StringIO):
    """Stdin that runs `before[n]` just before the n-th line is read."""

    def __init__(self, text: str, before: dict[int, Callable[[], None]]) -> None:
        super().__init__(text)
        self.before = before
        self.lines = 0

    # typeshed: _TextIOBase.readline (str) itself overrides _IOBase.readline (bytes) incompatibly
    def readline(self, size: int = -1, /) -> str:  # type: ignore[override]
        self.lines += 1
        if self.lines in self.before:
            self.before[self.lines]()
        return super().readline(size)


def test_console_reindexes_in_the_background_and_on_request(
    make_settings: Callable[..., Any], embeddings: Embeddings
) -> None:
    settings = make_settings(reindex_minutes=60)
    engine = open_engine(settings, load_llm=False, embeddings=embeddings)
    gate = CpuGate()
    reindex = build_reindexer(engine, gate)

    def drop_after_the_first_run() -> None:
        reindex.wait_for_runs(1, 30)
        make_text_pdf(settings.data_dir / "club.pdf", ["Cover", ADIDAS], labels=["i", "43"])

    stdin = TypeWhen(
        "reindex\nHow much is the minimum guarantee payable by adidas?\nstatus\nquit\n",
        {1: drop_after_the_first_run},
    )
    out = io.StringIO()
    try:
        assert run_console(engine, stdin, out, reindex=reindex, cpu_gate=gate) == 0
    finally:
        engine.close()
    text = out.getvalue()
    assert "indexed now and every 60 min" in text
    assert "Index updated: 1 indexed (2 pages" in text
    assert "Re-index: 1 indexed (2 pages" in text
    assert "[1] club.pdf — p. 2 (printed 43)" in text
    assert re.search(rf"re-index: last {CLOCK} \(.*\) \(1 indexed .*\), next {CLOCK} \(in ", text), text
    assert gate.stats().questions == 1  # the answer took the CPU gate
    assert reindex.stop()  # the console stopped it on the way out


def test_status_shows_the_bots_last_and_next_reindex(
    make_settings: Callable[..., Any], embeddings: Embeddings, capsys: pytest.CaptureFixture[str]
) -> None:
    settings = make_settings(reindex_minutes=30)
    make_text_pdf(settings.data_dir / "club.pdf", ["Cover", ADIDAS])
    (settings.data_dir / "locked.pdf").write_bytes(b"")
    engine = open_engine(settings, load_llm=False, embeddings=embeddings)
    reindex = build_reindexer(engine, CpuGate())
    argv = ["status", "--index-dir", str(settings.index_dir)]
    assert main(argv) == 0
    assert "re-index: no bot has run on this index yet" in capsys.readouterr().out
    try:
        reindex.start()
        assert reindex.wait_for_runs(1, 60)
        assert main(argv) == 0
        out = capsys.readouterr().out
        assert re.search(
            rf"re-index: last {CLOCK} \(.*\) \(1 indexed .*1 failed.*\); next {CLOCK} \(in ", out
        ), out
        assert "(every 30 min)" in out and "locked.pdf: empty file" in out
        assert main([*argv, "--json"]) == 0
        data = json.loads(capsys.readouterr().out)["reindex"]
        assert data["bot_running"] and data["next_run"] is not None and data["runs"] == 1
        assert data["last_run"]["report"]["indexed"] == ["club.pdf"]
    finally:
        reindex.stop()
        engine.close()
    assert main(argv) == 0
    assert "next none (the bot is not running)" in capsys.readouterr().out
