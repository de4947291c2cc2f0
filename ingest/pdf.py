"""Read one PDF into cleaned page texts with physical numbers, printed page labels and a title."""

from __future__ import annotations

import itertools
import logging
import re
import string
import time
import unicodedata
import warnings
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from ingest.cpu_gate import Cancelled
from ingest.page_text import PageTooSlow, page_text_in_child

if TYPE_CHECKING:
    from pypdf import PageObject, PdfReader

logger = logging.getLogger(__name__)

EMPTY_FILE = "empty file"
PASSWORD_PROTECTED = "password-protected"
NO_TEXT_LAYER = "no text layer (scanned; needs OCR)"
_DETAIL_MAX_CHARS = 120
_PROBE_BYTES = 1024
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


class PdfReadError(Exception):
    """A PDF that cannot be read; `reason` is meant for people."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def _corrupt(detail: str) -> PdfReadError:
    """The error for a file pypdf cannot parse, with a short one-line detail."""
    line = " ".join(detail.split())
    if len(line) > _DETAIL_MAX_CHARS:
        line = line[: _DETAIL_MAX_CHARS - 3].rstrip() + "..."
    return PdfReadError(f"corrupt: {line or 'unreadable'}")


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
    _route_pypdf_logging()
    if path.stat().st_size == 0:
        raise PdfReadError(EMPTY_FILE)
    reading = _Reading(_Clock(), max_seconds, step or nullcontext, ocr, path, big_page_bytes)
    with warnings.catch_warnings(record=True) as caught:
        try:
            return _read(path, reading)
        finally:
            _relog_warnings(caught)


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
        return _corrupt(f"took longer than {self.max_seconds:g} s")

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
    reader = _open(path)
    try:
        page_count = len(reader.pages)
        metadata_title = _metadata_title(reader)
        printed_labels = _defined_page_labels(reader, page_count)
        raw = list(_extract_pages(reader, page_count, reading))
    except (PdfReadError, Cancelled):
        raise
    except Exception as exc:  # pypdf raises many kinds of errors on broken files
        raise _corrupt(_describe(exc)) from exc
    pages = _finish_pages(raw, printed_labels, reading.ocr_pages)
    if not pages:
        raise PdfReadError(NO_TEXT_LAYER)
    title = metadata_title or _title_from_text(pages[0].text) or path.stem
    logger.debug("pdf_read file=%s pages=%d text_pages=%d", path.name, page_count, len(pages))
    return PdfDocument(title=title, pages=pages, page_count=page_count)


# --- opening, encryption, errors ---------------------------------------------------------------


def _open(path: Path) -> PdfReader:
    from pypdf import PdfReader
    from pypdf.errors import DependencyError

    try:
        reader = PdfReader(path, strict=False)
    except OSError:
        raise
    except Exception as exc:
        raise _corrupt(_damage(path, exc)) from exc
    if not reader.is_encrypted:
        return reader
    try:
        opened = reader.decrypt("")
    except DependencyError as exc:
        raise _corrupt("AES-encrypted; needs the 'cryptography' package") from exc
    except NotImplementedError as exc:  # a non-standard security handler (DRM): no way in without it
        logger.debug("pdf_unsupported_encryption file=%s detail=%s", path.name, exc)
        raise PdfReadError(PASSWORD_PROTECTED) from exc
    except Exception as exc:
        raise _corrupt(_describe(exc)) from exc
    if not opened:
        raise PdfReadError(PASSWORD_PROTECTED)
    return reader


def _damage(path: Path, exc: Exception) -> str:
    """Say what is wrong in words a person can act on, when the bytes show it."""
    size = path.stat().st_size
    with path.open("rb") as handle:
        head = handle.read(_PROBE_BYTES)
        handle.seek(max(0, size - _PROBE_BYTES))
        tail = handle.read()
    if b"%PDF-" not in head:
        return "not a PDF file"
    if b"%%EOF" not in tail:
        return f"truncated ({_describe(exc)})"
    return _describe(exc)


def _describe(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return text or type(exc).__name__


class _ToDebug(logging.Handler):
    """Re-log pypdf's records at DEBUG under this module's logger (they are about the file, not us)."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            message = record.getMessage()
        except Exception:  # a malformed record must not break reading
            message = str(record.msg)
        logger.debug("pypdf level=%s message=%s", record.levelname, message[:300])


def _route_pypdf_logging() -> None:
    pypdf_logger = logging.getLogger("pypdf")
    if any(isinstance(handler, _ToDebug) for handler in pypdf_logger.handlers):
        return
    pypdf_logger.addHandler(_ToDebug())
    pypdf_logger.propagate = False


def _relog_warnings(caught: list[warnings.WarningMessage]) -> None:
    for item in caught:
        if "pypdf" in item.filename.replace("\\", "/").split("/"):
            logger.debug("pypdf_warning category=%s message=%s", item.category.__name__, item.message)
        else:  # not ours to silence
            warnings.warn_explicit(item.message, item.category, item.filename, item.lineno)


# --- metadata ------------------------------------------------------------------------------------

_ACCESSION = re.compile(r"^\d{10}-\d{2}-\d{6}$")
_FILE_NAME = re.compile(
    r"(^(microsoft\s+\w+\s+-\s+|untitled\b))|(\.(docx?|pdf|rtf|txt|odt|pptx?|xlsx?|indd|tex|dvi|html?)$)",
    re.IGNORECASE,
)


def _metadata_title(reader: PdfReader) -> str:
    try:
        metadata = reader.metadata
        raw = metadata.title if metadata is not None else None
    except Exception as exc:  # broken info dictionary: fall back to the text
        logger.debug("pdf_metadata_unreadable detail=%s", _describe(exc))
        return ""
    title = " ".join(str(raw or "").split())
    return title if _looks_like_title(title) else ""


def _looks_like_title(title: str) -> bool:
    letters = sum(ch.isalpha() for ch in title)
    return letters >= 3 and not _ACCESSION.match(title) and not _FILE_NAME.search(title)


def _defined_page_labels(reader: PdfReader, page_count: int) -> list[str] | None:
    """The PDF's /PageLabels when they say more than the physical numbers, else None."""
    try:
        labels = list(reader.page_labels)
    except Exception as exc:
        logger.debug("pdf_page_labels_unreadable detail=%s", _describe(exc))
        return None
    if len(labels) != page_count or all(label == str(i + 1) for i, label in enumerate(labels)):
        return None
    return [" ".join(label.split()) or str(i + 1) for i, label in enumerate(labels)]


# --- extraction and text cleanup -----------------------------------------------------------------


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
            last_error = _describe(exc)
            logger.debug("pdf_page_failed page=%d detail=%s", index + 1, last_error)
            continue
        if _has_text(lines):
            yield index + 1, lines
    if failures == page_count and page_count:
        raise _corrupt(f"text extraction failed on every page ({last_error})")


_CONTROL = re.compile(r"[\x00-\x08\x0e-\x1f\x7f-\x9f\u200b\ufeff]")
_SPACES = re.compile(r"[ \t\u00a0\u1680\u2000-\u200a\u202f\u205f\u3000]+")
_LIGATURES = {"ﬀ": "ff", "ﬁ": "fi", "ﬂ": "fl", "ﬃ": "ffi", "ﬄ": "ffl", "ﬅ": "st", "ﬆ": "st"}


def clean_lines(text: str) -> list[str]:
    """Split extracted text into stripped lines: control chars dropped, space runs collapsed, one blank
    line kept between paragraphs, ligatures expanded."""
    for ligature, letters in _LIGATURES.items():
        if ligature in text:
            text = text.replace(ligature, letters)
    if not unicodedata.is_normalized("NFC", text):
        text = unicodedata.normalize("NFC", text)
    text = text.replace("\r\n", "\n").replace("\r", "\n").replace("\x0b", "\n").replace("\x0c", "\n")
    text = _CONTROL.sub("", text)
    lines: list[str] = []
    for raw in text.split("\n"):
        line = _SPACES.sub(" ", raw).strip()
        if line or (lines and lines[-1]):
            lines.append(line)
    while lines and not lines[-1]:
        lines.pop()
    return lines


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
    if _has_text(lines) or not reading.use_ocr():
        return lines
    from ingest.ocr import ocr_page

    reading_started = time.monotonic()
    lines = clean_lines(ocr_page(page))
    reading.clock.excluded += time.monotonic() - reading_started
    if _has_words(lines):
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


def page_text_here(path: Path, index: int) -> str:
    """The raw text of page `index` (0-based), in this process: what the child of ingest.page_text runs."""
    _route_pypdf_logging()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return _open(path).pages[index].extract_text()


def _has_text(lines: list[str]) -> bool:
    return any(ch.isalnum() for line in lines for ch in line)


_WORD = re.compile(r"[^\W\d_]{3,}")


def _has_words(lines: list[str]) -> bool:
    """OCR reads specks and rules as stray characters; a page of text has real words."""
    return sum(len(_WORD.findall(line)) for line in lines) >= 2


_BREAK = "-\n"
_HEAD = re.compile(r"(?<![\w-])([^\W\d_]+)$")
_TAIL = re.compile(r"^([^\W\d_A-Z]\w*)")
_TOKEN_EDGES = string.punctuation.replace("-", "") + "“”‘’«»…"


class Hyphenation:
    """Decides how to join a word broken across lines, from how the rest of the document spells words."""

    def __init__(self, texts: list[str]) -> None:
        self._compounds: set[str] = set()
        self._heads: set[str] = set()
        self._words: set[str] = set()
        if not any(_BREAK in text or "\u00ad" in text for text in texts):
            return  # nothing to decide; skip building the vocabulary
        for token in {token.strip(_TOKEN_EDGES) for text in texts for token in text.lower().split()}:
            parts = token.split("-")
            if len(parts) == 2 and parts[0].isalpha() and parts[1].isalpha():
                self._compounds.add(token)
                self._heads.add(parts[0])
            elif len(parts) == 1:
                self._words.add(token)

    def join(self, text: str) -> str:
        """Join "pay-\nment" -> "payment", but keep "task-\nspecific" -> "task-specific" when the
        document spells the compound (or the same prefix, like "pre-") with a hyphen elsewhere."""
        text = text.replace("\u00ad\n", _BREAK).replace("\u00ad", "")
        if _BREAK not in text:
            return text
        pieces = text.split(_BREAK)
        joined = [pieces[0]]
        for piece in pieces[1:]:
            head, tail = _HEAD.search(joined[-1][-60:]), _TAIL.match(piece)
            if head is None or tail is None:
                joined.append(_BREAK + piece)
            else:
                joined.append(self._glue(head.group(1), tail.group(1)) + piece)
        return "".join(joined)

    def _glue(self, head: str, tail: str) -> str:
        """What goes between the two halves: "-" to keep a compound, "" to make one word."""
        lowered = head.lower()
        if f"{lowered}-{tail.lower()}" in self._compounds:
            return "-"
        if (lowered + tail.lower()) not in self._words and lowered in self._heads:
            return "-"
        return ""


# --- printed page numbers ------------------------------------------------------------------------

_ROMAN = re.compile(r"^(?=[ivxlcdm]+$)m{0,3}(cm|cd|d?c{0,3})(xc|xl|l?x{0,3})(ix|iv|v?i{0,3})$")
_NUMBER_TOKEN = r"(\d{1,4}|[ivxlcdm]{1,8}|[IVXLCDM]{1,8}|[A-Z]{1,2}-\d{1,4})"
_ALONE = re.compile(rf"^(?:page\s+)?{_NUMBER_TOKEN}(?:\s+of\s+\d{{1,4}})?$", re.IGNORECASE)
_DASHED = re.compile(rf"^[-–—]\s*{_NUMBER_TOKEN}\s*[-–—]$")
_BAR_BEFORE = re.compile(rf"^{_NUMBER_TOKEN}\s*\|\s*\S.*$")
_BAR_AFTER = re.compile(rf"^.*\S\s*\|\s*{_NUMBER_TOKEN}$")
_LEADING = re.compile(rf"^{_NUMBER_TOKEN}\s+(\S.{{2,}})$")
_TRAILING = re.compile(rf"^(.{{2,}}\S)\s+{_NUMBER_TOKEN}$")
_GLUED_DIGITS = re.compile(r"(\d+)$")
_THOUSANDS = re.compile(r"\d,$")
_EDGE_LINES = 2
_WINDOW = 3
_MAX_GAP = 4
_RUNNING_MIN_PAGES = 3


@dataclass(frozen=True)
class _Candidate:
    """A possible printed page number found at the edge of a page."""

    kind: str  # "arabic", "roman", "ROMAN" or a prefix such as "F-"
    value: int
    line: int  # index into the page's lines
    strong: bool  # a line of its own; weak = digits glued to the end of the last text line
    cut: int = 0  # for weak candidates: characters to cut from the end of the line

    def series(self, physical: int) -> tuple[str, int]:
        return self.kind, physical - self.value


def _finish_pages(
    raw: list[tuple[int, list[str]]], printed_labels: list[str] | None, ocr_pages: set[int] | None = None
) -> list[Page]:
    """Attach labels, strip page-number lines and build the final page texts."""
    found = _find_page_numbers(raw)
    texts: list[tuple[int, str, str]] = []
    for number, lines in raw:
        candidate, inferred = found.get(number, (None, None))
        if candidate is not None:
            lines = _strip_candidate(lines, candidate)
        label = printed_labels[number - 1] if printed_labels is not None else inferred or str(number)
        texts.append((number, label, "\n".join(lines)))
    hyphenation = Hyphenation([text for _, _, text in texts])
    pages: list[Page] = []
    for number, label, text in texts:
        joined = hyphenation.join(text).strip()
        if any(ch.isalnum() for ch in joined):
            pages.append(Page(number=number, label=label, text=joined, ocr=number in (ocr_pages or ())))
    return pages


def _find_page_numbers(
    raw: list[tuple[int, list[str]]],
) -> dict[int, tuple[_Candidate | None, str | None]]:
    """Per physical page: the accepted page-number candidate (to strip) and the inferred label."""
    running = _running_texts(raw)
    candidates = {number: _candidates(lines, running) for number, lines in raw}
    series_pages: dict[tuple[str, int], list[int]] = {}
    for number, found in candidates.items():
        for series in {c.series(number) for c in found}:
            series_pages.setdefault(series, []).append(number)
    accepted: dict[int, _Candidate] = {}
    for number, found in candidates.items():
        support = {c: _support(series_pages[c.series(number)], number) for c in found}
        best = max(found, key=lambda c: (support[c], c.strong, c.cut, c.line), default=None)
        # glued digits are weaker evidence: they need two pages agreeing, not one
        if best is not None and support[best] >= (1 if best.strong else 2):
            accepted[number] = best
    result: dict[int, tuple[_Candidate | None, str | None]] = {
        number: (c, _format_label(c.kind, c.value)) for number, c in accepted.items()
    }
    for number, label in _interpolate(accepted, [number for number, _ in raw]).items():
        result.setdefault(number, (None, label))
    return result


def _support(pages_in_series: list[int], number: int) -> int:
    """How many nearby pages continue the same numbering."""
    return sum(other != number and abs(other - number) <= _WINDOW for other in pages_in_series)


def _interpolate(accepted: dict[int, _Candidate], numbers: list[int]) -> dict[int, str]:
    """Label pages lying between two close pages of the same series (e.g. a full-page chart)."""
    labels: dict[int, str] = {}
    ordered = sorted(accepted)
    for before, after in itertools.pairwise(ordered):
        first, second = accepted[before], accepted[after]
        if after - before > _MAX_GAP or first.series(before) != second.series(after):
            continue
        for number in range(before + 1, after):
            labels[number] = _format_label(first.kind, first.value + number - before)
    known = set(numbers)
    return {number: label for number, label in labels.items() if number in known}


def _running_texts(raw: list[tuple[int, list[str]]]) -> set[str]:
    """Edge-line texts (digits removed) repeated on several pages: running headers and footers."""
    counts: Counter[str] = Counter()
    for _, lines in raw:
        edges = {_without_number(line) for line in _edge_lines(lines).values()}
        counts.update(edge for edge in edges if edge)
    return {text for text, count in counts.items() if count >= _RUNNING_MIN_PAGES}


def _without_number(line: str) -> str:
    for pattern, group in ((_LEADING, 2), (_TRAILING, 1)):
        match = pattern.match(line)
        if match:
            return match.group(group).strip()
    return ""


def _edge_lines(lines: list[str]) -> dict[int, str]:
    indexes = [i for i, line in enumerate(lines) if line]
    edges = indexes[:_EDGE_LINES] + indexes[-_EDGE_LINES:]
    return {i: lines[i] for i in edges}


def _candidates(lines: list[str], running: set[str]) -> list[_Candidate]:
    found: list[_Candidate] = []
    edges = _edge_lines(lines)
    for index, line in edges.items():
        token = _standalone_token(line, running)
        parsed = _parse_token(token) if token else None
        if parsed:
            found.append(_Candidate(parsed[0], parsed[1], index, strong=True))
    if edges:
        last = max(edges)
        found.extend(_glued_candidates(lines[last], last))
    return found


def _standalone_token(line: str, running: set[str]) -> str | None:
    for pattern in (_ALONE, _DASHED, _BAR_BEFORE, _BAR_AFTER):
        match = pattern.match(line)
        if match:
            return match.group(1)
    leading, trailing = _LEADING.match(line), _TRAILING.match(line)
    if leading and leading.group(2).strip() in running:
        return leading.group(1)
    if trailing and trailing.group(1).strip() in running:
        return trailing.group(2)
    return None


def _glued_candidates(line: str, index: int) -> list[_Candidate]:
    """Digits stuck to the end of the last line ("statements.4", "could11")."""
    match = _GLUED_DIGITS.search(line)
    if not match or match.start() == 0 or _THOUSANDS.search(line[: match.start()]):
        return []
    digits = match.group(1)
    if len(digits) > 4 or digits[0] == "0":
        return []
    return [_Candidate("arabic", int(digits), index, strong=False, cut=len(digits))]


def _parse_token(token: str) -> tuple[str, int] | None:
    if token.isdigit():
        return "arabic", int(token)
    if "-" in token:
        prefix, digits = token.split("-", 1)
        return f"{prefix}-", int(digits)
    if _ROMAN.match(token.lower()) and (token.islower() or token.isupper()):
        return ("roman" if token.islower() else "ROMAN"), _roman_value(token.lower())
    return None


_ROMAN_VALUES = {"i": 1, "v": 5, "x": 10, "l": 50, "c": 100, "d": 500, "m": 1000}


def _roman_value(token: str) -> int:
    total = 0
    for char, following in zip(token, [*token[1:], ""], strict=True):
        value = _ROMAN_VALUES[char]
        total += -value if following and _ROMAN_VALUES[following] > value else value
    return total


def _to_roman(value: int) -> str:
    parts = []
    for number, numeral in (
        (1000, "m"), (900, "cm"), (500, "d"), (400, "cd"), (100, "c"), (90, "xc"),
        (50, "l"), (40, "xl"), (10, "x"), (9, "ix"), (5, "v"), (4, "iv"), (1, "i"),
    ):  # fmt: skip
        count, value = divmod(value, number)
        parts.append(numeral * count)
    return "".join(parts)


def _format_label(kind: str, value: int) -> str:
    if kind == "roman":
        return _to_roman(value) if value > 0 else str(value)
    if kind == "ROMAN":
        return _to_roman(value).upper() if value > 0 else str(value)
    if kind == "arabic":
        return str(value)
    return f"{kind}{value}"


def _strip_candidate(lines: list[str], candidate: _Candidate) -> list[str]:
    kept = list(lines)
    if candidate.strong:
        del kept[candidate.line]
    else:
        kept[candidate.line] = kept[candidate.line][: -candidate.cut].rstrip()
    # the removed line may leave blank lines side by side or at an edge
    tidy = [line for i, line in enumerate(kept) if line or (0 < i < len(kept) - 1 and kept[i - 1])]
    while tidy and not tidy[-1]:
        tidy.pop()
    return tidy


# --- title from text ------------------------------------------------------------------------------

_SEC_FORM = re.compile(r"\bFORM\s+(10-K|10-Q|20-F|40-F|8-K|S-1|F-1|6-K)\b", re.IGNORECASE)
_REGISTRANT = re.compile(r"^\(?exact name of (the )?registrant", re.IGNORECASE)
_FISCAL_YEAR = re.compile(
    r"for the fiscal year ended\s+([A-Z][a-z]+\s+\d{1,2},\s*\d{4}|\d{1,2}\s+[A-Z][a-z]+\s+\d{4})",
    re.IGNORECASE,
)
_CONNECTIVES = {"a", "an", "and", "at", "for", "from", "in", "of", "on", "or", "the", "to", "with"}
_TITLE_MAX_CHARS = 150


def _title_from_text(text: str) -> str:
    """Guess a title from the first page: SEC filer + form + fiscal year, else the first real line(s)."""
    lines = [line for line in text.splitlines() if line.strip()]
    return _sec_title(text, lines) or _first_line_title(lines)


def _sec_title(text: str, lines: list[str]) -> str:
    form = _SEC_FORM.search(text)
    if not form:
        return ""
    company = next((lines[i - 1] for i in range(1, len(lines)) if _REGISTRANT.match(lines[i])), "")
    if not company or not _looks_like_title(company):
        return ""
    title = f"{company} Form {form.group(1).upper()}"
    year = _FISCAL_YEAR.search(text)
    if year:
        title += f" for the fiscal year ended {' '.join(year.group(1).split())}"
    return title


def _first_line_title(lines: list[str]) -> str:
    for index, line in enumerate(lines[:15]):
        if not _substantial(line):
            continue
        title = line
        following = lines[index + 1] if index + 1 < len(lines) else ""
        words = title.split()
        if following and _title_like(following) and (words[-1].lower() in _CONNECTIVES or len(words) <= 6):
            title = f"{title} {following}"
        return title[:_TITLE_MAX_CHARS].strip()
    return ""


def _substantial(line: str) -> bool:
    letters = sum(ch.isalpha() for ch in line)
    return letters >= 6 and letters >= len(line) / 2 and len(line) <= _TITLE_MAX_CHARS


def _title_like(line: str) -> bool:
    words = line.split()
    if not words or len(words) > 6 or line[-1] in ".,;":
        return False
    return all(word[0].isupper() or word.lower() in _CONNECTIVES or not word[0].isalpha() for word in words)
