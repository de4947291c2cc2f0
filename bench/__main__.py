"""`make bench`: run the benchmark parts in order, each in its own process, then write the report.

    .venv/bin/python -m bench [--parts ingestion,latency,retrieval,memory,quality,answers] [--quick]

A part whose module is missing or that fails is recorded as such in bench/results/run.json (the report
says so) and the run goes on. docbot's index of the corpus is brought up to date once, after the
ingestion part, and the later parts reuse it.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.common import REPO, RESULTS_DIR, clean_environment, corpus_available, ensure_corpus_index


@dataclass(frozen=True)
class Part:
    """A benchmark part: its command-line name, module, results file stem and time limit."""

    name: str
    module: str
    results: str
    timeout_s: float
    takes_index_ready: bool  # the parts of this package accept --index-ready


PARTS = (
    Part("ingestion", "bench.ingestion", "ingestion", 20 * 60, False),
    Part("latency", "bench.llm_latency", "llm_latency", 20 * 60, False),
    Part("retrieval", "bench.retrieval_latency", "retrieval", 10 * 60, True),
    Part("memory", "bench.memory", "memory", 10 * 60, True),
    Part("quality", "bench.quality", "quality", 15 * 60, True),
    Part("answers", "bench.answers", "answers", 45 * 60, True),
)
PART_NAMES = tuple(p.name for p in PARTS)
RUN_FILE = "run.json"
_TAIL_CHARS = 1500


def run_part(part: Part, *, quick: bool, index_ready: bool) -> dict[str, Any]:
    """Run one part's module in a subprocess; returns its status record."""
    if importlib.util.find_spec(part.module) is None:
        print(f"bench: {part.name}: module {part.module} is missing; skipped", flush=True)
        return {"status": "missing", "module": part.module}
    command = [sys.executable, "-m", part.module]
    if quick:
        command.append("--quick")
    if index_ready and part.takes_index_ready:
        command.append("--index-ready")
    print(f"bench: {part.name}: {' '.join(command[1:])}", flush=True)
    started = time.perf_counter()
    try:
        # Output goes straight to the terminal so a long part shows progress; stderr's tail is kept.
        result = subprocess.run(
            command, cwd=REPO, stderr=subprocess.PIPE, text=True, timeout=part.timeout_s, check=False
        )
    except subprocess.TimeoutExpired:
        seconds = time.perf_counter() - started
        print(f"bench: {part.name}: timed out after {seconds:.0f} s", flush=True)
        return {"status": "timed out", "module": part.module, "seconds": round(seconds, 1)}
    seconds = time.perf_counter() - started
    tail = (result.stderr or "")[-_TAIL_CHARS:]
    if result.returncode != 0:
        sys.stderr.write(tail)
        print(f"bench: {part.name}: failed (exit {result.returncode}) after {seconds:.0f} s", flush=True)
        return {"status": "failed", "exit": result.returncode, "seconds": round(seconds, 1), "stderr": tail}
    print(f"bench: {part.name}: done in {seconds:.0f} s", flush=True)
    return {"status": "ok", "seconds": round(seconds, 1)}


def record_run(
    statuses: dict[str, dict[str, Any]], quick: bool, seconds: float, results_dir: Path = RESULTS_DIR
) -> None:
    """Merge this run's part statuses into bench/results/run.json (parts not run now keep theirs)."""
    path = results_dir / RUN_FILE
    try:
        previous = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        previous = {}
    parts = previous.get("parts", {}) if isinstance(previous, dict) else {}
    finished = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    for name, status in statuses.items():
        parts[name] = {**status, "finished_at": finished, "quick": quick}
    results_dir.mkdir(parents=True, exist_ok=True)
    record = {"finished_at": finished, "seconds": round(seconds, 1), "parts": parts}
    path.write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")


def parse_parts(value: str) -> list[Part]:
    """The named parts, in the canonical order."""
    names = {n.strip() for n in value.split(",") if n.strip()}
    unknown = names - set(PART_NAMES)
    if unknown:
        raise argparse.ArgumentTypeError(f"unknown part(s) {sorted(unknown)}; known: {', '.join(PART_NAMES)}")
    return [p for p in PARTS if p.name in names]


def main() -> None:
    """Run the chosen parts, record their statuses and render docs/benchmarks.md."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--parts", type=parse_parts, default=list(PARTS), help=",".join(PART_NAMES))
    parser.add_argument("--quick", action="store_true", help="fewer runs (a smoke test, not for publishing)")
    parser.add_argument("--no-report", action="store_true", help="do not render docs/benchmarks.md")
    args = parser.parse_args()
    clean_environment()
    started = time.perf_counter()
    statuses: dict[str, dict[str, Any]] = {}
    index_ready = False
    for part in args.parts:
        if part.name != "ingestion" and not index_ready and corpus_available():
            began = time.perf_counter()
            report = ensure_corpus_index()
            index_ready = True
            print(
                f"bench: corpus index ready in {time.perf_counter() - began:.0f} s "
                f"({len(report['indexed'])} indexed, {len(report['unchanged'])} unchanged)",
                flush=True,
            )
        statuses[part.name] = run_part(part, quick=args.quick, index_ready=index_ready)
    total = time.perf_counter() - started
    record_run(statuses, args.quick, total)
    print(f"bench: parts done in {total / 60:.1f} min", flush=True)
    if not args.no_report:
        from bench.report import main as render

        render([])


if __name__ == "__main__":
    main()
