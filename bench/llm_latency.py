"""Part 2 of `make bench`: answer latency on a Llama-2-7B-sized model, docbot against the tutorial.

    .venv/bin/python -m bench.llm_latency [--quick]

No real weights can be downloaded here, so bench/big_gguf.py writes random-weight GGUF files with
Llama-2-7B's exact shape (Q4_0 standing in for docbot's default Q4_K_M download, Q8_0 as the tutorial used);
per token they cost what the real model costs. Their output never ends early, so every run generates
exactly the requested number of tokens on both sides.

a) Per backend and quant: prompt and generation tokens/s straight on the library (no docbot code), then the
   same prompt through docbot's LocalLLM (load_llm) and bot/qa.py's QAChain, run by run alternating.
b) One question end to end on the loopback fake Slack (devtools/fake_slack.py), mention to final answer:
   docbot as shipped (run_slack + its engine on the corpus index: llama-cpp on Q4_0, k=4 hybrid, its
   context budget, streaming) against the tutorial's configuration run as a small Bolt app here
   (ctransformers on Q8_0 reloaded per question, 2 dense chunks of 500 characters, 256 new tokens, nothing
   posted until the answer is complete). Pairs alternate; each pair asks its own question.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import time
from dataclasses import asdict, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bench.big_gguf import BigModel, benchmark_words, write_big_gguf
from bench.common import (
    write_results,
)
from bench.llm_backends import measure_combo, overhead_context
from bench.llm_common import QUICK, WORK_DIR, Plan
from bench.llm_end_to_end import E2ESetup, docbot_index, measure_end_to_end, tutorial_index
from bench.llm_report import goals, sections

if TYPE_CHECKING:
    pass


logger = logging.getLogger(__name__)

PART = "llm_latency"

# ----- the whole part -----


def big_models(quants: set[str]) -> dict[str, BigModel]:
    """The random Llama-2-7B-shaped files, vocabulary from the 20-F's words (written once, then reused)."""
    words = benchmark_words()
    return {quant: write_big_gguf(quant, words=words) for quant in sorted(quants)}


def run(plan: Plan) -> Path:
    """Run part 2; write bench/results/llm_latency.json after the end-to-end pairs and after each backend."""
    started = time.perf_counter()
    load_before = os.getloadavg()
    WORK_DIR.mkdir(parents=True, exist_ok=True)
    models = big_models({q for _, q in plan.combos} | {"q4_0", "q8_0"})
    setup = E2ESetup(models["q4_0"].path, models["q8_0"].path, docbot_index(), tutorial_index())
    overrides = {} if plan.e2e_new_tokens == 256 else {"max_new_tokens": plan.e2e_new_tokens}
    e2e = measure_end_to_end(
        replace(setup, docbot_overrides=overrides),
        plan,
        on_pair=lambda partial: _write(plan, models, [], partial, started, load_before),
    )
    path = _write(plan, models, [], e2e, started, load_before)
    context = overhead_context(plan.direct_prompt_chars)
    combos: list[dict[str, Any]] = []
    for backend, quant in plan.combos:
        combos.append(measure_combo(models[quant].path, backend, quant, context, plan).summary())
        path = _write(plan, models, combos, e2e, started, load_before)
    return path


def _write(
    plan: Plan,
    models: dict[str, BigModel],
    combos: list[dict[str, Any]],
    e2e: dict[str, Any],
    started: float,
    load_before: tuple[float, float, float],
    results_dir: Path | None = None,
) -> Path:
    data = {
        "plan": asdict(plan),
        "complete": len(combos) == len(plan.combos),
        "models": {
            q: {"file": m.path.name, "bytes": m.path.stat().st_size, "write_seconds": round(m.seconds, 1)}
            for q, m in models.items()
        },
        "backends": combos,
        "end_to_end": e2e,
        "seconds": round(time.perf_counter() - started, 1),
        # Other people's work on this shared machine slows both sides; pairs alternate so ratios hold.
        "load_average_1m": {"start": round(load_before[0], 2), "end": round(os.getloadavg()[0], 2)},
    }
    return write_results(
        PART,
        data,
        title="Answer latency on a Llama-2-7B-sized model",
        goals=goals(combos, e2e),
        sections=sections(combos, e2e, plan),
        chart={
            "answer_seconds": {
                "unit": "s",
                "tutorial": e2e["tutorial"]["total_seconds"],
                "docbot": e2e["docbot"]["total_seconds"],
            }
        },
        quick=plan.quick,
        results_dir=results_dir,
    )


def main(argv: list[str] | None = None) -> None:
    """Command line: run the part and print where the results went."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="fewer and shorter runs (a smoke test)")
    parser.add_argument("--pairs", type=int, help="end-to-end docbot/tutorial pairs (default 3)")
    parser.add_argument("--direct-runs", type=int, help="runs per side of each backend/quant (default 1)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(asctime)s %(name)s %(message)s")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    plan = QUICK if args.quick else Plan()
    if args.pairs:
        plan = replace(plan, e2e_pairs=args.pairs)
    if args.direct_runs:
        plan = replace(plan, direct_runs=args.direct_runs)
    path = run(plan)
    print(json.dumps({"results": str(path)}))


if __name__ == "__main__":
    main()
