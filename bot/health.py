"""A liveness signal for process managers: GET /healthz on 127.0.0.1 from a stdlib HTTP server thread.

The bot hands the server a probe (a function returning the report); `docbot health` asks for it and exits
0 or 1. Healthy means the bot can answer: Socket Mode connected and the worker thread alive and not stuck.
A failed re-index is reported but keeps 200: restarting the bot does not mount a missing share.
"""

from __future__ import annotations

import http.client
import json
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # `docbot health` imports this module and must stay light
    from ingest.schedule import ScheduleState

logger = logging.getLogger(__name__)

HOST = "127.0.0.1"
PATH = "/healthz"
HealthProbe = Callable[[], dict[str, Any]]
"""() -> report; the report's "healthy" (bool) decides between 200 and 503."""


def starting_probe(since: float) -> HealthProbe:
    """The report while the bot is still loading its models."""

    def probe() -> dict[str, Any]:
        return {
            "healthy": False,
            "status": "starting",
            "problems": ["starting: loading models"],
            "starting_for_seconds": round(time.monotonic() - since, 1),
        }

    return probe


@dataclass(frozen=True)
class BotVitals:
    """What the Slack runner knows about itself at one moment."""

    slack_connected: bool
    worker_alive: bool
    queue_depth: int
    answering_for_seconds: float | None  # None when the worker is idle
    stuck_after_seconds: float  # an answer running longer than this means the worker hangs
    reindex: ScheduleState | None
    uptime_seconds: float


def health_report(vitals: BotVitals) -> dict[str, Any]:
    """The JSON served at /healthz."""
    problems = []
    if not vitals.slack_connected:
        problems.append("slack: the Socket Mode connection is down")
    if not vitals.worker_alive:
        problems.append("worker: the answering thread has stopped")
    busy = vitals.answering_for_seconds
    stuck = busy is not None and busy > vitals.stuck_after_seconds
    if stuck:
        problems.append(f"worker: one answer has run for {busy:.0f} s")
    healthy = not problems
    return {
        "healthy": healthy,
        "status": "ok" if healthy else "unhealthy",
        "slack_connected": vitals.slack_connected,
        "worker_alive": vitals.worker_alive,
        "worker_stuck": stuck,
        "answering_for_seconds": None if busy is None else round(busy, 1),
        "queue_depth": vitals.queue_depth,
        "reindex": _reindex(vitals.reindex),
        "uptime_seconds": round(vitals.uptime_seconds, 1),
        "problems": problems,
    }


def _reindex(state: ScheduleState | None) -> dict[str, Any] | None:
    if state is None:
        return None
    last = state.last_run
    return {
        "last_result": last.result if last else None,
        "last_ok": None if last is None else last.error is None,
        "last_finished_at": _iso(last.finished_at) if last else None,
        "running": state.running_since is not None,
        "next_run": _iso(state.next_run) if state.next_run is not None else None,
        "runs": state.runs,
    }


def _iso(at: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(at))


class HealthServer:
    """Serves the probe's report at GET /healthz on 127.0.0.1:`port` (binds when built; OSError if taken)."""

    def __init__(self, port: int, probe: HealthProbe, host: str = HOST) -> None:
        self._probe = probe
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer((host, port), _handler_for(self))
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, name="docbot-health", daemon=True)

    @property
    def port(self) -> int:
        """The port it listens on."""
        return int(self._server.server_address[1])

    def set_probe(self, probe: HealthProbe) -> None:
        """Serve reports from `probe` from now on."""
        with self._lock:
            self._probe = probe

    def report(self) -> dict[str, Any]:
        """The current report; a probe that fails is itself unhealthy."""
        with self._lock:
            probe = self._probe
        try:
            return probe()
        except Exception as exc:
            logger.exception("health probe failed")
            return {"healthy": False, "status": "unhealthy", "problems": [f"health probe failed: {exc}"]}

    def start(self) -> HealthServer:
        """Start serving in a daemon thread."""
        self._thread.start()
        logger.info("health endpoint listening url=http://%s:%d%s", HOST, self.port, PATH)
        return self

    def close(self) -> None:
        """Stop serving and release the port."""
        if self._thread.is_alive():
            self._server.shutdown()
            self._thread.join(5)
        self._server.server_close()


def health_port_problem(port: int, exc: OSError) -> str:
    """One line for a health port that cannot be used."""
    reason = exc.strerror or str(exc)
    return f"health_port {port}: cannot listen on 127.0.0.1:{port} ({reason}); set DOCBOT_HEALTH_PORT"


def _handler_for(server: HealthServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self._answer(body=True)

        def do_HEAD(self) -> None:
            self._answer(body=False)

        def _answer(self, *, body: bool) -> None:
            if self.path.split("?", 1)[0] != PATH:
                self.send_error(404, f"only {PATH} is served here")
                return
            report = server.report()
            data = json.dumps(report).encode()
            self.send_response(200 if report.get("healthy") else 503)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.send_header("Cache-Control", "no-store")
            self.end_headers()
            if body:
                self.wfile.write(data)

        def log_message(self, format: str, *args: Any) -> None:
            logger.debug("health request %s", format % args)

    return Handler


def fetch_health(port: int, timeout: float = 5.0, host: str = HOST) -> tuple[int, dict[str, Any]]:
    """Ask a running bot for its report: (HTTP status, report); raises OSError when nothing answers."""
    connection = http.client.HTTPConnection(host, port, timeout=timeout)
    try:
        connection.request("GET", PATH)
        response = connection.getresponse()
        body = response.read()
    finally:
        connection.close()
    try:
        report = json.loads(body)
    except ValueError:
        report = {"healthy": False, "problems": [f"not a docbot health report: {body[:80]!r}"]}
    if not isinstance(report, dict):
        report = {"healthy": False, "problems": ["not a docbot health report"]}
    return response.status, report
