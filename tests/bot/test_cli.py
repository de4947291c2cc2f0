"""The `docbot` command line on generated PDFs: ingest, search, ask, status, eval, errors."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from bot.cli import main
from devtools.pdfs import make_text_pdf

REPO = Path(__file__).resolve().parents[2]
ADIDAS = "The minimum guarantee payable by adidas over the term of the agreement is 750 million pounds."
SAFETY = "Report every workplace injury to the safety officer within twenty-four hours."


@pytest.fixture
def dirs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, Path]:
    for name in list(os.environ):
        if name.startswith(("DOCBOT_", "SLACK_")):
            monkeypatch.delenv(name)
    data, index = tmp_path / "data", tmp_path / "index"
    data.mkdir()
    make_text_pdf(data / "club.pdf", ["Annual report cover.", ADIDAS], labels=["i", "43"])
    make_text_pdf(data / "handbook.pdf", [SAFETY])
    (data / "locked.pdf").write_bytes(b"")
    monkeypatch.setenv("DOCBOT_DATA_DIR", str(data))
    monkeypatch.setenv("DOCBOT_INDEX_DIR", str(index))
    monkeypatch.setenv("DOCBOT_MODEL_PATH", str(tmp_path / "missing.gguf"))
    monkeypatch.chdir(tmp_path)  # no stray .env is read
    return data, index


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_ingest_json_then_unchanged(dirs: tuple[Path, Path], capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "ingest", "--json")
    first = json.loads(out)
    assert code == 0
    assert sorted(first["indexed"]) == ["club.pdf", "handbook.pdf"]
    assert first["failed"] == [{"file": "locked.pdf", "reason": "empty file"}]
    assert first["chunks"] >= 3 and first["seconds"] > 0
    assert set(first) >= {"indexed", "unchanged", "removed", "failed", "chunks", "seconds"}
    second = json.loads(run(capsys, "ingest", "--json")[1])
    assert sorted(second["unchanged"]) == ["club.pdf", "handbook.pdf", "locked.pdf"]
    assert second["indexed"] == second["failed"] == second["removed"] == []


def test_ingest_human_summary(dirs: tuple[Path, Path], capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "ingest")
    assert code == 0
    assert out.startswith("2 indexed (3 pages")
    assert "locked.pdf: empty file" in out


def test_search_reads_questions_from_stdin_as_json_lines(
    dirs: tuple[Path, Path], capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    run(capsys, "ingest", "--json")
    monkeypatch.setattr(
        sys, "stdin", io.StringIO("How much must adidas pay?\n\nWhen do I report an injury?\n")
    )
    code, out, _ = run(capsys, "search", "-", "--json", "-k", "2")
    lines = [json.loads(line) for line in out.splitlines()]
    assert code == 0 and [line["question"] for line in lines] == [
        "How much must adidas pay?",
        "When do I report an injury?",
    ]
    top = lines[0]["hits"][0]
    assert (top["file"], top["page"], top["page_label"]) == ("club.pdf", 2, "43")
    assert "adidas" in top["text"] and isinstance(top["score"], float)
    assert lines[1]["hits"][0]["file"] == "handbook.pdf" and len(lines[1]["hits"]) == 2


def test_search_human_output_cites_printed_label(
    dirs: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    run(capsys, "ingest", "--json")
    out = run(capsys, "search", "adidas minimum guarantee")[1]
    assert "1. club.pdf — p. 2 (printed 43)" in out


def test_ask_without_model_is_retrieval_only(
    dirs: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    run(capsys, "ingest", "--json")
    code, out, _ = run(capsys, "ask", "--json", "How much is the minimum guarantee payable by adidas?")
    answer = json.loads(out)
    assert code == 0 and answer["mode"] == "retrieval-only"
    assert "make model" in answer["answer"]
    assert answer["sources"][0]["page"] == 2 and answer["timings"]["total"] > 0


def test_ask_with_tiny_model_streams_like_the_tutorial(
    dirs: tuple[Path, Path],
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    tiny_gguf: Path,
) -> None:
    run(capsys, "ingest", "--json")
    monkeypatch.setenv("DOCBOT_MODEL_PATH", str(tiny_gguf))
    monkeypatch.setenv("DOCBOT_MAX_NEW_TOKENS", "8")
    code, out, _ = run(capsys, "ask", "How much is the minimum guarantee payable by adidas?")
    assert code == 0
    assert out.startswith("Answer: ")
    assert "Source 1: club.pdf — p. 2 (printed 43)" in out
    assert "Time to retrieve response:" in out


def test_status_json(dirs: tuple[Path, Path], capsys: pytest.CaptureFixture[str]) -> None:
    assert "no index" in run(capsys, "status")[1]
    run(capsys, "ingest", "--json")
    status = json.loads(run(capsys, "status", "--json")[1])
    assert (status["files"], status["pages"]) == (2, 3)
    assert status["failed"] == [{"file": "locked.pdf", "reason": "empty file"}]
    assert status["problems"] == [] and status["updated_at"] > 0


def test_eval_pools_several_question_files(
    dirs: tuple[Path, Path], capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    run(capsys, "ingest", "--json")
    adidas = "How much is the minimum guarantee payable by adidas?"
    files = {
        "a.jsonl": [{"question": adidas, "doc": "club.pdf", "page": 2}],
        "b.jsonl": [
            {"question": "When must I report an injury?", "doc": "handbook.pdf", "page": 1},
            {"question": adidas, "doc": "club.pdf", "page": 1, "also_on": []},  # the cover: not first
        ],
    }
    for name, rows in files.items():
        (tmp_path / name).write_text("".join(json.dumps(row) + "\n" for row in rows))
    code, out, _ = run(
        capsys, "eval", str(tmp_path / "a.jsonl"), str(tmp_path / "b.jsonl"), "--k", "1", "--json"
    )
    report = json.loads(out)
    assert code == 0 and report["overall"]["n"] == 3
    assert report["overall"]["page_hit@1"] == round(2 / 3, 4)
    assert report["per_doc"]["handbook.pdf"]["page_hit@1"] == 1.0
    assert [miss["question"] for miss in report["misses"]] == [adidas]
    table = run(capsys, "eval", str(tmp_path / "a.jsonl"), "--k", "1,2")[1]
    assert "ALL" in table and "hit@2" in table


def test_invalid_setting_exits_2_naming_the_key(
    dirs: tuple[Path, Path], capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DOCBOT_LLM_BACKEND", "cuda")
    code, _, err = run(capsys, "status")
    assert code == 2 and "DOCBOT_LLM_BACKEND" in err and "llama-cpp" in err


def test_python_dash_m_bot_runs_the_same_cli(dirs: tuple[Path, Path]) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "bot", "status", "--json"],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=True,
    )
    assert json.loads(result.stdout)["files"] == 0


def test_search_without_an_index_says_to_ingest(
    dirs: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run(capsys, "search", "anything")
    assert code == 1 and out == ""
    assert "no index at" in err and "docbot ingest" in err
