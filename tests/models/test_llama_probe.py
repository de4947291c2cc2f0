"""The llama.cpp probe: a real child loads the model, a crash becomes a reason, extra buffers fall back."""

from __future__ import annotations

import json
import logging
import os
import sys
from pathlib import Path

import pytest

from models import llama_probe
from models.llama_probe import ProbeResult, checked_extra_buffers, extra_buffers, run_probe


def _child(code: str) -> list[str]:
    """A child running `code`, which leaves no core file behind if it kills itself."""
    no_core = "import resource; resource.setrlimit(resource.RLIMIT_CORE, (0, 0)); "
    return [sys.executable, "-c", no_core + code]


@pytest.mark.parametrize("enabled", [True, False])
def test_the_real_model_runs_in_the_child(real_chat_model: Path, enabled: bool) -> None:
    assert run_probe(real_chat_model, enabled) == ProbeResult(True)


def test_a_file_that_is_not_a_model_is_an_ordinary_failure(tmp_path: Path) -> None:
    bad = tmp_path / "bad.gguf"
    bad.write_bytes(b"GGUF" + bytes(range(256)) * 8)
    result = run_probe(bad, False)
    assert not result.ok and not result.crashed
    assert result.reason.startswith("llama.cpp could not run the model:") and "bad.gguf" in result.reason


def test_a_child_killed_by_a_signal_is_a_crash_named_by_its_signal(tmp_path: Path) -> None:
    code = "import os, signal; os.kill(os.getpid(), signal.SIGSEGV)"
    result = run_probe(tmp_path / "m.gguf", True, command=_child(code))
    assert result == ProbeResult(False, "llama.cpp crashed with SIGSEGV", crashed=True)


def test_sigill_says_the_build_is_for_another_cpu(tmp_path: Path) -> None:
    code = "import os, signal; os.kill(os.getpid(), signal.SIGILL)"
    result = run_probe(tmp_path / "m.gguf", True, command=_child(code))
    assert result.crashed and not result.ok
    assert result.reason == "llama.cpp crashed with SIGILL (illegal instruction: built for another CPU)"


def test_a_child_that_hangs_is_a_crash(tmp_path: Path) -> None:
    result = run_probe(
        tmp_path / "m.gguf", True, timeout=1.0, command=_child("import signal; signal.pause()")
    )
    assert result == ProbeResult(False, "no answer from a test decode within 1 s", crashed=True)


def test_an_error_exit_reports_the_last_stderr_line(tmp_path: Path) -> None:
    code = (
        "import sys; print('loading', file=sys.stderr); print('no such tensor', file=sys.stderr); sys.exit(3)"
    )
    assert run_probe(tmp_path / "m.gguf", True, command=_child(code)) == ProbeResult(False, "no such tensor")
    silent = run_probe(tmp_path / "m.gguf", True, command=_child("raise SystemExit(4)"))
    assert silent == ProbeResult(False, "exit status 4")


class Probe:
    """A probe runner with fixed verdicts per extra-buffer setting, counting its calls."""

    def __init__(self, on: ProbeResult, off: ProbeResult) -> None:
        self.results = {True: on, False: off}
        self.calls: list[bool] = []

    def __call__(self, model_path: Path, enabled: bool) -> ProbeResult:
        self.calls.append(enabled)
        return self.results[enabled]


SEGV = ProbeResult(False, "llama.cpp crashed with SIGSEGV", crashed=True)


@pytest.fixture
def model(tmp_path: Path) -> Path:
    path = tmp_path / "model.gguf"
    path.write_bytes(b"GGUF model bytes")
    return path


@pytest.fixture
def no_amx(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(llama_probe, "cpu_has_amx", lambda: False)


@pytest.mark.usefixtures("no_amx")
def test_auto_falls_back_to_no_extra_buffers_when_they_crash(
    model: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    probe = Probe(on=SEGV, off=ProbeResult(True))
    with caplog.at_level(logging.WARNING, logger="models.llama_probe"):
        assert checked_extra_buffers(model, "auto", tmp_path / "probe.json", probe=probe) is False
    assert probe.calls == [True, False]
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert warnings == [
        "llama.cpp failed with extra buffer types on this CPU (llama.cpp crashed with SIGSEGV); "
        "loading without them"
    ]


@pytest.mark.usefixtures("no_amx")
def test_auto_keeps_extra_buffers_that_work(model: Path, caplog: pytest.LogCaptureFixture) -> None:
    probe = Probe(on=ProbeResult(True), off=SEGV)
    with caplog.at_level(logging.WARNING, logger="models.llama_probe"):
        assert checked_extra_buffers(model, "auto", None, probe=probe) is True
    assert probe.calls == [True] and not caplog.records


@pytest.mark.usefixtures("no_amx")
def test_a_crash_either_way_raises_with_the_reason(model: Path) -> None:
    probe = Probe(on=SEGV, off=ProbeResult(False, "llama.cpp crashed with SIGILL (...)", crashed=True))
    with pytest.raises(
        RuntimeError, match=r"model\.gguf: llama\.cpp crashed with SIGILL .*make rebuild-llama"
    ):
        checked_extra_buffers(model, "auto", None, probe=probe)
    assert probe.calls == [True, False]


@pytest.mark.usefixtures("no_amx")
def test_an_ordinary_failure_returns_the_first_setting(model: Path) -> None:
    probe = Probe(on=ProbeResult(False, "unknown model architecture"), off=ProbeResult(True))
    assert checked_extra_buffers(model, "auto", None, probe=probe) is True  # the real load reports the error
    assert probe.calls == [True]


def test_an_explicit_setting_is_not_swapped_for_the_other(model: Path) -> None:
    probe = Probe(on=SEGV, off=ProbeResult(True))
    with pytest.raises(RuntimeError, match="SIGSEGV"):
        checked_extra_buffers(model, "on", None, probe=probe)
    assert checked_extra_buffers(model, "off", None, probe=probe) is False
    assert probe.calls == [True, False]


def test_auto_on_an_amx_cpu_tries_only_without_extra_buffers(
    model: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(llama_probe, "cpu_has_amx", lambda: True)
    probe = Probe(on=ProbeResult(True), off=SEGV)
    with pytest.raises(RuntimeError, match="SIGSEGV"):
        checked_extra_buffers(model, "auto", None, probe=probe)
    assert probe.calls == [False]


@pytest.mark.usefixtures("no_amx")
def test_verdicts_are_cached_per_model_file(model: Path, tmp_path: Path) -> None:
    cache = tmp_path / "cache" / "probe.json"
    probe = Probe(on=SEGV, off=ProbeResult(True))
    assert checked_extra_buffers(model, "auto", cache, probe=probe) is False
    assert probe.calls == [True, False]
    stored = json.loads(cache.read_text(encoding="utf-8"))
    assert sorted(stored.values(), key=str) == sorted(
        [
            {"ok": False, "reason": "llama.cpp crashed with SIGSEGV", "crashed": True},
            {"ok": True, "reason": "", "crashed": False},
        ],
        key=str,
    )

    assert checked_extra_buffers(model, "auto", cache, probe=probe) is False
    assert probe.calls == [True, False]  # both verdicts came from the cache

    stat = model.stat()
    os.utime(model, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))
    assert checked_extra_buffers(model, "auto", cache, probe=probe) is False
    assert probe.calls == [True, False] * 2  # a new mtime: probed again

    model.write_bytes(b"GGUF a longer, different model")
    os.utime(model, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))  # same mtime, new size
    assert checked_extra_buffers(model, "auto", cache, probe=probe) is False
    assert probe.calls == [True, False] * 3
    assert len(json.loads(cache.read_text(encoding="utf-8"))) == 6


@pytest.mark.usefixtures("no_amx")
def test_an_unreadable_cache_is_probed_and_rewritten(model: Path, tmp_path: Path) -> None:
    cache = tmp_path / "probe.json"
    cache.write_text("not json", encoding="utf-8")
    probe = Probe(on=ProbeResult(True), off=ProbeResult(True))
    assert checked_extra_buffers(model, "auto", cache, probe=probe) is True
    assert probe.calls == [True]
    assert list(json.loads(cache.read_text(encoding="utf-8")).values()) == [
        {"ok": True, "reason": "", "crashed": False}
    ]


@pytest.mark.parametrize("enabled", [True, False])
def test_extra_buffers_sets_the_params_llama_cpp_reads_and_restores_them(enabled: bool) -> None:
    import llama_cpp.llama as llama_module

    original = llama_module.llama_cpp.llama_model_default_params
    default = original().use_extra_bufts
    with extra_buffers(enabled):
        assert llama_module.llama_cpp.llama_model_default_params is not original
        assert llama_module.llama_cpp.llama_model_default_params().use_extra_bufts is enabled
    assert llama_module.llama_cpp.llama_model_default_params is original
    assert original().use_extra_bufts is default


def test_extra_buffers_restores_the_params_after_an_error() -> None:
    import llama_cpp.llama as llama_module

    original = llama_module.llama_cpp.llama_model_default_params
    with pytest.raises(ValueError, match="load failed"), extra_buffers(False):
        raise ValueError("load failed")
    assert llama_module.llama_cpp.llama_model_default_params is original
