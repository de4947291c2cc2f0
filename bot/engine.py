"""Build the concrete parts (embeddings, index, retriever, LLM, QA chain) from settings; entry points only.

Parts a command may not need are built when first used: the embedding model loads on the first text to
embed (a `docbot ingest` with nothing new never loads it) and the retriever and QA chain (LangChain's
language-model stack, about a second to import) on first access, except where an LLM was asked for.
"""

from __future__ import annotations

import logging
import sqlite3
import time
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING

from config.settings import Settings
from ingest.sync import SyncOptions, SyncReport, sync_folder
from vectorstore.status import DB_NAME, IndexStatus
from vectorstore.store import IndexStore

if TYPE_CHECKING:
    from langchain_core.embeddings import Embeddings

    from bot.qa import QAChain
    from models.chat import ChatModel
    from models.embeddings import DeferredEmbeddings
    from vectorstore.retriever import HybridRetriever

logger = logging.getLogger(__name__)


def no_model_message(path: Path) -> str:
    """What to tell people when there is no model file."""
    return f"no model file at {path}; run `make model` to download Llama-2-7B-Chat or set DOCBOT_MODEL_PATH"


@dataclass
class Engine:
    """Everything a question or a re-index needs, built once per process."""

    settings: Settings
    store: IndexStore
    embeddings: Embeddings | DeferredEmbeddings
    llm: ChatModel | None = None
    llm_problem: str | None = None  # why there is no model (retrieval-only mode)
    llm_not_ready: str | None = None  # a server model that did not pass the start check: one line why

    @cached_property
    def retriever(self) -> HybridRetriever:
        """Hybrid dense + keyword retrieval over the index."""
        from models.embeddings import DeferredEmbeddings
        from vectorstore.retriever import HybridRetriever

        # Every question embeds, so the retriever gets the loaded model itself.
        embeddings = self.embeddings
        model = embeddings.model if isinstance(embeddings, DeferredEmbeddings) else embeddings
        return HybridRetriever(store=self.store, embeddings=model, k=self.settings.k)

    @cached_property
    def qa(self) -> QAChain:
        """The QA chain over the retriever and the LLM (retrieval-only without one)."""
        return build_qa(self.settings, self.retriever, self.llm, self.llm_problem)

    def status(self) -> IndexStatus:
        """The index's files, chunks, failures and freshness."""
        return self.store.status()

    def sync(self, options: SyncOptions | None = None) -> SyncReport:
        """Bring the index in line with the data dir."""
        return sync_folder(
            self.settings.data_dir, self.store, self.embeddings, options or self.sync_options()
        )

    def sync_options(self) -> SyncOptions:
        """Chunking and batching as configured."""
        s = self.settings
        return SyncOptions(
            chunk_size=s.chunk_size,
            chunk_overlap=s.chunk_overlap,
            batch_size=s.embedding_batch_size,
            settle_seconds=s.settle_seconds,
        )

    def close(self) -> None:
        """Release the index."""
        self.store.close()


def open_store(settings: Settings, embeddings: Embeddings | DeferredEmbeddings) -> IndexStore:
    """Open (or create) the index for this embedding model.

    An existing index is opened with the dimension it records, so deferred embeddings stay unloaded; the
    runtime that will write new vectors is recorded once the model loads.
    """
    from models.embeddings import DeferredEmbeddings, embedding_model_id, runtime_of

    model_id = embedding_model_id(settings.embedding_model)
    recorded = recorded_dim(settings.index_dir)
    if isinstance(embeddings, DeferredEmbeddings) and not embeddings.loaded and recorded:
        store = IndexStore(settings.index_dir, dim=recorded, model_id=model_id)
        embeddings.on_load(lambda model: _record_runtime(store, runtime_of(model)))
        return store
    # The OpenVINO model knows its output width; others are asked with one short sentence.
    dim = getattr(embeddings, "dimension", None) or len(embeddings.embed_query("dimension probe"))
    store = IndexStore(settings.index_dir, dim=dim, model_id=model_id)
    _record_runtime(store, runtime_of(embeddings))
    return store


def _record_runtime(store: IndexStore, runtime: str) -> None:
    store.runtime = runtime
    others = [name for name in store.runtimes() if name != runtime]
    if others:
        # Same weights, vectors within quantization noise: searching across runtimes is sound.
        logger.info(
            "index has vectors from embedding runtime=%s; new ones come from runtime=%s (compatible; "
            "`docbot ingest --rebuild` re-embeds everything with this one)",
            ",".join(others),
            runtime,
        )


def recorded_dim(index_dir: Path) -> int:
    """The vector dimension an existing index records (0 when there is no index or it cannot be read)."""
    path = index_dir / DB_NAME
    if not path.is_file():
        return 0
    try:
        db = sqlite3.connect(path, timeout=30.0)
        try:
            row = db.execute("SELECT value FROM meta WHERE key = 'dim'").fetchone()
        finally:
            db.close()
    except sqlite3.Error:
        return 0  # IndexStore reports what is wrong with it
    return int(row[0]) if row and str(row[0]).isdigit() else 0


def index_exists(settings: Settings) -> bool:
    """True when an index has been created in the index dir."""
    return (settings.index_dir / DB_NAME).is_file()


def load_model(settings: Settings) -> tuple[ChatModel | None, str | None]:
    """The configured LLM backend (models/registry.py), or None and a message saying why there is none."""
    from models.model_file import LLMLoadError
    from models.registry import backend_spec, load_chat_model

    # Only a model run in this process needs a file here; a server has its own.
    if backend_spec(settings.llm_backend).local and not settings.model_path.is_file():
        return None, no_model_message(settings.model_path)
    try:
        return load_chat_model(settings), None
    except LLMLoadError as exc:
        return None, str(exc)


def answers_use_this_cpu(settings: Settings) -> bool:
    """True when answers are computed on this machine: a local backend, or a server on loopback (the
    Procfile's `llm:` process), so re-indexing should pause while one is written."""
    from urllib.parse import urlsplit

    from models.registry import backend_spec

    if backend_spec(settings.llm_backend).local:
        return True
    host = (urlsplit(settings.llm_base_url).hostname or "").lower()
    return host in ("localhost", "::1") or host.startswith("127.")


def readiness_problem(llm: object) -> str | None:
    """For a model that can say (a server): one line on why it cannot answer yet, else None."""
    from models.chat import ChecksReady

    if not isinstance(llm, ChecksReady):
        return None
    problem = llm.check_ready()
    if problem:  # every front end prints it as its one line; the log keeps it at INFO
        logger.info("llm not ready problem=%r", problem)
    return problem


def _load_embeddings_logged(settings: Settings) -> Embeddings:
    """Load the embedding model, saying so before (a first-run export takes a minute) and after."""
    from models.embeddings import load_embeddings, runtime_of

    started = time.perf_counter()
    logger.info(
        "loading embedding model name=%s runtime=%s",
        settings.embedding_model or "all-MiniLM-L6-v2",
        settings.embedding_runtime,
    )
    model = load_embeddings(
        settings.embedding_model,
        settings.embedding_batch_size,
        settings.embedding_runtime,
        settings.export_cache_dir,
    )
    logger.info(
        "embedding model loaded runtime=%s seconds=%.1f", runtime_of(model), time.perf_counter() - started
    )
    return model


def open_engine(settings: Settings, *, load_llm: bool = True, embeddings: Embeddings | None = None) -> Engine:
    """Open the index with the embedding model (loaded when first needed) and, optionally, load the LLM
    and build the QA chain at once (so that a bad prompt file or model stops `run` at start)."""
    from models.embeddings import DeferredEmbeddings

    embedder: Embeddings | DeferredEmbeddings = embeddings or DeferredEmbeddings(
        lambda: _load_embeddings_logged(settings)
    )
    started = time.perf_counter()
    store = open_store(settings, embedder)
    status = store.status()
    logger.info(
        "index opened path=%s files=%d chunks=%d failed=%d version=%d seconds=%.2f",
        settings.index_dir,
        status.files,
        status.chunks,
        len(status.failed),
        status.version,
        time.perf_counter() - started,
    )
    started = time.perf_counter()
    llm, problem = load_model(settings) if load_llm else (None, "the language model is not loaded")
    if problem and load_llm:
        logger.info("retrieval-only mode reason=%r", problem)
    elif llm is not None:
        logger.info(
            "language model loaded backend=%s model=%s seconds=%.1f",
            settings.llm_backend,
            settings.llm_model if settings.llm_backend == "openai" else settings.model_path.name,
            time.perf_counter() - started,
        )
    engine = Engine(settings, store, embedder, llm, problem, readiness_problem(llm))
    if load_llm:
        _ = engine.qa
    return engine


def build_qa(
    settings: Settings, retriever: HybridRetriever, llm: ChatModel | None, problem: str | None
) -> QAChain:
    """The QA chain as configured."""
    from bot.qa import QAChain, QAOptions
    from models.prompts import load_prompt

    return QAChain(
        retriever,
        load_prompt(settings.prompt_file),
        llm,
        options=QAOptions(
            context_token_budget=settings.context_token_budget,
            generation_timeout_seconds=settings.generation_timeout_seconds,
            no_model_reason=problem or "",
            grounding=settings.grounding,
            label_passages=settings.label_passages,
            self_check=settings.self_check,
        ),
    )
