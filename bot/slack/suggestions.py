"""Suggested prompts for the bot's Messages tab: one per indexed document (its title and a question about
its biggest section), newest documents first, cached until a re-index changes the index."""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import PurePath
from typing import Protocol

from bot.answer import display_name
from vectorstore.scopes import FileFilter
from vectorstore.store import DocumentSection

logger = logging.getLogger(__name__)

MAX_PROMPTS = 4  # Slack shows up to four suggested prompts
TITLE_CHARS = 60
MAX_TITLE_WORDS = 14
TOPIC_CHARS = 70
PROMPTS_TITLE = "Ask about a document"
SECTION_SEPARATOR = " > "  # as ingest/chunking.py joins heading paths
# Headings that are navigation or boilerplate, not a topic worth asking about.
_DULL = re.compile(
    r"^(table of contents|contents|index|references|bibliography|signatures?|exhibits?( index)?|"
    r"appendix|acknowledge?ments?|glossary|notes?|forward[- ]looking statements|introduction|overview|"
    r"summary|preface|foreword|abstract|cover|title page)$",
    re.IGNORECASE,
)
_NUMBERING = re.compile(
    r"^((item|chapter|part|section|note|article)\s+)?[0-9IVX]+[A-Z]?(\.[0-9]+)*[.:)]?\s+", re.I
)
_MARKUP = re.compile(r"[<>&*_~`|]")

SectionsFn = Callable[[], list[DocumentSection]]


class ReindexReport(Protocol):
    """What a re-index run reports (ingest.sync.SyncReport)."""

    @property
    def changed(self) -> bool:
        """True when the index changed."""
        ...


@dataclass(frozen=True)
class Prompt:
    """One suggested prompt: the chip's title and the message it sends."""

    title: str
    message: str

    def as_dict(self) -> dict[str, str]:
        """The shape assistant.threads.setSuggestedPrompts takes."""
        return {"title": self.title, "message": self.message}


def _plain(text: str) -> str:
    """One line without Slack markup characters (a prompt is sent as the person's own message)."""
    return " ".join(_MARKUP.sub(" ", display_name(text)).split())


def _shorten(text: str, limit: int) -> str:
    if len(text) <= limit:
        return text
    cut = text[:limit].rsplit(" ", 1)[0] or text[:limit]
    return cut.rstrip(",;:.-") + "…"


def _title(section: DocumentSection) -> str:
    """The document's title, or its file name when the title is missing or reads like a sentence (a
    title guessed from the first line of text can be one)."""
    title = _plain(section.title)
    if not title or title.endswith((".", "?", "!")) or len(title.split()) > MAX_TITLE_WORDS:
        title = _plain(PurePath(section.file).stem.replace("_", " ").replace("-", " "))
    return title


def topic_of(heading: str) -> str:
    """The top heading of a stored heading path, without its numbering ("Item 1A. Risk Factors" ->
    "Risk Factors"); "" when it is boilerplate or not words."""
    parts = [p for p in heading.split(SECTION_SEPARATOR) if p and not p.lower().startswith("exhibit")]
    if not parts:
        return ""
    topic = _plain(_NUMBERING.sub("", parts[0]).strip(" .:-"))
    if topic.isupper():
        topic = topic.title()  # "RISK FACTORS" reads as shouting in a question
    if not any(ch.isalpha() for ch in topic) or _DULL.match(topic) or len(topic) > TOPIC_CHARS:
        return ""
    return topic


def build_prompts(sections: list[DocumentSection], limit: int = MAX_PROMPTS) -> list[Prompt]:
    """One prompt per document (in the order given, newest first): its title and a question about the
    topic that has most of its chunks."""
    files: dict[str, tuple[DocumentSection, dict[str, int]]] = {}
    for section in sections:
        first, topics = files.setdefault(section.file, (section, {}))
        topic = topic_of(section.section)
        if topic:
            topics[topic] = topics.get(topic, 0) + section.chunks
    prompts: list[Prompt] = []
    for first, topics in files.values():
        title = _title(first)
        if not title:
            continue
        name = _shorten(title, TITLE_CHARS)
        if topics:
            topic = max(topics.items(), key=lambda item: (item[1], -len(item[0])))[0]
            message = f"What does {title} say about {topic}?"
        else:
            message = f"What are the main points of {title}?"
        prompts.append(Prompt(title=name, message=message))
        if len(prompts) >= limit:
            break
    return prompts


class SuggestedPrompts:
    """The prompts for the indexed documents, built once and rebuilt after a re-index changed the index."""

    def __init__(self, sections: SectionsFn, *, limit: int = MAX_PROMPTS) -> None:
        self._sections = sections
        self._limit = limit
        self._lock = threading.Lock()
        self._cached: list[DocumentSection] | None = None

    def prompts(self, allowed: FileFilter | None = None) -> list[Prompt]:
        """Prompts for the documents `allowed` lets a place see (all when None)."""
        with self._lock:
            if self._cached is None:
                self._cached = self._sections()
                logger.info("suggested prompts rebuilt documents=%d", len({s.file for s in self._cached}))
            sections = self._cached
        if allowed is not None:
            sections = [s for s in sections if allowed(s.file)]
        return build_prompts(sections, self._limit)

    def invalidate(self) -> None:
        """Forget the cached documents; the next prompts() reads the index again."""
        with self._lock:
            self._cached = None

    def after_reindex(self, report: ReindexReport) -> None:
        """A re-index listener: invalidate when the run changed the index."""
        if report.changed:
            self.invalidate()
