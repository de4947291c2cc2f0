"""Is an answer grounded? Its numbers and names must appear in the passages it was given (or the question).

Small models invent figures ("35", "14 weeks") that appear in no passage; stating one as fact is worse than
saying the documents do not answer.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from bot.figures import addresses, figures, names, normalise_text, words

GroundingMode = Literal["abstain", "mark", "off"]

# How models say the documents do not answer; matched on the normalised answer text.
_VERBS = "say|mention|specify|provide|state|contain|include|give|disclose|indicate|list"
_ABSTENTION = re.compile(
    r"\b(?:i (?:do not|don't|dont) know"
    r"|(?:do not|don't|cannot|can't|could not|couldn't|am unable to|unable to)"
    r" (?:find|determine|answer|say|tell|provide|locate)"
    r"|not (?:mentioned|provided|specified|stated|given|available|included|disclosed|found|listed|addressed"
    r"|covered|known)"
    rf"|(?:does|do|did) not (?:{_VERBS})|(?:doesn't|don't|didn't) (?:{_VERBS})"
    r"|no (?:information|mention|details?|data|answer)|there is no (?:mention|information|indication)"
    r"|not (?:in|part of) the (?:context|passages|documents?)|insufficient information|not enough information"
    r")\b"
)


def is_abstention(text: str) -> bool:
    """Whether an answer says the documents do not answer (\"I don't know\" and its many wordings)."""
    return bool(_ABSTENTION.search(normalise_text(text)))


@dataclass(frozen=True)
class GroundingCheck:
    """The answer's figures and names that none of the passages (nor the question) states."""

    unsupported: tuple[str, ...]
    abstained: bool

    @property
    def grounded(self) -> bool:
        """True when everything the answer states can be found in what it was given."""
        return not self.unsupported


def check_answer(answer: str, passages: Sequence[str], question: str = "") -> GroundingCheck:
    """Check an answer's numbers, dates, amounts and names against its passages (normalised)."""
    if is_abstention(answer):
        return GroundingCheck(unsupported=(), abstained=True)
    given = [*passages, question]
    stated = [figure for text in given for figure in figures(text)]
    vocabulary = {word for text in given for word in words(text)}
    missing: list[str] = []
    for figure in figures(answer):
        if not any(figure.is_stated_by(other) for other in stated):
            missing.append(figure.text.strip())
    flat = " ".join(normalise_text(text) for text in given)
    missing += [address for address in addresses(answer) if address not in flat]
    for name in names(answer):
        if not set(words(name)) <= vocabulary:
            missing.append(name)
    return GroundingCheck(unsupported=tuple(dict.fromkeys(missing)), abstained=False)
