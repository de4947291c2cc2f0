"""Durable FIFO of questions in SQLite beside the index, with dedupe, limits, positions and thread history."""

from __future__ import annotations

import logging
import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Literal

from bot.answer import Turn

logger = logging.getLogger(__name__)

QUEUE_FILE = "queue.sqlite3"
SEEN_KEEP_SECONDS = 7 * 86400
TURNS_KEEP_SECONDS = 90 * 86400
HISTORY_TURNS = 6
RECENT_DURATIONS = 10
CHECKPOINT_SECONDS = 2.0

Outcome = Literal["queued", "duplicate", "full", "user_full"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS jobs (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    event_id TEXT NOT NULL,
    channel TEXT NOT NULL,
    ts TEXT NOT NULL,
    thread_ts TEXT NOT NULL,
    user TEXT NOT NULL,
    question TEXT NOT NULL,
    state TEXT NOT NULL DEFAULT 'pending',
    created_at REAL NOT NULL,
    started_at REAL,
    finished_at REAL,
    reply_ts TEXT,
    error_id TEXT,
    revived INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS jobs_state ON jobs(state, id);
CREATE INDEX IF NOT EXISTS jobs_thread ON jobs(channel, ts);
CREATE TABLE IF NOT EXISTS seen (key TEXT PRIMARY KEY, at REAL NOT NULL);
CREATE TABLE IF NOT EXISTS turns (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    channel TEXT NOT NULL,
    thread_ts TEXT NOT NULL,
    question TEXT NOT NULL,
    answer TEXT NOT NULL,
    at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS turns_thread ON turns(channel, thread_ts, id);
"""

_JOB_COLUMNS = (
    "id, event_id, channel, ts, thread_ts, user, question, created_at, started_at, reply_ts, revived"
)


@dataclass(frozen=True)
class Job:
    """One accepted question; the answer goes into the thread `thread_ts` of `channel`."""

    id: int
    event_id: str
    channel: str
    ts: str
    thread_ts: str
    user: str
    question: str
    created_at: float
    started_at: float | None = None
    reply_ts: str | None = None
    # True once the job was being answered when the process died: its reply may exist without a reply_ts.
    revived: bool = False


@dataclass(frozen=True)
class Enqueued:
    """What happened to a question offered to the queue; position 1 means answered next."""

    outcome: Outcome
    job: Job | None = None
    position: int = 0
    busy: bool = False


@dataclass(frozen=True)
class QueueSnapshot:
    """The queue at one moment, for status replies and wait estimates."""

    pending: int
    active: Job | None


def _row_job(row: tuple[Any, ...]) -> Job:
    return Job(
        id=int(row[0]),
        event_id=str(row[1]),
        channel=str(row[2]),
        ts=str(row[3]),
        thread_ts=str(row[4]),
        user=str(row[5]),
        question=str(row[6]),
        created_at=float(row[7]),
        started_at=None if row[8] is None else float(row[8]),
        reply_ts=None if row[9] is None else str(row[9]),
        revived=bool(row[10]),
    )


class QuestionQueue:
    """Questions waiting for the one worker; safe to share between threads."""

    def __init__(
        self, path: Path, *, max_size: int, per_user_max: int, checkpoint_seconds: float = CHECKPOINT_SECONDS
    ) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self.max_size = max_size
        self.per_user_max = per_user_max
        self._db = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None)
        self._lock = threading.RLock()
        self._changed = threading.Condition(self._lock)
        self._closed = False
        self._wakeups = 0
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        # With synchronous=NORMAL a WAL commit does not fsync, but SQLite's automatic checkpoint runs inside
        # the commit that crosses 1,000 pages and fsyncs the database file; on a busy disk that took over a
        # second, and an event is acked only after its commit. Checkpoints run on their own thread instead.
        self._db.execute("PRAGMA wal_autocheckpoint=0")
        self._db.executescript(_SCHEMA)
        self._migrate()
        self._recover()
        self._checkpointer = _Checkpointer(path, checkpoint_seconds) if checkpoint_seconds > 0 else None

    @classmethod
    def beside_index(cls, index_dir: Path, *, max_size: int, per_user_max: int) -> QuestionQueue:
        """Open <index_dir>/queue.sqlite3."""
        return cls(index_dir / QUEUE_FILE, max_size=max_size, per_user_max=per_user_max)

    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            if self._closed:
                raise RuntimeError("queue is closed")
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    def _migrate(self) -> None:
        """Add columns that queues written by older versions lack."""
        columns = {row[1] for row in self._db.execute("PRAGMA table_info(jobs)")}
        if "revived" not in columns:
            self._db.execute("ALTER TABLE jobs ADD COLUMN revived INTEGER NOT NULL DEFAULT 0")

    def _recover(self) -> None:
        now = time.time()
        with self._tx() as db:
            # An answer in progress when the process died is answered again from the start; `revived`
            # tells the worker its placeholder may already be in the thread though no reply_ts was saved.
            revived = db.execute(
                "UPDATE jobs SET state='pending', started_at=NULL, revived=1 WHERE state='active'"
            ).rowcount
            db.execute("DELETE FROM seen WHERE at < ?", (now - SEEN_KEEP_SECONDS,))
            db.execute("DELETE FROM turns WHERE at < ?", (now - TURNS_KEEP_SECONDS,))
            pending = db.execute("SELECT COUNT(*) FROM jobs WHERE state='pending'").fetchone()[0]
        logger.info("queue opened path=%s pending=%d revived=%d", self.path, pending, revived)

    def mark_seen(self, event_id: str, channel: str, ts: str) -> bool:
        """Record an event handled without queueing (refusals, help); False if it was seen before."""
        with self._tx() as db:
            return self._claim(db, event_id, channel, ts)

    @staticmethod
    def _claim(db: sqlite3.Connection, event_id: str, channel: str, ts: str) -> bool:
        keys = [f"m:{channel}:{ts}"] + ([f"e:{event_id}"] if event_id else [])
        marks = ",".join("?" * len(keys))
        if db.execute(f"SELECT 1 FROM seen WHERE key IN ({marks})", keys).fetchone():
            return False
        now = time.time()
        db.executemany("INSERT INTO seen (key, at) VALUES (?, ?)", [(key, now) for key in keys])
        return True

    def enqueue(
        self, *, event_id: str, channel: str, ts: str, thread_ts: str, user: str, question: str
    ) -> Enqueued:
        """Add a question unless it is a duplicate or a limit is hit; the event is marked seen either way."""
        with self._tx() as db:
            if not self._claim(db, event_id, channel, ts):
                return Enqueued("duplicate")
            pending = db.execute("SELECT COUNT(*) FROM jobs WHERE state='pending'").fetchone()[0]
            active = db.execute("SELECT COUNT(*) FROM jobs WHERE state='active'").fetchone()[0]
            if pending >= self.max_size:
                return Enqueued("full", position=pending, busy=True)
            mine = db.execute(
                "SELECT COUNT(*) FROM jobs WHERE user=? AND state IN ('pending','active')", (user,)
            ).fetchone()[0]
            if mine >= self.per_user_max:
                return Enqueued("user_full", position=pending, busy=True)
            now = time.time()
            cursor = db.execute(
                "INSERT INTO jobs (event_id, channel, ts, thread_ts, user, question, created_at)"
                " VALUES (?, ?, ?, ?, ?, ?, ?)",
                (event_id, channel, ts, thread_ts, user, question, now),
            )
            job = Job(int(cursor.lastrowid or 0), event_id, channel, ts, thread_ts, user, question, now)
            self._changed.notify_all()
        position = pending + 1
        return Enqueued("queued", job, position=position, busy=active > 0 or position > 1)

    def take(self, timeout: float | None = None) -> Job | None:
        """The oldest pending job, now marked active; None if none arrived within `timeout` seconds."""
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._changed:
            wakeups = self._wakeups
            while True:
                job = self._take_now()
                if job is not None:
                    return job
                remaining = None if deadline is None else deadline - time.monotonic()
                if (remaining is not None and remaining <= 0) or self._wakeups != wakeups:
                    return None
                self._changed.wait(remaining)

    def _take_now(self) -> Job | None:
        with self._tx() as db:
            row = db.execute(
                f"SELECT {_JOB_COLUMNS} FROM jobs WHERE state='pending' ORDER BY id LIMIT 1"
            ).fetchone()
            if row is None:
                return None
            now = time.time()
            db.execute("UPDATE jobs SET state='active', started_at=? WHERE id=?", (now, row[0]))
        return replace(_row_job(row), started_at=now)

    def wake(self) -> None:
        """Make a thread blocked in take() return None now, so it can notice it should stop."""
        with self._changed:
            self._wakeups += 1
            self._changed.notify_all()

    def set_reply(self, job_id: int, reply_ts: str) -> None:
        """Remember the bot message that shows this job's answer, so a restart updates it."""
        with self._tx() as db:
            db.execute("UPDATE jobs SET reply_ts=? WHERE id=?", (reply_ts, job_id))

    def finish(self, job: Job, answer_text: str) -> None:
        """Mark a job answered and keep the turn for follow-ups in its thread."""
        now = time.time()
        with self._tx() as db:
            db.execute(
                "UPDATE jobs SET state='done', finished_at=? WHERE id=? AND state='active'", (now, job.id)
            )
            db.execute(
                "INSERT INTO turns (channel, thread_ts, question, answer, at) VALUES (?, ?, ?, ?, ?)",
                (job.channel, job.thread_ts, job.question, answer_text, now),
            )

    def fail(self, job: Job, error_id: str) -> None:
        """Mark a job finished with an error (the asker got an apology)."""
        with self._tx() as db:
            db.execute(
                "UPDATE jobs SET state='failed', finished_at=?, error_id=? WHERE id=? AND state='active'",
                (time.time(), error_id, job.id),
            )

    def requeue(self, job: Job) -> bool:
        """Put an interrupted active job back at the head of the line; False if it was no longer active."""
        with self._tx() as db:
            changed = db.execute(
                "UPDATE jobs SET state='pending', started_at=NULL WHERE id=? AND state='active'", (job.id,)
            ).rowcount
            self._changed.notify_all()
        return bool(changed)

    def history(self, channel: str, thread_ts: str, limit: int = HISTORY_TURNS) -> list[Turn]:
        """The thread's latest answered turns, oldest first."""
        with self._lock:
            rows = self._db.execute(
                "SELECT question, answer FROM turns WHERE channel=? AND thread_ts=? ORDER BY id DESC LIMIT ?",
                (channel, thread_ts, limit),
            ).fetchall()
        return [Turn(question=q, answer=a) for q, a in reversed(rows)]

    def is_bot_thread(self, channel: str, thread_ts: str) -> bool:
        """True if the thread was started by a question to the bot."""
        with self._lock:
            found = self._db.execute(
                "SELECT 1 FROM jobs WHERE channel=? AND ts=? AND thread_ts=ts LIMIT 1", (channel, thread_ts)
            ).fetchone()
        return found is not None

    def snapshot(self) -> QueueSnapshot:
        """Pending count and the job being answered."""
        with self._lock:
            pending = self._db.execute("SELECT COUNT(*) FROM jobs WHERE state='pending'").fetchone()[0]
            row = self._db.execute(f"SELECT {_JOB_COLUMNS} FROM jobs WHERE state='active' LIMIT 1").fetchone()
        return QueueSnapshot(pending=int(pending), active=None if row is None else _row_job(row))

    def pending_jobs(self) -> list[Job]:
        """The waiting jobs, next first."""
        with self._lock:
            rows = self._db.execute(
                f"SELECT {_JOB_COLUMNS} FROM jobs WHERE state='pending' ORDER BY id"
            ).fetchall()
        return [_row_job(row) for row in rows]

    def recent_durations(self, limit: int = RECENT_DURATIONS) -> list[float]:
        """Seconds the latest answered jobs took, newest first."""
        with self._lock:
            rows = self._db.execute(
                "SELECT finished_at - started_at FROM jobs WHERE state='done' AND started_at IS NOT NULL"
                " ORDER BY id DESC LIMIT ?",
                (limit,),
            ).fetchall()
        return [float(row[0]) for row in rows if row[0] is not None and row[0] >= 0]

    def checkpoint(self) -> int:
        """Copy committed pages from the write-ahead log into the database file; the pages copied."""
        return _checkpoint(self.path)

    def close(self) -> None:
        """Close the database; later calls raise."""
        if self._checkpointer is not None:
            self._checkpointer.stop()
        with self._lock:
            if not self._closed:
                self._closed = True
                self._db.close()
                self._changed.notify_all()


def _checkpoint(path: Path, db: sqlite3.Connection | None = None) -> int:
    """A passive checkpoint from its own connection: it never blocks the queue's writers."""
    own = db is None
    connection = db or sqlite3.connect(str(path), isolation_level=None)
    try:
        row = connection.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
    finally:
        if own:
            connection.close()
    return max(0, int(row[2])) if row else 0


class _Checkpointer:
    """Checkpoints the queue's write-ahead log every few seconds from a daemon thread."""

    def __init__(self, path: Path, interval: float) -> None:
        self._path = path
        self._interval = interval
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, name="docbot-queue-checkpoint", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        db = sqlite3.connect(str(self._path), isolation_level=None)
        try:
            while not self._stopping.wait(self._interval):
                try:
                    _checkpoint(self._path, db)
                except sqlite3.Error as exc:
                    logger.warning("queue checkpoint failed error=%s", exc)
        finally:
            db.close()

    def stop(self) -> None:
        """End the thread (the last connection to close checkpoints what is left)."""
        self._stopping.set()
        self._thread.join(timeout=10)
