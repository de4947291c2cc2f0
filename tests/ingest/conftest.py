"""Fixtures for ingest tests: corpus PDFs read once per session."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from ingest.pdf import PdfDocument, PdfReadError, read_pdf


@pytest.fixture(scope="session")
def read_corpus_pdf(corpus_dir: Path) -> Callable[[str], PdfDocument | PdfReadError]:
    """Read a corpus file by name (once per session): the document, or the PdfReadError it raised."""
    cache: dict[str, PdfDocument | PdfReadError] = {}

    def read(name: str) -> PdfDocument | PdfReadError:
        if name not in cache:
            try:
                cache[name] = read_pdf(corpus_dir / name)
            except PdfReadError as error:
                cache[name] = error
        return cache[name]

    return read
