"""Reports state one passage on several pages; put the first statement of a passage first."""

from __future__ import annotations

import re
from dataclasses import dataclass

REPEAT_POOL = 10  # only the best pages are compared: the rule orders near-ties, it does not find pages
REPEAT_GAP = 0.03  # fused-score difference under which two pages count as equally good matches
REPEAT_KEYWORDS = 0.75  # share of the question's words the repeated run must hold
_WORD = re.compile(r"[^\W_]+", re.UNICODE)


@dataclass(frozen=True)
class Passage:
    """A ranked page's best passage."""

    file: str
    page: int
    text: str
    score: float


def first_statements_first(ranked: list[Passage], asked: list[str], size: int) -> list[int]:
    """A new order of `ranked` (indices) where a page swaps places with an earlier page of the same file
    that scores nearly as well and repeats, word for word, the part of it that holds the question's words.

    "The minimum guarantee payable by adidas ... £750 million" is stated in a 20-F's business section
    (p. 53), then in its liquidity review, a note and the auditor's report; all score within 0.03 of each
    other. Legal boilerplate shared by different facts ("issued notes ... in a private placement to
    qualified institutional buyers") is not swapped: it does not hold the question's words.
    """
    order = list(range(len(ranked)))
    words = [_WORD.findall(passage.text.lower()) for passage in ranked]
    runs = [_shingles(passage_words, size) for passage_words in words]  # once per passage, not per pair
    found = [set(asked) & set(passage_words) for passage_words in words]
    for rank in range(len(order)):
        current = order[rank]
        earlier = [
            later_rank
            for later_rank in range(rank + 1, len(order))
            if _near_tie_before(ranked[order[later_rank]], ranked[current])
            and _repeats(runs[current], found[current], runs[order[later_rank]])
        ]
        if earlier:
            swap = min(earlier, key=lambda later_rank: ranked[order[later_rank]].page)
            order[rank], order[swap] = order[swap], order[rank]
    return order


def _near_tie_before(candidate: Passage, current: Passage) -> bool:
    """Same file, an earlier page, and a score close enough to be a near-tie."""
    return (
        candidate.file == current.file
        and candidate.page < current.page
        and current.score - candidate.score <= REPEAT_GAP
    )


def _repeats(later: set[tuple[str, ...]], found: set[str], earlier: set[tuple[str, ...]]) -> bool:
    """Whether `earlier` shares a word run with `later` that holds most of the asked words `later` has."""
    shared = later & earlier
    if not shared:
        return False
    in_shared = found & {word for run in shared for word in run}
    return len(in_shared) >= REPEAT_KEYWORDS * len(found)


def _shingles(words: list[str], size: int) -> set[tuple[str, ...]]:
    return {tuple(words[i : i + size]) for i in range(len(words) - size + 1)}
