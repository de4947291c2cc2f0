"""all-MiniLM-L6-v2 as an int8 OpenVINO model behind LangChain's Embeddings (no torch at run time)."""

from __future__ import annotations

import logging
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
from langchain_core.embeddings import Embeddings

from models.openvino_export import cached_model, encode_batch, load_tokenizer

logger = logging.getLogger(__name__)


class OpenVinoEmbeddings(Embeddings):
    """Normalised sentence vectors from the cached int8 export; texts batched by length to cut padding."""

    runtime = "openvino"

    def __init__(self, model_xml: Path, model_dir: Path, batch_size: int = 16) -> None:
        import openvino as ov

        self.model_xml = model_xml
        self.batch_size = batch_size
        self._tokenizer = load_tokenizer(model_dir)
        self._compiled: Any = ov.Core().compile_model(str(model_xml), "CPU")
        self._lock = threading.Lock()  # one inference at a time: they would only fight over the cores

    @property
    def dimension(self) -> int:
        """Length of the vectors, read from the model's output shape (no probe inference needed)."""
        return int(self._compiled.output(0).get_partial_shape()[1].get_length())

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        """One vector per text, in order."""
        return self.embed_array(texts).tolist()

    def embed_query(self, text: str) -> list[float]:
        """The vector of one question."""
        return self.embed_array([text])[0].tolist()

    def embed_array(self, texts: list[str]) -> np.ndarray:
        """Vectors as a float32 array (n, 384); sorted by length for batching, returned in input order."""
        out = np.zeros((len(texts), 0), dtype=np.float32)
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        for start in range(0, len(order), self.batch_size):
            picked = order[start : start + self.batch_size]
            vectors = self._infer([texts[i] for i in picked])
            if out.shape[1] == 0:
                out = np.zeros((len(texts), vectors.shape[1]), dtype=np.float32)
            out[picked] = vectors
        return out

    def _infer(self, texts: list[str]) -> np.ndarray:
        inputs = encode_batch(self._tokenizer, texts)
        with self._lock:
            result = self._compiled(inputs)
        return np.asarray(result[0], dtype=np.float32)


def load_openvino(
    model_dir: Path, cache_dir: Path, batch_size: int, *, retry_failed: bool = True
) -> OpenVinoEmbeddings:
    """Open the int8 model for model_dir, exporting it into cache_dir the first time."""
    started = time.perf_counter()
    model_xml = cached_model(model_dir, cache_dir, retry_failed=retry_failed)
    embeddings = OpenVinoEmbeddings(model_xml, model_dir, batch_size)
    logger.info("openvino embeddings ready seconds=%.2f model=%s", time.perf_counter() - started, model_xml)
    return embeddings
