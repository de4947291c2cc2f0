"""Fixtures for the models tests: tiny Llama files and settings that load them through the real backends."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from tests.tiny_llama import tiny_ggml, tiny_gguf

if TYPE_CHECKING:
    from config.settings import Settings

__all__ = ["tiny_ggml", "tiny_gguf"]

# (file format, backend) pairs the real backends can load.
CASES = [("gguf", "ctransformers"), ("gguf", "llama-cpp"), ("ggml", "ctransformers")]


@pytest.fixture(scope="session")
def tiny_settings() -> Callable[..., Settings]:
    """Settings for a tiny model: one thread, a 512-token window, a fixed seed, the raw prompt (random
    weights have no chat format to follow; the real model's tests use the chat format)."""

    def build(model_path: Path, **overrides: Any) -> Settings:
        from config.settings import load_settings

        values: dict[str, Any] = {
            "model_path": model_path,
            "llm_backend": "auto",
            "threads": 1,
            "context_length": 512,
            "batch_size": 64,
            "max_new_tokens": 24,
            "temperature": 0.8,
            "seed": 7,
            "prompt_format": "raw",
        }
        values.update(overrides)
        return load_settings(env_file=None, **values)

    return build


@pytest.fixture(scope="session")
def tiny_model_file(tiny_gguf: Path, tiny_ggml: Path) -> Callable[[str], Path]:
    """The tiny model file of a format ("gguf" or "ggml")."""
    return {"gguf": tiny_gguf, "ggml": tiny_ggml}.__getitem__


@pytest.fixture(scope="session")
def openvino_embeddings() -> Any:
    """The int8 OpenVINO embeddings, exported into the machine's cache on first use (once per machine)."""
    from models.embeddings import load_embeddings

    return load_embeddings(runtime="openvino")


@pytest.fixture(scope="session")
def torch_embeddings() -> Any:
    """sentence-transformers on torch: the reference the int8 vectors are compared with."""
    from models.embeddings import load_embeddings

    return load_embeddings(runtime="torch")
