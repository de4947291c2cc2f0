"""The worker against the loopback fake Slack: streaming, final answer, failures, retries, stop/checkpoint."""

from __future__ import annotations

import itertools
import logging
import threading

import pytest

from devtools.waiting import wait_until
from tests.bot.answerers import MANU, ScriptedAnswerer
from tests.bot.worker_rig import INTERVAL, Rig

pytestmark = pytest.mark.timeout(60)


def test_streams_partial_answers_then_finalises_one_message(rig: Rig) -> None:
    def shown_in_slack(so_far: str) -> None:
        rig.fake.wait_for(
            lambda f: any(so_far in str(c.args.get("text", "")) for c in f.calls("chat.update")), 5
        )

    def sources_shown() -> None:
        rig.fake.wait_for(lambda f: any("p. 53" in str(c.args) for c in f.calls("chat.update")), 5)

    answerer = ScriptedAnswerer(
        text_for=lambda q: "The guarantee is 750 million pounds",
        after_token=shown_in_slack,
        after_sources=sources_shown,
    )
    rig.worker(answerer)
    job = rig.ask("How much is the minimum guarantee?")
    rig.wait_answered(job)

    assert len(rig.fake.calls("chat.postMessage")) == 1  # the placeholder; everything else is an update
    updates = rig.fake.calls("chat.update")
    # The pages retrieval found come first, before the model's first word, under a status line.
    first = str(updates[0].args["blocks"])
    assert "Writing the answer" in first and f"{MANU}* — p. 53 (printed 43)" in first
    assert "The guarantee" not in first
    partials = [str(c.args["text"]) for c in updates[1:-1]]
    assert partials[0] == "The" and partials[-1] == "The guarantee is 750 million pounds"
    # The answer streams in above the sources, which stay in view.
    streaming = updates[-2].args["blocks"]
    assert "The guarantee is 750 million pounds" in str(streaming[0]) and "p. 53" in str(streaming[-1])
    gaps = [b.at - a.at for a, b in itertools.pairwise(updates)]
    assert min(gaps) >= INTERVAL * 0.9  # never more than one update per interval
    final = rig.bot_messages(job)
    assert len(final) == 1
    assert "The guarantee is 750 million pounds" in final[0]["text"]
    assert f"{MANU}* — p. 53 (printed 43), p. 75" in final[0]["text"]
    assert "Index: 3 files, never updated" in final[0]["text"]
    # the worker records the answer in the queue just after its final update reaches Slack
    wait_until(lambda: rig.queue.history(job.channel, job.thread_ts), 5, "answer not recorded")
    assert rig.queue.history(job.channel, job.thread_ts)[0].answer == "The guarantee is 750 million pounds"


def test_follow_up_gets_the_thread_history(rig: Rig) -> None:
    answerer = ScriptedAnswerer()
    rig.worker(answerer)
    first = rig.ask("revenue in 2022?")
    rig.wait_answered(first)
    follow = rig.queue.enqueue(
        event_id="EvF",
        channel="C1",
        ts="1800000000.000001",
        thread_ts=first.thread_ts,
        user="U1",
        question="and in 2021?",
    )
    assert follow.job is not None
    rig.fake.wait_for(lambda _: len(answerer.calls) == 2)
    question, history = answerer.calls[1]
    assert question == "and in 2021?"
    assert [(t.question, t.answer) for t in history] == [("revenue in 2022?", "Answer to: revenue in 2022?")]


def test_a_job_that_raises_gets_an_apology_with_an_error_id_and_the_worker_goes_on(
    rig: Rig, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.ERROR, logger="bot.worker")
    rig.worker(ScriptedAnswerer())
    bad = rig.ask("please explode")
    good = rig.ask("a fine question")
    rig.wait_answered(good)

    apology = rig.final_text(bad)
    assert "Sorry, something went wrong" in apology and "Sources" not in apology
    error_id = apology.split("error id ")[1].split(")")[0]
    assert len(error_id) == 10
    logged = [r for r in caplog.records if error_id in r.getMessage()]
    assert logged and logged[0].exc_info is not None and "the model fell over" in str(logged[0].exc_info[1])
    assert len(rig.bot_messages(bad)) == 1  # the placeholder became the apology


def test_slack_server_errors_on_the_final_answer_are_retried_not_lost(rig: Rig) -> None:
    # Three 503s exhaust the client's own retries; the worker retries the fourth itself.
    rig.fake.fail_next("chat.update", status=503, times=4)
    rig.worker(ScriptedAnswerer(mode="retrieval-only"))
    job = rig.ask("what is the revenue?")
    rig.wait_answered(job, timeout=20)
    updates = rig.fake.calls("chat.update")
    assert [c.status for c in updates] == [503] * 4 + [200]
    assert "Retrieval only — no generated answer" in rig.final_text(job)


def test_stop_during_generation_checkpoints_and_the_next_worker_finishes_the_same_message(rig: Rig) -> None:
    pace = threading.Event()
    answerer = ScriptedAnswerer(
        text_for=lambda q: " ".join(["word"] * 2000), after_token=lambda _: pace.wait(0.01)
    )
    worker = rig.worker(answerer)
    job = rig.ask("a long answer")
    rig.fake.wait_for(lambda f: any("word word" in str(c.args.get("text")) for c in f.calls("chat.update")))

    assert worker.stop(0.1) is True  # interrupted at the next token and checkpointed by itself
    assert rig.queue.snapshot().pending == 1
    interrupted = rig.bot_messages(job)
    assert len(interrupted) == 1 and "restarting" in interrupted[0]["text"]

    rig.worker(ScriptedAnswerer())
    rig.wait_answered(job)
    answered = rig.bot_messages(job)
    assert len(answered) == 1 and answered[0]["ts"] == interrupted[0]["ts"]
    assert "Answer to: a long answer" in answered[0]["text"]


def test_stop_while_the_model_is_silent_checkpoints_from_outside(rig: Rig) -> None:
    gate = threading.Event()
    answerer = ScriptedAnswerer(gate=gate)
    worker = rig.worker(answerer, abort_grace=0.1)
    job = rig.ask("a slow prompt")
    assert answerer.started.wait(5)
    rig.fake.wait_for(lambda f: len(rig.bot_messages(job)) == 1)

    assert worker.stop(0.1) is False
    assert rig.queue.snapshot().pending == 1
    gate.set()  # the abandoned answer completes but must not reach Slack or the queue
    rig.fake.wait_for(lambda _: not worker.is_alive())
    assert "restarting" in rig.final_text(job)
    assert rig.queue.snapshot().pending == 1


def test_wait_estimate_uses_the_default_until_answers_are_measured(rig: Rig) -> None:
    worker = rig.worker(ScriptedAnswerer())
    assert worker.estimate_minutes(1) == 1
    assert worker.estimate_minutes(3) == 3
    job = rig.ask("quick")
    rig.wait_answered(job)
    rig.fake.wait_for(lambda _: worker.current() is None)
    assert worker.average_seconds() < 5
    assert worker.estimate_minutes(3) == 1
