"""The one thread that answers queued questions, first in first out, handing each answer's life to a
ReplyDelivery (bot/delivery.py): started, sources found, tokens, then finished, failed or interrupted."""

from __future__ import annotations

import logging
import math
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext

from bot.answer import Answer, Answerer
from bot.delivery import AnswerInterrupted, Deliveries, ReplyDelivery
from bot.feedback import FeedbackStore
from bot.queue import Job, QuestionQueue
from ingest.cpu_gate import CpuGate
from vectorstore.scopes import FolderScopes

logger = logging.getLogger(__name__)

DEFAULT_ANSWER_SECONDS = 60.0
ABORT_GRACE_SECONDS = 3.0

__all__ = ["AnswerInterrupted", "Worker", "new_error_id"]


def new_error_id() -> str:
    """A short id that ties an apology in Slack to a stack trace in the log."""
    return uuid.uuid4().hex[:10]


class Worker:
    """Takes questions from the queue one at a time and answers each in its Slack thread."""

    def __init__(
        self,
        queue: QuestionQueue,
        answerer: Answerer,
        deliveries: Deliveries,
        *,
        abort_grace: float = ABORT_GRACE_SECONDS,
        cpu_gate: CpuGate | None = None,
        scopes: FolderScopes | None = None,
        feedback: FeedbackStore | None = None,
        empty_index_note: Callable[[], str | None] | None = None,
        on_taken: Callable[[], None] | None = None,
    ) -> None:
        self._queue = queue
        self._feedback = feedback
        # The reply while the index has no chunks (None: answer as usual).
        self._empty_index_note = empty_index_note
        self._scopes = scopes
        self._cpu_gate = cpu_gate
        self._answerer = answerer
        self._deliveries = deliveries
        self._on_taken = on_taken
        self._abort_grace = abort_grace
        self._durations: deque[float] = deque(reversed(queue.recent_durations()), maxlen=10)
        self._lock = threading.Lock()
        self._current: Job | None = None
        self._current_started = 0.0
        self._delivery: ReplyDelivery | None = None
        self._partial = ""
        self._stopping = threading.Event()
        self._abort = threading.Event()
        self._abandoned = threading.Event()
        self._thread = threading.Thread(target=self._run, name="docbot-worker", daemon=True)

    # --- Public state -------------------------------------------------------------------------

    def start(self) -> None:
        """Start answering."""
        self._thread.start()

    def is_alive(self) -> bool:
        """True while the worker thread runs."""
        return self._thread.is_alive()

    def current(self) -> tuple[Job, float] | None:
        """The job being answered and seconds spent on it so far."""
        with self._lock:
            if self._current is None:
                return None
            return self._current, time.monotonic() - self._current_started

    def average_seconds(self) -> float:
        """Mean of the recent answer times (a default until there are some)."""
        with self._lock:
            durations = list(self._durations)
        return sum(durations) / len(durations) if durations else DEFAULT_ANSWER_SECONDS

    def estimate_seconds(self, position: int) -> float:
        """Seconds until the question at `position` (1 = next) is answered."""
        average = self.average_seconds()
        running = self.current()
        left = 0.0 if running is None else max(average - running[1], average * 0.1)
        return left + position * average

    def estimate_minutes(self, position: int) -> int:
        """estimate_seconds rounded up to whole minutes, at least 1."""
        return max(1, math.ceil(self.estimate_seconds(position) / 60))

    def stop(self, timeout: float) -> bool:
        """Take no more jobs; let the current answer finish within `timeout`, else checkpoint it.

        Returns True when the worker thread ended by itself.
        """
        self._stopping.set()
        self._queue.wake()
        if not self._thread.is_alive():
            return True
        self._thread.join(timeout)
        if not self._thread.is_alive():
            return True
        self._abort.set()
        self._thread.join(self._abort_grace)
        if not self._thread.is_alive():
            return True
        # Still inside the model (prompt evaluation calls no on_token): checkpoint from here and leave the
        # daemon thread behind; it must not touch Slack or the queue again.
        self._abandoned.set()
        with self._lock:
            job, delivery, partial = self._current, self._delivery, self._partial
        if job is not None:
            self._checkpoint(job, delivery, partial)
        return False

    # --- The loop -----------------------------------------------------------------------------

    def _run(self) -> None:
        logger.info("worker started")
        while not self._stopping.is_set():
            try:
                job = self._queue.take(timeout=0.5)
            except RuntimeError:
                break  # queue closed
            if job is None:
                continue
            if self._stopping.is_set():
                self._queue.requeue(job)
                break
            self._process(job)
        logger.info("worker stopped")

    def _process(self, job: Job) -> None:
        started = time.monotonic()
        delivery = self._deliveries.open(
            job, on_reply=lambda ts: self._queue.set_reply(job.id, ts), abort=self._abort
        )
        with self._lock:
            self._current, self._current_started = job, started
            self._delivery, self._partial = delivery, ""
        logger.info("answering job=%d queued_for=%.1fs", job.id, time.time() - job.created_at)
        if self._on_taken is not None:
            self._on_taken()
        try:
            self._answer(job, delivery, started)
        except AnswerInterrupted:
            if not self._abandoned.is_set():
                with self._lock:
                    partial = self._partial
                self._checkpoint(job, delivery, partial)
        except Exception:
            if not self._abandoned.is_set():
                self._apologise(job, delivery)
        finally:
            with self._lock:
                self._current = self._delivery = None

    def _answer(self, job: Job, delivery: ReplyDelivery, started: float) -> None:
        empty = self._empty_index_note() if self._empty_index_note is not None else None
        if empty is not None:
            delivery.notice(empty)
            self._queue.finish(job, empty)
            logger.info("answered job=%d mode=empty-index sources=0", job.id)
            return
        delivery.started()
        history = self._queue.history(job.channel, job.thread_ts)

        def on_token(token: str) -> None:
            if self._abort.is_set():
                raise AnswerInterrupted()
            delivery.token(token)
            with self._lock:
                self._partial += token

        scope = self._scopes.filter_for(job.channel) if self._scopes is not None else None
        with self._cpu():
            answer = self._answerer.answer(
                job.question, history, on_token=on_token, scope=scope, on_sources=delivery.sources_found
            )
        if self._abandoned.is_set():
            return
        elapsed = time.monotonic() - started
        if self._feedback is not None:
            self._record_for_feedback(job, answer, elapsed)  # before the buttons show, so a vote finds it
        delivery.finished(answer, elapsed)
        self._queue.finish(job, answer.text)
        with self._lock:
            self._durations.append(time.monotonic() - started)
        logger.info(
            "answered job=%d mode=%s sources=%d cut_off=%s seconds=%.1f",
            job.id,
            answer.mode,
            len(answer.sources),
            answer.cut_off,
            elapsed,
        )

    def _record_for_feedback(self, job: Job, answer: Answer, elapsed: float) -> None:
        """Keep what was answered for the feedback store; a failure costs only that."""
        assert self._feedback is not None
        try:
            self._feedback.record_answer(
                job_id=job.id,
                channel=job.channel,
                thread_ts=job.thread_ts,
                question_ts=job.ts,
                asker=job.user,
                answer=answer,
                seconds=elapsed,
            )
        except Exception:
            logger.exception("could not record the answer for feedback job=%d", job.id)

    def _cpu(self) -> AbstractContextManager[object]:
        """The whole answer holds the CPU gate, so re-indexing pauses until it is done."""
        return self._cpu_gate.question() if self._cpu_gate is not None else nullcontext()

    def _apologise(self, job: Job, delivery: ReplyDelivery) -> None:
        error_id = new_error_id()
        logger.exception("answer failed job=%d error_id=%s", job.id, error_id)
        try:
            delivery.failed(error_id)
        except BaseException:
            logger.exception("apology not delivered job=%d error_id=%s", job.id, error_id)
        try:
            self._queue.fail(job, error_id)
        except Exception:
            logger.exception("could not mark job failed job=%d error_id=%s", job.id, error_id)

    def _checkpoint(self, job: Job, delivery: ReplyDelivery | None, partial: str) -> None:
        """Put the job back in the queue for after the restart and say so in its thread."""
        try:
            self._queue.requeue(job)
        except Exception:
            logger.exception("could not requeue job=%d (it is answered again after restart)", job.id)
        logger.info("checkpointed job=%d partial_chars=%d", job.id, len(partial))
        if delivery is not None:
            delivery.interrupted(partial)
