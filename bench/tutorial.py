"""The tutorial pipeline docbot grew from, rebuilt with maintained pieces: the benchmarks' baseline.

The tutorial (LangChain + ctransformers + FAISS + Llama-2-7B-Chat GGML) built its index in db_build.py:
PyPDFLoader pages -> RecursiveCharacterTextSplitter(chunk_size=500, chunk_overlap=50) ->
HuggingFaceEmbeddings(all-MiniLM-L6-v2, device cpu, default batch) -> FAISS.from_documents (a flat L2
index); its main.py retrieved k=2 chunks by dense similarity alone. Here: pypdf, langchain_text_splitters,
langchain_huggingface on torch with the packaged weights, faiss.IndexFlatL2. Saved with faiss.write_index
plus a JSON file of chunk metadata, never pickle.

    .venv/bin/python -m bench.tutorial ../shared/corpus/*.pdf [--save DIR] [--ask "question"]
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import faiss
    from langchain_core.documents import Document
    from langchain_core.embeddings import Embeddings

logger = logging.getLogger(__name__)

CHUNK_SIZE = 500
CHUNK_OVERLAP = 50
TUTORIAL_K = 2  # main.py's search_kwargs={"k": 2}
_INDEX_FILE = "index.faiss"
_CHUNKS_FILE = "chunks.json"


@dataclass(frozen=True)
class TutorialChunk:
    """A chunk as the tutorial stored it: its text, the file's basename and the 1-based page."""

    file: str
    page: int
    text: str


@dataclass
class TutorialTimings:
    """Where the build's time went; `seconds` is the whole build including the model load."""

    seconds: float = 0.0
    pages: int = 0
    chunks: int = 0
    extract_seconds: float = 0.0
    split_seconds: float = 0.0
    load_seconds: float = 0.0
    embed_seconds: float = 0.0
    index_seconds: float = 0.0
    files: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)  # basename -> why the tutorial would have crashed
    sources: dict[str, list[int]] = field(default_factory=dict)  # basename -> [size, mtime_ns] when read

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready, with pages/s and chunks/s over the whole build."""
        out = asdict(self)
        out["pages_per_second"] = self.pages / self.seconds if self.seconds else 0.0
        out["chunks_per_second"] = self.chunks / self.seconds if self.seconds else 0.0
        return out


class TutorialIndex:
    """A FAISS flat L2 index over the tutorial's chunks, searched by dense similarity only."""

    def __init__(
        self,
        index: faiss.Index,
        chunks: list[TutorialChunk],
        embeddings: Embeddings,
        timings: TutorialTimings,
    ) -> None:
        self._index = index
        self._chunks = chunks
        self._embeddings = embeddings
        self.timings = timings

    def __len__(self) -> int:
        return len(self._chunks)

    def nearest(self, question: str, k: int) -> list[TutorialChunk]:
        """The k chunks closest to the question's embedding (the tutorial's similarity_search)."""
        import numpy as np

        if not self._chunks:
            return []
        vector = np.asarray([self._embeddings.embed_query(question)], dtype="float32")
        _, ids = self._index.search(vector, min(k, len(self._chunks)))
        return [self._chunks[i] for i in ids[0] if i >= 0]

    def search(self, question: str, k: int) -> list[tuple[str, int]]:
        """(file basename, 1-based page) of the k nearest chunks, in rank order (pages may repeat)."""
        return [(c.file, c.page) for c in self.nearest(question, k)]

    def chunks(self, question: str, k: int = TUTORIAL_K) -> list[str]:
        """Texts of the k nearest chunks: what the tutorial stuffed into its prompt."""
        return [c.text for c in self.nearest(question, k)]

    def save(self, folder: Path) -> None:
        """faiss.write_index plus chunks.json (texts, files, pages, timings); no pickle."""
        import faiss

        folder.mkdir(parents=True, exist_ok=True)
        faiss.write_index(self._index, str(folder / _INDEX_FILE))
        payload = {
            "chunks": [asdict(c) for c in self._chunks],
            "timings": self.timings.to_dict(),
            "sources": self.timings.sources,
        }
        (folder / _CHUNKS_FILE).write_text(json.dumps(payload), encoding="utf-8")

    @classmethod
    def load(cls, folder: Path, embeddings: Embeddings | None = None) -> TutorialIndex:
        """Read an index written by save()."""
        import faiss

        payload = json.loads((folder / _CHUNKS_FILE).read_text(encoding="utf-8"))
        chunks = [TutorialChunk(**c) for c in payload["chunks"]]
        saved = payload["timings"]
        known = TutorialTimings.__dataclass_fields__
        timings = TutorialTimings(**{k: v for k, v in saved.items() if k in known})
        index = faiss.read_index(str(folder / _INDEX_FILE))
        return cls(index, chunks, embeddings or tutorial_embeddings(), timings)


def fingerprint(pdfs: list[Path]) -> dict[str, list[int]]:
    """Basename -> [size, mtime_ns]: tells whether a saved index was built from these very files."""
    return {p.name: [(st := p.stat()).st_size, st.st_mtime_ns] for p in pdfs}


def load_or_build(pdfs: list[Path], folder: Path) -> tuple[TutorialIndex, bool]:
    """The index saved in `folder` if it was built from exactly these files, else a new one (saved there).

    Returns the index and whether it was reused; its timings are those of the build that made it.
    """
    try:
        saved = json.loads((folder / _CHUNKS_FILE).read_text(encoding="utf-8")).get("sources")
    except (OSError, ValueError):
        saved = None
    if saved == fingerprint(pdfs):
        return TutorialIndex.load(folder), True
    index = build_tutorial_index(pdfs)
    index.save(folder)
    return index, False


def tutorial_embeddings() -> Embeddings:
    """db_build.py's HuggingFaceEmbeddings: all-MiniLM-L6-v2 on torch, device cpu, default encode options."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    from langchain_huggingface import HuggingFaceEmbeddings
    from transformers.utils import logging as transformers_logging

    from models.embeddings import packaged_model_path

    transformers_logging.disable_progress_bar()
    return HuggingFaceEmbeddings(model_name=packaged_model_path(), model_kwargs={"device": "cpu"})


def load_pages(pdf: Path) -> list[Document]:
    """PyPDFLoader: one Document per page, metadata source and 0-based page; an empty password is tried."""
    from langchain_core.documents import Document
    from pypdf import PdfReader

    reader = PdfReader(pdf)
    if reader.is_encrypted:
        reader.decrypt("")
    return [
        Document(page_content=page.extract_text(), metadata={"source": str(pdf), "page": number})
        for number, page in enumerate(reader.pages)
    ]


def build_tutorial_index(pdfs: list[Path], embeddings: Embeddings | None = None) -> TutorialIndex:
    """Load, split, embed and index PDFs as db_build.py did; files it would crash on are skipped."""
    import faiss
    import numpy as np
    from langchain_text_splitters import RecursiveCharacterTextSplitter

    timings = TutorialTimings(sources=fingerprint(pdfs))
    started = time.perf_counter()
    pages: list[Document] = []
    for pdf in pdfs:
        try:
            file_pages = load_pages(pdf)
        except Exception as exc:  # the tutorial's DirectoryLoader would have stopped here
            timings.failed[pdf.name] = f"{type(exc).__name__}: {exc}"
            logger.info("tutorial_skip file=%r reason=%s", pdf.name, type(exc).__name__)
            continue
        pages += file_pages
        timings.files.append(pdf.name)
    timings.pages = len(pages)
    timings.extract_seconds = time.perf_counter() - started

    mark = time.perf_counter()
    splitter = RecursiveCharacterTextSplitter(chunk_size=CHUNK_SIZE, chunk_overlap=CHUNK_OVERLAP)
    documents = splitter.split_documents(pages)
    chunks = [
        TutorialChunk(Path(d.metadata["source"]).name, int(d.metadata["page"]) + 1, d.page_content)
        for d in documents
    ]
    timings.chunks = len(chunks)
    timings.split_seconds = time.perf_counter() - mark

    mark = time.perf_counter()
    embeddings = embeddings or tutorial_embeddings()
    timings.load_seconds = time.perf_counter() - mark

    mark = time.perf_counter()
    vectors = np.asarray(embeddings.embed_documents([c.text for c in chunks]), dtype="float32")
    timings.embed_seconds = time.perf_counter() - mark

    mark = time.perf_counter()
    dim = vectors.shape[1] if len(chunks) else len(embeddings.embed_query("dimension probe"))
    index = faiss.IndexFlatL2(dim)
    if len(chunks):
        index.add(vectors)
    timings.index_seconds = time.perf_counter() - mark
    timings.seconds = time.perf_counter() - started
    logger.info(
        "tutorial_index pages=%d chunks=%d seconds=%.1f", timings.pages, timings.chunks, timings.seconds
    )
    return TutorialIndex(index, chunks, embeddings, timings)


def main() -> None:
    """Build the tutorial index of some PDFs, print its timings as JSON, optionally save it and ask."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("pdfs", type=Path, nargs="+")
    parser.add_argument(
        "--save",
        type=Path,
        default=None,
        help="write the index to this folder (default for the whole corpus: bench-out/tutorial-index)",
    )
    parser.add_argument("--ask", default=None, help="print the pages the tutorial retrieves for a question")
    parser.add_argument("--k", type=int, default=TUTORIAL_K)
    args = parser.parse_args()
    logging.getLogger("pypdf").setLevel(logging.ERROR)
    index = build_tutorial_index(args.pdfs)
    print(json.dumps(index.timings.to_dict()), flush=True)
    save_to = args.save or _corpus_cache(args.pdfs)
    if save_to:
        # After the timings: a build of the whole corpus (the ingestion part's) is kept for the quality part.
        index.save(save_to)
        print(f"tutorial: index saved to {save_to}", file=sys.stderr)
    if args.ask:
        print(json.dumps(index.search(args.ask, args.k)))


def _corpus_cache(pdfs: list[Path]) -> Path | None:
    from bench.common import TUTORIAL_INDEX_DIR, corpus_available, corpus_pdfs

    if corpus_available() and {p.resolve() for p in pdfs} == {p.resolve() for p in corpus_pdfs()}:
        return TUTORIAL_INDEX_DIR
    return None


if __name__ == "__main__":
    main()
