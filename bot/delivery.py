"""The one seam between the worker and wherever an answer is shown: an answer's life as six calls."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Protocol

from bot.answer import Answer, Source
from bot.queue import Job


class AnswerInterrupted(BaseException):
    """Raised from on_token when the bot is shutting down; a BaseException so answerers let it through."""


class ReplyDelivery(Protocol):
    """Shows one question's answer as it happens. The worker calls started() first, then
    sources_found() and token() as the answer is written (from the model's thread: they must return at
    once), then exactly one of finished(), failed() or interrupted()."""

    def started(self) -> None:
        """The worker took the question: show that it is being worked on."""
        ...

    def sources_found(self, sources: list[Source]) -> None:
        """Retrieval found these pages; the model has not started."""
        ...

    def token(self, text: str) -> None:
        """The model wrote `text` (the next piece of the answer)."""
        ...

    def finished(self, answer: Answer, elapsed: float) -> None:
        """Show the final answer; returns once it is delivered (raises if it cannot be)."""
        ...

    def notice(self, text: str) -> None:
        """Show a note in place of an answer (e.g. no document is indexed yet); the job is done."""
        ...

    def failed(self, error_id: str) -> None:
        """The answer failed: apologise, naming the error id that is in the log."""
        ...

    def interrupted(self, partial: str) -> None:
        """The bot is stopping mid-answer and the question is queued again; may be called from a thread
        other than the worker's (when the model does not return in time)."""
        ...


class Deliveries(Protocol):
    """Makes the delivery for each job; the one place where how replies are delivered is chosen."""

    def open(self, job: Job, *, on_reply: Callable[[str], None], abort: threading.Event) -> ReplyDelivery:
        """A delivery for `job`. It calls `on_reply(message_id)` as soon as the message that will hold
        the answer exists (the worker records it, so a restart finishes that message), and gives up
        retrying once `abort` is set (raising AnswerInterrupted)."""
        ...
