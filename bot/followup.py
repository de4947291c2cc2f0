"""Make a follow-up question in a thread stand alone, so retrieval finds what "and in 2021?" means."""

from __future__ import annotations

import re
from collections.abc import Sequence

from bot.answer import Turn

# A follow-up that leans on the previous question: short, or opening with a word that points back.
_LEANS_BACK = re.compile(
    r"^(and|but|or|also|what about|how about|same|then|so|it|its|they|their|them|this|that|those|these|"
    r"which|why|how come|and what|ok|okay)\b",
    re.IGNORECASE,
)
_SHORT_WORDS = 6


def needs_context(question: str) -> bool:
    """True when a question probably refers to the earlier conversation."""
    words = question.split()
    return len(words) <= _SHORT_WORDS or bool(_LEANS_BACK.match(question.strip()))


def standalone_query(question: str, history: Sequence[Turn]) -> str:
    """The retrieval query: the question itself, or the previous question joined with it."""
    if not history or not needs_context(question):
        return question
    previous = history[-1].question
    return f"{previous.rstrip(' ?.')} — {question.strip()}"


def prompt_question(question: str, history: Sequence[Turn]) -> str:
    """The question as put to the model: a follow-up names the question it follows."""
    if not history or not needs_context(question):
        return question
    return f"{question.strip()} (follow-up to the earlier question: {history[-1].question.strip()})"
