"""Part 4, memory: peak RSS of the bot process with the whole corpus indexed, the language model excluded.

    .venv/bin/python -m bench.memory [--runs 3] [--quick] [--index-ready]

Starts the real bot (`python -m bot run`, the Procfile's process) against the loopback fake Slack
(devtools/fake_slack.py) on the corpus index under bench-out/, with no model file: docbot answers in
retrieval-only mode, so the process holds everything but the model (Python, torch and the embedding
model, the FAISS index, SQLite, the Slack client, the queue and worker). It waits for the start-up
re-index check, asks every question of tests/eval/*.jsonl in one burst (one user each), waits until each
is answered, and reads VmHWM (peak resident set) and VmRSS from /proc/<pid>/status.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bench.common import (
    BENCH_OUT,
    CORPUS,
    CORPUS_INDEX_DIR,
    Goal,
    Section,
    corpus_part_parser,
    corpus_part_ready,
    docbot_env,
    fmt_summary,
    scratch_dir,
    summarize,
    write_results,
)
from bench.retrieval_latency import load_eval_questions

if TYPE_CHECKING:
    from devtools.fake_slack import FakeSlack

PART = "memory"
TITLE = "Memory"
CHANNEL = "C1"
START_TIMEOUT = 300.0
ANSWER_TIMEOUT = 300.0
# Llama-2-7B: 32 layers x 4096 wide, K and V in f16, at the default context_length of 4096 tokens.
KV_CACHE_GIB = 2 * 32 * 4096 * 4096 * 2 / 1024**3


def proc_status_mib(pid: int) -> dict[str, float]:
    """VmHWM, VmRSS, RssAnon, RssFile and RssShmem of a process, in MiB."""
    wanted = ("VmHWM", "VmRSS", "RssAnon", "RssFile", "RssShmem")
    out = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        name, _, value = line.partition(":")
        if name in wanted:
            out[name] = int(value.split()[0]) / 1024
    return out


def answered(fake: FakeSlack, ts: str) -> bool:
    """Whether the bot's answer (a reply that cites Sources) is in the question's thread."""
    return any(m.get("bot_id") and "Sources" in str(m.get("text", "")) for m in fake.messages(CHANNEL, ts))


def forget_questions(index_dir: Path) -> None:
    """Delete the bot's question queue (kept beside the index) so each run starts as a first deployment.

    The fake Slack numbers events and timestamps from 1 again each run; the queue would take them for
    redeliveries of the last run's questions and answer none.
    """
    from bot.queue import QUEUE_FILE

    for path in index_dir.glob(f"{QUEUE_FILE}*"):
        path.unlink()


def one_run(
    questions: list[str], log: Path, index_dir: Path = CORPUS_INDEX_DIR, data_dir: Path = CORPUS
) -> dict[str, Any]:
    """Start the bot, let it check the index, ask every question, return its /proc figures."""
    from devtools.bot_process import BotProcess
    from devtools.fake_slack import FakeSlack

    forget_questions(index_dir)
    log.unlink(missing_ok=True)  # BotProcess appends
    with FakeSlack() as fake:
        env = docbot_env(index_dir, data_dir) | {
            "SLACK_BOT_TOKEN": fake.bot_token,
            "SLACK_APP_TOKEN": fake.app_token,
            "SLACK_API_URL": fake.api_url,
            "DOCBOT_SETTLE_SECONDS": "0",
            "DOCBOT_REINDEX_MINUTES": "60",
            "DOCBOT_QUEUE_MAX": str(len(questions) + 10),
        }
        started = time.monotonic()
        bot = BotProcess(fake, env, log, cwd=scratch_dir())
        try:
            bot.wait_connected(0, timeout=START_TIMEOUT)
            bot.wait_runs(lambda s: s.pid == bot.proc.pid and s.runs >= 1, timeout=START_TIMEOUT)
            ready_seconds = time.monotonic() - started
            idle = proc_status_mib(bot.proc.pid)
            asked = time.monotonic()
            sent = [fake.mention(q, user=f"U{n:03d}", channel=CHANNEL)[1] for n, q in enumerate(questions)]
            peak_sampled = idle["VmRSS"]
            deadline = asked + ANSWER_TIMEOUT
            while not all(answered(fake, ts) for ts in sent):
                if bot.proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"bot stopped or timed out; log {log}")
                peak_sampled = max(peak_sampled, proc_status_mib(bot.proc.pid)["VmRSS"])
                time.sleep(0.2)  # sampling interval for VmRSS (VmHWM catches the true peak anyway)
            answered_seconds = time.monotonic() - asked
            after = proc_status_mib(bot.proc.pid)
            bot.stop()
        finally:
            bot.close()
    return {
        "ready_seconds": round(ready_seconds, 1),
        "answered_seconds": round(answered_seconds, 1),
        "idle": idle,
        "after": after,
        "peak_sampled_rss_mib": peak_sampled,
    }


def summarize_runs(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Peak, idle and final resident memory over runs, in MiB."""
    return {
        "peak_rss_mib": summarize([r["after"]["VmHWM"] for r in runs], 1),
        "idle_rss_mib": summarize([r["idle"]["VmRSS"] for r in runs], 1),
        "final_rss_mib": summarize([r["after"]["VmRSS"] for r in runs], 1),
        "final_anon_mib": summarize([r["after"]["RssAnon"] for r in runs], 1),
        "final_file_mib": summarize([r["after"]["RssFile"] for r in runs], 1),
        "ready_seconds": summarize([r["ready_seconds"] for r in runs], 1),
        "answered_seconds": summarize([r["answered_seconds"] for r in runs], 1),
    }


def section_of(figures: dict[str, Any], questions: int) -> Section:
    """The part's table and what it measures."""
    rows = [
        ["peak RSS (VmHWM) over the whole run", fmt_summary(figures["peak_rss_mib"], "MiB")],
        ["RSS once connected and the start-up index check done", fmt_summary(figures["idle_rss_mib"], "MiB")],
        ["RSS after answering", fmt_summary(figures["final_rss_mib"], "MiB")],
        [
            "  of which anonymous (heap: Python, embedding runtime and model, FAISS)",
            fmt_summary(figures["final_anon_mib"], "MiB"),
        ],
        ["  of which file-backed (libraries, mapped files)", fmt_summary(figures["final_file_mib"], "MiB")],
        ["start to ready", fmt_summary(figures["ready_seconds"], "s")],
        [
            f"{questions} questions asked at once, all answered in",
            fmt_summary(figures["answered_seconds"], "s"),
        ],
    ]
    notes = [
        "Measured: the `python -m bot run` process (Socket Mode to the loopback fake Slack) on docbot's "
        "index of "
        f"the whole corpus, retrieval-only (no model file), asked the {questions} questions of tests/eval. "
        "Each run is a fresh process; figures from /proc/<pid>/status.",
        "Not included: the language model. llama.cpp memory-maps the GGUF (3.8 GB for Q4_0): its pages are "
        "shared page cache, counted as file-backed RSS only once touched. Also not included: llama.cpp's "
        f"KV cache, which is not mapped: {KV_CACHE_GIB:.0f} GiB for Llama-2-7B in f16 at the default "
        "4,096-token context, plus its compute buffers.",
    ]
    return Section(
        heading="Bot process memory", header=["figure", "median (min–max)"], rows=rows, notes=notes
    )


def main() -> None:
    """Run the bot `--runs` times, print the summary and write bench/results/memory.json."""
    parser = corpus_part_parser(__doc__, quick_help="1 run")
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    if not corpus_part_ready("memory", args.index_ready):
        return
    questions = load_eval_questions()
    runs = [
        one_run(questions, BENCH_OUT / f"memory-bot-{n}.log") for n in range(1 if args.quick else args.runs)
    ]
    figures = summarize_runs(runs)
    peak = figures["peak_rss_mib"]
    goal = Goal(
        goal="Memory: peak RSS of the bot with the corpus indexed, model excluded",
        target="reported (no target in the issue)",
        measured=f"{peak['median']:.0f} MiB (runs {peak['min']:.0f}–{peak['max']:.0f})",
        met=None,
        why="no target set",
    )
    path = write_results(
        PART,
        {"figures": figures, "runs": runs, "questions": len(questions)},
        title=TITLE,
        goals=[goal],
        sections=[section_of(figures, len(questions))],
        quick=args.quick,
    )
    print(f"memory: peak RSS {fmt_summary(peak, 'MiB')}; wrote {path}")


if __name__ == "__main__":
    main()
