"""The feedback store: one vote per person and answer, redelivered clicks spotted, reasons kept with 👎,
what was answered kept beside the vote, and 👎s with a reason turned into `docbot eval` questions."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.answer import Answer, Source, Timings
from bot.evaluate import load_questions
from bot.feedback import FEEDBACK_FILE, MAX_REASON_CHARS, FeedbackStore, FeedbackSummary

SOURCES = [
    Source("reports/manu.pdf", 53, "43", "minimum guarantee of £750 million", 0.9),
    Source("reports/manu.pdf", 75, "65", "the adidas agreement", 0.7),
    Source("other.pdf", 2, "2", "unrelated", 0.3),
]


def _answer(question: str = "How much is the adidas guarantee?", mode: str = "llm") -> Answer:
    return Answer(
        question=question,
        text="£750 million.",
        mode="llm" if mode == "llm" else "retrieval-only",
        sources=SOURCES,
        timings=Timings(retrieval=0.1, prompt=2.0, generation=3.0, total=5.2, first_token=2.2),
    )


@pytest.fixture
def store(tmp_path: Path) -> Iterator[FeedbackStore]:
    store = FeedbackStore.beside_index(tmp_path, model="smollm2.gguf")
    yield store
    store.close()


def _record(store: FeedbackStore, job_id: int, answer: Answer | None = None) -> None:
    store.record_answer(
        job_id=job_id,
        channel="C1",
        thread_ts="1.0",
        question_ts="1.0",
        asker="U1",
        answer=answer or _answer(),
        seconds=5.3,
    )


def test_a_vote_is_recorded_once_and_a_redelivered_click_is_spotted(store: FeedbackStore) -> None:
    _record(store, 1)
    first = store.vote(job_id=1, user="U1", vote="up", click_id="t1", channel="C1", message_ts="2.0")
    assert first.outcome == "new"
    assert store.vote(job_id=1, user="U1", vote="up", click_id="t1").outcome == "redelivered"
    assert store.vote(job_id=1, user="U1", vote="up", click_id="t2").outcome == "same"
    assert store.vote(job_id=1, user="U2", vote="up", click_id="t3").outcome == "new"
    assert store.summary() == FeedbackSummary(up=2, down=0, with_reason=0)
    # an older click delivered again after a newer one does not undo the newer vote
    assert store.vote(job_id=1, user="U1", vote="down", click_id="t4").outcome == "changed"
    assert store.vote(job_id=1, user="U1", vote="up", click_id="t1").outcome == "redelivered"
    assert store.summary() == FeedbackSummary(up=1, down=1, with_reason=0)


def test_a_reason_is_kept_with_the_thumbs_down_and_dropped_when_the_vote_changes(
    store: FeedbackStore,
) -> None:
    _record(store, 7)
    store.vote(job_id=7, user="U1", vote="down", click_id="a")
    assert store.set_reason(job_id=7, user="U1", reason="  wrong page  ")
    assert not store.set_reason(job_id=7, user="U1", reason="wrong page")  # a redelivered submission
    assert store.vote(job_id=7, user="U1", vote="down", click_id="b").has_reason
    [item] = store.items()
    assert (item.vote, item.reason) == ("down", "wrong page")
    assert store.summary().with_reason == 1
    store.vote(job_id=7, user="U1", vote="up", click_id="c")
    [item] = store.items()
    assert (item.vote, item.reason) == ("up", "")
    assert store.set_reason(job_id=8, user="U2", reason="x" * (MAX_REASON_CHARS + 50))  # no vote seen
    reasons = {i.job_id: i.reason for i in store.items()}
    assert len(reasons[8]) == MAX_REASON_CHARS


def test_items_carry_the_answer_newest_first_and_survive_a_reopen(tmp_path: Path) -> None:
    store = FeedbackStore.beside_index(tmp_path, model="smollm2.gguf")
    _record(store, 1)
    _record(store, 2, _answer("What does the handbook say about leave?", mode="retrieval-only"))
    store.vote(job_id=1, user="U1", vote="up", click_id="a", channel="C1", message_ts="2.0")
    store.vote(job_id=2, user="U1", vote="down", click_id="b")
    store.vote(job_id=99, user="U3", vote="up", click_id="c")  # an answer from before feedback existed
    store.close()
    store = FeedbackStore.beside_index(tmp_path)
    try:
        items = store.items()
        assert [i.job_id for i in items] == [99, 2, 1]
        newest, second, oldest = items
        assert newest.question == "" and newest.sources == []
        assert second.model == "retrieval-only" and second.mode == "retrieval-only"
        assert oldest.model == "smollm2.gguf" and oldest.message_ts == "2.0" and oldest.channel == "C1"
        assert oldest.sources[0] == SOURCES[0].as_hit() and oldest.timings["total"] == 5.2
        assert oldest.seconds == 5.3
        assert [i.job_id for i in store.items(limit=1)] == [99]
        assert json.loads(json.dumps(oldest.to_dict()))["answer"] == "£750 million."
        # a job answered again after a crash replaces its record
        _record(store, 1, _answer("How much is the adidas guarantee, in pounds?"))
        assert {i.job_id: i.question for i in store.items()}[1].endswith("in pounds?")
    finally:
        store.close()


def test_a_thumbs_down_becomes_an_eval_question_docbot_eval_reads(
    store: FeedbackStore, tmp_path: Path
) -> None:
    _record(store, 3)
    store.vote(job_id=3, user="U1", vote="down", click_id="a")
    store.set_reason(job_id=3, user="U1", reason="it is on p. 75")
    [item] = store.items()
    question = item.eval_question()
    assert question is not None
    assert (question["doc"], question["page"], question["also_on"]) == ("reports/manu.pdf", 53, [75])
    assert question["feedback"]["reason"] == "it is on p. 75"
    assert question["feedback"]["cited"] == [
        "reports/manu.pdf p. 53",
        "reports/manu.pdf p. 75",
        "other.pdf p. 2",
    ]
    path = tmp_path / "q.jsonl"
    path.write_text(json.dumps(question) + "\n", encoding="utf-8")
    [loaded] = load_questions(path)
    assert loaded.question == "How much is the adidas guarantee?" and loaded.expected_pages == (53, 75)


def test_a_vote_must_be_up_or_down(store: FeedbackStore) -> None:
    with pytest.raises(ValueError):
        store.vote(job_id=1, user="U1", vote="sideways")  # type: ignore[arg-type]


def test_the_summary_line() -> None:
    assert FeedbackSummary(0, 0, 0).line() == "no votes yet"
    assert FeedbackSummary(3, 1, 1).line() == "3 👍 · 1 👎 (75% 👍), 1 with a reason"
    assert FeedbackSummary(2, 0, 0).line() == "2 👍 · 0 👎 (100% 👍)"


def test_click_ids_are_forgotten_after_a_week_by_the_bot_only(tmp_path: Path) -> None:
    store = FeedbackStore.beside_index(tmp_path)
    store.vote(job_id=1, user="U1", vote="up", click_id="old")
    store.close()
    db = sqlite3.connect(str(tmp_path / FEEDBACK_FILE))
    db.execute("UPDATE seen SET at = 0")
    db.commit()
    db.close()
    reader = FeedbackStore.beside_index(tmp_path)  # `docbot feedback` keeps everything
    assert reader.vote(job_id=1, user="U1", vote="up", click_id="old").outcome == "redelivered"
    reader.close()
    bot = FeedbackStore.beside_index(tmp_path, prune=True)
    try:
        assert bot.vote(job_id=1, user="U1", vote="up", click_id="old").outcome == "same"
    finally:
        bot.close()
