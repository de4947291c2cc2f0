"""Hybrid retrieval: dense (FAISS) + keyword (FTS5 BM25), fused by reciprocal rank, one hit per page."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

from langchain_core.callbacks import CallbackManagerForRetrieverRun
from langchain_core.documents import Document
from langchain_core.embeddings import Embeddings
from langchain_core.retrievers import BaseRetriever
from pydantic import ConfigDict

from vectorstore.keywords import fts_query
from vectorstore.store import IndexStore, StoredChunk

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Hit:
    """A retrieved chunk with its fused score."""

    chunk: StoredChunk
    score: float

    def to_document(self, version: int) -> Document:
        """The langchain Document with the citation metadata."""
        c = self.chunk
        return Document(
            page_content=c.text,
            metadata={
                "file": c.file,
                "page": c.page,
                "page_label": c.page_label,
                "title": c.title,
                "section": c.section,
                "ocr": c.ocr,
                "score": self.score,
                "chunk_id": c.id,
                "index_version": version,
            },
        )


class HybridRetriever(BaseRetriever):
    """Dense + BM25 retrieval over an IndexStore, returning the k best distinct pages."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    store: IndexStore
    embeddings: Embeddings
    k: int = 4
    fetch_k: int = 60
    rrf_k: float = 60.0
    dense_weight: float = 1.0
    keyword_weight: float = 1.0
    page_bonus: float = 0.3

    def search(self, query: str, k: int | None = None) -> list[Hit]:
        """The best chunk of each of the k best pages for `query`."""
        k = k or self.k
        started = time.perf_counter()
        vector = self.embeddings.embed_query(query)
        with self.store.snapshot():
            dense = self.store.dense_search(vector, self.fetch_k)
            sparse = self.store.keyword_search(fts_query(query), self.fetch_k)
            fused = self._fuse(dense, sparse)
            chunks = self.store.get_chunks(list(fused))
        hits = self._best_pages(fused, chunks, k)
        logger.debug(
            "retrieved k=%d dense=%d keyword=%d seconds=%.3f",
            k,
            len(dense),
            len(sparse),
            time.perf_counter() - started,
        )
        return hits

    def _fuse(self, dense: list[tuple[int, float]], sparse: list[tuple[int, float]]) -> dict[int, float]:
        scores: dict[int, float] = {}
        for weight, ranking in ((self.dense_weight, dense), (self.keyword_weight, sparse)):
            for rank, (chunk_id, _) in enumerate(ranking):
                scores[chunk_id] = scores.get(chunk_id, 0.0) + weight / (self.rrf_k + rank + 1)
        return scores

    def _best_pages(self, fused: dict[int, float], chunks: dict[int, StoredChunk], k: int) -> list[Hit]:
        pages: dict[tuple[str, int], list[Hit]] = {}
        for chunk_id, score in sorted(fused.items(), key=lambda item: -item[1]):
            chunk = chunks.get(chunk_id)
            if chunk is not None:
                pages.setdefault((chunk.file, chunk.page), []).append(Hit(chunk, score))
        ranked = sorted(pages.values(), key=self._page_score, reverse=True)
        return [Hit(hits[0].chunk, self._page_score(hits)) for hits in ranked[:k]]

    def _page_score(self, hits: list[Hit]) -> float:
        # A page that several good chunks point at is more likely the answer than a lone lucky chunk.
        return hits[0].score + self.page_bonus * sum(h.score for h in hits[1:])

    def _get_relevant_documents(
        self, query: str, *, run_manager: CallbackManagerForRetrieverRun
    ) -> list[Document]:
        version = self.store.generation()
        return [hit.to_document(version) for hit in self.search(query)]
