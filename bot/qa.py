"""The retrieval QA chain: retrieve -> fit the context budget -> prompt -> stream the LLM -> Answer."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import PurePath

from langchain_core.documents import Document
from langchain_core.language_models import BaseLLM
from langchain_core.prompts import PromptTemplate
from langchain_core.retrievers import BaseRetriever

from bot.answer import Answer, Grounding, Source, SourcesCallback, Timings, TokenCallback, Turn
from bot.followup import prompt_question, standalone_query
from bot.grounding import GroundingMode, check_answer
from bot.snippets import snippet
from models.chat import ChatModel, Usage, as_chat_model, assistant, token_counter, user
from models.chat import estimate_tokens as estimate_tokens
from vectorstore.retriever import HybridRetriever
from vectorstore.scopes import FileFilter

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class QAOptions:
    """Limits of one answer."""

    context_token_budget: int = 1200
    generation_timeout_seconds: float = 600.0
    no_model_reason: str = "no language model is configured"
    grounding: GroundingMode = "off"
    label_passages: bool = True  # each passage headed by its file and page, so the model can tell them apart
    self_check: bool = False  # a grounded answer is also put back to the model: do the passages state it?


NOT_FOUND = "I could not find that in the indexed documents."
WITHHELD = (
    "I could not find a supported answer in the indexed documents: the draft answer stated {what}, which "
    "none of the passages below says. Check the pages below."
)
UNVERIFIED = "⚠️ Unverified: {what} is not stated in the cited passages."
# The self-check: a second turn of the same conversation, so llama.cpp only reads these few tokens.
CHECK_QUESTION = "Do the passages above state that answer? Reply with one word: yes or no."
NOT_CONFIRMED = (
    "I could not find a supported answer in the indexed documents: the passages below do not clearly "
    "state one. Check the pages below."
)
UNCONFIRMED = "⚠️ Unverified: the cited passages may not state this answer."


class QAChain:
    """Answers questions from the index with page citations; retrieval-only when there is no model."""

    def __init__(
        self,
        retriever: BaseRetriever,
        prompt: PromptTemplate,
        llm: ChatModel | BaseLLM | None = None,
        *,
        count_tokens: Callable[[str], int] | None = None,
        options: QAOptions | None = None,
    ) -> None:
        self.retriever = retriever
        self.prompt = prompt
        self.llm = llm
        # The one seam the chain talks to; a plain langchain-core LLM is adapted to it.
        self.model: ChatModel | None = None if llm is None else as_chat_model(llm)
        # Context budgeting works with any backend: its own count where it has one, else an estimate.
        self.count_tokens = count_tokens or (token_counter(self.model) if self.model else estimate_tokens)
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
        on_sources: SourcesCallback | None = None,
    ) -> Answer:
        """Answer `question` (a follow-up in a thread uses `history`), giving the passages found to
        `on_sources` before the model starts and streaming tokens to `on_token`; with `scope`, only files it
        allows are retrieved."""
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
            text = NOT_FOUND
            if on_token:
                on_token(text)
            return Answer(
                question, text, "llm", [], Timings(retrieval=retrieved - started), version, False, query
            )
        used = self._fit(documents)
        cited = [to_source(doc, query) for doc in used]
        if on_sources:
            on_sources(cited)
        asked = prompt_question(question, history)
        prompt_text = self.prompt.format(context=self._context(used), question=asked)
        text, first_token, cut_off, finish_reason, usage = self._generate(prompt_text, on_token)
        finished = time.perf_counter()
        text = text.strip()
        # The labels count as given too: a model may well name the file or the printed page it read.
        passages = tuple(f"{passage_label(doc)}\n{doc.page_content}" for doc in used)
        shown, grounding, unsupported = self._ground(text, passages, asked)
        confirmed: bool | None = None
        if grounding == "verified" and self.options.self_check:
            confirmed = self._confirm(prompt_text, text)
            if confirmed is False:
                shown, grounding = self._unconfirmed(text)
            finished = time.perf_counter()
        timings = Timings(
            retrieval=retrieved - started,
            prompt=(first_token or finished) - retrieved,
            generation=finished - (first_token or finished),
            total=finished - started,
            first_token=None if first_token is None else first_token - started,
        )
        logger.info(
            "answered mode=llm sources=%d cut_off=%s finish=%s grounding=%s confirmed=%s total=%.2f"
            " first_token=%s prompt_tokens=%d completion_tokens=%d tokens_estimated=%s",
            len(used),
            cut_off,
            finish_reason,
            grounding or "-",
            confirmed,
            timings.total,
            timings.first_token,
            usage.prompt_tokens,
            usage.completion_tokens,
            usage.estimated,
        )
        return Answer(
            question=question,
            text=shown,
            mode="llm",
            sources=cited,
            timings=timings,
            index_version=version,
            cut_off=cut_off,
            search_query=query,
            finish_reason=finish_reason,
            grounding=grounding,
            unsupported=unsupported,
            confirmed=confirmed,
            model_text=text if shown != text else "",
            passages=passages,
        )

    def _context(self, used: list[Document]) -> str:
        """The passages as the model reads them: labelled with file and page, best first."""
        if not self.options.label_passages:
            return "\n\n".join(doc.page_content for doc in used)
        return "\n\n".join(f"[{passage_label(doc)}]\n{doc.page_content}" for doc in used)

    def _ground(
        self, text: str, passages: tuple[str, ...], asked: str
    ) -> tuple[str, Grounding, tuple[str, ...]]:
        """The text to show, the grounding verdict and what no passage states."""
        mode = self.options.grounding
        if mode == "off" or not text:
            return text, "", ()
        check = check_answer(text, passages, asked)
        if check.abstained:
            return text, "abstained", ()
        if check.grounded:
            return text, "verified", ()
        what = ", ".join(f"“{item}”" for item in check.unsupported[:3])
        logger.info("answer not grounded unsupported=%d mode=%s", len(check.unsupported), mode)
        if mode == "mark":
            return f"{text}\n\n{UNVERIFIED.format(what=what)}", "unverified", check.unsupported
        return WITHHELD.format(what=what), "withheld", check.unsupported

    def _confirm(self, prompt_text: str, text: str) -> bool | None:
        """The model's own yes/no on whether its passages state its answer; None when it says neither."""
        assert self.model is not None
        deadline = time.monotonic() + self.options.generation_timeout_seconds
        conversation = [user(prompt_text), assistant(text), user(CHECK_QUESTION)]
        reply = self.model.stream_chat(conversation, max_tokens=3, deadline=deadline).text()
        word = reply.strip().lstrip("*\"'").split(maxsplit=1)[:1]
        verdict = {"yes": True, "no": False}.get(word[0].strip(".,!:").lower() if word else "")
        logger.info("self-check verdict=%s", verdict)
        return verdict

    def _unconfirmed(self, text: str) -> tuple[str, Grounding]:
        """What to show for an answer the model would not confirm from its passages."""
        if self.options.grounding == "mark":
            return f"{text}\n\n{UNCONFIRMED}", "unverified"
        return NOT_CONFIRMED, "withheld"

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

    def _generate(
        self, prompt_text: str, on_token: TokenCallback | None
    ) -> tuple[str, float | None, bool, str, Usage]:
        """Stream the model's answer; stop at the time limit and say it was cut off."""
        assert self.model is not None
        deadline = time.monotonic() + self.options.generation_timeout_seconds
        pieces: list[str] = []
        first_token: float | None = None
        # The backend checks `deadline` between tokens, so a long answer stops where it got to; leaving
        # the block early (the asker's on_token raising) stops generation and closes a server's request.
        with self.model.stream_chat([user(prompt_text)], deadline=deadline) as generation:
            for piece in generation:
                if not piece:
                    continue
                if first_token is None:
                    first_token = time.perf_counter()
                pieces.append(piece)
                if on_token:
                    on_token(piece)
        cut_off = generation.finish_reason == "deadline" or time.monotonic() >= deadline
        return "".join(pieces), first_token, cut_off, generation.finish_reason, generation.usage

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


def passage_label(doc: Document) -> str:
    """ "manu-20f.pdf, page 43": the file and the page as printed, the way citations name them."""
    meta = doc.metadata
    label = str(meta.get("page_label") or meta.get("page", "?"))
    return f"{PurePath(str(meta.get('file', '?'))).name}, page {label}"


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
