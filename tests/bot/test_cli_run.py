"""`docbot run` as a process manager runs it: loud about a broken setup, talkative at INFO by default, JSON
lines on request, tokens checked before any model loads, a /healthz a process manager can poll."""

from __future__ import annotations

import io
import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from bot.cli import main
from devtools.bot_process import REPO, BotProcess, bot_env
from devtools.pdfs import make_text_pdf
from devtools.waiting import wait_until
from tests.bot.slack.conftest import Thread
from tests.bot.test_health import get
from tests.fake_slack import FakeSlack

pytestmark = pytest.mark.timeout(300)

ADIDAS = "The minimum guarantee payable by adidas over the term of the agreement is 750 million pounds."
# A question nobody else asks: it must not show up in the log at INFO.
MARKER = "zebra-quokka-7781"
MODEL_LOAD_LINES = (
    "loading embedding model",
    "embedding runtime=",
    "openvino embeddings ready",
    "loading model",
    "index opened",
)


def plain_env(root: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DOCBOT_", "SLACK_"))}
    env |= {
        "PYTHONPATH": str(REPO),
        "DOCBOT_DATA_DIR": str(root / "data"),
        "DOCBOT_INDEX_DIR": str(root / "index"),
        "DOCBOT_MODEL_PATH": str(root / "none.gguf"),
    }
    return env


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_run_without_tokens_and_without_a_terminal_exits_2_with_one_line(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "bot", "run"],
        cwd=tmp_path,
        env=plain_env(tmp_path),
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 2, result.stderr
    assert result.stderr.count("\n") == 1, result.stderr
    line = result.stderr.strip()
    assert line.startswith(
        "docbot: cannot run the Slack bot: SLACK_BOT_TOKEN and SLACK_APP_TOKEN are not set"
    )
    assert str(tmp_path / ".env") in line and "docbot console" in line
    assert result.stdout == ""  # no console was started on a closed stdin


def test_run_in_process_without_tokens_on_a_pipe_returns_2(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    for name in [n for n in os.environ if n.startswith(("DOCBOT_", "SLACK_"))]:
        monkeypatch.delenv(name)
    for name, value in plain_env(tmp_path).items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("SLACK_APP_TOKEN", "  ")  # blank counts as missing
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "stdin", io.StringIO("quit\n"))
    assert main(["run"]) == 2
    assert "SLACK_BOT_TOKEN and SLACK_APP_TOKEN are not set" in capsys.readouterr().err


def test_a_bad_token_fails_before_any_model_loads(
    fake_slack: FakeSlack, tmp_path: Path, real_chat_model: Path
) -> None:
    env = bot_env(fake_slack, tmp_path) | {
        "SLACK_BOT_TOKEN": "xoxb-not-the-right-one",
        "DOCBOT_MODEL_PATH": str(real_chat_model),
    }
    result = subprocess.run(
        [sys.executable, "-m", "bot", "-v", "run"],  # -v: the old code logged its model loads at INFO too
        cwd=tmp_path,
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 2, result.stderr
    for line in MODEL_LOAD_LINES:
        assert line not in result.stderr, result.stderr
    assert "docbot: SLACK_BOT_TOKEN is not valid (Slack said invalid_auth" in result.stderr
    assert "checking slack tokens api=" + fake_slack.api_url in result.stderr
    assert fake_slack.calls("auth.test") and fake_slack.connection_count == 0


def test_run_logs_its_start_up_at_info_by_default_and_never_the_question_or_tokens(
    fake_slack: FakeSlack, tmp_path: Path
) -> None:
    make_text_pdf(tmp_path / "data" / "club.pdf", ["Cover", ADIDAS], labels=["i", "43"])
    env = bot_env(fake_slack, tmp_path, reindex_minutes="60")
    opened = fake_slack.connections_opened
    bot = BotProcess(
        fake_slack, env, tmp_path / "bot.log", cwd=tmp_path, verbosity=None
    )  # the Procfile's line
    try:
        bot.wait_connected(opened)
        bot.wait_runs(lambda state: state.runs >= 1)
        _, ts = fake_slack.mention(f"How much is the minimum guarantee ({MARKER})?")
        Thread(fake_slack, "C1", ts).wait_answered(timeout=60)
        wait_until(lambda: "answered job=" in bot.log_text(), 20, bot.log_text)
    finally:
        assert bot.stop() == 0
    log = bot.log_text()
    order = [
        log.index(line)
        for line in (
            "INFO bot.serve: slack tokens valid",
            "INFO bot.engine: loading embedding model",
            "INFO bot.engine: embedding model loaded runtime=",
            "INFO bot.engine: index opened",
            "INFO bot.serve: started mode=slack answers=retrieval-only",
            "INFO bot.slack.runner: slack connected",
        )
    ]
    assert order == sorted(order), log
    assert "retrieval-only mode reason=" in log and "reindex scheduled every_minutes=60" in log
    assert "answering job=1" in log and "answered job=1 mode=retrieval-only" in log
    assert MARKER not in log and fake_slack.bot_token not in log and fake_slack.app_token not in log
    assert " DEBUG " not in log and " WARNING " not in log, log  # a healthy start warns of nothing


def test_json_logs_and_healthz_from_a_running_bot(fake_slack: FakeSlack, tmp_path: Path) -> None:
    port = free_port()
    env = bot_env(fake_slack, tmp_path, log_format="json", health_port=str(port))
    opened = fake_slack.connections_opened
    bot = BotProcess(fake_slack, env, tmp_path / "bot.log", cwd=tmp_path, verbosity=None)
    try:
        bot.wait_connected(opened)
        reports: list[tuple[int, dict[str, object]]] = []

        def healthy() -> bool:
            reports.append(get(port))
            return reports[-1][0] == 200

        wait_until(healthy, 30, lambda: str(reports[-1:]))
        report = reports[-1][1]
        assert report["slack_connected"] is True and report["worker_alive"] is True
        assert report["queue_depth"] == 0 and "reindex" in report
        health = subprocess.run(
            [sys.executable, "-m", "bot", "health"],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert health.returncode == 0 and json.loads(health.stdout)["healthy"] is True
    finally:
        assert bot.stop() == 0
    records = [json.loads(line) for line in bot.log_text().splitlines() if line.strip()]
    started = next(r for r in records if r["message"].startswith("started mode=slack"))
    assert started["level"] == "INFO" and started["logger"] == "bot.serve"
    assert started["chunks"] == 0 and isinstance(started["seconds"], float)
    assert any(r["message"].startswith("health endpoint listening") for r in records)
    with pytest.raises(OSError):
        get(port)  # gone with the bot
