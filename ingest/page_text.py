"""Extract one huge PDF page's text in a child process: killed at the file's time limit, and stopped
(SIGSTOP) whenever a question wants the CPU, so a question never waits for the page.

pypdf's extraction of one page cannot be interrupted from inside (its cost grows with the number of text
operators times the text already extracted: minutes for a 10 MB page), and it holds the GIL, so a thread
would not do. The child re-opens the file and prints the page's text; the parent holds a CPU-gate turn
while the child runs, and gives the turn back (the child paused) when a question is waiting.
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from contextlib import AbstractContextManager
from pathlib import Path
from typing import IO

from ingest.cpu_gate import Cancelled, Turn

logger = logging.getLogger(__name__)

POLL_SECONDS = 0.05
_ROOT = str(Path(__file__).resolve().parents[1])
_CHILD = "import sys; sys.path.insert(0, sys.argv[3]); from ingest.page_text import main; main()"
_ERROR_CHARS = 300
_ENCODING = ("utf-8", "surrogatepass")

TurnFn = Callable[[], AbstractContextManager[object]]
"""A CPU turn for the parent while the child works (a CpuGate step, or nullcontext without a gate)."""


class PageTooSlow(Exception):
    """The file's time limit ran out while the child extracted the page (the child was killed)."""


class PageFailed(Exception):
    """The child could not extract the page; the message is its last error line."""


def page_text_in_child(path: Path, index: int, turns: TurnFn, over_time: Callable[[], bool]) -> str:
    """The text of page `index` (0-based) of `path`, extracted by a child process.

    The child runs only while the parent holds a turn from `turns` (it is started inside the first);
    when the turn's gate has a question waiting the child is stopped and the turn given back until the
    next one. `over_time()` is polled: once it is true the child is killed and PageTooSlow raised; a
    cancelled turn kills it and raises Cancelled.
    """
    started = time.monotonic()
    child: subprocess.Popen[bytes] | None = None
    out: list[bytes] = []
    err: list[bytes] = []
    readers: list[threading.Thread] = []
    pauses = 0
    try:
        while True:
            with turns() as turn:
                if child is None:
                    child = _spawn(path, index)
                    readers = [_drain(child.stdout, out), _drain(child.stderr, err)]
                else:
                    os.kill(child.pid, signal.SIGCONT)
                if _run_turn(child, turn, over_time):
                    break
            pauses += 1
    finally:
        if child is not None and child.poll() is None:
            child.kill()  # SIGKILL ends a stopped process too
            child.wait()
        for reader in readers:
            reader.join()
    assert child is not None  # the loop only ends after starting it
    logger.info(
        "page extracted in a child page=%d seconds=%.1f pauses=%d exit=%d",
        index + 1,
        time.monotonic() - started,
        pauses,
        child.returncode,
    )
    if child.returncode != 0:
        lines = b"".join(err).decode("utf-8", "replace").strip().splitlines()
        raise PageFailed((lines[-1] if lines else f"exit status {child.returncode}")[:_ERROR_CHARS])
    return _payload(b"".join(out))


def _spawn(path: Path, index: int) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-c", _CHILD, str(path), str(index), _ROOT],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )


def _run_turn(child: subprocess.Popen[bytes], turn: object, over_time: Callable[[], bool]) -> bool:
    """Let the child run during this turn; True once it exited, False when it was paused for a question."""
    while True:
        try:
            child.wait(POLL_SECONDS)
            return True
        except subprocess.TimeoutExpired:
            pass
        if over_time():
            raise PageTooSlow()
        if isinstance(turn, Turn):
            if turn.cancelled():
                raise Cancelled()
            if turn.question_waiting():
                return _stop(child)


def _stop(child: subprocess.Popen[bytes]) -> bool:
    """Stop the child and wait until it is stopped (a signal takes effect asynchronously); True if it
    exited first (its exit status is then recorded on `child`)."""
    os.kill(child.pid, signal.SIGSTOP)
    _, status = os.waitpid(child.pid, os.WUNTRACED)
    if os.WIFSTOPPED(status):
        return False
    child.returncode = os.waitstatus_to_exitcode(status)
    return True


def _drain(stream: IO[bytes] | None, into: list[bytes]) -> threading.Thread:
    """Read a child's pipe to the end in a thread (a full pipe would block the child)."""

    def read() -> None:
        if stream is not None:
            with stream:
                into.append(stream.read())

    thread = threading.Thread(target=read, name="docbot-page-pipe", daemon=True)
    thread.start()
    return thread


def main() -> None:
    """The child: print the byte length of page argv[2]'s text (PDF argv[1]), a newline, then the text."""
    from ingest.pdf_open import page_text_here

    data = page_text_here(Path(sys.argv[1]), int(sys.argv[2])).encode(*_ENCODING)
    write_all(sys.stdout.fileno(), b"%d\n" % len(data) + data)


def write_all(fd: int, data: bytes) -> None:
    """Write every byte to `fd`, however many short writes it takes.

    A write blocked on a full pipe returns short when the child is stopped (SIGSTOP, for a question) and
    continued; sys.stdout's buffered writer then dropped the rest on Python 3.11 (seen: 128 KiB of a
    315 KiB page arrived, exit status 0), so the parent would have indexed a truncated page.
    """
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def _payload(raw: bytes) -> str:
    """The text from the child's output, checked against the length it announced."""
    header, _, body = raw.partition(b"\n")
    if not header.isdigit() or int(header) != len(body):
        raise PageFailed(f"the page's text arrived incomplete ({len(body)} bytes, announced {header[:20]!r})")
    return body.decode(*_ENCODING)
