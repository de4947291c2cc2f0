"""kill -9 of the real bot process while questions wait and one is being answered: after a restart every
accepted question is answered exactly once, in its thread, in order.

Accepted = the bot reacted to it (it is then in the durable queue). The fake Slack redelivers events the
dead process never acknowledged, as Slack does, so questions sent around the kill are answered too.
"""

from __future__ import annotations

import random
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from langchain_core.embeddings import Embeddings

from bot.queue import QUEUE_FILE
from devtools.bot_process import BotProcess, bot_env
from devtools.fake_slack import FakeSlack
from devtools.pdfs import make_text_pdf
from ingest.sync import SyncOptions, sync_folder
from models.embeddings import embedding_model_id
from tests.bot.slack.conftest import Thread
from vectorstore.store import IndexStore

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]

ADIDAS = "The minimum guarantee payable by adidas over the term of the agreement is 750 million pounds."
SAFETY = "Report every workplace injury to the safety officer within twenty-four hours of it happening."
PLACEHOLDER = "Looking through the documents"
RANDOM_TRIALS = 2  # `make test`; `make soak` runs SOAK_RANDOM_TRIALS
SOAK_RANDOM_TRIALS = 10
ACK_WAIT_SECONDS = 1.5


def build_index(root: Path, embeddings: Embeddings) -> None:
    make_text_pdf(root / "data" / "club.pdf", ["Annual report 2022.", ADIDAS], labels=["i", "43"])
    make_text_pdf(root / "data" / "staff.pdf", [SAFETY])
    store = IndexStore(root / "index", dim=384, model_id=embedding_model_id(""))
    sync_folder(root / "data", store, embeddings, SyncOptions())
    store.close()


def answer_messages(fake: FakeSlack, ts: str) -> list[dict[str, Any]]:
    return Thread(fake, "C1", ts).answers()


def answers_per_question(fake: FakeSlack, threads: dict[str, str]) -> dict[str, int]:
    """Final answer messages in each question's thread (by the question's ts)."""
    return {ts: len(Thread(fake, "C1", ts).answers()) for ts in threads.values()}


def stale_placeholders(fake: FakeSlack, threads: dict[str, str]) -> int:
    """ "Looking through the documents…" messages that never became an answer."""
    return sum(
        PLACEHOLDER in str(m.get("text", ""))
        for ts in threads.values()
        for m in Thread(fake, "C1", ts).bot_messages()
    )


def answered(fake: FakeSlack, question_ts: list[str]) -> int:
    return sum(bool(answer_messages(fake, ts)) for ts in question_ts)


def accepted(fake: FakeSlack, ts: str) -> bool:
    return fake.reactions("C1", ts) == ["eyes"]


def queued_jobs(index: Path) -> set[str]:
    """The question ts of every job the durable queue holds (any state)."""
    db = sqlite3.connect(index / QUEUE_FILE)
    try:
        return {row[0] for row in db.execute("SELECT ts FROM jobs")}
    finally:
        db.close()


def test_kill_9_with_questions_waiting_and_one_being_answered(
    fake_slack: FakeSlack, tmp_path: Path, embeddings: Embeddings
) -> None:
    build_index(tmp_path, embeddings)
    # The chat.update delivery and its queue note (the stream's crash tests are further down).
    env = bot_env(fake_slack, tmp_path, reindex_minutes="60", reply_delivery="update", thread_status="false")
    log = tmp_path / "bot.log"
    first = BotProcess(fake_slack, env, log, cwd=tmp_path)
    try:
        first.wait_connected(0)
        # The first answer's final chat.update is rate limited for a minute: the job is mid-answer.
        fake_slack.fail_next("chat.update", status=429, retry_after=60)
        _, busy = fake_slack.mention("q00 How much is the minimum guarantee payable by adidas?")
        fake_slack.wait_for_calls("chat.update", timeout=60)
        waiting = [
            fake_slack.mention(f"q{n:02d} When must a workplace injury be reported?", user=f"U{n % 5}")[1]
            for n in range(1, 12)
        ]
        fake_slack.wait_for(lambda f: all(accepted(f, ts) for ts in waiting), 30)
        fake_slack.wait_for(lambda f: all(Thread(f, "C1", ts).wait_text("Queued") for ts in waiting), 30)
        assert answer_messages(fake_slack, busy) == []
        first.kill()
    finally:
        first.close()
    opened = fake_slack.connections_opened
    second = BotProcess(fake_slack, env, log, cwd=tmp_path)
    try:
        second.wait_connected(opened)
        threads = {f"q{n:02d}": ts for n, ts in enumerate([busy, *waiting])}
        fake_slack.wait_for(lambda f: all(answer_messages(f, ts) for ts in threads.values()), 120)
        assert set(answers_per_question(fake_slack, threads).values()) == {1}
        assert stale_placeholders(fake_slack, threads) == 0
        [placeholder_then_answer] = Thread(fake_slack, "C1", busy).bot_messages()
        assert "750 million pounds" in placeholder_then_answer["text"]  # the same message, finished in place
        # In order: the interrupted question first, then the waiting ones as they came.
        finals = [c for c in fake_slack.calls("chat.update") if c.ok and "Sources" in str(c.args.get("text"))]
        reply_of = {Thread(fake_slack, "C1", ts).answers()[0]["ts"]: name for name, ts in threads.items()}
        order = [reply_of[c.args["ts"]] for c in finals if c.args["ts"] in reply_of]
        assert order == sorted(threads), order
        assert second.stop() == 0, second.log_text()
    finally:
        second.close()


@contextmanager
def queue_locked(index: Path) -> Iterator[None]:
    """Hold the queue database's write lock: the bot's next queue write waits inside its transaction."""
    db = sqlite3.connect(index / QUEUE_FILE, isolation_level=None)
    try:
        db.execute("BEGIN IMMEDIATE")
        yield
        db.execute("ROLLBACK")
    finally:
        db.close()


def restart(fake: FakeSlack, env: dict[str, str], root: Path) -> BotProcess:
    opened = fake.connections_opened
    bot = BotProcess(fake, env, root / "bot.log", cwd=root)
    bot.wait_connected(opened)
    return bot


def test_kill_9_before_a_question_is_committed_leaves_it_unacknowledged_and_it_comes_again(
    fake_slack: FakeSlack, tmp_path: Path, embeddings: Embeddings
) -> None:
    """The event is acknowledged only after its question is in the durable queue: killed before the
    commit, the bot never acked it, Slack sends it again and the new process answers it once."""
    build_index(tmp_path, embeddings)
    env = bot_env(fake_slack, tmp_path, reindex_minutes="60")
    first = BotProcess(fake_slack, env, tmp_path / "bot.log", cwd=tmp_path)
    try:
        first.wait_connected(0)
        with queue_locked(tmp_path / "index"):
            envelope, ts = fake_slack.mention("How much is the minimum guarantee payable by adidas?")
            # Acks take milliseconds (see the flood tests); this one must not come while the commit waits.
            with pytest.raises(AssertionError):
                fake_slack.wait_for(lambda f: envelope in f.acks(), timeout=ACK_WAIT_SECONDS)
            assert envelope in {e["envelope_id"] for e in fake_slack.sent_envelopes()}  # it was delivered
            first.kill()
    finally:
        first.close()
    assert queued_jobs(tmp_path / "index") == set()  # nothing was committed
    fake_slack.redeliver_unacked_after(0.5)
    try:
        second = restart(fake_slack, env, tmp_path)
        try:
            Thread(fake_slack, "C1", ts).wait_answered(timeout=60)
            redelivered = [e for e in fake_slack.sent_envelopes() if e.get("retry_attempt", 0) > 0]
            assert [e["payload"]["event"]["ts"] for e in redelivered] == [ts]
            assert redelivered[0]["envelope_id"] in fake_slack.acks()
            [answer] = Thread(fake_slack, "C1", ts).bot_messages()
            assert "750 million pounds" in answer["text"]
            assert second.stop() == 0, second.log_text()
        finally:
            second.close()
    finally:
        fake_slack.redeliver_unacked_after(None)
    assert queued_jobs(tmp_path / "index") == {ts}


def test_kill_9_between_posting_the_placeholder_and_recording_it_leaves_no_stale_message(
    fake_slack: FakeSlack, tmp_path: Path, embeddings: Embeddings
) -> None:
    """The worker posted "Looking through the documents…" and was killed before saving that message's ts:
    after the restart the answer is written into that message, not into a second one."""
    build_index(tmp_path, embeddings)
    env = bot_env(fake_slack, tmp_path, reindex_minutes="60", reply_delivery="update")
    first = BotProcess(fake_slack, env, tmp_path / "bot.log", cwd=tmp_path)
    try:
        first.wait_connected(0)
        # The placeholder's first post is rate limited: the worker has taken the job and waits to post.
        fake_slack.fail_next("chat.postMessage", status=429, retry_after=2)
        _, ts = fake_slack.mention("How much is the minimum guarantee payable by adidas?")
        fake_slack.wait_for_calls("chat.postMessage", timeout=60)
        with queue_locked(tmp_path / "index"):
            # The retried post lands; recording its ts now waits on the lock, and the kill comes first.
            fake_slack.wait_for(lambda f: any(PLACEHOLDER in t for t in Thread(f, "C1", ts).texts()), 30)
            first.kill()
    finally:
        first.close()
    [left_behind] = Thread(fake_slack, "C1", ts).bot_messages()
    second = restart(fake_slack, env, tmp_path)
    try:
        Thread(fake_slack, "C1", ts).wait_answered(timeout=60)
        [answer] = Thread(fake_slack, "C1", ts).bot_messages()
        assert answer["ts"] == left_behind["ts"] and "750 million pounds" in answer["text"]
        assert stale_placeholders(fake_slack, {"q": ts}) == 0
        assert second.stop() == 0, second.log_text()
    finally:
        second.close()


QUESTION = "How much is the minimum guarantee payable by adidas?"


def started_streams(fake: FakeSlack, ts: str) -> list[str]:
    """The ts of every stream started in the question's thread."""
    calls = fake.calls("chat.startStream")
    return [str(c.response["ts"]) for c in calls if c.ok and c.args["thread_ts"] == ts]


def recorded_reply(index: Path, ts: str) -> str | None:
    """The reply message the durable queue holds for the question `ts`."""
    db = sqlite3.connect(index / QUEUE_FILE)
    try:
        row = db.execute("SELECT reply_ts FROM jobs WHERE ts=?", (ts,)).fetchone()
        return None if row is None or row[0] is None else str(row[0])
    finally:
        db.close()


def model_env(fake: FakeSlack, root: Path, model: Path) -> dict[str, str]:
    """The real SmolLM2 writing the answers, natively streamed (the default delivery)."""
    return bot_env(fake, root, reindex_minutes="60", model_path=str(model), max_new_tokens="200")


def assert_one_complete_answer_in(fake: FakeSlack, ts: str, stream_ts: str) -> None:
    [answer] = Thread(fake, "C1", ts).bot_messages()
    assert answer["ts"] == stream_ts  # the stream's own message, finished in place
    assert "Sources" in answer["text"] and "club.pdf" in answer["text"]
    assert fake.stream_state("C1", stream_ts) != "streaming"  # not left open
    assert answer["metadata"]["event_payload"]["question_ts"] == ts


def test_kill_9_mid_stream_gives_one_complete_answer_after_the_restart(
    fake_slack: FakeSlack, tmp_path: Path, embeddings: Embeddings, real_chat_model: Path
) -> None:
    build_index(tmp_path, embeddings)
    env = model_env(fake_slack, tmp_path, real_chat_model)
    first = BotProcess(fake_slack, env, tmp_path / "bot.log", cwd=tmp_path)
    try:
        first.wait_connected(0)
        _, ts = fake_slack.mention(QUESTION)
        # Killed as soon as the stream has begun and is recorded: its next append is a second away.
        fake_slack.wait_for(lambda f: bool(started_streams(f, ts)), 120)
        fake_slack.wait_for(lambda _: recorded_reply(tmp_path / "index", ts) is not None, 5)
        first.kill()
    finally:
        first.close()
    [stream_ts] = started_streams(fake_slack, ts)
    assert recorded_reply(tmp_path / "index", ts) == stream_ts
    assert fake_slack.stream_state("C1", stream_ts) == "streaming"  # the dead process left it open
    second = restart(fake_slack, env, tmp_path)
    try:
        Thread(fake_slack, "C1", ts).wait_answered(timeout=180)
        assert_one_complete_answer_in(fake_slack, ts, stream_ts)
        assert started_streams(fake_slack, ts) == [stream_ts]  # no second stream
        assert second.stop() == 0, second.log_text()
    finally:
        second.close()


def test_kill_9_between_starting_the_stream_and_recording_it_leaves_no_second_message(
    fake_slack: FakeSlack, tmp_path: Path, embeddings: Embeddings, real_chat_model: Path
) -> None:
    """chat.startStream takes no metadata: a stream whose ts never reached the queue is found again as
    the bot's one unmarked message after the question, and finished there."""
    build_index(tmp_path, embeddings)
    env = model_env(fake_slack, tmp_path, real_chat_model)
    first = BotProcess(fake_slack, env, tmp_path / "bot.log", cwd=tmp_path)
    try:
        first.wait_connected(0)
        _, ts = fake_slack.mention(QUESTION)
        # The job is active once its status is up; from then on the queue's next write is the stream's ts.
        fake_slack.wait_for(lambda f: f.thread_status("C1", ts) is not None, 120)
        with queue_locked(tmp_path / "index"):
            fake_slack.wait_for(lambda f: bool(started_streams(f, ts)), 120)
            first.kill()
    finally:
        first.close()
    [stream_ts] = started_streams(fake_slack, ts)
    assert recorded_reply(tmp_path / "index", ts) is None
    second = restart(fake_slack, env, tmp_path)
    try:
        Thread(fake_slack, "C1", ts).wait_answered(timeout=180)
        assert_one_complete_answer_in(fake_slack, ts, stream_ts)
        assert "earlier_reply_found=True" in second.log_text()  # found in the thread, not in the queue
        assert second.stop() == 0, second.log_text()
    finally:
        second.close()


def run_random_kill_trials(fake: FakeSlack, root: Path, trials: int, seed: int) -> dict[str, int]:
    """Bursts of 12 questions, each burst cut by kill -9 after a random number of its answers arrived."""
    rng = random.Random(seed)
    fake.redeliver_unacked_after(2.0)
    env = bot_env(fake, root, reindex_minutes="60")
    log = root / "bot.log"
    threads: dict[str, str] = {}
    in_queue_at_kill: set[str] = set()
    bot = BotProcess(fake, env, log, cwd=root)
    try:
        bot.wait_connected(0)
        for trial in range(trials):
            burst = [f"t{trial}q{n:02d}" for n in range(12)]
            for name in burst:
                question = rng.choice(["adidas guarantee amount?", "when to report a workplace injury?"])
                threads[name] = fake.mention(f"{name} {question}", user=f"U{rng.randrange(6)}")[1]
            cut = rng.randrange(len(burst))  # kill once this many of the burst's answers are in Slack

            def answered_enough(f: FakeSlack, b: list[str] = burst, c: int = cut) -> bool:
                return sum(bool(answer_messages(f, threads[n])) for n in b) >= c

            fake.wait_for(answered_enough, 60)
            bot.kill()
            in_queue_at_kill |= queued_jobs(root / "index")
            opened = fake.connections_opened
            bot = BotProcess(fake, env, log, cwd=root)
            bot.wait_connected(opened)
        fake.wait_for(lambda f: all(answer_messages(f, ts) for ts in threads.values()), 180)
        counts = answers_per_question(fake, threads)
        stale = stale_placeholders(fake, threads)
        assert bot.stop() == 0, bot.log_text()
    finally:
        bot.close()
        fake.redeliver_unacked_after(None)
    wrong = {name: counts[ts] for name, ts in threads.items() if counts[ts] != 1}
    assert wrong == {}, (wrong, {n: threads[n] in in_queue_at_kill for n in wrong})
    assert stale == 0  # a placeholder posted just before a kill is found and finished after the restart
    return {"questions": len(threads), "trials": trials, "stale_placeholders": stale}


@pytest.mark.parametrize(
    "trials",
    [RANDOM_TRIALS, pytest.param(SOAK_RANDOM_TRIALS, marks=pytest.mark.soak)],
    ids=lambda n: f"{n}-kills",
)
def test_kill_9_at_random_moments_loses_and_repeats_nothing(
    fake_slack: FakeSlack, tmp_path: Path, embeddings: Embeddings, trials: int
) -> None:
    build_index(tmp_path, embeddings)
    figures = run_random_kill_trials(fake_slack, tmp_path, trials, seed=6)
    print(f"kill -9 trials: {figures}")
