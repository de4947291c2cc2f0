"""The QA chain over a real index: retrieval-only, and generation through the real tiny-model backends."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from langchain_core.embeddings import Embeddings

from bot.answer import Turn
from bot.qa import QAChain, QAOptions
from models.prompts import QA_TEMPLATE, load_prompt
from vectorstore.retriever import HybridRetriever
from vectorstore.store import ChunkInput, FileInfo, IndexStore

PASSAGES = [
    ("club.pdf", 53, "43", "The minimum guarantee payable by adidas over the term is equal to £750 million."),
    (
        "club.pdf",
        60,
        "50",
        "Revenue from matchday activities was £110.5 million in fiscal 2022 and £7.7 million in 2021.",
    ),
    ("handbook.pdf", 4, "4", "Performance reviews happen once a year with your manager."),
]


@pytest.fixture(scope="module")
def retriever(tmp_path_factory: pytest.TempPathFactory, embeddings: Embeddings) -> HybridRetriever:
    store = IndexStore(tmp_path_factory.mktemp("qa-index"), dim=384, model_id="minilm")
    for file in ("club.pdf", "handbook.pdf"):
        rows = [ChunkInput(text, page, label) for f, page, label, text in PASSAGES if f == file]
        vectors = np.asarray(embeddings.embed_documents([r.text for r in rows]), dtype=np.float32)
        store.replace_file(FileInfo(file, 1, 1, file, "indexed", None, file, 2, 0, 0.0), rows, vectors)
    return HybridRetriever(store=store, embeddings=embeddings, k=2)


def chain(retriever: HybridRetriever, llm: Any = None, **options: Any) -> QAChain:
    count = getattr(llm, "count_tokens", None)
    return QAChain(retriever, load_prompt(None), llm, count_tokens=count, options=QAOptions(**options))


def test_retrieval_only_answer_cites_pages_and_says_there_is_no_model(retriever: HybridRetriever) -> None:
    qa = chain(retriever, no_model_reason="no model file at models/x.gguf")
    answer = qa.answer("How much is the minimum guarantee payable by adidas?")
    assert answer.mode == "retrieval-only"
    assert "no model file at models/x.gguf" in answer.text and "Retrieval-only" in answer.text
    first = answer.sources[0]
    assert (first.file, first.page, first.page_label) == ("club.pdf", 53, "43")
    assert "adidas" in first.snippet
    assert answer.index_version >= 1 and answer.timings.retrieval > 0


def test_follow_up_question_is_searched_with_the_thread_question(retriever: HybridRetriever) -> None:
    qa = chain(retriever)
    history = [Turn("What was matchday revenue in 2022?", "£110.5 million.")]
    answer = qa.answer("and in 2021?", history)
    assert "matchday revenue" in answer.search_query and "2021" in answer.search_query
    assert answer.sources[0].page == 60


@pytest.fixture(params=["llama-cpp", "ctransformers"])
def tiny_llm(request: pytest.FixtureRequest, tiny_gguf: Path, make_settings: Callable[..., Any]) -> Any:
    if request.param == "llama-cpp":
        pytest.importorskip("llama_cpp")
    from models.llm import load_llm

    settings = make_settings(model_path=tiny_gguf, llm_backend=request.param, max_new_tokens=12, threads=1)
    return load_llm(settings)


def test_generation_streams_tokens_and_keeps_citations(retriever: HybridRetriever, tiny_llm: Any) -> None:
    tokens: list[str] = []
    answer = chain(retriever, tiny_llm).answer(
        "What is the adidas minimum guarantee?", on_token=tokens.append
    )
    assert answer.mode == "llm" and not answer.cut_off
    assert tokens and "".join(tokens).strip() == answer.text
    assert answer.sources and answer.sources[0].page == 53
    t = answer.timings
    assert t.first_token is not None and 0 < t.first_token <= t.total
    assert t.total >= t.retrieval + t.prompt


def test_context_budget_drops_lowest_ranked_passages(retriever: HybridRetriever, tiny_llm: Any) -> None:
    answer = chain(retriever, tiny_llm, context_token_budget=5).answer("adidas minimum guarantee")
    assert len(answer.sources) == 1 and answer.sources[0].page == 53


def test_time_limit_cuts_the_answer_off(retriever: HybridRetriever, tiny_llm: Any) -> None:
    answer = chain(retriever, tiny_llm, generation_timeout_seconds=1e-9).answer("adidas guarantee")
    assert answer.cut_off


def test_default_prompt_is_the_tutorial_template() -> None:
    assert load_prompt(None).template == QA_TEMPLATE
    assert QA_TEMPLATE.endswith("Only return the helpful answer below and nothing else.\nHelpful answer:\n")


def _scripted(reply: str) -> Any:
    """A model that always writes `reply`: the stand-in for a small model that invents a figure."""
    from langchain_core.language_models.fake import FakeListLLM

    return FakeListLLM(responses=[reply])


@pytest.mark.parametrize(
    ("reply", "mode", "grounding", "shown"),
    [
        ("The minimum guarantee is £750m.", "abstain", "verified", "The minimum guarantee is £750m."),
        ("The minimum guarantee is £35 million.", "abstain", "withheld", "could not find a supported answer"),
        ("It was negotiated by Nike in 2019.", "mark", "unverified", "⚠️ Unverified"),
        ("I don't know.", "abstain", "abstained", "I don't know."),
        ("The minimum guarantee is £35 million.", "off", "", "£35 million"),
    ],
)
def test_grounding_check_decides_what_the_asker_reads(
    retriever: HybridRetriever, reply: str, mode: str, grounding: str, shown: str
) -> None:
    qa = chain(retriever, _scripted(reply), grounding=mode)
    answer = qa.answer("How much is the minimum guarantee payable by adidas?")
    assert answer.grounding == grounding
    assert shown in answer.text
    if grounding in ("withheld", "unverified"):
        assert answer.unsupported and answer.model_text == reply
        assert answer.sources  # the passages are still shown, so the asker can check the pages
    else:
        assert answer.unsupported == ()


def test_passages_reach_the_model_labelled_with_file_and_printed_page(retriever: HybridRetriever) -> None:
    qa = chain(retriever, _scripted("£750 million"), grounding="abstain")
    answer = qa.answer("How much is the minimum guarantee payable by adidas?")
    assert answer.passages[0].startswith("club.pdf, page 43\n")
    assert "[club.pdf, page 43]" in qa._context(qa.retriever.invoke("minimum guarantee adidas"))


class _Recording:
    """Wraps a scripted model and keeps the keyword arguments of every call (the self-check's turn)."""

    def __init__(self, *replies: str) -> None:
        from langchain_core.language_models.fake import FakeListLLM

        recorded: list[tuple[str, dict[str, Any]]] = []

        class Recorder(FakeListLLM):
            def _call(self, prompt: str, stop: Any = None, run_manager: Any = None, **kwargs: Any) -> str:
                recorded.append((prompt, kwargs))
                return super()._call(prompt, stop, run_manager, **kwargs)

        self.llm = Recorder(responses=list(replies))
        self.calls = recorded


@pytest.mark.parametrize(
    ("verdict", "mode", "confirmed", "grounding", "shown"),
    [
        ("Yes.", "abstain", True, "verified", "£750 million"),
        ("no", "abstain", False, "withheld", "do not clearly state"),
        ("No, they do not.", "mark", False, "unverified", "⚠️ Unverified"),
        ("Perhaps", "abstain", None, "verified", "£750 million"),
    ],
)
def test_self_check_asks_the_model_about_its_own_answer(
    retriever: HybridRetriever, verdict: str, mode: str, confirmed: bool | None, grounding: str, shown: str
) -> None:
    model = _Recording("The minimum guarantee is £750 million.", verdict)
    qa = chain(retriever, model.llm, grounding=mode, self_check=True)
    answer = qa.answer("How much is the minimum guarantee payable by adidas?")
    assert (answer.confirmed, answer.grounding) == (confirmed, grounding)
    assert shown in answer.text
    assert answer.sources
    question, kwargs = model.calls[-1]
    assert "yes or no" in question
    # The check is a second turn of the same conversation: the answer's prompt and the answer come first.
    [(first_turn, first_answer)] = kwargs["previous"]
    assert "minimum guarantee" in first_turn and first_answer == "The minimum guarantee is £750 million."


def test_self_check_is_skipped_for_answers_already_withheld_or_declined(retriever: HybridRetriever) -> None:
    for reply in ("The minimum guarantee is £35 million.", "I don't know."):
        model = _Recording(reply, "yes")
        answer = chain(retriever, model.llm, grounding="abstain", self_check=True).answer("adidas guarantee?")
        assert answer.confirmed is None and len(model.calls) == 1


def test_sources_are_given_before_the_model_writes(retriever: HybridRetriever) -> None:
    events: list[str] = []
    qa = chain(retriever, _scripted("The minimum guarantee is £750 million."))
    answer = qa.answer(
        "How much is the minimum guarantee payable by adidas?",
        on_token=lambda token: events.append("token"),
        on_sources=lambda sources: events.append(f"sources {sources[0].file} {sources[0].page}"),
    )
    assert events[0] == "sources club.pdf 53" and events[1:] and set(events[1:]) == {"token"}
    assert answer.sources[0].page == 53
