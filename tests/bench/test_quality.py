"""The tutorial side of the quality part: hit@k from its k nearest chunks, scored by bot/evaluate.py."""

from __future__ import annotations

import json
from pathlib import Path

from bench.quality import bar_goal, goal_of, tutorial_eval
from bench.tutorial import build_tutorial_index
from devtools.pdfs import make_text_pdf

PAGES = [
    "Parking for visitors is free of charge in the north lot.",
    "Parking permits for employees cost ten dollars a month.",
    "The cafeteria serves breakfast from seven until ten in the morning.",
]


def test_tutorial_hit_at_k_counts_only_its_k_nearest_chunks(tmp_path: Path) -> None:
    pdf = make_text_pdf(tmp_path / "a.pdf", PAGES)
    index = build_tutorial_index([pdf])
    first, second = index.search("How much is parking for employees?", 2)
    assert first[1] == 2 and second[1] == 1  # the answer page first, the other parking page second
    rows = [
        {"question": "How much is parking for employees?", "doc": "a.pdf", "page": 2},
        {"question": "How much is parking for employees?", "doc": "a.pdf", "page": 3},  # rank 3
    ]
    files = [tmp_path / "q1.jsonl", tmp_path / "q2.jsonl"]  # two sets, pooled into one report
    for path, row in zip(files, rows, strict=True):
        path.write_text(json.dumps(row) + "\n")
    report = tutorial_eval(files, index)
    assert report["overall"]["page_hit@2"] == 0.5
    assert report["overall"]["page_hit@8"] == 1.0
    assert report["overall"]["mrr"] == round((1 + 1 / 3) / 2, 4)
    assert report["per_doc"]["a.pdf"]["page_hit@4"] == 1.0


def test_goal_names_every_figure_where_docbot_is_lower() -> None:
    tutorial = {"page_hit@2": 0.7, "page_hit@4": 0.8, "page_hit@8": 0.9, "mrr": 0.6}
    docbot = {"page_hit@2": 0.9, "page_hit@4": 0.75, "page_hit@8": 0.95, "mrr": 0.8}
    goal = goal_of({"holdout": {"tutorial": {"overall": tutorial}, "docbot": {"overall": docbot}}})
    assert goal.met is False
    assert goal.why == "holdout page_hit@4: docbot 0.750 < tutorial 0.800"
    better = goal_of({"holdout": {"tutorial": {"overall": tutorial}, "docbot": {"overall": tutorial}}})
    assert better.met is True and better.why == ""


def test_bar_goal_is_met_only_when_both_rates_reach_the_bar() -> None:
    def goal(hit4: float, hit2: float) -> tuple[bool | None, str]:
        overall = {"n": 180, "page_hit@4": hit4, "page_hit@2": hit2, "mrr": 0.8}
        result = bar_goal({"tutorial": {}, "docbot": {"overall": overall}})
        assert result.measured.startswith("180 blind questions: hit@4")
        return result.met, result.why

    assert goal(0.95, 0.85) == (True, "")
    assert goal(0.9222, 0.8333) == (False, "page_hit@4 0.922 < 0.95; page_hit@2 0.833 < 0.85")
    assert goal(0.96, 0.84) == (False, "page_hit@2 0.840 < 0.85")
