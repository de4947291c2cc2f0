"""Sync in a watched folder: files that change while being indexed, cancelled runs, change reports."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from langchain_core.embeddings import Embeddings

from devtools.pdfs import make_text_pdf
from ingest.cpu_gate import CpuGate, Turn
from ingest.sync import SyncOptions, sync_folder
from vectorstore.retriever import HybridRetriever
from vectorstore.store import IndexStore

ADIDAS = (
    "The minimum guarantee payable by adidas over the term of the agreement is equal to 750 million pounds."
)
SAFETY = "Report every workplace injury to the safety officer within twenty-four hours of it happening."


class HookGate(CpuGate):
    """A real gate that runs `hook(n)` inside its n-th indexer step (n from 1)."""

    def __init__(self, hook: Callable[[int], None]) -> None:
        super().__init__()
        self.hook = hook
        self.calls = 0

    @contextmanager
    def step(self, cancel: threading.Event | None = None) -> Iterator[Turn]:
        with super().step(cancel) as turn:
            self.calls += 1
            self.hook(self.calls)
            yield turn


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


def top_hit(store: IndexStore, embeddings: Embeddings, question: str) -> tuple[str, int, str]:
    hit = HybridRetriever(store=store, embeddings=embeddings, k=1).search(question)[0]
    return hit.chunk.file, hit.chunk.page, hit.chunk.text


def test_a_file_that_grows_while_it_is_indexed_is_deferred_not_committed(
    data: Path, store: IndexStore, embeddings: Embeddings
) -> None:
    path = make_text_pdf(data / "a.pdf", [ADIDAS, SAFETY])

    def writer_goes_on(step: int) -> None:
        if step == 1:  # the first page is being read: the copy is still running
            with path.open("ab") as handle:
                handle.write(b"\n% the rest of a slow copy\n")

    report = sync_folder(data, store, embeddings, SyncOptions(cpu_gate=HookGate(writer_goes_on)))
    assert report.deferred == ["a.pdf"] and report.indexed == [] and report.failed == []
    assert store.files() == {} and not report.changed

    again = sync_folder(data, store, embeddings, SyncOptions())
    assert again.indexed == ["a.pdf"] and again.deferred == []
    assert top_hit(store, embeddings, "minimum guarantee adidas")[:2] == ("a.pdf", 1)


def test_a_half_copied_pdf_completed_before_it_is_read_is_deferred_not_failed(
    data: Path, store: IndexStore, embeddings: Embeddings, tmp_path: Path
) -> None:
    whole = make_text_pdf(tmp_path / "whole.pdf", [SAFETY, ADIDAS]).read_bytes()
    path = data / "b.pdf"
    path.write_bytes(whole[: len(whole) // 3])  # what the scan sees: a third of the file

    def copy_finishes(file: str, done: int, total: int) -> None:
        if file == "b.pdf":
            path.write_bytes(whole)

    report = sync_folder(data, store, embeddings, SyncOptions(progress=copy_finishes))
    assert report.deferred == ["b.pdf"] and report.failed == [] and store.files() == {}
    again = sync_folder(data, store, embeddings, SyncOptions())
    assert again.indexed == ["b.pdf"] and again.failed == []
    assert top_hit(store, embeddings, "minimum guarantee adidas")[:2] == ("b.pdf", 2)


def test_a_cancelled_sync_commits_nothing_half_done_and_the_next_run_finishes(
    data: Path, store: IndexStore, embeddings: Embeddings
) -> None:
    make_text_pdf(data / "a.pdf", [ADIDAS])
    make_text_pdf(data / "b.pdf", [SAFETY])
    cancel = threading.Event()

    def stop_in_b(step: int) -> None:
        if store.files():  # a.pdf is committed; stop during b.pdf
            cancel.set()

    options = SyncOptions(cpu_gate=HookGate(stop_in_b), cancel=cancel, batch_size=1)
    report = sync_folder(data, store, embeddings, options)
    assert report.cancelled and report.indexed == ["a.pdf"] and "stopped early" in report.summary()
    assert list(store.files()) == ["a.pdf"] and store.check() == []
    again = sync_folder(data, store, embeddings, SyncOptions())
    assert again.indexed == ["b.pdf"] and again.unchanged == ["a.pdf"]


def test_report_tells_new_from_updated_with_pages(
    data: Path, store: IndexStore, embeddings: Embeddings
) -> None:
    make_text_pdf(data / "a.pdf", [ADIDAS])
    first = sync_folder(data, store, embeddings, SyncOptions())
    assert (first.indexed, first.updated, first.pages_by_file) == (["a.pdf"], [], {"a.pdf": 1})
    make_text_pdf(data / "a.pdf", [ADIDAS, SAFETY])
    make_text_pdf(data / "c.pdf", [SAFETY])
    second = sync_folder(data, store, embeddings, SyncOptions())
    assert sorted(second.indexed) == ["a.pdf", "c.pdf"] and second.updated == ["a.pdf"]
    assert second.pages_by_file == {"a.pdf": 2, "c.pdf": 1}


def test_an_upgrade_stopped_half_way_chunks_only_the_rest_again(
    data: Path, store: IndexStore, embeddings: Embeddings
) -> None:
    make_text_pdf(data / "a.pdf", [ADIDAS])
    make_text_pdf(data / "b.pdf", [SAFETY])
    sync_folder(data, store, embeddings, SyncOptions())
    store.recipe_since("headings-v1 size-500 overlap-50")  # as an index written before an upgrade
    cancel = threading.Event()

    def stop_at_b(file: str, done: int, total: int) -> None:
        if file == "b.pdf":
            cancel.set()

    first = sync_folder(data, store, embeddings, SyncOptions(cancel=cancel, progress=stop_at_b))
    assert first.cancelled and first.indexed == ["a.pdf"]
    again = sync_folder(data, store, embeddings, SyncOptions())
    assert again.indexed == ["b.pdf"] and again.unchanged == ["a.pdf"]
    assert sync_folder(data, store, embeddings, SyncOptions()).unchanged == ["a.pdf", "b.pdf"]
