"""Run the real bot (run_slack: tokens, queue, worker, slack_bolt Socket Mode) against the loopback fake."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from bot.answer import Answerer
from bot.slack.runner import run_slack
from devtools.fake_slack import FakeSlack
from tests.bot.answerers import ScriptedAnswerer
from tests.fake_slack import fake_slack  # noqa: F401
from vectorstore.status import FailedFile, IndexStatus

STATUS = IndexStatus(
    files=12,
    chunks=1507,
    pages=400,
    failed=[FailedFile("scan.pdf", "no text layer (scanned?)")],
    updated_at=None,
)


class RunningBot:
    """run_slack in a thread with a stop event; stop() shuts it down like SIGTERM does."""

    def __init__(
        self,
        fake: FakeSlack,
        settings: Any,
        answerer: Answerer,
        index_status: Callable[[], IndexStatus] = lambda: STATUS,
        **kwargs: Any,
    ) -> None:
        self.fake = fake
        self.settings = settings
        self.answerer = answerer
        self.index_status = index_status
        self.stop_event = threading.Event()
        self.exit_code: int | None = None
        self._kwargs = kwargs
        self._thread = threading.Thread(target=self._run, name="test-bot", daemon=True)

    def _run(self) -> None:
        self.exit_code = run_slack(
            self.settings, self.answerer, self.index_status, stop_event=self.stop_event, **self._kwargs
        )

    def start(self) -> RunningBot:
        opened = self.fake.connections_opened
        self._thread.start()
        self.fake.wait_for(lambda f: f.connections_opened > opened and f.connection_count > 0, 10)
        self.fake.wait_connected()
        return self

    def stop(self) -> int | None:
        if self._thread.is_alive():
            self.fake.hang_up()  # reset the socket so the builtin client's close() returns at once
            self.stop_event.set()
            self._thread.join(20)
            self.fake.accept_connections()
            assert not self._thread.is_alive(), "run_slack did not return"
        return self.exit_code


class Thread:
    """One question's thread as the fake shows it."""

    def __init__(self, fake: FakeSlack, channel: str, ts: str) -> None:
        self.fake, self.channel, self.ts = fake, channel, ts

    def bot_messages(self) -> list[dict[str, Any]]:
        return [m for m in self.fake.messages(self.channel, self.ts) if m.get("bot_id")]

    def answers(self) -> list[dict[str, Any]]:
        return [m for m in self.bot_messages() if "Sources" in str(m.get("text", ""))]

    def texts(self) -> list[str]:
        return [str(m.get("text", "")) for m in self.bot_messages()]

    def wait_answered(self, count: int = 1, timeout: float = 10) -> list[dict[str, Any]]:
        self.fake.wait_for(lambda _: len(self.answers()) >= count, timeout)
        return self.answers()

    def wait_text(self, fragment: str, timeout: float = 10) -> str:
        self.fake.wait_for(lambda _: any(fragment in t for t in self.texts()), timeout)
        return next(t for t in self.texts() if fragment in t)


StartBot = Callable[..., RunningBot]


@pytest.fixture
def start_bot(fake_slack: FakeSlack, make_settings: Callable[..., Any]) -> Iterator[StartBot]:  # noqa: F811
    """Start the bot with an answerer (a ScriptedAnswerer by default) and setting overrides."""
    bots: list[RunningBot] = []

    def start(
        answerer: Answerer | None = None, *, schedule_status: Any = None, **overrides: Any
    ) -> RunningBot:
        settings = make_settings(
            slack_bot_token=fake_slack.bot_token,
            slack_app_token=fake_slack.app_token,
            slack_api_url=fake_slack.api_url,
            **overrides,
        )
        bot = RunningBot(
            fake_slack, settings, answerer or ScriptedAnswerer(), schedule_status=schedule_status
        )
        bots.append(bot)
        return bot.start()

    yield start
    for bot in bots:
        bot.stop()


def ask_and_wait_started(fake: FakeSlack, answerer: ScriptedAnswerer, text: str, **kwargs: Any) -> str:
    """Mention the bot and wait until the worker is answering; returns the question's ts."""
    _, ts = fake.mention(text, **kwargs)
    fake.wait_for(lambda _: text in answerer.questions())
    return ts
