"""Printed page labels: the PDF's own /PageLabels, else page numbers inferred from the lines at page edges
(standalone numbers, "Page 3 of 9", "- 4 -", roman front matter, "F-7" appendices, running footers)."""

from __future__ import annotations

import itertools
import logging
import re
from collections import Counter
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ingest.pdf_open import describe

if TYPE_CHECKING:
    from pypdf import PdfReader

logger = logging.getLogger(__name__)


def defined_page_labels(reader: PdfReader, page_count: int) -> list[str] | None:
    """The PDF's /PageLabels when they say more than the physical numbers, else None."""
    try:
        labels = list(reader.page_labels)
    except Exception as exc:
        logger.debug("pdf_page_labels_unreadable detail=%s", describe(exc))
        return None
    if len(labels) != page_count or all(label == str(i + 1) for i, label in enumerate(labels)):
        return None
    return [" ".join(label.split()) or str(i + 1) for i, label in enumerate(labels)]


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
class Candidate:
    """A possible printed page number found at the edge of a page."""

    kind: str  # "arabic", "roman", "ROMAN" or a prefix such as "F-"
    value: int
    line: int  # index into the page's lines
    strong: bool  # a line of its own; weak = digits glued to the end of the last text line
    cut: int = 0  # for weak candidates: characters to cut from the end of the line

    def series(self, physical: int) -> tuple[str, int]:
        return self.kind, physical - self.value


def find_page_numbers(
    raw: list[tuple[int, list[str]]],
) -> dict[int, tuple[Candidate | None, str | None]]:
    """Per physical page: the accepted page-number candidate (to strip) and the inferred label."""
    running = _running_texts(raw)
    candidates = {number: _candidates(lines, running) for number, lines in raw}
    series_pages: dict[tuple[str, int], list[int]] = {}
    for number, found in candidates.items():
        for series in {c.series(number) for c in found}:
            series_pages.setdefault(series, []).append(number)
    accepted: dict[int, Candidate] = {}
    for number, found in candidates.items():
        support = {c: _support(series_pages[c.series(number)], number) for c in found}
        best = max(found, key=lambda c: (support[c], c.strong, c.cut, c.line), default=None)
        # glued digits are weaker evidence: they need two pages agreeing, not one
        if best is not None and support[best] >= (1 if best.strong else 2):
            accepted[number] = best
    result: dict[int, tuple[Candidate | None, str | None]] = {
        number: (c, _format_label(c.kind, c.value)) for number, c in accepted.items()
    }
    for number, label in _interpolate(accepted, [number for number, _ in raw]).items():
        result.setdefault(number, (None, label))
    return result


def _support(pages_in_series: list[int], number: int) -> int:
    """How many nearby pages continue the same numbering."""
    return sum(other != number and abs(other - number) <= _WINDOW for other in pages_in_series)


def _interpolate(accepted: dict[int, Candidate], numbers: list[int]) -> dict[int, str]:
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


def _candidates(lines: list[str], running: set[str]) -> list[Candidate]:
    found: list[Candidate] = []
    edges = _edge_lines(lines)
    for index, line in edges.items():
        token = _standalone_token(line, running)
        parsed = _parse_token(token) if token else None
        if parsed:
            found.append(Candidate(parsed[0], parsed[1], index, strong=True))
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


def _glued_candidates(line: str, index: int) -> list[Candidate]:
    """Digits stuck to the end of the last line ("statements.4", "could11")."""
    match = _GLUED_DIGITS.search(line)
    if not match or match.start() == 0 or _THOUSANDS.search(line[: match.start()]):
        return []
    digits = match.group(1)
    if len(digits) > 4 or digits[0] == "0":
        return []
    return [Candidate("arabic", int(digits), index, strong=False, cut=len(digits))]


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


def strip_candidate(lines: list[str], candidate: Candidate) -> list[str]:
    """The page's lines without the page number the candidate found."""
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
