"""The status line under a question's thread (assistant.threads.setStatus), kept fresh while it waits.

Slack shows the status until the app posts in the thread, or for 2 minutes; the board sends each line
again every `refresh_seconds`. Where Slack refuses the method (an old workspace, a missing scope, a
channel that does not allow it) the board says so and callers fall back to a message.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.answer import Source, display_name
from bot.queue import QuestionQueue
from bot.slack.render import escape
from bot.slack.thread import is_transient, slack_error

logger = logging.getLogger(__name__)

DEFAULT_REFRESH_SECONDS = 60.0
MAX_LOADING_MESSAGES = 10
MIN_RESEND_SECONDS = 5.0  # a long queue moving fast must not cost a call per thread per answer
NAME_CHARS = 40
# Refusals that mean the method will not work anywhere in this workspace.
UNAVAILABLE_EVERYWHERE = frozenset(
    {"unknown_method", "missing_scope", "not_allowed_token_type", "method_deprecated", "no_permission"}
)

Thread = tuple[str, str]  # (channel, thread_ts)


@dataclass(frozen=True)
class StatusLine:
    """What one thread shows: the status and the loading messages Slack rotates through."""

    channel: str
    thread_ts: str
    status: str
    loading_messages: tuple[str, ...] = ()


def about(seconds: float) -> str:
    """Like "about 40 s" or "about 3 min"."""
    if seconds < 60:
        return f"about {max(5, math.ceil(seconds / 5) * 5)} s"
    return f"about {math.ceil(seconds / 60)} min"


def queued_text(ahead: int, seconds: float) -> str:
    """Like "Queued — 2 ahead, about 40 s"."""
    return f"Queued — {ahead} ahead, {about(seconds)}"


def _short_name(file: str) -> str:
    name = escape(display_name(file)).rsplit("/", 1)[-1]
    name = name[:-4] if name.lower().endswith(".pdf") else name
    return name if len(name) <= NAME_CHARS else name[: NAME_CHARS - 1] + "…"


def reading_text(sources: Sequence[Source]) -> str:
    """Like "Reading manu-20f p. 53 and 3 more pages…" (the best page first)."""
    if not sources:
        return "Found no matching page; writing what I can…"
    best = sources[0]
    pages = {(s.file, s.page) for s in sources}
    more = len(pages) - 1
    rest = f" and {more} more page{'s' if more != 1 else ''}" if more else ""
    return f"Reading {_short_name(best.file)} p. {best.page}{rest}…"


def queued_lines(queue: QuestionQueue, estimate_seconds: Callable[[int], float]) -> list[StatusLine]:
    """The queued status of every waiting question, in queue order (one line per thread: the first)."""
    snapshot = queue.snapshot()
    lines: list[StatusLine] = []
    seen: set[Thread] = set()
    for position, job in enumerate(queue.pending_jobs(), start=1):
        if (job.channel, job.thread_ts) in seen:
            continue
        seen.add((job.channel, job.thread_ts))
        ahead = position - 1 + (snapshot.active is not None)
        text = queued_text(ahead, estimate_seconds(position))
        lines.append(StatusLine(job.channel, job.thread_ts, text, (text,)))
    return lines


class StatusBoard:
    """Sets, refreshes and forgets thread statuses; one refresh thread.

    Give it a client without the rate-limit retry handler: a 429 then makes the board quiet for
    Retry-After instead of holding up the deliveries waiting in posting()."""

    def __init__(
        self,
        client: WebClient,
        *,
        refresh_seconds: float = DEFAULT_REFRESH_SECONDS,
        waiting: Callable[[], list[StatusLine]] | None = None,
        enabled: bool = True,
    ) -> None:
        self._client = client
        self._refresh = refresh_seconds
        self._min_gap = min(MIN_RESEND_SECONDS, refresh_seconds / 4)  # a thread's changed line, at most
        self._waiting = waiting
        self._enabled = enabled
        self._lock = threading.Lock()
        self._sending = threading.Lock()  # held around each setStatus call
        self._wake = threading.Condition(self._lock)
        self._poked = False
        self._stopping = False
        self._refused: set[str] = set()  # channels where Slack refused the method
        self._quiet_until = 0.0  # after a 429: no calls until Retry-After has passed
        self._active: dict[
            Thread, StatusLine | None
        ] = {}  # answers in progress: their line, or None once posted
        self._sent: dict[Thread, tuple[StatusLine, float]] = {}
        self._thread = threading.Thread(target=self._run, name="docbot-status", daemon=True)

    # --- what callers say ---------------------------------------------------------------------

    def available(self, channel: str) -> bool:
        """False when statuses are off or Slack refused them (everywhere, or in this channel)."""
        with self._lock:
            return self._enabled and channel not in self._refused and "*" not in self._refused

    def show_queued(self, line: StatusLine) -> bool:
        """Show a just-queued question's status now; False where statuses are unavailable (the caller
        then says it in a message)."""
        return self._send(line, active=False)

    def working(self, line: StatusLine) -> bool:
        """The answer in this thread is being worked on: show `line` and keep it fresh until posting()."""
        with self._lock:
            self._active[(line.channel, line.thread_ts)] = line
        return self._send(line, active=True)

    def posting(self, channel: str, thread_ts: str) -> None:
        """The bot is about to post in the thread (which clears its status at Slack): no status is sent
        there from now on until done(), and none still in flight can land after the post."""
        with self._sending, self._lock:
            self._active[(channel, thread_ts)] = None
            self._sent.pop((channel, thread_ts), None)

    def done(self, channel: str, thread_ts: str) -> None:
        """The answer in this thread is finished (or failed): queue lines may show there again."""
        with self._sending, self._lock:
            self._active.pop((channel, thread_ts), None)
        self.poke()

    def poke(self) -> None:
        """Recompute the queued lines now (the queue moved)."""
        with self._wake:
            self._poked = True
            self._wake.notify()

    # --- the refresh thread -------------------------------------------------------------------

    def start(self) -> None:
        """Start refreshing."""
        if self._enabled:
            self._thread.start()

    def stop(self) -> None:
        """Stop refreshing (statuses already shown expire by themselves)."""
        with self._wake:
            self._stopping = True
            self._wake.notify()
        if self._thread.is_alive():
            self._thread.join(5)

    def _run(self) -> None:
        while True:
            with self._wake:
                if not self._poked and not self._stopping:
                    self._wake.wait(self._refresh / 2)
                if self._stopping:
                    return
                poked, self._poked = self._poked, False
            try:
                self.refresh(changed=poked)
            except Exception:
                logger.exception("status refresh failed")

    def refresh(self, *, changed: bool = True) -> None:
        """Send every line never sent or sent over half of refresh_seconds ago (so none is older than
        refresh_seconds at Slack), and with `changed` (the queue moved) every line whose text changed.
        Estimates alone do not cause a call: they are updated with the next refresh."""
        waiting = self._waiting() if self._waiting is not None else []
        now = time.monotonic()
        with self._lock:
            lines = [(line, True) for line in self._active.values() if line is not None]
            lines += [(w, False) for w in waiting if (w.channel, w.thread_ts) not in self._active]
            due = [
                (line, active)
                for line, active in lines
                if (sent := self._sent.get((line.channel, line.thread_ts))) is None
                or (changed and sent[0] != line and now - sent[1] >= self._min_gap)
                or now - sent[1] >= self._refresh / 2
            ]
        for line, active in due:
            if self._stopping:
                return
            self._send(line, active=active)

    def _current(self, line: StatusLine, active: bool) -> bool:
        """Still worth sending: the thread's answer line (active), or a queue line in a thread with no
        answer in progress."""
        key = (line.channel, line.thread_ts)
        return self._active.get(key) == line if active else key not in self._active

    def _send(self, line: StatusLine, *, active: bool) -> bool:
        with self._sending:
            if not self.available(line.channel) or time.monotonic() < self._quiet_until:
                return False
            with self._lock:
                if not self._current(line, active):
                    return True  # the answer is (being) posted there; a late line must not cover it
            return self._call(line)

    def _call(self, line: StatusLine) -> bool:
        try:
            self._client.assistant_threads_setStatus(
                channel_id=line.channel,
                thread_ts=line.thread_ts,
                status=line.status,
                loading_messages=list(line.loading_messages[:MAX_LOADING_MESSAGES]) or None,
            )
        except SlackApiError as exc:
            error = slack_error(exc)
            if is_transient(exc):
                if error == "ratelimited" or exc.response.status_code == 429:
                    wait = float(exc.response.headers.get("Retry-After", 1) or 1)
                    with self._lock:
                        self._quiet_until = time.monotonic() + wait
                logger.warning("status not set channel=%s error=%s", line.channel, error)
                return False
            with self._lock:
                self._refused.add("*" if error in UNAVAILABLE_EVERYWHERE else line.channel)
            logger.info("thread status unavailable channel=%s error=%s", line.channel, error)
            return False
        except OSError as exc:
            logger.warning("status not set channel=%s error=%s", line.channel, type(exc).__name__)
            return False
        with self._lock:
            self._sent[(line.channel, line.thread_ts)] = (line, time.monotonic())
        return True
