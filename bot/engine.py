"""Build the concrete parts (embeddings, index, retriever, LLM, QA chain) from settings; entry points only."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from bot.qa import QAChain, QAOptions
from config.settings import Settings
from ingest.sync import SyncOptions, SyncReport, sync_folder
from vectorstore.retriever import HybridRetriever
from vectorstore.status import IndexStatus
from vectorstore.store import DB_NAME, IndexStore

if TYPE_CHECKING:
    from langchain_core.embeddings import Embeddings
    from langchain_core.language_models import BaseLLM

logger = logging.getLogger(__name__)


def no_model_message(path: Path) -> str:
    """What to tell people when there is no model file."""
    return f"no model file at {path}; run `make model` to download Llama-2-7B-Chat or set DOCBOT_MODEL_PATH"


@dataclass
class Engine:
    """Everything a question or a re-index needs, built once per process."""

    settings: Settings
    store: IndexStore
    embeddings: Embeddings
    retriever: HybridRetriever
    qa: QAChain
    llm: BaseLLM | None = None
    llm_problem: str | None = None

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


def open_store(settings: Settings, embeddings: Embeddings) -> IndexStore:
    """Open (or create) the index for this embedding model."""
    from models.embeddings import embedding_model_id, runtime_of

    # The OpenVINO model knows its output width; others are asked with one short sentence.
    dim = getattr(embeddings, "dimension", None) or len(embeddings.embed_query("dimension probe"))
    runtime = runtime_of(embeddings)
    model_id = embedding_model_id(settings.embedding_model)
    store = IndexStore(settings.index_dir, dim=dim, model_id=model_id, runtime=runtime)
    others = [name for name in store.runtimes() if name != runtime]
    if others:
        # Same weights, vectors within quantization noise: searching across runtimes is sound.
        logger.info(
            "index has vectors from embedding runtime=%s; new ones come from runtime=%s (compatible; "
            "`docbot ingest --rebuild` re-embeds everything with this one)",
            ",".join(others),
            runtime,
        )
    return store


def index_exists(settings: Settings) -> bool:
    """True when an index has been created in the index dir."""
    return (settings.index_dir / DB_NAME).is_file()


def load_model(settings: Settings) -> tuple[BaseLLM | None, str | None]:
    """The configured LLM, or None and a message saying why there is none."""
    from models.llm import LLMLoadError, load_llm

    if not settings.model_path.is_file():
        return None, no_model_message(settings.model_path)
    try:
        return load_llm(settings), None
    except LLMLoadError as exc:
        return None, str(exc)


def open_engine(settings: Settings, *, load_llm: bool = True, embeddings: Embeddings | None = None) -> Engine:
    """Load the embedding model, open the index and (optionally) the LLM, and build the QA chain."""
    from models.embeddings import load_embeddings
    from models.prompts import load_prompt

    embeddings = embeddings or load_embeddings(
        settings.embedding_model,
        settings.embedding_batch_size,
        settings.embedding_runtime,
        settings.export_cache_dir,
    )
    store = open_store(settings, embeddings)
    retriever = HybridRetriever(store=store, embeddings=embeddings, k=settings.k)
    llm, problem = load_model(settings) if load_llm else (None, "the language model is not loaded")
    if problem and load_llm:
        logger.info("retrieval-only mode reason=%r", problem)
    count_tokens = getattr(llm, "count_tokens", None)
    qa = QAChain(
        retriever,
        load_prompt(settings.prompt_file),
        llm,
        count_tokens=count_tokens,
        options=QAOptions(
            context_token_budget=settings.context_token_budget,
            generation_timeout_seconds=settings.generation_timeout_seconds,
            no_model_reason=problem or "",
            grounding=settings.grounding,
            label_passages=settings.label_passages,
            self_check=settings.self_check,
        ),
    )
    return Engine(settings, store, embeddings, retriever, qa, llm, problem)
