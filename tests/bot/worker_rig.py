"""The worker tests' rig: a queue in tmp_path, ThreadReplies pointed at the fake Slack, workers on demand."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from bot.queue import Job, QuestionQueue
from bot.slack.app import make_web_client
from bot.slack.delivery import DeliveryMode, DeliveryOptions, SlackDeliveries
from bot.slack.status import StatusBoard
from bot.slack.thread import ThreadReplies
from bot.worker import Worker
from devtools.fake_slack import FakeSlack
from tests.bot.answerers import ScriptedAnswerer
from vectorstore.status import IndexStatus

INTERVAL = 0.2  # seconds between streamed Slack updates in the worker tests


class Rig:
    """A queue in tmp_path, ThreadReplies pointed at the fake, and workers started on demand."""

    def __init__(self, fake: FakeSlack, tmp_path: Path, make_settings: Callable[..., Any]) -> None:
        self.fake = fake
        self.settings = make_settings(slack_bot_token=fake.bot_token, slack_api_url=fake.api_url)
        self.queue = QuestionQueue.beside_index(tmp_path / "index", max_size=50, per_user_max=50)
        self.replies = ThreadReplies(make_web_client(self.settings))
        self.workers: list[Worker] = []
        self.n = 0

    def deliveries(
        self, mode: DeliveryMode = "update", status: StatusBoard | None = None, **options: Any
    ) -> SlackDeliveries:
        """Slack deliveries in `mode` (update unless a test is about streaming), paced by INTERVAL."""
        status_now = IndexStatus(files=3, chunks=40, updated_at=None)
        defaults: dict[str, Any] = {
            "freshness": status_now.freshness,
            "update_interval": INTERVAL,
            "retry_backoff": (0.05,),
            "status": status,
        }
        return SlackDeliveries(self.replies, mode, DeliveryOptions(**(defaults | options)))

    def worker(
        self, answerer: ScriptedAnswerer, *, deliveries: SlackDeliveries | None = None, **kwargs: Any
    ) -> Worker:
        worker = Worker(self.queue, answerer, deliveries or self.deliveries(), **kwargs)
        worker.start()
        self.workers.append(worker)
        return worker

    def ask(self, question: str, channel: str = "C1") -> Job:
        self.n += 1
        ts = f"1700000000.{self.n:06d}"
        result = self.queue.enqueue(
            event_id=f"Ev{self.n}", channel=channel, ts=ts, thread_ts=ts, user="U1", question=question
        )
        assert result.job is not None
        return result.job

    def bot_messages(self, job: Job) -> list[dict[str, Any]]:
        return [m for m in self.fake.messages(job.channel, job.thread_ts) if m.get("bot_id")]

    def final_text(self, job: Job) -> str:
        return "\n".join(str(m.get("text", "")) for m in self.bot_messages(job))

    def wait_answered(self, job: Job, timeout: float = 10) -> None:
        self.fake.wait_for(lambda _: "Sources" in self.final_text(job), timeout)
