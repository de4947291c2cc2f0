"""Disk full or a read-only index during a re-index: a clear error in the log, in status and in the notify
channel; the last good index keeps answering; the file is indexed once the disk has room again.

Disk full is real: the bot process runs with RLIMIT_FSIZE, so the kernel refuses (EFBIG) any write that
would grow a file past the limit, exactly where a full disk refuses it (ENOSPC): in SQLite's WAL while the
new file's chunks are committed. A read-only index cannot be made under a running process here: root
ignores permission bits, and Linux refuses to remount a filesystem read-only while files on it are open for
writing (EBUSY). So the read-only test switches the running store's SQLite connection to `query_only`,
which fails every write with SQLITE_READONLY, the error a read-only database file gives.
"""

from __future__ import annotations

import json
import resource
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from langchain_core.embeddings import Embeddings

from bot.engine import open_engine
from bot.reindex import build_reindexer
from devtools.bot_process import BotProcess, bot_env
from devtools.fake_slack import FakeSlack
from devtools.pdfs import make_text_pdf
from ingest.cpu_gate import CpuGate
from ingest.schedule import ScheduleState
from ingest.sync import SyncOptions, sync_folder
from models.embeddings import embedding_model_id
from tests.bot.slack.conftest import RunningBot, Thread
from vectorstore.store import IndexStore

pytestmark = [pytest.mark.timeout(300), pytest.mark.slow]

ADIDAS = "The minimum guarantee payable by adidas over the term of the agreement is 750 million pounds."
QUESTION = "How much is the minimum guarantee payable by adidas?"
PENSION = "The Northwind pension fund holds {n} million euros of bonds and pays retirees every month."
OPS = "C0OPS"


def club_index(root: Path, embeddings: Embeddings) -> None:
    """The last good index: club.pdf, with the adidas guarantee on page 2 (printed 43)."""
    make_text_pdf(root / "data" / "club.pdf", ["Annual report 2022.", ADIDAS], labels=["i", "43"])
    store = IndexStore(root / "index", dim=384, model_id=embedding_model_id(""))
    sync_folder(root / "data", store, embeddings, SyncOptions())
    store.close()


def big_report(path: Path, pages: int = 20) -> None:
    """A report whose chunks need a few hundred KiB of index."""
    make_text_pdf(path, ["\n".join(PENSION.format(n=p * 40 + i) for i in range(30)) for p in range(pages)])


def failures(state: ScheduleState) -> dict[str, str]:
    report = state.last_run.report if state.last_run else None
    return {f["file"]: f["reason"] for f in (report or {}).get("failed", [])}


def indexed(state: ScheduleState) -> list[str]:
    report = state.last_run.report if state.last_run else None
    return list((report or {}).get("indexed", []))


def cited_files(answer: dict[str, Any]) -> str:
    return str(answer["text"]).split("*Sources*", 1)[-1]


def test_disk_full_during_a_reindex(fake_slack: FakeSlack, tmp_path: Path, embeddings: Embeddings) -> None:
    club_index(tmp_path, embeddings)
    big_report(tmp_path / "data" / "pensions.pdf")
    index = tmp_path / "index"
    limit = max(p.stat().st_size for p in index.iterdir()) + 96 * 1024

    def full_disk() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, resource.RLIM_INFINITY))

    env = bot_env(fake_slack, tmp_path, reindex_minutes="0.1", notify_channel=OPS)
    bot = BotProcess(fake_slack, env, tmp_path / "bot.log", cwd=tmp_path, preexec=full_disk)
    try:
        bot.wait_connected(0)
        state = bot.wait_runs(lambda s: "pensions.pdf" in failures(s))
        reason = failures(state)["pensions.pdf"]
        # SQLite's words for EFBIG; ENOSPC reads "database or disk is full".
        assert reason == "error: OperationalError: disk I/O error", reason
        assert "1 failed" in state.last_run.result if state.last_run else False
        log = bot.log_text()
        assert "ERROR ingest.sync: indexing failed file='pensions.pdf'" in log
        assert "sqlite3.OperationalError: disk I/O error" in log
        notice = fake_slack.wait_for_calls("chat.postMessage", where=lambda c: c.args["channel"] == OPS)[0]
        assert f"pensions.pdf skipped: {reason}" in notice.args["text"]
        # Both status views say which file failed and why.
        human = subprocess.run(
            [sys.executable, "-m", "bot", "status"], env=env, cwd=tmp_path, capture_output=True, text=True
        )
        assert f"  pensions.pdf: {reason}\n" in human.stdout, human.stdout + human.stderr
        slash = fake_slack.wait_for_ack(fake_slack.send_slash_command("/docbot", "status"))["payload"]
        assert f"• pensions.pdf: {reason}" in slash["text"]

        # The last good index keeps answering, with its citation.
        _, ts = fake_slack.mention(QUESTION)
        [answer] = Thread(fake_slack, "C1", ts).wait_answered(timeout=60)
        assert "club.pdf" in cited_files(answer) and "p. 2 (printed 43)" in answer["text"]
        assert "pensions.pdf" not in answer["text"]

        # Room again (the limit lifted from outside the process): the next run indexes the file.
        resource.prlimit(
            bot.proc.pid, resource.RLIMIT_FSIZE, (resource.RLIM_INFINITY, resource.RLIM_INFINITY)
        )
        bot.wait_runs(lambda s: "pensions.pdf" in indexed(s))
        _, ts = fake_slack.mention("How much does the Northwind pension fund hold in bonds?")
        [answer] = Thread(fake_slack, "C1", ts).wait_answered(timeout=60)
        assert "pensions.pdf" in cited_files(answer)
        assert bot.stop() == 0, bot.log_text()
    finally:
        bot.close()
    shown = subprocess.run(
        [sys.executable, "-m", "bot", "status", "--json"],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
    )
    status = json.loads(shown.stdout)
    assert status["problems"] == [] and status["files"] == 2


def test_read_only_index_during_a_reindex(
    fake_slack: FakeSlack, make_settings: Callable[..., Any], embeddings: Embeddings, tmp_path: Path
) -> None:
    settings = make_settings(
        slack_bot_token=fake_slack.bot_token,
        slack_app_token=fake_slack.app_token,
        slack_api_url=fake_slack.api_url,
        reindex_minutes=10,
    )
    club_index(tmp_path, embeddings)
    engine = open_engine(settings, load_llm=False, embeddings=embeddings)
    gate = CpuGate()
    reindex = build_reindexer(engine, gate)
    bot = RunningBot(
        fake_slack, settings, engine.qa, index_status=engine.status, cpu_gate=gate, reindex=reindex
    ).start()
    try:
        assert reindex.wait_for_runs(1, 60)
        engine.store._db.execute("PRAGMA query_only = ON")  # see the module docstring
        big_report(settings.data_dir / "pensions.pdf", pages=2)
        assert reindex.wait_for(reindex.run_now(), 60)
        state = reindex.state()
        assert failures(state) == {
            "pensions.pdf": "error: OperationalError: attempt to write a readonly database"
        }
        status = fake_slack.wait_for_ack(fake_slack.send_slash_command("/docbot", "status"))["payload"][
            "text"
        ]
        assert "*Re-index:* last" in status and "1 failed" in status
        assert "• pensions.pdf: error: OperationalError: attempt to write a readonly database" in status

        _, ts = fake_slack.mention(QUESTION)
        [answer] = Thread(fake_slack, "C1", ts).wait_answered(timeout=60)
        assert "club.pdf" in cited_files(answer) and "pensions.pdf" not in answer["text"]
        assert engine.store.check() == []
    finally:
        assert bot.stop() == 0
        reindex.stop()
        engine.close()
