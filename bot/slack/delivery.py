"""Answers delivered into Slack threads: Slack's native text stream, or one message rewritten by chat.update.

`SlackDeliveries.open(job)` picks per question (setting `reply_delivery`):
- stream: a status under the thread while the question is read ("Reading manu-20f p. 53…"), then
  chat.startStream at the first words, chat.appendStream at most once per `update_interval`, and
  chat.stopStream with the sources, the footer and `final_blocks` under the streamed text.
- update: a placeholder message at once, rewritten with chat.update as the answer grows, finished in place.
A stream falls back to chat.update on the same message whenever it cannot go on: Slack closed it
(message_not_in_streaming_state after about 5 minutes or when idle), it nears `stream_max_seconds`,
the answer outgrows one message, or the final text differs from what was streamed (the grounding
check replaced it). A workspace that refuses chat.startStream (unknown method, missing scope) gets
update deliveries from then on (`auto`). A question whose message already exists (checkpointed, or
revived after a crash) is always finished in that message with chat.update, so it is answered once.
"""

from __future__ import annotations

import functools
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal, TypeVar

from slack_sdk.errors import SlackApiError

from bot.answer import Answer, Source
from bot.delivery import AnswerInterrupted, ReplyDelivery
from bot.queue import Job
from bot.slack.render import (
    MARKDOWN_LIMIT,
    MAX_BLOCKS,
    final_blocks,
    markdown_text,
    render_answer,
    render_apology,
    render_interrupted,
    render_notice,
    render_partial,
    render_placeholder,
    stream_end_blocks,
)
from bot.slack.status import StatusBoard, StatusLine, reading_text
from bot.slack.thread import ThreadReplies, answer_metadata, is_transient, slack_error

logger = logging.getLogger(__name__)

DeliveryMode = Literal["auto", "stream", "update"]
RETRY_BACKOFF = (1.0, 2.0, 5.0, 10.0, 30.0)
STREAM_MAX_SECONDS = 240.0  # Slack closes a stream after about 5 minutes; switch to chat.update before
INTERRUPT_WAIT_SECONDS = 5.0  # a stopping bot waits this long at most for an update in flight
LOOKING = "Looking through the documents…"
WRITING = "Writing the answer from those pages…"
CLOSED_STREAM = "message_not_in_streaming_state"
# chat.startStream refusals that hold for the whole workspace (others, such as not_in_channel, only for
# the answer at hand).
STREAMS_UNAVAILABLE = frozenset(
    {
        "unknown_method",
        "missing_scope",
        "not_allowed_token_type",
        "method_deprecated",
        "no_permission",
        "feature_not_enabled",
        "invalid_arguments",
    }
)

_T = TypeVar("_T")
FinalBlocks = Callable[[Job, Answer], list[dict[str, Any]]]  # blocks under a final answer


class _Streamer:
    """Sends the growing answer to Slack at most once per `interval`, from its own thread."""

    def __init__(self, send: Callable[[str], None], interval: float, text: str = "") -> None:
        self._send = send
        self._interval = interval
        self._text = text
        self._dirty = bool(text)
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

    def close(self, timeout: float | None = None) -> float:
        """Stop sending (waiting up to `timeout` for an update in flight); returns the monotonic time of
        the last update sent."""
        with self._cond:
            self._closed = True
            self._cond.notify()
        if threading.current_thread() is not self._thread:
            self._thread.join(timeout)
        return self._last_sent


@dataclass
class DeliveryOptions:
    """What every delivery shares: rendering, pacing, retries, the status board."""

    docs_base_url: str = ""
    freshness: Callable[[], str | None] = lambda: None
    update_interval: float = 1.0
    retry_backoff: tuple[float, ...] = RETRY_BACKOFF
    stream_max_seconds: float = STREAM_MAX_SECONDS
    status: StatusBoard | None = None
    final_blocks: FinalBlocks = field(default=final_blocks)


class SlackDeliveries:
    """The Deliveries for Slack: `mode` auto (stream while the workspace accepts it), stream or update."""

    def __init__(
        self, replies: ThreadReplies, mode: DeliveryMode = "auto", options: DeliveryOptions | None = None
    ) -> None:
        self.replies = replies
        self.mode = mode
        self.options = options or DeliveryOptions()
        self._stream_refused: str | None = None
        self._lock = threading.Lock()

    def open(self, job: Job, *, on_reply: Callable[[str], None], abort: threading.Event) -> ReplyDelivery:
        """A delivery for `job`: streamed unless the mode, the workspace or an existing message says no."""
        return SlackReply(self, job, on_reply=on_reply, abort=abort, stream=self.streams())

    def streams(self) -> bool:
        """True when new answers are streamed natively."""
        with self._lock:
            return self.mode == "stream" or (self.mode == "auto" and self._stream_refused is None)

    def refuse_streams(self, error: str) -> None:
        """Slack refused chat.startStream for a reason retrying cannot fix: auto mode stops streaming."""
        with self._lock:
            first = self._stream_refused is None
            self._stream_refused = error
        if first:
            logger.warning("native streaming refused error=%s; answers use chat.update", error)


def _stream_refusal(exc: BaseException) -> str | None:
    """Slack's error when chat.startStream cannot work here (not a passing failure), else None."""
    if isinstance(exc, SlackApiError) and not is_transient(exc):
        return slack_error(exc)
    return None


class SlackReply:
    """One question's answer in its thread; starts as a stream or as a placeholder (see the module)."""

    def __init__(
        self,
        deliveries: SlackDeliveries,
        job: Job,
        *,
        on_reply: Callable[[str], None],
        abort: threading.Event,
        stream: bool,
    ) -> None:
        self._deliveries = deliveries
        self._replies = deliveries.replies
        self._options = deliveries.options
        self._job = job
        self._on_reply = on_reply
        self._abort = abort
        self._mode: Literal["stream", "update"] = "stream" if stream else "update"
        self._lock = threading.RLock()
        self._ts: str | None = None
        self._streaming = False  # a native stream is open on self._ts
        self._stream_started = 0.0
        self._sent = ""  # markdown appended to the stream so far
        self._found: list[Source] = []
        self._streamer: _Streamer | None = None
        self._started = time.monotonic()

    # --- the worker's calls -------------------------------------------------------------------

    def started(self) -> None:
        """Stream: show a status. Update, or a message already there: post/adopt the placeholder."""
        job = self._job
        self._started = time.monotonic()
        known = job.reply_ts or self._left_behind()
        if known is not None or self._mode == "update":
            self._mode = "update"
            if known is not None and job.revived:
                # A kill -9 may have left its stream open; chat.update needs it closed.
                self._retry(lambda: self._replies.end_stream(job.channel, known))
            self._posting()
            ts = self._retry(
                lambda: self._replies.show(
                    job.channel, job.thread_ts, known, render_placeholder(), answer_metadata(job.ts)
                )
            )
            self._record(ts)
        else:
            self._status(LOOKING, (LOOKING,))
        self._streamer = _Streamer(self._send, self._options.update_interval)

    def sources_found(self, sources: list[Source]) -> None:
        """Show the pages: in the status while streaming, in the message otherwise."""
        with self._lock:
            self._found[:] = sources
            streaming_not_begun = self._mode == "stream" and self._ts is None
        if streaming_not_begun:
            reading = reading_text(sources)
            self._status(reading, (reading, WRITING))
        elif self._streamer is not None:
            self._streamer.feed("")

    def token(self, text: str) -> None:
        """Queue the text for the next stream append or message update."""
        if self._streamer is not None:
            self._streamer.feed(text)

    def finished(self, answer: Answer, elapsed: float) -> None:
        """Stop the stream with the sources under it, or write the final message(s)."""
        last_sent = self._close_streamer()
        extras = self._options.final_blocks(self._job, answer)
        if self._finish_stream(answer, elapsed, extras):
            self._done()
            return
        self._end_stream()
        messages = render_answer(
            answer,
            docs_base_url=self._options.docs_base_url,
            freshness=self._freshness(),
            elapsed=elapsed,
            extra_blocks=extras,
        )
        job = self._job
        # Keep the last partial update and the final one an interval apart (Slack's rate limit).
        self._abort.wait(max(0.0, last_sent + self._options.update_interval - time.monotonic()))
        metadata = answer_metadata(job.ts)
        self._posting()
        ts = self._retry(
            lambda: self._replies.show(job.channel, job.thread_ts, self._ts, messages[0], metadata)
        )
        self._record(ts)
        for message in messages[1:]:
            self._retry(functools.partial(self._replies.post, job.channel, job.thread_ts, message))
        self._done()

    def notice(self, text: str) -> None:
        """Show `text` as the reply (no answer is written), in the message the job already has if any."""
        job = self._job
        message = render_notice(text)
        self._posting()
        ts = self._retry(
            lambda: self._replies.show(job.channel, job.thread_ts, self._ts, message, answer_metadata(job.ts))
        )
        self._record(ts)
        self._done()

    def failed(self, error_id: str) -> None:
        """Replace whatever is shown with an apology naming `error_id`."""
        self._close_streamer()
        job = self._job
        self._end_stream()
        apology = render_apology(error_id)
        self._posting()
        self._retry(lambda: self._replies.show(job.channel, job.thread_ts, self._ts, apology))
        self._done()

    def interrupted(self, partial: str) -> None:
        """Say in the thread that the answer continues after the restart (one try: the bot is stopping)."""
        self._close_streamer(INTERRUPT_WAIT_SECONDS)
        job = self._job
        if not self._lock.acquire(timeout=INTERRUPT_WAIT_SECONDS):
            logger.warning("answer not marked interrupted job=%d: a Slack call is still in flight", job.id)
            return
        try:
            self._end_stream(retry=False)
            message = render_interrupted(partial)
            self._posting()
            if self._ts is None:
                self._record(self._replies.post(job.channel, job.thread_ts, message, answer_metadata(job.ts)))
            else:
                self._replies.update(job.channel, self._ts, message, answer_metadata(job.ts))
        except Exception as exc:
            logger.warning("could not mark answer interrupted job=%d error=%s", job.id, slack_error(exc))
        finally:
            self._lock.release()
        self._done()

    # --- streaming ----------------------------------------------------------------------------

    def _send(self, text: str) -> None:
        """The streamer's call: append to the stream, or rewrite the message (from the streamer thread)."""
        with self._lock:
            if self._mode == "stream":
                self._stream_send(text)
            else:
                self._update_send(text)

    def _stream_send(self, text: str) -> None:
        job = self._job
        converted = markdown_text(text)
        new = converted[len(self._sent) :]
        if not new.strip() and not self._streaming:
            return  # nothing to show yet: the status says what is happening
        if not self._streaming:
            if len(converted) > MARKDOWN_LIMIT:
                self._switch_to_update(text, "too_long")
                return
            self._posting()
            try:
                ts = self._replies.start_stream(
                    job.channel, job.thread_ts, converted, user=job.user, team=self._replies.team_id()
                )
            except Exception as exc:
                refusal = _stream_refusal(exc)
                if refusal is None:
                    raise  # passing trouble: the next update tries again
                if refusal in STREAMS_UNAVAILABLE:
                    self._deliveries.refuse_streams(refusal)
                self._switch_to_update(text, refusal)
                return
            self._streaming, self._stream_started, self._sent = True, time.monotonic(), converted
            self._record(ts)
            logger.info("stream started job=%d", job.id)
            return
        if not new:
            return
        too_old = time.monotonic() - self._stream_started > self._options.stream_max_seconds
        if too_old or len(converted) > MARKDOWN_LIMIT:
            self._switch_to_update(text, "lifetime" if too_old else "too_long")
            return
        assert self._ts is not None
        try:
            self._replies.append_stream(job.channel, self._ts, new)
        except SlackApiError as exc:
            if slack_error(exc) != CLOSED_STREAM:
                raise
            self._streaming = False  # Slack closed it: finish the same message with chat.update
            self._switch_to_update(text, CLOSED_STREAM)
            return
        self._sent = converted

    def _switch_to_update(self, text: str, why: str) -> None:
        """Go on with chat.update in the stream's message (or a new one if none was started)."""
        logger.info("stream falls back to chat.update job=%d reason=%s", self._job.id, why)
        self._end_stream(retry=False)
        self._mode = "update"
        self._update_send(text)

    def _update_send(self, text: str) -> None:
        job = self._job
        shown = render_partial(
            text,
            time.monotonic() - self._started,
            self._found,
            docs_base_url=self._options.docs_base_url,
        )
        if self._ts is None:
            self._posting()
            ts = self._replies.show(job.channel, job.thread_ts, None, shown, answer_metadata(job.ts))
            self._record(ts)
        else:
            self._replies.update(job.channel, self._ts, shown)

    def _finish_stream(self, answer: Answer, elapsed: float, extras: list[dict[str, Any]]) -> bool:
        """Stop the open stream with the blocks under it; False when the update path must finish it."""
        with self._lock:
            if self._mode != "stream" or not self._streaming or self._ts is None:
                return False
            streamed = markdown_text(self._streamer_text())
            final = markdown_text(answer.text.strip())
            blocks = stream_end_blocks(
                answer,
                docs_base_url=self._options.docs_base_url,
                freshness=self._freshness(),
                elapsed=elapsed,
                extra_blocks=extras,
            )
            fits = len(blocks) < MAX_BLOCKS and len(streamed) <= MARKDOWN_LIMIT
            same = streamed.split() == final.split()
            if answer.mode != "llm" or not same or not fits:
                logger.info("stream replaced by the final message job=%d", self._job.id)
                return False
            rest = streamed[len(self._sent) :]
            ts, job = self._ts, self._job
            try:
                self._retry(
                    lambda: self._replies.stop_stream(
                        job.channel, ts, markdown=rest, blocks=blocks, metadata=answer_metadata(job.ts)
                    )
                )
            except SlackApiError as exc:
                error = slack_error(exc)
                logger.info("stream not stopped job=%d error=%s; finishing with chat.update", job.id, error)
                return False
            self._streaming = False
            logger.info("stream stopped job=%d chars=%d blocks=%d", job.id, len(streamed), len(blocks))
            return True

    def _end_stream(self, *, retry: bool = True) -> None:
        """Close an open stream as it is, so chat.update can take over the message."""
        with self._lock:
            if not self._streaming or self._ts is None:
                return
            ts, channel = self._ts, self._job.channel
            self._streaming = False
        try:
            if retry:
                self._retry(lambda: self._replies.end_stream(channel, ts))
            else:
                self._replies.end_stream(channel, ts)
        except SlackApiError as exc:
            logger.warning("stream not ended job=%d error=%s", self._job.id, slack_error(exc))

    # --- helpers ------------------------------------------------------------------------------

    def _streamer_text(self) -> str:
        return self._streamer.text if self._streamer is not None else ""

    def _close_streamer(self, timeout: float | None = None) -> float:
        return self._streamer.close(timeout) if self._streamer is not None else float("-inf")

    def _record(self, ts: str) -> None:
        if ts != self._ts:
            self._ts = ts
            self._on_reply(ts)

    def _status(self, text: str, loading: tuple[str, ...]) -> None:
        status = self._options.status
        if status is not None:
            status.working(StatusLine(self._job.channel, self._job.thread_ts, text, loading))

    def _posting(self) -> None:
        if self._options.status is not None:
            self._options.status.posting(self._job.channel, self._job.thread_ts)

    def _done(self) -> None:
        if self._options.status is not None:
            self._options.status.done(self._job.channel, self._job.thread_ts)

    def _freshness(self) -> str | None:
        try:
            return self._options.freshness()
        except Exception:
            logger.exception("index status failed")
            return None

    def _left_behind(self) -> str | None:
        """For a job revived after a crash with no reply recorded: the message it may have posted or
        started streaming just before the crash, so the answer goes there, not in a second message. A
        failed look-up only costs that second message."""
        job = self._job
        if not job.revived:
            return None
        try:
            found = self._retry(lambda: self._replies.find_answer(job.channel, job.thread_ts, job.ts))
        except Exception as exc:
            logger.warning("could not look for an earlier reply job=%d error=%s", job.id, slack_error(exc))
            return None
        logger.info("revived job=%d earlier_reply_found=%s", job.id, found is not None)
        return found

    def _retry(self, call: Callable[[], _T]) -> _T:
        """Run a Slack call, retrying transient failures until it works or the worker must stop."""
        backoff = self._options.retry_backoff
        attempt = 0
        while True:
            try:
                return call()
            except Exception as exc:
                if not is_transient(exc) or self._abort.is_set():
                    raise
                delay = backoff[min(attempt, len(backoff) - 1)]
                logger.warning("slack call failed error=%s retry_in=%.0fs", slack_error(exc), delay)
                attempt += 1
                if self._abort.wait(delay):
                    raise AnswerInterrupted() from exc
