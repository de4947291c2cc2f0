"""👍/👎 on answers in SQLite beside the queue: one vote per person and answer, an optional reason, and
what was answered (question, answer, sources, model, timings) so a vote can be read, listed and exported."""

from __future__ import annotations

import json
import logging
import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from bot.answer import Answer

logger = logging.getLogger(__name__)

FEEDBACK_FILE = "feedback.sqlite3"
SEEN_KEEP_SECONDS = 7 * 86400
MAX_REASON_CHARS = 2000

Vote = Literal["up", "down"]
VoteOutcome = Literal["new", "changed", "same", "redelivered"]
VOTES: tuple[Vote, ...] = ("up", "down")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS answers (
    job_id INTEGER PRIMARY KEY,
    channel TEXT NOT NULL,
    thread_ts TEXT NOT NULL,
    question_ts TEXT NOT NULL,
    asker TEXT NOT NULL,
    question TEXT NOT NULL,
    answer TEXT NOT NULL,
    mode TEXT NOT NULL,
    model TEXT NOT NULL,
    sources TEXT NOT NULL,
    timings TEXT NOT NULL,
    seconds REAL NOT NULL,
    answered_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS votes (
    job_id INTEGER NOT NULL,
    user TEXT NOT NULL,
    vote TEXT NOT NULL CHECK (vote IN ('up', 'down')),
    reason TEXT NOT NULL DEFAULT '',
    channel TEXT NOT NULL DEFAULT '',
    message_ts TEXT NOT NULL DEFAULT '',
    created_at REAL NOT NULL,
    updated_at REAL NOT NULL,
    PRIMARY KEY (job_id, user)
);
CREATE INDEX IF NOT EXISTS votes_by_time ON votes(updated_at);
CREATE TABLE IF NOT EXISTS seen (key TEXT PRIMARY KEY, at REAL NOT NULL);
"""


@dataclass(frozen=True)
class VoteResult:
    """What a click did: a first vote, a changed one, the same vote again, or a redelivered click."""

    outcome: VoteOutcome
    vote: Vote
    has_reason: bool = False


@dataclass(frozen=True)
class FeedbackSummary:
    """Vote counts for status lines."""

    up: int
    down: int
    with_reason: int

    @property
    def votes(self) -> int:
        """All votes."""
        return self.up + self.down

    @property
    def share_up(self) -> float | None:
        """The share of 👍 among all votes (None without votes)."""
        return self.up / self.votes if self.votes else None

    def line(self) -> str:
        """Like "3 👍 · 1 👎 (75% 👍), 1 with a reason"."""
        if not self.votes:
            return "no votes yet"
        share = f"{round(100 * (self.share_up or 0.0))}%"
        reasons = f", {self.with_reason} with a reason" if self.with_reason else ""
        return f"{self.up} 👍 · {self.down} 👎 ({share} 👍){reasons}"


@dataclass(frozen=True)
class FeedbackItem:
    """One person's vote on one answer, with the answer it is about (empty when it was not recorded)."""

    job_id: int
    user: str
    vote: Vote
    reason: str
    at: float
    channel: str
    message_ts: str
    question: str = ""
    answer: str = ""
    mode: str = ""
    model: str = ""
    sources: list[dict[str, Any]] = field(default_factory=list)
    timings: dict[str, Any] = field(default_factory=dict)
    seconds: float | None = None

    def to_dict(self) -> dict[str, Any]:
        """The JSON shape of `docbot feedback --json`."""
        return {
            "job_id": self.job_id,
            "user": self.user,
            "vote": self.vote,
            "reason": self.reason,
            "at": self.at,
            "channel": self.channel,
            "message_ts": self.message_ts,
            "question": self.question,
            "answer": self.answer,
            "mode": self.mode,
            "model": self.model,
            "sources": self.sources,
            "timings": self.timings,
            "seconds": self.seconds,
        }

    def eval_question(self) -> dict[str, Any] | None:
        """This 👎 as a `docbot eval` question (doc and page from the first cited source, to be checked by
        whoever adds it to a set), or None when nothing was cited."""
        if not self.sources or not self.question.strip():
            return None
        doc = str(self.sources[0].get("file", ""))
        pages = [int(s["page"]) for s in self.sources if s.get("file") == doc and int(s.get("page", 0)) >= 1]
        if not doc or not pages:
            return None
        return {
            "question": self.question,
            "doc": doc,
            "page": pages[0],
            "also_on": sorted(set(pages[1:]) - {pages[0]}),
            "feedback": {
                "vote": self.vote,
                "reason": self.reason,
                "answer": self.answer,
                "cited": [f"{s.get('file')} p. {s.get('page')}" for s in self.sources],
                "model": self.model,
                "at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(self.at)),
            },
        }


class FeedbackStore:
    """Votes and the answers they are about, in <index_dir>/feedback.sqlite3; thread-safe."""

    def __init__(self, path: Path, *, model: str = "", prune: bool = False) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self.model = model
        self._db = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None)
        self._lock = threading.RLock()
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.executescript(_SCHEMA)
        if prune:  # only the bot: `docbot feedback` reads and must not need to write
            with self._tx() as db:
                db.execute("DELETE FROM seen WHERE at < ?", (time.time() - SEEN_KEEP_SECONDS,))

    @classmethod
    def beside_index(cls, index_dir: Path, *, model: str = "", prune: bool = False) -> FeedbackStore:
        """Open <index_dir>/feedback.sqlite3 (beside the queue); `prune` forgets week-old click ids."""
        return cls(index_dir / FEEDBACK_FILE, model=model, prune=prune)

    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    def record_answer(
        self,
        *,
        job_id: int,
        channel: str,
        thread_ts: str,
        question_ts: str,
        asker: str,
        answer: Answer,
        seconds: float,
    ) -> None:
        """Keep what was answered for job `job_id` (a re-answered job replaces its earlier record)."""
        model = self.model if answer.mode == "llm" else answer.mode
        with self._tx() as db:
            db.execute(
                "INSERT OR REPLACE INTO answers (job_id, channel, thread_ts, question_ts, asker, question,"
                " answer, mode, model, sources, timings, seconds, answered_at)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    job_id,
                    channel,
                    thread_ts,
                    question_ts,
                    asker,
                    answer.question,
                    answer.text,
                    answer.mode,
                    model,
                    json.dumps([s.as_hit() for s in answer.sources]),
                    json.dumps(answer.timings.as_dict()),
                    round(seconds, 3),
                    time.time(),
                ),
            )

    def vote(
        self,
        *,
        job_id: int,
        user: str,
        vote: Vote,
        click_id: str = "",
        channel: str = "",
        message_ts: str = "",
    ) -> VoteResult:
        """Record `user`'s vote on an answer once; `click_id` (the click's trigger id) spots a redelivery."""
        if vote not in VOTES:
            raise ValueError(f"unknown vote {vote!r}")
        now = time.time()
        with self._tx() as db:
            row = db.execute(
                "SELECT vote, reason FROM votes WHERE job_id=? AND user=?", (job_id, user)
            ).fetchone()
            if click_id:
                key = f"click:{click_id}"
                if db.execute("SELECT 1 FROM seen WHERE key=?", (key,)).fetchone():
                    current = row[0] if row else vote
                    return VoteResult("redelivered", current, bool(row and row[1]))
                db.execute("INSERT INTO seen (key, at) VALUES (?, ?)", (key, now))
            if row is None:
                db.execute(
                    "INSERT INTO votes (job_id, user, vote, channel, message_ts, created_at, updated_at)"
                    " VALUES (?, ?, ?, ?, ?, ?, ?)",
                    (job_id, user, vote, channel, message_ts, now, now),
                )
                return VoteResult("new", vote)
            if row[0] == vote:
                return VoteResult("same", vote, bool(row[1]))
            # A changed mind: the old reason belonged to the old vote.
            db.execute(
                "UPDATE votes SET vote=?, reason='', updated_at=? WHERE job_id=? AND user=?",
                (vote, now, job_id, user),
            )
        logger.info("feedback vote changed job=%d vote=%s", job_id, vote)
        return VoteResult("changed", vote)

    def set_reason(self, *, job_id: int, user: str, reason: str) -> bool:
        """Store the reason for `user`'s 👎 on an answer; False when it was already stored as it is."""
        reason = reason.strip()[:MAX_REASON_CHARS]
        now = time.time()
        with self._tx() as db:
            row = db.execute("SELECT reason FROM votes WHERE job_id=? AND user=?", (job_id, user)).fetchone()
            if row is None:
                db.execute(
                    "INSERT INTO votes (job_id, user, vote, reason, created_at, updated_at)"
                    " VALUES (?, ?, 'down', ?, ?, ?)",
                    (job_id, user, reason, now, now),
                )
                return True
            if row[0] == reason:
                return False
            db.execute(
                "UPDATE votes SET reason=?, updated_at=? WHERE job_id=? AND user=?",
                (reason, now, job_id, user),
            )
        return True

    def summary(self) -> FeedbackSummary:
        """Counts of 👍, 👎 and of reasons given."""
        with self._lock:
            up, down, reasons = self._db.execute(
                "SELECT COALESCE(SUM(vote='up'), 0), COALESCE(SUM(vote='down'), 0),"
                " COALESCE(SUM(reason != ''), 0) FROM votes"
            ).fetchone()
        return FeedbackSummary(int(up), int(down), int(reasons))

    def items(self, limit: int | None = None) -> list[FeedbackItem]:
        """Every vote with the answer it is about, newest first."""
        with self._lock:
            rows = self._db.execute(
                "SELECT v.job_id, v.user, v.vote, v.reason, v.updated_at, v.channel, v.message_ts,"
                " a.question, a.answer, a.mode, a.model, a.sources, a.timings, a.seconds, a.channel"
                " FROM votes v LEFT JOIN answers a ON a.job_id = v.job_id"
                " ORDER BY v.updated_at DESC, v.rowid DESC LIMIT ?",
                (-1 if limit is None else limit,),
            ).fetchall()
        return [_item(row) for row in rows]

    def close(self) -> None:
        """Close the database."""
        with self._lock:
            self._db.close()


def _item(row: tuple[Any, ...]) -> FeedbackItem:
    return FeedbackItem(
        job_id=int(row[0]),
        user=str(row[1]),
        vote="up" if row[2] == "up" else "down",
        reason=str(row[3] or ""),
        at=float(row[4]),
        channel=str(row[5] or row[14] or ""),
        message_ts=str(row[6] or ""),
        question=str(row[7] or ""),
        answer=str(row[8] or ""),
        mode=str(row[9] or ""),
        model=str(row[10] or ""),
        sources=json.loads(row[11]) if row[11] else [],
        timings=json.loads(row[12]) if row[12] else {},
        seconds=None if row[13] is None else float(row[13]),
    )
