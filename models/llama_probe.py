"""Check, in a child process, that llama.cpp can load and run a model on this CPU before the bot trusts it.

Two crashes kill the whole process rather than raise: on Intel CPUs with AMX, llama.cpp's AMX matmul
(reached through its "extra buffer types") segfaults on the first decode of real quantized models; and a
llama-cpp-python built with -march=native on one CPU dies with SIGILL on another. So a few tokens are
decoded in a child first, once per model file, build and CPU (the result is cached), and a crash becomes a
fallback or a one-line reason, never a segfault of the bot.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import hashlib
import json
import logging
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

logger = logging.getLogger(__name__)

ExtraBuffers = Literal["auto", "on", "off"]
PROBE_TIMEOUT_SECONDS = 120.0
_PROBE_RECIPE = 1  # bump when what the child does changes: older cached verdicts are then ignored


@functools.cache
def cpu_flags() -> frozenset[str]:
    """The CPU's feature flags (empty where /proc/cpuinfo cannot be read)."""
    try:
        text = Path("/proc/cpuinfo").read_text(encoding="utf-8", errors="replace")
    except OSError:
        return frozenset()
    for line in text.splitlines():
        if line.startswith("flags"):
            return frozenset(line.partition(":")[2].split())
    return frozenset()


def cpu_has_amx() -> bool:
    """True on CPUs with Intel AMX, where llama.cpp's extra buffer types crash on real models."""
    return any(flag.startswith("amx") for flag in cpu_flags())


def default_extra_buffers(requested: ExtraBuffers) -> bool:
    """Whether to load with llama.cpp's extra buffer types (weight repacking, AMX): auto = not on AMX CPUs."""
    if requested == "auto":
        return not cpu_has_amx()
    return requested == "on"


@contextlib.contextmanager
def extra_buffers(enabled: bool) -> Iterator[None]:
    """Load llama-cpp-python models with or without extra buffer types inside this block.

    `Llama()` takes no argument for llama.cpp's `use_extra_bufts`, but reads its model parameters from
    `llama_model_default_params()` while loading; wrapping that call is the one way to set it.
    """
    import llama_cpp.llama as llama_module

    original = llama_module.llama_cpp.llama_model_default_params

    def params() -> object:
        values = original()
        values.use_extra_bufts = enabled
        return values

    llama_module.llama_cpp.llama_model_default_params = params
    try:
        yield
    finally:
        llama_module.llama_cpp.llama_model_default_params = original


@dataclass(frozen=True)
class ProbeResult:
    """How the child fared: ok, or the reason it did not; `crashed` when the process died (a signal or a hang)
    rather than reporting an error, which the real load then reports itself."""

    ok: bool
    reason: str = ""
    crashed: bool = False


def _build_identity() -> str:
    import importlib.metadata
    import importlib.util

    spec = importlib.util.find_spec("llama_cpp")
    where = Path(spec.origin).parent if spec and spec.origin else Path()
    libs = sorted((where / "lib").glob("*.so*")) if (where / "lib").is_dir() else []
    stamp = ";".join(f"{p.name}:{p.stat().st_size}:{p.stat().st_mtime_ns}" for p in libs)
    return f"{importlib.metadata.version('llama_cpp_python')}|{stamp}"


def _key(model_path: Path, enabled: bool) -> str:
    stat = model_path.stat()
    parts = [
        str(_PROBE_RECIPE),
        str(model_path.resolve()),
        str(stat.st_size),
        str(stat.st_mtime_ns),
        _build_identity(),
        ",".join(sorted(cpu_flags())),
        str(enabled),
    ]
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()


def _read_cache(cache_file: Path) -> dict[str, dict[str, object]]:
    try:
        data = json.loads(cache_file.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _write_cache(cache_file: Path, key: str, result: ProbeResult) -> None:
    data = _read_cache(cache_file)
    data[key] = {"ok": result.ok, "reason": result.reason, "crashed": result.crashed}
    try:
        cache_file.parent.mkdir(parents=True, exist_ok=True)
        tmp = cache_file.with_suffix(".tmp")
        tmp.write_text(json.dumps(data, indent=1), encoding="utf-8")
        tmp.replace(cache_file)
    except OSError as exc:  # a read-only cache only costs a probe on the next start
        logger.info("llm probe result not cached path=%s error=%s", cache_file, exc)


def run_probe(
    model_path: Path,
    enabled: bool,
    timeout: float = PROBE_TIMEOUT_SECONDS,
    *,
    command: Sequence[str] | None = None,
) -> ProbeResult:
    """Load the model and decode a few tokens in a child process (`command` replaces the child, for tests)."""
    if command is None:
        command = [sys.executable, "-m", "models.llama_probe", str(model_path)]
        command += ["--extra-buffers", "on" if enabled else "off"]
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=timeout, check=False)
    except subprocess.TimeoutExpired:
        return ProbeResult(False, f"no answer from a test decode within {timeout:.0f} s", crashed=True)
    if done.returncode == 0:
        return ProbeResult(True)
    if done.returncode < 0:
        try:
            name = signal.Signals(-done.returncode).name
        except ValueError:
            name = f"signal {-done.returncode}"
        hint = " (illegal instruction: built for another CPU)" if name == "SIGILL" else ""
        return ProbeResult(False, f"llama.cpp crashed with {name}{hint}", crashed=True)
    last = (done.stderr.strip().splitlines() or [f"exit status {done.returncode}"])[-1]
    return ProbeResult(False, last[:300])


def checked_extra_buffers(
    model_path: Path,
    requested: ExtraBuffers,
    cache_file: Path | None,
    *,
    probe: Callable[[Path, bool], ProbeResult] = run_probe,
) -> bool:
    """The extra-buffer setting this model runs with on this CPU, proven in a child (by `probe`); raises
    RuntimeError with a one-line reason when it crashes either way."""
    first = default_extra_buffers(requested)
    tries = [first] if requested != "auto" or not first else [first, False]
    reasons: list[str] = []
    for enabled in tries:
        key = _key(model_path, enabled)
        cached = _read_cache(cache_file).get(key) if cache_file else None
        if cached is not None:
            result = ProbeResult(
                bool(cached.get("ok")), str(cached.get("reason", "")), bool(cached.get("crashed"))
            )
        else:
            logger.info(
                "llm probe starting model=%s extra_buffers=%s (a test decode in a child process, once per"
                " model, build and CPU)",
                model_path.name,
                enabled,
            )
            result = probe(model_path, enabled)
            logger.info(
                "llm probe model=%s extra_buffers=%s ok=%s reason=%r",
                model_path.name,
                enabled,
                result.ok,
                result.reason,
            )
            if cache_file is not None:
                _write_cache(cache_file, key, result)
        if not result.ok and not result.crashed:
            return enabled  # an ordinary load error: loading in this process reports it in full
        if result.ok:
            if enabled != first:
                logger.warning(
                    "llama.cpp failed with extra buffer types on this CPU (%s); loading without them",
                    reasons[-1],
                )
            return enabled
        reasons.append(result.reason)
    raise RuntimeError(
        f"{model_path}: {reasons[-1]}; rebuild llama-cpp-python on this machine (make rebuild-llama)"
    )


def _child(model_path: Path, enabled: bool) -> int:
    """The child's work: load with one thread and a small window, decode a few tokens."""
    from llama_cpp import Llama

    with extra_buffers(enabled):
        llama = Llama(model_path=str(model_path), n_ctx=256, n_threads=1, n_batch=32, verbose=False)
    tokens = llama.tokenize(b"The quick brown fox jumps over the lazy dog. The quick", add_bos=True)
    for n, _ in enumerate(llama.generate(tokens, temp=0.0), start=1):
        if n >= 4:
            break
    llama.close()
    return 0


def main(argv: list[str] | None = None) -> int:
    """Entry point of the child process."""
    parser = argparse.ArgumentParser(prog="python -m models.llama_probe")
    parser.add_argument("model", type=Path)
    parser.add_argument("--extra-buffers", choices=("on", "off"), required=True)
    args = parser.parse_args(argv)
    try:
        return _child(args.model, args.extra_buffers == "on")
    except Exception as exc:
        print(f"llama.cpp could not run the model: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
