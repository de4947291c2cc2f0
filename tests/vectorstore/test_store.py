"""The FAISS + SQLite store: updates, rename/copy, snapshots, the saved FAISS file, checks."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from vectorstore.store import ChunkInput, FileInfo, IndexStore, IndexUnusableError

DIM = 8


def unit(i: int) -> np.ndarray:
    vector = np.zeros(DIM, dtype=np.float32)
    vector[i % DIM] = 1.0
    return vector


def info(path: str, sha: str = "s1", title: str = "Report") -> FileInfo:
    return FileInfo(path, 100, 1, sha, "indexed", None, title, 3, 0, 0.0)


def chunks(*texts: str) -> list[ChunkInput]:
    return [ChunkInput(text, page=i + 1, page_label=str(i + 10)) for i, text in enumerate(texts)]


@pytest.fixture
def store(tmp_path: Path) -> Iterator[IndexStore]:
    s = IndexStore(tmp_path / "index", dim=DIM, model_id="test-model")
    yield s
    s.close()


def add(store: IndexStore, path: str, *texts: str, first: int = 0, sha: str = "s1") -> None:
    vectors = np.stack([unit(first + i) for i in range(len(texts))])
    store.replace_file(info(path, sha), chunks(*texts), vectors)


def test_dense_and_keyword_search_return_stored_chunks_with_citations(store: IndexStore) -> None:
    add(store, "a.pdf", "alpha revenue", "adidas guarantee", "gamma")
    dense = store.dense_search(unit(1), 1)
    chunk = store.get_chunks([dense[0][0]])[dense[0][0]]
    assert (chunk.file, chunk.page, chunk.page_label, chunk.text) == ("a.pdf", 2, "11", "adidas guarantee")
    assert dense[0][1] == pytest.approx(1.0)
    keyword = store.keyword_search('"adidas"', 5)
    assert [store.get_chunks([i])[i].text for i, _ in keyword] == ["adidas guarantee"]


def test_chunks_found_by_keywords_can_be_given_their_cosine(store: IndexStore) -> None:
    add(store, "a.pdf", "alpha revenue", "adidas guarantee", "gamma")
    ids = {store.get_chunks([i])[i].text: i for i, _ in store.dense_search(unit(0), 3)}
    cosines = store.cosines([ids["alpha revenue"], ids["gamma"], 999], unit(2))
    assert cosines == {ids["alpha revenue"]: pytest.approx(0.0), ids["gamma"]: pytest.approx(1.0)}
    assert store.chunk_count() == 3


def test_replacing_a_file_drops_its_old_chunks_everywhere(store: IndexStore) -> None:
    add(store, "a.pdf", "old words here", "more old words")
    add(store, "a.pdf", "new text only", first=5, sha="s2")
    assert store.keyword_search('"old"', 5) == []
    assert next(store.get_chunks([i])[i].text for i, _ in store.dense_search(unit(5), 5)) == "new text only"
    assert store.status().chunks == 1
    assert store.check() == []


def test_a_search_runs_faiss_on_one_thread_and_restores_the_setting(
    store: IndexStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    import faiss

    seen: list[int] = []
    search = faiss.IndexIDMap2.search

    def spy(index: faiss.IndexIDMap2, *args: Any, **kwargs: Any) -> Any:
        seen.append(faiss.omp_get_max_threads())
        return search(index, *args, **kwargs)

    faiss.omp_set_num_threads(2)
    add(store, "a.pdf", "alpha text")
    monkeypatch.setattr(faiss.IndexIDMap2, "search", spy)
    assert store.dense_search(unit(0), 1)
    assert seen == [1]
    assert faiss.omp_get_max_threads() == 2


def test_remove_file(store: IndexStore) -> None:
    add(store, "a.pdf", "alpha")
    add(store, "b.pdf", "beta", first=1, sha="s2")
    store.remove_file("a.pdf")
    assert set(store.files()) == {"b.pdf"}
    assert {store.get_chunks([i])[i].file for i, _ in store.dense_search(unit(0), 5)} == {"b.pdf"}
    assert store.check() == []


def test_rename_keeps_chunks_without_reembedding(store: IndexStore) -> None:
    add(store, "old/a.pdf", "alpha", "beta")
    before = {i for i, _ in store.dense_search(unit(0), 5)}
    store.rename_file("old/a.pdf", info("new/a.pdf"))
    after = store.dense_search(unit(0), 5)
    assert {i for i, _ in after} == before  # same chunk ids: nothing was re-embedded
    assert {c.file for c in store.get_chunks([i for i, _ in after]).values()} == {"new/a.pdf"}
    assert set(store.files()) == {"new/a.pdf"}
    assert store.check() == []


def test_copy_duplicates_chunks_and_vectors(store: IndexStore) -> None:
    add(store, "a.pdf", "alpha", "beta")
    store.copy_file("a.pdf", info("copy.pdf"))
    files = {store.get_chunks([i])[i].file for i, _ in store.dense_search(unit(0), 10)}
    assert files == {"a.pdf", "copy.pdf"}
    assert store.files()["copy.pdf"].chunks == 2
    assert store.check() == []


def test_failure_is_recorded_and_shown_in_status(store: IndexStore) -> None:
    add(store, "a.pdf", "alpha")
    store.record_failure(info("a.pdf", sha="s9"), "password-protected")
    status = store.status()
    assert status.files == 0 and status.chunks == 0
    assert [(f.file, f.reason) for f in status.failed] == [("a.pdf", "password-protected")]


def test_generation_counts_commits_and_status_has_freshness(store: IndexStore) -> None:
    start = store.generation()
    add(store, "a.pdf", "alpha")
    add(store, "b.pdf", "beta", sha="s2")
    assert store.generation() == start + 2
    assert store.status().freshness().startswith("2 files, updated")


def test_reopen_uses_saved_faiss_file_and_rebuilds_when_tampered(tmp_path: Path) -> None:
    index_dir = tmp_path / "index"
    store = IndexStore(index_dir, dim=DIM, model_id="m")
    add(store, "a.pdf", "alpha", "beta")
    saved = store.save_faiss()
    store.close()
    assert saved is not None and saved.is_file()

    reopened = IndexStore(index_dir, dim=DIM, model_id="m")
    assert reopened.dense_search(unit(1), 1)[0][1] == pytest.approx(1.0)
    reopened.close()

    saved.write_bytes(b"\x00garbage" * 10)  # tampered: the checksum no longer matches
    rebuilt = IndexStore(index_dir, dim=DIM, model_id="m")
    assert rebuilt.dense_search(unit(1), 1)[0][1] == pytest.approx(1.0)
    assert rebuilt.check() == []
    rebuilt.close()


def test_other_embedding_model_is_refused(tmp_path: Path) -> None:
    IndexStore(tmp_path / "i", dim=DIM, model_id="m").close()
    with pytest.raises(IndexUnusableError, match="rebuild"):
        IndexStore(tmp_path / "i", dim=DIM + 1, model_id="other")


def test_a_second_process_sees_commits(tmp_path: Path) -> None:
    index_dir = tmp_path / "index"
    reader = IndexStore(index_dir, dim=DIM, model_id="m")
    assert reader.dense_search(unit(3), 1) == []
    script = textwrap.dedent(
        f"""
        import numpy as np
        from vectorstore.store import ChunkInput, FileInfo, IndexStore
        s = IndexStore({str(index_dir)!r}, dim={DIM}, model_id="m")
        v = np.zeros((1, {DIM}), dtype=np.float32); v[0, 3] = 1
        s.replace_file(FileInfo("x.pdf", 1, 1, "h", "indexed", None, "T", 1, 0, 0.0),
                       [ChunkInput("from another process", 1, "1")], v)
        s.close()
        """
    )
    subprocess.run([sys.executable, "-c", script], check=True, cwd=Path(__file__).resolve().parents[2])
    hits = reader.dense_search(unit(3), 1)
    assert hits and reader.get_chunks([hits[0][0]])[hits[0][0]].text == "from another process"
    assert reader.check() == []
    reader.close()


def test_index_directory_holds_no_pickles(store: IndexStore) -> None:
    add(store, "a.pdf", "alpha")
    store.save_faiss()
    for path in store.index_dir.iterdir():
        assert not path.read_bytes().startswith(b"\x80"), f"{path} looks like a pickle"
        assert path.suffix in {".sqlite3", ".faiss", ".sqlite3-wal", ".sqlite3-shm"}
