"""Many questions at once: FIFO exactly once with positions, a full queue, per-user caps, restart."""

from __future__ import annotations

import re
import threading

import pytest

from devtools.fake_slack import FakeSlack
from tests.bot.answerers import ScriptedAnswerer
from tests.bot.slack.conftest import StartBot, Thread, ask_and_wait_started

pytestmark = pytest.mark.timeout(90)
# These tests read the queue position from its message: the fallback where Slack shows no thread status
# (the status itself: test_streaming.py).
NO_STATUS = {"thread_status": False}
QUEUED = re.compile(r"^Queued — you are #(\d+) \(about (\d+) min\)$")


def queued_note(thread: Thread) -> tuple[int, int] | None:
    """(position, minutes) from the thread's "Queued — you are #N (about M min)" reply."""
    for text in thread.texts():
        match = QUEUED.match(text)
        if match:
            return int(match.group(1)), int(match.group(2))
    return None


def position_of(thread: Thread) -> int | None:
    note = queued_note(thread)
    return None if note is None else note[0]


def test_a_burst_of_30_mentions_is_answered_once_each_in_order_with_positions(
    fake_slack: FakeSlack, start_bot: StartBot
) -> None:
    gate = threading.Event()
    answerer = ScriptedAnswerer(mode="retrieval-only", gate=gate)
    start_bot(answerer, **NO_STATUS)
    first = ask_and_wait_started(fake_slack, answerer, "q01")  # the worker is now busy with q01
    others = [fake_slack.mention(f"q{n:02d}", user=f"U{n % 4}")[1] for n in range(2, 31)]
    threads = [Thread(fake_slack, "C1", ts) for ts in [first, *others]]
    fake_slack.wait_for(lambda _: all(position_of(t) is not None for t in threads[1:]), 15)
    gate.set()
    fake_slack.wait_for(lambda _: all(len(t.answers()) == 1 for t in threads), 30)

    assert answerer.questions() == [f"q{n:02d}" for n in range(1, 31)]
    assert position_of(threads[0]) is None  # nobody was waiting: no queue note
    # No answer times measured yet: a minute each, plus the one being answered.
    assert [queued_note(t) for t in threads[1:]] == [(n, n + 1) for n in range(1, 30)]
    for n, thread in enumerate(threads, start=1):
        [answer] = thread.answers()
        assert f"Answer to: q{n:02d}" in answer["text"]
    # Reactions are sent from their own pool and may land just after an instant answer.
    fake_slack.wait_for(lambda f: all(f.reactions("C1", t.ts) == ["eyes"] for t in threads), 5)
    assert all(c.ok for c in fake_slack.calls()), fake_slack.summary()


def test_a_full_queue_tells_the_asker_to_try_later(fake_slack: FakeSlack, start_bot: StartBot) -> None:
    gate = threading.Event()
    answerer = ScriptedAnswerer(mode="retrieval-only", gate=gate)
    start_bot(answerer, queue_max=2, **NO_STATUS)
    ask_and_wait_started(fake_slack, answerer, "busy")
    _, second = fake_slack.mention("second")
    _, third = fake_slack.mention("third")
    _, fourth = fake_slack.mention("fourth")
    refusal = Thread(fake_slack, "C1", fourth).wait_text("try later")
    assert refusal == "Sorry, 2 questions are already waiting. Please try later."
    assert fake_slack.reactions("C1", fourth) == []
    gate.set()
    Thread(fake_slack, "C1", third).wait_answered()
    assert answerer.questions() == ["busy", "second", "third"]
    assert position_of(Thread(fake_slack, "C1", second)) == 1


def test_one_person_cannot_fill_the_queue(fake_slack: FakeSlack, start_bot: StartBot) -> None:
    gate = threading.Event()
    answerer = ScriptedAnswerer(mode="retrieval-only", gate=gate)
    start_bot(answerer, queue_per_user_max=2, **NO_STATUS)
    ask_and_wait_started(fake_slack, answerer, "mine 1", user="UA")
    fake_slack.mention("mine 2", user="UA")
    _, third = fake_slack.mention("mine 3", user="UA")
    _, theirs = fake_slack.mention("theirs", user="UB")
    assert "already have 2 questions waiting" in Thread(fake_slack, "C1", third).wait_text("waiting")
    gate.set()
    Thread(fake_slack, "C1", theirs).wait_answered()
    assert answerer.questions() == ["mine 1", "mine 2", "theirs"]


def test_pending_questions_survive_a_restart_and_the_interrupted_one_is_finished_in_place(
    fake_slack: FakeSlack, start_bot: StartBot
) -> None:
    pace = threading.Event()
    slow = ScriptedAnswerer(
        text_for=lambda q: " ".join(["word"] * 3000), after_token=lambda _: pace.wait(0.01)
    )
    bot = start_bot(slow, shutdown_timeout_seconds=0.2, reply_delivery="update", **NO_STATUS)
    first = ask_and_wait_started(fake_slack, slow, "one")
    second = fake_slack.mention("two")[1]
    third = fake_slack.mention("three")[1]
    threads = [Thread(fake_slack, "C1", ts) for ts in (first, second, third)]
    fake_slack.wait_for(lambda _: position_of(threads[2]) == 2)
    fake_slack.wait_for(lambda f: any("word word" in str(c.args.get("text")) for c in f.calls("chat.update")))

    assert bot.stop() == 0
    [checkpoint] = threads[0].bot_messages()
    assert "restarting" in checkpoint["text"]

    fast = ScriptedAnswerer(mode="retrieval-only")
    start_bot(fast, index_dir=bot.settings.index_dir, **NO_STATUS)
    fake_slack.wait_for(lambda _: all(len(t.answers()) == 1 for t in threads), 15)
    assert fast.questions() == ["one", "two", "three"]
    [finished] = threads[0].bot_messages()
    assert finished["ts"] == checkpoint["ts"] and "Answer to: one" in finished["text"]
