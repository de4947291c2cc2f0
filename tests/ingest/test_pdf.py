"""Reading one PDF: text per page, physical numbers, printed labels, titles and failure reasons."""

from __future__ import annotations

import logging
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from devtools.pdfs import (
    make_bad_xref_pdf,
    make_empty_file,
    make_garbage_file,
    make_image_only_pdf,
    make_text_pdf,
    make_truncated_pdf,
)
from ingest.pdf import (
    EMPTY_FILE,
    NO_TEXT_LAYER,
    PASSWORD_PROTECTED,
    PdfDocument,
    PdfReadError,
    clean_lines,
    read_pdf,
)

REPO = Path(__file__).resolve().parents[2]
BODY = "Revenue from sponsorship grew strongly during the year.\nThe club signed new partners in Asia."


def reason(path: Path) -> str:
    with pytest.raises(PdfReadError) as caught:
        read_pdf(path)
    return caught.value.reason


def labels(doc: PdfDocument) -> list[str]:
    return [page.label for page in doc.pages]


# --- pages and labels ---------------------------------------------------------------------------


def test_pages_keep_physical_numbers_text_and_defined_labels(tmp_path: Path) -> None:
    texts = [f"Preface part {n}.\n{BODY}" for n in range(2)] + [
        f"Chapter text {n}.\n{BODY}" for n in range(3)
    ]
    doc = read_pdf(make_text_pdf(tmp_path / "a.pdf", texts, labels=["i", "ii", "1", "2", "3"]))
    assert doc.page_count == 5
    assert [page.number for page in doc.pages] == [1, 2, 3, 4, 5]
    assert labels(doc) == ["i", "ii", "1", "2", "3"]
    assert doc.pages[3].text.startswith("Chapter text 1.\nRevenue from sponsorship")
    assert not any(page.ocr for page in doc.pages)


def test_printed_footer_numbers_become_labels_and_leave_the_text(tmp_path: Path) -> None:
    texts = [f"Body of page {n}.\n{BODY}" for n in range(6)]
    doc = read_pdf(make_text_pdf(tmp_path / "a.pdf", texts, footer_numbers=41))
    assert labels(doc) == ["41", "42", "43", "44", "45", "46"]
    for page in doc.pages:
        assert page.text.splitlines()[-1] == "The club signed new partners in Asia."
        assert page.label not in page.text


def test_footer_series_restart_and_gaps_are_followed(tmp_path: Path) -> None:
    footers = ["i", "ii", "iii", "1", "2", None, "4", "5", "F-1", "F-2", "F-3"]
    texts = [f"Text of sheet {n}.\n{BODY}" for n in range(len(footers))]
    doc = read_pdf(make_text_pdf(tmp_path / "a.pdf", texts, footers=footers))
    assert labels(doc) == ["i", "ii", "iii", "1", "2", "3", "4", "5", "F-1", "F-2", "F-3"]


def test_page_n_of_m_and_running_header_numbers(tmp_path: Path) -> None:
    texts = [f"Section {n} text.\n{BODY}" for n in range(4)]
    footers = [f"Page {n} of 9" for n in range(6, 10)]
    doc = read_pdf(make_text_pdf(tmp_path / "a.pdf", texts, footers=footers))
    assert labels(doc) == ["6", "7", "8", "9"]
    assert all("Page" not in page.text for page in doc.pages)


def test_digits_glued_to_the_last_line_are_page_numbers_only_in_sequence(tmp_path: Path) -> None:
    texts = [f"{BODY}\nand investors are cautioned about these statements.{n + 3}" for n in range(5)]
    doc = read_pdf(make_text_pdf(tmp_path / "a.pdf", texts))
    assert labels(doc) == ["3", "4", "5", "6", "7"]
    assert all(page.text.endswith("these statements.") for page in doc.pages)


def test_numbers_that_are_not_a_sequence_stay_text_and_labels_stay_physical(tmp_path: Path) -> None:
    texts = [f"{BODY}\nTotal\n{value}" for value in ("2020", "17", "350", "9")]
    doc = read_pdf(make_text_pdf(tmp_path / "a.pdf", texts))
    assert labels(doc) == ["1", "2", "3", "4"]
    assert [page.text.splitlines()[-1] for page in doc.pages] == ["2020", "17", "350", "9"]


def test_blank_pages_are_left_out_but_counted(tmp_path: Path) -> None:
    doc = read_pdf(make_text_pdf(tmp_path / "a.pdf", ["First page.", "", "Third page."]))
    assert doc.page_count == 3
    assert [page.number for page in doc.pages] == [1, 3]


# --- text cleanup --------------------------------------------------------------------------------


def test_words_broken_across_lines_are_joined(tmp_path: Path) -> None:
    text = "A task-specific model.\nThe pay-\nment is due and the task-\nspecific head is small."
    doc = read_pdf(make_text_pdf(tmp_path / "a.pdf", [text]))
    assert "The payment is due" in doc.pages[0].text
    assert "the task-specific head" in doc.pages[0].text


def test_clean_lines_drops_control_chars_and_collapses_space() -> None:
    raw = "Hello\x00 \u00a0  world\x07\r\n\n\n\nNew  para\x0cﬁnal\t\ttab\n\n"
    assert clean_lines(raw) == ["Hello world", "", "New para", "final tab"]


# --- titles ---------------------------------------------------------------------------------------


def test_title_comes_from_metadata_when_it_is_a_real_title(tmp_path: Path) -> None:
    doc = read_pdf(make_text_pdf(tmp_path / "a.pdf", [BODY], title="Annual Report 2022"))
    assert doc.title == "Annual Report 2022"


@pytest.mark.parametrize("junk", ["0001759509-22-000016", "Microsoft Word - report.docx", "scan.pdf", ""])
def test_junk_metadata_titles_fall_back_to_the_first_page(tmp_path: Path, junk: str) -> None:
    first = "Contoso Electronics\nEmployee Handbook\nThis handbook explains our policies."
    doc = read_pdf(make_text_pdf(tmp_path / "a.pdf", [first], title=junk))
    assert doc.title == "Contoso Electronics Employee Handbook"


def test_sec_filing_title_names_company_form_and_year(tmp_path: Path) -> None:
    cover = (
        "UNITED STATES\nSECURITIES AND EXCHANGE COMMISSION\nFORM 10-K\n"
        "For the fiscal year ended December 31, 2021\nLyft, Inc.\n"
        "(Exact name of Registrant as specified in its Charter)"
    )
    doc = read_pdf(make_text_pdf(tmp_path / "a.pdf", [cover], title="0001759509-22-000016"))
    assert doc.title == "Lyft, Inc. Form 10-K for the fiscal year ended December 31, 2021"


def test_title_falls_back_to_the_file_stem(tmp_path: Path) -> None:
    doc = read_pdf(make_text_pdf(tmp_path / "q3-numbers.pdf", ["12 34 56"]))
    assert doc.title == "q3-numbers"


# --- failures ------------------------------------------------------------------------------------


def test_user_password_means_password_protected(tmp_path: Path) -> None:
    assert reason(make_text_pdf(tmp_path / "a.pdf", [BODY], encrypt_password="secret")) == PASSWORD_PROTECTED


def test_empty_user_password_opens(tmp_path: Path) -> None:
    doc = read_pdf(make_text_pdf(tmp_path / "a.pdf", [BODY], encrypt_password=""))
    assert doc.pages[0].text == BODY


@pytest.mark.parametrize("algorithm", ["AES-128", "AES-256"])
def test_aes_encryption_opens_with_the_empty_password_only(tmp_path: Path, algorithm: str) -> None:
    pytest.importorskip("cryptography")
    opened = make_text_pdf(tmp_path / "a.pdf", [BODY], encrypt_password="", encrypt_algorithm=algorithm)
    assert read_pdf(opened).pages[0].text == BODY
    locked = make_text_pdf(tmp_path / "b.pdf", [BODY], encrypt_password="pw", encrypt_algorithm=algorithm)
    assert reason(locked) == PASSWORD_PROTECTED


def test_zero_bytes_is_an_empty_file(tmp_path: Path) -> None:
    assert reason(make_empty_file(tmp_path / "a.pdf")) == EMPTY_FILE == "empty file"


def test_garbage_is_corrupt(tmp_path: Path) -> None:
    assert reason(make_garbage_file(tmp_path / "a.pdf")) == "corrupt: not a PDF file"


@pytest.mark.parametrize("fraction", [0.2, 0.6, 0.95])
def test_truncated_file_is_corrupt(tmp_path: Path, fraction: float) -> None:
    text = reason(make_truncated_pdf(tmp_path / "a.pdf", fraction))
    assert text.startswith("corrupt: truncated") and "\n" not in text and len(text) < 140


def test_image_only_pages_have_no_text_layer(tmp_path: Path) -> None:
    assert reason(make_image_only_pdf(tmp_path / "a.pdf", pages=2)) == NO_TEXT_LAYER


def test_time_limit_stops_a_slow_file(tmp_path: Path) -> None:
    path = make_text_pdf(tmp_path / "a.pdf", [BODY] * 3)
    with pytest.raises(PdfReadError) as caught:
        read_pdf(path, max_seconds=1e-9)
    assert caught.value.reason == "corrupt: took longer than 1e-09 s"
    assert len(read_pdf(path, max_seconds=60).pages) == 3


def test_a_page_that_fails_is_skipped_and_all_failing_is_corrupt(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # pypdf recovers from every broken page we can build, so make its extractor fail on marked pages
    from pypdf import PageObject

    original = PageObject.extract_text

    def extract(self: PageObject, *args: object, **kwargs: object) -> str:
        text = original(self, *args, **kwargs)  # type: ignore[arg-type]
        if "BROKEN" in text:
            raise KeyError("/Font")
        return text

    monkeypatch.setattr(PageObject, "extract_text", extract)
    doc = read_pdf(make_text_pdf(tmp_path / "a.pdf", ["Good page.", "BROKEN page.", "Another good page."]))
    assert [page.number for page in doc.pages] == [1, 3]
    assert reason(make_text_pdf(tmp_path / "b.pdf", ["BROKEN one.", "BROKEN two."])).startswith(
        "corrupt: text extraction failed on every page"
    )


def test_pypdf_warnings_are_logged_at_debug_only(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    caplog.set_level(logging.DEBUG, logger="pypdf")  # `docbot` commands run earlier raise pypdf's level
    path = make_bad_xref_pdf(tmp_path / "a.pdf")
    assert read_pdf(path).pages[0].text == "A file whose xref offset is wrong."
    notes = [r for r in caplog.records if r.name == "ingest.pdf_open" and "startxref" in r.getMessage()]
    assert notes and all(r.levelno == logging.DEBUG for r in notes)
    # pytest taps every logger; what matters is the console of a program that logs at WARNING
    script = (
        "import logging, sys; from pathlib import Path; from ingest.pdf import read_pdf;"
        "logging.basicConfig(level=logging.WARNING); print(read_pdf(Path(sys.argv[1])).pages[0].text)"
    )
    done = subprocess.run(
        [sys.executable, "-c", script, str(path)], capture_output=True, text=True, cwd=REPO, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "A file whose xref offset is wrong."
    assert done.stderr == ""


def test_missing_file_is_an_os_error_not_a_pdf_reason(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        read_pdf(tmp_path / "gone.pdf")


# --- the shared corpus ----------------------------------------------------------------------------

READABLE = [
    "bert_1810.04805.pdf",
    "contoso_employee_handbook.pdf",
    "contoso_handbook_mip_protected.pdf",
    "lyft_2021_10k.pdf",
    "manu-20f-2022-09-24.pdf",
    "riscv_unprivileged_isa_20191214.pdf",
    "uber_2021_10k.pdf",
]
Reader = Callable[[str], "PdfDocument | PdfReadError"]


@pytest.mark.corpus
@pytest.mark.slow
@pytest.mark.parametrize("name", READABLE)
def test_corpus_readable_files(read_corpus_pdf: Reader, name: str) -> None:
    doc = read_corpus_pdf(name)
    assert isinstance(doc, PdfDocument), doc
    assert doc.pages and doc.title and len(doc.pages) <= doc.page_count
    assert len({page.number for page in doc.pages}) == len(doc.pages)


@pytest.mark.corpus
def test_corpus_password_protected_file(read_corpus_pdf: Reader) -> None:
    error = read_corpus_pdf("password_protected_lorem.pdf")
    assert isinstance(error, PdfReadError) and error.reason == PASSWORD_PROTECTED


@pytest.mark.corpus
def test_corpus_scan_without_ocr_has_no_text_layer(corpus_dir: Path) -> None:
    with pytest.raises(PdfReadError) as raised:
        read_pdf(corpus_dir / "linnsequencer_scanned_ccitt.pdf", ocr=False)
    assert raised.value.reason == NO_TEXT_LAYER


@pytest.mark.corpus
@pytest.mark.slow
def test_manu_printed_labels_and_page_53(read_corpus_pdf: Reader) -> None:
    doc = read_corpus_pdf("manu-20f-2022-09-24.pdf")
    assert isinstance(doc, PdfDocument)
    by_number = {page.number: page for page in doc.pages}
    assert by_number[53].label == "43"
    assert "minimum guarantee payable by adidas" in by_number[53].text
    assert not by_number[53].text.endswith("43")
    assert (by_number[2].label, by_number[11].label, by_number[115].label) == ("i", "1", "F-1")
    assert doc.title == "MANCHESTER UNITED plc Form 20-F for the fiscal year ended 30 June 2022"


@pytest.mark.corpus
@pytest.mark.slow
def test_riscv_roman_labels_and_stripped_running_headers(read_corpus_pdf: Reader) -> None:
    doc = read_corpus_pdf("riscv_unprivileged_isa_20191214.pdf")
    assert isinstance(doc, PdfDocument)
    by_number = {page.number: page for page in doc.pages}
    assert [by_number[n].label for n in (3, 4, 12, 19, 21)] == ["i", "ii", "x", "1", "3"]
    assert not any("Volume I: RISC-V Unprivileged ISA V20191214-draft" in page.text for page in doc.pages)


@pytest.mark.corpus
@pytest.mark.slow
def test_empty_password_filings_open_with_titles_and_offsets(read_corpus_pdf: Reader) -> None:
    lyft, uber = read_corpus_pdf("lyft_2021_10k.pdf"), read_corpus_pdf("uber_2021_10k.pdf")
    assert isinstance(lyft, PdfDocument) and isinstance(uber, PdfDocument)
    assert lyft.title.startswith("Lyft, Inc. Form 10-K") and uber.title.startswith("UBER TECHNOLOGIES")
    uber_labels = {page.number: page.label for page in uber.pages}
    assert [uber_labels[n] for n in (5, 25, 100)] == ["3", "23", "98"]  # the cover pages are unnumbered
