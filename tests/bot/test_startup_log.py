"""Start-up says what it loaded and how long it took; a long first-run step says so before it starts."""

from __future__ import annotations

import logging
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from langchain_core.embeddings import Embeddings

from bot.engine import open_engine
from devtools.pdfs import make_text_pdf
from models.llama_probe import ProbeResult, checked_extra_buffers


def _messages(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelno >= logging.INFO]


def test_open_engine_logs_each_part_with_its_time(
    make_settings: Callable[..., Any],
    embeddings: Embeddings,
    tiny_gguf: Path,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    # A copy of its own: the session's other tests keep the tiny model loaded, and a loaded model is reused.
    model = tmp_path / "startup-log.gguf"
    shutil.copyfile(tiny_gguf, model)
    settings = make_settings(model_path=model, prompt_format="raw", llm_probe=False)
    make_text_pdf(settings.data_dir / "club.pdf", ["Cover", "The guarantee is 750 million pounds."])
    first = open_engine(settings, load_llm=False, embeddings=embeddings)
    first.sync()
    first.close()
    caplog.set_level(logging.INFO)
    engine = open_engine(settings, load_llm=True, embeddings=embeddings)
    engine.close()
    messages = _messages(caplog)
    index = next(m for m in messages if m.startswith("index opened"))
    assert f"path={settings.index_dir}" in index and "files=1 chunks=" in index and "seconds=" in index
    loading = next(i for i, m in enumerate(messages) if m.startswith("loading model path="))
    loaded = next(i for i, m in enumerate(messages) if m.startswith("language model loaded"))
    assert loading < loaded and f"model={model.name} seconds=" in messages[loaded]


def test_the_embedding_model_load_is_announced_and_timed(
    make_settings: Callable[..., Any], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    engine = open_engine(make_settings(), load_llm=False)
    engine.close()
    messages = _messages(caplog)
    start = next(i for i, m in enumerate(messages) if m.startswith("loading embedding model"))
    done = next(i for i, m in enumerate(messages) if m.startswith("embedding model loaded runtime="))
    assert start < done and "seconds=" in messages[done]


def test_the_llama_probe_says_it_starts_before_it_runs(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    seen_before: list[list[str]] = []

    def probe(model: Path, enabled: bool) -> ProbeResult:
        seen_before.append(_messages(caplog))
        return ProbeResult(True)

    model = tmp_path / "m.gguf"
    model.write_bytes(b"GGUF")
    assert checked_extra_buffers(model, "off", None, probe=probe) is False
    assert any(m.startswith("llm probe starting model=m.gguf") for m in seen_before[0])
