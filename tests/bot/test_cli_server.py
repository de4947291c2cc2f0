"""`docbot ask` with DOCBOT_LLM_BACKEND=openai against llama-cpp-python's real server running SmolLM2, on
generated PDFs: citations, streaming on a terminal, faults from a loopback proxy, readiness errors."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.cli import main
from devtools.pdfs import make_text_pdf
from tests.bot.test_cli_real_model import GUARANTEE, LEAVE, QUESTION
from tests.fault_proxy import FaultProxy
from tests.llm_server import MODEL_ALIAS, LlamaServer, free_port

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]


@pytest.fixture
def server_dirs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, llm_server: LlamaServer) -> Iterator[Path]:
    for name in list(os.environ):
        if name.startswith(("DOCBOT_", "SLACK_")):
            monkeypatch.delenv(name)
    data = tmp_path / "data"
    make_text_pdf(data / "club report.pdf", ["Annual report 2022.", GUARANTEE], labels=["i", "43"])
    make_text_pdf(data / "handbook.pdf", [LEAVE])
    monkeypatch.setenv("DOCBOT_DATA_DIR", str(data))
    monkeypatch.setenv("DOCBOT_INDEX_DIR", str(tmp_path / "index"))
    # No model file here: with a server backend that must not mean retrieval-only.
    monkeypatch.setenv("DOCBOT_MODEL_PATH", str(tmp_path / "missing.gguf"))
    monkeypatch.setenv("DOCBOT_LLM_BACKEND", "openai")
    monkeypatch.setenv("DOCBOT_LLM_BASE_URL", llm_server.base_url)
    monkeypatch.setenv("DOCBOT_LLM_RETRY_BACKOFF_SECONDS", "0.1")
    monkeypatch.setenv("DOCBOT_K", "2")
    monkeypatch.chdir(tmp_path)
    assert main(["ingest"]) == 0
    yield tmp_path


@pytest.fixture
def proxy(llm_server: LlamaServer, monkeypatch: pytest.MonkeyPatch) -> Iterator[FaultProxy]:
    proxy = FaultProxy("127.0.0.1", llm_server.port)
    monkeypatch.setenv("DOCBOT_LLM_BASE_URL", proxy.base_url)
    yield proxy
    proxy.close()


def _ask_json(capsys: pytest.CaptureFixture[str]) -> dict[str, object]:
    capsys.readouterr()
    assert main(["ask", "--json", QUESTION]) == 0
    result = json.loads(capsys.readouterr().out)
    assert isinstance(result, dict)
    return result


def _check_cited_answer(answer: dict[str, object]) -> None:
    assert answer["mode"] == "llm"
    assert "640" in str(answer["answer"])
    assert answer["finish_reason"] in ("eos", "stop")
    assert answer["grounding"] == "verified"
    cited = answer["sources"]
    assert isinstance(cited, list)
    assert (cited[0]["file"], cited[0]["page"], cited[0]["page_label"]) == ("club report.pdf", 2, "43")


def test_ask_answers_from_the_server_with_citations(
    server_dirs: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    _check_cited_answer(_ask_json(capsys))
    monkeypatch.setenv("DOCBOT_LLM_MODEL", MODEL_ALIAS)  # named explicitly: the same
    _check_cited_answer(_ask_json(capsys))


def test_on_a_terminal_the_servers_answer_streams_after_the_pages(
    server_dirs: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    capsys.readouterr()
    monkeypatch.setattr(sys.stdout, "isatty", lambda: True)
    assert main(["ask", QUESTION]) == 0
    out = capsys.readouterr().out
    found, answer = out.index("Source 1: club report.pdf — p. 2 (printed 43)"), out.index("Answer: ")
    assert found < answer and "640" in out[answer:]
    assert out.count("Source 1:") == 1


def test_429_and_500_from_the_server_are_retried_and_the_answer_arrives(
    server_dirs: Path, proxy: FaultProxy, capsys: pytest.CaptureFixture[str]
) -> None:
    proxy.faults[:] = ["429", "500"]
    # The start check's one-token completion is the first request through the proxy: give it a clean run.
    proxy.faults.insert(0, "pass")
    _check_cited_answer(_ask_json(capsys))
    assert [t.fault for t in proxy.requests()] == ["pass", "429", "500", None]


def test_a_server_that_breaks_off_every_retry_is_one_error_line_and_no_answer(
    server_dirs: Path, proxy: FaultProxy, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DOCBOT_LLM_RETRIES", "2")
    proxy.faults[:] = ["pass", "drop:4", "503", "503"]
    capsys.readouterr()
    assert main(["ask", "--json", QUESTION]) == 1
    out, err = capsys.readouterr()
    assert out == ""  # nothing printed as if it were the answer
    [line] = err.strip().splitlines()
    assert line.startswith("docbot: the LLM server at ") and "failed 3 times, last: HTTP 503" in line


@pytest.mark.parametrize("problem", ["down", "wrong-model"])
def test_a_server_that_is_not_ready_is_one_line_at_start(
    server_dirs: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, problem: str
) -> None:
    if problem == "down":
        url = f"http://127.0.0.1:{free_port()}/v1"
        monkeypatch.setenv("DOCBOT_LLM_BASE_URL", url)
        expected = f"docbot: LLM server {url} not ready: cannot connect"
    else:
        monkeypatch.setenv("DOCBOT_LLM_MODEL", "llama-2-70b")
        expected = f"does not serve model 'llama-2-70b' (it lists: {MODEL_ALIAS}); set DOCBOT_LLM_MODEL"
    capsys.readouterr()
    assert main(["ask", QUESTION]) == 1
    out, err = capsys.readouterr()
    assert out == ""
    [line] = err.strip().splitlines()
    assert expected in line
