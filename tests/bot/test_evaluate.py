"""Metric tests for bot.evaluate with synthetic search functions."""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from pathlib import Path

import pytest

from bot.evaluate import (
    EvalQuestion,
    Hit,
    QuestionFileError,
    SearchFn,
    distinct_pages,
    evaluate,
    load_questions,
)

DOC = "report.pdf"
OTHER = "other.pdf"


def canned(answers: dict[str, Sequence[Hit]]) -> SearchFn:
    """A search function that returns fixed hits per question, truncated to k."""

    def search(question: str, k: int) -> list[Hit]:
        return list(answers[question])[:k]

    return search


def q(text: str, page: int, doc: str = DOC, also_on: tuple[int, ...] = ()) -> EvalQuestion:
    return EvalQuestion(question=text, doc=doc, page=page, also_on=also_on)


def test_rank_one_three_and_none() -> None:
    questions = [q("first", 5), q("third", 5), q("absent", 5)]
    search = canned(
        {
            "first": [(DOC, 5), (DOC, 1), (DOC, 2)],
            "third": [(DOC, 1), (DOC, 2), (DOC, 5)],
            "absent": [(DOC, 1), (DOC, 2), (DOC, 3), (DOC, 4)],
        }
    )
    report = evaluate(questions, search, ks=[1, 2, 4])

    assert [r.rank for r in report.results] == [1, 3, None]
    assert report.overall.hit_rate == pytest.approx({1: 1 / 3, 2: 1 / 3, 4: 2 / 3})
    assert report.overall.mrr == pytest.approx((1 + 1 / 3 + 0) / 3)
    assert [m.question.question for m in report.misses] == ["absent"]


def test_search_is_asked_for_the_largest_k() -> None:
    asked: list[int] = []

    def search(question: str, k: int) -> list[Hit]:
        asked.append(k)
        return [(DOC, 1)]

    evaluate([q("a", 1), q("b", 1)], search, ks=[4, 2, 8])
    assert asked == [8, 8]


def test_hit_beyond_largest_k_does_not_count() -> None:
    # The search function ignores k; only the first max(ks) distinct pages may score.
    report = evaluate([q("late", 9)], lambda _q, _k: [(DOC, p) for p in range(1, 10)], ks=[2, 4])
    assert report.results[0].rank is None
    assert report.overall.mrr == 0.0


def test_also_on_pages_count_as_correct() -> None:
    questions = [q("alt", 53, also_on=(54, 75))]
    report = evaluate(questions, canned({"alt": [(DOC, 10), (DOC, 75), (DOC, 53)]}), ks=[1, 2])
    assert report.results[0].rank == 2
    assert report.overall.hit_rate == {1: 0.0, 2: 1.0}


def test_right_page_of_wrong_document_is_not_a_hit() -> None:
    report = evaluate([q("doc", 7)], canned({"doc": [(OTHER, 7), (DOC, 7)]}), ks=[1, 2])
    assert report.results[0].rank == 2


def test_files_are_compared_by_basename() -> None:
    report = evaluate([q("path", 3)], canned({"path": [("/data/sub/report.pdf", 3)]}), ks=[1])
    assert report.results[0].rank == 1


def test_duplicate_pages_count_once_for_ranking() -> None:
    # Three chunks of page 1 must not push page 2 out of the top 2 distinct pages
    # (a chunk-level search over-fetches, so it returns more hits than k).
    hits = [(DOC, 1), (DOC, 1), ("sub/report.pdf", 1), (DOC, 2), (DOC, 3)]
    report = evaluate([q("dup", 2)], lambda _q, _k: hits, ks=[2])
    assert report.results[0].rank == 2
    assert report.results[0].returned == ((DOC, 1), (DOC, 2))


def test_distinct_pages_keeps_first_occurrence_order() -> None:
    hits = [(DOC, 3), (OTHER, 3), (DOC, 3), (DOC, 1), (OTHER, 3)]
    assert distinct_pages(hits) == ((DOC, 3), (OTHER, 3), (DOC, 1))


def test_scores_split_per_document() -> None:
    questions = [q("a1", 1), q("a2", 2), q("b1", 4, doc=OTHER)]
    search = canned({"a1": [(DOC, 1)], "a2": [(DOC, 9), (DOC, 2)], "b1": [(OTHER, 5)]})
    report = evaluate(questions, search, ks=[1, 2])

    assert list(report.per_doc) == [OTHER, DOC]
    assert report.per_doc[DOC].n == 2
    assert report.per_doc[DOC].hit_rate == {1: 0.5, 2: 1.0}
    assert report.per_doc[DOC].mrr == pytest.approx(0.75)
    assert report.per_doc[OTHER].hit_rate == {1: 0.0, 2: 0.0}
    assert report.overall.hit_rate == pytest.approx({1: 1 / 3, 2: 2 / 3})


def test_to_dict_is_json_and_lists_misses() -> None:
    report = evaluate(
        [q("hit", 1), q("miss", 2, also_on=(3,))],
        canned({"hit": [(DOC, 1)], "miss": [(DOC, 7), (OTHER, 2)]}),
        ks=[2],
    )
    data = json.loads(json.dumps(report.to_dict()))
    assert data["overall"] == {"n": 2, "page_hit@2": 0.5, "mrr": 0.5}
    assert data["per_doc"][DOC]["page_hit@2"] == 0.5
    assert data["misses"] == [
        {
            "question": "miss",
            "doc": DOC,
            "expected": [2, 3],
            "returned": [{"file": DOC, "page": 7}, {"file": OTHER, "page": 2}],
        }
    ]
    assert [r["rank"] for r in data["results"]] == [1, None]


def test_format_table_has_a_row_per_document_and_the_misses() -> None:
    report = evaluate(
        [q("found", 1), q("lost question", 2, doc=OTHER)],
        canned({"found": [(DOC, 1)], "lost question": [(OTHER, 8)]}),
        ks=[1, 4],
    )
    table = report.format_table()
    lines = table.splitlines()
    assert "hit@1" in lines[0] and "hit@4" in lines[0] and "MRR" in lines[0]
    report_row = next(line for line in lines if line.startswith(DOC))
    assert report_row.split()[1:] == ["1", "1.000", "1.000", "1.000"]
    all_row = next(line for line in lines if line.startswith("ALL"))
    assert all_row.split()[1:] == ["2", "0.500", "0.500", "0.500"]
    assert "lost question" in table
    assert f"expected {OTHER} p2; got {OTHER} p8" in table


def test_empty_question_list_scores_zero() -> None:
    report = evaluate([], canned({}), ks=[2])
    assert report.overall.n == 0 and report.overall.mrr == 0.0 and report.per_doc == {}


@pytest.mark.parametrize("ks", [[], [0], [2, -1]])
def test_bad_ks_are_rejected(ks: list[int]) -> None:
    with pytest.raises(ValueError, match="k"):
        evaluate([q("a", 1)], canned({"a": []}), ks=ks)


def write_lines(tmp_path: Path, *lines: str) -> Path:
    path = tmp_path / "questions.jsonl"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_load_questions_reads_every_line(tmp_path: Path) -> None:
    path = write_lines(
        tmp_path,
        json.dumps({"question": "How much?", "doc": DOC, "page": 53, "also_on": [54]}),
        "",
        json.dumps({"question": "Who?", "doc": OTHER, "page": 1}),
    )
    assert load_questions(path) == [
        EvalQuestion("How much?", DOC, 53, (54,)),
        EvalQuestion("Who?", OTHER, 1, ()),
    ]


@pytest.mark.parametrize(
    ("bad_line", "reason"),
    [
        ('{"question": "x", "doc": "a.pdf", "page": 1', "invalid JSON"),
        ('["x", "a.pdf", 1]', "expected a JSON object"),
        ('{"question": "x", "page": 1}', "missing key.*doc"),
        ('{"question": "x", "doc": "a.pdf", "page": 0}', "'page' must be an integer >= 1"),
        ('{"question": "x", "doc": "a.pdf", "page": "3"}', "'page' must be an integer >= 1"),
        ('{"question": "x", "doc": "a.pdf", "page": true}', "'page' must be an integer >= 1"),
        ('{"question": " ", "doc": "a.pdf", "page": 1}', "'question' must be a non-empty string"),
        ('{"question": "x", "doc": "a.pdf", "page": 1, "also_on": 2}', "'also_on' must be a list"),
        (
            '{"question": "x", "doc": "a.pdf", "page": 1, "answer": 750}',
            "'answer' must be a non-empty string",
        ),
        ('{"question": "x", "answerable": "no"}', "'answerable' must be true or false"),
        ('{"question": "x", "doc": "a.pdf"}', "missing key.*page"),
    ],
)
def test_load_questions_names_the_bad_line(tmp_path: Path, bad_line: str, reason: str) -> None:
    good = json.dumps({"question": "ok", "doc": DOC, "page": 1})
    path = write_lines(tmp_path, good, good, bad_line)
    with pytest.raises(QuestionFileError, match=rf"questions\.jsonl:3: {reason}"):
        load_questions(path)


def test_unknown_keys_are_reported_once_and_ignored(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    line = json.dumps({"question": "ok", "doc": DOC, "page": 1, "evidence": "p. 1", "also_one": [2]})
    path = write_lines(tmp_path, line, line.replace("ok", "ok too"))
    with caplog.at_level(logging.WARNING, logger="bot.evaluate"):
        questions = load_questions(path)
    assert [q.question for q in questions] == ["ok", "ok too"]
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and "also_one, evidence" in warnings[0]


def test_answers_and_unanswerable_questions_load(tmp_path: Path) -> None:
    path = write_lines(
        tmp_path,
        json.dumps({"question": "How much?", "doc": DOC, "page": 3, "answer": "£750 million"}),
        json.dumps({"question": "Which?", "doc": DOC, "page": 4, "answer": ["NVIDIA", "Nvidia Corp"]}),
        json.dumps({"question": "Who is the mascot?", "doc": DOC, "answerable": False}),
    )
    first, second, third = load_questions(path)
    assert first.answer == ("£750 million",) and first.answerable
    assert second.answer == ("NVIDIA", "Nvidia Corp")
    assert not third.answerable and third.doc == DOC
    # Page-hit scoring leaves out the question no page answers.
    report = evaluate([first, second, third], lambda q, k: [(DOC, 3)], [2])
    assert report.overall.n == 2 and report.overall.hit_rate[2] == 0.5
