"""`docbot` command line: ingest, search, ask, status, eval, run."""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import sys
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from config.settings import Settings, SettingsError, load_settings

if TYPE_CHECKING:
    from bot.answer import Answer, Source
    from bot.engine import Engine
    from bot.evaluate import EvalQuestion
    from ingest.schedule_state import ScheduleState

logger = logging.getLogger(__name__)

MAX_FAILED_SHOWN = 10


def build_parser() -> argparse.ArgumentParser:
    """The argument parser for every subcommand."""
    parser = argparse.ArgumentParser(
        prog="docbot", description="Answers questions about PDF reports with page citations."
    )
    parser.add_argument("-v", "--verbose", action="count", default=0, help="more logging (-vv for debug)")
    sub = parser.add_subparsers(dest="command", required=True)

    ingest = sub.add_parser("ingest", help="index new, changed, renamed and deleted PDFs in the data dir")
    _add_dirs(ingest, data=True)
    ingest.add_argument("--json", action="store_true", help="print the summary as JSON")
    ingest.add_argument("--rebuild", action="store_true", help="delete the index and build it again")

    search = sub.add_parser("search", help="show the passages that best match a question (no LLM)")
    _add_dirs(search)
    search.add_argument("-k", type=int, default=None, help="how many passages (default: settings k)")
    search.add_argument("--json", action="store_true", help="print one JSON line per question")
    search.add_argument("question", help="the question, or - to read one question per line from stdin")

    ask = sub.add_parser("ask", help="answer a question with the LLM (retrieval-only without a model)")
    _add_dirs(ask)
    ask.add_argument("--json", action="store_true", help="print the answer as JSON")
    ask.add_argument("question", help="the question")

    status = sub.add_parser("status", help="files, chunks, failed files and last update of the index")
    _add_dirs(status)
    status.add_argument("--json", action="store_true", help="print the status as JSON")

    evaluate = sub.add_parser("eval", help="page-hit@k and MRR of retrieval over a question set")
    _add_dirs(evaluate)
    evaluate.add_argument(
        "questions", type=Path, nargs="+", help="JSONL: question, doc, page, also_on (several files pool)"
    )
    evaluate.add_argument("--k", default="2,4,8", help="comma-separated k values (default 2,4,8)")
    evaluate.add_argument("--json", action="store_true", help="print the report as JSON")
    evaluate.add_argument(
        "--answers",
        action="store_true",
        help="answer each question with the configured model and score the answers (accuracy, abstention)",
    )

    run = sub.add_parser("run", help="run the Slack bot (or a console chat when no Slack tokens are set)")
    _add_dirs(run, data=True)
    return parser


def _add_dirs(parser: argparse.ArgumentParser, *, data: bool = False) -> None:
    if data:
        parser.add_argument("--data-dir", type=Path, default=None, help="folder of PDFs")
    parser.add_argument("--index-dir", type=Path, default=None, help="index folder")


def main(argv: Sequence[str] | None = None) -> int:
    """Run one docbot command; returns the exit code."""
    args = build_parser().parse_args(argv)
    _configure_logging(args.verbose)
    try:
        settings = load_settings(
            data_dir=getattr(args, "data_dir", None), index_dir=getattr(args, "index_dir", None)
        )
    except SettingsError as exc:
        print(f"docbot: {exc}", file=sys.stderr)
        return 2
    command = {
        "ingest": cmd_ingest,
        "search": cmd_search,
        "ask": cmd_ask,
        "status": cmd_status,
        "eval": cmd_eval,
        "run": cmd_run,
    }[args.command]
    try:
        return command(settings, args)
    except KeyboardInterrupt:
        return 130
    except Exception as exc:
        from models.prompts import PromptFileError
        from vectorstore.store import IndexUnusableError

        if isinstance(exc, IndexUnusableError | PromptFileError):
            print(f"docbot: {exc}", file=sys.stderr)
            return 1
        raise


def _configure_logging(verbosity: int) -> None:
    level = logging.WARNING if verbosity == 0 else logging.INFO if verbosity == 1 else logging.DEBUG
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    # pypdf reports every harmless quirk of real-world PDFs as a warning.
    logging.getLogger("pypdf").setLevel(max(level, logging.ERROR) if verbosity < 2 else logging.DEBUG)


def _engine(settings: Settings, *, load_llm: bool, need_index: bool = False) -> Engine:
    from bot.engine import index_exists, open_engine
    from vectorstore.store import IndexUnusableError

    if need_index and not index_exists(settings):
        # Searching an index that was never built would quietly find nothing.
        raise IndexUnusableError(f"no index at {settings.index_dir}; run `docbot ingest` first")
    return open_engine(settings, load_llm=load_llm)


# ----- ingest -----


def cmd_ingest(settings: Settings, args: argparse.Namespace) -> int:
    """Index the data dir incrementally and print a summary."""
    if args.rebuild:
        _remove_index(settings.index_dir)
    if not settings.data_dir.is_dir():
        print(
            f"docbot: data dir {settings.data_dir} does not exist; create it and put PDFs in it",
            file=sys.stderr,
        )
        return 1
    engine = _engine(settings, load_llm=False)
    try:
        with _progress(enabled=not args.json and sys.stderr.isatty()) as progress:
            options = dataclasses.replace(engine.sync_options(), progress=progress, settle_seconds=0.0)
            report = engine.sync(options)
    finally:
        engine.close()
    print(json.dumps(report.to_dict()) if args.json else report.summary())
    return 0


def _remove_index(index_dir: Path) -> None:
    for name in ("index.sqlite3", "index.sqlite3-wal", "index.sqlite3-shm"):
        (index_dir / name).unlink(missing_ok=True)
    for path in index_dir.glob("vectors-*.faiss"):
        path.unlink()


class _Progress:
    """A tqdm bar over the files being indexed."""

    def __init__(self) -> None:
        from tqdm import tqdm

        self.bar = tqdm(total=0, unit="file", desc="indexing", leave=False, file=sys.stderr)

    def __call__(self, file: str, done: int, total: int) -> None:
        self.bar.total = total
        self.bar.n = done
        self.bar.set_postfix_str(file[-40:], refresh=True)

    def close(self) -> None:
        self.bar.close()


class _progress:
    def __init__(self, *, enabled: bool) -> None:
        self.bar = _Progress() if enabled else None

    def __enter__(self) -> _Progress | None:
        return self.bar

    def __exit__(self, *exc: object) -> None:
        if self.bar:
            self.bar.close()


# ----- search / ask -----


def _questions(question: str) -> Iterator[str]:
    if question != "-":
        yield question
        return
    for line in sys.stdin:
        if line.strip():
            yield line.strip()


def cmd_search(settings: Settings, args: argparse.Namespace) -> int:
    """Print the best passages for one question, or for each line of stdin."""
    engine = _engine(settings, load_llm=False, need_index=True)
    try:
        for question in _questions(args.question):
            sources = search_sources(engine, question, args.k or settings.k)
            if args.json:
                print(json.dumps({"question": question, "hits": [s.as_hit() for s in sources]}), flush=True)
            else:
                _print_sources(question, sources)
    finally:
        engine.close()
    return 0


def search_sources(engine: Engine, question: str, k: int) -> list[Source]:
    """The k best passages for a question, as citations."""
    from bot.qa import to_source

    version = engine.store.generation()
    return [to_source(hit.to_document(version), question) for hit in engine.retriever.search(question, k)]


def _print_sources(question: str, sources: Sequence[Source]) -> None:
    from bot.citations import citation

    print(f"Q: {question}")
    if not sources:
        print("  (no matching passages)")
    for i, source in enumerate(sources, 1):
        print(f"  {i}. {citation(source)}  score {source.score:.4f}")
        print(f"     “{source.snippet}”")


def cmd_ask(settings: Settings, args: argparse.Namespace) -> int:
    """Answer one question like the tutorial's main.py: answer, sources, time."""
    engine = _engine(settings, load_llm=True, need_index=True)
    try:
        stream = not args.json and sys.stdout.isatty()
        if engine.llm_problem and not args.json:
            print(f"Note: {engine.llm_problem}; answering in retrieval-only mode.\n", file=sys.stderr)
        live = _LiveAnswer()
        if stream:
            answer = engine.qa.answer(args.question, on_token=live.token, on_sources=live.sources)
        else:
            answer = engine.qa.answer(args.question)
    finally:
        engine.close()
    if args.json:
        print(json.dumps(answer_json(answer)))
    else:
        _print_answer(answer, streamed=stream, sources_shown=live.shown_sources)
    return 0


class _LiveAnswer:
    """On a terminal: the pages found as soon as retrieval has them, then the answer as it is written."""

    def __init__(self) -> None:
        self.shown_sources = False
        self._started = False

    def sources(self, sources: list[Source]) -> None:
        _print_cited(sources)
        print("=" * 50, flush=True)
        self.shown_sources = bool(sources)

    def token(self, token: str) -> None:
        if not self._started:
            print("Answer: ", end="")
            self._started = True
        print(token, end="", flush=True)


def answer_json(answer: Answer) -> dict[str, Any]:
    """The JSON shape of `docbot ask --json`."""
    return {
        "question": answer.question,
        "answer": answer.text,
        "mode": answer.mode,
        "cut_off": answer.cut_off,
        "finish_reason": answer.finish_reason,
        "grounding": answer.grounding,
        "unsupported": list(answer.unsupported),
        "sources": [s.as_hit() for s in answer.sources],
        "timings": answer.timings.as_dict(),
    }


def _print_answer(answer: Answer, *, streamed: bool, sources_shown: bool = False) -> None:
    if not streamed:
        print(f"Answer: {answer.text}")
    elif answer.model_text:  # the grounding check replaced what was streamed
        print(f"\n\n{answer.text}")
    else:
        print()
    if answer.cut_off:
        print("(cut off: the answer took longer than the time limit)")
    if not sources_shown:
        print("=" * 50)
        _print_cited(answer.sources, gap="\n")
    print(f"\nTime to retrieve response: {answer.timings.total:.2f} s")


def _print_cited(sources: Sequence[Source], gap: str = "") -> None:
    from bot.citations import citation

    for i, source in enumerate(sources, 1):
        print(f"{gap}Source {i}: {citation(source)}\n  “{source.snippet}”")


# ----- status / eval -----


def cmd_status(settings: Settings, args: argparse.Namespace) -> int:
    """Print the index's files, chunks, failures and last update, and the bot's last and next re-index."""
    # SQLite and a JSON file only: status must not pay for importing the embedding and indexing stack.
    from bot.answer import display_name
    from ingest.schedule_state import read_state
    from vectorstore.status import DB_NAME, IndexUnreadable, inspect_index

    schedule = read_state(settings.index_dir)
    if not (settings.index_dir / DB_NAME).is_file():
        message = f"no index at {settings.index_dir} yet; run `docbot ingest`"
        empty = {"files": 0, "chunks": 0, "failed": [], "updated_at": None}
        empty["reindex"] = _reindex_json(schedule)
        print(json.dumps(empty) if args.json else message)
        return 0
    try:
        status, problems = inspect_index(settings.index_dir)
    except IndexUnreadable as exc:
        print(f"docbot: {exc}", file=sys.stderr)
        return 1
    if args.json:
        print(
            json.dumps(
                {
                    "files": status.files,
                    "pages": status.pages,
                    "chunks": status.chunks,
                    "failed": [{"file": f.file, "reason": f.reason} for f in status.failed],
                    "updated_at": status.updated_at,
                    "version": status.version,
                    "problems": problems,
                    "reindex": _reindex_json(schedule),
                }
            )
        )
        return 0
    updated = (
        time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(status.updated_at))
        if status.updated_at
        else "never"
    )
    print(f"index: {settings.index_dir} (version {status.version})")
    print(f"files: {status.files} indexed, {status.pages} pages, {status.chunks} chunks")
    print(f"updated: {updated} ({status.freshness()})")
    failed = status.with_failures(schedule.last_failures() if schedule is not None else []).failed
    print(f"failed: {len(failed)}")
    for failure in failed[:MAX_FAILED_SHOWN]:
        print(f"  {display_name(failure.file)}: {display_name(failure.reason)}")
    if len(failed) > MAX_FAILED_SHOWN:
        print(f"  … and {len(failed) - MAX_FAILED_SHOWN} more (`docbot status --json` lists them all)")
    for problem in problems:
        print(f"problem: {display_name(problem)}")
    print(_reindex_line(schedule))
    return 0


def _bot_running(schedule: ScheduleState) -> bool:
    from ingest.schedule_state import process_alive

    return schedule.next_run is not None and process_alive(schedule.pid)


def _reindex_json(schedule: ScheduleState | None) -> dict[str, Any] | None:
    """The bot's re-index state (None when no bot has run on this index); next_run only while it runs."""
    if schedule is None:
        return None
    data = schedule.to_dict()
    data["bot_running"] = _bot_running(schedule)
    if not data["bot_running"]:
        data["next_run"] = None
        data["running_since"] = None
    data["summary"] = schedule.summary() if data["bot_running"] else None
    return data


def _reindex_line(schedule: ScheduleState | None) -> str:
    if schedule is None:
        return "re-index: no bot has run on this index yet (`docbot run` re-indexes the data dir)"
    running = _bot_running(schedule)
    summary = schedule.summary()
    if not running:
        summary["next_run"] = "none (the bot is not running)"
        if schedule.running_since is not None:
            summary["last_run"] = "interrupted"
    return (
        f"re-index: last {summary['last_run']} ({summary['last_result']}); next {summary['next_run']}"
        f" (every {schedule.interval_minutes:g} min)"
    )


def cmd_eval(settings: Settings, args: argparse.Namespace) -> int:
    """Report page-hit@k and MRR of retrieval over JSONL question sets, pooled into one report."""
    from bot.evaluate import evaluate, load_questions

    ks = sorted({int(part) for part in args.k.split(",") if part.strip()})
    questions = [question for path in args.questions for question in load_questions(path)]
    if args.answers:
        return _eval_answers(settings, questions, as_json=args.json)
    engine = _engine(settings, load_llm=False, need_index=True)
    try:

        def search(question: str, k: int) -> list[tuple[str, int]]:
            return [(hit.chunk.file, hit.chunk.page) for hit in engine.retriever.search(question, k)]

        report = evaluate(questions, search, ks)
    finally:
        engine.close()
    print(json.dumps(report.to_dict()) if args.json else report.format_table())
    return 0


def _eval_answers(settings: Settings, questions: Sequence[EvalQuestion], *, as_json: bool) -> int:
    """Answer every question with the chain as configured and print the answer-level report."""
    from bot.answer_eval import AnswerRecord, evaluate_answers

    engine = _engine(settings, load_llm=True, need_index=True)
    if engine.llm is None:
        engine.close()
        print(f"docbot: eval --answers needs a language model: {engine.llm_problem}", file=sys.stderr)
        return 1

    def progress(done: int, record: AnswerRecord) -> None:
        mark = "ok" if record.correct else "abstained" if record.abstained else "-"
        print(
            f"[{done}] {record.answer.timings.total:.1f}s {mark}: {record.question.question[:70]}",
            file=sys.stderr,
        )

    try:
        report = evaluate_answers(questions, engine.qa.answer, progress if sys.stderr.isatty() else None)
    finally:
        engine.close()
    print(json.dumps(report.to_dict()) if as_json else report.format_table())
    return 0


# ----- run -----


def cmd_run(settings: Settings, args: argparse.Namespace) -> int:
    """Run the Slack bot, or the console chat when Slack tokens are missing; both re-index the data dir
    in the background at start and every `reindex_minutes`, pausing while an answer is generated."""
    from bot.reindex import build_reindexer
    from ingest.cpu_gate import CpuGate

    settings.data_dir.mkdir(parents=True, exist_ok=True)
    engine = _engine(settings, load_llm=True)
    gate = CpuGate()
    reindex = build_reindexer(engine, gate)
    try:
        if settings.slack_configured:
            from bot.slack.runner import run_slack

            return run_slack(settings, engine.qa, engine.status, cpu_gate=gate, reindex=reindex)
        print(_no_slack_message(settings), file=sys.stderr)
        from bot.console import run_console

        return run_console(engine, reindex=reindex, cpu_gate=gate)
    finally:
        reindex.stop()
        engine.close()


def _no_slack_message(settings: Settings) -> str:
    missing = [
        name
        for name, value in (
            ("SLACK_BOT_TOKEN", settings.slack_bot_token),
            ("SLACK_APP_TOKEN", settings.slack_app_token),
        )
        if value is None
    ]
    return (
        f"Slack is not configured: {' and '.join(missing)} not set. To answer in Slack, create the app from "
        "slack/manifest.yml (README: 'Connect to Slack') and put both tokens in .env. "
        "Starting the local console chat instead."
    )
