"""Session fixtures writing the tiny random-weight Llama files of devtools.tiny_llama."""

from __future__ import annotations

from pathlib import Path

import pytest

from devtools.tiny_llama import write_tiny_ggml_v3, write_tiny_gguf


@pytest.fixture(scope="session")
def tiny_gguf(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny f32 Llama GGUF file, shared by the session."""
    return write_tiny_gguf(tmp_path_factory.mktemp("tiny-llama") / "tiny-llama.gguf")


@pytest.fixture(scope="session")
def tiny_ggml(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny f32 Llama GGML v3 (ggjt) file, shared by the session."""
    return write_tiny_ggml_v3(tmp_path_factory.mktemp("tiny-llama") / "tiny-llama.ggmlv3.bin")
