"""Ordering near-tied pages that state the same passage: the first statement first."""

from __future__ import annotations

from vectorstore.keywords import keywords
from vectorstore.repeats import Passage, first_statements_first

GUARANTEE = "the minimum guarantee payable by adidas over the term of the agreement is equal to 750 million"
ASKED = keywords("How much is the minimum guarantee payable by adidas?")


def order(passages: list[Passage], asked: list[str] = ASKED) -> list[int]:
    return [passages[i].page for i in first_statements_first(passages, asked, 10)]


def test_an_earlier_page_stating_the_same_passage_comes_first() -> None:
    passages = [
        Passage("manu.pdf", 75, f"Pursuant to our contract, {GUARANTEE}. See Item 4.", 0.698),
        Passage("manu.pdf", 138, f"Revenue is recognised evenly. {GUARANTEE}.", 0.691),
        Passage("manu.pdf", 54, "The guarantee may increase or decrease with results.", 0.685),
        Passage("manu.pdf", 53, f"We have a ten-year agreement with adidas. {GUARANTEE}.", 0.676),
    ]
    assert order(passages) == [53, 75, 54, 138]


def test_pages_further_apart_than_a_near_tie_keep_their_order() -> None:
    passages = [
        Passage("manu.pdf", 75, f"Pursuant to our contract, {GUARANTEE}.", 0.70),
        Passage("manu.pdf", 53, f"We have an agreement. {GUARANTEE}.", 0.60),
    ]
    assert order(passages) == [75, 53]


def test_other_files_and_later_pages_are_never_moved_up() -> None:
    passages = [
        Passage("manu.pdf", 53, f"We have an agreement. {GUARANTEE}.", 0.70),
        Passage("copy.pdf", 12, f"Copied text: {GUARANTEE}.", 0.69),
        Passage("manu.pdf", 75, f"Pursuant to our contract, {GUARANTEE}.", 0.69),
    ]
    assert order(passages) == [53, 12, 75]


def test_shared_boilerplate_without_the_asked_words_is_not_a_repeat() -> None:
    boilerplate = (
        "in a private placement to qualified institutional buyers pursuant to rule 144a under the act"
    )
    asked = keywords("When do the senior notes issued in August 2021 mature, and what was their principal?")
    passages = [
        Passage(
            "uber.pdf",
            115,
            f"In August 2021 we issued senior notes due 2029 of 1.5 billion {boilerplate}",
            0.82,
        ),
        Passage("uber.pdf", 114, f"In 2020 we issued notes due 2028 of 500 million {boilerplate}", 0.81),
    ]
    assert order(passages, asked) == [115, 114]
