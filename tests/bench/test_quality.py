"""The tutorial side of the quality part: hit@k from its k nearest chunks, scored by bot/evaluate.py."""

from __future__ import annotations

import json
from pathlib import Path

from bench.quality import goal_of, tutorial_eval
from bench.tutorial import build_tutorial_index
from tests.pdfs import make_text_pdf

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
    questions = tmp_path / "q.jsonl"
    rows = [
        {"question": "How much is parking for employees?", "doc": "a.pdf", "page": 2},
        {"question": "How much is parking for employees?", "doc": "a.pdf", "page": 3},  # rank 3
    ]
    questions.write_text("".join(json.dumps(r) + "\n" for r in rows))
    report = tutorial_eval(questions, index)
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
