"""A job revived after a crash finds the placeholder it posted just before dying instead of posting another.

The crash window: the worker posted "Looking through the documents…" and died before recording its ts in
the queue. The reopened queue marks such jobs `revived`; the worker looks in the thread for its own message
(found by its message metadata) and finishes the answer there.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from bot.queue import QUEUE_FILE, Job, QuestionQueue
from bot.slack.render import render_placeholder
from bot.slack.thread import answer_metadata
from devtools.fake_slack import FakeSlack
from tests.bot.answerers import ScriptedAnswerer
from tests.bot.worker_rig import Rig

pytestmark = pytest.mark.timeout(60)


def ask(rig: Rig, question: str, thread_ts: str | None = None) -> Job:
    """The question as a message in the fake's channel (so its thread exists) and as a queued job."""
    envelope, ts = rig.fake.mention(question, thread_ts=thread_ts)
    result = rig.queue.enqueue(
        event_id=envelope, channel="C1", ts=ts, thread_ts=thread_ts or ts, user="U1", question=question
    )
    assert result.job is not None
    return result.job


def crash_while_active(rig: Rig, tmp_path: Path) -> Job:
    """Take the oldest job (as the worker does), then 'die' and reopen the queue as a restart does."""
    taken = rig.queue.take(timeout=1)
    assert taken is not None and not taken.revived
    rig.queue.close()
    rig.queue = QuestionQueue.beside_index(tmp_path / "index", max_size=50, per_user_max=50)
    return taken


def test_the_placeholder_posted_before_the_crash_becomes_the_answer(
    rig: Rig,
    tmp_path: Path,
    fake_slack: FakeSlack,
) -> None:
    job = ask(rig, "What is the minimum guarantee?")
    crash_while_active(rig, tmp_path)
    left = rig.replies.post(job.channel, job.thread_ts, render_placeholder(), answer_metadata(job.ts))
    rig.worker(ScriptedAnswerer(mode="retrieval-only"))
    rig.wait_answered(job)
    [message] = rig.bot_messages(job)
    assert message["ts"] == left and "Sources" in message["text"]
    looked = fake_slack.calls("conversations.replies")
    assert len(looked) == 1 and looked[0].args["ts"] == job.thread_ts


def test_a_revived_job_without_a_placeholder_posts_one(
    rig: Rig,
    tmp_path: Path,
    fake_slack: FakeSlack,
) -> None:
    job = ask(rig, "What is the minimum guarantee?")
    crash_while_active(rig, tmp_path)
    rig.worker(ScriptedAnswerer(mode="retrieval-only"))
    rig.wait_answered(job)
    assert len(rig.bot_messages(job)) == 1
    assert len(fake_slack.calls("conversations.replies")) == 1


def test_another_questions_message_in_the_same_thread_is_not_taken(
    rig: Rig,
    tmp_path: Path,
    fake_slack: FakeSlack,
) -> None:
    first = ask(rig, "What is the minimum guarantee?")
    ask(rig, "And who pays it?", thread_ts=first.thread_ts)
    rig.worker(ScriptedAnswerer(mode="retrieval-only"))
    rig.wait_answered(first)
    fake_slack.wait_for(lambda _: sum("Sources" in str(m["text"]) for m in rig.bot_messages(first)) == 2)
    for worker in rig.workers:
        worker.stop(5)
    # A third question in that thread dies in the window: the earlier answers must stay as they are.
    ask(rig, "Until when?", thread_ts=first.thread_ts)
    crash_while_active(rig, tmp_path)
    before = [(m["ts"], m["text"]) for m in rig.bot_messages(first)]
    rig.worker(ScriptedAnswerer(mode="retrieval-only"))
    fake_slack.wait_for(lambda _: len(rig.bot_messages(first)) == 3)
    assert [(m["ts"], m["text"]) for m in rig.bot_messages(first)][:2] == before


def test_jobs_that_were_not_interrupted_do_not_search_the_thread(
    rig: Rig,
    fake_slack: FakeSlack,
) -> None:
    job = ask(rig, "What is the minimum guarantee?")
    rig.worker(ScriptedAnswerer(mode="retrieval-only"))
    rig.wait_answered(job)
    assert fake_slack.calls("conversations.replies") == []
    post = fake_slack.calls("chat.postMessage")[0]
    assert post.args["metadata"] == answer_metadata(job.ts)


def test_metadata_is_only_returned_when_asked_for(rig: Rig, fake_slack: FakeSlack) -> None:
    job = ask(rig, "What is the minimum guarantee?")
    rig.replies.post(job.channel, job.thread_ts, render_placeholder(), answer_metadata(job.ts))
    client = rig.replies.client
    plain = client.conversations_replies(channel="C1", ts=job.thread_ts)["messages"]
    full = client.conversations_replies(channel="C1", ts=job.thread_ts, include_all_metadata=True)["messages"]
    assert len(plain) == len(full) == 2
    assert all("metadata" not in m for m in plain)
    assert full[1]["metadata"] == answer_metadata(job.ts)


def test_a_queue_from_before_the_revived_column_opens_and_revives(tmp_path: Path) -> None:
    index = tmp_path / "index"
    index.mkdir()
    db = sqlite3.connect(index / QUEUE_FILE)
    db.executescript(
        """CREATE TABLE jobs (id INTEGER PRIMARY KEY AUTOINCREMENT, event_id TEXT NOT NULL,
        channel TEXT NOT NULL, ts TEXT NOT NULL, thread_ts TEXT NOT NULL, user TEXT NOT NULL,
        question TEXT NOT NULL, state TEXT NOT NULL DEFAULT 'pending', created_at REAL NOT NULL,
        started_at REAL, finished_at REAL, reply_ts TEXT, error_id TEXT);
        INSERT INTO jobs (event_id, channel, ts, thread_ts, user, question, state, created_at)
        VALUES ('Ev1', 'C1', '1.000001', '1.000001', 'U1', 'old and active', 'active', 1.0),
               ('Ev2', 'C1', '1.000002', '1.000002', 'U1', 'old and waiting', 'pending', 2.0);"""
    )
    db.commit()
    db.close()
    queue = QuestionQueue.beside_index(index, max_size=5, per_user_max=5)
    try:
        first, second = queue.take(timeout=1), queue.take(timeout=1)
        assert first is not None and first.question == "old and active" and first.revived
        assert second is not None and second.question == "old and waiting" and not second.revived
    finally:
        queue.close()
