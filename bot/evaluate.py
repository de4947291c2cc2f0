"""Retrieval evaluation: page-hit@k and MRR of a search function over a JSONL question set."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePath

logger = logging.getLogger(__name__)

Hit = tuple[str, int]
SearchFn = Callable[[str, int], Sequence[Hit]]

_REQUIRED_KEYS = ("question", "doc", "page")
# "feedback": the vote, reason and cited pages `docbot feedback --export` keeps with a question; not scored.
_KNOWN_KEYS = frozenset((*_REQUIRED_KEYS, "also_on", "answer", "answerable", "feedback"))
_MISS_HITS_SHOWN = 3


class QuestionFileError(ValueError):
    """A question file line that is not a valid question; the message names the file and line."""


@dataclass(frozen=True)
class EvalQuestion:
    """One question whose answer is on `page` (1-based, physical) of `doc`, or on any page of `also_on`."""

    question: str
    doc: str
    page: int
    also_on: tuple[int, ...] = ()
    answer: tuple[str, ...] = ()  # accepted short answers ("£750 million"); any one counts
    answerable: bool = True  # False: the documents do not answer it, and the right reply says so

    @property
    def expected_pages(self) -> tuple[int, ...]:
        """The main page first, then the other pages that carry the same answer."""
        return (self.page, *(p for p in self.also_on if p != self.page))

    def is_answered_by(self, hit: Hit) -> bool:
        """Whether a (file, page) hit is an accepted answer; files are compared by basename."""
        file, page = hit
        return _basename(file) == _basename(self.doc) and page in self.expected_pages


def load_questions(path: str | Path) -> list[EvalQuestion]:
    """Read a JSONL question file: one {"question", "doc", "page", "also_on", "answer", "answerable"} object
    per non-blank line; keys it does not know are reported once per file and ignored."""
    path = Path(path)
    questions = []
    unknown: set[str] = set()
    with path.open(encoding="utf-8") as lines:
        for lineno, line in enumerate(lines, start=1):
            if line.strip():
                questions.append(_parse_line(line, f"{path}:{lineno}", unknown))
    if unknown:
        # Files often carry notes of their own ("evidence", "notes"); a misspelt known key must still show.
        logger.warning("%s: unknown key(s) ignored: %s", path, ", ".join(sorted(unknown)))
    logger.debug("questions_loaded path=%s count=%d", path, len(questions))
    return questions


def _parse_line(line: str, where: str, unknown: set[str]) -> EvalQuestion:
    try:
        obj = json.loads(line)
    except json.JSONDecodeError as exc:
        raise QuestionFileError(f"{where}: invalid JSON: {exc.msg} (column {exc.colno})") from exc
    if not isinstance(obj, dict):
        raise QuestionFileError(f"{where}: expected a JSON object, got {type(obj).__name__}")
    answerable = obj.get("answerable", True)
    if not isinstance(answerable, bool):
        raise QuestionFileError(f"{where}: 'answerable' must be true or false, got {answerable!r}")
    # A question the documents do not answer has no page; it may still name the document it is about.
    required = _REQUIRED_KEYS if answerable else ("question",)
    missing = [key for key in required if key not in obj]
    if missing:
        raise QuestionFileError(f"{where}: missing key(s): {', '.join(missing)}")
    unknown.update(set(obj) - _KNOWN_KEYS)
    question, doc, page = obj["question"], obj.get("doc", ""), obj.get("page", 1)
    if not isinstance(question, str) or not question.strip():
        raise QuestionFileError(f"{where}: 'question' must be a non-empty string")
    if not isinstance(doc, str) or (answerable and not doc.strip()):
        raise QuestionFileError(f"{where}: 'doc' must be a non-empty string")
    if not _is_page(page):
        raise QuestionFileError(f"{where}: 'page' must be an integer >= 1, got {page!r}")
    also_on = obj.get("also_on", [])
    if not isinstance(also_on, list) or not all(_is_page(p) for p in also_on):
        raise QuestionFileError(f"{where}: 'also_on' must be a list of integers >= 1, got {also_on!r}")
    answer = obj.get("answer", [])
    answers = [answer] if isinstance(answer, str) else answer
    if not isinstance(answers, list) or not all(isinstance(a, str) and a.strip() for a in answers):
        raise QuestionFileError(
            f"{where}: 'answer' must be a non-empty string or a list of them, got {answer!r}"
        )
    return EvalQuestion(
        question=question.strip(),
        doc=doc.strip(),
        page=page,
        also_on=tuple(also_on),
        answer=tuple(a.strip() for a in answers),
        answerable=answerable,
    )


def _is_page(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 1


def _basename(file: str) -> str:
    return PurePath(file).name


@dataclass(frozen=True)
class QuestionResult:
    """How one question fared: the rank of the first correct distinct page (None if not in the top k)."""

    question: EvalQuestion
    rank: int | None
    returned: tuple[Hit, ...]

    def hit_at(self, k: int) -> bool:
        """Whether a correct page is among the first k distinct pages."""
        return self.rank is not None and self.rank <= k


@dataclass(frozen=True)
class Scores:
    """Page-hit rates and MRR for a group of questions."""

    n: int
    hit_rate: dict[int, float]
    mrr: float

    @classmethod
    def of(cls, results: Sequence[QuestionResult], ks: Sequence[int]) -> Scores:
        """Aggregate per-question results; an empty group scores zero."""
        n = len(results)
        if n == 0:
            return cls(n=0, hit_rate=dict.fromkeys(ks, 0.0), mrr=0.0)
        hit_rate = {k: sum(r.hit_at(k) for r in results) / n for k in ks}
        mrr = sum(1.0 / r.rank for r in results if r.rank is not None) / n
        return cls(n=n, hit_rate=hit_rate, mrr=mrr)

    def to_dict(self) -> dict[str, float | int]:
        """Rounded figures keyed "n", "page_hit@K" and "mrr"."""
        out: dict[str, float | int] = {"n": self.n}
        out.update({f"page_hit@{k}": round(rate, 4) for k, rate in self.hit_rate.items()})
        out["mrr"] = round(self.mrr, 4)
        return out


@dataclass(frozen=True)
class EvalReport:
    """Overall and per-document scores, and every question's outcome."""

    ks: tuple[int, ...]
    overall: Scores
    per_doc: dict[str, Scores]
    results: tuple[QuestionResult, ...] = field(repr=False)

    @property
    def misses(self) -> list[QuestionResult]:
        """Questions whose page is not among the first max(ks) distinct pages."""
        return [r for r in self.results if r.rank is None]

    def to_dict(self) -> dict[str, object]:
        """JSON-ready report: ks, overall, per_doc, misses, and each question's rank."""
        return {
            "ks": list(self.ks),
            "overall": self.overall.to_dict(),
            "per_doc": {doc: scores.to_dict() for doc, scores in self.per_doc.items()},
            "misses": [_miss_dict(r) for r in self.misses],
            "results": [
                {"question": r.question.question, "doc": r.question.doc, "rank": r.rank} for r in self.results
            ],
        }

    def format_table(self) -> str:
        """A plain-text table with one row per document and an overall row, then the misses."""
        name_width = max([len("document"), len("ALL"), *(len(doc) for doc in self.per_doc)])
        header = f"{'document':<{name_width}}  {'n':>4}"
        header += "".join(f"  {f'hit@{k}':>7}" for k in self.ks) + f"  {'MRR':>6}"
        rule = "-" * len(header)
        rows = [header, rule]
        rows += [self._row(doc, scores, name_width) for doc, scores in self.per_doc.items()]
        rows += [rule, self._row("ALL", self.overall, name_width)]
        misses = self.misses
        rows += ["", f"Misses (no correct page in the top {max(self.ks)}): {len(misses)}"]
        for r in misses:
            expected = ",".join(str(p) for p in r.question.expected_pages)
            got = ", ".join(f"{_basename(f)} p{p}" for f, p in r.returned[:_MISS_HITS_SHOWN]) or "nothing"
            rows.append(f"- {r.question.question}")
            rows.append(f"    expected {r.question.doc} p{expected}; got {got}")
        return "\n".join(rows)

    def _row(self, name: str, scores: Scores, name_width: int) -> str:
        cells = "".join(f"  {scores.hit_rate[k]:>7.3f}" for k in self.ks)
        return f"{name:<{name_width}}  {scores.n:>4}{cells}  {scores.mrr:>6.3f}"


def _miss_dict(result: QuestionResult) -> dict[str, object]:
    return {
        "question": result.question.question,
        "doc": result.question.doc,
        "expected": list(result.question.expected_pages),
        "returned": [{"file": f, "page": p} for f, p in result.returned],
    }


def evaluate(questions: Iterable[EvalQuestion], search: SearchFn, ks: Sequence[int]) -> EvalReport:
    """Run `search(question, max(ks))` for every question and score the distinct (file, page) hits."""
    ks_sorted = _check_ks(ks)
    depth = ks_sorted[-1]
    # Questions the documents do not answer have no page to find; `docbot eval --answers` scores them.
    results = tuple(_score_one(q, search, depth) for q in questions if q.answerable)
    by_doc: dict[str, list[QuestionResult]] = {}
    for r in results:
        by_doc.setdefault(r.question.doc, []).append(r)
    report = EvalReport(
        ks=ks_sorted,
        overall=Scores.of(results, ks_sorted),
        per_doc={doc: Scores.of(group, ks_sorted) for doc, group in sorted(by_doc.items())},
        results=results,
    )
    logger.info(
        "eval_done questions=%d ks=%s mrr=%.4f misses=%d",
        report.overall.n,
        ",".join(map(str, ks_sorted)),
        report.overall.mrr,
        len(report.misses),
    )
    return report


def _check_ks(ks: Sequence[int]) -> tuple[int, ...]:
    if not ks:
        raise ValueError("ks must name at least one k")
    if any(not isinstance(k, int) or isinstance(k, bool) or k < 1 for k in ks):
        raise ValueError(f"every k must be an integer >= 1, got {list(ks)!r}")
    return tuple(sorted(set(ks)))


def _score_one(question: EvalQuestion, search: SearchFn, depth: int) -> QuestionResult:
    # Ranks count distinct pages, so a chunk-level search may over-fetch and return more than `depth` hits;
    # only the first `depth` distinct pages can score.
    returned = distinct_pages(search(question.question, depth))[:depth]
    rank = next((i for i, hit in enumerate(returned, start=1) if question.is_answered_by(hit)), None)
    return QuestionResult(question=question, rank=rank, returned=returned)


def distinct_pages(hits: Iterable[Hit]) -> tuple[Hit, ...]:
    """Hits in rank order with repeated (file basename, page) pairs dropped after their first occurrence."""
    seen: set[Hit] = set()
    out = []
    for file, page in hits:
        key = (_basename(file), page)
        if key not in seen:
            seen.add(key)
            out.append((file, page))
    return tuple(out)
