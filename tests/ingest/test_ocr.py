"""Scanned pages read with Tesseract (when installed), marked as OCR text down to the index."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from langchain_core.embeddings import Embeddings

from devtools.pdfs import make_image_only_pdf, make_text_pdf
from ingest.ocr import tesseract_available
from ingest.pdf import NO_TEXT_LAYER, PdfReadError, read_pdf
from ingest.sync import SyncOptions, sync_folder
from tests.ingest.scans import make_scanned_text_pdf
from vectorstore.retriever import HybridRetriever
from vectorstore.store import IndexStore

needs_tesseract = pytest.mark.skipif(not tesseract_available(), reason="tesseract is not installed")

FORKLIFT = ["Quarterly safety report", "The forklift licence costs 420 euros."]
BICYCLES = ["Cycling to work", "Staff bicycles are parked in the basement."]
TEXT_PAGE = "A page with a real text layer about the canteen opening hours."


def merge(target: Path, *parts: Path) -> Path:
    from pypdf import PdfWriter

    writer = PdfWriter()
    for part in parts:
        writer.append(str(part))
    buffer = io.BytesIO()
    writer.write(buffer)
    target.write_bytes(buffer.getvalue())
    return target


@needs_tesseract
def test_scanned_pages_are_read_with_ocr_and_marked(tmp_path: Path) -> None:
    doc = read_pdf(make_scanned_text_pdf(tmp_path / "scan.pdf", [FORKLIFT, BICYCLES]))
    assert [(p.number, p.ocr) for p in doc.pages] == [(1, True), (2, True)]
    assert "forklift licence costs 420 euros" in doc.pages[0].text
    assert "bicycles are parked in the basement" in doc.pages[1].text
    assert doc.title == "Quarterly safety report"


@needs_tesseract
def test_only_the_pages_without_a_text_layer_are_ocrd(tmp_path: Path) -> None:
    text = make_text_pdf(tmp_path / "text.pdf", [TEXT_PAGE])
    scan = make_scanned_text_pdf(tmp_path / "scan.pdf", [FORKLIFT])
    doc = read_pdf(merge(tmp_path / "mixed.pdf", text, scan))
    assert [(p.number, p.ocr) for p in doc.pages] == [(1, False), (2, True)]
    assert "canteen opening hours" in doc.pages[0].text and "forklift" in doc.pages[1].text


@needs_tesseract
def test_pictures_without_words_still_have_no_text_layer(tmp_path: Path) -> None:
    with pytest.raises(PdfReadError) as raised:
        read_pdf(make_image_only_pdf(tmp_path / "bars.pdf"))
    assert raised.value.reason == NO_TEXT_LAYER


def test_without_tesseract_a_scan_has_no_text_layer(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    scan = make_scanned_text_pdf(tmp_path / "scan.pdf", [FORKLIFT])
    empty_path = tmp_path / "bin"
    empty_path.mkdir()
    monkeypatch.setenv("PATH", str(empty_path))
    assert not tesseract_available()
    with pytest.raises(PdfReadError) as raised:
        read_pdf(scan)
    assert raised.value.reason == NO_TEXT_LAYER


@needs_tesseract
def test_ocr_chunks_are_indexed_as_ocr(tmp_path: Path, embeddings: Embeddings) -> None:
    data = tmp_path / "data"
    make_scanned_text_pdf(data / "scan.pdf", [FORKLIFT])
    make_text_pdf(data / "text.pdf", [TEXT_PAGE])
    store = IndexStore(tmp_path / "index", dim=384, model_id="minilm")
    try:
        report = sync_folder(data, store, embeddings, SyncOptions())
        assert sorted(report.indexed) == ["scan.pdf", "text.pdf"] and report.failed == []
        retriever = HybridRetriever(store=store, embeddings=embeddings, k=1)
        [scan_hit] = retriever.search("How much does the forklift licence cost?")
        [text_hit] = retriever.search("When is the canteen open?")
        assert (scan_hit.chunk.file, scan_hit.chunk.ocr) == ("scan.pdf", True)
        assert (text_hit.chunk.file, text_hit.chunk.ocr) == ("text.pdf", False)
        assert scan_hit.to_document(1).metadata["ocr"] is True
    finally:
        store.close()


@pytest.mark.corpus
@pytest.mark.slow
@needs_tesseract
def test_corpus_scan_is_read_with_ocr(corpus_dir: Path) -> None:
    doc = read_pdf(corpus_dir / "linnsequencer_scanned_ccitt.pdf")
    [page] = doc.pages
    assert page.number == 1 and page.ocr
    assert "LinnSequencer" in doc.title
    assert "32 Track MIDI" in page.text and "100 sequences" in page.text
