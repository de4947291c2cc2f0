"""/docbot help and status, answered in the slash command's ack (visible only to the person)."""

from __future__ import annotations

import threading

import pytest

from devtools.fake_slack import FakeSlack
from tests.bot.answerers import ScriptedAnswerer
from tests.bot.slack.conftest import StartBot, ask_and_wait_started

pytestmark = pytest.mark.timeout(60)


def test_help(fake_slack: FakeSlack, start_bot: StartBot) -> None:
    start_bot()
    for text in ("", "help"):
        ack = fake_slack.wait_for_ack(fake_slack.send_slash_command("/docbot", text))
        assert ack["payload"]["response_type"] == "ephemeral"
        assert "I answer questions about the team's PDF reports" in ack["payload"]["text"]


def test_status_shows_queue_current_answer_index_failures_and_schedule(
    fake_slack: FakeSlack, start_bot: StartBot
) -> None:
    gate = threading.Event()
    answerer = ScriptedAnswerer(mode="retrieval-only", gate=gate)
    schedule = {"last_run": "2026-11-27 09:00", "next_run": "2026-11-27 09:05", "last_result": "1 changed"}
    start_bot(answerer, schedule_status=lambda: schedule)
    ask_and_wait_started(fake_slack, answerer, "busy one", channel="C5")
    _, waiting = fake_slack.mention("waiting one")
    fake_slack.wait_for(lambda f: f.thread_status("C1", waiting) is not None)  # its queue status

    status = fake_slack.wait_for_ack(fake_slack.send_slash_command("/docbot", "status"))["payload"]["text"]
    gate.set()
    assert "*Queue:* 1 waiting" in status
    assert "*Answering:* a question from <#C5> for" in status
    assert "*Index:* 12 files, 1,507 chunks, 400 pages" in status
    assert "• scan.pdf: no text layer (scanned?)" in status
    assert "*Re-index:* last 2026-11-27 09:00 (1 changed) · next 2026-11-27 09:05" in status
    assert "busy one" not in status  # questions are not shown to others


def test_unknown_text_points_to_mentions_and_allowlist_applies(
    fake_slack: FakeSlack, start_bot: StartBot
) -> None:
    start_bot(allowed_users=["U1"])
    ack = fake_slack.wait_for_ack(fake_slack.send_slash_command("/docbot", "what is revenue?"))
    assert ack["payload"]["text"].startswith("To ask a question, mention me")
    refused = fake_slack.wait_for_ack(fake_slack.send_slash_command("/docbot", "status", user_id="U9"))
    assert "Sorry" in refused["payload"]["text"] and "Queue" not in refused["payload"]["text"]
