"""Folder scopes in retrieval: a filter on chunk files before pages are picked, scores unchanged."""

from __future__ import annotations

import numpy as np
import pytest
from langchain_core.embeddings import Embeddings

from vectorstore.retriever import HybridRetriever
from vectorstore.scopes import FolderScopes, folder_key
from vectorstore.store import ChunkInput, FileInfo, IndexStore

SALARY = "Salary bands for {team} engineers: level {n} earns between {low} and {high} thousand euros a year."


def test_folder_keys_are_path_prefixes() -> None:
    assert [folder_key(f) for f in ("hr", "hr/", "/hr/", "./hr", " hr/payroll/ ")] == [
        "hr/",
        "hr/",
        "hr/",
        "hr/",
        "hr/payroll/",
    ]


def test_a_file_is_visible_only_when_every_scope_around_it_lists_the_channel() -> None:
    scopes = FolderScopes.from_mapping(
        {"hr": ["C0HR", "C0EXEC"], "hr/payroll": ["C0EXEC"], "sales/": ["C0S"]}
    )
    hr, exec_, sales, dm = (scopes.filter_for(c) for c in ("C0HR", "C0EXEC", "C0S", "D123"))
    assert hr and exec_ and sales and dm
    files = ["hr/handbook.pdf", "hr/payroll/2024.pdf", "sales/q3.pdf", "public/report.pdf", "hrx/notes.pdf"]
    assert [f for f in files if hr(f)] == ["hr/handbook.pdf", "public/report.pdf", "hrx/notes.pdf"]
    assert [f for f in files if exec_(f)] == ["hr/handbook.pdf", "hr/payroll/2024.pdf", "public/report.pdf",
                                               "hrx/notes.pdf"]  # fmt: skip
    assert [f for f in files if sales(f)] == ["sales/q3.pdf", "public/report.pdf", "hrx/notes.pdf"]
    assert [f for f in files if dm(f)] == ["public/report.pdf", "hrx/notes.pdf"]
    assert FolderScopes.from_mapping({}).filter_for("C1") is None
    assert FolderScopes.from_mapping({"hr/": ["C1"]}).filter_for("C1") is None  # nothing hidden from C1


@pytest.fixture(scope="module")
def retriever(tmp_path_factory: pytest.TempPathFactory, embeddings: Embeddings) -> HybridRetriever:
    """hr/ holds 120 pages that match a salary question best; sales/ and the root hold a few weaker ones."""
    store = IndexStore(tmp_path_factory.mktemp("scoped"), dim=384, model_id="minilm")
    files = {
        "hr/salaries.pdf": [SALARY.format(team="platform", n=n, low=40 + n, high=60 + n) for n in range(120)],
        "sales/commission.pdf": [
            "Sales staff earn a yearly commission on top of their base pay.",
            "The sales kick-off happens in January in Lisbon.",
        ],
        "handbook.pdf": ["Pay day is the last working day of each month.", "Holidays: 25 days a year."],
    }
    for name, pages in files.items():
        chunks = [ChunkInput(text, page, str(page)) for page, text in enumerate(pages, start=1)]
        vectors = np.asarray(embeddings.embed_documents(pages), dtype=np.float32)
        info = FileInfo(name, 1, 1, name, "indexed", None, name, len(pages), 0, 0.0)
        store.replace_file(info, chunks, vectors)
    return HybridRetriever(store=store, embeddings=embeddings, k=4)


QUESTION = "What salary do engineers earn per year?"


def test_unscoped_search_is_dominated_by_the_hr_folder(retriever: HybridRetriever) -> None:
    hits = retriever.search(QUESTION, k=4)
    assert [h.chunk.file for h in hits] == ["hr/salaries.pdf"] * 4


def test_a_channel_outside_the_scope_never_gets_hr_chunks_and_still_gets_k_pages(
    retriever: HybridRetriever,
) -> None:
    allowed = FolderScopes.from_mapping({"hr/": ["C0HR"]}).filter_for("C0SALES")
    assert allowed is not None
    hits = retriever.search(QUESTION, k=4, allowed=allowed)
    # All 120 hr pages outrank everything else in the first 60 candidates: more were fetched.
    assert len(hits) == 4 and not any(h.chunk.file.startswith("hr/") for h in hits)
    wide = retriever.model_copy(update={"fetch_k": 1000})  # every chunk, unfiltered, for the scores
    everything = {(h.chunk.file, h.chunk.page): h.score for h in wide.search(QUESTION, k=200)}
    assert all(everything[(h.chunk.file, h.chunk.page)] == pytest.approx(h.score) for h in hits)
    assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)
    documents = retriever.invoke(QUESTION, allowed=allowed)  # the langchain interface takes it too
    assert documents and not any(d.metadata["file"].startswith("hr/") for d in documents)


def test_a_channel_in_the_scope_gets_the_hr_pages(retriever: HybridRetriever) -> None:
    allowed = FolderScopes.from_mapping({"hr/": ["C0HR"], "sales/": ["C0SALES"]}).filter_for("C0HR")
    assert allowed is not None
    hits = retriever.search(QUESTION, k=4, allowed=allowed)
    assert hits[0].chunk.file == "hr/salaries.pdf" and "sales/commission.pdf" not in {
        h.chunk.file for h in hits
    }


def test_a_filter_that_allows_nothing_returns_nothing(retriever: HybridRetriever) -> None:
    assert retriever.search(QUESTION, k=4, allowed=lambda file: False) == []
