"""Bench helpers: run summaries, percentiles, result files, the machine record."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.common import (
    Goal,
    Section,
    fmt_summary,
    machine,
    percentile,
    read_results,
    summarize,
    write_results,
)


def test_summarize_gives_median_min_max_of_the_runs() -> None:
    assert summarize([3.0, 1.0, 2.0, 10.0]) == {
        "median": 2.5,
        "min": 1.0,
        "max": 10.0,
        "runs": 4,
        "values": [3.0, 1.0, 2.0, 10.0],
    }
    assert summarize([0.123456], digits=2)["median"] == 0.12
    with pytest.raises(ValueError):
        summarize([])


def test_fmt_summary() -> None:
    assert fmt_summary(summarize([1.0, 2.0, 4.0]), "s") == "2.0 (1.0–4.0) s, 3 runs"


def test_percentile_interpolates() -> None:
    values = [float(v) for v in range(1, 101)]
    assert percentile(values, 50) == pytest.approx(50.5)
    assert percentile(values, 95) == pytest.approx(95.05)
    assert percentile([7.0], 95) == 7.0


def test_results_round_trip_with_machine(tmp_path: Path) -> None:
    path = write_results(
        "demo",
        {"extra": 1},
        goals=[Goal("g", "< 1", "0.5", True)],
        sections=[Section("s", ["a"], [["1"]])],
        results_dir=tmp_path,
    )
    assert path == tmp_path / "demo.json"
    loaded = read_results("demo", tmp_path)
    assert loaded is not None
    assert loaded["extra"] == 1 and loaded["goals"][0]["met"] is True
    assert loaded["machine"]["cores"] >= 1 and loaded["machine"]["cpu_model"]
    assert read_results("missing", tmp_path) is None


def test_machine_names_the_cpu_and_packages() -> None:
    info = machine()
    assert info["cores"] >= 1
    assert "pypdf" in info["packages"]


def test_index_runtimes_of_a_missing_index_is_empty(tmp_path: Path) -> None:
    from bench.common import index_runtimes

    assert index_runtimes(tmp_path / "nothing") == []
