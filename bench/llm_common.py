"""What both answer-latency benchmarks share: the plan, the questions and prompts, one timed generation,
docbot's settings for a model."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bench.common import (
    BENCH_OUT,
    docbot_settings_overrides,
)

if TYPE_CHECKING:
    pass

logger = logging.getLogger(__name__)

MANU = "manu-20f-2022-09-24.pdf"
WORK_DIR = BENCH_OUT / "llm-latency"
# Real questions about the Manchester United 20-F from tests/eval; pair i asks QUESTIONS[i].
QUESTIONS = (
    "How much is the minimum guarantee payable by adidas?",
    "How many seats are there at Old Trafford?",
    "What does the cheapest adult membership at Manchester United cost per season?",
    "How much does UEFA pay a club for reaching the Champions League quarter-finals?",
    "Who coaches Manchester United's women's side?",
)
# A different first word for each direct-measurement run, so that no side reuses the previous prompt's
# cache beyond <s> (all three sides reuse a common prefix the same way: the libraries do it natively).
# All are in devtools/tiny_llama.py's COMMON_WORDS, so each is one token in big_gguf's vocabulary.
LEAD_WORDS = ("time", "water", "number", "people", "house", "world", "school", "money")
DIRECT_TEMPLATE = "{question}\n\n{context}\n\nAnswer:"
SAMPLING = {"temperature": 0.01, "top_k": 40, "top_p": 0.95, "repetition_penalty": 1.1}
TUTORIAL_NEW_TOKENS = 256
TUTORIAL_K = 2
E2E_GOAL = 0.4
OVERHEAD_GOAL = 0.03


@dataclass(frozen=True)
class Plan:
    """How much to run; the full plan fits about 15 minutes on 2 cores."""

    combos: tuple[tuple[str, str], ...] = (
        ("llama-cpp", "q4_0"),
        ("ctransformers", "q4_0"),
        ("llama-cpp", "q8_0"),
        ("ctransformers", "q8_0"),
    )
    direct_prompt_chars: int = 250
    direct_new_tokens: int = 12
    direct_runs: int = 1  # 3 end-to-end pairs take most of the 15 minutes on 2 cores
    e2e_pairs: int = 3
    e2e_new_tokens: int = 256
    quick: bool = False


QUICK = Plan(
    combos=(("llama-cpp", "q4_0"), ("ctransformers", "q4_0")),
    direct_prompt_chars=200,
    direct_new_tokens=8,
    direct_runs=1,
    e2e_pairs=1,
    e2e_new_tokens=32,
    quick=True,
)


# ----- one generation, timed -----


@dataclass(frozen=True)
class GenRun:
    """One timed generation: tokens in and out, seconds to the first new token and in all."""

    prompt_tokens: int
    new_tokens: int
    first_s: float
    total_s: float

    @property
    def prompt_tps(self) -> float:
        """Prompt tokens per second (time to the first new token, which includes sampling it)."""
        return self.prompt_tokens / self.first_s if self.first_s > 0 else 0.0

    @property
    def gen_tps(self) -> float:
        """New tokens per second after the first."""
        span = self.total_s - self.first_s
        return (self.new_tokens - 1) / span if self.new_tokens > 1 and span > 0 else 0.0


def time_stream(pieces: Iterator[Any], limit: int, count: Callable[[Any], int] = lambda _: 1) -> GenRun:
    """Consume a stream of generated pieces (up to `limit` counted tokens), timing the first and the last.

    `prompt_tokens` is left 0 for the caller to fill in; the clock starts when this is called, so create
    the generator lazily (generators run nothing until the first next()).
    """
    started = time.perf_counter()
    first: float | None = None
    produced = 0
    for piece in pieces:
        n = count(piece)
        if n and first is None:
            first = time.perf_counter()
        produced += n
        if produced >= limit:
            break
    ended = time.perf_counter()
    return GenRun(0, produced, (first or ended) - started, ended - started)


def docbot_settings(model: Path, backend: str, **overrides: Any) -> Any:
    """docbot's settings on the corpus index with this model; everything else at its defaults."""
    from config.settings import load_settings

    values = docbot_settings_overrides() | {"model_path": model, "llm_backend": backend}
    return load_settings(**(values | overrides))
