"""How long a question waits for the CPU while a long re-index runs (the issue's target: under 2 s).

    .venv/bin/python -m bench.question_wait ../shared/corpus/uber_2021_10k.pdf [--questions 20]

Copies the PDF into a fresh data dir, starts the engine's sync with a CPU gate in a thread, and while it
runs asks questions at random moments (real retrieval holding the gate, as the worker does); prints the
waits and the re-index time.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import random
import shutil
import statistics
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

QUESTIONS = [
    "What was total revenue for the year?",
    "How many drivers use the platform?",
    "What are the main risk factors?",
    "How much cash and cash equivalents were held at year end?",
    "Who is the chief executive officer?",
]


def main() -> None:
    """Run the benchmark and print one JSON line."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("pdf", type=Path)
    parser.add_argument("--questions", type=int, default=20)
    parser.add_argument("--batch-size", type=int, default=None)
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")

    from bot.engine import open_engine
    from config import load_settings
    from ingest.cpu_gate import CpuGate

    root = Path(tempfile.mkdtemp(prefix="docbot-bench-"))
    try:
        (root / "data").mkdir()
        shutil.copyfile(args.pdf, root / "data" / args.pdf.name)
        overrides: dict[str, Any] = {"data_dir": root / "data", "index_dir": root / "index"}
        if args.batch_size:
            overrides["embedding_batch_size"] = args.batch_size
        settings = load_settings(env_file=None, model_path=root / "none.gguf", settle_seconds=0, **overrides)
        engine = open_engine(settings, load_llm=False)
        gate = CpuGate()
        options = dataclasses.replace(engine.sync_options(), cpu_gate=gate)
        done = threading.Event()
        result: dict[str, object] = {}

        def index() -> None:
            started = time.perf_counter()
            report = engine.sync(options)
            result.update(seconds=time.perf_counter() - started, chunks=report.chunks, pages=report.pages)
            done.set()

        indexer = threading.Thread(target=index)
        indexer.start()
        waits: list[float] = []
        answer_seconds: list[float] = []
        rng = random.Random(7)
        while not done.is_set() and len(waits) < args.questions:
            if done.wait(rng.uniform(1.0, 4.0)):
                break
            asked = time.perf_counter()
            with gate.question() as waited:
                engine.retriever.search(rng.choice(QUESTIONS), settings.k)
            waits.append(waited)
            answer_seconds.append(time.perf_counter() - asked - waited)
        indexer.join()
        engine.close()
        print(
            json.dumps(
                {
                    "pdf": args.pdf.name,
                    "batch_size": settings.embedding_batch_size,
                    "reindex": result,
                    "questions": len(waits),
                    "wait_max": round(max(waits, default=0.0), 3),
                    "wait_median": round(statistics.median(waits), 3) if waits else None,
                    "wait_mean": round(statistics.fmean(waits), 3) if waits else None,
                    "retrieval_mean": round(statistics.fmean(answer_seconds), 3) if waits else None,
                    "steps": gate.stats().steps,
                }
            )
        )
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
