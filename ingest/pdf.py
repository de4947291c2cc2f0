"""Read one PDF into cleaned page texts with physical numbers, printed page labels and a title.

The steps live beside it: opening and errors (ingest.pdf_open), text cleanup (ingest.text_cleanup),
printed page labels (ingest.page_labels) and titles (ingest.titles); this module runs them page by page
under the CPU gate and the file's time limit.
"""

from __future__ import annotations

import logging
import time
import warnings
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from ingest.cpu_gate import Cancelled
from ingest.page_labels import defined_page_labels, find_page_numbers, strip_candidate
from ingest.page_text import PageTooSlow, page_text_in_child
from ingest.pdf_open import (
    EMPTY_FILE,
    NO_TEXT_LAYER,
    PASSWORD_PROTECTED,
    PdfReadError,
    corrupt,
    describe,
    open_pdf,
    page_text_here,
    relog_warnings,
    route_pypdf_logging,
)
from ingest.text_cleanup import Hyphenation, clean_lines, has_text, has_words
from ingest.titles import metadata_title, title_from_text

__all__ = [
    "BIG_PAGE_BYTES",
    "EMPTY_FILE",
    "NO_TEXT_LAYER",
    "PASSWORD_PROTECTED",
    "Page",
    "PdfDocument",
    "PdfReadError",
    "StepFn",
    "clean_lines",
    "page_text_here",
    "read_pdf",
]

if TYPE_CHECKING:
    from pypdf import PageObject, PdfReader

logger = logging.getLogger(__name__)

# Pages whose content stream is larger than this are extracted in a child process (ingest.page_text):
# ordinary pages are 2-200 KB; pypdf takes seconds to minutes on a page of several MB.
BIG_PAGE_BYTES = 1024 * 1024


@dataclass(frozen=True)
class Page:
    """One page with text: 1-based physical number, printed label, cleaned text."""

    number: int
    label: str
    text: str
    ocr: bool = False


@dataclass(frozen=True)
class PdfDocument:
    """A readable PDF: its title, the pages that have text (in order) and its total page count."""

    title: str
    pages: list[Page]
    page_count: int


StepFn = Callable[[], AbstractContextManager[object]]
"""One turn on the CPU (see ingest.cpu_gate); each page's extraction or OCR runs inside one."""


@dataclass
class _Clock:
    """Time spent reading a file, not counting turns waited for nor OCR (a scan is slow, not broken)."""

    started: float = field(default_factory=time.monotonic)
    excluded: float = 0.0

    def elapsed(self) -> float:
        return time.monotonic() - self.started - self.excluded


def read_pdf(
    path: Path,
    *,
    max_seconds: float | None = None,
    step: StepFn | None = None,
    ocr: bool | None = None,
    big_page_bytes: int = BIG_PAGE_BYTES,
) -> PdfDocument:
    """Read a PDF's text page by page; raise PdfReadError with a reason when it cannot be used.

    Pages without a text layer are read with Tesseract when `ocr` is True, or None and Tesseract is
    installed; those pages have `ocr=True`. `step` wraps each page's work (a CPU gate's turn).
    A page whose content stream is over `big_page_bytes` is extracted in a child process that is killed
    at `max_seconds` and paused while a question waits for the CPU gate.
    OSError (missing file, no permission) is not a PDF problem and propagates. pypdf's warnings and
    log records are routed to DEBUG.
    """
    route_pypdf_logging()
    if path.stat().st_size == 0:
        raise PdfReadError(EMPTY_FILE)
    reading = _Reading(_Clock(), max_seconds, step or nullcontext, ocr, path, big_page_bytes)
    with warnings.catch_warnings(record=True) as caught:
        try:
            return _read(path, reading)
        finally:
            relog_warnings(caught)


@dataclass
class _Reading:
    """How one file is read: its clock and time limit, the CPU turns, and whether to OCR."""

    clock: _Clock
    max_seconds: float | None
    step: StepFn
    ocr: bool | None
    path: Path
    big_page_bytes: int = BIG_PAGE_BYTES
    ocr_pages: set[int] = field(default_factory=set)

    def over_time(self) -> bool:
        return self.max_seconds is not None and self.clock.elapsed() > self.max_seconds

    def too_slow(self) -> PdfReadError:
        return corrupt(f"took longer than {self.max_seconds:g} s")

    @contextmanager
    def turn(self) -> Iterator[object]:
        """One CPU turn; the time spent waiting for it does not count against the time limit."""
        waiting = time.monotonic()
        with self.step() as turn:
            self.clock.excluded += time.monotonic() - waiting
            yield turn

    def use_ocr(self) -> bool:
        if self.ocr is None:
            from ingest.ocr import tesseract_available

            self.ocr = tesseract_available()
            if not self.ocr:
                logger.debug("ocr unavailable: tesseract is not installed")
        return self.ocr


def _read(path: Path, reading: _Reading) -> PdfDocument:
    reader = open_pdf(path)
    try:
        page_count = len(reader.pages)
        given_title = metadata_title(reader)
        printed_labels = defined_page_labels(reader, page_count)
        raw = list(_extract_pages(reader, page_count, reading))
    except (PdfReadError, Cancelled):
        raise
    except Exception as exc:  # pypdf raises many kinds of errors on broken files
        raise corrupt(describe(exc)) from exc
    pages = _finish_pages(raw, printed_labels, reading.ocr_pages)
    if not pages:
        raise PdfReadError(NO_TEXT_LAYER)
    title = given_title or title_from_text(pages[0].text) or path.stem
    logger.debug("pdf_read file=%s pages=%d text_pages=%d", path.name, page_count, len(pages))
    return PdfDocument(title=title, pages=pages, page_count=page_count)


def _extract_pages(reader: PdfReader, page_count: int, reading: _Reading) -> Iterator[tuple[int, list[str]]]:
    """Yield (physical number, cleaned lines) for pages that have text; skip pages that fail."""
    failures = 0
    last_error = ""
    for index in range(page_count):
        if reading.over_time():
            raise reading.too_slow()
        try:
            lines = _page_lines(reader, index, reading)
        except (Cancelled, PdfReadError):
            raise
        except Exception as exc:  # one bad page must not cost the whole file
            failures += 1
            last_error = describe(exc)
            logger.debug("pdf_page_failed page=%d detail=%s", index + 1, last_error)
            continue
        if has_text(lines):
            yield index + 1, lines
    if failures == page_count and page_count:
        raise corrupt(f"text extraction failed on every page ({last_error})")


def _page_lines(reader: PdfReader, index: int, reading: _Reading) -> list[str]:
    """A page's cleaned lines: its text layer, else (when enabled) what OCR reads in its images."""
    with reading.turn():
        page = reader.pages[index]
        size = _content_bytes(page)
        if size <= reading.big_page_bytes:
            return _lines_or_ocr(page, index, reading, page.extract_text())
    logger.info("pdf_big_page page=%d content_bytes=%d; extracting in a child process", index + 1, size)
    try:
        text = page_text_in_child(reading.path, index, reading.turn, reading.over_time)
    except PageTooSlow:
        raise reading.too_slow() from None
    with reading.turn():
        return _lines_or_ocr(page, index, reading, text)


def _lines_or_ocr(page: PageObject, index: int, reading: _Reading, text: str) -> list[str]:
    """Clean the extracted text; a page without any is OCR'd when enabled (inside the caller's turn)."""
    lines = clean_lines(text)
    if has_text(lines) or not reading.use_ocr():
        return lines
    from ingest.ocr import ocr_page

    reading_started = time.monotonic()
    lines = clean_lines(ocr_page(page))
    reading.clock.excluded += time.monotonic() - reading_started
    if has_words(lines):
        reading.ocr_pages.add(index + 1)
        logger.debug("pdf_page_ocr page=%d lines=%d", index + 1, len(lines))
        return lines
    return []


def _content_bytes(page: PageObject) -> int:
    """The size of a page's decoded content stream (0 when it cannot be read: extraction then fails
    or copes as before). pypdf keeps the decoded stream, so extraction does not decode it again."""
    try:
        contents = page.get_contents()
        return len(contents.get_data()) if contents is not None else 0
    except Exception:
        return 0


def _finish_pages(
    raw: list[tuple[int, list[str]]], printed_labels: list[str] | None, ocr_pages: set[int] | None = None
) -> list[Page]:
    """Attach labels, strip page-number lines and build the final page texts."""
    found = find_page_numbers(raw)
    texts: list[tuple[int, str, str]] = []
    for number, lines in raw:
        candidate, inferred = found.get(number, (None, None))
        if candidate is not None:
            lines = strip_candidate(lines, candidate)
        label = printed_labels[number - 1] if printed_labels is not None else inferred or str(number)
        texts.append((number, label, "\n".join(lines)))
    hyphenation = Hyphenation([text for _, _, text in texts])
    pages: list[Page] = []
    for number, label, text in texts:
        joined = hyphenation.join(text).strip()
        if any(ch.isalnum() for ch in joined):
            pages.append(Page(number=number, label=label, text=joined, ocr=number in (ocr_pages or ())))
    return pages
