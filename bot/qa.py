"""The retrieval QA chain: retrieve -> fit the context budget -> prompt -> stream the LLM -> Answer."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from langchain_core.documents import Document
from langchain_core.language_models import BaseLLM
from langchain_core.prompts import PromptTemplate
from langchain_core.retrievers import BaseRetriever

from bot.answer import Answer, Source, Timings, TokenCallback, Turn
from bot.followup import prompt_question, standalone_query
from bot.snippets import snippet
from vectorstore.retriever import HybridRetriever
from vectorstore.scopes import FileFilter

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class QAOptions:
    """Limits of one answer."""

    context_token_budget: int = 1200
    generation_timeout_seconds: float = 600.0
    no_model_reason: str = "no language model is configured"


def estimate_tokens(text: str) -> int:
    """A rough token count (about 4 characters a token) for when no model tokenizer is loaded."""
    return max(1, len(text) // 4)


class QAChain:
    """Answers questions from the index with page citations; retrieval-only when there is no model."""

    def __init__(
        self,
        retriever: BaseRetriever,
        prompt: PromptTemplate,
        llm: BaseLLM | None = None,
        *,
        count_tokens: Callable[[str], int] | None = None,
        options: QAOptions | None = None,
    ) -> None:
        self.retriever = retriever
        self.prompt = prompt
        self.llm = llm
        self.count_tokens = count_tokens or estimate_tokens
        self.options = options or QAOptions()

    @property
    def mode(self) -> str:
        """ "llm" when a model is loaded, else "retrieval-only"."""
        return "llm" if self.llm is not None else "retrieval-only"

    def answer(
        self,
        question: str,
        history: Sequence[Turn] = (),
        on_token: TokenCallback | None = None,
        scope: FileFilter | None = None,
    ) -> Answer:
        """Answer `question` (a follow-up in a thread uses `history`), streaming tokens to `on_token`;
        with `scope`, only files it allows are retrieved."""
        started = time.perf_counter()
        query = standalone_query(question, history)
        documents = self._retrieve(query, scope)
        retrieved = time.perf_counter()
        sources = [to_source(doc, query) for doc in documents]
        version = int(documents[0].metadata.get("index_version", 0)) if documents else 0
        if self.llm is None:
            return Answer(
                question=question,
                text=self._retrieval_only_text(sources),
                mode="retrieval-only",
                sources=sources,
                timings=Timings(retrieval=retrieved - started, total=time.perf_counter() - started),
                index_version=version,
                search_query=query,
            )
        if not documents:
            text = "I could not find anything about that in the indexed documents."
            if on_token:
                on_token(text)
            return Answer(
                question, text, "llm", [], Timings(retrieval=retrieved - started), version, False, query
            )
        used = self._fit(documents)
        prompt_text = self.prompt.format(
            context="\n\n".join(doc.page_content for doc in used),
            question=prompt_question(question, history),
        )
        text, first_token, cut_off = self._generate(prompt_text, on_token)
        finished = time.perf_counter()
        timings = Timings(
            retrieval=retrieved - started,
            prompt=(first_token or finished) - retrieved,
            generation=finished - (first_token or finished),
            total=finished - started,
            first_token=None if first_token is None else first_token - started,
        )
        logger.info(
            "answered mode=llm sources=%d cut_off=%s total=%.2f first_token=%s",
            len(used),
            cut_off,
            timings.total,
            timings.first_token,
        )
        return Answer(
            question=question,
            text=text.strip(),
            mode="llm",
            sources=[to_source(doc, query) for doc in used],
            timings=timings,
            index_version=version,
            cut_off=cut_off,
            search_query=query,
        )

    def _retrieve(self, query: str, scope: FileFilter | None) -> list[Document]:
        if scope is None:
            return self.retriever.invoke(query)
        if not isinstance(self.retriever, HybridRetriever):  # a scope that cannot be applied must not be lost
            raise TypeError(f"{type(self.retriever).__name__} cannot restrict retrieval to a scope")
        return self.retriever.invoke(query, allowed=scope)

    def _fit(self, documents: list[Document]) -> list[Document]:
        """Keep the best-ranked passages that fit the context budget (always at least one)."""
        used: list[Document] = []
        spent = 0
        for doc in documents:
            cost = self.count_tokens(doc.page_content) + 2
            if used and spent + cost > self.options.context_token_budget:
                break
            used.append(doc)
            spent += cost
        return used

    def _generate(self, prompt_text: str, on_token: TokenCallback | None) -> tuple[str, float | None, bool]:
        """Stream the model's answer; stop at the time limit and say it was cut off."""
        assert self.llm is not None
        deadline = time.monotonic() + self.options.generation_timeout_seconds
        pieces: list[str] = []
        first_token: float | None = None
        # The backend checks `deadline` between tokens, so a long answer stops where it got to.
        for piece in self.llm.stream(prompt_text, deadline=deadline):
            if not piece:
                continue
            if first_token is None:
                first_token = time.perf_counter()
            pieces.append(piece)
            if on_token:
                on_token(piece)
        return "".join(pieces), first_token, time.monotonic() >= deadline

    def _retrieval_only_text(self, sources: list[Source]) -> str:
        if not sources:
            return (
                f"Retrieval-only mode ({self.options.no_model_reason}), and nothing in the index "
                "matches that question."
            )
        return (
            f"Retrieval-only mode ({self.options.no_model_reason}): "
            "no generated answer, here are the most relevant passages."
        )


def to_source(doc: Document, query: str) -> Source:
    """A citation for a retrieved passage, with a snippet around the query's words."""
    meta = doc.metadata
    return Source(
        file=str(meta["file"]),
        page=int(meta["page"]),
        page_label=str(meta.get("page_label") or meta["page"]),
        snippet=snippet(doc.page_content, query),
        score=float(meta.get("score", 0.0)),
        ocr=bool(meta.get("ocr", False)),
    )
