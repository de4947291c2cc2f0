"""Everything Slack does wrong, at once, during a stream of questions: 429s with Retry-After, 500s, a
dropped WebSocket (acks lost, so Slack redelivers), a `disconnect` frame and redeliveries of events whose
ack came late. No question is lost and none is answered twice."""

from __future__ import annotations

import pytest

from bot.slack import runner
from devtools.fake_slack import FakeSlack
from tests.bot.answerers import ScriptedAnswerer
from tests.bot.slack.conftest import StartBot, Thread

pytestmark = [pytest.mark.slow, pytest.mark.timeout(120)]


def test_no_question_lost_or_answered_twice_through_slack_trouble(
    fake_slack: FakeSlack, start_bot: StartBot, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(runner, "PING_INTERVAL_SECONDS", 0.3)  # notice the dropped socket quickly
    answerer = ScriptedAnswerer(mode="retrieval-only")
    start_bot(answerer)
    fake_slack.redeliver_unacked_after(0.0)  # any ack not back by the next tick counts as late
    fake_slack.fail_next("chat.postMessage", status=429, retry_after=1, times=2)
    fake_slack.fail_next("chat.postMessage", status=500, times=2)  # answers are posted (retrieval only)
    fake_slack.fail_next("reactions.add", status=503, times=1)

    asked = {f"q{n:02d}": fake_slack.mention(f"q{n:02d}", user=f"U{n % 3}")[1] for n in range(8)}
    opened = fake_slack.connections_opened
    fake_slack.drop_connections()  # acks in flight are lost: those events come again
    asked |= {f"q{n:02d}": fake_slack.mention(f"q{n:02d}", user=f"U{n % 3}")[1] for n in range(8, 14)}
    fake_slack.wait_for(lambda f: f.connections_opened > opened, 30)
    fake_slack.wait_connected(30)
    fake_slack.send_disconnect()  # Slack asks for a new connection; events wait for it
    asked |= {f"q{n:02d}": fake_slack.mention(f"q{n:02d}", user=f"U{n % 3}")[1] for n in range(14, 20)}

    fake_slack.wait_for(lambda f: all(Thread(f, "C1", ts).answers() for ts in asked.values()), 90)
    fake_slack.redeliver_unacked_after(None)
    redelivered = [e for e in fake_slack.sent_envelopes() if e.get("retry_attempt", 0) > 0]
    assert redelivered, "the trouble should have made Slack redeliver some events"
    assert sorted(answerer.questions()) == sorted(asked)  # each answered once, none lost
    for ts in asked.values():
        assert len(Thread(fake_slack, "C1", ts).answers()) == 1
        assert fake_slack.reactions("C1", ts) == ["eyes"]
    failed = {c.status for c in fake_slack.calls() if not c.ok}
    assert {429, 500, 503} <= failed
