"""Split a read PDF into page-bound chunks that carry their page, printed label and section heading."""

from __future__ import annotations

import logging
import re
from collections import Counter
from dataclasses import dataclass

from ingest.pdf import PdfDocument

logger = logging.getLogger(__name__)

SECTION_SEPARATOR = " > "
# Bump when the heading rules or the splitting change: indexes record it and re-chunk every file once.
# 2: a filing's exhibits start their own top section.
HEADING_RULES_VERSION = 2
_SECTION_MAX_CHARS = 160


@dataclass(frozen=True)
class Chunk:
    """A piece of one page's text with what a citation needs."""

    text: str
    page: int
    page_label: str
    ocr: bool = False
    section: str = ""


def chunk_document(doc: PdfDocument, chunk_size: int = 500, chunk_overlap: int = 50) -> list[Chunk]:
    """Split each page separately (a chunk never spans two pages); attach the section heading in force."""
    from langchain_text_splitters import RecursiveCharacterTextSplitter

    splitter = RecursiveCharacterTextSplitter(chunk_size=chunk_size, chunk_overlap=chunk_overlap)
    finder = HeadingFinder.for_document(doc)
    tracker = SectionTracker()
    chunks: list[Chunk] = []
    for page in doc.pages:
        tracker.start_page(page.text, finder.find(page.text))
        for start, piece in _pieces(splitter.split_text(page.text), page.text, chunk_overlap):
            section = tracker.enter(start)
            if _has_words(piece):
                chunks.append(Chunk(piece, page.number, page.label, ocr=page.ocr, section=section))
        tracker.end_page()
    logger.debug("chunked pages=%d chunks=%d", len(doc.pages), len(chunks))
    return chunks


def _pieces(pieces: list[str], text: str, overlap: int) -> list[tuple[int, str]]:
    """Each split piece with its start offset in the page text."""
    located: list[tuple[int, str]] = []
    start, length = 0, 0
    for piece in pieces:
        found = text.find(piece, max(0, start + length - overlap))
        if found < 0:
            found = text.find(piece, start)
        start, length = (found, len(piece)) if found >= 0 else (start, 0)
        located.append((start, piece))
    return located


def _has_words(text: str) -> bool:
    return any(ch.isalpha() for ch in text)


# --- headings -------------------------------------------------------------------------------------

EXHIBIT, PART, MAJOR, MINOR = "exhibit", "part", "major", "minor"


@dataclass(frozen=True)
class Heading:
    """A heading found in a page: where its line(s) start and end, its text, its rank (part, major, minor)."""

    offset: int
    end: int
    text: str
    rank: str


class SectionTracker:
    """Carries the current major heading (Item, Chapter, Note, "1 Introduction") and the latest minor
    heading under it across pages."""

    def __init__(self) -> None:
        self._exhibit = ""
        self._major = ""
        self._minor = ""
        self._text = ""
        self._headings: list[Heading] = []
        self._next = 0

    @property
    def section(self) -> str:
        """ "Exhibit > major > minor", or whichever exist."""
        parts = [part for part in (self._exhibit, self._major, self._minor) if part]
        return SECTION_SEPARATOR.join(parts)[:_SECTION_MAX_CHARS]

    def start_page(self, text: str, headings: list[Heading]) -> None:
        """Begin a page whose headings (in order) were found in `text`."""
        self._text, self._headings, self._next = text, headings, 0

    def enter(self, start: int) -> str:
        """The section of a chunk starting at `start`: headings before it, and those that open it."""
        cursor = start
        while self._next < len(self._headings) and self._headings[self._next].offset <= cursor:
            heading = self._headings[self._next]
            self._apply(heading)
            self._next += 1
            cursor = max(cursor, self._skip_space(heading.end))
        return self.section

    def end_page(self) -> None:
        """Finish a page; a table of contents (many major headings on one page) is not carried over."""
        majors = sum(heading.rank == MAJOR for heading in self._headings)
        while self._next < len(self._headings):
            self._apply(self._headings[self._next])
            self._next += 1
        if majors >= _CONTENTS_MIN_MAJORS:
            self._major, self._minor = "", ""

    def _skip_space(self, position: int) -> int:
        while position < len(self._text) and self._text[position].isspace():
            position += 1
        return position

    def _apply(self, heading: Heading) -> None:
        if heading.rank == EXHIBIT:
            self._exhibit, self._major, self._minor = heading.text, "", ""
        elif heading.rank == PART:
            self._major, self._minor = "", ""
        elif heading.rank == MAJOR:
            self._major, self._minor = heading.text, ""
        elif self._major.lower() in _NO_SUBSECTIONS:
            return  # reference lists are full of capitalised names that look like headings
        elif not self._major.endswith(heading.text):  # "Chapter 1 Introduction" then "Introduction"
            self._minor = heading.text


_CONTENTS_MIN_MAJORS = 4
_CHAPTER_TITLE_LINES = 3
_SHORT_LINE = 60
_NUMBERED_MAX_WORDS = 6
_MAX_COMMAS = 3
_PART = re.compile(r"^P\s?A\s?R\s?T\s+[IVX](\s?[IVX]){0,3}\b", re.IGNORECASE)
_ITEM = re.compile(r"^ITEM\s+(\d{1,2}[A-Z]?)\.", re.IGNORECASE)
_GLUED_ITEM = re.compile(r"^\S{1,12}[.;:](ITEM\s+\d{1,2}[A-Z]?\.\s+[A-Z][A-Z ,’'&\[\]-]+)$")
# A filing's exhibits (contracts, offer letters, subsidiary lists) start a page with "Exhibit 10.14": they are
# separate documents, so headings found before them (an "Appendix A" of the previous one) must not leak in.
_EXHIBIT = re.compile(r"^EXHIBIT\s+\d{1,3}(\.\d{1,3})?[A-Z]?$", re.IGNORECASE)
_EXHIBIT_TOP_LINES = 3
_CHAPTER_ALONE = re.compile(r"^(CHAPTER|Chapter|APPENDIX|Appendix)\s+(\d{1,3}|[A-Z])$")
_NAMED_MAJOR = re.compile(
    r"^(CHAPTER|Chapter|ARTICLE|Article|SECTION|Section|APPENDIX|Appendix)\s+(\d{1,3}|[IVX]+|[A-Z])\b(?!\.\d)"
)
_NOTE = re.compile(r"^(NOTE|Note)\s+\d{1,2}\s*[-–—:.]?\s+[A-Z]")
_LETTERED_MAJOR = re.compile(r"^[A-H]\s+[A-Z][a-z]")
_MAJOR_NAMES = {
    "abstract", "references", "bibliography", "acknowledgments", "acknowledgements", "appendix",
    "appendices", "contents", "table of contents", "index", "glossary",
}  # fmt: skip
_NO_SUBSECTIONS = {"references", "bibliography", "index", "contents", "table of contents"}
_NUMBERED_MAJOR = re.compile(r"^\d{1,2}\.?\s+[A-Z]")
_NUMBERED_MINOR = re.compile(r"^(\d{1,2}(\.\d{1,2}){1,3}\.?|[A-Z]\.)\s+[A-Z]")
_YEAR_FIRST = re.compile(r"^(19|20)\d\d\s+[A-Z]")
_UNIT_AFTER_NUMBER = re.compile(r"^\d+\s+(months?|years?|weeks?|days?|hours?|minutes?)\b", re.IGNORECASE)
_CONTINUED = re.compile(r"\s*[(\[]?\s*[-–—]?\s*continued\s*[)\]]?$", re.IGNORECASE)
_MONTHS = "january|february|march|april|may|june|july|august|september|october|november|december"
_DATE = re.compile(
    rf"^(\d{{1,2}}\s+({_MONTHS})\s+\d{{4}}|({_MONTHS})\s+\d{{1,2}},?\s+\d{{4}})$", re.IGNORECASE
)
_LEADER = re.compile(r"\.{4,}|(\. ){3,}")
_SEC_FORM = re.compile(r"\bFORM\s+(10-K|20-F)\b", re.IGNORECASE)
_SENTENCE_END = tuple('.:;?!)"”’')
_BLOCK_START = tuple("•●▪–—-(\"“'‘$£€")
_MINOR_WORDS = {
    "a", "an", "and", "as", "at", "by", "for", "from", "in", "into", "of", "on", "or", "per", "the", "to",
    "vs", "with", "our", "its", "their", "under",
}  # fmt: skip
_NOT_ALONE = {
    "this", "these", "that", "those", "there", "their", "they", "then", "thus", "when", "where", "with",
    "none", "note", "notes", "amount", "amounts", "total", "level", "page", "other", "future", "year",
    "know", "also", "such", "each", "from", "into", "under", "upon", "after", "before", "while", "during",
    "many", "most", "some", "gross", "adjustments",
}  # fmt: skip
_MAX_HEADING_CHARS = 120
_MAX_HEADING_WORDS = 16
_MAX_TITLE_CASE_CHARS = 80
_BOILERPLATE_MIN_PAGES = 3
_BOILERPLATE_SHARE = 0.05

# Item names fixed by the SEC forms: pypdf often cuts these headings mid-word, the names repair them.
_ITEMS_10K = {
    "1": "Business", "1A": "Risk Factors", "1B": "Unresolved Staff Comments", "1C": "Cybersecurity",
    "2": "Properties", "3": "Legal Proceedings", "4": "Mine Safety Disclosures",
    "5": "Market for Registrant’s Common Equity, Related Stockholder Matters and Issuer Purchases of "
    "Equity Securities",
    "6": "[Reserved]",
    "7": "Management’s Discussion and Analysis of Financial Condition and Results of Operations",
    "7A": "Quantitative and Qualitative Disclosures About Market Risk",
    "8": "Financial Statements and Supplementary Data",
    "9": "Changes in and Disagreements with Accountants on Accounting and Financial Disclosure",
    "9A": "Controls and Procedures", "9B": "Other Information",
    "9C": "Disclosure Regarding Foreign Jurisdictions that Prevent Inspections",
    "10": "Directors, Executive Officers and Corporate Governance", "11": "Executive Compensation",
    "12": "Security Ownership of Certain Beneficial Owners and Management and Related Stockholder Matters",
    "13": "Certain Relationships and Related Transactions, and Director Independence",
    "14": "Principal Accountant Fees and Services", "15": "Exhibits and Financial Statement Schedules",
    "16": "Form 10-K Summary",
}  # fmt: skip
_ITEMS_20F = {
    "1": "Identity of Directors, Senior Management and Advisers",
    "2": "Offer Statistics and Expected Timetable", "3": "Key Information",
    "4": "Information on the Company", "4A": "Unresolved Staff Comments",
    "5": "Operating and Financial Review and Prospects", "6": "Directors, Senior Management and Employees",
    "7": "Major Shareholders and Related Party Transactions", "8": "Financial Information",
    "9": "The Offer and Listing", "10": "Additional Information",
    "11": "Quantitative and Qualitative Disclosures About Market Risk",
    "12": "Description of Securities Other than Equity Securities",
    "13": "Defaults, Dividend Arrearages and Delinquencies",
    "14": "Material Modifications to the Rights of Security Holders and Use of Proceeds",
    "15": "Controls and Procedures", "16": "[Reserved]", "16A": "Audit Committee Financial Expert",
    "16B": "Code of Ethics", "16C": "Principal Accountant Fees and Services",
    "16D": "Exemptions from the Listing Standards for Audit Committees",
    "16E": "Purchases of Equity Securities by the Issuer and Affiliated Purchasers",
    "16F": "Change in Registrant’s Certifying Accountant", "16G": "Corporate Governance",
    "16H": "Mine Safety Disclosure",
    "16I": "Disclosure Regarding Foreign Jurisdictions that Prevent Inspections",
    "17": "Financial Statements", "18": "Financial Statements", "19": "Exhibits",
}  # fmt: skip


class HeadingFinder:
    """Finds heading lines with cheap, layout-free rules tuned on annual reports, papers and manuals."""

    def __init__(self, boilerplate: set[str] | None = None, item_names: dict[str, str] | None = None) -> None:
        self._boilerplate = boilerplate or set()
        self._item_names = item_names or {}

    @classmethod
    def for_document(cls, doc: PdfDocument) -> HeadingFinder:
        """A finder that knows the document's running lines and, for SEC 10-K/20-F filings, item names."""
        first_page = doc.pages[0].text[:3000] if doc.pages else ""
        form = _SEC_FORM.search(doc.title) or _SEC_FORM.search(first_page)
        items = None
        if form:
            items = _ITEMS_10K if form.group(1).upper() == "10-K" else _ITEMS_20F
        return cls(repeated_lines([page.text for page in doc.pages]), items)

    def find(self, text: str) -> list[Heading]:
        """Heading lines of one page, in order."""
        lines = text.split("\n")
        starts = _line_starts(lines)
        headings: list[Heading] = []
        previous, previous_was_heading = "", True  # the top of a page counts as a fresh block
        index, seen = 0, 0
        while index < len(lines):
            line = lines[index].strip()
            if not line:
                index += 1
                continue
            seen += 1
            fresh_block = previous_was_heading or previous.endswith(_SENTENCE_END)
            found: tuple[tuple[str, str] | None, int] | None = None
            if seen <= _EXHIBIT_TOP_LINES and _EXHIBIT.match(line):
                found = _exhibit(lines, index)
            elif _CHAPTER_ALONE.match(line):
                found = _chapter(lines, index)
            elif _ITEM.match(line) or _GLUED_ITEM.match(line):  # items often follow text glued onto them
                found = self._item(line), index
            elif fresh_block and line not in self._boilerplate:
                found = _classify(line, _next_line(lines, index)), index
            heading, last = found if found else (None, index)
            if heading is not None:
                end = starts[last] + len(lines[last])
                headings.append(Heading(starts[index], end, heading[0], heading[1]))
            previous, previous_was_heading = lines[last].strip(), heading is not None
            index = last + 1
        return headings

    def _item(self, line: str) -> tuple[str, str] | None:
        glued = _GLUED_ITEM.match(line)
        line = glued.group(1) if glued else line  # "e.ITEM 1A. RISK FACTORS": the end of a cut word
        item = _ITEM.match(line)
        if not item or len(line) > _MAX_HEADING_CHARS:
            return None
        number = item.group(1).upper()
        name = self._item_names.get(number)
        return (f"Item {number}. {name}" if name else line.rstrip(".")), MAJOR


def _chapter(lines: list[str], index: int) -> tuple[tuple[str, str] | None, int]:
    """ "Chapter 2" alone on a line, its title on the next line(s): (heading, index of its last line)."""
    title: list[str] = []
    last = index
    for following in range(index + 1, min(index + 1 + _CHAPTER_TITLE_LINES * 2, len(lines))):
        line = lines[following].strip()
        if not line:
            continue
        if title and not (_continues(title[-1]) or _title_continuation(line, title)):
            break
        title.append(line)
        last = following
        if len(title) == _CHAPTER_TITLE_LINES:
            break
    text = " ".join([lines[index].strip(), *title])
    if not title or len(text) > _MAX_HEADING_CHARS:
        return None, index
    return (text, MAJOR), last


def _exhibit(lines: list[str], index: int) -> tuple[tuple[str, str], int]:
    """ "Exhibit 21.1" at the top of a page, with the title line after it when there is one."""
    label = lines[index].strip()
    following = next(
        ((i, line.strip()) for i, line in enumerate(lines[index + 1 :], index + 1) if line.strip()), None
    )
    if following is not None:
        position, title = following
        titled = _all_caps(title) or _title_case(title)
        if _heading_shape(title) and not title[0].isdigit() and titled:
            return (f"{label} {title}", EXHIBIT), position
    return (label, EXHIBIT), index


def _continues(line: str) -> bool:
    words = line.split()
    return line.endswith((",", "-", "–", ":")) or (bool(words) and words[-1].lower() in _MINOR_WORDS)


def _title_continuation(line: str, title: list[str]) -> bool:
    joined = len(" ".join([*title, line]))
    return len(line) <= _SHORT_LINE and not line.endswith(".") and _title_case(line) and joined <= 100


def _line_starts(lines: list[str]) -> list[int]:
    starts, position = [], 0
    for line in lines:
        starts.append(position)
        position += len(line) + 1
    return starts


def _classify(line: str, following: str) -> tuple[str, str] | None:
    """(heading text, rank) when the line looks like a heading, else None."""
    if _PART.match(line) and len(line) <= _MAX_HEADING_CHARS:
        return line, PART
    if not _heading_shape(line) or (following and not _starts_block(following)):
        return None
    return _rank(_CONTINUED.sub("", line))


def _starts_block(line: str) -> bool:
    return line.startswith(_BLOCK_START) or line[0].isupper() or line[0].isdigit()


def _rank(line: str) -> tuple[str, str] | None:
    if _NOTE.match(line) or _NAMED_MAJOR.match(line) or line.lower() in _MAJOR_NAMES:
        return line, MAJOR
    if _LETTERED_MAJOR.match(line) and len(line.split()) <= _NUMBERED_MAX_WORDS + 2 and _title_case(line):
        return line, MAJOR  # appendix sections: "A Additional Details for BERT"
    if _NUMBERED_MINOR.match(line):
        return line, MINOR
    if _NUMBERED_MAJOR.match(line) and not _UNIT_AFTER_NUMBER.match(line):
        # "2 Summary of significant accounting policies" yes; "2. Stores that write that byte ..." no
        short = len(line.split()) <= _NUMBERED_MAX_WORDS
        return (line, MAJOR) if short or _title_case(line.split(None, 1)[1]) else None
    if line[0].isdigit() and not _YEAR_FIRST.match(line):
        return None  # table rows and amounts, not headings
    if _all_caps(line) or _title_case(line):
        return line, MINOR
    return None


def repeated_lines(texts: list[str]) -> set[str]:
    """Lines found on many pages (running headers, "(Continued)" banners): never section headings."""
    counts: Counter[str] = Counter()
    for text in texts:
        counts.update({line.strip() for line in text.splitlines() if line.strip()})
    threshold = max(_BOILERPLATE_MIN_PAGES, int(len(texts) * _BOILERPLATE_SHARE))
    return {line for line, count in counts.items() if count >= threshold}


def _next_line(lines: list[str], index: int) -> str:
    return next((line.strip() for line in lines[index + 1 :] if line.strip()), "")


def _heading_shape(line: str) -> bool:
    if len(line) < 3 or len(line) > _MAX_HEADING_CHARS or len(line.split()) > _MAX_HEADING_WORDS:
        return False
    if line[-1] in ".,;:" or _DATE.match(line) or _LEADER.search(line):
        return False
    visible = [ch for ch in line if not ch.isspace()]
    letters = sum(ch.isalpha() for ch in visible)
    return letters >= 3 and letters >= 0.6 * len(visible)


def _all_caps(line: str) -> bool:
    letters = [ch for ch in line if ch.isalpha()]
    return len(letters) >= 4 and all(ch.isupper() for ch in letters)


def _title_case(line: str) -> bool:
    words = [word.strip("()[]\"“”‘’'") for word in line.split()]
    words = [word for word in words if word and word[0].isalpha()]
    if not words or not words[0][0].isupper():
        return False
    if len(words) == 1:
        word = words[0]
        return len(word) >= 4 and word.lower() not in _NOT_ALONE and (word[1:].islower() or word.isupper())
    if len(line) > _MAX_TITLE_CASE_CHARS:  # a full-width line is a wrapped sentence, not a heading
        return False
    if line.count(",") >= _MAX_COMMAS or words[-1].lower() in _MINOR_WORDS:  # author lists, wrapped lines
        return False
    content = [word for word in words if word.lower() not in _MINOR_WORDS]
    lowercase = sum(not word[0].isupper() for word in content)
    return bool(content) and lowercase <= 1 and lowercase <= 0.25 * len(content)
