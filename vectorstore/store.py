"""The index: SQLite (files, chunks, vectors, FTS5) is the truth; FAISS is a cache rebuilt from it.

Every update is one SQLite transaction, so a crash at any moment leaves the last committed index.
The FAISS index lives in memory, is refreshed when another process commits (the `generation`
counter moves), and is saved as `vectors-<generation>.faiss` (checked by sha256) to start fast.
Nothing here is ever pickled.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import logging
import os
import sqlite3
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from vectorstore.status import DB_NAME, IndexStatus, is_damage, read_status, table_problems

if TYPE_CHECKING:
    import faiss

logger = logging.getLogger(__name__)

SCHEMA_VERSION = "1"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS files (
    path TEXT PRIMARY KEY,
    size INTEGER NOT NULL,
    mtime_ns INTEGER NOT NULL,
    sha256 TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('indexed', 'failed')),
    reason TEXT,
    title TEXT NOT NULL DEFAULT '',
    pages INTEGER NOT NULL DEFAULT 0,
    chunks INTEGER NOT NULL DEFAULT 0,
    indexed_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS chunks (
    id INTEGER PRIMARY KEY,
    file TEXT NOT NULL REFERENCES files(path) ON UPDATE CASCADE ON DELETE CASCADE,
    seq INTEGER NOT NULL,
    page INTEGER NOT NULL,
    page_label TEXT NOT NULL,
    section TEXT NOT NULL DEFAULT '',
    ocr INTEGER NOT NULL DEFAULT 0,
    text TEXT NOT NULL,
    vector BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS chunks_by_file ON chunks(file, seq);
CREATE VIRTUAL TABLE IF NOT EXISTS chunks_fts USING fts5(text, context, tokenize = 'porter unicode61');
"""


REBUILD_HINT = "rebuild it with `docbot ingest --rebuild`"


class IndexUnusableError(RuntimeError):
    """The index cannot be used as it is (wrong model, corrupt file); the message says what to do."""


@dataclass(frozen=True)
class ChunkInput:
    """A chunk to store: text, 1-based page, printed label, section heading, OCR flag."""

    text: str
    page: int
    page_label: str
    section: str = ""
    ocr: bool = False


@dataclass(frozen=True)
class FileInfo:
    """What the index knows about one file of the data dir."""

    path: str
    size: int
    mtime_ns: int
    sha256: str
    status: str
    reason: str | None
    title: str
    pages: int
    chunks: int
    indexed_at: float


@dataclass(frozen=True)
class StoredChunk:
    """A chunk read back from the index, with its citation data."""

    id: int
    file: str
    seq: int
    page: int
    page_label: str
    section: str
    ocr: bool
    text: str
    title: str


@dataclass(frozen=True)
class DocumentSection:
    """How many chunks of an indexed file carry one section heading (the heading path as stored)."""

    file: str
    title: str
    indexed_at: float
    section: str
    chunks: int


class IndexStore:
    """FAISS + SQLite index of PDF chunks. Thread-safe; one writer at a time across processes."""

    def __init__(self, index_dir: Path, *, dim: int, model_id: str, runtime: str = "") -> None:
        self.index_dir = Path(index_dir)
        self.index_dir.mkdir(parents=True, exist_ok=True)
        self.dim = dim
        self.model_id = model_id
        self.runtime = runtime  # recorded beside the vectors it makes (see runtimes())
        self._lock = threading.RLock()
        self._faiss: Any = None  # faiss.IndexIDMap2; faiss's stubs are too loose to help
        self._faiss_generation = -1
        self._snapshot_generation = -1
        self._snapshot_depth = 0
        path = self.index_dir / DB_NAME
        with self._damage_reported():
            self._db = self._connect(path)
            try:
                self._init_schema()
                with self.snapshot():
                    pass
            except BaseException:
                self._db.close()
                raise

    # ----- opening -----

    @classmethod
    def open_existing(cls, index_dir: Path) -> IndexStore:
        """Open an index with the model and dimension it was built with (for status and checks)."""
        path = Path(index_dir) / DB_NAME
        if not path.is_file():
            raise IndexUnusableError(f"no index at {index_dir}; run `docbot ingest` first")
        db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        try:
            meta = dict(db.execute("SELECT key, value FROM meta").fetchall())
        except sqlite3.DatabaseError as exc:
            raise IndexUnusableError(f"index at {index_dir} is unreadable ({exc}); {REBUILD_HINT}") from exc
        finally:
            db.close()
        return cls(index_dir, dim=int(meta.get("dim", 0)), model_id=str(meta.get("model", "")))

    @contextlib.contextmanager
    def _damage_reported(self) -> Iterator[None]:
        """Turn SQLite's "malformed" and "not a database" errors into one clear IndexUnusableError."""
        try:
            yield
        except sqlite3.DatabaseError as exc:
            if not is_damage(exc):
                raise
            logger.debug("index damaged path=%s error=%s", self.index_dir, exc)
            raise IndexUnusableError(f"index at {self.index_dir} is damaged ({exc}); {REBUILD_HINT}") from exc

    @staticmethod
    def _connect(path: Path) -> sqlite3.Connection:
        db = sqlite3.connect(path, timeout=30.0, isolation_level=None, check_same_thread=False)
        db.row_factory = sqlite3.Row
        db.execute("PRAGMA journal_mode = WAL")
        # FULL: a commit is durable before we report it; kills and power loss keep the last commit.
        db.execute("PRAGMA synchronous = FULL")
        db.execute("PRAGMA foreign_keys = ON")
        db.execute("PRAGMA busy_timeout = 30000")
        return db

    def _init_schema(self) -> None:
        with self._lock, self._transaction(bump=False):
            for statement in _SCHEMA.split(";"):
                if statement.strip():
                    self._db.execute(statement)
            meta = self._meta()
            if not meta:
                self._set_meta(schema=SCHEMA_VERSION, model=self.model_id, dim=str(self.dim), generation="0")
                return
        self._check_compatible(meta)

    def _check_compatible(self, meta: dict[str, str]) -> None:
        if meta.get("schema") != SCHEMA_VERSION:
            raise IndexUnusableError(
                f"index at {self.index_dir} has schema {meta.get('schema')!r}, expected {SCHEMA_VERSION}; "
                + REBUILD_HINT
            )
        if meta.get("model") != self.model_id or meta.get("dim") != str(self.dim):
            raise IndexUnusableError(
                f"index at {self.index_dir} was built with embedding model {meta.get('model')!r} "
                f"({meta.get('dim')} dims), not {self.model_id!r}; {REBUILD_HINT}"
            )

    def close(self) -> None:
        """Close the database connection."""
        with self._lock:
            self._db.close()

    # ----- transactions -----

    @contextlib.contextmanager
    def _transaction(self, *, bump: bool = True) -> Iterator[None]:
        with self._damage_reported():
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield
                if bump:
                    self._db.execute(
                        "UPDATE meta SET value = CAST(value AS INTEGER) + 1 WHERE key = 'generation'"
                    )
                    self._set_meta(updated_at=repr(time.time()))
                self._db.execute("COMMIT")
            except BaseException:
                # SQLite has already rolled back after some errors (disk full, I/O): keep the real error.
                if self._db.in_transaction:
                    self._db.execute("ROLLBACK")
                raise

    @contextlib.contextmanager
    def snapshot(self) -> Iterator[IndexStore]:
        """A consistent read view: FAISS and SQLite agree on one committed generation inside it.

        FAISS is loaded (or brought up to this generation) only when a read inside needs the vectors, so
        a sync that finds nothing to do never imports it nor reads its file.
        """
        with self._lock, self._damage_reported():
            if self._snapshot_depth:  # nested: already inside this thread's read transaction
                yield self
                return
            self._db.execute("BEGIN")
            self._snapshot_depth += 1
            try:
                self._snapshot_generation = int(self._meta()["generation"])
                yield self
            finally:
                self._snapshot_depth -= 1
                self._db.execute("COMMIT")

    def _meta(self) -> dict[str, str]:
        return {row["key"]: row["value"] for row in self._db.execute("SELECT key, value FROM meta")}

    def _set_meta(self, **values: str) -> None:
        self._db.executemany(
            "INSERT INTO meta(key, value) VALUES (?, ?) "
            "ON CONFLICT(key) DO UPDATE SET value = excluded.value",
            list(values.items()),
        )

    # ----- FAISS cache -----

    def _vectors(self) -> Any:
        """The FAISS index of the current snapshot's generation (call inside `snapshot()`)."""
        generation = self._snapshot_generation
        if self._faiss is None or self._faiss_generation != generation:
            self._load_faiss(generation)
        return self._faiss

    def _new_faiss(self) -> faiss.IndexIDMap2:
        import faiss

        return faiss.IndexIDMap2(faiss.IndexFlatIP(self.dim))

    def _faiss_path(self, generation: int) -> Path:
        return self.index_dir / f"vectors-{generation}.faiss"

    def _load_faiss(self, generation: int) -> None:
        started = time.perf_counter()
        index = self._read_saved_faiss(generation)
        source = "file"
        if index is None:
            index = self._new_faiss()
            ids, vectors = self._all_vectors()
            if len(ids):
                index.add_with_ids(vectors, ids)
            source = "sqlite"
        self._faiss, self._faiss_generation = index, generation
        logger.debug(
            "faiss loaded generation=%d vectors=%d source=%s seconds=%.3f",
            generation,
            index.ntotal,
            source,
            time.perf_counter() - started,
        )

    def _read_saved_faiss(self, generation: int) -> Any:
        import faiss

        meta = self._meta()
        path = self._faiss_path(generation)
        if meta.get("faiss_generation") != str(generation) or not path.is_file():
            return None
        data = path.read_bytes()
        if hashlib.sha256(data).hexdigest() != meta.get("faiss_sha256"):
            logger.warning("faiss file does not match its checksum; rebuilding path=%s", path)
            return None
        index = faiss.deserialize_index(np.frombuffer(data, dtype=np.uint8))
        count = self._db.execute("SELECT COUNT(*) FROM chunks").fetchone()[0]
        if index.ntotal != count or index.d != self.dim:
            logger.warning("faiss file disagrees with sqlite; rebuilding path=%s", path)
            return None
        return index

    def _all_vectors(self) -> tuple[np.ndarray, np.ndarray]:
        rows = self._db.execute("SELECT id, vector FROM chunks ORDER BY id").fetchall()
        ids = np.fromiter((row["id"] for row in rows), dtype=np.int64, count=len(rows))
        vectors = np.empty((len(rows), self.dim), dtype=np.float32)
        bad = sum(1 for row in rows if len(row["vector"]) != self.dim * 4)
        if bad:
            raise IndexUnusableError(
                f"index at {self.index_dir} is damaged ({bad} chunks have malformed vectors); {REBUILD_HINT}"
            )
        for i, row in enumerate(rows):
            vectors[i] = np.frombuffer(row["vector"], dtype=np.float32)
        return ids, vectors

    def save_faiss(self) -> Path | None:
        """Write the FAISS cache for the current generation (atomically), so the next start is fast."""
        import faiss

        with self.snapshot():
            index = self._vectors()
            generation = self._faiss_generation
            meta = self._meta()
        path = self._faiss_path(generation)
        if meta.get("faiss_generation") == str(generation) and path.is_file():
            return path
        data = faiss.serialize_index(index).tobytes()
        tmp = path.with_suffix(".tmp")
        with open(tmp, "wb") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, path)
        with self._lock, self._transaction(bump=False):
            if self._meta()["generation"] != str(generation):
                return None  # another commit came first; its writer saves its own file
            self._set_meta(faiss_generation=str(generation), faiss_sha256=hashlib.sha256(data).hexdigest())
        for old in self.index_dir.glob("vectors-*.faiss"):
            if old != path:
                old.unlink(missing_ok=True)
        return path

    # ----- writes -----

    def replace_file(
        self,
        info: FileInfo,
        chunks: Sequence[ChunkInput],
        vectors: np.ndarray,
        *,
        replaces: str | None = None,
    ) -> int:
        """Store a file's chunks, replacing what `info.path` (or `replaces`) had; returns the generation."""
        if len(chunks) != len(vectors):
            raise ValueError("one vector per chunk")
        vectors = np.ascontiguousarray(vectors, dtype=np.float32).reshape(len(chunks), self.dim)
        with self._lock:
            with self._transaction():
                removed = self._delete_file_rows(info.path)
                if replaces and replaces != info.path:
                    removed += self._delete_file_rows(replaces)
                self._upsert_file(info, chunks=len(chunks), status="indexed", reason=None)
                added = self._insert_chunks(info, chunks, vectors)
                self._record_runtime()
            return self._apply(removed, added, vectors)

    def recipe_since(self, recipe: str) -> float:
        """Since when (time.time()) files are chunked by `recipe`; recorded as now when it is new.

        Files indexed before that time were chunked another way and must be chunked again.
        """
        with self.snapshot():  # a read: a sync over an unchanged recipe writes nothing here
            meta = self._meta()
        if meta.get("chunking") == recipe and "chunking_since" in meta:
            return float(meta["chunking_since"])
        with self._lock, self._transaction(bump=False):
            meta = self._meta()
            if meta.get("chunking") == recipe and "chunking_since" in meta:
                return float(meta["chunking_since"])  # another process recorded it meanwhile
            now = time.time()
            self._set_meta(chunking=recipe, chunking_since=repr(now))
            return now

    def _record_runtime(self) -> None:
        if self.runtime and self.runtime not in self.runtimes():
            self._set_meta(runtimes=",".join([*self.runtimes(), self.runtime]))

    def runtimes(self) -> list[str]:
        """The embedding runtimes (openvino, torch) that wrote vectors into this index, oldest first."""
        with self._lock:
            value = self._meta().get("runtimes", "")
        return [name for name in value.split(",") if name]

    def record_failure(self, info: FileInfo, reason: str) -> int:
        """Remember that a file could not be indexed (its old chunks, if any, are dropped)."""
        with self._lock:
            with self._transaction():
                removed = self._delete_file_rows(info.path)
                self._upsert_file(info, chunks=0, status="failed", reason=reason)
            return self._apply(removed, [], None)

    def touch_file(self, path: str, size: int, mtime_ns: int) -> None:
        """Record a new size/mtime for a file whose content (sha256) did not change."""
        with self._lock, self._transaction(bump=False):
            self._db.execute("UPDATE files SET size = ?, mtime_ns = ? WHERE path = ?", (size, mtime_ns, path))

    def remove_file(self, path: str) -> int:
        """Forget a file and its chunks; returns the generation."""
        with self._lock:
            with self._transaction():
                removed = self._delete_file_rows(path)
            return self._apply(removed, [], None)

    def rename_file(self, old: str, info: FileInfo) -> int:
        """Point a file's chunks at its new path without re-embedding."""
        with self._lock:
            with self._transaction():
                self._db.execute("DELETE FROM files WHERE path = ? AND path != ?", (info.path, old))
                self._db.execute(
                    "UPDATE files SET path = ?, size = ?, mtime_ns = ? WHERE path = ?",
                    (info.path, info.size, info.mtime_ns, old),
                )
            return self._apply([], [], None)

    def copy_file(self, source: str, info: FileInfo) -> int:
        """Index a byte-identical copy of an indexed file by copying its chunks and vectors."""
        with self._lock:
            with self._transaction():
                removed = self._delete_file_rows(info.path)
                src = self._file_or_raise(source)
                self._upsert_file(
                    dataclasses.replace(info, title=src.title, pages=src.pages),
                    chunks=src.chunks,
                    status=src.status,
                    reason=src.reason,
                )
                rows = self._db.execute(
                    "SELECT seq, page, page_label, section, ocr, text, vector FROM chunks "
                    "WHERE file = ? ORDER BY seq",
                    (source,),
                ).fetchall()
                chunks = [
                    ChunkInput(r["text"], r["page"], r["page_label"], r["section"], bool(r["ocr"]))
                    for r in rows
                ]
                vectors = np.array(
                    [np.frombuffer(r["vector"], dtype=np.float32) for r in rows], dtype=np.float32
                ).reshape(len(rows), self.dim)
                added = self._insert_chunks(self._file_or_raise(info.path), chunks, vectors)
            return self._apply(removed, added, vectors)

    def _file_or_raise(self, path: str) -> FileInfo:
        info = self._file(path)
        if info is None:
            raise KeyError(path)
        return info

    def _upsert_file(self, info: FileInfo, *, chunks: int, status: str, reason: str | None) -> None:
        self._db.execute(
            "INSERT OR REPLACE INTO files(path, size, mtime_ns, sha256, status, reason, title, pages, "
            "chunks, indexed_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                info.path,
                info.size,
                info.mtime_ns,
                info.sha256,
                status,
                reason,
                info.title,
                info.pages,
                chunks,
                time.time(),
            ),
        )

    def _insert_chunks(self, info: FileInfo, chunks: Sequence[ChunkInput], vectors: np.ndarray) -> list[int]:
        ids: list[int] = []
        for seq, (chunk, vector) in enumerate(zip(chunks, vectors, strict=True)):
            cursor = self._db.execute(
                "INSERT INTO chunks(file, seq, page, page_label, section, ocr, text, vector) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    info.path,
                    seq,
                    chunk.page,
                    chunk.page_label,
                    chunk.section,
                    int(chunk.ocr),
                    chunk.text,
                    vector.astype(np.float32).tobytes(),
                ),
            )
            chunk_id = int(cursor.lastrowid or 0)
            self._db.execute(
                "INSERT INTO chunks_fts(rowid, text, context) VALUES (?, ?, ?)",
                (chunk_id, chunk.text, f"{info.title} {chunk.section}"),
            )
            ids.append(chunk_id)
        return ids

    def _delete_file_rows(self, path: str) -> list[int]:
        ids = [row[0] for row in self._db.execute("SELECT id FROM chunks WHERE file = ?", (path,))]
        if ids:
            self._db.executemany("DELETE FROM chunks_fts WHERE rowid = ?", [(i,) for i in ids])
        self._db.execute("DELETE FROM files WHERE path = ?", (path,))
        return ids

    def _apply(self, removed: list[int], added: list[int], vectors: np.ndarray | None) -> int:
        """Mirror a committed change into the in-memory FAISS index (or reload it if it fell behind)."""
        generation = int(self._meta()["generation"])
        if self._faiss is None or self._faiss_generation != generation - 1:
            self._faiss = None  # someone else committed in between: the next snapshot reloads
            return generation
        if removed:
            self._faiss.remove_ids(np.asarray(removed, dtype=np.int64))
        if added and vectors is not None:
            self._faiss.add_with_ids(vectors, np.asarray(added, dtype=np.int64))
        self._faiss_generation = generation
        return generation

    # ----- reads (call inside `snapshot()` for a consistent view) -----

    def files(self) -> dict[str, FileInfo]:
        """Every file the index knows, indexed or failed."""
        with self._lock, self._damage_reported():
            rows = self._db.execute("SELECT * FROM files ORDER BY path").fetchall()
        return {row["path"]: FileInfo(**dict(row)) for row in rows}

    def _file(self, path: str) -> FileInfo | None:
        row = self._db.execute("SELECT * FROM files WHERE path = ?", (path,)).fetchone()
        return FileInfo(**dict(row)) if row else None

    def dense_search(self, vector: Sequence[float] | np.ndarray, n: int) -> list[tuple[int, float]]:
        """Chunk ids by cosine similarity to a normalised query vector."""
        with self.snapshot():
            index = self._vectors()
            if index.ntotal == 0:
                return []
            query = np.asarray(vector, dtype=np.float32).reshape(1, self.dim)
            with _one_openmp_thread():
                scores, ids = index.search(query, min(n, index.ntotal))
        return [(int(i), float(s)) for i, s in zip(ids[0], scores[0], strict=True) if i >= 0]

    def chunk_count(self) -> int:
        """How many chunks (vectors) the current generation holds."""
        with self.snapshot():
            return int(self._vectors().ntotal)

    def cosines(self, ids: Sequence[int], vector: Sequence[float] | np.ndarray) -> dict[int, float]:
        """Cosine similarity of the given chunks to a normalised query vector (ids not indexed left out)."""
        with self.snapshot():
            index = self._vectors()
            query = np.asarray(vector, dtype=np.float32).reshape(self.dim)
            out: dict[int, float] = {}
            for chunk_id in ids:
                try:
                    stored = index.reconstruct(int(chunk_id))
                except RuntimeError:  # FAISS raises for an id it does not hold
                    continue
                out[int(chunk_id)] = float(np.dot(stored, query))
        return out

    def keyword_search(
        self, fts_query: str, n: int, weights: tuple[float, float] = (1.0, 0.5)
    ) -> list[tuple[int, float]]:
        """Chunk ids by BM25 over chunk text and context (title, section); higher is better."""
        if not fts_query.strip():
            return []
        with self.snapshot():
            try:
                rows = self._db.execute(
                    "SELECT rowid, bm25(chunks_fts, ?, ?) AS rank FROM chunks_fts "
                    "WHERE chunks_fts MATCH ? ORDER BY rank LIMIT ?",
                    (weights[0], weights[1], fts_query, n),
                ).fetchall()
            except sqlite3.OperationalError as exc:
                logger.warning("fts query failed error=%s", exc)
                return []
        return [(int(row[0]), -float(row[1])) for row in rows]

    def get_chunks(self, ids: Sequence[int]) -> dict[int, StoredChunk]:
        """Chunks by id (ids no longer in the index are left out)."""
        if not ids:
            return {}
        with self.snapshot():
            marks = ",".join("?" * len(ids))
            rows = self._db.execute(
                "SELECT c.id, c.file, c.seq, c.page, c.page_label, c.section, c.ocr, c.text, f.title "
                f"FROM chunks c JOIN files f ON f.path = c.file WHERE c.id IN ({marks})",
                list(ids),
            ).fetchall()
        return {row["id"]: _stored(row) for row in rows}

    def generation(self) -> int:
        """The number of committed updates so far (the index version shown with answers)."""
        with self._lock:
            return int(self._meta()["generation"])

    def status(self) -> IndexStatus:
        """Files, chunks, failures and freshness."""
        with self.snapshot():
            return read_status(self._db)

    def document_sections(self) -> list[DocumentSection]:
        """Per indexed file (newest first) its sections and their chunk counts (biggest first); a file
        without headings has one entry with section ""."""
        with self.snapshot():
            rows = self._db.execute(
                "SELECT f.path, f.title, f.indexed_at, c.section, COUNT(*) AS n FROM files f "
                "JOIN chunks c ON c.file = f.path WHERE f.status = 'indexed' "
                "GROUP BY f.path, c.section ORDER BY f.indexed_at DESC, f.path, n DESC, c.section"
            ).fetchall()
        return [DocumentSection(r[0], r[1], float(r[2]), r[3], int(r[4])) for r in rows]

    def check(self) -> list[str]:
        """Consistency problems (empty when healthy): SQLite integrity, FTS, vectors, FAISS."""
        try:
            return self._check()
        except IndexUnusableError as exc:  # damage found while reading: that is the problem to report
            return [str(exc)]

    def _check(self) -> list[str]:
        with self.snapshot():
            problems = table_problems(self._db, self.dim)
            chunk_count = self._db.execute("SELECT COUNT(*) FROM chunks").fetchone()[0]
            total = self._vectors().ntotal
            if total != chunk_count:
                problems.append(f"vector index has {total} vectors for {chunk_count} chunks")
        return problems


def _stored(row: Any) -> StoredChunk:
    return StoredChunk(
        id=row["id"],
        file=row["file"],
        seq=row["seq"],
        page=row["page"],
        page_label=row["page_label"],
        section=row["section"],
        ocr=bool(row["ocr"]),
        text=row["text"],
        title=row["title"],
    )


@contextlib.contextmanager
def _one_openmp_thread() -> Iterator[None]:
    """Run FAISS on one OpenMP thread for one query, then restore the thread's setting."""
    import faiss

    # A flat scan of ~10k vectors for one query takes 0.3 ms on one thread; OpenMP's thread team turns it
    # into 16 ms, and much worse when another process keeps the cores busy (measured on 2 cores). torch
    # shares the OpenMP runtime, so the setting is put back for the embedding code on the same thread.
    previous = faiss.omp_get_max_threads()
    faiss.omp_set_num_threads(1)
    try:
        yield
    finally:
        faiss.omp_set_num_threads(previous)


def indexed_counts(index_dir: Path) -> tuple[int, int] | None:
    """(chunks of the indexed files, files that failed), read from SQLite alone with no vectors loaded;
    None when there is no index or it cannot be read (opening it properly then says why)."""
    path = Path(index_dir) / DB_NAME
    if not path.is_file():
        return None
    try:
        db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        try:
            row = db.execute(
                "SELECT COALESCE(SUM(CASE WHEN status = 'indexed' THEN chunks END), 0),"
                " COUNT(CASE WHEN status = 'failed' THEN 1 END) FROM files"
            ).fetchone()
        finally:
            db.close()
    except sqlite3.Error:
        return None
    return int(row[0]), int(row[1])
