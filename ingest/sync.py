"""Bring the index in line with a folder of PDFs: add, change, delete, rename, copy; never stop."""

from __future__ import annotations

import hashlib
import logging
import os
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import numpy as np

from ingest.chunking import HEADING_RULES_VERSION, Chunk, chunk_document
from ingest.cpu_gate import Cancelled, CpuGate
from ingest.pdf import PdfReadError, read_pdf
from vectorstore.status import FailedFile
from vectorstore.store import ChunkInput, FileInfo, IndexStore

logger = logging.getLogger(__name__)


class Embeddings(Protocol):
    """What indexing needs of an embedding model (LangChain's Embeddings, or one loaded on first use)."""

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        """One vector per text, in order."""
        ...


ProgressFn = Callable[[str, int, int], None]
"""progress(file, files_done, files_total), called before each file is indexed and once at the end."""


@dataclass(frozen=True)
class DiskFile:
    """A PDF found in the data dir."""

    path: str  # relative to the data dir, with forward slashes
    absolute: Path
    size: int
    mtime_ns: int


@dataclass
class SyncReport:
    """What one sync did."""

    indexed: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    renamed: list[tuple[str, str]] = field(default_factory=list)
    failed: list[FailedFile] = field(default_factory=list)
    deferred: list[str] = field(default_factory=list)
    chunks: int = 0
    pages: int = 0
    seconds: float = 0.0
    cancelled: bool = False
    updated: list[str] = field(default_factory=list)  # the indexed files that replaced an older version
    pages_by_file: dict[str, int] = field(default_factory=dict)

    @property
    def changed(self) -> bool:
        """True when the index changed (something added, updated, removed, renamed or newly failed)."""
        return bool(self.indexed or self.removed or self.renamed or self.failed)

    def to_dict(self) -> dict[str, object]:
        """The JSON shape of `docbot ingest --json`."""
        return {
            "indexed": self.indexed,
            "unchanged": self.unchanged,
            "removed": self.removed,
            "renamed": [{"from": old, "to": new} for old, new in self.renamed],
            "failed": [{"file": f.file, "reason": f.reason} for f in self.failed],
            "deferred": self.deferred,
            "chunks": self.chunks,
            "pages": self.pages,
            "seconds": round(self.seconds, 3),
        }

    def summary(self) -> str:
        """One line for people."""
        parts = [
            f"{len(self.indexed)} indexed ({self.pages} pages, {self.chunks} chunks)",
            f"{len(self.unchanged)} unchanged",
            f"{len(self.removed)} removed",
        ]
        if self.renamed:
            parts.append(f"{len(self.renamed)} renamed")
        if self.deferred:
            parts.append(f"{len(self.deferred)} still being copied")
        parts.append(f"{len(self.failed)} failed")
        if self.cancelled:
            parts.append("stopped early")
        text = ", ".join(parts) + f" in {self.seconds:.1f} s"
        for failure in self.failed:
            text += f"\n  {failure.file}: {failure.reason}"
        return text


@dataclass(frozen=True)
class SyncOptions:
    """How to chunk and embed.

    cpu_gate: each embedding batch and each PDF page is one turn on this gate, so a waiting question
    takes the CPU within one step. cancel: when set, the sync stops at the next step (nothing half-done
    is committed) and reports `cancelled`.
    """

    chunk_size: int = 500
    chunk_overlap: int = 50
    batch_size: int = 16
    settle_seconds: float = 0.0
    max_seconds_per_file: float | None = 300.0
    cpu_gate: CpuGate | None = None
    cancel: threading.Event | None = None
    progress: ProgressFn | None = None

    def step(self) -> AbstractContextManager[object]:
        """One turn on the CPU for the indexer; raises Cancelled when the sync must stop."""
        if self.cpu_gate is not None:
            return self.cpu_gate.step(self.cancel)
        if self.cancel is not None and self.cancel.is_set():
            raise Cancelled()
        return nullcontext()


def scan_folder(data_dir: Path) -> dict[str, DiskFile]:
    """Every *.pdf (any case) below data_dir, not following links that lead outside it."""
    root = data_dir.resolve()
    found: dict[str, DiskFile] = {}
    if not root.is_dir():
        return found
    for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
        dirnames.sort()
        for name in sorted(filenames):
            if not name.lower().endswith(".pdf"):
                continue
            absolute = Path(dirpath) / name
            if not _inside(absolute, root):
                logger.warning("skipping link outside the data dir path=%r", str(absolute))
                continue
            try:
                stat = absolute.stat()
            except OSError as exc:
                logger.warning("cannot stat path=%r error=%s", str(absolute), exc)
                continue
            rel = absolute.relative_to(root).as_posix()
            found[rel] = DiskFile(rel, absolute, stat.st_size, stat.st_mtime_ns)
    return found


def _inside(path: Path, root: Path) -> bool:
    try:
        path.resolve().relative_to(root)
    except (OSError, ValueError):
        return False
    return path.resolve().is_file()


def file_sha256(path: Path) -> str:
    """sha256 of a file's bytes, read in blocks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def embedding_text(title: str, chunk: Chunk) -> str:
    """What is embedded for a chunk: its text with the document title and section as context."""
    context = " — ".join(part for part in (title, chunk.section) if part)
    return f"{context}\n{chunk.text}" if context else chunk.text


def sync_folder(
    data_dir: Path, store: IndexStore, embeddings: Embeddings, options: SyncOptions | None = None
) -> SyncReport:
    """Index new and changed PDFs, re-point renamed ones, drop deleted ones; report failures."""
    options = options or SyncOptions()
    started = time.perf_counter()
    report = SyncReport()
    disk = scan_folder(data_dir)
    known = store.files()
    rechunk = _rechunk(store, known, chunking_recipe(options))
    work = _plan(disk, known, options, report, rechunk)
    missing = {path: info for path, info in known.items() if path not in disk}
    todo: list[tuple[DiskFile, str]] = []
    for item, sha in work:
        if _reuse(item, sha, store, known, missing, report, rechunk):
            continue
        todo.append((item, sha))
    for path in sorted(missing):
        store.remove_file(path)
        report.removed.append(path)
        logger.info("removed file=%r", path)
    try:
        for done, (item, sha) in enumerate(todo):
            if options.progress:
                options.progress(item.path, done, len(todo))
            _index_one(item, sha, store, embeddings, options, report)
    except Cancelled:
        report.cancelled = True
        logger.info("sync cancelled; the rest waits for the next run")
    if options.progress and not report.cancelled:
        options.progress("", len(todo), len(todo))
    report.updated = [path for path in report.indexed if path in known]
    if report.changed:
        store.save_faiss()
    report.seconds = time.perf_counter() - started
    logger.info(
        "sync done indexed=%d unchanged=%d removed=%d failed=%d deferred=%d chunks=%d seconds=%.2f "
        "cancelled=%s",
        len(report.indexed),
        len(report.unchanged),
        len(report.removed),
        len(report.failed),
        len(report.deferred),
        report.chunks,
        report.seconds,
        report.cancelled,
    )
    return report


def chunking_recipe(options: SyncOptions) -> str:
    """What decides a file's chunks: the heading rules' version and the chunk size and overlap."""
    return f"headings-v{HEADING_RULES_VERSION} size-{options.chunk_size} overlap-{options.chunk_overlap}"


def _rechunk(store: IndexStore, known: dict[str, FileInfo], recipe: str) -> set[str]:
    """Indexed files chunked another way (an upgrade, a new chunk size) before this recipe: index them again.

    A run stopped half-way leaves the rest for the next one; files it finished are not done twice.
    """
    since = store.recipe_since(recipe)
    stale = {path for path, info in known.items() if info.status == "indexed" and info.indexed_at < since}
    if stale:
        logger.info("chunking changed recipe=%r files=%d: indexing them again", recipe, len(stale))
    return stale


def _plan(
    disk: dict[str, DiskFile],
    known: dict[str, FileInfo],
    options: SyncOptions,
    report: SyncReport,
    rechunk: set[str],
) -> list[tuple[DiskFile, str]]:
    """Files whose content may have changed, with their sha256; the rest go to unchanged/deferred."""
    now_ns = time.time_ns()
    work: list[tuple[DiskFile, str]] = []
    for path, item in disk.items():
        info = known.get(path)
        if info and info.size == item.size and info.mtime_ns == item.mtime_ns:
            if path in rechunk:
                work.append((item, info.sha256))
            else:
                report.unchanged.append(path)
            continue
        if options.settle_seconds and now_ns - item.mtime_ns < options.settle_seconds * 1e9:
            report.deferred.append(path)  # still being written; a half-copied PDF must not be indexed
            continue
        try:
            sha = file_sha256(item.absolute)
        except OSError as exc:
            report.failed.append(FailedFile(path, f"unreadable: {exc.strerror or exc}"))
            continue
        if info and info.sha256 == sha and path not in rechunk:
            report.unchanged.append(path)
            work.append((item, ""))  # "" marks a touch-only entry: same bytes, new mtime
            continue
        work.append((item, sha))
    return work


def _reuse(
    item: DiskFile,
    sha: str,
    store: IndexStore,
    known: dict[str, FileInfo],
    missing: dict[str, FileInfo],
    report: SyncReport,
    stale: set[str],
) -> bool:
    """Handle touch-only, rename and copy without reading the PDF (never from a `stale` file's chunks)."""
    if sha == "":
        store.touch_file(item.path, item.size, item.mtime_ns)
        return True
    info = FileInfo(item.path, item.size, item.mtime_ns, sha, "indexed", None, "", 0, 0, time.time())
    gone = next(
        (p for p, f in missing.items() if f.sha256 == sha and f.status == "indexed" and p not in stale), None
    )
    if gone is not None:
        store.rename_file(gone, info)
        del missing[gone]
        report.renamed.append((gone, item.path))
        logger.info("renamed from=%r to=%r", gone, item.path)
        return True
    twin = next(
        (
            p
            for p, f in known.items()
            if f.sha256 == sha and f.status == "indexed" and p not in missing and p not in stale
        ),
        None,
    )
    if twin is not None and twin != item.path:
        store.copy_file(twin, info)
        report.indexed.append(item.path)
        report.pages_by_file[item.path] = known[twin].pages
        logger.info("copied from=%r to=%r", twin, item.path)
        return True
    return False


def _index_one(
    item: DiskFile,
    sha: str,
    store: IndexStore,
    embeddings: Embeddings,
    options: SyncOptions,
    report: SyncReport,
) -> None:
    started = time.perf_counter()
    info = FileInfo(item.path, item.size, item.mtime_ns, sha, "indexed", None, "", 0, 0, time.time())
    if _changed_since_scan(item, report):
        return
    try:
        document = read_pdf(item.absolute, max_seconds=options.max_seconds_per_file, step=options.step)
    except PdfReadError as exc:
        if not _changed_since_scan(item, report):
            _fail(store, info, exc.reason, report)
        return
    except OSError as exc:  # vanished or unreadable since the scan
        if not _changed_since_scan(item, report):
            report.failed.append(FailedFile(item.path, f"unreadable: {exc.strerror or exc}"))
        return
    chunks = chunk_document(document, options.chunk_size, options.chunk_overlap)
    texts = [embedding_text(document.title, chunk) for chunk in chunks]
    try:
        vectors = _embed(texts, embeddings, options)
        if _changed_since_scan(item, report):
            return
        info = FileInfo(
            item.path, item.size, item.mtime_ns, sha, "indexed", None, document.title,
            document.page_count, len(chunks), time.time(),
        )  # fmt: skip
        store.replace_file(info, [_to_input(chunk) for chunk in chunks], vectors)
    except Cancelled:
        raise
    except Exception as exc:  # one file's trouble (disk full, a model error) must not stop the run
        logger.exception("indexing failed file=%r", item.path)
        report.failed.append(FailedFile(item.path, f"error: {type(exc).__name__}: {exc}"))
        return
    report.indexed.append(item.path)
    report.chunks += len(chunks)
    report.pages += document.page_count
    report.pages_by_file[item.path] = document.page_count
    logger.info(
        "indexed file=%r pages=%d chunks=%d seconds=%.2f",
        item.path,
        document.page_count,
        len(chunks),
        time.perf_counter() - started,
    )


def _changed_since_scan(item: DiskFile, report: SyncReport) -> bool:
    """Look again: a file whose size or mtime moved since the scan is still being written; defer it."""
    try:
        stat = item.absolute.stat()
    except OSError:
        stat = None
    if stat is not None and stat.st_size == item.size and stat.st_mtime_ns == item.mtime_ns:
        return False
    logger.info("deferred file=%r reason=changed while being indexed", item.path)
    report.deferred.append(item.path)
    return True


def _fail(store: IndexStore, info: FileInfo, reason: str, report: SyncReport) -> None:
    logger.info("failed file=%r reason=%r", info.path, reason)
    store.record_failure(info, reason)
    report.failed.append(FailedFile(info.path, reason))


def _to_input(chunk: Chunk) -> ChunkInput:
    return ChunkInput(chunk.text, chunk.page, chunk.page_label, chunk.section, chunk.ocr)


def _embed(texts: list[str], embeddings: Embeddings, options: SyncOptions) -> np.ndarray:
    """Embed in small batches so a waiting question can take the CPU between them.

    Texts are batched by length (and put back in order) so that short chunks are not padded to a long one.
    """
    order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
    vectors: np.ndarray | None = None
    for picked in _batches(order, options.batch_size):
        with options.step():
            batch = np.asarray(embeddings.embed_documents([texts[i] for i in picked]), dtype=np.float32)
        if vectors is None:
            vectors = np.zeros((len(texts), batch.shape[1]), dtype=np.float32)
        vectors[picked] = batch
    return vectors if vectors is not None else np.zeros((0, 0), dtype=np.float32)


def _batches(items: list[int], size: int) -> Iterator[list[int]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]
