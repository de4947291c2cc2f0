"""The one thread that answers queued questions, first in first out, streaming each answer into its thread."""

from __future__ import annotations

import functools
import logging
import math
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from typing import TypeVar

from bot.answer import Answer, Answerer, Source
from bot.feedback import FeedbackStore
from bot.queue import Job, QuestionQueue
from bot.slack.render import (
    render_answer,
    render_apology,
    render_interrupted,
    render_notice,
    render_partial,
    render_placeholder,
    with_feedback,
)
from bot.slack.thread import ThreadReplies, answer_metadata, is_transient, slack_error
from ingest.cpu_gate import CpuGate
from vectorstore.scopes import FolderScopes
from vectorstore.status import IndexStatus

logger = logging.getLogger(__name__)

DEFAULT_ANSWER_SECONDS = 60.0
ABORT_GRACE_SECONDS = 3.0
RETRY_BACKOFF = (1.0, 2.0, 5.0, 10.0, 30.0)

_T = TypeVar("_T")


class AnswerInterrupted(BaseException):
    """Raised from on_token when the bot is shutting down; a BaseException so answerers let it through."""


def new_error_id() -> str:
    """A short id that ties an apology in Slack to a stack trace in the log."""
    return uuid.uuid4().hex[:10]


class _Streamer:
    """Sends the growing answer to Slack at most once per `interval`, from its own thread."""

    def __init__(self, send: Callable[[str], None], interval: float) -> None:
        self._send = send
        self._interval = interval
        self._text = ""
        self._dirty = False
        self._closed = False
        self._last_sent = float("-inf")
        self._cond = threading.Condition()
        self._thread = threading.Thread(target=self._run, name="docbot-stream", daemon=True)
        self._thread.start()

    def feed(self, token: str) -> None:
        """Add generated text."""
        with self._cond:
            self._text += token
            self._dirty = True
            self._cond.notify()

    @property
    def text(self) -> str:
        """Everything generated so far."""
        with self._cond:
            return self._text

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._closed and not self._dirty:
                    self._cond.wait()
                while not self._closed and time.monotonic() < self._last_sent + self._interval:
                    self._cond.wait(self._last_sent + self._interval - time.monotonic())
                if self._closed:
                    return
                text, self._dirty = self._text, False
                self._last_sent = time.monotonic()
            try:
                self._send(text)
            except Exception as exc:  # a lost progress update is harmless; the final one is retried
                logger.warning("streaming update failed error=%s", slack_error(exc))

    def close(self) -> float:
        """Stop sending; returns the monotonic time of the last update sent."""
        with self._cond:
            self._closed = True
            self._cond.notify()
        self._thread.join()
        return self._last_sent


class Worker:
    """Takes questions from the queue one at a time and answers each in its Slack thread."""

    def __init__(
        self,
        queue: QuestionQueue,
        answerer: Answerer,
        replies: ThreadReplies,
        *,
        index_status: Callable[[], IndexStatus] | None = None,
        docs_base_url: str = "",
        update_interval: float = 1.0,
        retry_backoff: tuple[float, ...] = RETRY_BACKOFF,
        abort_grace: float = ABORT_GRACE_SECONDS,
        cpu_gate: CpuGate | None = None,
        scopes: FolderScopes | None = None,
        feedback: FeedbackStore | None = None,
        empty_index_text: Callable[[int], str] | None = None,
    ) -> None:
        self._queue = queue
        self._feedback = feedback
        # (files that failed to index) -> the reply while the index has no chunks; needs index_status.
        self._empty_index_text = empty_index_text
        self._scopes = scopes
        self._cpu_gate = cpu_gate
        self._answerer = answerer
        self._replies = replies
        self._index_status = index_status
        self._docs_base_url = docs_base_url
        self._update_interval = update_interval
        self._retry_backoff = retry_backoff
        self._abort_grace = abort_grace
        self._durations: deque[float] = deque(reversed(queue.recent_durations()), maxlen=10)
        self._lock = threading.Lock()
        self._current: Job | None = None
        self._current_started = 0.0
        self._current_reply: str | None = None
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
            job, reply_ts, partial = self._current, self._current_reply, self._partial
        if job is not None:
            self._checkpoint(job, reply_ts, partial)
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
        with self._lock:
            self._current, self._current_started = job, started
            self._current_reply, self._partial = job.reply_ts, ""
        logger.info("answering job=%d queued_for=%.1fs", job.id, time.time() - job.created_at)
        try:
            self._answer(job, started)
        except AnswerInterrupted:
            if not self._abandoned.is_set():
                with self._lock:
                    reply_ts, partial = self._current_reply, self._partial
                self._checkpoint(job, reply_ts, partial)
        except Exception:
            if not self._abandoned.is_set():
                self._apologise(job)
        finally:
            with self._lock:
                self._current = None

    def _answer(self, job: Job, started: float) -> None:
        known = job.reply_ts or self._placeholder_left_behind(job)
        empty = self._empty_index_note()
        if empty is not None:
            self._reply_empty_index(job, known, empty)
            return
        reply_ts = self._deliver(
            lambda: self._replies.show(
                job.channel, job.thread_ts, known, render_placeholder(), answer_metadata(job.ts)
            )
        )
        with self._lock:
            self._current_reply = reply_ts
        self._queue.set_reply(job.id, reply_ts)
        history = self._queue.history(job.channel, job.thread_ts)

        found: list[Source] = []

        def send_partial(text: str) -> None:
            elapsed = time.monotonic() - started
            shown = render_partial(text, elapsed, found, docs_base_url=self._docs_base_url)
            self._replies.update(job.channel, reply_ts, shown)

        streamer = _Streamer(send_partial, self._update_interval)

        def on_sources(sources: list[Source]) -> None:
            # The pages go up before the model starts: someone who only needed the page can stop here.
            found[:] = sources
            streamer.feed("")

        def on_token(token: str) -> None:
            if self._abort.is_set():
                raise AnswerInterrupted()
            streamer.feed(token)
            with self._lock:
                self._partial += token

        try:
            scope = self._scopes.filter_for(job.channel) if self._scopes is not None else None
            with self._cpu():
                answer = self._answerer.answer(
                    job.question, history, on_token=on_token, scope=scope, on_sources=on_sources
                )
        finally:
            last_sent = streamer.close()
        if self._abandoned.is_set():
            return
        elapsed = time.monotonic() - started
        messages = render_answer(
            answer, docs_base_url=self._docs_base_url, freshness=self._freshness(), elapsed=elapsed
        )
        if self._feedback is not None:
            messages = with_feedback(messages, job.id)
            self._record_for_feedback(job, answer, elapsed)
        self._abort.wait(max(0.0, last_sent + self._update_interval - time.monotonic()))
        self._deliver(lambda: self._replies.update(job.channel, reply_ts, messages[0]))
        for message in messages[1:]:
            self._deliver(functools.partial(self._replies.post, job.channel, job.thread_ts, message))
        self._queue.finish(job, answer.text)
        with self._lock:
            self._durations.append(time.monotonic() - started)
        logger.info(
            "answered job=%d mode=%s sources=%d cut_off=%s seconds=%.1f parts=%d",
            job.id,
            answer.mode,
            len(answer.sources),
            answer.cut_off,
            elapsed,
            len(messages),
        )

    def _record_for_feedback(self, job: Job, answer: Answer, elapsed: float) -> None:
        """Keep what was answered before the buttons appear, so a vote finds it; a failure costs only that."""
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

    def _empty_index_note(self) -> str | None:
        """What to say instead of answering while no document is indexed (None: answer as usual)."""
        if self._empty_index_text is None or self._index_status is None:
            return None
        try:
            status = self._index_status()
        except Exception:
            logger.exception("index status failed")
            return None
        return self._empty_index_text(len(status.failed)) if status.chunks == 0 else None

    def _reply_empty_index(self, job: Job, known: str | None, text: str) -> None:
        message = render_notice(text)
        reply_ts = self._deliver(
            lambda: self._replies.show(job.channel, job.thread_ts, known, message, answer_metadata(job.ts))
        )
        self._queue.set_reply(job.id, reply_ts)
        self._queue.finish(job, text)
        logger.info("answered job=%d mode=empty-index sources=0", job.id)

    def _placeholder_left_behind(self, job: Job) -> str | None:
        """For a job revived after a crash with no reply recorded: the placeholder it may have posted just
        before the crash (between posting and recording its ts), so the answer goes there, not in a
        second message. A failed look-up only costs that second message."""
        if not job.revived:
            return None
        try:
            found = self._deliver(lambda: self._replies.find_answer(job.channel, job.thread_ts, job.ts))
        except Exception as exc:
            logger.warning("could not look for an earlier reply job=%d error=%s", job.id, slack_error(exc))
            return None
        logger.info("revived job=%d earlier_reply_found=%s", job.id, found is not None)
        return found

    def _cpu(self) -> AbstractContextManager[object]:
        """The whole answer holds the CPU gate, so re-indexing pauses until it is done."""
        return self._cpu_gate.question() if self._cpu_gate is not None else nullcontext()

    def _deliver(self, call: Callable[[], _T]) -> _T:
        """Run a Slack call, retrying transient failures until it works or the worker must stop."""
        attempt = 0
        while True:
            try:
                return call()
            except Exception as exc:
                if not is_transient(exc) or self._abort.is_set():
                    raise
                delay = self._retry_backoff[min(attempt, len(self._retry_backoff) - 1)]
                logger.warning("slack call failed error=%s retry_in=%.0fs", slack_error(exc), delay)
                attempt += 1
                if self._abort.wait(delay):
                    raise AnswerInterrupted() from exc

    def _freshness(self) -> str | None:
        if self._index_status is None:
            return None
        try:
            return self._index_status().freshness()
        except Exception:
            logger.exception("index status failed")
            return None

    def _apologise(self, job: Job) -> None:
        error_id = new_error_id()
        logger.exception("answer failed job=%d error_id=%s", job.id, error_id)
        with self._lock:
            reply_ts = self._current_reply
        apology = render_apology(error_id)
        try:
            self._deliver(lambda: self._replies.show(job.channel, job.thread_ts, reply_ts, apology))
        except BaseException:
            logger.exception("apology not delivered job=%d error_id=%s", job.id, error_id)
        try:
            self._queue.fail(job, error_id)
        except Exception:
            logger.exception("could not mark job failed job=%d error_id=%s", job.id, error_id)

    def _checkpoint(self, job: Job, reply_ts: str | None, partial: str) -> None:
        """Put the job back in the queue for after the restart and say so in its thread."""
        try:
            self._queue.requeue(job)
        except Exception:
            logger.exception("could not requeue job=%d (it is answered again after restart)", job.id)
        logger.info("checkpointed job=%d partial_chars=%d", job.id, len(partial))
        if reply_ts is None:
            return
        try:
            self._replies.update(job.channel, reply_ts, render_interrupted(partial))
        except Exception as exc:
            logger.warning("could not mark answer interrupted job=%d error=%s", job.id, slack_error(exc))
