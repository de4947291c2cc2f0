"""The fake Slack's interactive parts keep Slack's rules: feedback buttons are checked as blocks, a click
is a block_actions envelope whose trigger_id views.open takes once and only for 3 s, a submitted modal
is a view_submission envelope, suggested prompts are checked and scoped, and the manifest is obeyed."""

from __future__ import annotations

from typing import Any

import pytest
from slack_bolt import Ack, App
from slack_sdk.errors import SlackApiError

from bot.slack.render import feedback_block
from tests.fake_slack import FakeSlack
from tests.test_fake_slack import StartBolt, _client
from tests.test_fake_slack import start_bolt as start_bolt_fixture

start_bolt = start_bolt_fixture
pytestmark = pytest.mark.timeout(60)

MODAL = {
    "type": "modal",
    "callback_id": "why",
    "title": {"type": "plain_text", "text": "What was wrong?"},
    "submit": {"type": "plain_text", "text": "Send"},
    "blocks": [
        {
            "type": "input",
            "block_id": "b",
            "optional": True,
            "label": {"type": "plain_text", "text": "Reason"},
            "element": {"type": "plain_text_input", "action_id": "reason", "max_length": 20},
        }
    ],
}


def _error(call: Any) -> str:
    with pytest.raises(SlackApiError) as caught:
        call()
    return str(caught.value.response["error"])


def test_feedback_buttons_are_checked_like_slack_checks_blocks(fake_slack: FakeSlack) -> None:
    client = _client(fake_slack)
    ok = client.chat_postMessage(channel="C1", text="answer", blocks=[feedback_block(7)])
    assert ok["ok"]
    broken = feedback_block(7)
    broken["elements"][0]["positive_button"]["text"]["text"] = "x" * 76
    assert (
        _error(lambda: client.chat_postMessage(channel="C1", text="a", blocks=[broken])) == "invalid_blocks"
    )
    empty = {"type": "context_actions", "elements": []}
    assert _error(lambda: client.chat_postMessage(channel="C1", text="a", blocks=[empty])) == "invalid_blocks"
    six = {"type": "context_actions", "elements": feedback_block(1)["elements"] * 6}
    assert _error(lambda: client.chat_postMessage(channel="C1", text="a", blocks=[six])) == "invalid_blocks"


def test_a_click_opens_one_modal_within_the_trigger_lifetime_and_its_submission_arrives(
    fake_slack: FakeSlack, start_bolt: StartBolt
) -> None:
    clicks: list[dict[str, Any]] = []
    submissions: list[dict[str, Any]] = []

    def listeners(app: App) -> None:
        @app.action("docbot_feedback")
        def clicked(ack: Ack, body: dict[str, Any]) -> None:
            ack()
            clicks.append(body)

        @app.view("why")
        def submitted(ack: Ack, view: dict[str, Any]) -> None:
            ack()
            submissions.append(view)

    start_bolt(listeners)
    client = _client(fake_slack)
    posted = client.chat_postMessage(channel="C1", text="answer", thread_ts="1.5", blocks=[feedback_block(7)])
    envelope = fake_slack.click_feedback("C1", posted["ts"], user="U4", positive=False)
    assert "payload" not in fake_slack.wait_for_ack(envelope)
    fake_slack.wait_for(lambda _: len(clicks) == 1)
    body = clicks[0]
    assert body["type"] == "block_actions" and body["user"]["id"] == "U4"
    assert body["actions"][0]["value"] == "down:7" and body["container"]["thread_ts"] == "1.5"
    trigger = body["trigger_id"]

    assert _error(lambda: client.views_open(trigger_id="123.456.nope", view=MODAL)) == "invalid_trigger_id"
    bad = {**MODAL, "title": {"type": "plain_text", "text": "A title far longer than Slack allows"}}
    assert _error(lambda: client.views_open(trigger_id=trigger, view=bad)) == "invalid_arguments"
    no_submit = {k: v for k, v in MODAL.items() if k != "submit"}
    assert _error(lambda: client.views_open(trigger_id=trigger, view=no_submit)) == "invalid_arguments"
    opened = client.views_open(trigger_id=trigger, view=MODAL)["view"]
    assert _error(lambda: client.views_open(trigger_id=trigger, view=MODAL)) == "exchanged_trigger_id"

    fake_slack.redeliver(envelope)  # the same click again, same trigger
    fake_slack.wait_for(lambda _: len(clicks) == 2)
    assert clicks[1]["trigger_id"] == trigger and clicks[1]["actions"] == body["actions"]

    with pytest.raises(AssertionError):
        fake_slack.submit_view(opened["id"], {"reason": "x" * 21})  # over max_length: Slack keeps it open
    fake_slack.wait_for_ack(fake_slack.submit_view(opened["id"], {"reason": "wrong page"}))
    fake_slack.wait_for(lambda _: len(submissions) == 1)
    assert submissions[0]["state"]["values"]["b"]["reason"]["value"] == "wrong page"

    fake_slack.trigger_ttl = 0.0  # any trigger is now older than its lifetime
    late = fake_slack.click_feedback("C1", posted["ts"], user="U4", positive=True)
    fake_slack.wait_for(lambda _: len(clicks) == 3)
    expired = clicks[2]["trigger_id"]
    assert _error(lambda: client.views_open(trigger_id=expired, view=MODAL)) == "expired_trigger_id"
    assert late


def test_a_message_without_feedback_buttons_cannot_be_clicked(fake_slack: FakeSlack) -> None:
    posted = _client(fake_slack).chat_postMessage(channel="C1", text="plain")
    with pytest.raises(AssertionError):
        fake_slack.click_feedback("C1", posted["ts"])


def test_suggested_prompts_are_checked_and_applied_per_channel(fake_slack: FakeSlack) -> None:
    client = _client(fake_slack)
    prompts = [{"title": "Handbook", "message": "What does the handbook say about leave?"}]
    client.assistant_threads_setSuggestedPrompts(channel_id="D1", title="Try", prompts=prompts)
    assert fake_slack.suggested_prompts("D1") == {"title": "Try", "prompts": prompts}
    assert fake_slack.suggested_prompts("D2") is None
    five = prompts * 5
    assert _error(lambda: client.assistant_threads_setSuggestedPrompts(channel_id="D1", prompts=five)) == (
        "invalid_arguments"
    )
    blank = [{"title": "", "message": "x"}]
    assert _error(lambda: client.assistant_threads_setSuggestedPrompts(channel_id="D1", prompts=blank)) == (
        "invalid_arguments"
    )
    assert _error(lambda: client.assistant_threads_setSuggestedPrompts(channel_id="x", prompts=prompts)) == (
        "channel_not_found"
    )
    other = [{"title": "Other", "message": "?"}]
    client.assistant_threads_setSuggestedPrompts(channel_id="D1", thread_ts="1.0", prompts=other)
    assert fake_slack.suggested_prompts("D1") == {"title": "Try", "prompts": prompts}  # silently ignored


def test_the_manifest_limits_scopes_events_and_interactivity(fake_slack: FakeSlack) -> None:
    manifest = {
        "oauth_config": {"scopes": {"bot": ["chat:write"]}},
        "settings": {
            "event_subscriptions": {"bot_events": ["app_mention"]},
            "interactivity": {"is_enabled": False},
        },
    }
    fake_slack.apply_manifest(manifest)
    client = _client(fake_slack)
    prompts = [{"title": "a", "message": "b"}]
    assert _error(lambda: client.assistant_threads_setSuggestedPrompts(channel_id="D1", prompts=prompts)) == (
        "missing_scope"
    )
    posted = client.chat_postMessage(channel="C1", text="answer", blocks=[feedback_block(1)])
    with pytest.raises(AssertionError):
        fake_slack.click_feedback("C1", posted["ts"])
    with pytest.raises(AssertionError):
        fake_slack.open_app_home()
    ephemeral = client.chat_postEphemeral(channel="C1", user="U1", text="only you", thread_ts=posted["ts"])
    assert ephemeral["ok"] and fake_slack.ephemerals("C1")[0]["thread_ts"] == posted["ts"]
