"""Hybrid retrieval: dense (FAISS) + keyword (FTS5 BM25), fused by score, one hit per page."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

from langchain_core.callbacks import CallbackManagerForRetrieverRun
from langchain_core.documents import Document
from langchain_core.embeddings import Embeddings
from langchain_core.retrievers import BaseRetriever
from pydantic import ConfigDict

from vectorstore.keywords import fts_query, keywords
from vectorstore.repeats import REPEAT_POOL, Passage, first_statements_first
from vectorstore.scopes import FileFilter
from vectorstore.store import IndexStore, StoredChunk

logger = logging.getLogger(__name__)

KEYWORD_DEPTH = 1000  # how far down the BM25 ranking a dense candidate's keyword score is looked up


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
    # Tuned on tests/eval/questions.jsonl (see README): a convex mix of cosine similarity and
    # max-normalised BM25 beat reciprocal rank fusion by 5-7 points of page-hit@2.
    dense_weight: float = 0.7
    context_weight: float = 1.0
    # Reports repeat passages (business section, liquidity, notes): of two nearly equal pages stating the
    # same words, the earlier one is cited first. Shared runs of this many words count; 0 turns it off.
    repeat_words: int = 10

    def search(self, query: str, k: int | None = None, allowed: FileFilter | None = None) -> list[Hit]:
        """The best chunk of each of the k best pages for `query`.

        With `allowed`, chunks of other files are dropped before pages are picked (scores unchanged), and
        more candidates are fetched until k pages are found or every chunk has been considered.
        """
        k = k or self.k
        started = time.perf_counter()
        vector = self.embeddings.embed_query(query)
        fetch = self.fetch_k
        with self.store.snapshot():
            while True:
                dense, sparse = self._candidates(vector, fts_query(query), fetch)
                fused = self._fuse(dense, sparse)
                chunks = self.store.get_chunks(list(fused))
                if allowed is not None:
                    chunks = {i: chunk for i, chunk in chunks.items() if allowed(chunk.file)}
                hits = self._best_pages(fused, chunks, k, keywords(query))
                if allowed is None or len(hits) >= k or fetch >= self.store.chunk_count():
                    break
                fetch *= 4
        logger.debug(
            "retrieved k=%d dense=%d keyword=%d scoped=%s seconds=%.3f",
            k,
            len(dense),
            len(sparse),
            allowed is not None,
            time.perf_counter() - started,
        )
        return hits

    def _candidates(
        self, vector: list[float], match: str, fetch: int
    ) -> tuple[dict[int, float], dict[int, float]]:
        """Cosine and BM25 of every chunk either search found, each scored on both signals."""
        dense = dict(self.store.dense_search(vector, fetch))
        # FTS5 scores every matching chunk to sort them anyway, so a deeper list costs ~1 ms more; it
        # gives the dense candidates their BM25 (asking for those ids alone re-runs the match per id).
        ranked = self.store.keyword_search(match, max(fetch, KEYWORD_DEPTH), (1.0, self.context_weight))
        sparse = dict(ranked[:fetch])
        deeper = dict(ranked[fetch:])
        # A chunk found by one search only would otherwise count 0 for the other signal, so a page
        # BM25 ranks 70th loses to one it never matched at all.
        sparse.update((i, deeper[i]) for i in dense if i in deeper)
        dense.update(self.store.cosines([i for i in sparse if i not in dense], vector))
        return dense, sparse

    def _fuse(self, dense: dict[int, float], sparse: dict[int, float]) -> dict[int, float]:
        """dense_weight * cosine + (1 - dense_weight) * BM25 / best BM25, per chunk."""
        scores = {chunk_id: self.dense_weight * cosine for chunk_id, cosine in dense.items()}
        best = max(sparse.values(), default=0.0)
        if best > 0:
            for chunk_id, score in sparse.items():
                scores[chunk_id] = scores.get(chunk_id, 0.0) + (1 - self.dense_weight) * score / best
        return scores

    def _best_pages(
        self, fused: dict[int, float], chunks: dict[int, StoredChunk], k: int, asked: list[str]
    ) -> list[Hit]:
        """The best chunk of each page, pages ranked by that chunk's score."""
        best: dict[tuple[str, int], Hit] = {}
        for chunk_id, score in sorted(fused.items(), key=lambda item: -item[1]):
            chunk = chunks.get(chunk_id)
            if chunk is not None:
                best.setdefault((chunk.file, chunk.page), Hit(chunk, score))
        ranked = list(best.values())
        if self.repeat_words:
            ranked = self._first_statements_first(ranked, k, asked)
        return ranked[:k]

    def _first_statements_first(self, ranked: list[Hit], k: int, asked: list[str]) -> list[Hit]:
        """Reorder the best pages so a repeated passage is cited where it is first stated."""
        pool = ranked[: max(REPEAT_POOL, k)]
        passages = [Passage(h.chunk.file, h.chunk.page, h.chunk.text, h.score) for h in pool]
        order = first_statements_first(passages, asked, self.repeat_words)
        # The scores stay with the ranks: a page moved up takes the score of the rank it moved to.
        return [Hit(pool[i].chunk, pool[rank].score) for rank, i in enumerate(order)] + ranked[len(pool) :]

    def _get_relevant_documents(
        self, query: str, *, run_manager: CallbackManagerForRetrieverRun, allowed: FileFilter | None = None
    ) -> list[Document]:
        version = self.store.generation()
        return [hit.to_document(version) for hit in self.search(query, allowed=allowed)]
