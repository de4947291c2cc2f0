"""Suggested prompts from the index's documents: a title and a question about the biggest real section,
newest documents first, at most four, plain text, scoped, cached until a re-index changes the index."""

from __future__ import annotations

from dataclasses import dataclass

from bot.slack.suggestions import MAX_PROMPTS, Prompt, SuggestedPrompts, build_prompts, topic_of
from vectorstore.store import DocumentSection


def _doc(file: str, title: str, at: float, *sections: tuple[str, int]) -> list[DocumentSection]:
    return [DocumentSection(file, title, at, name, count) for name, count in sections or (("", 3),)]


def test_topics_drop_numbering_boilerplate_and_exhibits() -> None:
    assert topic_of("Item 1A. Risk Factors > Competition") == "Risk Factors"
    assert topic_of("2 Contributions") == "Contributions"
    assert topic_of("Note 12. Leases") == "Leases"
    assert topic_of("RISK FACTORS") == "Risk Factors"
    assert topic_of("Exhibit 21.1 > Subsidiaries") == "Subsidiaries"
    for dull in ("Table of Contents", "1 Introduction", "Index", "", "12.3", "Forward-Looking Statements"):
        assert topic_of(dull) == "", dull


def test_one_prompt_per_document_about_its_biggest_section() -> None:
    sections = [
        *_doc(
            "lyft.pdf", "Lyft Form 10-K", 30.0, ("Item 1A. Risk Factors > Pandemic", 40), ("Item 7. MD&A", 12)
        ),
        *_doc("lyft.pdf", "Lyft Form 10-K", 30.0, ("Item 1A. Risk Factors > Competition", 15)),
        *_doc("handbook.pdf", "Contoso Employee Handbook", 20.0, ("Table of Contents", 90), ("Benefits", 8)),
        *_doc("scans/brochure_2021.pdf", "", 10.0),
    ]
    assert build_prompts(sections) == [
        Prompt("Lyft Form 10-K", "What does Lyft Form 10-K say about Risk Factors?"),
        Prompt("Contoso Employee Handbook", "What does Contoso Employee Handbook say about Benefits?"),
        Prompt("brochure 2021", "What are the main points of brochure 2021?"),
    ]


def test_at_most_four_plain_short_prompts() -> None:
    sections = [s for n in range(6) for s in _doc(f"r{n}.pdf", f"Report {n}", float(n))]
    assert len(build_prompts(sections)) == MAX_PROMPTS
    hostile = _doc(
        "x.pdf", "<!channel> *Annual* Report of the Very Long Named Holding Company Group plc", 1.0
    )
    [prompt] = build_prompts(hostile)
    assert "<" not in prompt.message and "*" not in prompt.message and "!channel" in prompt.message
    assert len(prompt.title) <= 61 and prompt.title.endswith("…")
    sentence = _doc("canteen.pdf", "The canteen opens at eight and closes at three.", 1.0)
    assert build_prompts(sentence)[0].title == "canteen"  # a first line of text is not a title


@dataclass
class _Report:
    changed: bool


def test_the_cache_is_read_once_and_rebuilt_after_a_changing_reindex() -> None:
    reads: list[int] = []
    docs = _doc("a.pdf", "Alpha", 1.0)

    def sections() -> list[DocumentSection]:
        reads.append(1)
        return list(docs)

    prompts = SuggestedPrompts(sections)
    assert [p.title for p in prompts.prompts()] == ["Alpha"]
    assert [p.title for p in prompts.prompts()] == ["Alpha"] and len(reads) == 1
    docs[:0] = _doc("hr/b.pdf", "Beta", 2.0)
    prompts.after_reindex(_Report(changed=False))
    assert [p.title for p in prompts.prompts()] == ["Alpha"] and len(reads) == 1
    prompts.after_reindex(_Report(changed=True))
    assert [p.title for p in prompts.prompts()] == ["Beta", "Alpha"] and len(reads) == 2
    assert [p.title for p in prompts.prompts(lambda f: not f.startswith("hr/"))] == ["Alpha"]
