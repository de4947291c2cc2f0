"""llama-cpp-python's own OpenAI-compatible server (`python -m llama_cpp.server`, the `server` extra) on
127.0.0.1 with the real SmolLM2 model, for the tests of docbot's server backend."""

from __future__ import annotations

import contextlib
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

MODEL_ALIAS = "smollm2"
START_SECONDS = 90.0


def free_port() -> int:
    """A TCP port nothing listens on now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class LlamaServer:
    """One running server process."""

    process: subprocess.Popen[bytes]
    port: int
    log: Path

    @property
    def base_url(self) -> str:
        """The API root docbot is pointed at."""
        return f"http://127.0.0.1:{self.port}/v1"

    def kill(self) -> None:
        """Kill it at once (SIGKILL) and reap it."""
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait(30)

    def stop(self) -> None:
        """Stop it politely, then for sure."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)


def start_llama_server(model: Path, log_dir: Path, *, threads: int = 2) -> LlamaServer:
    """Start the server and wait (with a deadline) until /v1/models lists the model."""
    port = free_port()
    log = log_dir / f"llama-server-{port}.log"
    command = [
        sys.executable,
        "-m",
        "llama_cpp.server",
        "--model",
        str(model),
        "--model_alias",
        MODEL_ALIAS,
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--n_threads",
        str(threads),
        "--n_ctx",
        "4096",
    ]
    with log.open("wb") as out:
        process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT)
    server = LlamaServer(process, port, log)
    deadline = time.monotonic() + START_SECONDS
    while True:
        if process.poll() is not None:
            raise RuntimeError(
                f"llama_cpp.server exited with {process.returncode}:\n{log.read_text()[-3000:]}"
            )
        with contextlib.suppress(httpx.TransportError):
            response = httpx.get(f"{server.base_url}/models", timeout=2)
            if response.status_code == 200 and MODEL_ALIAS in response.text:
                return server
        if time.monotonic() > deadline:
            server.kill()
            raise RuntimeError(
                f"llama_cpp.server not up within {START_SECONDS} s:\n{log.read_text()[-3000:]}"
            )
        threading.Event().wait(0.1)  # poll /models again


@pytest.fixture(scope="session")
def llm_server(real_chat_model: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LlamaServer]:
    """One server for the whole session (tests that kill a server start their own)."""
    pytest.importorskip("llama_cpp.server", reason="the llama-cpp-python[server] extra is not installed")
    server = start_llama_server(real_chat_model, tmp_path_factory.mktemp("llm-server"))
    yield server
    server.stop()
