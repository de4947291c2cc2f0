"""Hybrid retrieval with the real embedding model over a small real index."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from langchain_core.embeddings import Embeddings

from vectorstore.keywords import fts_query
from vectorstore.retriever import HybridRetriever
from vectorstore.store import ChunkInput, FileInfo, IndexStore

PAGES = {
    (
        "club.pdf",
        1,
    ): "The kit sponsorship with adidas carries a minimum guarantee of £750 million over ten years.",
    ("club.pdf", 2): "Matchday revenue rose as stadium attendance returned after the pandemic restrictions.",
    ("club.pdf", 3): "Broadcasting income depends on Premier League distributions and European competitions.",
    ("handbook.pdf", 1): "Employees may work from home two days a week with their manager's approval.",
    ("handbook.pdf", 2): "Report workplace injuries to the safety officer within twenty-four hours.",
    ("spec.pdf", 1): "The FENCE.I instruction synchronizes the instruction and data streams of a hart.",
}


@pytest.fixture(scope="module")
def retriever(tmp_path_factory: pytest.TempPathFactory, embeddings: Embeddings) -> HybridRetriever:
    store = IndexStore(tmp_path_factory.mktemp("idx"), dim=384, model_id="minilm")
    for file in sorted({f for f, _ in PAGES}):
        pages = sorted((p, t) for (f, p), t in PAGES.items() if f == file)
        # Two chunks on one page, so page de-duplication is exercised.
        chunk_list = [ChunkInput(t, p, f"p{p}") for p, t in pages] + [
            ChunkInput(pages[0][1] + " Again.", 1, "p1")
        ]
        vectors = np.asarray(embeddings.embed_documents([c.text for c in chunk_list]), dtype=np.float32)
        store.replace_file(
            FileInfo(file, 1, 1, file, "indexed", None, file, len(pages), 0, 0.0), chunk_list, vectors
        )
    return HybridRetriever(store=store, embeddings=embeddings, k=3)


def test_paraphrased_question_finds_the_page(retriever: HybridRetriever) -> None:
    hits = retriever.search("Can staff do remote work?")
    assert (hits[0].chunk.file, hits[0].chunk.page) == ("handbook.pdf", 1)


def test_rare_keyword_finds_the_page(retriever: HybridRetriever) -> None:
    hits = retriever.search("FENCE.I")
    assert (hits[0].chunk.file, hits[0].chunk.page) == ("spec.pdf", 1)


def test_results_are_distinct_pages(retriever: HybridRetriever) -> None:
    hits = retriever.search("adidas minimum guarantee", k=5)
    pages = [(h.chunk.file, h.chunk.page) for h in hits]
    assert pages[0] == ("club.pdf", 1)
    assert len(pages) == len(set(pages)) == 5


def test_base_retriever_interface_returns_documents_with_citation_metadata(
    retriever: HybridRetriever,
) -> None:
    docs = retriever.invoke("How much is the minimum guarantee payable by adidas?")
    assert len(docs) == 3
    meta = docs[0].metadata
    assert (meta["file"], meta["page"], meta["page_label"]) == ("club.pdf", 1, "p1")
    assert "adidas" in docs[0].page_content
    assert meta["index_version"] >= 1 and meta["score"] > 0


def test_empty_index_returns_nothing(tmp_path: Path, embeddings: Embeddings) -> None:
    store = IndexStore(tmp_path, dim=384, model_id="minilm")
    assert HybridRetriever(store=store, embeddings=embeddings).invoke("anything at all") == []


def test_a_chunk_found_by_one_search_is_scored_on_both(retriever: HybridRetriever) -> None:
    narrow = retriever.model_copy(update={"fetch_k": 1})
    query = "Can staff work from home? FENCE.I"
    vector = retriever.embeddings.embed_query(query)
    dense, sparse = narrow._candidates(vector, fts_query(query), 1)
    top_dense = retriever.store.dense_search(vector, 1)[0][0]
    top_keyword = retriever.store.keyword_search(fts_query(query), 1, (1.0, 1.0))[0][0]
    assert top_dense != top_keyword
    # Each search found one chunk; now both carry a cosine and a BM25 (the dense one matches "work").
    bm25 = dict(retriever.store.keyword_search(fts_query(query), 100, (1.0, 1.0)))
    assert set(dense) == set(sparse) == {top_dense, top_keyword}
    assert dense[top_keyword] == pytest.approx(retriever.store.cosines([top_keyword], vector)[top_keyword])
    assert sparse[top_dense] == pytest.approx(bm25[top_dense])
