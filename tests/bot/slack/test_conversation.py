"""Questions through the real slack_bolt app and Socket Mode: mentions, DMs, follow-ups, once-only, safety."""

from __future__ import annotations

import itertools
import logging
import re
import time

import pytest

from bot.answer import Source
from devtools.fake_slack import FakeSlack, control_sequences
from tests.bot.answerers import MANU, ScriptedAnswerer
from tests.bot.slack.conftest import StartBot, Thread

pytestmark = pytest.mark.timeout(60)


def test_mention_gets_reaction_streamed_updates_and_a_final_answer_with_citations(
    fake_slack: FakeSlack, start_bot: StartBot
) -> None:
    def shown(so_far: str) -> None:
        fake_slack.wait_for(lambda f: any(c.args.get("text") == so_far for c in f.calls("chat.update")), 5)

    answerer = ScriptedAnswerer(text_for=lambda q: "£750 million", after_token=shown)
    start_bot(answerer, reply_delivery="update")  # the stream: tests/bot/slack/test_streaming.py
    sent = time.monotonic()
    _, ts = fake_slack.mention("How much is the minimum guarantee payable by adidas?")

    reaction = fake_slack.wait_for_calls("reactions.add")[0]
    assert reaction.args["timestamp"] == ts and reaction.args["name"] == "eyes"
    assert reaction.at - sent < 1.0
    thread = Thread(fake_slack, "C1", ts)
    [answer] = thread.wait_answered()

    assert answerer.questions() == ["How much is the minimum guarantee payable by adidas?"]
    updates = fake_slack.calls("chat.update")
    assert [c.args["text"] for c in updates[:2]] == ["£750", "£750 million"]  # streamed, word by word
    assert all(b.at - a.at >= 0.95 for a, b in itertools.pairwise(updates))
    assert len(thread.bot_messages()) == 1  # one message, updated in place, no "Queued" note
    assert answer["text"].startswith("£750 million")
    assert f"*{MANU}* — p. 53 (printed 43), p. 75" in answer["text"]
    assert "Index: 12 files, never updated" in answer["text"] and "answered in" in answer["text"]
    assert answer["thread_ts"] == ts


def test_dm_is_answered_in_its_thread(fake_slack: FakeSlack, start_bot: StartBot) -> None:
    answerer = ScriptedAnswerer(mode="retrieval-only")
    start_bot(answerer)
    _, ts = fake_slack.dm("what was matchday revenue?", channel="D7")
    [answer] = Thread(fake_slack, "D7", ts).wait_answered()
    assert "Retrieval only — no generated answer" in answer["text"]
    # The reaction is sent from its own pool and may land just after an instant answer.
    fake_slack.wait_for(lambda f: f.reactions("D7", ts) == ["eyes"], 5)


def test_a_dm_that_is_also_a_mention_and_a_redelivery_are_answered_once(
    fake_slack: FakeSlack, start_bot: StartBot
) -> None:
    answerer = ScriptedAnswerer(mode="retrieval-only")
    start_bot(answerer)
    _, ts = fake_slack.mention("question one", channel="D2", also_message=True)
    event = {"type": "app_mention", "user": "U1", "text": "<@UBOT> question two", "channel": "C1"}
    fake_slack.send_event(event | {"ts": "1900000000.000100"}, event_id="EvSame")
    fake_slack.send_event(
        event | {"ts": "1900000000.000100"}, event_id="EvSame", retry_attempt=1, retry_reason="timeout"
    )
    Thread(fake_slack, "C1", "1900000000.000100").wait_answered()
    Thread(fake_slack, "D2", ts).wait_answered()
    fake_slack.dm("marker", channel="D9")  # intake and worker are FIFO: once it is answered, all before are
    Thread(fake_slack, "D9", fake_slack.messages("D9")[0]["ts"]).wait_answered()

    assert answerer.questions() == ["question one", "question two", "marker"]
    assert len(Thread(fake_slack, "C1", "1900000000.000100").answers()) == 1
    assert len(Thread(fake_slack, "D2", ts).answers()) == 1


def test_own_messages_other_bots_edits_and_deletions_are_ignored(
    fake_slack: FakeSlack, start_bot: StartBot
) -> None:
    fake_slack.echo_bot_messages = True  # Slack echoes the bot's own posts as message.im events
    answerer = ScriptedAnswerer(mode="retrieval-only")
    start_bot(answerer)
    _, ts = fake_slack.dm("first question", channel="D3")
    Thread(fake_slack, "D3", ts).wait_answered()
    fake_slack.edit("D3", ts, "first question, edited")
    fake_slack.delete("D3", ts)
    fake_slack.send_event(
        {
            "type": "message",
            "channel": "D3",
            "channel_type": "im",
            "text": "beep",
            "bot_id": "BOTHER",
            "subtype": "bot_message",
            "ts": "1900000000.000200",
        }
    )
    _, marker = fake_slack.dm("marker", channel="D4")
    Thread(fake_slack, "D4", marker).wait_answered()
    assert answerer.questions() == ["first question", "marker"]


def test_follow_ups_in_the_thread_get_its_history(fake_slack: FakeSlack, start_bot: StartBot) -> None:
    answerer = ScriptedAnswerer(mode="retrieval-only")
    start_bot(answerer)
    _, root = fake_slack.mention("revenue in 2022?")
    thread = Thread(fake_slack, "C1", root)
    thread.wait_answered()
    fake_slack.mention("and in 2021?", thread_ts=root)  # @mention in the thread
    thread.wait_answered(2)
    fake_slack.message("and in 2020?", thread_ts=root)  # a plain reply in the bot's thread
    thread.wait_answered(3)
    _, other = fake_slack.message("people chatting")  # neither a mention nor in a bot thread
    fake_slack.message("a reply among people", thread_ts=other)
    _, dm = fake_slack.dm("marker", channel="D5")
    Thread(fake_slack, "D5", dm).wait_answered()

    assert answerer.questions() == ["revenue in 2022?", "and in 2021?", "and in 2020?", "marker"]
    assert [t.question for t in answerer.calls[2][1]] == ["revenue in 2022?", "and in 2021?"]
    assert answerer.calls[1][1][0].answer.startswith("Answer to: revenue in 2022?")


def test_plain_thread_replies_can_be_switched_off(fake_slack: FakeSlack, start_bot: StartBot) -> None:
    answerer = ScriptedAnswerer(mode="retrieval-only")
    start_bot(answerer, answer_thread_replies=False)
    _, root = fake_slack.mention("revenue in 2022?")
    Thread(fake_slack, "C1", root).wait_answered()
    fake_slack.message("and in 2020?", thread_ts=root)
    _, dm = fake_slack.dm("marker", channel="D5")
    Thread(fake_slack, "D5", dm).wait_answered()
    assert answerer.questions() == ["revenue in 2022?", "marker"]


def test_document_and_model_text_cannot_ping(fake_slack: FakeSlack, start_bot: StartBot) -> None:
    source = Source(
        "evil <!channel>.pdf", 2, "ii", "Attention <!channel> <!here> <@U123> <https://x.y|click>", 1
    )
    answerer = ScriptedAnswerer(
        text_for=lambda q: "Hello <!channel> and <@U123> <https://evil.example|pay>", sources=[source]
    )
    start_bot(answerer, docs_base_url="https://docs.example")
    _, ts = fake_slack.mention("ping everyone please")
    Thread(fake_slack, "C1", ts).wait_answered()
    methods = ("chat.postMessage", "chat.update", "chat.startStream", "chat.appendStream", "chat.stopStream")
    posted = [c for m in methods for c in fake_slack.calls(m)]
    sequences = [s for c in posted for s in control_sequences(c.args)]
    assert sequences and all(
        s.startswith("<https://docs.example/evil%20%3C%21channel%3E.pdf") for s in sequences
    )
    assert all(not c.args.get("link_names") for c in posted)


def test_an_answer_longer_than_slacks_limits_is_split_and_keeps_its_citations(
    fake_slack: FakeSlack, start_bot: StartBot
) -> None:
    long_text = "\n\n".join(f"Point {i}. " + "The club's revenue grew again. " * 60 for i in range(12))
    sources = [Source(f"report-{i}.pdf", i + 1, str(i + 1), "snippet " * 40, 0.5) for i in range(40)]
    answerer = ScriptedAnswerer(text_for=lambda q: long_text, sources=sources, mode="retrieval-only")
    start_bot(answerer)
    _, ts = fake_slack.mention("tell me everything")
    thread = Thread(fake_slack, "C1", ts)
    fake_slack.wait_for(lambda _: any("Index: 12 files" in t for t in thread.texts()))

    calls = fake_slack.calls("chat.postMessage") + fake_slack.calls("chat.update")
    assert all(c.ok for c in calls), fake_slack.summary()  # no msg_too_long, no invalid_blocks
    texts = thread.texts()
    assert len(texts) >= 6
    joined = "\n".join(texts)
    for i in range(40):
        assert f"*report-{i}.pdf* — p. {i + 1}" in joined
    assert joined.count("Point 11.") == 1


def test_a_job_that_raises_gets_an_apology_and_the_next_is_answered(
    fake_slack: FakeSlack, start_bot: StartBot, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.ERROR, logger="bot.worker")
    start_bot(ScriptedAnswerer(mode="retrieval-only"))
    _, bad = fake_slack.mention("please explode")
    _, good = fake_slack.mention("a fine question")
    Thread(fake_slack, "C1", good).wait_answered()
    apology = Thread(fake_slack, "C1", bad).wait_text("Sorry, something went wrong")
    error_id = re.search(r"error id (\w+)", apology).group(1)  # type: ignore[union-attr]
    assert any(error_id in r.getMessage() and r.exc_info for r in caplog.records)


def test_rate_limited_post_is_retried(fake_slack: FakeSlack, start_bot: StartBot) -> None:
    fake_slack.fail_next("chat.postMessage", status=429, retry_after=1)
    start_bot(ScriptedAnswerer(mode="retrieval-only"))
    _, ts = fake_slack.mention("what is the revenue?")
    [answer] = Thread(fake_slack, "C1", ts).wait_answered(timeout=15)
    posts = fake_slack.calls("chat.postMessage")
    assert [c.status for c in posts] == [429, 200]
    assert posts[1].at - posts[0].at >= 1.0  # Retry-After honoured
    assert "Answer to: what is the revenue?" in answer["text"]


def test_help_and_status_words_in_a_dm_are_answered_at_once(
    fake_slack: FakeSlack, start_bot: StartBot
) -> None:
    answerer = ScriptedAnswerer()
    start_bot(
        answerer, schedule_status=lambda: {"last_run": "10:00", "next_run": "10:05", "last_result": "2 added"}
    )
    _, help_ts = fake_slack.dm("help")
    _, status_ts = fake_slack.dm("Status?")
    assert "I answer questions about" in Thread(fake_slack, "D1", help_ts).wait_text("Mention me")
    status = Thread(fake_slack, "D1", status_ts).wait_text("Queue:")
    assert "12 files, 1,507 chunks" in status and "scan.pdf: no text layer" in status
    assert "last 10:00 (2 added) · next 10:05" in status
    assert answerer.calls == []


def test_allowlists_and_dm_switch_refuse_politely(fake_slack: FakeSlack, start_bot: StartBot) -> None:
    answerer = ScriptedAnswerer(mode="retrieval-only")
    start_bot(answerer, allowed_channels=["C1"], allowed_users=["U1", "U2"], allow_dms=False)
    _, elsewhere = fake_slack.mention("q in C9", channel="C9")
    _, stranger = fake_slack.mention("q from U9", user="U9")
    _, dm = fake_slack.dm("q in a dm")
    _, ok = fake_slack.mention("q allowed", user="U2")
    Thread(fake_slack, "C1", ok).wait_answered()
    assert "this channel" in Thread(fake_slack, "C9", elsewhere).wait_text("Sorry")
    assert "on my list" in Thread(fake_slack, "C1", stranger).wait_text("Sorry")
    assert "direct messages" in Thread(fake_slack, "D1", dm).wait_text("Sorry")
    assert answerer.questions() == ["q allowed"]
