"""The CPU gate: answers hold it whole, indexer steps take turns, a waiting question always goes first."""

from __future__ import annotations

import threading
from collections.abc import Callable

import pytest

from devtools import waiting
from ingest.cpu_gate import Cancelled, CpuGate

pytestmark = pytest.mark.timeout(30)

WAIT = 10.0


def wait_until(condition: Callable[[], bool], timeout: float = WAIT) -> None:
    waiting.wait_until(condition, timeout)


def in_thread(target: Callable[[], None]) -> threading.Thread:
    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    return thread


def test_a_step_waits_for_the_answer_holding_the_cpu() -> None:
    gate = CpuGate()
    order: list[str] = []

    def index() -> None:
        with gate.step():
            order.append("step")

    with gate.question():
        worker = in_thread(index)
        worker.join(0.2)
        assert worker.is_alive() and order == []  # still waiting while the answer runs
        order.append("answer done")
    worker.join(WAIT)
    assert order == ["answer done", "step"]


def test_a_waiting_question_goes_before_every_waiting_step() -> None:
    gate = CpuGate()
    order: list[str] = []
    release_step = threading.Event()

    def first_step() -> None:
        with gate.step():
            release_step.wait(WAIT)
            order.append("step 1")

    def next_step() -> None:
        with gate.step():
            order.append("step 2")

    def question() -> None:
        with gate.question() as waited:
            assert waited >= 0
            order.append("question")

    steps = in_thread(first_step)
    wait_until(lambda: gate.stats().steps == 1)
    asker = in_thread(question)
    wait_until(gate.question_waiting)
    later = in_thread(next_step)  # arrives after the question; must not overtake it
    release_step.set()
    for thread in (steps, asker, later):
        thread.join(WAIT)
    assert order == ["step 1", "question", "step 2"]
    stats = gate.stats()
    assert (stats.questions, stats.steps) == (1, 2)


def test_cancel_wakes_a_waiting_step() -> None:
    gate = CpuGate()
    cancel = threading.Event()
    outcome: list[str] = []

    def index() -> None:
        try:
            with gate.step(cancel):
                outcome.append("ran")
        except Cancelled:
            outcome.append("cancelled")

    with gate.question():
        worker = in_thread(index)
        cancel.set()
        gate.wake()
        worker.join(WAIT)
        assert outcome == ["cancelled"]
    with pytest.raises(Cancelled), gate.step(cancel):
        pass


def test_the_gate_is_released_when_an_answer_fails() -> None:
    gate = CpuGate()
    with pytest.raises(RuntimeError), gate.question():
        raise RuntimeError("model fell over")
    with gate.step():
        assert not gate.question_waiting()
