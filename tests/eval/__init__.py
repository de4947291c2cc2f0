"""Retrieval question sets: questions.jsonl (tuning), holdout.jsonl, holdout2-11.jsonl (written blind) and
holdout12-13.jsonl (written blind the way colleagues ask in Slack, for the retrieval issue's final score).

Their names live in devtools.eval_sets, shared with the benchmarks.
"""

from devtools.eval_sets import ANSWER_SETS, BLIND_SETS, EVAL_DIR, FRESH_SETS, QUESTION_SETS, UNANSWERABLE_SET

__all__ = ["ANSWER_SETS", "BLIND_SETS", "EVAL_DIR", "FRESH_SETS", "QUESTION_SETS", "UNANSWERABLE_SET"]
