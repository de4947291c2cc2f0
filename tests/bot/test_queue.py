"""The durable question queue: FIFO, positions, dedupe, limits, restart, thread history."""

from __future__ import annotations

import shutil
import sqlite3
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.answer import Turn
from bot.queue import Enqueued, QuestionQueue


def open_queue(tmp_path: Path, max_size: int = 100, per_user_max: int = 100) -> QuestionQueue:
    return QuestionQueue.beside_index(tmp_path / "index", max_size=max_size, per_user_max=per_user_max)


def ask(
    queue: QuestionQueue, n: int, *, user: str = "U1", channel: str = "C1", event_id: str = ""
) -> Enqueued:
    ts = f"1700000000.{n:06d}"
    return queue.enqueue(
        event_id=event_id or f"Ev{n}", channel=channel, ts=ts, thread_ts=ts, user=user, question=f"q{n}"
    )


@pytest.fixture
def queue(tmp_path: Path) -> Iterator[QuestionQueue]:
    q = open_queue(tmp_path)
    yield q
    q.close()


def test_lives_beside_the_index(tmp_path: Path, queue: QuestionQueue) -> None:
    assert queue.path == tmp_path / "index" / "queue.sqlite3"
    assert queue.path.is_file()


def test_fifo_with_positions_and_busy(queue: QuestionQueue) -> None:
    first = ask(queue, 1)
    assert (first.outcome, first.position, first.busy) == ("queued", 1, False)
    assert queue.take(0).question == "q1"  # type: ignore[union-attr]
    later = [ask(queue, n) for n in range(2, 6)]
    assert [r.position for r in later] == [1, 2, 3, 4]
    assert all(r.busy for r in later)  # q1 is being answered
    assert [queue.take(0).question for _ in range(4)] == ["q2", "q3", "q4", "q5"]  # type: ignore[union-attr]
    assert queue.take(0) is None


def test_waiting_questions_make_a_new_one_busy_even_when_nothing_is_active(queue: QuestionQueue) -> None:
    ask(queue, 1)
    second = ask(queue, 2)
    assert (second.position, second.busy) == (2, True)


def test_same_event_id_is_a_duplicate(queue: QuestionQueue) -> None:
    ask(queue, 1, event_id="EvA")
    again = queue.enqueue(event_id="EvA", channel="C1", ts="9.9", thread_ts="9.9", user="U1", question="x")
    assert again.outcome == "duplicate"
    assert queue.snapshot().pending == 1


def test_same_message_under_another_event_id_is_a_duplicate(queue: QuestionQueue) -> None:
    # A DM that is also an app_mention arrives as two events about one message.
    ask(queue, 1, event_id="EvMention")
    assert ask(queue, 1, event_id="EvMessage").outcome == "duplicate"
    assert ask(queue, 1, channel="C2", event_id="EvOther").outcome == "queued"


def test_events_handled_without_queueing_are_remembered(queue: QuestionQueue) -> None:
    assert queue.mark_seen("EvHelp", "D1", "1.1") is True
    assert queue.mark_seen("EvHelp", "D1", "1.1") is False
    assert (
        queue.enqueue(
            event_id="EvHelp", channel="D1", ts="1.1", thread_ts="1.1", user="U", question="q"
        ).outcome
        == "duplicate"
    )


def test_bounded(tmp_path: Path) -> None:
    queue = open_queue(tmp_path, max_size=2)
    try:
        assert [ask(queue, n).outcome for n in (1, 2, 3)] == ["queued", "queued", "full"]
        queue.take(0)
        assert ask(queue, 4).outcome == "queued"  # the active one does not count as waiting
        assert ask(queue, 3).outcome == "duplicate"  # a refused event is still an event seen
    finally:
        queue.close()


def test_per_user_cap_counts_the_active_question(tmp_path: Path) -> None:
    queue = open_queue(tmp_path, per_user_max=2)
    try:
        ask(queue, 1, user="UA")
        queue.take(0)
        assert ask(queue, 2, user="UA").outcome == "queued"
        assert ask(queue, 3, user="UA").outcome == "user_full"
        assert ask(queue, 4, user="UB").outcome == "queued"
    finally:
        queue.close()


def test_pending_and_interrupted_questions_survive_a_restart(tmp_path: Path) -> None:
    queue = open_queue(tmp_path)
    for n in (1, 2, 3):
        ask(queue, n)
    active = queue.take(0)
    assert active is not None
    queue.set_reply(active.id, "55.5")
    queue.close()  # the process dies while answering q1

    reopened = open_queue(tmp_path)
    try:
        assert reopened.snapshot().pending == 3
        revived = reopened.take(0)
        assert revived is not None and (revived.question, revived.reply_ts) == ("q1", "55.5")
        assert [reopened.take(0).question for _ in range(2)] == ["q2", "q3"]  # type: ignore[union-attr]
        assert ask(reopened, 2).outcome == "duplicate"  # dedupe survives too
    finally:
        reopened.close()


def test_history_per_thread(queue: QuestionQueue) -> None:
    for n in (1, 2):
        ask(queue, n)
    one, two = queue.take(0), queue.take(0)
    assert one is not None and two is not None
    queue.finish(one, "a1")
    queue.finish(two, "a2")
    assert queue.history("C1", one.thread_ts) == [Turn("q1", "a1")]
    follow = queue.enqueue(
        event_id="Ev9", channel="C1", ts="2.0", thread_ts=one.thread_ts, user="U1", question="and in 2021?"
    )
    job = queue.take(0)
    assert follow.outcome == "queued" and job is not None
    queue.finish(job, "a3")
    assert queue.history("C1", one.thread_ts) == [Turn("q1", "a1"), Turn("and in 2021?", "a3")]
    assert queue.is_bot_thread("C1", one.thread_ts)
    assert not queue.is_bot_thread("C1", "2.0")  # a follow-up's own ts does not start a thread


def test_requeue_puts_the_job_back_first(queue: QuestionQueue) -> None:
    ask(queue, 1)
    ask(queue, 2)
    job = queue.take(0)
    assert job is not None and queue.requeue(job)
    assert not queue.requeue(job)  # no longer active
    assert queue.take(0).question == "q1"  # type: ignore[union-attr]


def test_failed_jobs_are_not_retried_and_durations_come_from_done_jobs(queue: QuestionQueue) -> None:
    ask(queue, 1)
    ask(queue, 2)
    one, two = queue.take(0), queue.take(0)
    assert one is not None and two is not None
    queue.fail(one, "err1")
    queue.finish(two, "a2")
    assert queue.snapshot().pending == 0 and queue.snapshot().active is None
    durations = queue.recent_durations()
    assert len(durations) == 1 and durations[0] >= 0


def test_take_wakes_up_when_a_question_arrives(queue: QuestionQueue) -> None:
    got: list[str] = []
    taker = threading.Thread(target=lambda: got.append(queue.take(10).question))  # type: ignore[union-attr]
    taker.start()
    ask(queue, 1)
    taker.join(5)
    assert got == ["q1"]


def _jobs_in_main_file(queue: QuestionQueue, tmp_path: Path) -> int:
    """Jobs in the database file alone, without its write-ahead log (what a checkpoint has copied)."""
    copy = tmp_path / "main-file-only.sqlite3"
    shutil.copyfile(queue.path, copy)
    db = sqlite3.connect(str(copy))
    try:
        return int(db.execute("SELECT COUNT(*) FROM jobs").fetchone()[0])
    except sqlite3.OperationalError:  # no such table: not even the schema was checkpointed
        return 0
    finally:
        db.close()


def test_commits_never_checkpoint_so_an_ack_never_waits_on_fsync(tmp_path: Path) -> None:
    """Well past SQLite's automatic 1,000-page checkpoint, the database file still holds none of the jobs:
    the commits that events are acked after only append to the log; queue.checkpoint() copies them."""
    queue = QuestionQueue(tmp_path / "q.sqlite3", max_size=5000, per_user_max=5000, checkpoint_seconds=0)
    try:
        queue.checkpoint()  # the schema, so the main file can be read
        for n in range(1500):
            ask(queue, n, user=f"U{n % 7}")
        assert (tmp_path / "q.sqlite3-wal").stat().st_size > 1000 * 4096
        assert _jobs_in_main_file(queue, tmp_path) == 0
        assert queue.checkpoint() > 1000
        assert _jobs_in_main_file(queue, tmp_path) == 1500
    finally:
        queue.close()


def _checkpointers() -> int:
    return sum(t.name == "docbot-queue-checkpoint" for t in threading.enumerate())


def test_the_background_checkpointer_copies_commits_into_the_database_file(tmp_path: Path) -> None:
    before = _checkpointers()
    queue = QuestionQueue(tmp_path / "q.sqlite3", max_size=100, per_user_max=100, checkpoint_seconds=0.05)
    try:
        for n in range(20):
            ask(queue, n)
        deadline = time.monotonic() + 10
        while _jobs_in_main_file(queue, tmp_path) < 20:
            assert time.monotonic() < deadline, "the checkpointer never ran"
            threading.Event().wait(0.05)
    finally:
        queue.close()
    assert _checkpointers() == before
