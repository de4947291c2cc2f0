"""Retrieval question sets: questions.jsonl (tuning), holdout.jsonl, and holdout2-11.jsonl (written blind).

Their names live in devtools.eval_sets, shared with the benchmarks.
"""

from devtools.eval_sets import ANSWER_SETS, BLIND_SETS, EVAL_DIR, QUESTION_SETS, UNANSWERABLE_SET

__all__ = ["ANSWER_SETS", "BLIND_SETS", "EVAL_DIR", "QUESTION_SETS", "UNANSWERABLE_SET"]
