"""Answer-level evaluation: matching an expected answer, and the report's scores per document and pooled."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from bot.answer import Answer, Grounding, Source, Timings
from bot.answer_eval import (
    AnswerRecord,
    AnswerReport,
    answer_matches,
    evaluate_answers,
    figures_on_cited_pages,
)
from bot.evaluate import EvalQuestion


@pytest.mark.parametrize(
    "answer", ["£750m", "750,000,000 pounds", "The minimum guarantee is £750 million.", "GBP 750 mn"]
)
def test_an_amount_is_matched_in_any_spelling(answer: str) -> None:
    assert answer_matches("£750 million", answer)


@pytest.mark.parametrize("answer", ["£75 million", "£750 thousand", "750", "I don't know."])
def test_a_different_amount_does_not_match(answer: str) -> None:
    assert not answer_matches("£750 million", answer)


@pytest.mark.parametrize("answer", ["It is a Masked-Language-Model.", "MASKED LANGUAGE MODELS are used"])
def test_words_match_without_case_punctuation_or_plural(answer: str) -> None:
    assert answer_matches("masked language model", answer)


def test_every_word_and_number_of_the_expected_answer_is_needed() -> None:
    assert not answer_matches("masked language model", "a language model")
    assert not answer_matches("1 August 2015", "August 2015")
    assert answer_matches("1 August 2015", "It began on 1 August 2015.")


def test_figures_on_cited_pages() -> None:
    assert figures_on_cited_pages("It is £750m.", ["a guarantee of £750,000,000"]) is True
    assert figures_on_cited_pages("It is £35m.", ["a guarantee of £750,000,000"]) is False
    assert figures_on_cited_pages("It is adidas.", ["a guarantee of £750,000,000"]) is None


def test_a_record_is_correct_when_any_alternative_matches() -> None:
    question = EvalQuestion("When?", "a.pdf", 2, answer=("1 August 2015", "August 2015"))
    assert AnswerRecord(question, _answer("It began in August 2015.")).correct
    assert not AnswerRecord(question, _answer("It began in July 2015.")).correct


def _answer(
    text: str,
    *,
    pages: tuple[tuple[str, int], ...] = (),
    passages: tuple[str, ...] = (),
    seconds: float = 1.0,
    finish_reason: str = "eos",
    grounding: Grounding = "",
    unsupported: tuple[str, ...] = (),
    model_text: str = "",
) -> Answer:
    return Answer(
        question="",
        text=text,
        mode="llm",
        sources=[Source(file, page, str(page), "", 0.5) for file, page in pages],
        timings=Timings(total=seconds),
        finish_reason=finish_reason,
        grounding=grounding,
        unsupported=unsupported,
        model_text=model_text,
        passages=passages,
    )


@dataclass(frozen=True)
class Case:
    question: EvalQuestion
    answer: Answer | None  # None: the question must not be asked


CASES = [
    # alpha.pdf: right and retrieved; wrong and not retrieved; right, retrieved, cut off and flagged.
    Case(
        EvalQuestion("Minimum guarantee?", "alpha.pdf", 4, answer=("£750 million",)),
        _answer(
            "The minimum guarantee is £750m.",
            pages=(("alpha.pdf", 4),),
            passages=("a guarantee of £750,000,000",),
            seconds=0.5,
            grounding="verified",
        ),
    ),
    Case(
        EvalQuestion("Share of revenue?", "alpha.pdf", 7, answer=("59%",)),
        _answer("It is 40%.", pages=(("alpha.pdf", 2),), passages=("40% of costs",), seconds=0.8),
    ),
    Case(
        EvalQuestion("What is BERT?", "alpha.pdf", 1, answer=("masked language model",)),
        _answer(
            "A masked language model",
            pages=(("alpha.pdf", 1),),
            passages=("BERT is a masked language model",),
            seconds=3.0,
            finish_reason="length",
            grounding="unverified",
            unsupported=("x",),
        ),
    ),
    Case(EvalQuestion("No expected answer yet?", "alpha.pdf", 9), None),
    # beta.pdf: two unanswerable questions (declined by the model; invented, then withheld) and one right
    # answer whose page is one of the question's other pages, cited by a path rather than a basename.
    Case(
        EvalQuestion("Who is the CEO's dog?", "beta.pdf", 1, answerable=False),
        _answer("I don't know.", seconds=4.0),
    ),
    Case(
        EvalQuestion("What fee did Nike pay?", "beta.pdf", 1, answerable=False),
        _answer(
            "The documents do not say.",
            model_text="The fee is £35 million.",
            passages=("a fee was paid",),
            seconds=5.0,
            grounding="withheld",
            unsupported=("35 million",),
        ),
    ),
    Case(
        EvalQuestion(
            "When did it start?", "beta.pdf", 2, also_on=(5,), answer=("1 August 2015", "August 2015")
        ),
        _answer(
            "It began in August 2015.",
            pages=(("data/beta.pdf", 5),),
            passages=("in August 2015",),
            seconds=6.0,
        ),
    ),
]


@pytest.fixture
def report() -> AnswerReport:
    answers = {case.question.question: case.answer for case in CASES}

    def ask(question: str) -> Answer:
        answer = answers[question]
        assert answer is not None, f"asked {question!r}, which has no expected answer"
        return answer

    return evaluate_answers([case.question for case in CASES], ask)


def test_questions_without_an_expected_answer_are_skipped(report: AnswerReport) -> None:
    asked = [record.question.question for record in report.records]
    assert asked == [case.question.question for case in CASES if case.answer is not None]


def test_progress_is_told_of_every_answer() -> None:
    seen: list[tuple[int, str]] = []
    evaluate_answers(
        [case.question for case in CASES if case.answer is not None][:2],
        lambda q: _answer("I don't know."),
        progress=lambda n, record: seen.append((n, record.question.question)),
    )
    assert seen == [(1, "Minimum guarantee?"), (2, "Share of revenue?")]


def test_overall_scores(report: AnswerReport) -> None:
    overall = report.to_dict()["overall"]
    assert overall == {
        "questions": 6,
        "answerable": 4,
        "retrieved": 3,
        "accuracy": 0.75,
        "accuracy_when_retrieved": 1.0,
        "accuracy_shown_when_retrieved": 1.0,
        "unanswerable": 2,
        "abstention": 0.5,  # the model declined one of the two
        "abstention_shown": 1.0,  # the grounding check withheld the other
        "figures_on_cited_page": 0.75,  # £750m, 40% and 2015 are on a cited page; the invented £35m is not
        "length_limited": round(1 / 6, 4),
        "grounding_false_alarms": round(1 / 3, 4),
        "grounding_catches": 1.0,
        "seconds": {"median": 3.5, "p90": 5.0},
    }


def test_a_withheld_right_answer_is_not_shown_right() -> None:
    question = EvalQuestion("Minimum guarantee?", "alpha.pdf", 4, answer=("£750 million",))
    withheld = _answer(
        "The documents do not say.",
        model_text="It is £750m.",
        pages=(("alpha.pdf", 4),),
        grounding="withheld",
        unsupported=("750m",),
    )
    summary = evaluate_answers([question], lambda q: withheld).to_dict()["overall"]
    assert isinstance(summary, dict)
    assert summary["accuracy_when_retrieved"] == 1.0  # the model was right...
    assert summary["accuracy_shown_when_retrieved"] == 0.0  # ...but the asker was told it was not found
    assert summary["grounding_false_alarms"] == 1.0


def test_per_doc_scores(report: AnswerReport) -> None:
    per_doc = report.to_dict()["per_doc"]
    assert isinstance(per_doc, dict)
    assert list(per_doc) == ["alpha.pdf", "beta.pdf"]
    alpha, beta = per_doc["alpha.pdf"], per_doc["beta.pdf"]
    assert (alpha["questions"], alpha["answerable"], alpha["retrieved"]) == (3, 3, 2)
    assert alpha["accuracy"] == round(2 / 3, 4) and alpha["accuracy_when_retrieved"] == 1.0
    assert alpha["unanswerable"] == 0 and alpha["abstention"] is None
    assert alpha["length_limited"] == round(1 / 3, 4)
    assert alpha["seconds"] == {"median": 0.8, "p90": 3.0}
    assert (beta["questions"], beta["answerable"], beta["unanswerable"]) == (3, 1, 2)
    assert beta["accuracy"] == 1.0 and beta["abstention"] == 0.5 and beta["abstention_shown"] == 1.0
    assert beta["length_limited"] == 0.0 and beta["grounding_false_alarms"] == 0.0


def test_questions_about_no_document_are_grouped_together() -> None:
    question = EvalQuestion("Anything?", "", 1, answerable=False)
    report = evaluate_answers([question], lambda q: _answer("There is no information about that."))
    assert [doc for doc in report.by_doc()] == ["(none)"]


def test_empty_groups_have_no_shares() -> None:
    summary = evaluate_answers([], lambda q: _answer("")).to_dict()["overall"]
    assert isinstance(summary, dict)
    assert summary["questions"] == 0 and summary["accuracy"] is None
    assert summary["seconds"] == {"median": None, "p90": None}


def test_format_table_has_a_row_per_document_and_a_pooled_row(report: AnswerReport) -> None:
    header, rule, *rows = report.format_table().splitlines()
    assert header.split()[:3] == ["document", "n", "retr"]
    assert set(rule) == {"-"}
    assert [row.split()[0] for row in rows] == ["alpha.pdf", "beta.pdf", "ALL"]
    cells = {row.split()[0]: row.split()[1:] for row in rows}
    # n, retr, acc, acc|retr, unans, abstain, +ground, cited, limit, alarms, s/answer
    assert cells["ALL"] == ["4", "3", "75%", "100%", "2", "50%", "100%", "75%", "17%", "33%", "3.5/5.0"]
    assert cells["alpha.pdf"][4:6] == ["0", "-"]  # no unanswerable question: no abstention share


def test_format_table_shows_seconds_under_one_as_seconds(report: AnswerReport) -> None:
    alpha = next(row for row in report.format_table().splitlines() if row.startswith("alpha.pdf"))
    assert alpha.split()[-1] == "0.8/3.0"


def test_to_dict_has_every_answer(report: AnswerReport) -> None:
    answers = report.to_dict()["answers"]
    assert isinstance(answers, list)
    assert [a["question"] for a in answers] == [r.question.question for r in report.records]
    first, withheld, started = answers[0], answers[4], answers[5]
    assert first["correct"] is True and first["retrieved"] is True and first["abstained"] is False
    assert first["sources"] == [{"file": "alpha.pdf", "page": 4}] and first["seconds"] == 0.5
    assert first["expected"] == ["£750 million"] and first["grounding"] == "verified"
    assert withheld["answer"] == "The documents do not say."
    assert withheld["model_answer"] == "The fee is £35 million."
    assert withheld["correct"] is None and withheld["retrieved"] is None  # unanswerable: neither applies
    assert withheld["abstained"] is False and withheld["unsupported"] == ["35 million"]
    assert started["retrieved"] is True  # page 5 is one of the question's other pages
    assert answers[2]["finish_reason"] == "length"


def test_a_name_with_a_suffix_glued_on_still_matches() -> None:
    assert answer_matches("CVPR", "It was published at CVPR09.")
    assert not answer_matches("CVPR", "It was published at ICML.")
