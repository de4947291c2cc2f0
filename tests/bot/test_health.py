"""/healthz over real loopback HTTP, the report's verdicts, and `docbot health`'s exit codes."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from bot.health import BotVitals, HealthServer, health_report, starting_probe
from ingest.schedule import RunRecord, ScheduleState

REPO = Path(__file__).resolve().parents[2]
HEALTHY = BotVitals(
    slack_connected=True,
    worker_alive=True,
    queue_depth=2,
    answering_for_seconds=None,
    stuck_after_seconds=1260,
    reindex=ScheduleState(5, RunRecord(1.0e9, 1.0e9 + 3, "0 indexed", False), 1.0e9 + 300, None, 1, 1),
    uptime_seconds=12.34,
)


def get(port: int, path: str = "/healthz") -> tuple[int, dict[str, Any]]:
    """GET over loopback with no proxy; (status, JSON body)."""
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(f"http://127.0.0.1:{port}{path}", timeout=5) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        body = exc.read()
        return exc.code, json.loads(body) if exc.headers.get("Content-Type") == "application/json" else {}


@pytest.fixture
def server() -> Iterator[HealthServer]:
    health = HealthServer(0, lambda: health_report(HEALTHY)).start()
    yield health
    health.close()


def test_a_healthy_bot_answers_200_with_every_field(server: HealthServer) -> None:
    status, report = get(server.port)
    assert status == 200
    assert report["healthy"] is True and report["status"] == "ok" and report["problems"] == []
    assert report["slack_connected"] is True and report["worker_alive"] is True
    assert report["queue_depth"] == 2 and report["answering_for_seconds"] is None
    assert report["reindex"]["last_result"] == "0 indexed" and report["reindex"]["last_ok"] is True
    assert report["reindex"]["next_run"] == "2001-09-09T01:51:40Z" and report["uptime_seconds"] == 12.3


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        ({"slack_connected": False}, "slack: the Socket Mode connection is down"),
        ({"worker_alive": False}, "worker: the answering thread has stopped"),
        ({"answering_for_seconds": 2000.0}, "worker: one answer has run for 2000 s"),
    ],
)
def test_each_failure_answers_503_naming_it(
    server: HealthServer, change: dict[str, Any], problem: str
) -> None:
    vitals = BotVitals(**{**HEALTHY.__dict__, **change})
    server.set_probe(lambda: health_report(vitals))
    status, report = get(server.port)
    assert status == 503 and report["healthy"] is False and report["problems"] == [problem]


def test_a_failed_reindex_is_reported_but_stays_healthy() -> None:
    failed = RunRecord(1.0e9, 1.0e9, "skipped: data dir /mnt/x is missing", False, None, "missing")
    state = ScheduleState(5, failed, None, None, 3, 1)
    report = health_report(BotVitals(**{**HEALTHY.__dict__, "reindex": state}))
    assert report["healthy"] is True and report["reindex"]["last_ok"] is False


def test_starting_failing_probe_and_other_paths(server: HealthServer) -> None:
    server.set_probe(starting_probe(0.0))
    status, report = get(server.port)
    assert status == 503 and report["status"] == "starting"

    def broken() -> dict[str, Any]:
        raise RuntimeError("queue closed")

    server.set_probe(broken)
    status, report = get(server.port)
    assert status == 503 and "queue closed" in report["problems"][0]
    assert get(server.port, "/")[0] == 404


def test_it_listens_on_loopback_only(server: HealthServer) -> None:
    assert server._server.server_address[0] == "127.0.0.1"


def test_a_taken_port_fails_at_once() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        with pytest.raises(OSError):
            HealthServer(taken.getsockname()[1], lambda: {"healthy": True})


def docbot_health(*args: str, port: int | None = None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DOCBOT_", "SLACK_"))}
    env["PYTHONPATH"] = str(REPO)
    if port is not None:
        env["DOCBOT_HEALTH_PORT"] = str(port)
    return subprocess.run(
        [sys.executable, "-m", "bot", "health", *args],
        env=env,
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_docbot_health_exit_codes(server: HealthServer) -> None:
    healthy = docbot_health(port=server.port)
    assert healthy.returncode == 0, healthy.stderr
    assert json.loads(healthy.stdout)["slack_connected"] is True

    server.set_probe(lambda: health_report(BotVitals(**{**HEALTHY.__dict__, "worker_alive": False})))
    sick = docbot_health("--port", str(server.port))
    assert sick.returncode == 1 and json.loads(sick.stdout)["worker_alive"] is False

    with socket.socket() as free:
        free.bind(("127.0.0.1", 0))
        unused = free.getsockname()[1]
    nobody = docbot_health(port=unused)
    assert nobody.returncode == 1 and "no bot answers on 127.0.0.1" in nobody.stdout

    off = docbot_health()
    assert off.returncode == 1 and "health_port is 0 (off)" in off.stderr
