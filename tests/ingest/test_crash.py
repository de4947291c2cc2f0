"""Kill a real ingest process at random moments: the index stays readable and consistent, and the next
sync finishes the interrupted work. A reader polling during the writes never sees half an update."""

from __future__ import annotations

import contextlib
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from langchain_core.embeddings import Embeddings

from devtools.pdfs import make_text_pdf
from ingest.sync import SyncOptions, sync_folder
from models.embeddings import embedding_model_id
from vectorstore.store import IndexStore

REPO = Path(__file__).resolve().parents[2]
TRIALS = 4  # `make test`; `make soak` runs SOAK_TRIALS
SOAK_TRIALS = 20
OPTIONS = {"batch_size": 2, "chunk_size": 160, "chunk_overlap": 0}

INGEST = f"""
import sys
from pathlib import Path
from ingest.sync import SyncOptions, sync_folder
from models.embeddings import embedding_model_id, load_embeddings
from vectorstore.store import IndexStore
embeddings = load_embeddings()
store = IndexStore(Path(sys.argv[2]), dim=384, model_id=embedding_model_id(""))
print("ready", flush=True)
sync_folder(Path(sys.argv[1]), store, embeddings, SyncOptions(**{OPTIONS!r}))
print("done", flush=True)
"""

WORDS = "revenue guarantee sponsor stadium injury safety scooter network ledger audit pension".split()


def write_reports(folder: Path, rng: random.Random, names: list[str]) -> None:
    for name in names:
        pages = [" ".join(rng.choice(WORDS) for _ in range(90)) + "." for _ in range(2)]
        make_text_pdf(folder / name, pages)


def consistent(index_dir: Path) -> IndexStore:
    store = IndexStore(index_dir, dim=384, model_id=embedding_model_id(""))
    assert store.check() == [], store.check()
    return store


@pytest.mark.slow
@pytest.mark.parametrize(
    "trials", [TRIALS, pytest.param(SOAK_TRIALS, marks=pytest.mark.soak)], ids=lambda n: f"{n}-kills"
)
def test_killed_ingest_leaves_a_consistent_index_and_resumes(
    tmp_path: Path, embeddings: Embeddings, trials: int
) -> None:
    rng = random.Random(20261127 + trials)
    data, index_dir = tmp_path / "data", tmp_path / "index"
    data.mkdir()
    names = [f"report-{i:02d}.pdf" for i in range(10)]
    write_reports(data, rng, names)

    # How long a full sync takes here, so the kills land inside the work.
    reference = IndexStore(tmp_path / "reference", dim=384, model_id=embedding_model_id(""))
    started = time.perf_counter()
    sync_folder(data, reference, embeddings, SyncOptions(**OPTIONS))  # type: ignore[arg-type]
    full_run = time.perf_counter() - started
    reference.close()

    killed_mid_work = 0
    for trial in range(trials):
        if trial:  # change the folder between trials: edits, a deletion, a new file
            write_reports(data, rng, rng.sample(names, 3))
        proc = subprocess.Popen(
            [sys.executable, "-c", INGEST, str(data), str(index_dir)],
            cwd=REPO,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
        # Later trials redo only the edited files (and what the last kill left): about half a full run.
        deadline = time.monotonic() + rng.uniform(0.0, full_run if trial == 0 else full_run / 2)
        reader = IndexStore(index_dir, dim=384, model_id=embedding_model_id(""))
        while time.monotonic() < deadline and proc.poll() is None:
            assert reader.check() == []  # a concurrent reader never sees a half-written file
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=0.2)  # leave the CPU to the writer between checks
        reader.close()
        if proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
            killed_mid_work += 1
        proc.wait(timeout=60)
        consistent(index_dir).close()

    print(f"crash trials={trials} killed_mid_work={killed_mid_work} full_run_s={full_run:.1f}")
    assert killed_mid_work >= trials // 2, "the kills should land while the ingest is working"
    store = consistent(index_dir)
    report = sync_folder(data, store, embeddings, SyncOptions(**OPTIONS))  # type: ignore[arg-type]
    assert report.failed == []
    files = store.files()
    assert sorted(files) == sorted(names)
    assert all(info.status == "indexed" and info.chunks > 0 for info in files.values())
    # A second sync finds nothing left to do: the interrupted work is complete.
    again = sync_folder(data, store, embeddings, SyncOptions(**OPTIONS))  # type: ignore[arg-type]
    assert not again.changed and sorted(again.unchanged) == sorted(names)
    assert store.check() == []
    store.close()
