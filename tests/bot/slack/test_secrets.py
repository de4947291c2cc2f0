"""Slack tokens never show up in logs (DEBUG included), status output, exceptions or crash output.

The bot runs for real against the loopback fake Slack with distinctive tokens, and goes through the
places a token could leak: token checks, Socket Mode connections and reconnections, a Slack 500, a job
that fails (stack trace logged), a model file that is not a model, status replies, a rejected token, a
start-up crash. Every log record (formatted with its traceback), every status text and every exception
message is then searched for the tokens and for pieces of them.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
import traceback
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

import pytest
from langchain_core.embeddings import Embeddings

from bot.answer import Answer, TokenCallback, Turn
from bot.engine import open_engine
from bot.slack.runner import run_slack
from devtools.fake_slack import FakeSlack
from devtools.pdfs import make_text_pdf
from ingest.schedule import read_state
from tests.bot.slack.conftest import STATUS, RunningBot, Thread
from vectorstore.scopes import FileFilter

pytestmark = pytest.mark.timeout(180)

REPO = Path(__file__).resolve().parents[3]
BOT_TOKEN = "xoxb-7391046528-5550123487-Zq8rTfWk3LmNpXcVbHyUe2Sd"
APP_TOKEN = "xapp-1-A0001-8261734950-f3c9e1a7b5d2468ac0e9f1b3d5a7c9e2f4b6d8a0c2e4f6a8"
ADIDAS = "The minimum guarantee payable by adidas over the term of the agreement is 750 million pounds."


def secret_pieces(token: str) -> list[str]:
    """The token and every 12-character window of its secret part (after the xoxb-/xapp- prefix)."""
    secret = token.split("-", 1)[1]
    return [token, *(secret[i : i + 12] for i in range(len(secret) - 11))]


def leaks(texts: Iterable[str]) -> list[str]:
    """Pieces of either token found in any of `texts`."""
    pieces = secret_pieces(BOT_TOKEN) + secret_pieces(APP_TOKEN)
    return sorted({piece for text in texts for piece in pieces if piece in text})


def formatted(records: Sequence[logging.LogRecord]) -> list[str]:
    """Each record as a log file would hold it: message, arguments, traceback and stack."""
    formatter = logging.Formatter("%(asctime)s %(levelname)s %(name)s %(threadName)s: %(message)s")
    return [formatter.format(record) for record in records]


def use_tokens(fake: FakeSlack) -> None:
    fake.bot_token = BOT_TOKEN
    fake.app_token = APP_TOKEN


class FailingOnRequest:
    """The real QA chain, except that a question containing "explode" fails inside the job."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner

    def answer(
        self,
        question: str,
        history: Sequence[Turn] = (),
        on_token: TokenCallback | None = None,
        scope: FileFilter | None = None,
        on_sources: Any = None,
    ) -> Answer:
        if "explode" in question:
            raise RuntimeError(f"the job fell over while answering {question!r}")
        return self.inner.answer(question, history, on_token, scope, on_sources)


def test_a_full_run_with_failures_never_logs_or_shows_a_token(
    fake_slack: FakeSlack,
    make_settings: Callable[..., Any],
    embeddings: Embeddings,
    caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
) -> None:
    caplog.set_level(logging.DEBUG)
    use_tokens(fake_slack)
    bad_model = tmp_path / "llama-2-7b-chat.Q4_K_M.gguf"
    bad_model.write_bytes(b"<html>404 Not Found</html>" * 100)  # a failed download saved as the model
    settings = make_settings(
        slack_bot_token=BOT_TOKEN,
        slack_app_token=APP_TOKEN,
        slack_api_url=fake_slack.api_url,
        model_path=bad_model,
    )
    make_text_pdf(settings.data_dir / "club.pdf", ["Annual report.", ADIDAS])
    engine = open_engine(settings, embeddings=embeddings)
    assert engine.llm is None and engine.llm_problem and str(bad_model) in engine.llm_problem
    engine.sync()
    bot = RunningBot(fake_slack, settings, FailingOnRequest(engine.qa), index_status=engine.status).start()
    shown: list[str] = [repr(settings), str(settings), settings.model_dump_json(), engine.llm_problem]
    try:
        fake_slack.fail_next("chat.postMessage", status=500, times=3)  # Slack's 5xx, retried
        _, ts = fake_slack.mention("How much is the minimum guarantee payable by adidas?")
        [answer] = Thread(fake_slack, "C1", ts).wait_answered(timeout=60)
        assert "750 million" in answer["text"]
        _, boom = fake_slack.mention("please explode")
        apology = Thread(fake_slack, "C1", boom).wait_text("error id", timeout=30)
        fake_slack.send_disconnect()  # a new connection: apps.connections.open again with the app token
        _, again = fake_slack.mention("and once more, the adidas guarantee?")
        Thread(fake_slack, "C1", again).wait_answered(timeout=60)
        status = fake_slack.wait_for_ack(fake_slack.send_slash_command("/docbot", "status"))
        shown += [apology, json.dumps(status)]
        _, dm = fake_slack.dm("status")
        shown.append(Thread(fake_slack, "D1", dm).wait_text("Queue"))
    finally:
        assert bot.stop() == 0
        engine.close()

    # A revoked token is named, never shown.
    fake_slack.invalidate(BOT_TOKEN, "token_revoked")
    assert run_slack(settings, FailingOnRequest(engine.qa), lambda: STATUS) == 2
    captured = capsys.readouterr()
    shown += [captured.out, captured.err]
    assert "SLACK_BOT_TOKEN has been revoked" in captured.err

    records = caplog.records
    logged = formatted(records)
    assert any(r.exc_info and "fell over" in str(r.exc_info[1]) for r in records), "the job's failure"
    assert any(r.levelno == logging.DEBUG and r.name.startswith("slack_") for r in records)
    assert any("internal_error" in text or "500" in text for text in logged), "the Slack 500"
    assert any(str(bad_model) in text for text in logged), "the bad model file"
    exceptions = [
        "".join(traceback.format_exception(*r.exc_info)) for r in records if r.exc_info and r.exc_info[1]
    ]
    assert leaks(logged + shown + exceptions) == []


def reindexed(index: Path) -> bool:
    """True once the bot's first re-index run has finished."""
    state = read_state(index)
    return state is not None and state.last_run is not None


def run_cli(env: dict[str, str], *args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "bot", *args], env=env, cwd=cwd, capture_output=True, text=True, timeout=120
    )


@pytest.mark.slow
def test_the_bot_process_at_debug_level_never_prints_a_token(
    fake_slack: FakeSlack, make_settings: Callable[..., Any], tmp_path: Path
) -> None:
    """`python -m bot -vv run` (the Procfile's process) with a job failing, a 500, a bad model and a crash."""
    use_tokens(fake_slack)
    data, index = tmp_path / "data", tmp_path / "index"
    make_text_pdf(data / "club.pdf", ["Annual report.", ADIDAS])
    truncated = tmp_path / "model.gguf"
    truncated.write_bytes(b"GGUF\x03\x00\x00\x00" + b"\x00" * 40)  # a download cut short
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DOCBOT_", "SLACK_"))}
    env |= {
        "PYTHONPATH": str(REPO),
        "DOCBOT_DATA_DIR": str(data),
        "DOCBOT_INDEX_DIR": str(index),
        "DOCBOT_MODEL_PATH": str(truncated),
        "DOCBOT_SETTLE_SECONDS": "0",
        "SLACK_BOT_TOKEN": BOT_TOKEN,
        "SLACK_APP_TOKEN": APP_TOKEN,
        "SLACK_API_URL": fake_slack.api_url,
    }
    outputs: list[str] = []
    log = tmp_path / "bot.log"
    with (
        log.open("w") as stderr,
        subprocess.Popen(
            [sys.executable, "-m", "bot", "-vv", "run"], env=env, cwd=tmp_path, stdout=stderr, stderr=stderr
        ) as bot,
    ):
        try:
            fake_slack.wait_for(lambda f: f.connection_count > 0 or bot.poll() is not None, 120)
            assert bot.poll() is None, log.read_text()
            fake_slack.wait_for(lambda _: reindexed(index), 60)
            fake_slack.fail_next("chat.update", status=500, times=2)
            _, ts = fake_slack.mention("How much is the minimum guarantee payable by adidas?")
            Thread(fake_slack, "C1", ts).wait_answered(timeout=60)
            # A job whose Slack calls are refused outright: apology attempted, stack trace logged.
            fake_slack.fail_next("chat.postMessage", error="channel_not_found", times=2)
            fake_slack.mention("this one cannot be answered", channel="C9")
            fake_slack.wait_for(lambda _: "error_id=" in log.read_text(), 60)
            status = fake_slack.wait_for_ack(fake_slack.send_slash_command("/docbot", "status"))
            outputs.append(json.dumps(status))
            fake_slack.hang_up()
            bot.send_signal(signal.SIGTERM)
            assert bot.wait(60) == 0, log.read_text()
        finally:
            fake_slack.accept_connections()
            if bot.poll() is None:
                bot.kill()
    text = log.read_text()
    assert "DEBUG slack_sdk" in text and "error_id=" in text and "Traceback" in text
    assert str(truncated) in text  # the model problem names the file
    for args in (["status"], ["status", "--json"], ["-vv", "search", "adidas guarantee"]):
        result = run_cli(env, *args, cwd=tmp_path)
        assert result.returncode == 0, result.stderr
        outputs += [result.stdout, result.stderr]
    # A crash at start (the index dir is a file) prints a traceback: still no token in it.
    crash = run_cli(env | {"DOCBOT_INDEX_DIR": str(data / "club.pdf")}, "-vv", "run", cwd=tmp_path)
    assert crash.returncode != 0
    outputs += [crash.stdout, crash.stderr]
    assert leaks([text, *outputs]) == []
