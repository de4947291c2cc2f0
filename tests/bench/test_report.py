"""The benchmarks page renders from result files, says which goals are not met and which parts did not run."""

from __future__ import annotations

import json
from pathlib import Path

from bench.common import Goal, Section, summarize, write_results
from bench.report import render


def write_fixtures(results: Path) -> None:
    write_results(
        "llm_latency",
        {},
        title="Answer latency",
        goals=[
            Goal(
                "answer time, docbot vs tutorial",
                "at most 0.4x",
                "0.55x (0.50–0.61), 3 pairs",
                False,
                "why",
            ),
            Goal("chain overhead", "under 3%", "+1.0%", True),
        ],
        sections=[
            Section("End to end", ["", "total"], [["docbot", "12.0 (11.0–13.0) s, 3 runs"]], ["a note"])
        ],
        chart={
            "answer_seconds": {
                "unit": "s",
                "tutorial": summarize([30, 32, 35]),
                "docbot": summarize([12, 13]),
            }
        },
        results_dir=results,
    )
    write_results(
        "quality",
        {},
        goals=[Goal("quality no lower", "≥ tutorial", "hit@2 0.92 vs 0.70", True)],
        chart={
            "Quality": {
                "unit": "fraction",
                "groups": ["questions\nhit@2", "questions\nhit@4"],
                "series": {"tutorial": [0.7, 0.77], "docbot": [0.92, 0.97]},
            }
        },
        quick=True,
        results_dir=results,
    )
    write_results(
        "memory",
        {},
        goals=[Goal("peak RSS", "reported", "700 MiB", None, "no target set")],
        results_dir=results,
    )
    run = {"parts": {"retrieval": {"status": "failed", "exit": 1, "finished_at": "2026-11-27T12:00:00Z"}}}
    (results / "run.json").write_text(json.dumps(run))


def test_page_has_headline_sections_chart_and_missing_parts(tmp_path: Path) -> None:
    results = tmp_path / "results"
    write_fixtures(results)
    page = render(results, tmp_path / "docs" / "benchmarks.md").read_text()

    assert "Machine: " in page and " cores, " in page
    row = "| answer time, docbot vs tutorial | at most 0.4x | 0.55x (0.50–0.61), 3 pairs | **not met**: why |"
    assert row in page
    assert "| chain overhead | under 3% | +1.0% | met |" in page
    assert "| peak RSS | reported | 700 MiB | no target set |" in page
    # ingestion and retrieval have no results: listed in the headline and in their sections as not run
    assert "| 1. Ingestion throughput | | not run | — |" in page
    ingestion = page.split("## 1. Ingestion throughput", 1)[1].split("## ", 1)[0]
    assert "Not run: no results yet." in ingestion
    retrieval = page.split("## 3. Retrieval latency", 1)[1].split("## ", 1)[0]
    assert "**failed (exit 1) in the last `make bench` run" in retrieval
    assert "| docbot | 12.0 (11.0–13.0) s, 3 runs |" in page and "- a note" in page
    assert "`--quick` smoke run" in page.split("## 5. Retrieval quality", 1)[1]
    assert "![tutorial vs docbot](benchmarks.png)" in page
    assert (tmp_path / "docs" / "benchmarks.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_page_without_any_results_lists_every_part_as_not_run(tmp_path: Path) -> None:
    page = render(tmp_path / "empty", tmp_path / "benchmarks.md").read_text()
    assert page.count("| not run | — |") == 6
    assert "Machine: no part has been run yet." in page
    assert "![" not in page and not (tmp_path / "benchmarks.png").exists()
