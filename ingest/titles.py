"""A document's title: the PDF's metadata title when it looks like one, else a guess from the first page
(an SEC filing's registrant, form and fiscal year, or the first substantial line)."""

from __future__ import annotations

import logging
import re
from typing import TYPE_CHECKING

from ingest.pdf_open import describe

if TYPE_CHECKING:
    from pypdf import PdfReader

logger = logging.getLogger(__name__)


_ACCESSION = re.compile(r"^\d{10}-\d{2}-\d{6}$")
_FILE_NAME = re.compile(
    r"(^(microsoft\s+\w+\s+-\s+|untitled\b))|(\.(docx?|pdf|rtf|txt|odt|pptx?|xlsx?|indd|tex|dvi|html?)$)",
    re.IGNORECASE,
)


def metadata_title(reader: PdfReader) -> str:
    """The info dictionary's title, or "" when it is missing, broken or looks like a file name."""
    try:
        metadata = reader.metadata
        raw = metadata.title if metadata is not None else None
    except Exception as exc:  # broken info dictionary: fall back to the text
        logger.debug("pdf_metadata_unreadable detail=%s", describe(exc))
        return ""
    title = " ".join(str(raw or "").split())
    return title if looks_like_title(title) else ""


def looks_like_title(title: str) -> bool:
    """Letters, and not an EDGAR accession number or a file name."""
    letters = sum(ch.isalpha() for ch in title)
    return letters >= 3 and not _ACCESSION.match(title) and not _FILE_NAME.search(title)


_SEC_FORM = re.compile(r"\bFORM\s+(10-K|10-Q|20-F|40-F|8-K|S-1|F-1|6-K)\b", re.IGNORECASE)
_REGISTRANT = re.compile(r"^\(?exact name of (the )?registrant", re.IGNORECASE)
_FISCAL_YEAR = re.compile(
    r"for the fiscal year ended\s+([A-Z][a-z]+\s+\d{1,2},\s*\d{4}|\d{1,2}\s+[A-Z][a-z]+\s+\d{4})",
    re.IGNORECASE,
)
_CONNECTIVES = {"a", "an", "and", "at", "for", "from", "in", "of", "on", "or", "the", "to", "with"}
_TITLE_MAX_CHARS = 150


def title_from_text(text: str) -> str:
    """Guess a title from the first page: SEC filer + form + fiscal year, else the first real line(s)."""
    lines = [line for line in text.splitlines() if line.strip()]
    return _sec_title(text, lines) or _first_line_title(lines)


def _sec_title(text: str, lines: list[str]) -> str:
    form = _SEC_FORM.search(text)
    if not form:
        return ""
    company = next((lines[i - 1] for i in range(1, len(lines)) if _REGISTRANT.match(lines[i])), "")
    if not company or not looks_like_title(company):
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
