"""`docbot` command line: ingest, search, ask, status, eval, feedback, run, console, health."""

from __future__ import annotations

import argparse
import dataclasses
import functools
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
    # -v is also accepted after the subcommand (`docbot run -v`); both counts add up.
    verbosity = argparse.ArgumentParser(add_help=False)
    verbosity.add_argument(
        "-v", "--verbose", action="count", default=0, dest="verbose_after", help="more logging"
    )
    sub = parser.add_subparsers(dest="command", required=True)
    add = functools.partial(sub.add_parser, parents=[verbosity])

    ingest = add("ingest", help="index new, changed, renamed and deleted PDFs in the data dir")
    _add_dirs(ingest, data=True)
    ingest.add_argument("--json", action="store_true", help="print the summary as JSON")
    ingest.add_argument("--rebuild", action="store_true", help="delete the index and build it again")

    search = add("search", help="show the passages that best match a question (no LLM)")
    _add_dirs(search)
    search.add_argument("-k", type=int, default=None, help="how many passages (default: settings k)")
    search.add_argument("--json", action="store_true", help="print one JSON line per question")
    search.add_argument("question", help="the question, or - to read one question per line from stdin")

    ask = add("ask", help="answer a question with the LLM (retrieval-only without a model)")
    _add_dirs(ask)
    ask.add_argument("--json", action="store_true", help="print the answer as JSON")
    ask.add_argument("question", help="the question")

    status = add("status", help="files, chunks, failed files and last update of the index")
    _add_dirs(status)
    status.add_argument("--json", action="store_true", help="print the status as JSON")

    evaluate = add("eval", help="page-hit@k and MRR of retrieval over a question set")
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

    feedback = add("feedback", help="the 👍/👎 people gave answers in Slack, newest first")
    _add_dirs(feedback)
    feedback.add_argument("--json", action="store_true", help="print the votes and their share as JSON")
    feedback.add_argument("-n", "--limit", type=int, default=None, help="show only the newest N votes")
    feedback.add_argument(
        "--export",
        type=Path,
        default=None,
        metavar="QUESTIONS.jsonl",
        help="write each 👎 that has a reason as a question `docbot eval` reads",
    )

    run = add("run", help="run the Slack bot (on a terminal without Slack tokens: the console chat)")
    _add_dirs(run, data=True)
    console = add("console", help="chat with the documents in the terminal (no Slack)")
    _add_dirs(console, data=True)
    health = add("health", help="ask a running bot for its health (health_port); exit 0 healthy, 1 not")
    health.add_argument("--port", type=int, default=None, help="port (default: settings health_port)")
    health.add_argument("--timeout", type=float, default=5.0, help="seconds to wait (default 5)")
    return parser


def _add_dirs(parser: argparse.ArgumentParser, *, data: bool = False) -> None:
    if data:
        parser.add_argument("--data-dir", type=Path, default=None, help="folder of PDFs")
    parser.add_argument("--index-dir", type=Path, default=None, help="index folder")


def main(argv: Sequence[str] | None = None) -> int:
    """Run one docbot command; returns the exit code."""
    from bot.logging_setup import logging_to_stderr, resolve_level

    args = build_parser().parse_args(argv)
    try:
        settings = load_settings(
            data_dir=getattr(args, "data_dir", None), index_dir=getattr(args, "index_dir", None)
        )
    except SettingsError as exc:
        print(f"docbot: {exc}", file=sys.stderr)
        return 2
    level = resolve_level(settings.log_level, args.verbose + args.verbose_after, args.command)
    with logging_to_stderr(level, settings.log_format):
        return _dispatch(settings, args)


def _dispatch(settings: Settings, args: argparse.Namespace) -> int:
    command = {
        "ingest": cmd_ingest,
        "search": cmd_search,
        "ask": cmd_ask,
        "status": cmd_status,
        "eval": cmd_eval,
        "feedback": cmd_feedback,
        "run": cmd_run,
        "console": cmd_console,
        "health": cmd_health,
    }[args.command]
    try:
        return command(settings, args)
    except KeyboardInterrupt:
        return 130
    except Exception as exc:
        from models.chat import LLMUnavailableError
        from models.prompts import PromptFileError
        from vectorstore.store import IndexUnusableError

        if isinstance(exc, IndexUnusableError | PromptFileError | LLMUnavailableError):
            print(f"docbot: {exc}", file=sys.stderr)
            return 1
        raise


def _engine(settings: Settings, *, load_llm: bool, need_index: bool = False) -> Engine:
    from bot.engine import open_engine

    if need_index:
        _require_documents(settings)
    return open_engine(settings, load_llm=load_llm)


def _require_documents(settings: Settings) -> None:
    """Searching an index that was never built, or holds nothing, would quietly find nothing: say so."""
    from bot.empty_index import empty_index_message
    from bot.engine import index_exists
    from vectorstore.store import IndexUnusableError, indexed_counts

    if not index_exists(settings):
        raise IndexUnusableError(
            empty_index_message(settings.data_dir, "cli", no_index_at=settings.index_dir)
        )
    counts = indexed_counts(settings.index_dir)  # None: unreadable, and opening it says why
    if counts is not None and counts[0] == 0:
        raise IndexUnusableError(empty_index_message(settings.data_dir, "cli", failed=counts[1]))


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
    if engine.llm_not_ready:  # a server that cannot answer: say why in one line rather than fail later
        engine.close()
        print(f"docbot: {engine.llm_not_ready}", file=sys.stderr)
        return 1
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


# ----- feedback -----


def cmd_feedback(settings: Settings, args: argparse.Namespace) -> int:
    """List the votes on answers (newest first, with the share of 👍), or export 👎s with a reason."""
    from bot.feedback import FEEDBACK_FILE, FeedbackStore

    path = settings.index_dir / FEEDBACK_FILE
    if not path.is_file():
        if args.export is not None:
            print(f"docbot: no feedback at {path} yet; nothing to export", file=sys.stderr)
            return 1
        empty: dict[str, Any] = {
            "votes": 0,
            "up": 0,
            "down": 0,
            "share_up": None,
            "with_reason": 0,
            "items": [],
        }
        print(json.dumps(empty) if args.json else f"no feedback yet ({path} does not exist)")
        return 0
    store = FeedbackStore(path)
    try:
        summary = store.summary()
        items = store.items(args.limit)
    finally:
        store.close()
    if args.export is not None:
        return _export_feedback(items, args.export)
    if args.json:
        data = {
            "votes": summary.votes,
            "up": summary.up,
            "down": summary.down,
            "share_up": None if summary.share_up is None else round(summary.share_up, 4),
            "with_reason": summary.with_reason,
            "items": [item.to_dict() for item in items],
        }
        print(json.dumps(data, ensure_ascii=False))
        return 0
    print(f"feedback: {summary.votes} votes, {summary.line()}")
    for item in items:
        print(_feedback_line(item))
    return 0


def _feedback_line(item: Any) -> str:
    from bot.answer import display_name

    when = time.strftime("%Y-%m-%d %H:%M", time.localtime(item.at))
    mark = "👍" if item.vote == "up" else "👎"
    question = display_name(item.question) or f"(answer {item.job_id} not recorded)"
    line = f"{when} {mark} {item.user} job {item.job_id}: {question[:100]}"
    if item.reason:
        line += f"\n    reason: {display_name(item.reason)}"
    if item.sources:
        cited = ", ".join(f"{s.get('file')} p. {s.get('page')}" for s in item.sources[:4])
        line += f"\n    cited: {display_name(cited)}"
    return line


def _export_feedback(items: Sequence[Any], path: Path) -> int:
    """Write each 👎 with a reason (one per question) in the JSONL format `docbot eval` reads."""
    lines: list[str] = []
    seen: set[str] = set()
    skipped = 0
    for item in items:
        if item.vote != "down" or not item.reason:
            continue
        question = item.eval_question()
        if question is None:
            skipped += 1
            continue
        if question["question"] in seen:
            continue
        seen.add(question["question"])
        lines.append(json.dumps(question, ensure_ascii=False))
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    note = f" ({skipped} without a cited page left out)" if skipped else ""
    print(
        f"wrote {len(lines)} questions to {path}{note}. Each one's doc and page are the first page the "
        "bot cited, which the asker disliked: check them against the reason before adding it to a set.",
        file=sys.stderr,
    )
    return 0


# ----- run -----


def cmd_run(settings: Settings, args: argparse.Namespace) -> int:
    """Run the Slack bot (tokens checked before any model loads); on a terminal without Slack tokens, the
    console chat; without a terminal and tokens, exit 2. Both re-index the data dir in the background at
    start and every `reindex_minutes`, pausing while an answer is generated."""
    from bot.logging_setup import resolve_level
    from bot.serve import run_command

    # Falling back to the console, the log must not interleave with the chat: console's level then.
    console_level = resolve_level(settings.log_level, args.verbose + args.verbose_after, "console")
    return run_command(settings, interactive=sys.stdin.isatty(), console_log_level=console_level)


def cmd_console(settings: Settings, args: argparse.Namespace) -> int:
    """Chat with the documents in the terminal, re-indexing the data dir in the background."""
    from bot.serve import console_command

    return console_command(settings)


def cmd_health(settings: Settings, args: argparse.Namespace) -> int:
    """Print a running bot's /healthz report; exit 0 when it is healthy, 1 otherwise."""
    from bot.health import HOST, fetch_health

    port = args.port or settings.health_port
    if not port:
        print("docbot: health_port is 0 (off); set DOCBOT_HEALTH_PORT for `docbot run`", file=sys.stderr)
        return 1
    try:
        status, report = fetch_health(port, timeout=args.timeout)
    except OSError as exc:
        report = {"healthy": False, "problems": [f"no bot answers on {HOST}:{port} ({exc})"]}
        print(json.dumps(report))
        return 1
    print(json.dumps(report))
    return 0 if status == 200 and report.get("healthy") is True else 1
