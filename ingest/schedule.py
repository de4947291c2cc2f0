"""Re-index the watched folder at start and every few minutes (APScheduler 3.x), one run at a time.

The last run's outcome is written beside the index (reindex.json, see ingest.schedule_state) so that
`docbot status`, a separate process, can show it.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import threading
import time
from collections.abc import Callable
from pathlib import Path

from ingest.cpu_gate import CpuGate
from ingest.schedule_state import (
    STATE_FILE,
    RunRecord,
    ScheduleState,
    format_time,
    process_alive,
    read_state,
)
from ingest.sync import SyncReport
from vectorstore.status import FailedFile

__all__ = [
    "STATE_FILE",
    "ReindexScheduler",
    "RunRecord",
    "ScheduleState",
    "format_time",
    "process_alive",
    "read_state",
]

logger = logging.getLogger(__name__)

JOB_ID = "reindex"
MIN_MISFIRE_GRACE_SECONDS = 30
STOP_TIMEOUT_SECONDS = 60.0

SyncFn = Callable[[threading.Event], SyncReport]
"""sync(cancel) -> report: one re-index of the folder; it stops early once `cancel` is set."""
ReportListener = Callable[[SyncReport], None]


class _QuietSkips(logging.Filter):
    """A run still going when the next one is due is normal here (max_instances=1): not a warning."""

    def filter(self, record: logging.LogRecord) -> bool:
        if "maximum number of running instances reached" in str(record.msg):
            logger.debug("reindex tick skipped: the previous run is still going")
            return False
        return True


_QUIET_SKIPS = _QuietSkips()


class ReindexScheduler:
    """Runs `sync` at start and every `interval_minutes`: coalesced, one at a time, with misfire grace."""

    def __init__(
        self,
        sync: SyncFn,
        *,
        interval_minutes: float,
        state_dir: Path | None = None,
        data_dir: Path | None = None,
        cpu_gate: CpuGate | None = None,
        misfire_grace_seconds: int | None = None,
    ) -> None:
        from apscheduler.executors.pool import ThreadPoolExecutor
        from apscheduler.schedulers.background import BackgroundScheduler

        self._sync = sync
        self.interval_minutes = interval_minutes
        self._state_path = Path(state_dir) / STATE_FILE if state_dir is not None else None
        self._data_dir = data_dir
        self._gate = cpu_gate
        interval = interval_minutes * 60
        grace = misfire_grace_seconds or max(MIN_MISFIRE_GRACE_SECONDS, round(interval))
        self._scheduler = BackgroundScheduler(
            executors={"default": ThreadPoolExecutor(1)},
            job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": grace},
            timezone=dt.UTC,
        )
        aps_logger = logging.getLogger("apscheduler.scheduler")
        if _QUIET_SKIPS not in aps_logger.filters:
            aps_logger.addFilter(_QUIET_SKIPS)
        self._cancel = threading.Event()
        self._cond = threading.Condition()
        self._save_lock = threading.Lock()
        self._final_saved = False  # after stop() has written the state, a late writer must not undo it
        self._listeners: list[ReportListener] = []
        self._last: RunRecord | None = None
        self._running_since: float | None = None
        self._runs = 0
        self._done = 0  # runs whose listeners have been told and whose state is saved
        self._requested = 0  # run_now() tickets handed out
        self._served = 0  # tickets covered by a run that has finished

    # --- lifecycle ------------------------------------------------------------------------------

    def add_listener(self, listener: ReportListener) -> None:
        """Call `listener(report)` after each run (from the scheduler's thread)."""
        self._listeners.append(listener)

    def start(self) -> None:
        """Run once now, then every interval."""
        from apscheduler.triggers.interval import IntervalTrigger

        self._scheduler.add_job(
            self._run,
            IntervalTrigger(seconds=self.interval_minutes * 60, timezone=dt.UTC),
            id=JOB_ID,
            name="re-index the data dir",
            next_run_time=dt.datetime.now(dt.UTC),
        )
        self._scheduler.start()
        logger.info("reindex scheduled every_minutes=%g", self.interval_minutes)
        self._save()

    def stop(self, timeout: float = STOP_TIMEOUT_SECONDS) -> bool:
        """Stop scheduling; a run in progress stops at its next step. True when it ended within timeout."""
        self._cancel.set()
        if self._gate is not None:
            self._gate.wake()
        if not self._scheduler.running:
            return True
        self._scheduler.shutdown(wait=False)
        stopped = self._wait(lambda: self._running_since is None, timeout)
        self._save(scheduled=False)
        logger.info("reindex stopped run_finished=%s", stopped)
        return stopped

    # --- asking for runs ------------------------------------------------------------------------

    def run_now(self) -> int:
        """Ask for a run as soon as possible; returns a ticket for wait_for()."""
        with self._cond:
            self._requested += 1
            ticket = self._requested
            running = self._running_since is not None
        if not running and self._scheduler.running:  # a run in progress serves the ticket after itself
            job = self._scheduler.get_job(JOB_ID)
            if job is not None:
                job.modify(next_run_time=dt.datetime.now(dt.UTC))
        return ticket

    def wait_for(self, ticket: int, timeout: float | None = None) -> bool:
        """Wait until a run asked for with run_now() has finished."""
        return self._wait(lambda: self._served >= ticket, timeout)

    def wait_for_runs(self, count: int, timeout: float | None = None) -> bool:
        """Wait until `count` runs have finished since start."""
        return self._wait(lambda: self._done >= count, timeout)

    def _wait(self, done: Callable[[], bool], timeout: float | None) -> bool:
        with self._cond:
            return self._cond.wait_for(done, timeout)

    # --- state ----------------------------------------------------------------------------------

    @property
    def runs(self) -> int:
        """Runs finished since start."""
        with self._cond:
            return self._done

    def state(self) -> ScheduleState:
        """Last run, next run, run in progress."""
        with self._cond:
            return ScheduleState(
                self.interval_minutes,
                self._last,
                self._next_run(),
                self._running_since,
                self._runs,
                os.getpid(),
            )

    def status(self) -> dict[str, str]:
        """{"last_run", "next_run", "last_result"} for the Slack and console status texts."""
        return self.state().summary()

    def failures(self) -> list[FailedFile]:
        """The files the last run could not index, with reasons, for the status texts."""
        return self.state().last_failures()

    def _next_run(self) -> float | None:
        if not self._scheduler.running or self._cancel.is_set():
            return None
        job = self._scheduler.get_job(JOB_ID)
        when = job.next_run_time if job is not None else None
        return when.timestamp() if when is not None else None

    def _save(self, *, scheduled: bool = True) -> None:
        if self._state_path is None:
            return
        with self._save_lock:
            if self._final_saved:
                return
            data = self.state().to_dict()
            if not scheduled:
                data["next_run"] = None
                self._final_saved = True
            tmp = self._state_path.with_suffix(".tmp")
            try:
                self._state_path.parent.mkdir(parents=True, exist_ok=True)
                tmp.write_text(json.dumps(data), encoding="utf-8")
                os.replace(tmp, self._state_path)
            except OSError as exc:
                logger.warning("could not save schedule state path=%s error=%s", self._state_path, exc)

    # --- the job --------------------------------------------------------------------------------

    def _run(self) -> None:
        while not self._cancel.is_set():
            with self._cond:
                ticket = self._requested
                self._running_since = time.time()
            self._save()
            record, report = self._sync_once()
            if report is not None:
                self._tell(report)  # before the run counts as done: waiters see its notices sent
            with self._cond:
                self._last = record
                self._running_since = None
                self._runs += 1
            self._save()  # before waiters are woken: `docbot status` then shows this run
            with self._cond:
                self._done = self._runs
                self._served = max(self._served, ticket)
                again = self._requested > self._served and not self._cancel.is_set()
                self._cond.notify_all()
            if not again:
                return

    def _sync_once(self) -> tuple[RunRecord, SyncReport | None]:
        started = time.time()
        if self._data_dir is not None and not Path(self._data_dir).is_dir():
            # An unmounted share must not look like every file was deleted.
            message = f"skipped: data dir {self._data_dir} is missing"
            logger.warning("reindex %s", message)
            return RunRecord(started, time.time(), message, False, None, message), None
        try:
            report = self._sync(self._cancel)
        except Exception as exc:  # the next run tries again; the bot goes on answering
            logger.exception("reindex failed")
            error = f"{type(exc).__name__}: {exc}"
            return RunRecord(started, time.time(), f"failed: {error}", False, None, error), None
        result = report.summary().splitlines()[0]
        return RunRecord(started, time.time(), result, report.changed, report.to_dict()), report

    def _tell(self, report: SyncReport) -> None:
        for listener in list(self._listeners):
            try:
                listener(report)
            except Exception:
                logger.exception("reindex listener failed")
