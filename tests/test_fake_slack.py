"""The fake Slack speaks the real protocol: the real slack_bolt App and builtin SocketModeHandler use it."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import aiohttp
import pytest
from slack_bolt import App
from slack_bolt.adapter.socket_mode.builtin import SocketModeHandler
from slack_bolt.error import BoltError
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_handlers import ConnectionErrorRetryHandler, RateLimitErrorRetryHandler

from devtools.fake_slack import FakeSlack, close_handler, control_sequences
from tests.fake_slack import fake_slack as fake_slack_fixture

fake_slack = fake_slack_fixture  # the lead moves this fixture into tests/conftest.py
pytestmark = pytest.mark.timeout(60)

StartBolt = Callable[..., App]


def _client(fake: FakeSlack, token: str | None = None) -> WebClient:
    return WebClient(
        token=token or fake.bot_token,
        base_url=fake.api_url,
        retry_handlers=[ConnectionErrorRetryHandler(), RateLimitErrorRetryHandler(max_retry_count=2)],
    )


@pytest.fixture
def start_bolt(fake_slack: FakeSlack) -> Iterator[StartBolt]:
    """Start a real Bolt app on the fake over Socket Mode; tear it down fast (server side first)."""
    running: list[tuple[SocketModeHandler, ThreadPoolExecutor]] = []

    def start(
        listeners: Callable[[App], None] | None = None, *, ping_interval: float = 10, **app_kwargs: Any
    ) -> App:
        executor = ThreadPoolExecutor(max_workers=4, thread_name_prefix="bolt-listener")
        app = App(client=_client(fake_slack), listener_executor=executor, **app_kwargs)
        if listeners is not None:
            listeners(app)
        handler = SocketModeHandler(app, fake_slack.app_token, ping_interval=ping_interval)
        running.append((handler, executor))
        handler.connect()
        fake_slack.wait_connected()
        return app

    yield start
    for handler, executor in running:
        began = time.monotonic()
        close_handler(fake_slack, handler)
        executor.shutdown(wait=True, cancel_futures=True)
        assert time.monotonic() - began < 1.0, "closing the handler was slow"


def _reply_in_thread(app: App) -> None:
    @app.event("app_mention")
    def answer(event: dict[str, Any], say: Any) -> None:
        say(text=f"answer to {event['text']}", thread_ts=event["ts"])


def _bot_replies(fake: FakeSlack, channel: str, ts: str) -> list[dict[str, Any]]:
    return [m for m in fake.messages(channel, thread_ts=ts) if m.get("bot_id") == fake.bot_id]


def test_mention_is_acked_and_answered_in_thread(fake_slack: FakeSlack, start_bolt: StartBolt) -> None:
    start_bolt(_reply_in_thread)
    assert fake_slack.calls("auth.test")[0].token == fake_slack.bot_token
    assert fake_slack.calls("apps.connections.open")[0].token == fake_slack.app_token

    envelope_id, ts = fake_slack.mention("what is the minimum guarantee?")

    ack = fake_slack.wait_for_ack(envelope_id)
    assert ack["envelope_id"] == envelope_id and "payload" not in ack
    post = fake_slack.wait_for_calls("chat.postMessage")[0]
    assert post.ok and post.args["channel"] == "C1" and post.args["thread_ts"] == ts
    thread = fake_slack.messages("C1", thread_ts=ts)
    assert [m.get("user") for m in thread] == ["U1", fake_slack.bot_user_id]
    assert thread[1]["text"] == "answer to <@UBOT> what is the minimum guarantee?"
    assert thread[0]["reply_count"] == 1

    replies = _client(fake_slack).conversations_replies(channel="C1", ts=ts)
    assert [m["ts"] for m in replies["messages"]] == [m["ts"] for m in thread]


def test_events_sent_before_connecting_are_delivered_on_connect(
    fake_slack: FakeSlack, start_bolt: StartBolt
) -> None:
    envelope_id, ts = fake_slack.dm("hello while offline")
    seen: list[str] = []

    def listeners(app: App) -> None:
        @app.message("")
        def on_dm(message: dict[str, Any]) -> None:
            seen.append(message["ts"])

    start_bolt(listeners)
    fake_slack.wait_for_ack(envelope_id)
    fake_slack.wait_for(lambda _: seen == [ts])


def test_slash_command_acked_with_payload_and_response_url(
    fake_slack: FakeSlack, start_bolt: StartBolt
) -> None:
    def listeners(app: App) -> None:
        @app.command("/docbot")
        def status(ack: Any, command: dict[str, Any], respond: Any) -> None:
            ack(text=f"status for {command['user_id']}: {command['text']}")
            respond("queue is empty")

    start_bolt(listeners)
    envelope_id = fake_slack.send_slash_command(text="status", user_id="U7")

    ack = fake_slack.wait_for_ack(envelope_id)
    assert ack["payload"]["text"] == "status for U7: status"
    assert fake_slack.wait_for_calls("response_url")[0].args["text"] == "queue is empty"


def test_rate_limited_post_is_retried_after_retry_after_and_delivered_once(
    fake_slack: FakeSlack, start_bolt: StartBolt
) -> None:
    start_bolt(_reply_in_thread)
    fake_slack.fail_next("chat.postMessage", status=429, retry_after=1)

    _, ts = fake_slack.mention("busy?")

    first, second = fake_slack.wait_for_calls("chat.postMessage", count=2)
    assert (first.status, first.error) == (429, "ratelimited")
    assert second.ok and second.at - first.at >= 1.0
    assert len(_bot_replies(fake_slack, "C1", ts)) == 1


def test_disconnect_frame_makes_client_reconnect_with_a_fresh_ticket(
    fake_slack: FakeSlack, start_bolt: StartBolt
) -> None:
    start_bolt(_reply_in_thread)
    fake_slack.send_disconnect()

    fake_slack.wait_for(lambda f: f.connections_opened == 2 and f.connection_count == 1)
    opens = fake_slack.calls("apps.connections.open")
    assert len(opens) == 2 and opens[0].response["url"] != opens[1].response["url"]
    assert _handshake_status(opens[0].response["url"]) == 401
    assert _handshake_status(opens[1].response["url"]) == 401

    envelope_id, ts = fake_slack.mention("still there?")
    fake_slack.wait_for_ack(envelope_id)
    fake_slack.wait_for(lambda f: len(_bot_replies(f, "C1", ts)) == 1)


def test_dropped_connection_is_reopened(fake_slack: FakeSlack, start_bolt: StartBolt) -> None:
    start_bolt(_reply_in_thread, ping_interval=0.5)
    fake_slack.drop_connections()

    fake_slack.wait_connected(timeout=10)
    assert fake_slack.connections_opened == 2
    envelope_id, ts = fake_slack.mention("back?")
    fake_slack.wait_for_ack(envelope_id)
    fake_slack.wait_for(lambda f: len(_bot_replies(f, "C1", ts)) == 1)


def test_unacked_event_is_redelivered_with_retry_headers(
    fake_slack: FakeSlack, start_bolt: StartBolt
) -> None:
    release = threading.Event()
    seen: list[tuple[str, list[str]]] = []

    def listeners(app: App) -> None:
        @app.event("app_mention")
        def slow(body: dict[str, Any], request: Any) -> None:
            seen.append((body["event_id"], list(request.headers.get("x-slack-retry-num", []))))
            release.wait(10)

    start_bolt(listeners, process_before_response=True)  # ack only after the listener returns
    fake_slack.redeliver_unacked_after(0.3)
    first_id, _ = fake_slack.mention("slow one")

    fake_slack.wait_for(lambda f: len(f.sent_envelopes()) == 2)
    fake_slack.redeliver_unacked_after(None)
    release.set()
    retry = fake_slack.sent_envelopes()[1]
    assert (retry["retry_attempt"], retry["retry_reason"]) == (1, "timeout")
    fake_slack.wait_for_ack(first_id)
    fake_slack.wait_for_ack(retry["envelope_id"])
    fake_slack.wait_for(lambda _: len(seen) == 2)
    assert seen[0][0] == seen[1][0]
    assert sorted(num for _, num in seen) == [["0"], ["1"]]


def test_bot_posts_are_echoed_as_message_events_when_enabled(
    fake_slack: FakeSlack, start_bolt: StartBolt
) -> None:
    events: list[dict[str, Any]] = []

    def listeners(app: App) -> None:
        @app.event("message")
        def on_message(event: dict[str, Any]) -> None:
            events.append(event)

    app = start_bolt(listeners, ignoring_self_events_enabled=False)
    fake_slack.echo_bot_messages = True
    app.client.chat_postMessage(channel="D1", text="my own words")
    fake_slack.wait_for(lambda _: len(events) == 1)
    assert events[0]["bot_id"] == fake_slack.bot_id and events[0]["channel_type"] == "im"


def test_bad_or_revoked_token_fails_app_construction(fake_slack: FakeSlack) -> None:
    with pytest.raises(BoltError, match="invalid_auth"):
        App(client=_client(fake_slack, token="xoxb-wrong"))
    with pytest.raises(SlackApiError, match="not_allowed_token_type"):
        _client(fake_slack).apps_connections_open(app_token=fake_slack.bot_token)
    fake_slack.invalidate(fake_slack.bot_token)
    with pytest.raises(BoltError, match="invalid_auth"):
        App(client=_client(fake_slack))


@pytest.mark.filterwarnings("ignore:The top-level `text` argument is missing")
def test_web_api_enforces_slacks_limits(fake_slack: FakeSlack) -> None:
    client = _client(fake_slack)
    section = {"type": "section", "text": {"type": "mrkdwn", "text": "x" * 3000}}
    assert client.chat_postMessage(channel="C1", text="t" * 40_000, blocks=[section] * 50)["ok"]

    cases: list[tuple[dict[str, Any], str]] = [
        ({"text": "t" * 40_001}, "msg_too_long"),
        ({"text": "t", "blocks": [section] * 51}, "invalid_blocks"),
        (
            {"text": "t", "blocks": [{**section, "text": {"type": "mrkdwn", "text": "x" * 3001}}]},
            "invalid_blocks",
        ),
        ({}, "no_text"),
    ]
    for kwargs, error in cases:
        with pytest.raises(SlackApiError) as info:
            client.chat_postMessage(channel="C1", **kwargs)
        assert info.value.response["error"] == error
    with pytest.raises(SlackApiError, match="unknown_method"):
        client.api_call("nope.nothing")


def test_web_api_state_updates_reactions_and_injected_failures(fake_slack: FakeSlack) -> None:
    client = _client(fake_slack)
    _, question_ts = fake_slack.message("a question", channel="C2")
    posted = client.chat_postMessage(channel="C2", text="thinking…", thread_ts=question_ts)
    client.chat_update(channel="C2", ts=posted["ts"], text="final <!channel>")
    client.reactions_add(channel="C2", timestamp=question_ts, name="eyes")

    thread = fake_slack.messages("C2", thread_ts=question_ts)
    assert [m["text"] for m in thread] == ["a question", "final <!channel>"]
    assert control_sequences(thread[1]) == ["<!channel>"]
    assert fake_slack.reactions("C2", question_ts) == ["eyes"]
    with pytest.raises(SlackApiError, match="already_reacted"):
        client.reactions_add(channel="C2", timestamp=question_ts, name="eyes")
    client.reactions_remove(channel="C2", timestamp=question_ts, name="eyes")
    assert fake_slack.reactions("C2", question_ts) == []
    with pytest.raises(SlackApiError, match="message_not_found"):
        client.chat_update(channel="C2", ts="1.000001", text="x")

    fake_slack.edit("C2", question_ts, "an edited question")
    assert fake_slack.messages("C2")[0]["text"] == "an edited question"
    client.chat_delete(channel="C2", ts=posted["ts"])
    assert [m["ts"] for m in fake_slack.messages("C2")] == [question_ts]

    # form-encoded calls decode JSON blocks too
    client.api_call(
        "chat.postEphemeral", params={"channel": "C2", "user": "U1", "blocks": '[{"type": "divider"}]'}
    )
    assert fake_slack.calls("chat.postEphemeral")[0].args["blocks"] == [{"type": "divider"}]

    fake_slack.fail_next("users.info", status=503)
    fake_slack.fail_next("users.info", error="user_not_found")
    with pytest.raises(SlackApiError) as info:
        client.users_info(user="U1")
    assert info.value.response.status_code == 503
    with pytest.raises(SlackApiError, match="user_not_found"):
        client.users_info(user="U1")
    assert client.users_info(user="U1")["user"]["id"] == "U1"


def _handshake_status(url: str) -> int:
    async def attempt() -> int:
        async with aiohttp.ClientSession() as session:
            try:
                async with session.ws_connect(url):
                    return 101
            except aiohttp.WSServerHandshakeError as e:
                return e.status

    return asyncio.run(attempt())


def _error(call: Callable[[], object]) -> str:
    with pytest.raises(SlackApiError) as caught:
        call()
    return str(caught.value.response["error"])


def test_native_streams_follow_slacks_state_machine(fake_slack: FakeSlack) -> None:
    client = _client(fake_slack)
    thread = client.chat_postMessage(channel="C1", text="question")["ts"]
    # In a channel Slack must know whose request a stream answers.
    assert _error(lambda: client.chat_startStream(channel="C1", thread_ts=thread)) == "invalid_arguments"
    ts = client.chat_startStream(
        channel="C1", thread_ts=thread, markdown_text="The", recipient_user_id="U1", recipient_team_id="T0001"
    )["ts"]
    client.chat_appendStream(channel="C1", ts=ts, markdown_text=" guarantee")
    assert fake_slack.stream_state("C1", ts) == "streaming"
    assert _error(lambda: client.chat_update(channel="C1", ts=ts, text="x")) == "cant_update_message"
    too_long = "x" * 12_001
    assert (
        _error(lambda: client.chat_appendStream(channel="C1", ts=ts, markdown_text=too_long))
        == "msg_too_long"
    )
    many = [{"type": "context", "elements": [{"type": "mrkdwn", "text": "s"}]}] * 50
    assert _error(lambda: client.chat_stopStream(channel="C1", ts=ts, blocks=many)) == "invalid_blocks"
    sources = [{"type": "context", "elements": [{"type": "mrkdwn", "text": "*Sources* p. 53"}]}]
    client.chat_stopStream(channel="C1", ts=ts, markdown_text=" is 750.", blocks=sources)
    [message] = [m for m in fake_slack.messages("C1", thread) if m["ts"] == ts]
    assert message["blocks"][0] == {"type": "markdown", "text": "The guarantee is 750."}
    assert message["blocks"][1:] == sources and "*Sources* p. 53" in message["text"]
    for late in (
        lambda: client.chat_appendStream(channel="C1", ts=ts, markdown_text="more"),
        lambda: client.chat_stopStream(channel="C1", ts=ts),
    ):
        assert _error(late) == "message_not_in_streaming_state"
    client.chat_update(channel="C1", ts=ts, text="rewritten")  # a stopped stream is an ordinary message
    # A DM needs no recipient.
    assert client.chat_startStream(channel="D1", thread_ts="1.000001", markdown_text="hi")["ok"]


def test_streams_close_after_their_lifetime_or_when_idle(fake_slack: FakeSlack) -> None:
    client = _client(fake_slack)
    fake_slack.close_streams_after(30, idle=0.3)
    ts = client.chat_startStream(channel="D1", thread_ts="1.000001", markdown_text="a")["ts"]
    client.chat_appendStream(channel="D1", ts=ts, markdown_text="b")  # activity keeps it open
    fake_slack.wait_for(lambda f: f.stream_state("D1", ts) == "closed", 5)
    assert _error(lambda: client.chat_appendStream(channel="D1", ts=ts, markdown_text="c")) == (
        "message_not_in_streaming_state"
    )
    client.chat_update(channel="D1", ts=ts, text="finished another way")
    fake_slack.close_streams_after(0.3)
    other = client.chat_startStream(channel="D1", thread_ts="1.000001", markdown_text="a")["ts"]
    fake_slack.wait_for(lambda f: f.stream_state("D1", other) == "closed", 5)


def test_thread_status_is_checked_cleared_by_a_post_and_expires(fake_slack: FakeSlack) -> None:
    client = _client(fake_slack)
    thread = client.chat_postMessage(channel="C1", text="question")["ts"]
    ten = [f"m{n}" for n in range(10)]
    client.assistant_threads_setStatus(
        channel_id="C1", thread_ts=thread, status="Queued — 1 ahead", loading_messages=ten
    )
    shown = fake_slack.thread_status("C1", thread)
    assert shown is not None and shown["status"] == "Queued — 1 ahead" and shown["loading_messages"] == ten
    eleven = [*ten, "m10"]
    assert (
        _error(
            lambda: client.assistant_threads_setStatus(
                channel_id="C1", thread_ts=thread, status="x", loading_messages=eleven
            )
        )
        == "invalid_arguments"
    )
    assert (
        _error(lambda: client.assistant_threads_setStatus(channel_id="nope", thread_ts=thread, status="x"))
        == "channel_not_found"
    )
    client.chat_postMessage(channel="C1", thread_ts=thread, text="the answer")
    assert fake_slack.thread_status("C1", thread) is None  # the app posted: Slack clears it
    fake_slack.status_expiry_seconds = 0.3
    client.assistant_threads_setStatus(channel_id="C1", thread_ts=thread, status="again")
    fake_slack.wait_for(lambda f: f.thread_status("C1", thread) is None, 5)  # gone without a refresh
