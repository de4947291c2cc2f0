"""The retrieval question sets (JSONL data in tests/eval/): their folder and names, for `docbot eval` runs."""

from __future__ import annotations

from pathlib import Path

EVAL_DIR = Path(__file__).resolve().parents[1] / "tests" / "eval"
# Written blind by people who never ran docbot's retrieval, each scored once before its misses were read.
BLIND_SETS = tuple(f"holdout{n}.jsonl" for n in range(2, 12))
# Written the same way for the retrieval-past-the-plateau work: scored once as the code stood, then only
# at the end, never tuned on.
FRESH_SETS = ("holdout12.jsonl", "holdout13.jsonl")
QUESTION_SETS = ("questions.jsonl", "holdout.jsonl", *BLIND_SETS, *FRESH_SETS)
# Questions the corpus does not answer (`"answerable": false`), for `docbot eval --answers`' abstention.
UNANSWERABLE_SET = "unanswerable.jsonl"
# Every set `docbot eval --answers` scores: the questions with an expected answer, and the unanswerable ones.
ANSWER_SETS = (*QUESTION_SETS, UNANSWERABLE_SET)
