"""Answer-level evaluation (`docbot eval --answers`): the whole chain, scored on what the asker would read.

Each question is answered once by the configured chain. The report says, per document and pooled, how often
the answer names the expected figure (over all answerable questions and over those whose page was
retrieved), how often unanswerable questions are declined, whether the stated figures are on a cited page,
how many answers ran to the token limit, and seconds per answer. The grounding check is scored from the same
run: its false alarms on correct answers beside the abstentions it adds on unanswerable questions.
"""

from __future__ import annotations

import logging
import statistics
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from bot.answer import Answer
from bot.evaluate import EvalQuestion
from bot.figures import figures, words
from bot.grounding import is_abstention

logger = logging.getLogger(__name__)

AnswerFn = Callable[[str], Answer]

# Words an expected answer may carry that a correct reply need not repeat.
_FILLER = frozenset(
    """a an the of in on and or to per cent percent pounds pound dollars dollar usd gbp eur euros euro us
    thousand million millions billion billions mn bn m k approximately about around""".split()
)


def answer_matches(expected: str, answer: str) -> bool:
    """Whether `answer` states `expected`: each of its numbers (magnitude words, separators and currency
    normalised) and each of its other words (case, punctuation and plural s aside)."""
    stated = figures(answer)
    for figure in figures(expected):
        if not any(figure.is_stated_by(other, table_units=False) for other in stated):
            return False
    said = set(words(answer))
    rest = [w for w in words(expected) if w not in _FILLER and not any(ch.isdigit() for ch in w)]
    return all(_said(w, said) for w in rest)


def _said(word: str, said: set[str]) -> bool:
    """A word of the expected answer, allowing a plural s and a suffix glued on ("CVPR" in "CVPR09")."""
    if word in said or word.rstrip("s") in said or word + "s" in said:
        return True
    return len(word) >= 3 and any(other.startswith(word) for other in said)


def figures_on_cited_pages(answer: str, passages: Sequence[str]) -> bool | None:
    """Whether every figure the answer states is in one of its passages; None when it states none."""
    stated = figures(answer)
    if not stated:
        return None
    given = [figure for text in passages for figure in figures(text)]
    return all(any(f.is_stated_by(g, table_units=False) for g in given) for f in stated)


@dataclass(frozen=True)
class AnswerRecord:
    """One question's outcome."""

    question: EvalQuestion
    answer: Answer

    @property
    def model_text(self) -> str:
        """What the model wrote, before any grounding decision."""
        return self.answer.model_text or self.answer.text

    @property
    def retrieved(self) -> bool:
        """Whether a page that answers the question was among the passages the model was given."""
        return any(self.question.is_answered_by((s.file, s.page)) for s in self.answer.sources)

    @property
    def correct(self) -> bool:
        """Whether the model's answer names an expected answer."""
        return any(answer_matches(expected, self.model_text) for expected in self.question.answer)

    @property
    def correct_shown(self) -> bool:
        """Whether what the asker reads names an expected answer (a withheld answer does not)."""
        return self.answer.grounding != "withheld" and self.correct

    @property
    def abstained(self) -> bool:
        """Whether the model declined to answer."""
        return is_abstention(self.model_text)

    @property
    def abstained_shown(self) -> bool:
        """Whether the asker is told the documents do not answer (by the model or the grounding check)."""
        return self.abstained or self.answer.grounding == "withheld"

    @property
    def flagged(self) -> bool:
        """Whether the grounding check found a figure or name in no passage, or the self-check said no."""
        return bool(self.answer.unsupported) or self.answer.confirmed is False


def _share(hits: int, n: int) -> float | None:
    return round(hits / n, 4) if n else None


def _seconds(values: Sequence[float]) -> dict[str, float | None]:
    if not values:
        return {"median": None, "p90": None}
    ordered = sorted(values)
    p90 = ordered[min(len(ordered) - 1, round(0.9 * (len(ordered) - 1)))]
    return {"median": round(statistics.median(ordered), 3), "p90": round(p90, 3)}


def summarise(records: Sequence[AnswerRecord]) -> dict[str, object]:
    """Every figure of the report for one group of questions."""
    answerable = [r for r in records if r.question.answerable and r.question.answer]
    retrieved = [r for r in answerable if r.retrieved]
    unanswerable = [r for r in records if not r.question.answerable]
    correct = [r for r in answerable if r.correct]
    stating = [r for r in records if not r.abstained]
    cited = [v for r in stating if (v := figures_on_cited_pages(r.model_text, r.answer.passages)) is not None]
    invented = [r for r in unanswerable if not r.abstained]
    return {
        "questions": len(records),
        "answerable": len(answerable),
        "retrieved": len(retrieved),
        "accuracy": _share(len(correct), len(answerable)),
        "accuracy_when_retrieved": _share(sum(r.correct for r in retrieved), len(retrieved)),
        "accuracy_shown_when_retrieved": _share(sum(r.correct_shown for r in retrieved), len(retrieved)),
        "unanswerable": len(unanswerable),
        "abstention": _share(sum(r.abstained for r in unanswerable), len(unanswerable)),
        "abstention_shown": _share(sum(r.abstained_shown for r in unanswerable), len(unanswerable)),
        "figures_on_cited_page": _share(sum(cited), len(cited)),
        "length_limited": _share(sum(r.answer.finish_reason == "length" for r in records), len(records)),
        "grounding_false_alarms": _share(sum(r.flagged for r in correct), len(correct)),
        "grounding_catches": _share(sum(r.flagged for r in invented), len(invented)),
        "seconds": _seconds([r.answer.timings.total for r in records]),
    }


@dataclass(frozen=True)
class AnswerReport:
    """Per-document and pooled answer scores, and every answer."""

    records: tuple[AnswerRecord, ...]

    def by_doc(self) -> dict[str, list[AnswerRecord]]:
        """Records grouped by document (unanswerable questions under the document they are about)."""
        groups: dict[str, list[AnswerRecord]] = {}
        for record in self.records:
            groups.setdefault(record.question.doc or "(none)", []).append(record)
        return dict(sorted(groups.items()))

    def to_dict(self) -> dict[str, object]:
        """JSON-ready: overall, per_doc and one row per answer."""
        return {
            "overall": summarise(self.records),
            "per_doc": {doc: summarise(group) for doc, group in self.by_doc().items()},
            "answers": [_record_dict(r) for r in self.records],
        }

    def format_table(self) -> str:
        """One row per document and a pooled row; shares as percentages."""
        columns = [
            ("n", "answerable"),
            ("retr", "retrieved"),
            ("acc", "accuracy"),
            ("acc|retr", "accuracy_when_retrieved"),
            ("unans", "unanswerable"),
            ("abstain", "abstention"),
            ("+ground", "abstention_shown"),
            ("cited", "figures_on_cited_page"),
            ("limit", "length_limited"),
            ("alarms", "grounding_false_alarms"),
        ]
        groups = [(doc, summarise(group)) for doc, group in self.by_doc().items()]
        groups.append(("ALL", summarise(self.records)))
        width = max(len(name) for name, _ in groups)
        header = (
            f"{'document':<{width}}"
            + "".join(f"  {label:>8}" for label, _ in columns)
            + "  s/answer(p50/p90)"
        )
        rows = [header, "-" * len(header)]
        for name, summary in groups:
            cells = "".join(f"  {_cell(summary[key]):>8}" for _, key in columns)
            seconds = summary["seconds"]
            assert isinstance(seconds, dict)
            median, p90 = _seconds_cell(seconds["median"]), _seconds_cell(seconds["p90"])
            rows.append(f"{name:<{width}}{cells}  {median}/{p90}")
        return "\n".join(rows)


def _cell(value: object) -> str:
    if value is None:
        return "-"
    if isinstance(value, float) and value <= 1.0:
        return f"{value * 100:.0f}%"
    return str(value) if not isinstance(value, float) else f"{value:.1f}"


def _seconds_cell(value: object) -> str:
    """Seconds as seconds: `_cell` would show 0.8 s as a share (80%)."""
    return "-" if not isinstance(value, int | float) else f"{value:.1f}"


def _record_dict(record: AnswerRecord) -> dict[str, object]:
    answer = record.answer
    return {
        "question": record.question.question,
        "doc": record.question.doc,
        "expected": list(record.question.answer),
        "answerable": record.question.answerable,
        "answer": answer.text,
        "model_answer": record.model_text,
        "correct": record.correct if record.question.answer else None,
        "retrieved": record.retrieved if record.question.answerable else None,
        "abstained": record.abstained,
        "grounding": answer.grounding,
        "unsupported": list(answer.unsupported),
        "finish_reason": answer.finish_reason,
        "sources": [{"file": s.file, "page": s.page} for s in answer.sources],
        "seconds": round(answer.timings.total, 3),
    }


def evaluate_answers(
    questions: Iterable[EvalQuestion],
    ask: AnswerFn,
    progress: Callable[[int, AnswerRecord], None] | None = None,
) -> AnswerReport:
    """Answer every question that has an expected answer or is marked unanswerable, and score them."""
    records = []
    for question in questions:
        if question.answerable and not question.answer:
            continue
        record = AnswerRecord(question, ask(question.question))
        records.append(record)
        if progress is not None:
            progress(len(records), record)
    logger.info("answer_eval_done answers=%d", len(records))
    return AnswerReport(tuple(records))
