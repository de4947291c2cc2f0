"""The native-stream delivery through the worker against the fake Slack: answers the stream cannot show
as streamed (replaced, too long, failed, interrupted) end as one right message, never a broken stream."""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from typing import Any

import pytest

from bot.answer import Answer, SourcesCallback, TokenCallback, Turn
from bot.queue import Job
from bot.slack.delivery import DeliveryMode
from bot.slack.render import MARKDOWN_LIMIT
from bot.slack.thread import answer_metadata
from tests.bot.answerers import ScriptedAnswerer
from tests.bot.worker_rig import Rig
from vectorstore.scopes import FileFilter

pytestmark = pytest.mark.timeout(60)


class Replaced(ScriptedAnswerer):
    """Streams one text and returns another, like an answer the grounding check withheld."""

    def answer(
        self,
        question: str,
        history: Sequence[Turn] = (),
        on_token: TokenCallback | None = None,
        scope: FileFilter | None = None,
        on_sources: SourcesCallback | None = None,
    ) -> Answer:
        answer = super().answer(question, history, on_token, scope, on_sources)
        return Answer(question, "I could not find that in the documents.", "llm", answer.sources)


def stream_ts(rig: Rig) -> str:
    [start] = rig.fake.calls("chat.startStream")
    assert start.ok
    return str(start.response["ts"])


def shown_in(rig: Rig) -> Callable[[str], None]:
    def wait(so_far: str) -> None:
        rig.fake.wait_for(lambda f: any(so_far in str(m["text"]) for m in f.messages("C1")), 5)

    return wait


def test_a_streamed_answer_the_final_text_replaced_is_rewritten_in_place(rig: Rig) -> None:
    rig.worker(
        Replaced(text_for=lambda q: "It is 900 million", after_token=shown_in(rig)),
        deliveries=rig.deliveries("stream"),
    )
    job = rig.ask("How much?")
    rig.fake.wait_for(lambda _: "could not find" in rig.final_text(job))
    rig.wait_answered(job)
    [message] = rig.bot_messages(job)
    assert message["ts"] == stream_ts(rig) and "900 million" not in message["text"]
    [stop] = rig.fake.calls("chat.stopStream")
    assert stop.ok and "blocks" not in stop.args  # ended as it was, then rewritten
    final = rig.fake.calls("chat.update")[-1]
    assert final.args["ts"] == message["ts"] and final.args["metadata"] == answer_metadata(job.ts)


def test_an_answer_outgrowing_one_stream_goes_on_by_update_and_is_split(rig: Rig) -> None:
    words = " ".join(["lorem"] * (MARKDOWN_LIMIT // 6 + 400))
    pace = threading.Event()
    answerer = ScriptedAnswerer(text_for=lambda q: words, after_token=lambda _: pace.wait(0.0005))
    rig.worker(answerer, deliveries=rig.deliveries("stream"))
    job = rig.ask("Tell me everything")
    rig.fake.wait_for(lambda _: len(rig.bot_messages(job)) >= 2 and "Sources" in rig.final_text(job), 30)
    messages = rig.bot_messages(job)
    assert messages[0]["ts"] == stream_ts(rig)
    assert all(c.ok for c in rig.fake.calls() if c.method != "chat.stopStream")
    assert rig.fake.stream_state("C1", messages[0]["ts"]) == "stopped"
    shown = " ".join(b["text"] for m in messages for b in m["blocks"] if b["type"] == "markdown")
    assert shown.split() == words.split()  # every word, across the messages


def test_a_failure_mid_stream_ends_the_stream_as_an_apology(rig: Rig) -> None:
    def explode(so_far: str) -> None:
        rig.fake.wait_for(lambda f: any(so_far in str(m["text"]) for m in f.messages("C1")), 5)
        if so_far.endswith("three"):
            raise RuntimeError("the model fell over")

    rig.worker(
        ScriptedAnswerer(text_for=lambda q: "one two three four", after_token=explode),
        deliveries=rig.deliveries("stream"),
    )
    job = rig.ask("count")
    rig.fake.wait_for(lambda _: "Sorry, something went wrong" in rig.final_text(job))
    [message] = rig.bot_messages(job)
    assert message["ts"] == stream_ts(rig) and rig.fake.stream_state("C1", message["ts"]) == "stopped"


def test_stop_mid_stream_checkpoints_and_the_next_worker_finishes_that_message(rig: Rig) -> None:
    pace = threading.Event()
    answerer = ScriptedAnswerer(
        text_for=lambda q: " ".join(["word"] * 2000), after_token=lambda _: pace.wait(0.01)
    )
    worker = rig.worker(answerer, deliveries=rig.deliveries("stream"))
    job = rig.ask("a long answer")
    rig.fake.wait_for(lambda f: len(f.calls("chat.appendStream")) >= 2)

    assert worker.stop(0.1) is True
    [interrupted] = rig.bot_messages(job)
    assert interrupted["ts"] == stream_ts(rig) and "restarting" in interrupted["text"]
    assert rig.fake.stream_state("C1", interrupted["ts"]) == "stopped"

    rig.worker(ScriptedAnswerer(), deliveries=rig.deliveries("stream"))
    rig.wait_answered(job)
    [answered] = rig.bot_messages(job)
    assert answered["ts"] == interrupted["ts"] and "Answer to: a long answer" in answered["text"]
    assert len(rig.fake.calls("chat.startStream")) == 1  # the known message is finished by update


def feedback(job: Job, answer: Answer) -> list[dict[str, Any]]:
    """A context_actions block like the one feedback buttons use (the hook's intended content)."""
    button = {"type": "plain_text", "text": "Good answer"}
    return [
        {
            "type": "context_actions",
            "elements": [
                {
                    "type": "feedback_buttons",
                    "action_id": "docbot_feedback",
                    "positive_button": {"text": button, "value": f"up:{job.id}"},
                    "negative_button": {"text": {**button, "text": "Wrong"}, "value": f"down:{job.id}"},
                }
            ],
        }
    ]


@pytest.mark.parametrize("mode", ["stream", "update"])
def test_final_blocks_end_the_final_message_in_both_deliveries(rig: Rig, mode: DeliveryMode) -> None:
    answerer = ScriptedAnswerer(text_for=lambda q: "It is 750 million", after_token=shown_in(rig))
    rig.worker(answerer, deliveries=rig.deliveries(mode, final_blocks=feedback))
    job = rig.ask("How much?")
    rig.wait_answered(job)
    [message] = rig.bot_messages(job)
    assert message["blocks"][-1] == feedback(job, Answer("q", "", "llm"))[0]
    assert "Sources" in str(message["blocks"][-3:])  # sources and footer, then the hook's blocks
    assert all(c.ok for c in rig.fake.calls())
    final = rig.fake.calls("chat.stopStream" if mode == "stream" else "chat.update")[-1]
    assert final.args["blocks"][-1]["type"] == "context_actions"


def test_a_refusal_for_one_channel_does_not_turn_streaming_off(rig: Rig) -> None:
    rig.fake.fail_next("chat.startStream", error="not_in_channel")
    deliveries = rig.deliveries("auto")
    rig.worker(ScriptedAnswerer(after_token=shown_in(rig)), deliveries=deliveries)
    first = rig.ask("first")
    rig.wait_answered(first)
    assert "Answer to: first" in rig.final_text(first)  # by chat.update instead
    assert deliveries.streams()
    second = rig.ask("second")
    rig.wait_answered(second)
    assert [c.ok for c in rig.fake.calls("chat.startStream")] == [False, True]
