"""`docbot search` and `docbot ask` on an index with no document: say so, with the data folder's path."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from bot.cli import main


@pytest.fixture
def empty(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    for name in list(os.environ):
        if name.startswith(("DOCBOT_", "SLACK_")):
            monkeypatch.delenv(name)
    data = tmp_path / "reports"
    data.mkdir()
    monkeypatch.setenv("DOCBOT_DATA_DIR", str(data))
    monkeypatch.setenv("DOCBOT_INDEX_DIR", str(tmp_path / "index"))
    monkeypatch.setenv("DOCBOT_MODEL_PATH", str(tmp_path / "missing.gguf"))
    monkeypatch.chdir(tmp_path)
    return data


@pytest.mark.parametrize("argv", [["search", "minimum guarantee"], ["ask", "--json", "minimum guarantee"]])
def test_an_ingested_empty_folder_says_no_document_is_indexed(
    empty: Path, capsys: pytest.CaptureFixture[str], argv: list[str]
) -> None:
    assert main(["ingest"]) == 0
    capsys.readouterr()
    code = main(argv)
    out, err = capsys.readouterr()
    assert code == 1 and out == ""
    assert err == (
        f"docbot: No document is indexed yet. Put PDF reports in {empty.resolve()}, then run `docbot ingest`"
        " (a running `docbot run` also re-indexes the folder on its own).\n"
    )


def test_only_unreadable_files_are_counted(empty: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (empty / "locked.pdf").write_bytes(b"")
    assert main(["ingest"]) == 0
    capsys.readouterr()
    assert main(["search", "anything"]) == 1
    assert "1 file there could not be indexed; `docbot status` says why." in capsys.readouterr().err


def test_a_never_built_index_names_both_folders(empty: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["ask", "anything"]) == 1
    err = capsys.readouterr().err
    assert err.startswith(f"docbot: There is no index at {empty.parent / 'index'} yet.")
    assert f"Put PDF reports in {empty.resolve()}, then run `docbot ingest`" in err
