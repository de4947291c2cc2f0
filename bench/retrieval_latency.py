"""Part 3, retrieval latency: p50/p95 of a k=4 hybrid query over the whole corpus index (goal p95 < 50 ms).

    .venv/bin/python -m bench.retrieval_latency [--runs 5] [--quick] [--index-ready]

Opens docbot's engine (no model) on the corpus index under bench-out/ and asks every question of
tests/eval/*.jsonl through the retriever the QA chain uses (`retriever.invoke`: query embedding, FAISS,
FTS5 BM25, fusion, one hit per page, Documents). Each run asks them all once; p50/p95 are per run, and the
page gives the median over runs with min and max. Each stage alone (embedding, FAISS, BM25, chunk fetch)
is timed in a second pass per run, to show where the time goes.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from bench.common import (
    Goal,
    Section,
    corpus_part_parser,
    corpus_part_ready,
    docbot_settings_overrides,
    eval_questions_paths,
    fmt_summary,
    percentile,
    summarize,
    write_results,
)

if TYPE_CHECKING:
    from bot.engine import Engine

PART = "retrieval"
TITLE = "Retrieval latency"
GOAL_P95_MS = 50.0
K = 4
WARM_UP = 5
STAGES = {
    "embed_ms": "query embedding",
    "dense_ms": "FAISS top-60 (flat inner product)",
    "keyword_ms": "FTS5 BM25 top-60",
    "chunks_ms": "fetch the candidate chunks (SQLite)",
}


def load_eval_questions() -> list[str]:
    """The question texts of every tests/eval set."""
    from bot.evaluate import load_questions

    return [q.question for path in eval_questions_paths() for q in load_questions(path)]


def time_calls(call: Any, questions: list[str]) -> list[float]:
    """Milliseconds of call(question) for each question, in order."""
    times = []
    for question in questions:
        started = time.perf_counter()
        call(question)
        times.append((time.perf_counter() - started) * 1000)
    return times


def time_stages(engine: Engine, questions: list[str]) -> dict[str, list[float]]:
    """Milliseconds of each stage of the retriever's work, called one by one as its search() does."""
    from vectorstore.keywords import fts_query

    retriever, store = engine.retriever, engine.store
    stages: dict[str, list[float]] = {name: [] for name in STAGES}
    for question in questions:
        mark = time.perf_counter()
        vector = engine.embeddings.embed_query(question)
        stages["embed_ms"].append(_since(mark))
        with store.snapshot():
            mark = time.perf_counter()
            dense = store.dense_search(vector, retriever.fetch_k)
            stages["dense_ms"].append(_since(mark))
            mark = time.perf_counter()
            sparse = store.keyword_search(
                fts_query(question), retriever.fetch_k, (1.0, retriever.context_weight)
            )
            stages["keyword_ms"].append(_since(mark))
            mark = time.perf_counter()
            store.get_chunks(list({i for i, _ in dense} | {i for i, _ in sparse}))
            stages["chunks_ms"].append(_since(mark))
    return stages


def _since(mark: float) -> float:
    return (time.perf_counter() - mark) * 1000


def measure(runs: int) -> dict[str, Any]:
    """Open the engine on the corpus index and time the questions `runs` times."""
    from bot.engine import open_engine
    from config import load_settings
    from models.embeddings import runtime_of

    settings = load_settings(**docbot_settings_overrides(), k=K)
    engine = open_engine(settings, load_llm=False)
    try:
        questions = load_eval_questions()
        status = engine.status()
        runtimes = engine.store.runtimes()
        retriever = engine.retriever
        for question in questions[:WARM_UP]:
            retriever.invoke(question)
        per_run = []
        for _ in range(runs):
            query_ms = time_calls(retriever.invoke, questions)
            per_run.append({"query_ms": query_ms, **time_stages(engine, questions)})
        hits = len(retriever.invoke(questions[0]))
    finally:
        engine.close()
    return {
        "questions": len(questions),
        "k": K,
        "hits_returned": hits,
        "index": {
            "files": status.files,
            "pages": status.pages,
            "chunks": status.chunks,
            "runtimes": runtimes,
            "query_runtime": runtime_of(engine.embeddings),
        },
        "per_run": per_run,
    }


def summarize_runs(raw: dict[str, Any]) -> dict[str, Any]:
    """Per-run p50/p95/min/max of queries and embeddings, summarised over runs."""
    runs = raw["per_run"]
    figures = {
        "p50_ms": summarize([percentile(r["query_ms"], 50) for r in runs], 2),
        "p95_ms": summarize([percentile(r["query_ms"], 95) for r in runs], 2),
        "min_ms": summarize([min(r["query_ms"]) for r in runs], 2),
        "max_ms": summarize([max(r["query_ms"]) for r in runs], 2),
    }
    for stage in STAGES:
        for pct in (50, 95):
            figures[f"{stage}_p{pct}"] = summarize([percentile(r[stage], pct) for r in runs], 2)
    return figures


def goal_of(figures: dict[str, Any]) -> Goal:
    """p95 under 50 ms, judged on the median over runs (the worst run is named too)."""
    p95 = figures["p95_ms"]
    met = p95["median"] < GOAL_P95_MS
    stages = ", ".join(f"{STAGES[s].split(' (')[0]} {figures[f'{s}_p95']['median']:.1f}" for s in STAGES)
    why = "" if met else f"p95 of the stages alone (ms): {stages}"
    return Goal(
        goal="Retrieval latency: p95 of a k=4 hybrid query over the whole corpus",
        target=f"< {GOAL_P95_MS:.0f} ms",
        measured=f"{p95['median']:.1f} ms (runs {p95['min']:.1f}–{p95['max']:.1f})",
        met=met,
        why=why,
    )


def section_of(raw: dict[str, Any], figures: dict[str, Any]) -> Section:
    """The part's table for the page."""
    rows = [
        ["query p50", fmt_summary(figures["p50_ms"], "ms")],
        ["query p95", fmt_summary(figures["p95_ms"], "ms")],
        ["fastest query", fmt_summary(figures["min_ms"], "ms")],
        ["slowest query", fmt_summary(figures["max_ms"], "ms")],
    ]
    for stage, label in STAGES.items():
        rows.append([f"{label} alone, p50", fmt_summary(figures[f"{stage}_p50"], "ms")])
        rows.append([f"{label} alone, p95", fmt_summary(figures[f"{stage}_p95"], "ms")])
    index = raw["index"]
    notes = [
        f"{raw['questions']} questions (tests/eval/*.jsonl) per run, k={raw['k']}, through the QA chain's "
        f"retriever.invoke: query embedding, FAISS top-60, FTS5 BM25 top-60, fusion, best chunk per page.",
        f"Index: {index['files']} files, {index['pages']} pages, {index['chunks']} chunks, docbot's defaults "
        f"(embedding runtime: {', '.join(index['runtimes']) or 'unrecorded'}; queries embedded by "
        f"{index['query_runtime']}). Median over runs (min–max); p50/p95 are computed within each run.",
    ]
    return Section(heading="k=4 hybrid query", header=["figure", "median (min–max)"], rows=rows, notes=notes)


def main() -> None:
    """Measure, print the summary and write bench/results/retrieval.json."""
    parser = corpus_part_parser(__doc__, quick_help="2 runs")
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    if not corpus_part_ready("retrieval", args.index_ready):
        return
    runs = 2 if args.quick else args.runs
    raw = measure(runs)
    figures = summarize_runs(raw)
    goal = goal_of(figures)
    path = write_results(
        PART,
        {"figures": figures, **raw},
        title=TITLE,
        goals=[goal],
        sections=[section_of(raw, figures)],
        quick=args.quick,
    )
    print(
        f"retrieval: p50 {fmt_summary(figures['p50_ms'], 'ms')}; p95 {fmt_summary(figures['p95_ms'], 'ms')}"
    )
    print(f"retrieval: wrote {path}")


if __name__ == "__main__":
    main()
