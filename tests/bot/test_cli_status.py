"""`docbot status` on a terminal says why the last re-index failed: the failed files with their reasons,
capped, each name on one line with control characters written out."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from bot.cli import MAX_FAILED_SHOWN, main
from ingest.schedule import STATE_FILE, RunRecord, ScheduleState
from models.embeddings import embedding_model_id
from vectorstore.store import IndexStore

DISK_FULL = "error: OperationalError: database or disk is full"
ESCAPE_NAME = "report\x1b[2J\nfailed: 0.pdf"


@pytest.fixture
def index(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    for name in list(os.environ):
        if name.startswith(("DOCBOT_", "SLACK_")):
            monkeypatch.delenv(name)
    monkeypatch.setenv("DOCBOT_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("DOCBOT_INDEX_DIR", str(tmp_path / "index"))
    monkeypatch.setenv("DOCBOT_MODEL_PATH", str(tmp_path / "missing.gguf"))
    monkeypatch.chdir(tmp_path)  # no stray .env is read
    IndexStore(tmp_path / "index", dim=384, model_id=embedding_model_id("")).close()
    return tmp_path / "index"


def write_last_run(index: Path, failed: list[tuple[str, str]]) -> None:
    report = {"indexed": [], "failed": [{"file": f, "reason": r} for f, r in failed]}
    record = RunRecord(1.0, 2.0, f"0 indexed, {len(failed)} failed in 1.0 s", True, report)
    state = ScheduleState(5.0, record, None, None, 1, 0)
    (index / STATE_FILE).write_text(json.dumps(state.to_dict()), encoding="utf-8")


def status_text(capsys: pytest.CaptureFixture[str]) -> str:
    assert main(["status"]) == 0
    return capsys.readouterr().out


def test_the_last_runs_failures_show_with_their_reasons(
    index: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write_last_run(index, [("pensions.pdf", DISK_FULL)])
    out = status_text(capsys)
    assert "failed: 1\n" in out and f"  pensions.pdf: {DISK_FULL}\n" in out


def test_names_are_shown_on_one_line_and_the_list_is_capped(
    index: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    failed = [(ESCAPE_NAME, DISK_FULL)] + [(f"q{n:02d}.pdf", DISK_FULL) for n in range(14)]
    write_last_run(index, failed)
    out = status_text(capsys)
    assert "\x1b" not in out
    assert f"  report\\x1b[2J\\nfailed: 0.pdf: {DISK_FULL}\n" in out
    assert "failed: 15\n" in out and out.count(DISK_FULL) == MAX_FAILED_SHOWN
    assert "  … and 5 more (`docbot status --json` lists them all)\n" in out


def test_without_a_reindex_state_only_the_index_failures_show(
    index: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = status_text(capsys)
    assert "failed: 0\n" in out and "re-index: no bot has run on this index yet" in out


LIGHT_STATUS = """
import json, sys
from bot.cli import main
code = main(["status", "--json"])
heavy = ("numpy", "faiss", "torch", "langchain_core", "openvino", "transformers", "bot.engine", "ingest.sync")
print(json.dumps(sorted(name for name in heavy if name in sys.modules)))
sys.exit(code)
"""


def test_status_imports_neither_numpy_nor_langchain_nor_torch(index: Path) -> None:
    import subprocess
    import sys

    import numpy as np

    from vectorstore.store import ChunkInput, FileInfo

    store = IndexStore(index, dim=384, model_id=embedding_model_id(""))
    vector = np.ones((1, 384), dtype=np.float32) / np.sqrt(384)
    store.replace_file(
        FileInfo("a.pdf", 1, 1, "a", "indexed", None, "A", 1, 1, 0.0), [ChunkInput("text", 1, "1")], vector
    )
    store.close()
    repo = Path(__file__).resolve().parents[2]
    env = os.environ | {"PYTHONPATH": str(repo)}
    result = subprocess.run(
        [sys.executable, "-c", LIGHT_STATUS], env=env, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    status_line, heavy_line = result.stdout.splitlines()
    status = json.loads(status_line)
    assert (status["files"], status["chunks"], status["problems"]) == (1, 1, [])
    assert json.loads(heavy_line) == []


def test_status_of_a_damaged_index_says_so(index: Path, capsys: pytest.CaptureFixture[str]) -> None:
    for leftover in index.glob("index.sqlite3*"):
        leftover.unlink()
    (index / "index.sqlite3").write_bytes(b"this is not a database" * 100)
    assert main(["status"]) == 1
    err = capsys.readouterr().err
    assert "unreadable" in err and "docbot ingest --rebuild" in err
