"""What the listeners share: settings, the queue, the worker and the pool that makes their Slack calls."""

from __future__ import annotations

import logging
from collections.abc import Callable
from concurrent.futures import Executor
from dataclasses import dataclass

from bot.feedback import FeedbackStore
from bot.queue import QuestionQueue
from bot.slack.status import StatusBoard
from bot.slack.suggestions import SuggestedPrompts
from bot.slack.thread import ThreadReplies, slack_error
from bot.worker import Worker
from config.settings import Settings
from vectorstore.status import FailedFile, IndexStatus

logger = logging.getLogger(__name__)

ScheduleStatus = Callable[[], dict[str, str]]
RunFailures = Callable[[], list[FailedFile]]


@dataclass
class BotContext:
    """Everything a listener needs; built by the runner (or a test) and passed to create_app."""

    settings: Settings
    queue: QuestionQueue
    worker: Worker
    replies: ThreadReplies
    notifier: Executor
    index_status: Callable[[], IndexStatus]
    schedule_status: ScheduleStatus | None = None
    run_failures: RunFailures | None = None  # the last re-index run's failed files, with reasons
    feedback: FeedbackStore | None = None  # 👍/👎 on answers
    suggestions: SuggestedPrompts | None = None  # the Messages tab's prompts
    status: StatusBoard | None = None  # thread statuses while questions wait (None: positions as messages)

    def later(self, what: str, call: Callable[[], object]) -> None:
        """Make a Slack call on the notifier pool so the listener returns at once; failures are logged."""

        def run() -> None:
            try:
                call()
            except Exception as exc:
                logger.warning("slack call failed what=%s error=%s", what, slack_error(exc))

        self.notifier.submit(run)
