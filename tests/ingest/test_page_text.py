"""A huge page is extracted in a child process: the same text as in-process, killed at the file's time
limit, stopped while a question holds the CPU gate (so the question never waits for the page), killed when
the sync is cancelled. Generated pages here are small, with a low size threshold; the 10 MB page is in the
soak (tests/ingest/test_huge_inputs.py)."""

from __future__ import annotations

import fcntl
import os
import signal
import termios
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from devtools import waiting
from ingest.cpu_gate import Cancelled, CpuGate
from ingest.page_text import PageFailed, _payload, _spawn
from ingest.pdf import PdfReadError, read_pdf
from tests.ingest.test_huge_inputs import one_page_pdf

pytestmark = pytest.mark.timeout(120)

THRESHOLD = 10_000  # bytes of content stream; the pages below are far over it
HOLD_SECONDS = 0.1


def page(tmp_path: Path, size: int) -> Path:
    """One page of short text lines: pypdf's slowest kind per byte."""
    return one_page_pdf(tmp_path / f"page-{size}.pdf", size, words_per_line=3)


def page_children() -> dict[int, str]:
    """This process's page-extraction children: pid -> state letter (R running, S sleeping, T stopped)."""
    found = {}
    for task in Path(f"/proc/{os.getpid()}/task").iterdir():
        try:
            pids = (task / "children").read_text().split()
        except OSError:
            continue
        for pid in pids:
            try:
                if b"ingest.page_text" not in Path(f"/proc/{pid}/cmdline").read_bytes():
                    continue
                found[int(pid)] = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
            except OSError:
                continue
    return found


@contextmanager
def reading_in_a_thread(path: Path, **kwargs: object) -> Iterator[dict[str, object]]:
    """read_pdf(path) in a thread; the dict gets "document" or "error" once it returns."""
    result: dict[str, object] = {}

    def read() -> None:
        try:
            result["document"] = read_pdf(path, big_page_bytes=THRESHOLD, **kwargs)  # type: ignore[arg-type]
        except BaseException as exc:
            result["error"] = exc

    thread = threading.Thread(target=read, daemon=True)
    thread.start()
    try:
        yield result
    finally:
        thread.join(60)
        assert not thread.is_alive()


def wait_until(condition: Callable[[], object], timeout: float = 30) -> None:
    waiting.wait_until(condition, timeout)


def test_the_child_extracts_the_same_text(tmp_path: Path) -> None:
    path = page(tmp_path, 60_000)
    here = read_pdf(path)  # default threshold: in this process
    there = read_pdf(path, big_page_bytes=THRESHOLD)
    assert there.pages == here.pages and "the needle: platypus dividend of 4711 crowns" in there.pages[0].text
    assert page_children() == {}


def test_the_time_limit_kills_the_extraction_of_one_page(tmp_path: Path) -> None:
    """In-process, one page is one step: the per-file limit is checked between pages, never inside one."""
    path = page(tmp_path, 400_000)
    with pytest.raises(PdfReadError) as raised:
        read_pdf(path, big_page_bytes=THRESHOLD, max_seconds=0.2)
    assert raised.value.reason == "corrupt: took longer than 0.2 s"
    assert page_children() == {}


def test_a_question_never_waits_for_the_page(tmp_path: Path) -> None:
    path = page(tmp_path, 400_000)
    gate = CpuGate()
    waits: list[float] = []
    states_while_question_held: list[str] = []
    with reading_in_a_thread(path, step=gate.step) as result:
        wait_until(lambda: page_children() or result)
        pause = threading.Event()
        while not result:
            with gate.question() as waited:
                waits.append(waited)
                states_while_question_held += page_children().values()
                pause.wait(HOLD_SECONDS)
            pause.wait(HOLD_SECONDS / 2)
    assert "document" in result, result
    assert "4711 crowns" in result["document"].pages[0].text  # type: ignore[attr-defined]
    assert "T" in states_while_question_held, "the child should have been stopped while a question ran"
    assert set(states_while_question_held) <= {"T", "Z"}  # never running while a question holds the CPU
    assert waits and max(waits) < 1.0, waits


def test_cancelling_the_sync_kills_the_child(tmp_path: Path) -> None:
    path = page(tmp_path, 400_000)
    gate, cancel = CpuGate(), threading.Event()
    with reading_in_a_thread(path, step=lambda: gate.step(cancel)) as result:
        wait_until(lambda: page_children() or result)
        cancel.set()
    assert isinstance(result.get("error"), Cancelled), result
    assert page_children() == {}


def test_a_child_stopped_in_the_middle_of_its_output_still_sends_all_of_it(tmp_path: Path) -> None:
    # The question gate stops the child with SIGSTOP; stopped while blocked on a full pipe, its write
    # returns short. Python's buffered stdout then dropped the rest (128 KiB of 315 KiB, exit status 0).
    path = page(tmp_path, 400_000)
    child = _spawn(path, 0)
    assert child.stdout is not None
    try:
        pending = bytearray(4)

        def pipe_full() -> bool:
            fcntl.ioctl(child.stdout.fileno(), termios.FIONREAD, pending)  # type: ignore[union-attr]
            return int.from_bytes(pending, "little") >= 65536

        wait_until(pipe_full)  # the child extracted the page and is blocked writing it
        os.kill(child.pid, signal.SIGSTOP)
        _, status = os.waitpid(child.pid, os.WUNTRACED)
        assert os.WIFSTOPPED(status)
        os.kill(child.pid, signal.SIGCONT)
        raw = child.stdout.read()
        assert child.wait(30) == 0
    finally:
        child.kill()
        child.stdout.close()
    text = _payload(raw)
    assert "the needle: platypus dividend of 4711 crowns" in text[-100:] and len(text) > 300_000


def test_output_shorter_than_announced_is_a_failed_page() -> None:
    assert _payload(b"5\nhello") == "hello"
    with pytest.raises(PageFailed, match="incomplete"):
        _payload(b"322129\nrevenue guarantee sponso")
    with pytest.raises(PageFailed, match="incomplete"):
        _payload(b"")
