"""The re-index scheduler (real APScheduler): at start and every interval, one run at a time, its state
saved beside the index, runs on request, failures survived, stopping mid-run."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from langchain_core.embeddings import Embeddings

from devtools.pdfs import make_text_pdf
from devtools.waiting import wait_until
from ingest.cpu_gate import CpuGate
from ingest.schedule import STATE_FILE, ReindexScheduler, read_state
from ingest.sync import SyncOptions, SyncReport, sync_folder
from vectorstore.store import IndexStore

pytestmark = pytest.mark.timeout(60)

ADIDAS = "The minimum guarantee payable by adidas over the term of the agreement is 750 million pounds."
WAIT = 20.0


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    data = tmp_path / "data"
    data.mkdir()
    return data


@pytest.fixture
def store(tmp_path: Path) -> Iterator[IndexStore]:
    s = IndexStore(tmp_path / "index", dim=384, model_id="minilm")
    yield s
    s.close()


@pytest.fixture
def schedulers() -> Iterator[list[ReindexScheduler]]:
    made: list[ReindexScheduler] = []
    yield made
    for scheduler in made:
        scheduler.stop()


def folder_sync(
    folder: Path, store: IndexStore, embeddings: Embeddings, gate: CpuGate | None = None
) -> Callable[[threading.Event], SyncReport]:
    def sync(cancel: threading.Event) -> SyncReport:
        return sync_folder(folder, store, embeddings, SyncOptions(cpu_gate=gate, cancel=cancel))

    return sync


def test_runs_at_start_and_every_interval_and_saves_its_state(
    folder: Path, store: IndexStore, embeddings: Embeddings, schedulers: list[ReindexScheduler]
) -> None:
    make_text_pdf(folder / "a.pdf", [ADIDAS])
    reports: list[SyncReport] = []
    scheduler = ReindexScheduler(
        folder_sync(folder, store, embeddings), interval_minutes=0.01, state_dir=store.index_dir
    )
    schedulers.append(scheduler)
    scheduler.add_listener(reports.append)
    scheduler.start()
    assert scheduler.wait_for_runs(3, WAIT)
    assert reports[0].indexed == ["a.pdf"] and reports[1].unchanged == ["a.pdf"] and not reports[1].changed
    status = scheduler.status()
    assert status["last_result"].startswith("0 indexed (0 pages, 0 chunks), 1 unchanged, 0 removed")
    assert status["next_run"] != "not scheduled" and status["last_run"] != "never"

    saved = read_state(store.index_dir)
    assert saved is not None and saved.runs >= 2 and saved.interval_minutes == 0.01
    assert saved.last_run is not None and saved.last_run.report is not None
    assert saved.last_run.report["unchanged"] == ["a.pdf"]
    assert scheduler.stop()
    stopped = read_state(store.index_dir)
    assert stopped is not None and stopped.next_run is None and stopped.running_since is None


def test_run_now_serves_a_request_between_intervals(
    folder: Path, store: IndexStore, embeddings: Embeddings, schedulers: list[ReindexScheduler]
) -> None:
    reports: list[SyncReport] = []
    scheduler = ReindexScheduler(folder_sync(folder, store, embeddings), interval_minutes=60)
    schedulers.append(scheduler)
    scheduler.add_listener(reports.append)
    scheduler.start()
    assert scheduler.wait_for_runs(1, WAIT) and reports[0].indexed == []
    make_text_pdf(folder / "a.pdf", [ADIDAS])
    assert scheduler.wait_for(scheduler.run_now(), WAIT)
    assert reports[-1].indexed == ["a.pdf"] and scheduler.runs == 2


def test_one_run_at_a_time_and_requests_during_a_run_are_coalesced(
    schedulers: list[ReindexScheduler],
) -> None:
    release = threading.Event()
    lock = threading.Lock()
    running = [0]
    most = [0]

    def slow_sync(cancel: threading.Event) -> SyncReport:
        with lock:
            running[0] += 1
            most[0] = max(most[0], running[0])
        release.wait(WAIT)
        with lock:
            running[0] -= 1
        return SyncReport()

    scheduler = ReindexScheduler(slow_sync, interval_minutes=0.001)  # fires far more often than it ends
    schedulers.append(scheduler)
    scheduler.start()
    tickets = [scheduler.run_now() for _ in range(5)]
    release.set()
    assert scheduler.wait_for(tickets[-1], WAIT)
    assert most[0] == 1


def test_a_failing_run_is_reported_and_the_next_one_runs(schedulers: list[ReindexScheduler]) -> None:
    calls = [0]

    def flaky(cancel: threading.Event) -> SyncReport:
        calls[0] += 1
        if calls[0] == 1:
            raise RuntimeError("disk on fire")
        return SyncReport()

    scheduler = ReindexScheduler(flaky, interval_minutes=60)
    schedulers.append(scheduler)
    scheduler.start()
    assert scheduler.wait_for_runs(1, WAIT)
    assert scheduler.status()["last_result"] == "failed: RuntimeError: disk on fire"
    assert scheduler.wait_for(scheduler.run_now(), WAIT)
    assert scheduler.status()["last_result"].startswith("0 indexed")


def test_a_missing_data_dir_removes_nothing(
    folder: Path, store: IndexStore, embeddings: Embeddings, schedulers: list[ReindexScheduler]
) -> None:
    make_text_pdf(folder / "a.pdf", [ADIDAS])
    sync_folder(folder, store, embeddings, SyncOptions())
    unmounted = folder.rename(folder.with_name("elsewhere"))
    scheduler = ReindexScheduler(folder_sync(folder, store, embeddings), interval_minutes=60, data_dir=folder)
    schedulers.append(scheduler)
    scheduler.start()
    assert scheduler.wait_for_runs(1, WAIT)
    assert scheduler.status()["last_result"] == f"skipped: data dir {folder} is missing"
    assert list(store.files()) == ["a.pdf"] and unmounted.is_dir()


def test_stop_ends_a_run_that_waits_for_the_cpu(
    folder: Path, store: IndexStore, embeddings: Embeddings, schedulers: list[ReindexScheduler]
) -> None:
    make_text_pdf(folder / "a.pdf", [ADIDAS])
    gate = CpuGate()
    reports: list[SyncReport] = []
    scheduler = ReindexScheduler(
        folder_sync(folder, store, embeddings, gate),
        interval_minutes=60,
        cpu_gate=gate,
        state_dir=store.index_dir,
    )
    schedulers.append(scheduler)
    scheduler.add_listener(reports.append)
    with gate.question():  # an answer that outlasts the shutdown
        scheduler.start()
        # the run has begun and waits for the CPU
        wait_until(lambda: scheduler.state().running_since is not None, WAIT)
        assert scheduler.stop(WAIT)
    assert scheduler.runs == 1 and reports[0].cancelled and reports[0].indexed == []
    assert store.files() == {}
    assert (store.index_dir / STATE_FILE).is_file()
