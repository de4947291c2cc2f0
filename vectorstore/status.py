"""A summary of the index that the CLI and the bot show to people, read from SQLite alone.

`docbot status` uses `inspect_index` without loading FAISS or numpy (a one-line file check should not
import the embedding stack); `IndexStore` shares the same queries.
"""

from __future__ import annotations

import dataclasses
import sqlite3
import time
from dataclasses import dataclass, field
from pathlib import Path

DB_NAME = "index.sqlite3"


@dataclass(frozen=True)
class FailedFile:
    """A file that could not be indexed, with a reason a person understands."""

    file: str
    reason: str


@dataclass(frozen=True)
class IndexStatus:
    """Files, chunks, failures and freshness of the index."""

    files: int
    chunks: int
    pages: int = 0
    failed: list[FailedFile] = field(default_factory=list)
    updated_at: float | None = None
    version: int = 0

    def with_failures(self, latest: list[FailedFile]) -> IndexStatus:
        """This status with `latest` failures (a re-index run's) first; a file listed in both keeps the
        latest reason only. Run failures that could not be stored (a full disk) show up this way."""
        seen = {f.file for f in latest}
        return dataclasses.replace(self, failed=[*latest, *(f for f in self.failed if f.file not in seen)])

    def freshness(self, now: float | None = None) -> str:
        """Like "12 files, updated 4 min ago"."""
        noun = "file" if self.files == 1 else "files"
        if self.updated_at is None:
            return f"{self.files} {noun}, never updated"
        age = max(0.0, (now if now is not None else time.time()) - self.updated_at)
        return f"{self.files} {noun}, updated {_age(age)}"


def _age(seconds: float) -> str:
    if seconds < 60:
        return "just now"
    if seconds < 3600:
        return f"{int(seconds // 60)} min ago"
    if seconds < 86400:
        return f"{int(seconds // 3600)} h ago"
    return f"{int(seconds // 86400)} d ago"


def read_status(db: sqlite3.Connection) -> IndexStatus:
    """Files, chunks, failures and freshness, inside the caller's read transaction."""
    row = db.execute(
        "SELECT COUNT(*), COALESCE(SUM(chunks), 0), COALESCE(SUM(pages), 0) "
        "FROM files WHERE status = 'indexed'"
    ).fetchone()
    failed = [
        FailedFile(str(path), str(reason or "unknown"))
        for path, reason in db.execute("SELECT path, reason FROM files WHERE status = 'failed' ORDER BY path")
    ]
    meta = dict(db.execute("SELECT key, value FROM meta").fetchall())
    updated = meta.get("updated_at")
    return IndexStatus(
        files=int(row[0]),
        chunks=int(row[1]),
        pages=int(row[2]),
        failed=failed,
        updated_at=float(updated) if updated else None,
        version=int(meta["generation"]),
    )


def table_problems(db: sqlite3.Connection, dim: int) -> list[str]:
    """Consistency problems SQLite alone can show: integrity, FTS rows, vector sizes, orphans, counts."""
    problems: list[str] = []
    result = db.execute("PRAGMA quick_check").fetchone()[0]
    if result != "ok":
        problems.append(f"sqlite: {result}")
    chunk_count = db.execute("SELECT COUNT(*) FROM chunks").fetchone()[0]
    fts_count = db.execute("SELECT COUNT(*) FROM chunks_fts").fetchone()[0]
    if fts_count != chunk_count:
        problems.append(f"keyword index has {fts_count} rows for {chunk_count} chunks")
    bad = db.execute("SELECT COUNT(*) FROM chunks WHERE length(vector) != ?", (dim * 4,)).fetchone()[0]
    if bad:
        problems.append(f"{bad} chunks have malformed vectors")
    orphans = db.execute("SELECT COUNT(*) FROM chunks WHERE file NOT IN (SELECT path FROM files)").fetchone()[
        0
    ]
    if orphans:
        problems.append(f"{orphans} chunks belong to no file")
    mismatched = db.execute(
        "SELECT COUNT(*) FROM files f WHERE chunks != (SELECT COUNT(*) FROM chunks c WHERE c.file = f.path)"
    ).fetchone()[0]
    if mismatched:
        problems.append(f"{mismatched} files disagree with their chunk count")
    return problems


class IndexUnreadable(RuntimeError):
    """The index file exists but SQLite cannot read it; the message says so and how to rebuild."""


def is_damage(exc: sqlite3.DatabaseError) -> bool:
    """True when SQLite says the file is corrupt or not a database (not for locks, full disks, ...)."""
    code = getattr(exc, "sqlite_errorcode", None)
    if code is not None:
        return code & 0xFF in (sqlite3.SQLITE_CORRUPT, sqlite3.SQLITE_NOTADB)
    return type(exc) is sqlite3.DatabaseError


def inspect_index(index_dir: Path) -> tuple[IndexStatus, list[str]]:
    """Status and SQLite-level problems of the index in index_dir, read in one snapshot, without FAISS.

    A file SQLite cannot open as an index raises IndexUnreadable; damage found while checking the tables
    is returned as a problem, as `IndexStore.check` does. (The FAISS copy of the vectors is a cache rebuilt
    from SQLite whenever it disagrees, so it is left out.)
    """
    hint = "rebuild it with `docbot ingest --rebuild`"
    db = sqlite3.connect(Path(index_dir) / DB_NAME, timeout=30.0, isolation_level=None)
    try:
        db.execute("PRAGMA busy_timeout = 30000")
        db.execute("BEGIN")
        try:
            meta = dict(db.execute("SELECT key, value FROM meta").fetchall())
        except sqlite3.DatabaseError as exc:
            raise IndexUnreadable(f"index at {index_dir} is unreadable ({exc}); {hint}") from exc
        try:
            status = read_status(db)
        except sqlite3.DatabaseError as exc:
            if not is_damage(exc):
                raise
            raise IndexUnreadable(f"index at {index_dir} is damaged ({exc}); {hint}") from exc
        try:
            problems = table_problems(db, int(meta.get("dim", 0)))
        except sqlite3.DatabaseError as exc:
            if not is_damage(exc):
                raise
            problems = [f"index at {index_dir} is damaged ({exc}); {hint}"]
    finally:
        db.close()  # ends the read transaction; nothing was written
    return status, problems
