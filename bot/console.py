"""A local chat in the terminal over the same QA chain, used when no Slack tokens are set."""

from __future__ import annotations

import logging
import sys
from typing import TYPE_CHECKING, TextIO

if TYPE_CHECKING:
    from bot.answer import Answer
    from bot.engine import Engine

logger = logging.getLogger(__name__)

HELP = "Type a question and press Enter. Commands: status, reindex, help, quit."


def run_console(engine: Engine, stdin: TextIO | None = None, stdout: TextIO | None = None) -> int:
    """Answer questions typed on stdin until EOF or `quit`; the data dir is re-synced before each one."""
    inp, out = stdin or sys.stdin, stdout or sys.stdout
    _say(out, f"docbot console — data dir {engine.settings.data_dir}, index {engine.settings.index_dir}")
    if engine.llm_problem:
        _say(out, f"Retrieval-only mode: {engine.llm_problem}.")
    _sync(engine, out, announce_empty=True)
    _say(out, HELP)
    while True:
        out.write("docbot> ")
        out.flush()
        line = inp.readline()
        if not line:
            _say(out, "")
            return 0
        question = line.strip()
        if not question:
            continue
        if question.lower() in {"quit", "exit"}:
            return 0
        if question.lower() == "help":
            _say(out, HELP)
            continue
        if question.lower() == "status":
            _say(out, _status_text(engine))
            continue
        _sync(engine, out, announce_empty=question.lower() == "reindex")
        if question.lower() == "reindex":
            continue
        _answer(engine, question, out)


def _say(out: TextIO, text: str) -> None:
    out.write(text + "\n")
    out.flush()


def _sync(engine: Engine, out: TextIO, *, announce_empty: bool) -> None:
    report = engine.sync()
    if report.changed:
        _say(out, f"Index updated: {report.summary()}")
    status = engine.status()
    if announce_empty and status.files == 0:
        _say(
            out,
            f"The index is empty: copy PDF reports into {engine.settings.data_dir} "
            "and ask again (they are indexed before each question).",
        )


def _status_text(engine: Engine) -> str:
    status = engine.status()
    lines = [f"{status.freshness()}, {status.chunks} chunks; mode: {engine.qa.mode}"]
    lines += [f"  failed: {f.file}: {f.reason}" for f in status.failed]
    return "\n".join(lines)


def _answer(engine: Engine, question: str, out: TextIO) -> None:
    streamed = engine.qa.mode == "llm"
    if streamed:
        out.write("Answer: ")

    def echo(token: str) -> None:
        out.write(token)
        out.flush()

    answer = engine.qa.answer(question, on_token=echo if streamed else None)
    _say(out, "" if streamed else f"Answer: {answer.text}")
    _say(out, format_sources(answer))


def format_sources(answer: Answer) -> str:
    """Citations as plain text: file, page, printed label, snippet."""
    if not answer.sources:
        return "(no sources)"
    lines = []
    for i, s in enumerate(answer.sources, 1):
        label = f" (printed {s.page_label})" if s.page_label != str(s.page) else ""
        lines.append(f"  [{i}] {s.file} — p. {s.page}{label}{' (OCR)' if s.ocr else ''}\n      “{s.snippet}”")
    if answer.cut_off:
        lines.insert(0, "  (cut off: the answer took longer than the time limit)")
    lines.append(f"  ({answer.timings.total:.1f} s)")
    return "\n".join(lines)
