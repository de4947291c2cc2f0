"""The worker holds the CPU gate for a whole answer: re-indexing steps wait until the answer is posted."""

from __future__ import annotations

import threading

import pytest

from ingest.cpu_gate import CpuGate
from tests.bot.answerers import ScriptedAnswerer
from tests.bot.worker_rig import Rig

pytestmark = pytest.mark.timeout(60)


def test_an_indexing_step_waits_for_the_whole_answer(rig: Rig) -> None:
    gate = CpuGate()
    release = threading.Event()
    answerer = ScriptedAnswerer(gate=release)
    rig.worker(answerer, cpu_gate=gate)
    job = rig.ask("How much is the minimum guarantee payable by adidas?")
    rig.fake.wait_for(lambda _: answerer.started.is_set())
    order: list[str] = []

    def index_step() -> None:
        with gate.step():
            order.append("step")

    indexer = threading.Thread(target=index_step, daemon=True)
    indexer.start()
    indexer.join(0.3)
    assert indexer.is_alive() and order == []  # the answer is still generating
    release.set()
    rig.wait_answered(job)
    indexer.join(10)
    assert order == ["step"]
    assert gate.stats().questions == 1


def test_a_failed_answer_gives_the_cpu_back(rig: Rig) -> None:
    gate = CpuGate()
    rig.worker(ScriptedAnswerer(), cpu_gate=gate)
    job = rig.ask("please explode")
    rig.fake.wait_for(lambda _: "error id" in rig.final_text(job).lower())
    stepped = threading.Event()

    def index_step() -> None:
        with gate.step():
            stepped.set()

    threading.Thread(target=index_step, daemon=True).start()
    assert stepped.wait(10)
