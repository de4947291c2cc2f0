"""The result of answering one question, shared by the QA chain, the CLI and the Slack renderer."""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Literal, Protocol

from vectorstore.scopes import FileFilter

AnswerMode = Literal["llm", "retrieval-only"]
# What the grounding check made of a generated answer: every figure and name found in its passages
# ("verified"), some not ("unverified": shown with a warning; "withheld": replaced by a not-found reply),
# the model declined ("abstained"), or no check ran ("").
Grounding = Literal["verified", "unverified", "withheld", "abstained", ""]

# Line breaks, other control characters and the invisible direction overrides that can make a file name
# look like something else ("report\u202efdp.exe", a name that starts a fake new line).
_UNSHOWABLE = re.compile(r"[\x00-\x1f\x7f-\x9f\u200b-\u200f\u2028-\u202e\u2060-\u206f\ufeff]")


def display_name(name: str) -> str:
    """A file name on one line, with control and invisible characters written as \\n, \\x1b, \\u202e."""

    def shown(match: re.Match[str]) -> str:
        char = match.group()
        return {"\n": "\\n", "\r": "\\r", "\t": "\\t"}.get(char) or (
            f"\\x{ord(char):02x}" if ord(char) < 0x100 else f"\\u{ord(char):04x}"
        )

    return _UNSHOWABLE.sub(shown, name)


@dataclass(frozen=True)
class Source:
    """One cited passage: file relative to the data dir, 1-based page, printed page label."""

    file: str
    page: int
    page_label: str
    snippet: str
    score: float
    ocr: bool = False

    def as_hit(self) -> dict[str, object]:
        """The JSON shape used by `docbot search --json` and `docbot ask --json`."""
        return {
            "file": self.file,
            "page": self.page,
            "page_label": self.page_label,
            "score": round(self.score, 4),
            "text": self.snippet,
        }


@dataclass(frozen=True)
class Timings:
    """Seconds spent in each step of one answer."""

    retrieval: float = 0.0
    prompt: float = 0.0
    generation: float = 0.0
    total: float = 0.0
    first_token: float | None = None

    def as_dict(self) -> dict[str, float | None]:
        """Rounded seconds, for JSON."""
        return {
            "retrieval": round(self.retrieval, 4),
            "prompt": round(self.prompt, 4),
            "generation": round(self.generation, 4),
            "total": round(self.total, 4),
            "first_token": None if self.first_token is None else round(self.first_token, 4),
        }


@dataclass(frozen=True)
class Turn:
    """One earlier question and its answer in a conversation thread."""

    question: str
    answer: str


@dataclass(frozen=True)
class Answer:
    """An answer with the passages it came from."""

    question: str
    text: str
    mode: AnswerMode
    sources: list[Source] = field(default_factory=list)
    timings: Timings = field(default_factory=Timings)
    index_version: int = 0
    cut_off: bool = False
    search_query: str = ""
    finish_reason: str = ""  # eos, stop, length, repetition, deadline, cancelled ("" without a model)
    grounding: Grounding = ""
    unsupported: tuple[str, ...] = ()  # the answer's figures and names that no passage states
    confirmed: bool | None = None  # the model's self-check: its passages state the answer (None: not run)
    model_text: str = ""  # what the model wrote, when `text` shows something else (a withheld answer)
    passages: tuple[str, ...] = field(default=(), repr=False)  # the passage texts the model was given


TokenCallback = Callable[[str], None]
# Called once retrieval has found the passages, before the model starts: the asker sees the pages at once.
SourcesCallback = Callable[[list["Source"]], None]


class Answerer(Protocol):
    """Anything that turns a question (and its thread's history) into an Answer."""

    def answer(
        self,
        question: str,
        history: Sequence[Turn] = (),
        on_token: TokenCallback | None = None,
        scope: FileFilter | None = None,
        on_sources: SourcesCallback | None = None,
    ) -> Answer:
        """Answer `question`; `on_sources` gets the passages found before the model starts, `on_token` the
        generated text as it streams; `scope` limits the files."""
        ...
