"""👍/👎 under answers, through the real bot (run_slack, slack_bolt Socket Mode) and the fake Slack: each
click is recorded once per person and answer (redeliveries included), acknowledged ephemerally, and a 👎
opens a modal whose reason is kept with the vote; `/docbot status` shows the count."""

from __future__ import annotations

from typing import Any

import pytest

from bot.feedback import FEEDBACK_FILE, FeedbackStore
from bot.slack.feedback_ui import KINDS_ACTION, REASON_ACTION, REASON_CALLBACK, REASON_THANKS
from tests.bot.slack.conftest import RunningBot, StartBot, Thread
from tests.fake_slack import FakeSlack

pytestmark = pytest.mark.timeout(60)

QUESTION = "How much is the minimum guarantee payable by adidas?"


def _answered(fake: FakeSlack, start_bot: StartBot) -> tuple[RunningBot, str, dict[str, Any]]:
    bot = start_bot()
    _, ts = fake.mention(QUESTION)
    [answer] = Thread(fake, "C1", ts).wait_answered()
    return bot, ts, answer


def _store(bot: RunningBot) -> FeedbackStore:
    return FeedbackStore(bot.settings.index_dir / FEEDBACK_FILE)


def _ephemerals_to(fake: FakeSlack, user: str) -> list[dict[str, Any]]:
    return [m for m in fake.ephemerals("C1") if m["user_to"] == user]


def test_every_final_answer_carries_feedback_buttons_that_slack_accepts(
    fake_slack: FakeSlack, start_bot: StartBot
) -> None:
    _, ts, answer = _answered(fake_slack, start_bot)
    [block] = [b for b in answer["blocks"] if b["type"] == "context_actions"]
    assert answer["blocks"][-1]["type"] == "context_actions"  # last, under the sources and footer
    [buttons] = block["elements"]
    assert buttons["type"] == "feedback_buttons"
    assert buttons["positive_button"]["value"] != buttons["negative_button"]["value"]
    # The one call that carried the buttons was accepted (the fake checks context_actions like Slack):
    # the final write of the answer, never the placeholder, a partial update or a stream append.
    writes = [c for m in ("chat.postMessage", "chat.update", "chat.stopStream") for c in fake_slack.calls(m)]
    [final] = [c for c in writes if "context_actions" in str(c.args.get("blocks"))]
    assert final.ok and final.response.get("ts", final.args.get("ts")) == answer["ts"]
    assert ts


def test_a_thumbs_up_is_recorded_once_and_acknowledged_privately_even_when_redelivered(
    fake_slack: FakeSlack, start_bot: StartBot
) -> None:
    bot, ts, answer = _answered(fake_slack, start_bot)
    click = fake_slack.click_feedback("C1", answer["ts"], user="U1", positive=True)
    fake_slack.wait_for_ack(click)
    fake_slack.wait_for(lambda f: len(_ephemerals_to(f, "U1")) == 1)
    again = fake_slack.redeliver(click)
    fake_slack.wait_for_ack(again)
    [ack] = _ephemerals_to(fake_slack, "U1")
    assert "👍" in ack["text"] and ack["thread_ts"] == ts
    assert fake_slack.messages("C1", ts)[-1]["ts"] == answer["ts"]  # nothing new posted in the thread
    assert not fake_slack.calls("views.open")  # no modal after 👍
    store = _store(bot)
    try:
        [item] = store.items()
        assert (item.vote, item.user, item.reason) == ("up", "U1", "")
        assert item.question == QUESTION and item.answer == f"Answer to: {QUESTION}"
        assert [s["page"] for s in item.sources] == [53, 75] and item.mode == "llm"
        assert item.model == bot.settings.model_path.name and item.seconds is not None
        assert set(item.timings) >= {"retrieval", "generation", "total"}
        assert store.summary().votes == 1
    finally:
        store.close()
    # the same person clicking 👍 again by hand is not a second vote, and is told so
    fake_slack.wait_for_ack(fake_slack.click_feedback("C1", answer["ts"], user="U1", positive=True))
    fake_slack.wait_for(lambda f: len(_ephemerals_to(f, "U1")) == 2)
    assert "already" in _ephemerals_to(fake_slack, "U1")[-1]["text"]


def test_a_thumbs_down_opens_a_modal_and_its_reason_is_kept_once(
    fake_slack: FakeSlack, start_bot: StartBot
) -> None:
    bot, _, answer = _answered(fake_slack, start_bot)
    click = fake_slack.click_feedback("C1", answer["ts"], user="U2", positive=False)
    fake_slack.wait_for_ack(click)
    [opened] = fake_slack.wait_for_calls("views.open")
    assert opened.ok, opened.response
    fake_slack.wait_for(lambda f: len(_ephemerals_to(f, "U2")) == 1)
    assert "form" in _ephemerals_to(fake_slack, "U2")[0]["text"]
    fake_slack.wait_for_ack(fake_slack.redeliver(click))  # the click again: no second modal or vote
    [view] = fake_slack.views()
    assert view["view"]["callback_id"] == REASON_CALLBACK and view["user"] == "U2"

    reason = "The guarantee is £750 million, not what it says; see p. 53"
    values = {KINDS_ACTION: ["wrong_fact"], REASON_ACTION: reason}
    submitted = fake_slack.submit_view(view["view"]["id"], values)
    assert fake_slack.wait_for_ack(submitted).get("payload") in (None, {})  # ack closes the modal
    fake_slack.wait_for(lambda f: any(m["text"] == REASON_THANKS for m in _ephemerals_to(f, "U2")))
    fake_slack.wait_for_ack(fake_slack.redeliver(submitted))
    fake_slack.wait_for_ack(fake_slack.click_feedback("C1", answer["ts"], user="U1", positive=True))
    fake_slack.wait_for(lambda f: len(_ephemerals_to(f, "U1")) == 1)

    assert len(fake_slack.calls("views.open")) == 1
    assert [m["text"] for m in _ephemerals_to(fake_slack, "U2")].count(REASON_THANKS) == 1
    assert len(_ephemerals_to(fake_slack, "U2")) == 2
    store = _store(bot)
    try:
        items = {item.user: item for item in store.items()}
        assert set(items) == {"U1", "U2"}
        assert items["U2"].vote == "down"
        assert items["U2"].reason == f"A figure or fact is wrong — {reason}"
        assert items["U1"].vote == "up" and items["U1"].reason == ""
        summary = store.summary()
        assert (summary.up, summary.down, summary.with_reason) == (1, 1, 1)
    finally:
        store.close()

    status = fake_slack.wait_for_ack(fake_slack.send_slash_command("/docbot", "status"))
    assert "*Feedback:* 1 👍 · 1 👎 (50% 👍), 1 with a reason" in status["payload"]["text"]
    _, word = fake_slack.mention("status")
    assert "*Feedback:* 1 👍 · 1 👎" in Thread(fake_slack, "C1", word).wait_text("*Feedback:*")


def test_a_changed_mind_updates_the_vote_and_drops_the_old_reason(
    fake_slack: FakeSlack, start_bot: StartBot
) -> None:
    bot, _, answer = _answered(fake_slack, start_bot)
    fake_slack.wait_for_ack(fake_slack.click_feedback("C1", answer["ts"], user="U1", positive=False))
    [opened] = fake_slack.wait_for_calls("views.open")
    view_id = fake_slack.views()[0]["view"]["id"]
    fake_slack.wait_for_ack(fake_slack.submit_view(view_id, {REASON_ACTION: "wrong page"}))
    fake_slack.wait_for(lambda f: any(m["text"] == REASON_THANKS for m in _ephemerals_to(f, "U1")))
    fake_slack.wait_for_ack(fake_slack.click_feedback("C1", answer["ts"], user="U1", positive=True))
    fake_slack.wait_for(lambda f: any("Changed" in m["text"] for m in _ephemerals_to(f, "U1")))
    store = _store(bot)
    try:
        [item] = store.items()
        assert (item.vote, item.reason) == ("up", "")
    finally:
        store.close()
    assert opened.ok


def test_an_expired_trigger_still_records_the_vote_and_says_nothing_of_a_form(
    fake_slack: FakeSlack, start_bot: StartBot
) -> None:
    bot, _, answer = _answered(fake_slack, start_bot)
    fake_slack.trigger_ttl = 0.0  # Slack gives 3 s; here the modal can no longer open
    fake_slack.wait_for_ack(fake_slack.click_feedback("C1", answer["ts"], user="U3", positive=False))
    [opened] = fake_slack.wait_for_calls("views.open")
    assert opened.error == "expired_trigger_id"
    fake_slack.wait_for(lambda f: len(_ephemerals_to(f, "U3")) == 1)
    text = _ephemerals_to(fake_slack, "U3")[0]["text"]
    assert "👎" in text and "form" not in text
    store = _store(bot)
    try:
        assert [(i.user, i.vote) for i in store.items()] == [("U3", "down")]
    finally:
        store.close()


def test_people_off_the_allowed_list_cannot_vote(fake_slack: FakeSlack, start_bot: StartBot) -> None:
    bot = start_bot(allowed_users="U1")
    _, ts = fake_slack.mention(QUESTION)
    [answer] = Thread(fake_slack, "C1", ts).wait_answered()
    fake_slack.wait_for_ack(fake_slack.click_feedback("C1", answer["ts"], user="U9", positive=True))
    fake_slack.wait_for(lambda f: len(_ephemerals_to(f, "U9")) == 1)
    assert "on my list" in _ephemerals_to(fake_slack, "U9")[0]["text"]
    store = _store(bot)
    try:
        assert store.items() == []
    finally:
        store.close()


def test_feedback_buttons_can_be_turned_off(fake_slack: FakeSlack, start_bot: StartBot) -> None:
    start_bot(feedback_buttons=False)
    _, ts = fake_slack.mention(QUESTION)
    [answer] = Thread(fake_slack, "C1", ts).wait_answered()
    assert all(block["type"] != "context_actions" for block in answer["blocks"])
    assert "*Sources*" in answer["text"]
