"""One lock for the CPU: an answer holds it throughout, the indexer per small step, and questions go first.

Embedding (torch) and generation (llama.cpp) running together on the same few cores slow each other down
by orders of magnitude, so they take turns. The worker holds the gate for a whole answer; the indexer takes
it for one embedding batch (or one PDF page) at a time and never while a question is waiting for it. A huge
page is extracted in a child process that polls its Turn and is stopped while a question waits.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

logger = logging.getLogger(__name__)


class Cancelled(Exception):
    """The indexer was asked to stop while it waited for (or between) its turns."""


@dataclass(frozen=True)
class Turn:
    """The indexer's current turn on the gate: a long step (a huge page's extraction in a child process)
    polls it to give the CPU back to a question, or to stop."""

    gate: CpuGate
    cancel: threading.Event | None = None

    def question_waiting(self) -> bool:
        """True while a question waits for the CPU this turn holds."""
        return self.gate.question_waiting()

    def cancelled(self) -> bool:
        """True once the indexer was asked to stop."""
        return self.cancel is not None and self.cancel.is_set()


@dataclass(frozen=True)
class GateStats:
    """How long questions and indexer steps have waited for the CPU (seconds)."""

    questions: int
    question_wait_max: float
    question_wait_last: float
    steps: int
    step_wait_total: float


class CpuGate:
    """A lock with two kinds of holder: questions (always served first) and indexer steps."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._busy = False
        self._questions_waiting = 0
        self._questions = 0
        self._question_wait_max = 0.0
        self._question_wait_last = 0.0
        self._steps = 0
        self._step_wait_total = 0.0

    @contextmanager
    def question(self) -> Iterator[float]:
        """Hold the CPU for a whole answer; yields the seconds spent waiting for it."""
        started = time.monotonic()
        with self._cond:
            self._questions_waiting += 1
            try:
                while self._busy:
                    self._cond.wait()
            finally:
                self._questions_waiting -= 1
            self._busy = True
            waited = time.monotonic() - started
            self._questions += 1
            self._question_wait_last = waited
            self._question_wait_max = max(self._question_wait_max, waited)
        if waited > 0.05:
            logger.info("cpu_gate question_waited=%.3fs", waited)
        try:
            yield waited
        finally:
            self._release()

    @contextmanager
    def step(self, cancel: threading.Event | None = None) -> Iterator[Turn]:
        """Hold the CPU for one small indexing step, after every waiting question; raises Cancelled when
        `cancel` is set (check it again after a wake()). Yields the Turn, for steps that can pause."""
        started = time.monotonic()
        with self._cond:
            while self._busy or self._questions_waiting:
                if cancel is not None and cancel.is_set():
                    raise Cancelled()
                self._cond.wait()
            if cancel is not None and cancel.is_set():
                raise Cancelled()
            self._busy = True
            self._steps += 1
            self._step_wait_total += time.monotonic() - started
        try:
            yield Turn(self, cancel)
        finally:
            self._release()

    def question_waiting(self) -> bool:
        """True while a question waits for the CPU."""
        with self._cond:
            return self._questions_waiting > 0

    def wake(self) -> None:
        """Wake every waiter so that one whose cancel event was set can give up."""
        with self._cond:
            self._cond.notify_all()

    def stats(self) -> GateStats:
        """Waiting times so far."""
        with self._cond:
            return GateStats(
                self._questions,
                self._question_wait_max,
                self._question_wait_last,
                self._steps,
                self._step_wait_total,
            )

    def _release(self) -> None:
        with self._cond:
            self._busy = False
            self._cond.notify_all()
