"""Retrieval question sets: questions.jsonl (tuning), holdout.jsonl, and holdout2-11.jsonl (written blind)."""

from pathlib import Path

EVAL_DIR = Path(__file__).resolve().parent
# Written blind by people who never ran docbot's retrieval, each scored once before its misses were read.
BLIND_SETS = tuple(f"holdout{n}.jsonl" for n in range(2, 12))
QUESTION_SETS = ("questions.jsonl", "holdout.jsonl", *BLIND_SETS)
