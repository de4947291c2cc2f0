"""Chunking a read PDF: page-bound chunks with page, printed label and the section heading in force."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from devtools.pdfs import make_text_pdf
from ingest.chunking import Chunk, HeadingFinder, chunk_document
from ingest.pdf import Page, PdfDocument, PdfReadError, read_pdf

SENTENCES = [
    "Sponsorship revenue depends on the number of global partners we sign each season.",
    "Matchday revenue comes from ticket sales, hospitality and catering at the stadium.",
    "Broadcasting revenue is shared among the clubs of the league under collective agreements.",
    "Retail and licensing income is earned through a long term agreement with the kit supplier.",
]


def paragraph(seed: int, sentences: int = 12) -> str:
    """Distinct prose for each seed: a few sentences per line, like extracted PDF text."""
    picked = [f"{SENTENCES[(seed + i) % 4][:-1]} in period {seed}-{i}." for i in range(sentences)]
    return "\n".join(" ".join(picked[i : i + 2]) for i in range(0, sentences, 2))


def document(*texts: str, title: str = "Test document", labels: list[str] | None = None) -> PdfDocument:
    pages = [
        Page(number=n, label=(labels[n - 1] if labels else str(n)), text=text)
        for n, text in enumerate(texts, start=1)
    ]
    return PdfDocument(title=title, pages=pages, page_count=len(pages))


def sections(chunks: list[Chunk]) -> list[str]:
    return [chunk.section for chunk in chunks]


# --- page-bound chunks ----------------------------------------------------------------------------


def test_chunks_never_span_pages_and_keep_page_and_label(tmp_path: Path) -> None:
    texts = [paragraph(seed) for seed in range(3)]
    path = make_text_pdf(tmp_path / "a.pdf", texts, labels=["ix", "x", "1"])
    doc = read_pdf(path)
    chunks = chunk_document(doc, chunk_size=300, chunk_overlap=40)
    pages = {page.number: page for page in doc.pages}
    assert {chunk.page for chunk in chunks} == {1, 2, 3}
    for chunk in chunks:
        assert chunk.text in pages[chunk.page].text  # whole chunk lies on its own page
        assert chunk.page_label == pages[chunk.page].label
        assert len(chunk.text) <= 300
    assert next(c.page_label for c in chunks if c.page == 2) == "x"
    assert sum(c.page == 1 for c in chunks) >= 3  # pages really were split


def test_a_short_page_is_one_chunk_even_when_pages_are_tiny() -> None:
    chunks = chunk_document(document("Alpha page.", "Beta page."))
    assert [(c.text, c.page) for c in chunks] == [("Alpha page.", 1), ("Beta page.", 2)]


def test_chunks_without_words_are_dropped() -> None:
    doc = document("12,345 67.8 (910)\n\n--- *** ...\n\n2021 2020", "Revenue grew by 12 percent.")
    chunks = chunk_document(doc, chunk_size=20, chunk_overlap=0)
    assert chunks and all(chunk.page == 2 for chunk in chunks)


def test_sizes_come_from_the_arguments() -> None:
    doc = document(paragraph(1, sentences=30))
    small = chunk_document(doc, chunk_size=200, chunk_overlap=20)
    large = chunk_document(doc, chunk_size=1000, chunk_overlap=100)
    assert max(len(c.text) for c in small) <= 200 < max(len(c.text) for c in large) <= 1000
    assert len(small) > len(large)


def test_ocr_flag_is_carried() -> None:
    doc = PdfDocument("t", [Page(1, "1", "Scanned words from a page.", ocr=True)], 1)
    assert chunk_document(doc)[0].ocr is True


# --- sections -------------------------------------------------------------------------------------


def test_sections_follow_items_and_subheadings_across_pages() -> None:
    doc = document(
        "PART II\nITEM 7. MANAGEMENT'S DISCUSSION AND ANALYSIS\nOverview\n"
        + paragraph(1)
        + "\nResults of Operations\n"
        + paragraph(2),
        paragraph(3),
        "Item 8. Financial Statements and Supplementary Data.\nConsolidated Balance Sheets\n" + paragraph(4),
    )
    chunks = chunk_document(doc, chunk_size=400, chunk_overlap=0)
    first_page = [c.section for c in chunks if c.page == 1]
    assert first_page[0] == "ITEM 7. MANAGEMENT'S DISCUSSION AND ANALYSIS > Overview"
    assert first_page[-1] == "ITEM 7. MANAGEMENT'S DISCUSSION AND ANALYSIS > Results of Operations"
    assert {c.section for c in chunks if c.page == 2} == {first_page[-1]}  # carried over
    assert (
        chunks[-1].section
        == "Item 8. Financial Statements and Supplementary Data > Consolidated Balance Sheets"
    )


def test_sec_item_headings_cut_by_extraction_get_their_full_names() -> None:
    cover = "UNITED STATES\nFORM 10-K\nAnnual report of an example company."
    doc = document(cover, "ITEM 7. MANAGE\nMENT’S DISCUSSION AND ANALYSIS OF FINANCIAL\n" + paragraph(1))
    chunks = chunk_document(doc)
    assert chunks[-1].section.startswith(
        "Item 7. Management’s Discussion and Analysis of Financial Condition and Results of Operations"
    )


def test_an_item_heading_glued_to_the_end_of_a_cut_word_is_found() -> None:
    finder = HeadingFinder(item_names={"1A": "Risk Factors"})
    text = "filed with the SEC or in any report we fil\ne.ITEM 1A. RISK FACTORS\nCertain factors harm us."
    assert [(h.text, h.rank) for h in finder.find(text)] == [("Item 1A. Risk Factors", "major")]
    assert finder.find("we refer to it in\nPart I.Item 1A of this report and elsewhere.") == []


def test_numbered_headings_and_a_chapter_title_on_following_lines() -> None:
    doc = document(
        "Chapter 2\nRV32I Base Integer Instruction Set,\nVersion 2.1\n"
        "This chapter describes the RV32I base integer instruction set.\n"
        "2.1 Programmers’ Model for Base Integer ISA\n" + paragraph(1),
        "2.2 Base Instruction Formats\n" + paragraph(2),
    )
    chunks = chunk_document(doc, chunk_size=300, chunk_overlap=0)
    chapter = "Chapter 2 RV32I Base Integer Instruction Set, Version 2.1"
    assert chunks[0].section == chapter
    assert f"{chapter} > 2.1 Programmers’ Model for Base Integer ISA" in sections(chunks)
    assert chunks[-1].section == f"{chapter} > 2.2 Base Instruction Formats"


def test_sentences_tables_and_running_headers_are_not_headings() -> None:
    finder = HeadingFinder(boilerplate={"Acme Corp Annual Report"})
    text = (
        "Acme Corp Annual Report\n"
        "We expect revenue to grow in the coming year as we add new markets and products to our\n"
        "Portfolio And Other Things That Continue A Sentence From The Line Above It\n"
        "Total revenue\n3,208 2,365 3,616\n"
        "12 Months Ended December 31,\n"
        "30 June 2022\n"
        "2. Stores that write that byte and that precede i in program order and more words\n"
    )
    assert finder.find(text) == []


def test_heading_kinds_found_on_a_page() -> None:
    text = (
        "Risk Factors\nOur business is exposed to risks.\n"
        "D. RISK FACTORS\nInvestment involves risk.\n"
        "Note 8 – Long-Term Debt\nWe issued notes.\n"
        "14. Net Loss Per Share\nBasic net loss per share is computed.\n"
        "3.2 Memory Model\nLoads and stores are ordered.\n"
        "MARKET AND INDUSTRY DATA\nData comes from surveys.\n"
    )
    found = [(h.text, h.rank) for h in HeadingFinder().find(text)]
    assert found == [
        ("Risk Factors", "minor"),
        ("D. RISK FACTORS", "minor"),
        ("Note 8 – Long-Term Debt", "major"),
        ("14. Net Loss Per Share", "major"),
        ("3.2 Memory Model", "minor"),
        ("MARKET AND INDUSTRY DATA", "minor"),
    ]


def test_an_exhibit_starts_a_new_top_section_so_earlier_headings_do_not_leak_in() -> None:
    doc = document(
        "Item 15. Exhibits\nAppendix A\nSeverance Plan Participation Agreement\n" + paragraph(0),
        "Exhibit 21.1\nSubsidiaries of Registrant\nName of Subsidiary\nPacific Valley Insurance Hawaii",
        "Exhibit 10.14\n185 Berry Street\nSigning Bonus.\n" + paragraph(1),
        "Our auditors list Exhibit 23.1\nExhibit 23.1\nof the filing among the documents we file.",
    )
    chunks = chunk_document(doc, chunk_size=200, chunk_overlap=0)
    by_page = {c.page: c.section for c in chunks}
    assert by_page[1] == "Appendix A Severance Plan Participation Agreement"
    assert by_page[2].startswith("Exhibit 21.1 Subsidiaries of Registrant")
    assert by_page[3].startswith("Exhibit 10.14")  # a letterhead address is not the exhibit's title
    assert "Berry" not in by_page[3] and "Appendix" not in by_page[3]
    assert by_page[4].startswith("Exhibit 10.14")  # only an exhibit line at the top of a page counts


def test_reference_lists_do_not_become_sections() -> None:
    doc = document(
        "6 Conclusion\nWe showed results.\nReferences\n"
        "Rami Al-Rfou, Dokook Choe, Noah Constant, Mandy\nGuo, and Llion Jones. 2018. Character-level\n"
        "Alexis Conneau, Douwe Kiela, Holger Schwenk\nSupervised learning of universal sentence vectors."
    )
    assert chunk_document(doc, chunk_size=60, chunk_overlap=0)[-1].section == "References"


def test_repeated_banner_lines_are_ignored_as_sections() -> None:
    banner = "Notes to the consolidated financial statements (Continued)"
    texts = ["4 Revenue from contracts with customers\n" + paragraph(0)]
    texts += [f"{banner}\n{paragraph(n)}" for n in range(1, 5)]
    chunks = chunk_document(document(*texts))
    assert {c.section for c in chunks} == {"4 Revenue from contracts with customers"}


# --- the shared corpus ----------------------------------------------------------------------------

Reader = Callable[[str], "PdfDocument | PdfReadError"]


def corpus_chunks(read_corpus_pdf: Reader, name: str) -> list[Chunk]:
    doc = read_corpus_pdf(name)
    assert isinstance(doc, PdfDocument), doc
    return chunk_document(doc)


@pytest.mark.corpus
@pytest.mark.slow
def test_manu_adidas_chunk_has_page_label_and_section(read_corpus_pdf: Reader) -> None:
    chunks = corpus_chunks(read_corpus_pdf, "manu-20f-2022-09-24.pdf")
    hits = [c for c in chunks if "minimum guarantee payable by adidas over" in c.text]
    assert (hits[0].page, hits[0].page_label) == (53, "43")
    assert hits[0].section.startswith("Item 4. Information on the Company > ")
    assert all(len(c.text) <= 500 for c in chunks)
    assert sum(bool(c.section) for c in chunks) / len(chunks) > 0.95


@pytest.mark.corpus
@pytest.mark.slow
def test_corpus_sections_sample(read_corpus_pdf: Reader) -> None:
    riscv = {c.page: c.section for c in corpus_chunks(read_corpus_pdf, "riscv_unprivileged_isa_20191214.pdf")}
    assert riscv[33].startswith("Chapter 2 RV32I Base Integer Instruction Set, Version 2.1 > 2.2")
    assert riscv[178].startswith("Appendix A")
    uber = {c.page: c.section for c in corpus_chunks(read_corpus_pdf, "uber_2021_10k.pdf")}
    assert uber[20].startswith("Item 1A. Risk Factors")
    lyft = {c.page: c.section for c in corpus_chunks(read_corpus_pdf, "lyft_2021_10k.pdf")}
    assert lyft[64].startswith("Item 7. Management’s Discussion and Analysis")
    assert lyft[20].startswith("Item 1A. Risk Factors")
    assert lyft[170].startswith("Exhibit 10.14")  # an offer letter, not the previous exhibit's appendix
    assert lyft[232].startswith("Exhibit 21.1 Subsidiaries of Registrant")
