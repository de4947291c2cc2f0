"""A local chat in the terminal over the same QA chain: `docbot console`, or `docbot run` on a terminal
without Slack tokens."""

from __future__ import annotations

import logging
import sys
from contextlib import nullcontext
from typing import TYPE_CHECKING, TextIO

from bot.answer import display_name
from bot.citations import citation
from bot.empty_index import empty_index_message

if TYPE_CHECKING:
    from bot.answer import Answer, Source
    from bot.engine import Engine
    from ingest.cpu_gate import CpuGate
    from ingest.schedule import ReindexScheduler
    from ingest.sync import SyncReport

logger = logging.getLogger(__name__)

HELP = "Type a question and press Enter. Commands: status, reindex, help, quit."


def run_console(
    engine: Engine,
    stdin: TextIO | None = None,
    stdout: TextIO | None = None,
    *,
    reindex: ReindexScheduler | None = None,
    cpu_gate: CpuGate | None = None,
) -> int:
    """Answer questions typed on stdin until EOF or `quit`.

    Without `reindex` the data dir is re-synced before each question. With it, the scheduler keeps the
    index fresh in the background (answers hold `cpu_gate`), and `reindex` asks it for a run at once.
    """
    inp, out = stdin or sys.stdin, stdout or sys.stdout
    _say(out, f"docbot console — data dir {engine.settings.data_dir}, index {engine.settings.index_dir}")
    if engine.llm_problem:
        _say(out, f"Retrieval-only mode: {engine.llm_problem}.")
    if reindex is None:
        _sync(engine, out, announce_empty=True)
        _say(out, HELP)
        return _loop(engine, inp, out, None, None)
    reindex.add_listener(lambda report: _announce(out, report))
    reindex.start()
    _say(
        out,
        f"Watching {engine.settings.data_dir}: indexed now and every {reindex.interval_minutes:g} min "
        "(type `reindex` to run it at once).",
    )
    _say(out, HELP)
    try:
        return _loop(engine, inp, out, reindex, cpu_gate)
    finally:
        reindex.stop()


def _loop(
    engine: Engine, inp: TextIO, out: TextIO, reindex: ReindexScheduler | None, cpu_gate: CpuGate | None
) -> int:
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
            _say(out, _status_text(engine, reindex))
            continue
        if reindex is not None:
            if question.lower() == "reindex":
                reindex.wait_for(reindex.run_now())
                _say(out, f"Re-index: {reindex.status()['last_result']}")
                continue
            note = _empty_note(engine, reindex)
            if note is not None:
                _say(out, note)
                continue
            with cpu_gate.question() if cpu_gate is not None else nullcontext():
                _answer(engine, question, out)
            continue
        _sync(engine, out, announce_empty=question.lower() == "reindex")
        if question.lower() == "reindex":
            continue
        note = _empty_note(engine, None)
        if note is not None:
            _say(out, note)
            continue
        _answer(engine, question, out)


def _say(out: TextIO, text: str) -> None:
    out.write(text + "\n")
    out.flush()


def _sync(engine: Engine, out: TextIO, *, announce_empty: bool) -> None:
    report = engine.sync()
    if report.changed:
        _say(out, f"Index updated: {report.summary()}")
    note = _empty_note(engine, None)
    if announce_empty and note is not None:
        _say(out, note)


def _empty_note(engine: Engine, reindex: ReindexScheduler | None) -> str | None:
    """What to say instead of an answer while no document is indexed (None once there is one)."""
    status = engine.status()
    if status.chunks:
        return None
    return empty_index_message(
        engine.settings.data_dir,
        "console",
        reindex_minutes=reindex.interval_minutes if reindex is not None else None,
        failed=len(status.failed),
        indexing=reindex is not None and reindex.state().running_since is not None,
    )


def _announce(out: TextIO, report: SyncReport) -> None:
    if report.changed:
        _say(out, f"\nIndex updated: {report.summary()}")


def _status_text(engine: Engine, reindex: ReindexScheduler | None = None) -> str:
    status = engine.status()
    lines = [f"{status.freshness()}, {status.chunks} chunks; mode: {engine.qa.mode}"]
    lines += [f"  failed: {display_name(f.file)}: {display_name(f.reason)}" for f in status.failed]
    if reindex is not None:
        schedule = reindex.status()
        last, result, following = schedule["last_run"], schedule["last_result"], schedule["next_run"]
        lines.append(f"  re-index: last {last} ({result}), next {following}")
    return "\n".join(lines)


def _answer(engine: Engine, question: str, out: TextIO) -> None:
    streamed = engine.qa.mode == "llm"
    started = False
    found: list[Source] = []

    def sources(given: list[Source]) -> None:
        # The pages first, as soon as retrieval has them; the answer follows as the model writes it.
        found[:] = given
        _say(out, f"Found:\n{format_source_lines(given)}\nWriting the answer…")

    def echo(token: str) -> None:
        nonlocal started
        if not started:
            out.write("Answer: ")
            started = True
        out.write(token)
        out.flush()

    answer = engine.qa.answer(
        question, on_token=echo if streamed else None, on_sources=sources if streamed else None
    )
    if not started:
        _say(out, f"Answer: {answer.text}")
    elif answer.model_text:  # the grounding check replaced what was streamed
        _say(out, f"\n{answer.text}")
    else:
        _say(out, "")
    _say(out, format_sources(answer) if not found else _footer(answer))


def format_source_lines(sources: list[Source]) -> str:
    """One numbered citation per source: file, page, printed label, snippet."""
    lines = []
    for i, s in enumerate(sources, 1):
        lines.append(f"  [{i}] {citation(s)}\n      “{s.snippet}”")
    return "\n".join(lines)


def _footer(answer: Answer) -> str:
    cut = "  (cut off: the answer took longer than the time limit)\n" if answer.cut_off else ""
    return f"{cut}  ({answer.timings.total:.1f} s)"


def format_sources(answer: Answer) -> str:
    """Citations as plain text: file, page, printed label, snippet."""
    if not answer.sources:
        return "(no sources)"
    lines = [format_source_lines(answer.sources)]
    if answer.cut_off:
        lines.insert(0, "  (cut off: the answer took longer than the time limit)")
    lines.append(f"  ({answer.timings.total:.1f} s)")
    return "\n".join(lines)
