"""Folder sync against a real index: add, change, delete, rename, copy, failures, half-copied files."""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from langchain_core.embeddings import Embeddings

from devtools.pdfs import make_image_only_pdf, make_text_pdf
from ingest.cpu_gate import CpuGate
from ingest.sync import SyncOptions, SyncReport, scan_folder, sync_folder
from vectorstore.retriever import HybridRetriever
from vectorstore.store import IndexStore

ADIDAS = (
    "The minimum guarantee payable by adidas over the term of the agreement is equal to 750 million pounds."
)
SAFETY = "Report every workplace injury to the safety officer within twenty-four hours of it happening."
BIKES = "Bike and scooter sharing networks operate in several cities and are maintained overnight."


@pytest.fixture
def data(tmp_path: Path) -> Path:
    folder = tmp_path / "data"
    folder.mkdir()
    return folder


@pytest.fixture
def store(tmp_path: Path) -> Iterator[IndexStore]:
    s = IndexStore(tmp_path / "index", dim=384, model_id="minilm")
    yield s
    s.close()


def sync(data: Path, store: IndexStore, embeddings: Embeddings, **options: Any) -> SyncReport:
    return sync_folder(data, store, embeddings, SyncOptions(**options))


def cited(store: IndexStore, embeddings: Embeddings, question: str) -> list[tuple[str, int]]:
    retriever = HybridRetriever(store=store, embeddings=embeddings, k=3)
    return [(h.chunk.file, h.chunk.page) for h in retriever.search(question)]


def test_new_files_are_indexed_with_pages_and_labels(
    data: Path, store: IndexStore, embeddings: Embeddings
) -> None:
    make_text_pdf(data / "club.pdf", ["Cover page of the annual report.", ADIDAS], labels=["i", "43"])
    (data / "sub").mkdir()
    make_text_pdf(data / "sub" / "Handbook.PDF", [SAFETY])
    (data / "notes.txt").write_text("not a pdf")
    report = sync(data, store, embeddings)
    assert sorted(report.indexed) == ["club.pdf", "sub/Handbook.PDF"]
    assert report.failed == [] and report.chunks >= 3 and report.pages == 3
    hit = HybridRetriever(store=store, embeddings=embeddings).search("How much must adidas pay at least?")[0]
    assert (hit.chunk.file, hit.chunk.page, hit.chunk.page_label) == ("club.pdf", 2, "43")
    assert store.check() == []


def test_second_run_reads_nothing_when_nothing_changed(
    data: Path, store: IndexStore, embeddings: Embeddings, monkeypatch: pytest.MonkeyPatch
) -> None:
    make_text_pdf(data / "a.pdf", [ADIDAS])
    sync(data, store, embeddings)
    import ingest.sync as sync_module

    def no_reading(*args: object, **kwargs: object) -> None:
        raise AssertionError("an unchanged file was read")

    monkeypatch.setattr(sync_module, "read_pdf", no_reading)
    monkeypatch.setattr(sync_module, "file_sha256", no_reading)
    report = sync(data, store, embeddings)
    assert report.unchanged == ["a.pdf"] and not report.changed


def test_touched_but_identical_file_is_not_reindexed(
    data: Path, store: IndexStore, embeddings: Embeddings
) -> None:
    make_text_pdf(data / "a.pdf", [ADIDAS])
    sync(data, store, embeddings)
    before = store.generation()
    stat = (data / "a.pdf").stat()
    os.utime(data / "a.pdf", ns=(stat.st_atime_ns, stat.st_mtime_ns + 10_000_000_000))
    report = sync(data, store, embeddings)
    assert report.unchanged == ["a.pdf"] and report.indexed == []
    assert store.generation() == before  # no chunk was rewritten
    assert sync(data, store, embeddings).unchanged == ["a.pdf"]  # and the new mtime was remembered


def test_files_chunked_another_way_are_indexed_again_once(
    data: Path, store: IndexStore, embeddings: Embeddings
) -> None:
    make_text_pdf(data / "a.pdf", [ADIDAS])
    make_text_pdf(data / "b.pdf", [SAFETY])
    make_text_pdf(data / "empty.pdf", [""])
    first = sync(data, store, embeddings)
    assert first.failed and store.chunk_count() == 2
    report = sync(data, store, embeddings, chunk_size=60, chunk_overlap=0)  # a new chunk size
    assert sorted(report.indexed) == ["a.pdf", "b.pdf"] and report.failed == []  # a failed file waits
    assert store.chunk_count() > 2
    assert sync(data, store, embeddings, chunk_size=60, chunk_overlap=0).unchanged == [
        "a.pdf",
        "b.pdf",
        "empty.pdf",
    ]
    store.recipe_since("headings-v1 size-60 overlap-0")  # an index written before an upgrade
    (data / "a.pdf").rename(data / "renamed.pdf")  # its old chunks must not be re-pointed
    again = sync(data, store, embeddings, chunk_size=60, chunk_overlap=0)
    assert sorted(again.indexed) == ["b.pdf", "renamed.pdf"] and again.renamed == []
    assert cited(store, embeddings, "minimum guarantee from adidas")[0] == ("renamed.pdf", 1)


def test_changed_file_replaces_its_chunks(data: Path, store: IndexStore, embeddings: Embeddings) -> None:
    make_text_pdf(data / "a.pdf", [ADIDAS])
    sync(data, store, embeddings)
    make_text_pdf(data / "a.pdf", [BIKES, SAFETY])
    report = sync(data, store, embeddings)
    assert report.indexed == ["a.pdf"]
    assert store.keyword_search('"adidas"', 5) == []
    assert cited(store, embeddings, "injury reporting deadline")[0] == ("a.pdf", 2)
    assert store.status().chunks == store.files()["a.pdf"].chunks


def test_deleted_file_is_never_cited_again(data: Path, store: IndexStore, embeddings: Embeddings) -> None:
    make_text_pdf(data / "a.pdf", [ADIDAS])
    make_text_pdf(data / "b.pdf", [SAFETY])
    sync(data, store, embeddings)
    (data / "a.pdf").unlink()
    report = sync(data, store, embeddings)
    assert report.removed == ["a.pdf"]
    assert all(file == "b.pdf" for file, _ in cited(store, embeddings, "adidas minimum guarantee"))


def test_renamed_file_is_repointed_without_reembedding(
    data: Path, store: IndexStore, embeddings: Embeddings, monkeypatch: pytest.MonkeyPatch
) -> None:
    make_text_pdf(data / "a.pdf", [ADIDAS])
    sync(data, store, embeddings)
    (data / "archive").mkdir()
    shutil.move(data / "a.pdf", data / "archive" / "renamed.pdf")
    import ingest.sync as sync_module

    monkeypatch.setattr(sync_module, "read_pdf", lambda *a, **k: pytest.fail("renamed file was re-read"))
    report = sync(data, store, embeddings)
    assert report.renamed == [("a.pdf", "archive/renamed.pdf")] and report.removed == []
    assert cited(store, embeddings, "adidas guarantee")[0] == ("archive/renamed.pdf", 1)


def test_copied_file_is_indexed_from_its_twin(
    data: Path, store: IndexStore, embeddings: Embeddings, monkeypatch: pytest.MonkeyPatch
) -> None:
    make_text_pdf(data / "a.pdf", [ADIDAS])
    sync(data, store, embeddings)
    shutil.copy(data / "a.pdf", data / "copy.pdf")
    import ingest.sync as sync_module

    monkeypatch.setattr(sync_module, "read_pdf", lambda *a, **k: pytest.fail("copied file was re-read"))
    report = sync(data, store, embeddings)
    assert report.indexed == ["copy.pdf"]
    assert {f for f, _ in cited(store, embeddings, "adidas guarantee")} >= {"a.pdf", "copy.pdf"}


def test_bad_files_are_reported_and_do_not_stop_the_run(
    data: Path, store: IndexStore, embeddings: Embeddings
) -> None:
    make_text_pdf(data / "good.pdf", [ADIDAS])
    make_text_pdf(data / "locked.pdf", [SAFETY], encrypt_password="secret")
    make_image_only_pdf(data / "scan.pdf")
    (data / "empty.pdf").write_bytes(b"")
    (data / "broken.pdf").write_bytes(b"%PDF-1.4\nthis is not really a pdf")
    report = sync(data, store, embeddings)
    reasons = {f.file: f.reason for f in report.failed}
    assert report.indexed == ["good.pdf"]
    assert reasons["locked.pdf"] == "password-protected"
    assert reasons["scan.pdf"] == "no text layer (scanned; needs OCR)"
    assert reasons["empty.pdf"] == "empty file"
    assert reasons["broken.pdf"].startswith("corrupt: ")
    assert {f.file for f in store.status().failed} == set(reasons)


def test_failed_file_is_retried_only_when_it_changes(
    data: Path, store: IndexStore, embeddings: Embeddings
) -> None:
    (data / "a.pdf").write_bytes(b"")
    assert [f.reason for f in sync(data, store, embeddings).failed] == ["empty file"]
    second = sync(data, store, embeddings)
    assert second.failed == [] and second.unchanged == ["a.pdf"]
    make_text_pdf(data / "a.pdf", [ADIDAS])
    third = sync(data, store, embeddings)
    assert third.indexed == ["a.pdf"] and store.status().failed == []


def test_file_still_being_written_is_deferred(data: Path, store: IndexStore, embeddings: Embeddings) -> None:
    make_text_pdf(data / "a.pdf", [ADIDAS])
    report = sync(data, store, embeddings, settle_seconds=3600)
    assert report.deferred == ["a.pdf"] and report.indexed == [] and store.files() == {}
    old = time.time() - 7200
    os.utime(data / "a.pdf", (old, old))
    assert sync(data, store, embeddings, settle_seconds=3600).indexed == ["a.pdf"]


def test_links_leading_outside_the_folder_are_not_followed(tmp_path: Path, data: Path) -> None:
    outside = tmp_path / "secret"
    outside.mkdir()
    make_text_pdf(outside / "hr.pdf", [SAFETY])
    (data / "link.pdf").symlink_to(outside / "hr.pdf")
    (data / "dirlink").symlink_to(outside, target_is_directory=True)
    make_text_pdf(data / "ok.pdf", [ADIDAS])
    assert list(scan_folder(data)) == ["ok.pdf"]


def test_embedding_takes_one_cpu_turn_per_batch_and_page(
    data: Path, store: IndexStore, embeddings: Embeddings
) -> None:
    make_text_pdf(data / "a.pdf", [ADIDAS + " " + SAFETY + " " + BIKES] * 6)
    gate = CpuGate()
    report = sync(data, store, embeddings, batch_size=2, chunk_size=120, chunk_overlap=0, cpu_gate=gate)
    assert gate.stats().steps == -(-report.chunks // 2) + 6 > 7  # embedding batches + pages read


def test_embedding_batches_by_length_keep_each_chunk_its_own_vector(embeddings: Embeddings) -> None:
    import numpy as np

    from ingest.sync import _embed

    texts = [ADIDAS * 4, "short", SAFETY, BIKES * 2, "x", SAFETY + " " + BIKES]
    together = _embed(texts, embeddings, SyncOptions(batch_size=2))
    alone = np.vstack([np.asarray(embeddings.embed_documents([text])) for text in texts])
    assert together.shape == (len(texts), 384)
    assert ((together * alone).sum(axis=1) > 0.999).all()
