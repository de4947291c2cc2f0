"""Retrieval latency figures: per-run percentiles summarised over runs; the goal's verdict with reasons."""

from __future__ import annotations

from bench.retrieval_latency import STAGES, goal_of, summarize_runs


def run(query_ms: list[float], stage_ms: float) -> dict[str, list[float]]:
    return {"query_ms": query_ms, **{stage: [stage_ms] * len(query_ms) for stage in STAGES}}


def test_percentiles_are_per_run_then_median_min_max_over_runs() -> None:
    fast = run([10.0] * 19 + [100.0], 1.0)  # p95 of this run: 10 + 0.05 * 90 = 14.5
    slow = run([20.0] * 20, 2.0)
    figures = summarize_runs({"per_run": [fast, slow, slow]})
    assert figures["p50_ms"] == {
        "median": 20.0,
        "min": 10.0,
        "max": 20.0,
        "runs": 3,
        "values": [10.0, 20.0, 20.0],
    }
    assert figures["p95_ms"]["min"] == 14.5
    assert figures["max_ms"]["max"] == 100.0
    assert figures["embed_ms_p95"]["median"] == 2.0
    assert goal_of(figures).met is True


def test_a_missed_goal_names_the_stages() -> None:
    figures = summarize_runs({"per_run": [run([60.0] * 10, 30.0)]})
    goal = goal_of(figures)
    assert goal.met is False
    assert goal.measured.startswith("60.0 ms")
    assert "query embedding 30.0" in goal.why and "FAISS top-60 30.0" in goal.why
