"""The real-model answers part: its question sample, the tutorial's retrieval behind the chain's seam,
and its table and goal rows."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.answers import (
    SAMPLE_ANSWERABLE,
    SAMPLE_UNANSWERABLE,
    SHIPPED,
    WAYS,
    TutorialRetriever,
    Way,
    goals_of,
    sample,
    table,
)
from bench.tutorial import build_tutorial_index
from devtools.pdfs import make_text_pdf


def test_sample_spreads_over_answered_and_unanswerable_questions() -> None:
    questions = sample(SAMPLE_ANSWERABLE, SAMPLE_UNANSWERABLE)
    answered = [q for q in questions if q.answerable]
    declined = [q for q in questions if not q.answerable]
    assert len(answered) == SAMPLE_ANSWERABLE and all(q.answer for q in answered)
    assert len(declined) == SAMPLE_UNANSWERABLE
    assert len({q.doc for q in declined}) == SAMPLE_UNANSWERABLE  # one per document, round-robin
    assert len({q.doc for q in answered}) >= 4
    assert sample(SAMPLE_ANSWERABLE, SAMPLE_UNANSWERABLE) == questions  # the same for every row


@pytest.mark.slow
def test_tutorial_retriever_hands_the_chain_its_nearest_chunks(tmp_path: Path) -> None:
    pdf = make_text_pdf(tmp_path / "report.pdf", ["The canteen opens at seven.", "Revenue was $400 million."])
    retriever = TutorialRetriever(index=build_tutorial_index([pdf]), k=1)
    [doc] = retriever.invoke("How much was revenue?")
    assert doc.metadata["file"] == "report.pdf" and doc.metadata["page"] == 2
    assert "$400 million" in doc.page_content


def _summary(accuracy: float, abstention: float) -> dict[str, object]:
    return {
        "accuracy": accuracy,
        "accuracy_when_retrieved": accuracy,
        "abstention": abstention,
        "abstention_shown": abstention,
        "length_limited": 0.0,
        "grounding_false_alarms": 0.0,
        "seconds": {"median": 4.2, "p90": 6.0},
    }


def test_table_and_goals_show_every_way_and_the_bars() -> None:
    models = {"qwen2.5-1.5b": {Way(*way).name: {"summary": _summary(0.75, 0.5)} for way in WAYS}}
    section = table(models, 16)
    assert len(section.rows) == len(WAYS)
    assert section.rows[0][:4] == ["qwen2.5-1.5b", Way(*SHIPPED).name, "75%", "75%"]
    goals = {goal.goal: goal.met for goal in goals_of(models)}
    assert goals["1.5B model: accuracy when the page is retrieved"] is True
    assert goals["1.5B model: abstention on unanswerable questions"] is False
    assert goals["1.5B model: answers run to the token limit"] is True
    assert [goal.met for goal in goals_of({})] == [None]
