"""Slack's AI-app pieces through the real bot: native text streaming (and its chat.update fallback when
Slack closes a stream or refuses it), and the thread status while a question waits or is read."""

from __future__ import annotations

import itertools
import threading
import time

import pytest

from bot.slack.thread import answer_metadata
from tests.bot.answerers import MANU, ScriptedAnswerer
from tests.bot.slack.conftest import StartBot, Thread, ask_and_wait_started
from tests.fake_slack import FakeSlack

pytestmark = pytest.mark.timeout(60)

ANSWER = "The minimum guarantee is **£750 million**, paid by adidas over ten years."
FAST = {"stream_update_seconds": 0.1}


def streamed_so_far(fake: FakeSlack, channel: str, thread_ts: str) -> str:
    """The markdown of the bot's streamed message in the thread ("" before it starts)."""
    starts = [c for c in fake.calls("chat.startStream") if c.ok and c.args["thread_ts"] == thread_ts]
    if not starts:
        return ""
    ts = starts[0].response["ts"]
    return next((str(m["text"]) for m in fake.messages(channel, thread_ts) if m["ts"] == ts), "")


def test_an_answer_is_streamed_natively_and_stopped_with_its_sources(
    fake_slack: FakeSlack, start_bot: StartBot
) -> None:
    asked: list[str] = []

    def shown(so_far: str) -> None:  # each word reaches Slack before the model writes the next
        fake_slack.wait_for(lambda f: so_far in streamed_so_far(f, "C1", asked[0]), 5)

    answerer = ScriptedAnswerer(text_for=lambda q: ANSWER, after_token=shown)
    start_bot(answerer, **FAST)
    _, ts = fake_slack.mention("How much is the minimum guarantee payable by adidas?")
    asked.append(ts)
    [answer] = Thread(fake_slack, "C1", ts).wait_answered()

    [start] = fake_slack.calls("chat.startStream")
    assert start.args["thread_ts"] == ts and start.args["markdown_text"] == "The"
    assert start.args["recipient_user_id"] == "U1" and start.args["recipient_team_id"] == "T0001"
    appends = fake_slack.calls("chat.appendStream")
    assert len(appends) == len(ANSWER.split(" ")) - 1 and all(c.ok for c in appends)
    assert all(b.at - a.at >= 0.09 for a, b in itertools.pairwise([start, *appends]))  # paced
    [stop] = fake_slack.calls("chat.stopStream")
    assert stop.ok and stop.args["metadata"] == answer_metadata(ts)
    under = [b["type"] for b in stop.args["blocks"]]
    # sources and footer under the streamed text, then the feedback buttons
    assert set(under[:-1]) == {"context"} and under[-1] == "context_actions"
    assert fake_slack.calls("chat.update") == [] and fake_slack.calls("chat.postMessage") == []

    assert answer["ts"] == start.response["ts"] and fake_slack.stream_state("C1", answer["ts"]) == "stopped"
    assert answer["blocks"][0] == {"type": "markdown", "text": ANSWER}  # the model's markdown kept
    assert f"*{MANU}* — p. 53 (printed 43), p. 75" in answer["text"]
    assert "answered in" in answer["text"]
    # While the question was read, the thread said which pages; the stream's first words replaced it.
    statuses = [c.args for c in fake_slack.calls("assistant.threads.setStatus")]
    assert statuses[0]["status"] == "Looking through the documents…"
    assert any(s["status"] == "Reading manu-20f-2022-09-24 p. 53 and 1 more page…" for s in statuses)
    assert fake_slack.thread_status("C1", ts) is None


def test_a_stream_slack_closes_mid_answer_ends_as_one_complete_message(
    fake_slack: FakeSlack, start_bot: StartBot
) -> None:
    fake_slack.close_streams_after(1.0)  # Slack's ~5 minutes, compressed
    closed = threading.Event()

    def refused(f: FakeSlack) -> list[str]:
        return [c.method for c in f.calls() if c.error == "message_not_in_streaming_state"]

    def wait_for_the_close(so_far: str) -> None:
        if so_far.endswith("guarantee"):  # a few words in, Slack closes the stream
            fake_slack.wait_for(
                lambda f: any(f.stream_state("C1", m["ts"]) == "closed" for m in f.messages("C1")), 5
            )
            closed.set()
        elif so_far.endswith("guarantee is"):  # the next words find it closed
            fake_slack.wait_for(lambda f: bool(refused(f)), 5)

    answerer = ScriptedAnswerer(text_for=lambda q: ANSWER, after_token=wait_for_the_close)
    start_bot(answerer, **FAST)
    _, ts = fake_slack.mention("How much is the minimum guarantee payable by adidas?")
    [answer] = Thread(fake_slack, "C1", ts).wait_answered()

    assert closed.is_set()
    assert refused(fake_slack) == ["chat.appendStream"]  # Slack said so once; the bot went on
    [start] = fake_slack.calls("chat.startStream")
    assert answer["ts"] == start.response["ts"]  # the same message, finished in place
    assert len(Thread(fake_slack, "C1", ts).bot_messages()) == 1
    final = fake_slack.calls("chat.update")[-1]
    assert final.ok and final.args["ts"] == answer["ts"]
    assert answer["blocks"][0] == {"type": "markdown", "text": ANSWER}
    assert f"*{MANU}* — p. 53 (printed 43), p. 75" in answer["text"]
    assert answer["metadata"] == answer_metadata(ts)  # found again after a crash, like any answer


def test_a_stream_near_its_lifetime_is_stopped_and_finished_with_chat_update(
    fake_slack: FakeSlack, start_bot: StartBot
) -> None:
    pace = threading.Event()
    words = " ".join(f"w{n}" for n in range(60))
    answerer = ScriptedAnswerer(text_for=lambda q: words, after_token=lambda _: pace.wait(0.03))
    start_bot(answerer, stream_max_seconds=0.5, **FAST)
    _, ts = fake_slack.mention("a long answer")
    [answer] = Thread(fake_slack, "C1", ts).wait_answered(timeout=20)

    [start] = fake_slack.calls("chat.startStream")
    stops = fake_slack.calls("chat.stopStream")
    assert stops and stops[0].ok and "blocks" not in stops[0].args  # ended early, before Slack would
    assert not [c for c in fake_slack.calls() if not c.ok and c.method != "chat.stopStream"]
    updates = [c for c in fake_slack.calls("chat.update") if c.args["ts"] == start.response["ts"]]
    assert len(updates) >= 2  # it went on growing in the same message
    assert answer["ts"] == start.response["ts"] and "w59" in answer["text"]
    assert len(Thread(fake_slack, "C1", ts).bot_messages()) == 1


def test_a_workspace_without_streaming_gets_chat_update_answers_from_then_on(
    fake_slack: FakeSlack, start_bot: StartBot
) -> None:
    def shown(so_far: str) -> None:  # each word reaches Slack (as a stream or an update) before the next
        fake_slack.wait_for(lambda f: any(so_far in str(m["text"]) for m in f.messages("C1")), 5)

    fake_slack.fail_next("chat.startStream", error="unknown_method")
    start_bot(ScriptedAnswerer(after_token=shown), **FAST)
    _, first = fake_slack.mention("first question")
    Thread(fake_slack, "C1", first).wait_answered()
    _, second = fake_slack.mention("second question")
    [answer] = Thread(fake_slack, "C1", second).wait_answered()

    assert len(fake_slack.calls("chat.startStream")) == 1  # refused once, not asked again
    for ts in (first, second):
        [message] = Thread(fake_slack, "C1", ts).bot_messages()
        assert "Answer to:" in message["text"] and fake_slack.stream_state("C1", message["ts"]) is None
    assert any(c.args["ts"] == answer["ts"] for c in fake_slack.calls("chat.update"))


def test_reply_delivery_update_never_streams(fake_slack: FakeSlack, start_bot: StartBot) -> None:
    start_bot(ScriptedAnswerer(), reply_delivery="update", **FAST)
    _, ts = fake_slack.mention("a question")
    Thread(fake_slack, "C1", ts).wait_answered()
    assert fake_slack.calls("chat.startStream") == []
    assert "Looking through the documents" in fake_slack.calls("chat.postMessage")[0].args["text"]


def test_a_waiting_question_shows_its_place_at_once_and_keeps_it_shown(
    fake_slack: FakeSlack, start_bot: StartBot
) -> None:
    fake_slack.status_expiry_seconds = 1.0  # Slack's 2 minutes, compressed
    gate = threading.Event()
    answerer = ScriptedAnswerer(mode="retrieval-only", gate=gate)
    start_bot(answerer, status_refresh_seconds=0.4)
    busy = ask_and_wait_started(fake_slack, answerer, "busy one")
    asked_at = time.monotonic()
    _, waiting = fake_slack.mention("waiting one")

    def sets(ts: str) -> list[float]:
        return [c.at for c in fake_slack.calls("assistant.threads.setStatus") if c.args["thread_ts"] == ts]

    fake_slack.wait_for(lambda f: f.thread_status("C1", waiting) is not None, 5)
    assert sets(waiting)[0] - asked_at < 1.0  # within a second of the question
    shown = fake_slack.thread_status("C1", waiting)
    assert shown is not None and shown["status"].startswith("Queued — 1 ahead, about ")
    assert shown["loading_messages"] == [shown["status"]]
    # The wait outlasts several expiries: the status is sent again before each one.
    fake_slack.wait_for(lambda _: len(sets(waiting)) >= 5, 10)
    assert all(b - a < fake_slack.status_expiry_seconds for a, b in itertools.pairwise(sets(waiting)))
    assert fake_slack.thread_status("C1", waiting) is not None
    assert fake_slack.thread_status("C1", busy) is not None  # the one being read says so too
    assert not [t for t in Thread(fake_slack, "C1", waiting).texts() if "Queued" in t]  # no message

    gate.set()
    [answer] = Thread(fake_slack, "C1", waiting).wait_answered()
    assert "Retrieval only" in answer["text"]
    assert fake_slack.thread_status("C1", waiting) is None  # the answer's post cleared it
    assert fake_slack.reactions("C1", waiting) == ["eyes"]


def test_where_slack_refuses_statuses_the_place_is_posted_and_the_reaction_stays(
    fake_slack: FakeSlack, start_bot: StartBot
) -> None:
    fake_slack.fail_next("assistant.threads.setStatus", error="missing_scope", times=100)
    gate = threading.Event()
    answerer = ScriptedAnswerer(mode="retrieval-only", gate=gate)
    start_bot(answerer)
    ask_and_wait_started(fake_slack, answerer, "busy one")
    _, waiting = fake_slack.mention("waiting one")
    note = Thread(fake_slack, "C1", waiting).wait_text("Queued")
    assert note == "Queued — you are #1 (about 2 min)"
    fake_slack.wait_for(lambda f: f.reactions("C1", waiting) == ["eyes"], 5)
    gate.set()
    Thread(fake_slack, "C1", waiting).wait_answered()
    assert len(fake_slack.calls("assistant.threads.setStatus")) == 1  # refused once, not tried again


def test_a_rate_limited_status_never_holds_up_the_answer(fake_slack: FakeSlack, start_bot: StartBot) -> None:
    gate = threading.Event()
    answerer = ScriptedAnswerer(mode="retrieval-only", gate=gate)
    start_bot(answerer, status_refresh_seconds=0.4)
    fake_slack.fail_next("assistant.threads.setStatus", status=429, retry_after=30)
    ts = ask_and_wait_started(fake_slack, answerer, "busy one")
    fake_slack.wait_for(lambda f: any(c.status == 429 for c in f.calls("assistant.threads.setStatus")))
    gate.set()
    answered_from = time.monotonic()
    Thread(fake_slack, "C1", ts).wait_answered(timeout=10)
    assert time.monotonic() - answered_from < 5  # not after Retry-After's 30 s
    assert len(fake_slack.calls("assistant.threads.setStatus")) == 1  # quiet for Retry-After


@pytest.mark.timeout(120)
def test_slacks_rate_tiers_hold_answers_back_but_each_arrives_once_and_whole(
    fake_slack: FakeSlack, start_bot: StartBot
) -> None:
    """Past chat.startStream's tier (Tier 2, 20 a minute; here 3 within 4 s, so that quick scripted answers
    pass it at any machine load) Slack answers 429 + Retry-After: the bot waits and goes on; no answer is
    lost, doubled or left streaming."""
    fake_slack.enforce_rate_tiers(window=4.0, limits={"chat.startStream": 3})
    gate = threading.Event()
    answerer = ScriptedAnswerer(text_for=lambda q: "£750 million.", gate=gate)
    start_bot(answerer, **FAST)
    asked = [fake_slack.mention(f"question {i}", user=f"U{i:02d}")[1] for i in range(6)]
    gate.set()
    for ts in asked:
        [answer] = Thread(fake_slack, "C1", ts).wait_answered(timeout=90)
        assert "£750 million." in answer["text"]
        assert fake_slack.stream_state("C1", answer["ts"]) in (None, "stopped")
    limited = [c for c in fake_slack.calls() if c.status == 429]
    assert "chat.startStream" in {c.method for c in limited}  # the tier did bite
    assert answerer.questions() == [f"question {i}" for i in range(6)]  # once each, in order
