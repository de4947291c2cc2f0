"""Shared pieces of `make bench`: the machine, run summaries, result files, and the reused corpus index.

Every part writes `bench/results/<part>.json` with `write_results`; the report reads them back. The shape:

    {"part": ..., "title": ..., "finished_at": ..., "quick": bool, "machine": {...},
     "goals": [{"goal", "target", "measured", "met", "why"}],     # rows of the report's headline table
     "chart": {"<panel>": {"unit", "tutorial": summary, "docbot": summary}},   # optional, for the PNG
     "sections": [{"heading", "rows": [[cell, ...], ...], "header": [...], "notes": [...]}],
     ...anything else the part wants to keep}

A summary is `summarize(values)`: {"median", "min", "max", "runs", "values"}.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

from devtools.eval_sets import EVAL_DIR, QUESTION_SETS

REPO = Path(__file__).resolve().parents[1]
CORPUS = REPO.parent / "shared" / "corpus"
BENCH_OUT = REPO / "bench-out"  # git-ignored scratch space: indexes reused between parts
RESULTS_DIR = REPO / "bench" / "results"
CORPUS_INDEX_DIR = BENCH_OUT / "corpus-index"
TUTORIAL_INDEX_DIR = BENCH_OUT / "tutorial-index"


def scratch_dir() -> Path:
    """bench-out/, created if missing: the working directory of the processes a part starts."""
    BENCH_OUT.mkdir(exist_ok=True)
    return BENCH_OUT


PACKAGES = (
    "torch",
    "sentence-transformers",
    "transformers",
    "faiss-cpu",
    "pypdf",
    "langchain-core",
    "langchain-text-splitters",
    "langchain-huggingface",
    "llama-cpp-python",
    "ctransformers",
    "openvino",
    "onnxruntime",
)


# ----- the machine -----


def machine() -> dict[str, Any]:
    """Cores, CPU model, RAM, Python and the versions of the packages that set the figures."""
    return {
        "cpu_model": _cpu_model(),
        "cores": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count(),
        "ram_gib": _ram_gib(),
        "python": platform.python_version(),
        "system": f"{platform.system()} {platform.release()}",
        "packages": {name: version for name in PACKAGES if (version := _version(name))},
    }


def machine_line(info: dict[str, Any]) -> str:
    """One line for a page: '2 cores, Intel(R) Xeon(R) ..., 7.8 GiB RAM, Python 3.11.9'."""
    return (
        f"{info.get('cores')} cores, {info.get('cpu_model')}, {info.get('ram_gib')} GiB RAM, "
        f"Python {info.get('python')}"
    )


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def _ram_gib() -> float | None:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return round(int(line.split()[1]) / 1024**2, 1)
    except OSError:
        pass
    return None


def _version(name: str) -> str | None:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


# ----- summaries and results -----


def summarize(values: Sequence[float], digits: int = 4) -> dict[str, Any]:
    """Median, min and max of several runs (and the runs themselves), rounded to `digits` decimals."""
    if not values:
        raise ValueError("summarize needs at least one value")
    return {
        "median": round(statistics.median(values), digits),
        "min": round(min(values), digits),
        "max": round(max(values), digits),
        "runs": len(values),
        "values": [round(v, digits) for v in values],
    }


def percentile(values: Sequence[float], pct: float) -> float:
    """The pct-th percentile (0-100) by linear interpolation between closest ranks."""
    if not values:
        raise ValueError("percentile needs at least one value")
    ordered = sorted(values)
    position = (len(ordered) - 1) * pct / 100
    low = int(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def fmt_summary(summary: dict[str, Any], unit: str = "", digits: int = 1) -> str:
    """'12.3 (11.9–13.0) unit, 3 runs' from a summarize() dict."""
    unit = f" {unit}" if unit else ""
    return (
        f"{summary['median']:.{digits}f} ({summary['min']:.{digits}f}–{summary['max']:.{digits}f}){unit}, "
        f"{summary['runs']} runs"
    )


@dataclass(frozen=True)
class Goal:
    """One row of the headline table: what the issue asks, what was measured, and whether it holds."""

    goal: str
    target: str
    measured: str
    met: bool | None  # None: could not be measured in this run
    why: str = ""

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready."""
        return asdict(self)


@dataclass
class Section:
    """A table (and notes) the report prints under a part's heading."""

    heading: str
    header: list[str] = field(default_factory=list)
    rows: list[list[str]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready."""
        return asdict(self)


def write_results(
    part: str,
    data: dict[str, Any],
    *,
    title: str = "",
    goals: Sequence[Goal] = (),
    sections: Sequence[Section] = (),
    chart: dict[str, Any] | None = None,
    quick: bool = False,
    results_dir: Path | None = None,
) -> Path:
    """Write bench/results/<part>.json with the machine, the time, goals, sections and the part's data."""
    out_dir = results_dir or RESULTS_DIR
    out_dir.mkdir(parents=True, exist_ok=True)
    record: dict[str, Any] = {
        "part": part,
        "title": title or part,
        "finished_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "quick": quick,
        "machine": machine(),
        "load_average": [round(x, 2) for x in os.getloadavg()],  # other work on the machine at the end
        "goals": [g.to_dict() for g in goals],
        "sections": [s.to_dict() for s in sections],
        "chart": chart or {},
    }
    record.update(data)
    path = out_dir / f"{part}.json"
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(record, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    tmp.replace(path)
    return path


def read_results(part: str, results_dir: Path | None = None) -> dict[str, Any] | None:
    """A part's results, or None when it has not been run (or its file is unreadable)."""
    path = (results_dir or RESULTS_DIR) / f"{part}.json"
    try:
        loaded = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return None
    return loaded if isinstance(loaded, dict) else None


# ----- the corpus and its docbot index -----


def corpus_available() -> bool:
    """Whether ../shared/corpus is beside this clone."""
    return CORPUS.is_dir() and any(CORPUS.glob("*.pdf"))


def corpus_pdfs() -> list[Path]:
    """The corpus's PDFs, sorted by name."""
    return sorted(p for p in CORPUS.iterdir() if p.suffix.lower() == ".pdf")


def eval_questions_paths() -> list[Path]:
    """tests/eval's question sets (the tuning set and eleven held-out sets)."""
    return [EVAL_DIR / name for name in QUESTION_SETS]


def clean_environment() -> None:
    """Drop DOCBOT_* and SLACK_* from this process's environment: in-process parts measure the defaults."""
    for name in [n for n in os.environ if n.startswith(("DOCBOT_", "SLACK_"))]:
        del os.environ[name]
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")


def docbot_env(index_dir: Path = CORPUS_INDEX_DIR, data_dir: Path = CORPUS) -> dict[str, str]:
    """Environment for a docbot subprocess on the corpus with its defaults: no model, no Slack, offline."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DOCBOT_", "SLACK_"))}
    env |= {
        "PYTHONPATH": str(REPO),
        "HF_HUB_OFFLINE": "1",
        "TRANSFORMERS_OFFLINE": "1",
        "DOCBOT_DATA_DIR": str(data_dir),
        "DOCBOT_INDEX_DIR": str(index_dir),
        "DOCBOT_MODEL_PATH": str(BENCH_OUT / "no-model.gguf"),
    }
    return env


def docbot_settings_overrides(index_dir: Path = CORPUS_INDEX_DIR) -> dict[str, Any]:
    """load_settings(**overrides) for an in-process engine on the reused corpus index, without a model."""
    return {
        "env_file": None,
        "data_dir": CORPUS,
        "index_dir": index_dir,
        "model_path": BENCH_OUT / "no-model.gguf",
        "settle_seconds": 0.0,
    }


def ensure_corpus_index(index_dir: Path = CORPUS_INDEX_DIR, timeout: float = 1800) -> dict[str, Any]:
    """Bring docbot's index of the corpus up to date with `docbot ingest --json` and return its report.

    The index lives under bench-out/ and is reused between parts and runs: when every file is unchanged
    the ingest only checks them (seconds); a changed corpus re-indexes what changed. An index docbot
    refuses to open (another embedding model or runtime, an older format) is deleted and rebuilt.
    """
    BENCH_OUT.mkdir(exist_ok=True)
    report = _ingest(index_dir, timeout)
    if report is None:
        shutil.rmtree(index_dir, ignore_errors=True)
        report = _ingest(index_dir, timeout)
        if report is None:
            raise RuntimeError(f"docbot ingest failed twice on {CORPUS} (index {index_dir})")
    runtime = docbot_runtime(index_dir)
    if index_runtimes(index_dir) != [runtime]:
        # Built (partly) by another embedding runtime than docbot picks now: measure what docbot builds.
        print(f"bench: re-building {index_dir} with embedding runtime {runtime}", file=sys.stderr, flush=True)
        shutil.rmtree(index_dir, ignore_errors=True)
        report = _ingest(index_dir, timeout)
        if report is None:
            raise RuntimeError(f"docbot ingest failed on {CORPUS} (index {index_dir})")
    expected = {p.name for p in corpus_pdfs()}
    covered = set(report["indexed"]) | set(report["unchanged"]) | {f["file"] for f in report["failed"]}
    if covered != expected:
        raise RuntimeError(f"index files {sorted(covered)} do not match the corpus {sorted(expected)}")
    return report


def docbot_runtime(index_dir: Path = CORPUS_INDEX_DIR) -> str:
    """The embedding runtime docbot's defaults pick on this machine (openvino, or torch as the fallback)."""
    from config import load_settings
    from models.embeddings import load_embeddings, runtime_of

    saved = {k: os.environ.pop(k) for k in [n for n in os.environ if n.startswith("DOCBOT_")]}
    try:
        s = load_settings(**docbot_settings_overrides(index_dir))
    finally:
        os.environ.update(saved)
    embeddings = load_embeddings(
        s.embedding_model, s.embedding_batch_size, s.embedding_runtime, s.embedding_cache_dir
    )
    return runtime_of(embeddings)


def index_runtimes(index_dir: Path) -> list[str]:
    """The embedding runtimes that wrote the vectors of an index ([] when unknown or no index)."""
    from vectorstore.store import IndexStore, IndexUnusableError

    try:
        store = IndexStore.open_existing(index_dir)
    except IndexUnusableError:
        return []
    try:
        return store.runtimes()
    finally:
        store.close()


def _ingest(index_dir: Path, timeout: float) -> dict[str, Any] | None:
    result = subprocess.run(
        [sys.executable, "-m", "bot", "ingest", "--json"],
        env=docbot_env(index_dir),
        cwd=scratch_dir(),  # not the repo, so a developer's .env does not change the benchmark
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    if result.returncode != 0:
        print(f"bench: docbot ingest exit {result.returncode}: {result.stderr[-2000:]}", file=sys.stderr)
        return None
    loaded: dict[str, Any] = json.loads(result.stdout)
    return loaded


def corpus_part_parser(description: str | None, quick_help: str) -> argparse.ArgumentParser:
    """The command line shared by the parts that run on the corpus index: --quick and --index-ready."""
    parser = argparse.ArgumentParser(
        description=description, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help=quick_help)
    parser.add_argument(
        "--index-ready", action="store_true", help="skip the index check (python -m bench did it)"
    )
    return parser


def corpus_part_ready(part: str, index_ready: bool) -> bool:
    """Quiet logging and a clean environment, then the corpus index; False (said) without the corpus."""
    clean_environment()
    logging.basicConfig(level=logging.WARNING)
    if not corpus_available():
        print(f"{part}: ../shared/corpus is not present; not run")
        return False
    if not index_ready:
        ensure_corpus_index()
    return True
