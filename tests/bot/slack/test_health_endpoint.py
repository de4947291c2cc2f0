"""The running bot's /healthz follows its Socket Mode connection; an empty index is said so in Slack."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from bot.slack import runner
from devtools.waiting import wait_until
from tests.bot.answerers import ScriptedAnswerer
from tests.bot.slack.conftest import RunningBot, StartBot, Thread
from tests.bot.test_cli_run import free_port
from tests.bot.test_health import get
from tests.fake_slack import FakeSlack
from vectorstore.status import FailedFile, IndexStatus

pytestmark = pytest.mark.timeout(90)


def test_healthz_is_200_while_connected_and_503_while_slack_is_gone(
    fake_slack: FakeSlack, start_bot: StartBot, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(runner, "PING_INTERVAL_SECONDS", 0.3)
    port = free_port()
    start_bot(ScriptedAnswerer(mode="retrieval-only"), health_port=port)
    seen: list[tuple[int, dict[str, Any]]] = []

    def status_is(code: int) -> bool:
        seen.append(get(port))
        return seen[-1][0] == code

    wait_until(lambda: status_is(200), 10, lambda: str(seen[-1:]))
    report = seen[-1][1]
    assert report["slack_connected"] is True and report["worker_alive"] is True
    assert report["queue_depth"] == 0 and report["reindex"] is None

    fake_slack.hang_up()  # Slack unreachable: the connection drops and reconnects are refused
    wait_until(lambda: status_is(503), 30, lambda: str(seen[-1:]))
    assert seen[-1][1]["slack_connected"] is False
    assert "slack: the Socket Mode connection is down" in seen[-1][1]["problems"]

    fake_slack.accept_connections()
    wait_until(lambda: status_is(200), 30, lambda: str(seen[-1:]))


def test_a_health_port_in_use_stops_the_bot_with_one_line(
    fake_slack: FakeSlack, make_settings: Callable[..., Any], capsys: pytest.CaptureFixture[str]
) -> None:
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        settings = make_settings(
            slack_bot_token=fake_slack.bot_token,
            slack_app_token=fake_slack.app_token,
            slack_api_url=fake_slack.api_url,
            health_port=taken.getsockname()[1],
        )
        code = runner.run_slack(settings, ScriptedAnswerer(), lambda: IndexStatus(files=0, chunks=0))
    err = capsys.readouterr().err
    assert code == 1 and err.count("\n") == 1 and "health_port" in err and "cannot listen" in err
    assert fake_slack.connection_count == 0


def test_a_question_to_an_empty_index_says_where_to_put_pdfs(
    fake_slack: FakeSlack, make_settings: Callable[..., Any]
) -> None:
    settings = make_settings(
        slack_bot_token=fake_slack.bot_token,
        slack_app_token=fake_slack.app_token,
        slack_api_url=fake_slack.api_url,
    )
    answerer = ScriptedAnswerer()
    empty = IndexStatus(files=0, chunks=0, failed=[FailedFile("scan.pdf", "no text layer")])
    bot = RunningBot(fake_slack, settings, answerer, index_status=lambda: empty).start()
    try:
        _, ts = fake_slack.mention("What is the minimum guarantee?")
        text = Thread(fake_slack, "C1", ts).wait_text("No document is indexed yet")
    finally:
        bot.stop()
    assert f"Put PDF reports in `{settings.data_dir.resolve()}` on the bot's machine" in text
    assert "1 file there could not be indexed; `/docbot status` says why." in text
    assert "nothing in the index matches" not in text
    assert answerer.calls == []  # nothing to search: the model is not asked
