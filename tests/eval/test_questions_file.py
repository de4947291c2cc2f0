"""Shape checks for the retrieval question sets in tests/eval/ (the tuning set and eleven held-out sets)."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest

from bot.evaluate import EvalQuestion, load_questions
from devtools.eval_sets import BLIND_SETS, EVAL_DIR, FRESH_SETS, QUESTION_SETS, UNANSWERABLE_SET

WRITTEN_BLIND = (*BLIND_SETS, *FRESH_SETS)
QUESTION_FILES = {name: 30 for name in WRITTEN_BLIND} | {"questions.jsonl": 60, "holdout.jsonl": 20}
MIN_DOCS = 6


def raw_objects(path: Path) -> list[dict[str, object]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


@pytest.mark.parametrize(("name", "min_count"), QUESTION_FILES.items())
def test_file_shape(name: str, min_count: int) -> None:
    path = EVAL_DIR / name
    objects = raw_objects(path)
    assert len(objects) >= min_count
    for obj in objects:
        assert set(obj) - {"answer"} == {"question", "doc", "page", "also_on"}, obj
        assert isinstance(obj["question"], str) and obj["question"].strip()
        assert isinstance(obj["doc"], str) and obj["doc"].endswith(".pdf") and "/" not in obj["doc"]
        assert type(obj["page"]) is int and obj["page"] >= 1
        also_on = obj["also_on"]
        assert isinstance(also_on, list) and all(type(p) is int and p >= 1 for p in also_on)
        assert obj["page"] not in also_on and len(set(also_on)) == len(also_on), obj
    # The loader must accept what the shape check accepts.
    assert len(load_questions(path)) == len(objects)


@pytest.mark.parametrize("name", QUESTION_FILES)
def test_file_spans_enough_documents_without_repeats(name: str) -> None:
    questions = load_questions(EVAL_DIR / name)
    assert len({q.doc for q in questions}) >= MIN_DOCS
    repeated = [text for text, n in Counter(q.question.lower() for q in questions).items() if n > 1]
    assert repeated == []


def test_holdout_is_disjoint_from_tuning_set() -> None:
    tuning = load_questions(EVAL_DIR / "questions.jsonl")
    holdout = load_questions(EVAL_DIR / "holdout.jsonl")
    assert {q.question.lower() for q in tuning}.isdisjoint(q.question.lower() for q in holdout)
    tuning_pages = {(q.doc, q.page) for q in tuning}
    assert [q for q in holdout if (q.doc, q.page) in tuning_pages] == []


@pytest.mark.parametrize("name", (*BLIND_SETS, *FRESH_SETS))
def test_blind_holdouts_repeat_no_earlier_question(name: str) -> None:
    # Written blind, in rounds, as fresh checks; the two short documents (an 11-page handbook, a 16-page
    # paper) have no unused pages left, so only the questions must differ.
    earlier = [q for other in QUESTION_FILES if other != name for q in load_questions(EVAL_DIR / other)]
    fresh = load_questions(EVAL_DIR / name)
    assert {q.question.lower() for q in earlier}.isdisjoint(q.question.lower() for q in fresh)


def test_blind_holdouts_ask_about_new_pages_of_the_long_documents() -> None:
    # holdout4-11 were written in pairs with disjoint page rules (even / odd, multiples of 3 / the rest) and
    # told to skip every page of the long filings and the spec that an earlier set had used.
    long_docs = {
        "lyft_2021_10k.pdf",
        "uber_2021_10k.pdf",
        "manu-20f-2022-09-24.pdf",
        "riscv_unprivileged_isa_20191214.pdf",
    }
    seen: set[tuple[str, int]] = set()
    for name in QUESTION_SETS:
        pages = [(q.doc, q.page) for q in load_questions(EVAL_DIR / name) if q.doc in long_docs]
        if name in (*BLIND_SETS[2:], *FRESH_SETS):
            assert seen.isdisjoint(pages), name
        seen.update(pages)


def test_expected_answers_cover_every_document() -> None:
    # `docbot eval --answers` scores answers against these short expected answers (figures, dates, names).
    answered = [q for name in QUESTION_SETS for q in load_questions(EVAL_DIR / name) if q.answer]
    assert len(answered) >= 150
    per_doc = Counter(q.doc for q in answered)
    assert len(per_doc) == MIN_DOCS and min(per_doc.values()) >= 15, per_doc
    assert all(len(a) <= 60 for q in answered for a in q.answer)


def test_unanswerable_set_shape() -> None:
    objects = raw_objects(EVAL_DIR / UNANSWERABLE_SET)
    assert len(objects) == 30
    assert all(
        set(obj) == {"question", "doc", "answerable"} and obj["answerable"] is False for obj in objects
    )
    questions = load_questions(EVAL_DIR / UNANSWERABLE_SET)
    assert Counter(q.doc for q in questions) == {doc: 5 for doc in {q.doc for q in questions}}
    assert len({q.doc for q in questions}) == MIN_DOCS
    answerable = {q.question.lower() for name in QUESTION_SETS for q in load_questions(EVAL_DIR / name)}
    assert answerable.isdisjoint(q.question.lower() for q in questions)


def test_required_question_is_present() -> None:
    tuning = load_questions(EVAL_DIR / "questions.jsonl")
    adidas = [q for q in tuning if q.question == "How much is the minimum guarantee payable by adidas?"]
    assert [(q.doc, q.page) for q in adidas] == [("manu-20f-2022-09-24.pdf", 53)]
    assert "£750 million" in adidas[0].answer


@pytest.mark.corpus
@pytest.mark.parametrize("name", QUESTION_FILES)
def test_pages_exist_in_the_corpus(name: str, corpus_dir: Path) -> None:
    from pypdf import PdfReader

    questions = load_questions(EVAL_DIR / name)
    page_counts = {doc: _page_count(PdfReader, corpus_dir / doc) for doc in {q.doc for q in questions}}
    out_of_range = [q for q in questions if not _pages_within(q, page_counts[q.doc])]
    assert out_of_range == []


def _page_count(reader_cls: type, path: Path) -> int:
    assert path.is_file(), f"{path.name} is not in the corpus"
    reader = reader_cls(path)
    if reader.is_encrypted:
        reader.decrypt("")
    return len(reader.pages)


def _pages_within(question: EvalQuestion, page_count: int) -> bool:
    return all(1 <= p <= page_count for p in question.expected_pages)
