"""The re-index state the bot writes beside the index (reindex.json), and reading it back.

Kept apart from the scheduler so that `docbot status` reads it without importing the indexing stack.
"""

from __future__ import annotations

import json
import logging
import os
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from vectorstore.status import FailedFile

logger = logging.getLogger(__name__)

STATE_FILE = "reindex.json"


@dataclass(frozen=True)
class RunRecord:
    """One finished re-index run."""

    started_at: float  # epoch seconds
    finished_at: float
    result: str  # one line for people
    changed: bool
    report: dict[str, Any] | None = None
    error: str | None = None


@dataclass(frozen=True)
class ScheduleState:
    """What the scheduler did last and will do next (epoch seconds; None = not known / not scheduled)."""

    interval_minutes: float
    last_run: RunRecord | None
    next_run: float | None
    running_since: float | None
    runs: int
    pid: int

    def to_dict(self) -> dict[str, Any]:
        """The JSON shape written to reindex.json and printed by `docbot status --json`."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ScheduleState:
        """Read back what to_dict wrote."""
        last = data.get("last_run")
        return cls(
            interval_minutes=float(data.get("interval_minutes", 0.0)),
            last_run=RunRecord(**last) if isinstance(last, dict) else None,
            next_run=data.get("next_run"),
            running_since=data.get("running_since"),
            runs=int(data.get("runs", 0)),
            pid=int(data.get("pid", 0)),
        )

    def last_failures(self) -> list[FailedFile]:
        """The files the last run could not index, with their reasons (from its report)."""
        report = self.last_run.report if self.last_run is not None else None
        failed = (report or {}).get("failed") or []
        rows = [f for f in failed if isinstance(f, dict)]
        return [FailedFile(str(f.get("file", "")), str(f.get("reason", ""))) for f in rows]

    def summary(self, now: float | None = None) -> dict[str, str]:
        """{"last_run", "next_run", "last_result"} as short texts for people."""
        now = time.time() if now is None else now
        last = self.last_run
        if self.running_since is not None:
            last_run = f"running since {format_time(self.running_since, now)}"
        else:
            last_run = format_time(last.finished_at, now) if last else "never"
        next_run = format_time(self.next_run, now) if self.next_run is not None else "not scheduled"
        return {
            "last_run": last_run,
            "next_run": next_run,
            "last_result": last.result if last else "no run yet",
        }


def format_time(at: float, now: float) -> str:
    """Like "14:03:12 (2 min ago)" or "14:08:12 (in 3 min)"."""
    clock = time.strftime("%H:%M:%S", time.localtime(at))
    delta = at - now
    if abs(delta) < 1:
        return f"{clock} (now)"
    span = _span(abs(delta))
    return f"{clock} (in {span})" if delta > 0 else f"{clock} ({span} ago)"


def _span(seconds: float) -> str:
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


def read_state(index_dir: Path) -> ScheduleState | None:
    """The state the bot last wrote beside the index, or None when there is none (or it is unreadable)."""
    path = Path(index_dir) / STATE_FILE
    try:
        return ScheduleState.from_dict(json.loads(path.read_text(encoding="utf-8")))
    except FileNotFoundError:
        return None
    except (OSError, ValueError, TypeError) as exc:
        logger.warning("unreadable schedule state path=%s error=%s", path, exc)
        return None


def process_alive(pid: int) -> bool:
    """True when a process with this id exists (the bot that wrote the state may have stopped)."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
