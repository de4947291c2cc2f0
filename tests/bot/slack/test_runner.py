"""run_slack: token checks with one-line errors, clean stop on SIGTERM, surviving Slack's disconnects."""

from __future__ import annotations

import os
import signal
import threading
from collections.abc import Callable
from typing import Any

import pytest

from bot.slack import runner
from bot.slack.runner import run_slack
from devtools.fake_slack import FakeSlack
from tests.bot.answerers import ScriptedAnswerer
from tests.bot.slack.conftest import STATUS, StartBot, Thread

pytestmark = pytest.mark.timeout(60)


@pytest.fixture
def settings_for(fake_slack: FakeSlack, make_settings: Callable[..., Any]) -> Callable[..., Any]:
    def build(**overrides: Any) -> Any:
        values = {
            "slack_bot_token": fake_slack.bot_token,
            "slack_app_token": fake_slack.app_token,
            "slack_api_url": fake_slack.api_url,
        }
        return make_settings(**(values | overrides))

    return build


@pytest.mark.parametrize(
    ("overrides", "revoke", "expected"),
    [
        ({"slack_bot_token": "xoxb-wrong"}, None, "SLACK_BOT_TOKEN is not valid (Slack said invalid_auth"),
        ({}, ("bot", "token_revoked"), "SLACK_BOT_TOKEN has been revoked"),
        ({}, ("app", "token_revoked"), "SLACK_APP_TOKEN has been revoked"),
        ({"slack_app_token": "xapp-wrong"}, None, "SLACK_APP_TOKEN is not valid"),
        (
            {"slack_bot_token": "xapp-test-app", "slack_app_token": "xoxb-test-bot"},
            None,
            "SLACK_BOT_TOKEN must start with xoxb- (got xapp-…); are the two tokens swapped?",
        ),
        ({"slack_app_token": ""}, None, "SLACK_APP_TOKEN is not set"),
    ],
)
def test_bad_tokens_exit_non_zero_with_one_line_naming_the_token(
    fake_slack: FakeSlack,
    settings_for: Callable[..., Any],
    capsys: pytest.CaptureFixture[str],
    overrides: dict[str, str],
    revoke: tuple[str, str] | None,
    expected: str,
) -> None:
    if revoke is not None:
        fake_slack.invalidate(fake_slack.bot_token if revoke[0] == "bot" else fake_slack.app_token, revoke[1])
    code = run_slack(settings_for(**overrides), ScriptedAnswerer(), lambda: STATUS)
    err = capsys.readouterr().err
    assert code == 2
    assert err.count("\n") == 1 and err.startswith("docbot: ") and expected in err
    assert "test-bot" not in err and "test-app" not in err  # tokens are never printed
    assert fake_slack.connection_count == 0


def test_unreachable_slack_exits_non_zero(
    settings_for: Callable[..., Any], capsys: pytest.CaptureFixture[str]
) -> None:
    code = run_slack(
        settings_for(slack_api_url="http://127.0.0.1:9/api/"), ScriptedAnswerer(), lambda: STATUS
    )
    assert code == 1 and "cannot reach Slack at http://127.0.0.1:9/api/" in capsys.readouterr().err


def test_sigterm_stops_cleanly_after_answering(
    fake_slack: FakeSlack, settings_for: Callable[..., Any]
) -> None:
    answerer = ScriptedAnswerer(mode="retrieval-only")
    done: list[str] = []

    def drive() -> None:
        fake_slack.wait_connected()
        _, ts = fake_slack.mention("before the signal")
        Thread(fake_slack, "C1", ts).wait_answered()
        done.append(ts)
        fake_slack.hang_up()
        os.kill(os.getpid(), signal.SIGTERM)

    previous = signal.getsignal(signal.SIGTERM)
    driver = threading.Thread(target=drive, daemon=True)
    driver.start()
    code = run_slack(settings_for(), answerer, lambda: STATUS)  # in the main thread, like `docbot run`
    driver.join(5)
    fake_slack.accept_connections()
    assert code == 0 and done
    assert signal.getsignal(signal.SIGTERM) is previous


def test_slack_asking_for_a_new_connection_loses_nothing(fake_slack: FakeSlack, start_bot: StartBot) -> None:
    answerer = ScriptedAnswerer(mode="retrieval-only")
    start_bot(answerer)
    opened = fake_slack.connections_opened
    fake_slack.send_disconnect()  # events sent now wait for the new connection
    _, ts = fake_slack.mention("during the refresh")
    Thread(fake_slack, "C1", ts).wait_answered()
    assert fake_slack.connections_opened > opened


def test_a_dropped_connection_is_reopened(
    fake_slack: FakeSlack, start_bot: StartBot, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(runner, "PING_INTERVAL_SECONDS", 0.3)  # the client gives up after 5 failed pings
    answerer = ScriptedAnswerer(mode="retrieval-only")
    start_bot(answerer)
    opened = fake_slack.connections_opened
    fake_slack.drop_connections()
    fake_slack.wait_for(lambda f: f.connections_opened > opened, 20)
    fake_slack.wait_connected()
    _, ts = fake_slack.mention("after the drop")
    Thread(fake_slack, "C1", ts).wait_answered()
