"""A small threaded HTTP proxy on 127.0.0.1 that answers with scripted faults before passing requests on.

    proxy = FaultProxy("127.0.0.1", upstream_port, faults=["429", "500"])   # then pass-through
    proxy.base_url  # point docbot's llm_base_url here

Faults, one per request in order (later requests pass through): "429" (with Retry-After: 0) and any
other status code as a JSON error; "pass" passes one request on; "drop:N" passes it on but breaks the
streamed body off after N lines (no final chunk: the client sees a broken chunked stream); "stall" reads
the request and answers nothing for STALL_SECONDS. Every request is recorded (time, path, fault,
Authorization header), and so is a client that went away while its answer was still being relayed.
"""

from __future__ import annotations

import http.client
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

STALL_SECONDS = 30.0
HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "content-length", "host"}


@dataclass
class Seen:
    """One request the proxy got."""

    at: float
    method: str
    path: str
    fault: str | None
    authorization: str | None
    client_gone: bool = False
    lines_relayed: int = 0


@dataclass
class FaultProxy:
    """The proxy; `close()` when done."""

    upstream_host: str
    upstream_port: int
    faults: list[str] = field(default_factory=list)
    seen: list[Seen] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        self.client_gone = threading.Event()
        self._closing = threading.Event()
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: object) -> None:
                pass

            def do_GET(self) -> None:
                proxy._handle(self, b"")

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                proxy._handle(self, self.rfile.read(length))

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, name="fault-proxy", daemon=True)
        self._thread.start()

    @property
    def base_url(self) -> str:
        """The proxy's API root."""
        return f"http://127.0.0.1:{self._server.server_address[1]}/v1"

    def requests(self, path_suffix: str = "/chat/completions") -> list[Seen]:
        """The requests seen for paths ending in `path_suffix`."""
        with self._lock:
            return [s for s in self.seen if s.path.endswith(path_suffix)]

    def _next_fault(self, path: str) -> str | None:
        if not path.endswith("/chat/completions"):
            return None  # faults hit answers only; model lists and token counts pass
        with self._lock:
            fault = self.faults.pop(0) if self.faults else None
        return fault

    def _handle(self, handler: BaseHTTPRequestHandler, body: bytes) -> None:
        fault = self._next_fault(handler.path)
        record = Seen(
            time.monotonic(), handler.command, handler.path, fault, handler.headers.get("Authorization")
        )
        with self._lock:
            self.seen.append(record)
        if fault == "stall":
            self._closing.wait(STALL_SECONDS)  # a server that never answers, until the proxy closes
            handler.close_connection = True
            return
        if fault is not None and fault != "pass" and not fault.startswith("drop:"):
            payload = b'{"error": {"message": "injected fault %s"}}' % fault.encode()
            handler.send_response(int(fault))
            handler.send_header("Content-Type", "application/json")
            handler.send_header("Content-Length", str(len(payload)))
            if fault == "429":
                handler.send_header("Retry-After", "0")
            handler.end_headers()
            handler.wfile.write(payload)
            return
        drop_after = int(fault.split(":", 1)[1]) if fault and fault.startswith("drop:") else None
        self._relay(handler, body, record, drop_after)

    def _relay(
        self, handler: BaseHTTPRequestHandler, body: bytes, record: Seen, drop_after: int | None
    ) -> None:
        upstream = http.client.HTTPConnection(self.upstream_host, self.upstream_port, timeout=120)
        try:
            headers = {k: v for k, v in handler.headers.items() if k.lower() not in HOP_BY_HOP}
            upstream.request(handler.command, handler.path, body=body or None, headers=headers)
            response = upstream.getresponse()
            handler.send_response(response.status)
            for key, value in response.getheaders():
                if key.lower() not in HOP_BY_HOP:
                    handler.send_header(key, value)
            handler.send_header("Transfer-Encoding", "chunked")
            handler.end_headers()
            try:
                while line := response.readline():
                    if drop_after is not None and record.lines_relayed >= drop_after:
                        handler.close_connection = True
                        return  # no terminating chunk: the stream breaks off
                    handler.wfile.write(b"%x\r\n%s\r\n" % (len(line), line))
                    handler.wfile.flush()
                    record.lines_relayed += 1
                handler.wfile.write(b"0\r\n\r\n")
                handler.wfile.flush()
            except (BrokenPipeError, ConnectionResetError):
                record.client_gone = True
                self.client_gone.set()
                handler.close_connection = True
        finally:
            upstream.close()  # closing it tells the server the asker is gone

    def close(self) -> None:
        """Stop serving (a stalled request is let go)."""
        self._closing.set()
        self._server.shutdown()
        self._server.server_close()
