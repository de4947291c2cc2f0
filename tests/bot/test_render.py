"""Answer -> Slack messages: escaping, citations grouped per file, links, limits, notes."""

from __future__ import annotations

import re
from typing import Any

from bot.answer import Answer, Source, Timings
from bot.slack.render import (
    MARKDOWN_LIMIT,
    MAX_BLOCKS,
    SECTION_LIMIT,
    TEXT_LIMIT,
    escape,
    render_answer,
    render_partial,
    split_text,
)

MANU = "manu-20f-2022-09-24.pdf"


def src(page: int, label: str = "", snippet: str = "text", file: str = MANU, score: float = 0.5) -> Source:
    return Source(file=file, page=page, page_label=label or str(page), snippet=snippet, score=score)


def texts(message_blocks: list[dict[str, Any]]) -> list[str]:
    out = []
    for block in message_blocks:
        if block["type"] == "section":
            out.append(block["text"]["text"])
        elif block["type"] == "markdown":
            out.append(block["text"])
        else:
            out.extend(e["text"] for e in block["elements"])
    return out


def all_text(answer: Answer, **kwargs: Any) -> str:
    messages = render_answer(answer, **kwargs)
    return "\n".join(t for m in messages for t in [*texts(m.blocks), m.text])


def test_escape() -> None:
    assert escape("a & b <!channel> <@U123> >") == "a &amp; b &lt;!channel&gt; &lt;@U123&gt; &gt;"


def test_document_and_model_text_cannot_ping_or_forge_links() -> None:
    answer = Answer(
        question="q",
        text="Hey <!channel> and <!here|here>, ask <@U123> at <https://evil.example|the bank> & co",
        mode="llm",
        sources=[src(3, snippet="Notice to <!everyone> from <@U999> <#C42|general> <https://x.y|click>")],
    )
    rendered = all_text(answer, docs_base_url="https://docs.example/reports")
    assert "<!" not in rendered and "<@" not in rendered and "<#" not in rendered
    assert "<https://evil" not in rendered and "<https://x.y" not in rendered
    assert "&lt;!channel&gt;" in rendered and "&lt;@U123&gt;" in rendered and "&amp; co" in rendered
    # The only links are ours, to the documents.
    links = re.findall(r"<([^|>]+)\|", rendered)
    assert links and all(link.startswith("https://docs.example/reports/") for link in links)


def test_sources_grouped_per_file_with_printed_labels_and_snippets() -> None:
    answer = Answer(
        question="q",
        text="£20m",
        mode="llm",
        sources=[
            src(75, snippet="second"),
            src(53, "43", snippet="The minimum guarantee   payable\nby adidas is £750 million"),
            src(12, file="other.pdf"),
            src(53, "43", snippet="a duplicate page"),
        ],
    )
    rendered = all_text(answer)
    assert f"*{MANU}* — p. 53 (printed 43), p. 75" in rendered
    assert "*other.pdf* — p. 12" in rendered and "(printed 12)" not in rendered
    assert rendered.index(MANU) < rendered.index("other.pdf")  # files in order of first citation
    assert "“The minimum guarantee payable by adidas is £750 million”" in rendered
    assert "a duplicate page" not in rendered


def test_links_to_pages_when_docs_base_url_is_set() -> None:
    answer = Answer(
        question="q", text="x", mode="llm", sources=[src(53, "43", file="annual reports/a&b.pdf")]
    )
    rendered = all_text(answer, docs_base_url="https://files.example/pdfs/")
    assert "<https://files.example/pdfs/annual%20reports/a%26b.pdf#page=53|p. 53 (printed 43)>" in rendered
    assert "<https://files.example/pdfs/annual%20reports/a%26b.pdf|annual reports/a&amp;b.pdf>" in rendered


def test_snippets_are_short() -> None:
    answer = Answer(question="q", text="x", mode="llm", sources=[src(1, snippet="word " * 500)])
    quoted = [line for line in all_text(answer).splitlines() if line.startswith("> ")]
    assert quoted and all(len(line) < 220 for line in quoted)


def test_footer_shows_freshness_and_time() -> None:
    answer = Answer(question="q", text="x", mode="llm", sources=[src(1)], timings=Timings(total=3.0))
    messages = render_answer(answer, freshness="12 files, updated 4 min ago", elapsed=8.24)
    footer = texts(messages[-1].blocks)[-1]
    assert footer == "Index: 12 files, updated 4 min ago · answered in 8.2 s"


def test_retrieval_only_says_so_and_shows_longer_passages() -> None:
    reason = "Retrieval-only mode (no model file): no generated answer, here are the most relevant passages."
    passage = "The minimum guarantee payable by adidas " + "over the ten year term " * 12
    retrieval = Answer(question="q", text=reason, mode="retrieval-only", sources=[src(1, snippet=passage)])
    [first, *rest] = texts(render_answer(retrieval)[0].blocks)
    assert first.startswith(":mag: *Retrieval only — no generated answer.*") and f"_{reason}_" in first
    quoted = [line for line in rest[0].splitlines() if line.startswith("> ")]
    assert 250 < len(quoted[0]) < 420  # longer than an llm answer's snippets: the passages are the answer


def test_cut_off_is_marked() -> None:
    cut = Answer(question="q", text="half an ans", mode="llm", sources=[src(1)], cut_off=True)
    rendered = all_text(cut)
    assert "half an ans" in rendered and "cut off" in rendered
    assert "Retrieval only" not in rendered


def test_model_markdown_is_kept_but_cannot_hide_a_link() -> None:
    answer = Answer(
        question="q",
        text="**750 million** pounds\n\n- paid by adidas\n- see [the bank](https://evil.example) <@U1>",
        mode="llm",
    )
    [message] = render_answer(answer)
    block = message.blocks[0]
    assert block["type"] == "markdown"
    assert block["text"].startswith("**750 million** pounds\n\n- paid by adidas")
    assert "\\[the bank](https://evil.example)" in block["text"]  # shown as text, the URL visible
    assert "&lt;@U1&gt;" in block["text"]


def test_final_blocks_end_the_last_message() -> None:
    extra = {"type": "context_actions", "elements": [{"type": "feedback_buttons", "action_id": "fb"}]}
    answer = Answer(question="q", text="a", mode="llm", sources=[src(3)])
    messages = render_answer(answer, extra_blocks=[extra])
    assert messages[-1].blocks[-1] == extra
    assert "*Sources*" in texts(messages[-1].blocks[:-1])[-1]


def test_no_sources_is_said() -> None:
    assert "No passage" in all_text(Answer(question="q", text="", mode="llm"))


def test_a_long_answer_is_split_within_slack_limits_and_citations_stay_whole() -> None:
    paragraphs = [f"Paragraph {i}: " + ("revenue grew & margins held <steady>. " * 40) for i in range(20)]
    body = "\n\n".join(paragraphs)  # about 32,000 characters before escaping
    sources = [
        src(p, str(p - 10), snippet=f"snippet {p} " * 30, file=f"report-{p % 7}.pdf") for p in range(11, 90)
    ]
    answer = Answer(question="q", text=body, mode="llm", sources=sources, cut_off=True)
    messages = render_answer(answer, docs_base_url="https://d.example", freshness="3 files", elapsed=1.0)

    assert len(messages) > 1
    for message in messages:
        assert len(message.blocks) <= MAX_BLOCKS
        assert len(message.text) <= TEXT_LIMIT
        markdown = [b["text"] for b in message.blocks if b["type"] == "markdown"]
        assert sum(len(t) for t in markdown) <= MARKDOWN_LIMIT  # Slack's 12,000, with room to spare
        others = [b for b in message.blocks if b["type"] != "markdown"]
        assert all(len(t) <= SECTION_LIMIT for t in texts(others))
    assert messages[0].blocks[0]["type"] == "markdown"  # the answer, as standard markdown
    assert all(b["type"] == "context" for b in messages[-1].blocks)  # the sources and the footer
    sections = [t for m in messages for t in texts(m.blocks)]
    joined_answer = " ".join(t for t in sections if t.startswith("Paragraph") or t.startswith("revenue"))
    assert " ".join(joined_answer.split()) == " ".join(escape(body).split())  # nothing lost, nothing cut
    cites = "\n".join(sections)
    for p in range(11, 90):  # every citation line complete, with its link
        assert f"<https://d.example/report-{p % 7}.pdf#page={p}|p. {p} (printed {p - 10})>" in cites
    assert sections[-1].startswith("Index: 3 files")


def test_split_never_breaks_an_entity() -> None:
    text = escape("&" * 7000)
    parts = split_text(text, 3000)
    assert "".join(parts) == text
    assert all(re.fullmatch(r"(&amp;)+", part) for part in parts)


def test_partial_answer_is_escaped_and_bounded() -> None:
    message = render_partial("<!channel> " + "x" * 9000, 3.0)
    shown = texts(message.blocks)
    assert "&lt;!channel&gt;" in shown[0] and len(shown[0]) <= SECTION_LIMIT
    assert "Writing the answer" in shown[-1]


def test_sources_show_while_the_answer_is_written_and_the_message_stays_within_limits() -> None:
    sources = [src(53, "43", "minimum guarantee of £750 million"), src(75, "65", "runs until 2025")]
    before = texts(render_partial("", 0.4, sources).blocks)
    assert "Writing the answer" in before[0]
    assert "*Sources*" in before[1] and "p. 53 (printed 43)" in before[1]
    during = texts(render_partial("The guarantee is", 2.0, sources).blocks)
    assert during[0] == "The guarantee is" and "p. 75 (printed 65)" in during[-1]
    many = [src(p, snippet="y" * 160, file=f"report-{p}.pdf") for p in range(1, 60)]
    crowded = render_partial("z" * 9000, 9.0, many)
    assert len(crowded.blocks) <= MAX_BLOCKS
    assert sum(len(t) for t in texts(crowded.blocks)) <= TEXT_LIMIT
    assert any("*Sources*" in t for t in texts(render_partial("z" * 2000, 9.0, many).blocks))
