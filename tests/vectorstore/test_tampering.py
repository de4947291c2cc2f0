"""A damaged or tampered index directory: detected, reported in one clear line, rebuilt with one command,
and nothing in it is ever unpickled or executed."""

from __future__ import annotations

import ast
import os
import pickle
import sqlite3
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from langchain_core.embeddings import Embeddings

from devtools.pdfs import make_text_pdf
from ingest.sync import SyncOptions, sync_folder
from models.embeddings import embedding_model_id
from vectorstore.retriever import HybridRetriever
from vectorstore.store import DB_NAME, IndexStore, IndexUnusableError

REPO = Path(__file__).resolve().parents[2]
PACKAGES = ("bot", "ingest", "models", "vectorstore", "config")
MODEL_ID = embedding_model_id("")
ADIDAS = "The minimum guarantee payable by adidas over the term of the agreement is 750 million pounds."
SAFETY = "Report every workplace injury to the safety officer within twenty-four hours of it happening."
QUESTION = "How much is the minimum guarantee payable by adidas?"


def build_index(root: Path, embeddings: Embeddings) -> tuple[Path, Path]:
    data, index = root / "data", root / "index"
    make_text_pdf(data / "club.pdf", ["Annual report 2022.", ADIDAS])
    make_text_pdf(data / "staff.pdf", [SAFETY, "The canteen closes early on Fridays."])
    store = IndexStore(index, dim=384, model_id=MODEL_ID)
    sync_folder(data, store, embeddings, SyncOptions())
    store.close()
    return data, index


def root_page(index: Path, table: str) -> int:
    db = sqlite3.connect(index / DB_NAME)
    try:
        return int(db.execute("SELECT rootpage FROM sqlite_master WHERE name = ?", (table,)).fetchone()[0])
    finally:
        db.close()


def overwrite_page(index: Path, page: int) -> None:
    """Scribble over one 4 KiB page of the SQLite file, like a bad sector or a stray write."""
    with (index / DB_NAME).open("r+b") as handle:
        handle.seek((page - 1) * 4096)
        handle.write(b"\xde\xad\xbe\xef" * 1024)


def garbage(index: Path) -> None:
    (index / DB_NAME).write_bytes(b"this is not an index " * 500)


def truncated(index: Path) -> None:
    os.truncate(index / DB_NAME, (index / DB_NAME).stat().st_size // 3)


def chunk_table_scribbled(index: Path) -> None:
    overwrite_page(index, root_page(index, "chunks"))


def vector_cut_short(index: Path) -> None:
    """A valid SQLite file whose content was edited: one chunk's vector is 2 bytes long."""
    db = sqlite3.connect(index / DB_NAME)
    db.execute("UPDATE chunks SET vector = x'0102' WHERE id = (SELECT MIN(id) FROM chunks)")
    db.commit()
    db.close()
    for path in index.glob("vectors-*.faiss"):
        path.unlink()  # so the vectors are read from SQLite


DAMAGE: dict[str, tuple[Callable[[Path], None], str]] = {
    "not a database": (garbage, "file is not a database"),
    "truncated": (truncated, "malformed"),
    "chunk table scribbled": (chunk_table_scribbled, "malformed"),
    "vector cut short": (vector_cut_short, "malformed vectors"),
}


@pytest.mark.parametrize("kind", list(DAMAGE))
def test_a_damaged_sqlite_file_is_reported_in_one_clear_message(
    kind: str, tmp_path: Path, embeddings: Embeddings
) -> None:
    _, index = build_index(tmp_path, embeddings)
    damage, detail = DAMAGE[kind]
    damage(index)
    try:
        store = IndexStore(index, dim=384, model_id=MODEL_ID)
    except IndexUnusableError as exc:
        message = str(exc)
    else:  # the damage is somewhere opening does not read: the check and the first search find it
        problems = store.check()
        assert len(problems) == 1 and detail in problems[0], problems
        with pytest.raises(IndexUnusableError) as caught:
            HybridRetriever(store=store, embeddings=embeddings).search(QUESTION)
        store.close()
        message = str(caught.value)
    assert detail in message and "docbot ingest --rebuild" in message and "\n" not in message


def test_a_truncated_or_swapped_faiss_file_is_rebuilt_from_sqlite_not_trusted(
    tmp_path: Path, embeddings: Embeddings, caplog: pytest.LogCaptureFixture
) -> None:
    _, index = build_index(tmp_path, embeddings)
    [saved] = index.glob("vectors-*.faiss")
    os.truncate(saved, saved.stat().st_size // 2)
    store = IndexStore(index, dim=384, model_id=MODEL_ID)
    assert store.check() == []
    assert "faiss file does not match its checksum" in caplog.text  # seen when the vectors are first read
    hit = HybridRetriever(store=store, embeddings=embeddings).search(QUESTION)[0]
    assert (hit.chunk.file, hit.chunk.page) == ("club.pdf", 2)
    store.close()


class _Payload:
    """Unpickling this object runs `touch MARKER` (what a poisoned pickle in the index dir would do)."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[Callable[..., object], tuple[str, ...]]:
        return (os.system, (f"touch {self.marker}",))


def plant_pickles(index: Path, marker: Path) -> None:
    """Poisoned pickles under every name a pickling vector store would load (LangChain's FAISS
    save_local writes index.faiss + index.pkl), plus one in place of our own FAISS file."""
    payload = pickle.dumps(_Payload(marker))
    [saved] = index.glob("vectors-*.faiss")
    for name in ("index.pkl", "index.faiss", "docstore.pkl", "vectors.pkl", saved.name):
        (index / name).write_bytes(payload)


def test_nothing_in_the_index_dir_is_unpickled(tmp_path: Path, embeddings: Embeddings) -> None:
    data, index = build_index(tmp_path, embeddings)
    marker = tmp_path / "pwned"
    plant_pickles(index, marker)
    store = IndexStore(index, dim=384, model_id=MODEL_ID)
    assert store.check() == []
    hit = HybridRetriever(store=store, embeddings=embeddings).search(QUESTION)[0]
    assert hit.chunk.file == "club.pdf"
    make_text_pdf(data / "new.pdf", ["A new report about pensions."])
    sync_folder(data, store, embeddings, SyncOptions())
    store.close()
    assert not marker.exists()


DANGEROUS_CALLS = {"eval", "exec", "compile", "__import__"}
DANGEROUS_MODULES = {"pickle", "cPickle", "dill", "joblib", "marshal", "shelve", "cloudpickle"}
DANGEROUS_KEYWORDS = {"allow_dangerous_deserialization", "allow_pickle", "trust_remote_code"}


def dangerous_uses(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    found: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import | ast.ImportFrom):
            names = [alias.name for alias in node.names]
            module = node.module if isinstance(node, ast.ImportFrom) else None
            for name in [module, *names] if module else names:
                if name and name.split(".")[0] in DANGEROUS_MODULES:
                    found.append(f"{path}:{node.lineno} imports {name}")
        elif isinstance(node, ast.Call):
            func = node.func
            if isinstance(func, ast.Name) and func.id in DANGEROUS_CALLS:
                found.append(f"{path}:{node.lineno} calls {func.id}")
            if (
                isinstance(func, ast.Attribute)
                and func.attr == "load"
                and getattr(func.value, "id", "") == "torch"
            ):
                found.append(f"{path}:{node.lineno} calls torch.load")
            found += [
                f"{path}:{node.lineno} passes {kw.arg}"
                for kw in node.keywords
                if kw.arg in DANGEROUS_KEYWORDS
                and not (isinstance(kw.value, ast.Constant) and kw.value.value is False)
            ]
    return found


def test_no_code_path_can_unpickle_or_execute_data() -> None:
    """The source never imports a pickle-like module or calls eval/exec (a guard for future changes)."""
    sources = [path for package in PACKAGES for path in sorted((REPO / package).rglob("*.py"))]
    assert len(sources) > 20
    assert [use for path in sources for use in dangerous_uses(path)] == []


def docbot(index_root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DOCBOT_", "SLACK_"))}
    env |= {
        "PYTHONPATH": str(REPO),
        "DOCBOT_DATA_DIR": str(index_root / "data"),
        "DOCBOT_INDEX_DIR": str(index_root / "index"),
        "DOCBOT_MODEL_PATH": str(index_root / "no-model.gguf"),
    }
    return subprocess.run(
        [sys.executable, "-m", "bot", *args],
        env=env,
        cwd=index_root,
        capture_output=True,
        text=True,
        timeout=300,
    )


@pytest.mark.slow
def test_cli_reports_the_damage_without_a_traceback_and_rebuild_repairs_it(
    tmp_path: Path, embeddings: Embeddings
) -> None:
    _, index = build_index(tmp_path, embeddings)
    chunk_table_scribbled(index)
    status = docbot(tmp_path, "status")
    assert status.returncode == 0 and "Traceback" not in status.stderr
    assert (
        f"problem: index at {index} is damaged (database disk image is malformed); "
        "rebuild it with `docbot ingest --rebuild`\n"
    ) in status.stdout
    search = docbot(tmp_path, "search", QUESTION)
    assert search.returncode == 1 and "Traceback" not in search.stderr
    assert search.stderr.strip().splitlines()[-1] == (
        f"docbot: index at {index} is damaged (database disk image is malformed); "
        "rebuild it with `docbot ingest --rebuild`"
    )
    garbage(index)
    unreadable = docbot(tmp_path, "status", "--json")
    assert unreadable.returncode == 1 and "Traceback" not in unreadable.stderr
    assert "file is not a database" in unreadable.stderr

    rebuilt = docbot(tmp_path, "ingest", "--rebuild", "--json")
    assert rebuilt.returncode == 0, rebuilt.stderr
    assert '"indexed": ["club.pdf", "staff.pdf"]' in rebuilt.stdout
    healthy = docbot(tmp_path, "status", "--json")
    assert '"problems": []' in healthy.stdout and '"files": 2' in healthy.stdout
