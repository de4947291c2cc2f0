"""A loopback fake of Slack's Web API and Socket Mode, speaking the real wire protocol.

The real slack_bolt App with the builtin SocketModeHandler connects to it exactly as to Slack: point the
App's WebClient at `FakeSlack.api_url`. See ../shared/notes/slack-socket-mode.md for the protocol facts.

    app = App(client=WebClient(token=fake.bot_token, base_url=fake.api_url), listener_executor=executor)
    handler = SocketModeHandler(app, fake.app_token, ping_interval=0.5)  # small: reconnects after drops
    handler.connect(); fake.wait_connected()
    envelope_id, ts = fake.mention("question")
    fake.wait_for_calls("chat.postMessage", where=lambda c: c.args.get("thread_ts") == ts)
    close_handler(fake, handler); executor.shutdown(cancel_futures=True)

The builtin client notices a dropped socket only on its next ping: reconnection takes 1 to 5
ping_intervals, so tests that drop connections should use a small ping_interval.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import itertools
import json
import logging
import re
import socket
import struct
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from aiohttp import WSMsgType, web

from devtools.waiting import wait_until

logger = logging.getLogger(__name__)

MAX_TEXT_CHARS = 40_000
MAX_BLOCKS = 50
MAX_SECTION_TEXT_CHARS = 3_000
MAX_SECTION_FIELDS = 10
MAX_FIELD_CHARS = 2_000
MAX_HEADER_CHARS = 150
MAX_CONTEXT_ELEMENTS = 10
MAX_REDELIVERIES = 3
MAX_MARKDOWN_CHARS = 12_000  # one markdown block, one append, and (the fake's reading) a message's total
MAX_TEXT_OBJECT_CHARS = 3_000  # a context element's text
MAX_LOADING_MESSAGES = 10
STREAM_LIFETIME_SECONDS = 300.0  # Slack closes a stream after about 5 minutes (reports: total or idle)
STREAM_IDLE_SECONDS = 300.0
STATUS_EXPIRY_SECONDS = 120.0  # a thread status disappears 2 minutes after it was set without a post
_CHANNEL_ID = re.compile(r"^[CDGU][A-Z0-9]+$")
PROXY_AND_OAUTH_ENV = (
    "HTTP_PROXY",
    "HTTPS_PROXY",
    "http_proxy",
    "https_proxy",
    "SLACK_CLIENT_ID",
    "SLACK_CLIENT_SECRET",
)


@dataclass
class Call:
    """One Web API call as the fake received it (failed and injected-failure calls included)."""

    method: str
    args: dict[str, Any]
    at: float
    token: str | None = None
    status: int = 200
    response: dict[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        """True when the call succeeded (HTTP 200 and ok: true)."""
        return self.status == 200 and bool(self.response.get("ok"))

    @property
    def error(self) -> str | None:
        """Slack's error code for a failed call, else None."""
        return None if self.ok else str(self.response.get("error"))


# Slack's rate tiers for the methods docbot calls, as calls per minute (docs.slack.dev's method table:
# startStream/stopStream Tier 2, appendStream Tier 4, chat.update Tier 3; chat.postMessage about one a
# second per channel). setStatus's tier is the fake's reading (Tier 3). Enforced only when a test asks.
RATE_TIERS: dict[str, int] = {
    "chat.startStream": 20,
    "chat.stopStream": 20,
    "chat.appendStream": 100,
    "chat.update": 50,
    "assistant.threads.setStatus": 50,
    "chat.postMessage": 60,  # per channel
}


@dataclass
class _Failure:
    status: int
    retry_after: int
    error: str
    times: int


@dataclass
class _Conn:
    ws: web.WebSocketResponse
    request: web.Request
    draining: bool = False


@dataclass
class _Sent:
    envelope: dict[str, Any]
    sent_at: float
    redelivered: bool = False


class ApiError(Exception):
    """Raised inside a Web API method to answer {"ok": false, "error": code}."""

    def __init__(self, error: str, **extra: Any) -> None:
        super().__init__(error)
        self.error = error
        self.extra = extra


def control_sequences(message: dict[str, Any]) -> list[str]:
    """Every `<...>` Slack control sequence (pings, links) that renders in a message's mrkdwn text."""
    texts = [str(message.get("text", "")), str(message.get("markdown_text") or "")]
    texts.extend(_mrkdwn_texts(message.get("blocks") or []))
    return [m for t in texts for m in re.findall(r"<[^<>]*>", t)]


def _mrkdwn_texts(node: Any) -> Iterator[str]:
    if isinstance(node, list):
        for item in node:
            yield from _mrkdwn_texts(item)
    elif isinstance(node, dict):
        if node.get("type") in ("mrkdwn", "markdown") and isinstance(node.get("text"), str):
            yield node["text"]
        for value in node.values():
            yield from _mrkdwn_texts(value)


def _text_len(obj: Any) -> int:
    return len(obj.get("text", "")) if isinstance(obj, dict) else 0


def _block_errors(blocks: Any) -> list[str]:
    """Schema problems Slack reports as invalid_blocks (the limits that bite bots in practice)."""
    if not isinstance(blocks, list):
        return ["blocks must be an array"]
    errors = []
    if len(blocks) > MAX_BLOCKS:
        errors.append(f"no more than {MAX_BLOCKS} items allowed [json-pointer:/blocks]")
    for i, block in enumerate(blocks):
        ptr = f"[json-pointer:/blocks/{i}"
        if not isinstance(block, dict) or "type" not in block:
            errors.append(f"missing required field: type {ptr}]")
            continue
        kind = block["type"]
        if kind == "section":
            if "text" not in block and "fields" not in block:
                errors.append(f"must provide text or fields {ptr}]")
            if _text_len(block.get("text")) > MAX_SECTION_TEXT_CHARS:
                errors.append(f"must be less than {MAX_SECTION_TEXT_CHARS + 1} characters {ptr}/text/text]")
            fields = block.get("fields") or []
            if len(fields) > MAX_SECTION_FIELDS:
                errors.append(f"no more than {MAX_SECTION_FIELDS} items allowed {ptr}/fields]")
            errors += [
                f"must be less than {MAX_FIELD_CHARS + 1} characters {ptr}/fields/{j}/text]"
                for j, f in enumerate(fields)
                if _text_len(f) > MAX_FIELD_CHARS
            ]
        elif kind == "header" and _text_len(block.get("text")) > MAX_HEADER_CHARS:
            errors.append(f"must be less than {MAX_HEADER_CHARS + 1} characters {ptr}/text/text]")
        elif kind == "context":
            elements = block.get("elements") or []
            if not elements:
                errors.append(f"must provide at least 1 item {ptr}/elements]")
            if len(elements) > MAX_CONTEXT_ELEMENTS:
                errors.append(f"no more than {MAX_CONTEXT_ELEMENTS} items allowed {ptr}/elements]")
            errors += [
                f"must be less than {MAX_TEXT_OBJECT_CHARS + 1} characters {ptr}/elements/{j}/text]"
                for j, e in enumerate(elements)
                if _text_len(e) > MAX_TEXT_OBJECT_CHARS
            ]
        elif kind == "markdown":
            text = block.get("text")
            if not isinstance(text, str) or not text:
                errors.append(f"must provide a non-empty string {ptr}/text]")
            elif len(text) > MAX_MARKDOWN_CHARS:
                errors.append(f"must be less than {MAX_MARKDOWN_CHARS + 1} characters {ptr}/text]")
        elif kind == "context_actions":
            errors += _context_actions_errors(block, ptr)
    return errors


def shown_text(message: dict[str, Any]) -> str:
    """What a person sees of a message: its blocks' texts (the fallback text when it has no blocks)."""
    blocks = message.get("blocks") or []
    texts = [_shown_block(b) for b in blocks if isinstance(b, dict)]
    return "\n\n".join(t for t in texts if t) or str(message.get("text", ""))


def _shown_block(block: dict[str, Any]) -> str:
    if block.get("type") == "markdown":
        return str(block.get("text", ""))
    if block.get("type") == "section":
        return str((block.get("text") or {}).get("text", ""))
    return "\n".join(str(e.get("text", "")) for e in block.get("elements") or [] if isinstance(e, dict))


@dataclass
class _Stream:
    """A message being streamed: chat.startStream -> appendStream* -> stopStream, or closed by Slack."""

    started_at: float
    last_at: float
    markdown: str
    state: str = "streaming"  # streaming, stopped, closed (by Slack: too long or idle)
    recipient: str = ""


@dataclass
class _Status:
    status: str
    loading_messages: list[str]
    set_at: float


class FakeSlack:
    """Slack's Web API and Socket Mode on 127.0.0.1, in a thread with its own event loop."""

    bot_token = "xoxb-test-bot"
    app_token = "xapp-test-app"
    team_id = "T0001"
    bot_user_id = "UBOT"
    bot_id = "BBOT"
    app_id = "A0001"

    def __init__(self) -> None:
        self.api_url = ""
        self.base_url = ""
        self.echo_bot_messages = False  # real Slack echoes the bot's posts as message events when subscribed
        self._lock = threading.RLock()
        self._calls: list[Call] = []
        self._channels: dict[str, list[dict[str, Any]]] = {}
        self._ephemerals: dict[str, list[dict[str, Any]]] = {}
        self._failures: dict[str, list[_Failure]] = {}
        self._revoked: dict[str, str] = {}
        self._tickets: set[str] = set()
        self._conns: list[_Conn] = []
        self._pending: list[dict[str, Any]] = []
        self._sent: dict[str, _Sent] = {}
        self._acks: dict[str, dict[str, Any]] = {}
        self._redeliver_after: float | None = None
        self._tier_window: float | None = None  # seconds the RATE_TIERS counts apply to; None: off
        self._tiers: dict[str, int] = dict(RATE_TIERS)
        self._tier_calls: dict[tuple[str, str], list[float]] = {}
        self._streams: dict[tuple[str, str], _Stream] = {}
        self._statuses: dict[tuple[str, str], _Status] = {}
        self.stream_lifetime_seconds = STREAM_LIFETIME_SECONDS
        self.stream_idle_seconds = STREAM_IDLE_SECONDS
        self.status_expiry_seconds = STATUS_EXPIRY_SECONDS
        self._refusing = False
        self._last_ts = 0.0
        self._ids = itertools.count(1)
        self.connections_opened = 0
        self._init_interactive()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._runner: web.AppRunner | None = None
        self._ticker: asyncio.Task[None] | None = None

    # ---- lifecycle -------------------------------------------------------------------------------

    def start(self) -> None:
        """Start the server thread and wait until it listens."""
        ready = threading.Event()
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._serve, args=(ready,), name="fake-slack", daemon=True)
        self._thread.start()
        if not ready.wait(10):
            raise RuntimeError("fake Slack did not start")
        logger.debug("fake_slack started url=%s", self.api_url)

    def stop(self) -> None:
        """Reset every socket (so clients notice at once), then shut the server down."""
        if self._loop is None or self._thread is None:
            return
        self._run(self._shutdown(), timeout=15)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self._loop.close()
        self._loop = self._thread = None

    def __enter__(self) -> FakeSlack:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _serve(self, ready: threading.Event) -> None:
        assert self._loop is not None
        asyncio.set_event_loop(self._loop)
        self._loop.run_until_complete(self._startup())
        ready.set()
        self._loop.run_forever()

    async def _startup(self) -> None:
        app = web.Application()
        app.router.add_route("*", "/api/{method}", self._handle_api)
        app.router.add_get("/link", self._handle_link)
        app.router.add_post("/response/{id}", self._handle_response_url)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = self._runner.addresses[0][1]
        self.base_url = f"http://127.0.0.1:{port}"
        self.api_url = f"{self.base_url}/api/"
        self._ticker = asyncio.get_running_loop().create_task(self._tick())

    async def _shutdown(self) -> None:
        if self._ticker is not None:
            self._ticker.cancel()
        self._reset_all()
        if self._runner is not None:
            await self._runner.cleanup()

    def _run(self, coro: Any, timeout: float = 5.0) -> Any:
        assert self._loop is not None, "FakeSlack is not started"
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(timeout)

    # ---- Web API -----------------------------------------------------------------------------------

    async def _handle_api(self, request: web.Request) -> web.Response:
        method = request.match_info["method"]
        args = await _request_args(request)
        token = _bearer(request) or args.pop("token", None)
        call = Call(method=method, args=args, at=time.monotonic(), token=token)
        failure = self._take_failure(method) or self._over_tier(method, args)
        if failure is not None:
            call.status, call.response = failure.status, {"ok": False, "error": failure.error}
            headers = {"Retry-After": str(failure.retry_after)} if failure.status == 429 else {}
        else:
            call.response = self._dispatch(method, args, token)
            headers = {}
        with self._lock:
            self._calls.append(call)
        if call.ok and method == "chat.postMessage" and self.echo_bot_messages:
            self._echo(call)
        return web.json_response(call.response, status=call.status, headers=headers)

    def _over_tier(self, method: str, args: dict[str, Any]) -> _Failure | None:
        """A 429 with Retry-After when this call would pass the method's rate tier (when enforced)."""
        limit = self._tiers.get(method)
        window = self._tier_window
        if limit is None or window is None:
            return None
        key = (method, str(args.get("channel", "")) if method == "chat.postMessage" else "")
        now = time.monotonic()
        with self._lock:
            recent = [t for t in self._tier_calls.get(key, []) if now - t < window]
            if len(recent) >= limit:
                self._tier_calls[key] = recent
                wait = max(1, int(window - (now - recent[0])) + 1)
                return _Failure(429, wait, "ratelimited", 1)
            self._tier_calls[key] = [*recent, now]
        return None

    def _take_failure(self, method: str) -> _Failure | None:
        with self._lock:
            queue = self._failures.get(method) or []
            if not queue:
                return None
            failure = queue[0]
            failure.times -= 1
            if failure.times <= 0:
                queue.pop(0)
            return failure

    def _dispatch(self, method: str, args: dict[str, Any], token: str | None) -> dict[str, Any]:
        handler = getattr(self, "_api_" + method.replace(".", "_"), None)
        try:
            if handler is None:
                raise ApiError("unknown_method")
            self._check_token(method, token)
            with self._lock:
                return {"ok": True, **handler(args)}
        except ApiError as e:
            return {"ok": False, "error": e.error, **e.extra}

    def _check_token(self, method: str, token: str | None) -> None:
        if not token:
            raise ApiError("not_authed")
        if token in self._revoked:
            raise ApiError(self._revoked[token])
        wanted = self.app_token if method == "apps.connections.open" else self.bot_token
        if token == wanted:
            return
        if token in (self.app_token, self.bot_token):
            raise ApiError("not_allowed_token_type")
        raise ApiError("invalid_auth")

    def _api_auth_test(self, args: dict[str, Any]) -> dict[str, Any]:
        return {
            "url": "https://fake-team.slack.com/",
            "team": "Fake Team",
            "user": "docbot",
            "team_id": self.team_id,
            "user_id": self.bot_user_id,
            "bot_id": self.bot_id,
            "is_enterprise_install": False,
        }

    def _api_apps_connections_open(self, args: dict[str, Any]) -> dict[str, Any]:
        if self._refusing:
            raise ApiError("service_unavailable")
        ticket = uuid.uuid4().hex
        self._tickets.add(ticket)
        return {"url": f"ws://{self.base_url.removeprefix('http://')}/link?ticket={ticket}"}

    def _api_chat_postMessage(self, args: dict[str, Any]) -> dict[str, Any]:
        channel = self._channel_arg(args)
        self._check_content(args)
        message = self._bot_message(args, self._new_ts())
        if args.get("thread_ts"):
            message["thread_ts"] = str(args["thread_ts"])
            self._statuses.pop((channel, message["thread_ts"]), None)  # a post in the thread clears it
        self._store(channel, message)
        return {"channel": channel, "ts": message["ts"], "message": copy.deepcopy(message)}

    # ---- native streaming (chat.startStream / appendStream / stopStream) and thread status --------

    def _api_chat_startStream(self, args: dict[str, Any]) -> dict[str, Any]:
        channel = self._channel_arg(args)
        thread_ts = str(args.get("thread_ts") or "")
        if not thread_ts:
            raise ApiError("invalid_arguments", response_metadata={"messages": ["missing thread_ts"]})
        if not channel.startswith("D"):
            # In channels Slack must know whose request the stream answers.
            missing = [k for k in ("recipient_user_id", "recipient_team_id") if not args.get(k)]
            if missing:
                raise ApiError("invalid_arguments", response_metadata={"messages": missing})
        markdown = self._stream_text(args, required=False)
        self._check_markdown_total(markdown)
        now = time.monotonic()
        message = self._bot_message({"text": markdown}, self._new_ts())
        message["thread_ts"] = thread_ts
        message["blocks"] = [{"type": "markdown", "text": markdown}] if markdown else []
        self._streams[(channel, message["ts"])] = _Stream(
            now, now, markdown, recipient=str(args.get("recipient_user_id") or "")
        )
        self._statuses.pop((channel, thread_ts), None)
        self._store(channel, message)
        return {"channel": channel, "ts": message["ts"]}

    def _api_chat_appendStream(self, args: dict[str, Any]) -> dict[str, Any]:
        channel, message, stream = self._streaming(args)
        markdown = self._stream_text(args, required=True)
        self._check_markdown_total(stream.markdown + markdown)
        stream.markdown += markdown
        stream.last_at = time.monotonic()
        message["text"] = stream.markdown
        message["blocks"] = [{"type": "markdown", "text": stream.markdown}]
        return {"channel": channel, "ts": message["ts"]}

    def _api_chat_stopStream(self, args: dict[str, Any]) -> dict[str, Any]:
        channel, message, stream = self._streaming(args)
        markdown = self._stream_text(args, required=False)
        self._check_markdown_total(stream.markdown + markdown)
        blocks = args.get("blocks") or []
        errors = _block_errors(blocks)
        if not errors and len(blocks) + 1 > MAX_BLOCKS:
            errors = [f"no more than {MAX_BLOCKS} items allowed [json-pointer:/blocks]"]
        if errors:
            raise ApiError("invalid_blocks", errors=errors, response_metadata={"messages": errors})
        stream.markdown += markdown
        stream.state = "stopped"
        streamed = [{"type": "markdown", "text": stream.markdown}] if stream.markdown else []
        message["blocks"] = streamed + list(blocks)
        # Slack builds a streamed message's text from what it shows.
        message["text"] = shown_text(message)
        if args.get("metadata"):
            message["metadata"] = args["metadata"]
        return {"channel": channel, "ts": message["ts"], "message": copy.deepcopy(message)}

    def _streaming(self, args: dict[str, Any]) -> tuple[str, dict[str, Any], _Stream]:
        channel = self._channel_arg(args)
        ts = str(args.get("ts") or "")
        message = self._find(channel, ts)
        stream = self._streams.get((channel, ts))
        if stream is None or self._stream_state(stream) != "streaming":
            raise ApiError("message_not_in_streaming_state")
        return channel, message, stream

    def _stream_state(self, stream: _Stream) -> str:
        now = time.monotonic()
        if stream.state == "streaming" and (
            now - stream.started_at > self.stream_lifetime_seconds
            or now - stream.last_at > self.stream_idle_seconds
        ):
            stream.state = "closed"
        return stream.state

    @staticmethod
    def _stream_text(args: dict[str, Any], *, required: bool) -> str:
        if args.get("chunks"):
            raise ApiError("invalid_arguments", response_metadata={"messages": ["chunks: not in the fake"]})
        text = args.get("markdown_text")
        if text is None or text == "":
            if required:
                raise ApiError("invalid_arguments", response_metadata={"messages": ["missing markdown_text"]})
            return ""
        text = str(text)
        if len(text) > MAX_MARKDOWN_CHARS:
            raise ApiError("msg_too_long")
        return text

    @staticmethod
    def _check_markdown_total(markdown: str) -> None:
        if len(markdown) > MAX_MARKDOWN_CHARS:
            raise ApiError("msg_too_long")

    def _api_assistant_threads_setStatus(self, args: dict[str, Any]) -> dict[str, Any]:
        channel = str(args.get("channel_id", ""))
        if not _CHANNEL_ID.match(channel):
            raise ApiError("channel_not_found")
        thread_ts = str(args.get("thread_ts") or "")
        if not thread_ts or "status" not in args:
            raise ApiError("invalid_arguments", response_metadata={"messages": ["thread_ts and status"]})
        loading = args.get("loading_messages") or []
        if not isinstance(loading, list) or len(loading) > MAX_LOADING_MESSAGES:
            raise ApiError("invalid_arguments", response_metadata={"messages": ["loading_messages"]})
        status = str(args["status"])
        if status:
            self._statuses[(channel, thread_ts)] = _Status(
                status, [str(m) for m in loading], time.monotonic()
            )
        else:
            self._statuses.pop((channel, thread_ts), None)
        return {}

    def _api_chat_update(self, args: dict[str, Any]) -> dict[str, Any]:
        channel = self._channel_arg(args)
        message = self._find(channel, str(args.get("ts", "")))
        if message.get("bot_id") != self.bot_id:
            raise ApiError("cant_update_message")
        stream = self._streams.get((channel, message["ts"]))
        if stream is not None and self._stream_state(stream) == "streaming":
            raise ApiError("cant_update_message")  # the fake's reading: stop (or let Slack close) it first
        self._check_content(args)
        for key in ("text", "blocks", "attachments", "metadata"):
            if key in args:
                message[key] = args[key]
        message["edited"] = {"user": self.bot_user_id, "ts": self._new_ts()}
        return {
            "channel": channel,
            "ts": message["ts"],
            "text": message.get("text", ""),
            "message": copy.deepcopy(message),
        }

    def _api_chat_postEphemeral(self, args: dict[str, Any]) -> dict[str, Any]:
        self._need_scope("chat.postEphemeral")
        channel = self._channel_arg(args)
        if not args.get("user"):
            raise ApiError("user_not_in_channel")
        self._check_content(args)
        message = {**self._bot_message(args, self._new_ts()), "user_to": str(args["user"])}
        if args.get("thread_ts"):
            message["thread_ts"] = str(args["thread_ts"])
        self._ephemerals.setdefault(channel, []).append(message)
        return {"message_ts": message["ts"]}

    def _api_chat_delete(self, args: dict[str, Any]) -> dict[str, Any]:
        channel = self._channel_arg(args)
        message = self._find(channel, str(args.get("ts", "")))
        if message.get("bot_id") != self.bot_id:
            raise ApiError("cant_delete_message")
        self._channels[channel].remove(message)
        return {"channel": channel, "ts": message["ts"]}

    def _api_reactions_add(self, args: dict[str, Any]) -> dict[str, Any]:
        message = self._find(self._channel_arg(args), str(args.get("timestamp", "")))
        name = str(args.get("name", "")).strip(":")
        if not name:
            raise ApiError("invalid_name")
        reactions = message.setdefault("reactions", [])
        for reaction in reactions:
            if reaction["name"] == name:
                if self.bot_user_id in reaction["users"]:
                    raise ApiError("already_reacted")
                reaction["users"].append(self.bot_user_id)
                reaction["count"] += 1
                return {}
        reactions.append({"name": name, "users": [self.bot_user_id], "count": 1})
        return {}

    def _api_reactions_remove(self, args: dict[str, Any]) -> dict[str, Any]:
        message = self._find(self._channel_arg(args), str(args.get("timestamp", "")))
        name = str(args.get("name", "")).strip(":")
        for reaction in message.get("reactions", []):
            if reaction["name"] == name and self.bot_user_id in reaction["users"]:
                reaction["users"].remove(self.bot_user_id)
                reaction["count"] -= 1
                message["reactions"] = [r for r in message["reactions"] if r["count"] > 0]
                return {}
        raise ApiError("no_reaction")

    def _api_conversations_replies(self, args: dict[str, Any]) -> dict[str, Any]:
        channel = self._channel_arg(args)
        ts = str(args.get("ts", ""))
        try:
            self._find(channel, ts)
        except ApiError as e:
            raise ApiError("thread_not_found") from e
        thread = copy.deepcopy(self._thread_messages(channel, ts))
        if str(args.get("include_all_metadata", "")).lower() not in ("1", "true"):
            for message in thread:
                message.pop("metadata", None)  # Slack returns metadata only when asked
        return {
            "messages": thread,
            "has_more": False,
            "response_metadata": {"next_cursor": ""},
        }

    def _api_conversations_info(self, args: dict[str, Any]) -> dict[str, Any]:
        channel = self._channel_arg(args)
        info: dict[str, Any] = {"id": channel, "created": 1_600_000_000, "is_archived": False}
        if channel.startswith("D"):
            info |= {"is_im": True, "is_channel": False, "is_private": True, "user": "U1"}
        else:
            info |= {
                "name": f"channel-{channel.lower()}",
                "is_im": False,
                "is_member": True,
                "is_channel": channel.startswith("C"),
                "is_private": channel.startswith("G"),
            }
        return {"channel": info}

    def _api_users_info(self, args: dict[str, Any]) -> dict[str, Any]:
        user = str(args.get("user", ""))
        if not re.fullmatch(r"[UW][A-Z0-9]+", user):
            raise ApiError("user_not_found")
        name = "docbot" if user == self.bot_user_id else f"user-{user.lower()}"
        return {
            "user": {
                "id": user,
                "team_id": self.team_id,
                "name": name,
                "real_name": name.title(),
                "deleted": False,
                "is_bot": user == self.bot_user_id,
                "tz": "Europe/London",
                "tz_offset": 0,
                "profile": {"display_name": name, "real_name": name.title()},
            }
        }

    def _channel_arg(self, args: dict[str, Any]) -> str:
        channel = str(args.get("channel", ""))
        if not _CHANNEL_ID.match(channel):
            raise ApiError("channel_not_found")
        return channel

    def _check_content(self, args: dict[str, Any]) -> None:
        text, blocks = args.get("text"), args.get("blocks")
        if not text and not blocks and not args.get("attachments"):
            raise ApiError("no_text")
        if text is not None and len(str(text)) > MAX_TEXT_CHARS:
            raise ApiError("msg_too_long")
        if blocks is not None:
            errors = _block_errors(blocks)
            if errors:
                raise ApiError("invalid_blocks", errors=errors, response_metadata={"messages": errors})
            markdown = sum(len(str(b.get("text", ""))) for b in blocks if b.get("type") == "markdown")
            if markdown > MAX_MARKDOWN_CHARS:
                raise ApiError("msg_blocks_too_long")

    def _bot_message(self, args: dict[str, Any], ts: str) -> dict[str, Any]:
        message: dict[str, Any] = {
            "type": "message",
            "user": self.bot_user_id,
            "bot_id": self.bot_id,
            "app_id": self.app_id,
            "team": self.team_id,
            "text": str(args.get("text") or ""),
            "ts": ts,
            "bot_profile": {
                "id": self.bot_id,
                "app_id": self.app_id,
                "name": "docbot",
                "team_id": self.team_id,
            },
        }
        for key in ("blocks", "attachments", "metadata"):
            if key in args:
                message[key] = args[key]
        return message

    # ---- message store -------------------------------------------------------------------------

    def _new_ts(self) -> str:
        with self._lock:
            self._last_ts = max(round(time.time(), 6), round(self._last_ts + 0.000001, 6))
            return f"{self._last_ts:.6f}"

    def _store(self, channel: str, message: dict[str, Any]) -> None:
        with self._lock:
            messages = self._channels.setdefault(channel, [])
            if any(m["ts"] == message["ts"] for m in messages):
                return
            messages.append(message)
            messages.sort(key=lambda m: float(m["ts"]))
            parent_ts = message.get("thread_ts")
            if parent_ts and parent_ts != message["ts"]:
                parent = next((m for m in messages if m["ts"] == parent_ts), None)
                if parent is not None:
                    replies = [m for m in messages if m.get("thread_ts") == parent_ts and m is not parent]
                    parent.update(
                        thread_ts=parent_ts,
                        reply_count=len(replies),
                        latest_reply=replies[-1]["ts"],
                        reply_users=sorted({str(m.get("user")) for m in replies}),
                    )

    def _find(self, channel: str, ts: str) -> dict[str, Any]:
        for message in self._channels.get(channel, []):
            if message["ts"] == ts:
                return message
        raise ApiError("message_not_found")

    def _thread_messages(self, channel: str, thread_ts: str) -> list[dict[str, Any]]:
        return [
            m
            for m in self._channels.get(channel, [])
            if m["ts"] == thread_ts or m.get("thread_ts") == thread_ts
        ]

    def _store_event_message(self, event: dict[str, Any]) -> None:
        """Keep the store in step with a message event the test sends (new, edited or deleted)."""
        channel = str(event.get("channel", ""))
        subtype = event.get("subtype")
        with self._lock:
            if subtype == "message_changed":
                changed = event.get("message") or {}
                for message in self._channels.get(channel, []):
                    if message["ts"] == changed.get("ts"):
                        message.update(text=changed.get("text", ""), edited=changed.get("edited"))
            elif subtype == "message_deleted":
                self._channels[channel] = [
                    m for m in self._channels.get(channel, []) if m["ts"] != event.get("deleted_ts")
                ]
            elif (
                event.get("user") and "text" in event and subtype in (None, "thread_broadcast", "file_share")
            ):
                keep = (
                    "type",
                    "subtype",
                    "user",
                    "bot_id",
                    "text",
                    "ts",
                    "thread_ts",
                    "team",
                    "client_msg_id",
                    "blocks",
                    "files",
                )
                message = {k: copy.deepcopy(event[k]) for k in keep if k in event}
                message["type"] = "message"
                self._store(channel, message)

    # ---- inspection -------------------------------------------------------------------------------

    def calls(self, method: str | None = None) -> list[Call]:
        """Web API calls received so far, oldest first, optionally of one method."""
        with self._lock:
            return [c for c in self._calls if method is None or c.method == method]

    def messages(self, channel: str, thread_ts: str | None = None) -> list[dict[str, Any]]:
        """Current messages of a channel (all, threads included), or of one thread (root first)."""
        with self._lock:
            found = (
                self._channels.get(channel, [])
                if thread_ts is None
                else self._thread_messages(channel, thread_ts)
            )
            return copy.deepcopy(found)

    def ephemerals(self, channel: str) -> list[dict[str, Any]]:
        """Ephemeral messages posted in a channel (they never appear in messages())."""
        with self._lock:
            return copy.deepcopy(self._ephemerals.get(channel, []))

    def reactions(self, channel: str, ts: str) -> list[str]:
        """Names of the reactions currently on a message."""
        with self._lock:
            try:
                return [r["name"] for r in self._find(channel, ts).get("reactions", [])]
            except ApiError:
                return []

    def stream_state(self, channel: str, ts: str) -> str | None:
        """streaming, stopped, closed (by the fake, like Slack after idling or living too long), or None
        for a message that was never streamed."""
        with self._lock:
            stream = self._streams.get((channel, ts))
            return None if stream is None else self._stream_state(stream)

    def thread_status(self, channel: str, thread_ts: str) -> dict[str, Any] | None:
        """The status shown in a thread now ({"status", "loading_messages", "age"}), None when none:
        never set, cleared, replaced by a post in the thread, or expired after status_expiry_seconds."""
        with self._lock:
            status = self._statuses.get((channel, thread_ts))
            if status is None:
                return None
            age = time.monotonic() - status.set_at
            if age > self.status_expiry_seconds:
                return None
            return {"status": status.status, "loading_messages": list(status.loading_messages), "age": age}

    def close_streams_after(self, seconds: float | None = None, *, idle: float | None = None) -> None:
        """Close streams older than `seconds` or idle for `idle` seconds (Slack's are about 5 minutes)."""
        with self._lock:
            self.stream_lifetime_seconds = STREAM_LIFETIME_SECONDS if seconds is None else seconds
            self.stream_idle_seconds = STREAM_IDLE_SECONDS if idle is None else idle

    def wait_for(self, predicate: Callable[[FakeSlack], bool], timeout: float = 10.0) -> None:
        """Poll predicate(self) until true; on timeout fail with a summary of the calls received."""
        wait_until(
            lambda: predicate(self), timeout, lambda: f"condition not met; calls so far:\n{self.summary()}"
        )

    def wait_for_calls(
        self, method: str, count: int = 1, timeout: float = 10.0, where: Callable[[Call], bool] | None = None
    ) -> list[Call]:
        """Wait until at least `count` calls of `method` (matching `where`) arrived; return them all."""

        def matching() -> list[Call]:
            return [c for c in self.calls(method) if where is None or where(c)]

        self.wait_for(lambda _: len(matching()) >= count, timeout)
        return matching()

    def summary(self) -> str:
        """One line per call, for failure messages."""
        lines = []
        for c in self.calls():
            brief = {k: c.args[k] for k in ("channel", "ts", "thread_ts", "timestamp", "name") if k in c.args}
            text = str(c.args.get("text", ""))[:60]
            lines.append(f"  {c.method} status={c.status} ok={c.ok} error={c.error} {brief} text={text!r}")
        lines.append(
            f"  connections open={self.connection_count} opened={self.connections_opened}"
            f" acks={len(self._acks)} sent={len(self._sent)} pending={len(self._pending)}"
        )
        return "\n".join(lines)

    # ---- trouble injection -----------------------------------------------------------------------

    def fail_next(
        self,
        method: str,
        *,
        status: int | None = None,
        retry_after: int = 1,
        times: int = 1,
        error: str | None = None,
    ) -> None:
        """Fail the next `times` calls: HTTP 429 + Retry-After by default, any status, or 200 with `error`."""
        if status is None:
            status = 200 if error is not None else 429
        default = "ratelimited" if status == 429 else "internal_error"
        with self._lock:
            self._failures.setdefault(method, []).append(
                _Failure(status, retry_after, error or default, times)
            )

    def invalidate(self, token: str, error: str = "invalid_auth") -> None:
        """From now on that token gets `error` (e.g. invalid_auth, token_revoked)."""
        with self._lock:
            self._revoked[token] = error

    def enforce_rate_tiers(self, window: float | None = 60.0, limits: dict[str, int] | None = None) -> None:
        """Answer 429 + Retry-After past RATE_TIERS' counts (or `limits` for some methods) per `window`
        seconds (60 is Slack's minute; a test may shrink both to see a limit bite in seconds); None: off."""
        with self._lock:
            self._tier_window = window
            self._tiers = {**RATE_TIERS, **(limits or {})}
            self._tier_calls.clear()

    def redeliver_unacked_after(self, seconds: float | None) -> None:
        """Like Slack, resend events_api envelopes not acked within `seconds` (None turns it off)."""
        self._redeliver_after = seconds

    def drop_connections(self) -> None:
        """Reset every WebSocket at the TCP level (no close frame), like a network failure."""
        self._run(self._async_reset_all())

    def close_connections(self, code: int = 1001) -> None:
        """Close every WebSocket cleanly with a close frame."""
        self._run(self._async_close_all(code))

    def send_disconnect(self, reason: str = "refresh_requested") -> None:
        """Send Slack's disconnect frame on every socket; new envelopes wait for a fresh connection."""
        self._run(self._async_disconnect(reason))

    def hang_up(self) -> None:
        """Before closing a client: refuse new connections and reset the open ones, so close() is instant."""
        self._refusing = True
        self.drop_connections()

    def accept_connections(self) -> None:
        """Undo hang_up()."""
        self._refusing = False

    async def _async_reset_all(self) -> None:
        self._reset_all()

    def _reset_all(self) -> None:
        for conn in list(self._conns):
            sock = conn.request.transport.get_extra_info("socket") if conn.request.transport else None
            if sock is not None:
                # Linger 0 makes close() send RST: the client's blocking recv fails at once
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            if conn.request.transport is not None:
                conn.request.transport.abort()
        self._conns.clear()

    async def _async_close_all(self, code: int) -> None:
        for conn in list(self._conns):
            await conn.ws.close(code=code)

    async def _async_disconnect(self, reason: str) -> None:
        frame = {"type": "disconnect", "reason": reason, "debug_info": {"host": "applink-fake"}}
        for conn in list(self._conns):
            conn.draining = True
            await conn.ws.send_str(json.dumps(frame))

    # ---- Socket Mode -------------------------------------------------------------------------------

    @property
    def connection_count(self) -> int:
        """WebSockets open now."""
        return len(self._conns)

    def wait_connected(self, timeout: float = 10.0) -> None:
        """Wait until a client holds an open (not draining) Socket Mode connection."""
        self.wait_for(lambda f: any(not c.draining for c in f._conns), timeout)

    async def _handle_link(self, request: web.Request) -> web.StreamResponse:
        ticket = request.query.get("ticket", "")
        with self._lock:
            valid = ticket in self._tickets and not self._refusing
            self._tickets.discard(ticket)
        if not valid:
            return web.Response(status=401, text="invalid or used ticket")
        ws = web.WebSocketResponse(autoping=True)
        await ws.prepare(request)
        conn = _Conn(ws, request)
        self._conns.append(conn)
        self.connections_opened += 1
        await ws.send_str(
            json.dumps(
                {
                    "type": "hello",
                    "num_connections": len(self._conns),
                    "debug_info": {
                        "host": "applink-fake",
                        "build_number": 1,
                        "approximate_connection_time": 18060,
                    },
                    "connection_info": {"app_id": self.app_id},
                }
            )
        )
        await self._flush_pending()
        for old in self._conns:
            if old.draining and old is not conn:
                # Slack closes a refreshed connection once its replacement is up
                asyncio.get_running_loop().create_task(old.ws.close(code=1001, message=b"refreshed"))
        try:
            async for msg in ws:
                if msg.type == WSMsgType.TEXT:
                    self._on_client_text(msg.data)
        except ConnectionError:
            logger.debug("fake_slack websocket_reset")
        finally:
            if conn in self._conns:
                self._conns.remove(conn)
        return ws

    def _on_client_text(self, data: str) -> None:
        try:
            message = json.loads(data)
        except ValueError:
            logger.warning("fake_slack non_json_frame len=%d", len(data))
            return
        if isinstance(message, dict) and "envelope_id" in message:
            with self._lock:
                self._acks[message["envelope_id"]] = {**message, "acked_at": time.monotonic()}

    async def _handle_response_url(self, request: web.Request) -> web.Response:
        args = await _request_args(request)
        with self._lock:
            self._calls.append(Call("response_url", args, time.monotonic(), response={"ok": True}))
        return web.json_response({"ok": True})

    async def _deliver(self, envelope: dict[str, Any]) -> None:
        self._pending.append(envelope)
        await self._flush_pending()

    async def _flush_pending(self) -> None:
        while self._pending:
            live = [c for c in self._conns if not c.draining and not c.ws.closed]
            if not live:
                return
            envelope = self._pending.pop(0)
            try:
                await live[-1].ws.send_str(json.dumps(envelope))
            except (ConnectionError, RuntimeError):
                self._pending.insert(0, envelope)
                return
            with self._lock:
                self._sent[envelope["envelope_id"]] = _Sent(envelope, time.monotonic())

    async def _tick(self) -> None:
        while True:
            await asyncio.sleep(0.05)
            if self._redeliver_after is not None:
                await self._redeliver(self._redeliver_after)

    async def _redeliver(self, after: float) -> None:
        now = time.monotonic()
        with self._lock:
            due = [
                s
                for s in self._sent.values()
                if not s.redelivered
                and s.envelope["type"] == "events_api"
                and s.envelope["envelope_id"] not in self._acks
                and now - s.sent_at > after
                and s.envelope["retry_attempt"] < MAX_REDELIVERIES
            ]
            for sent in due:
                sent.redelivered = True
        for sent in due:
            retry = {
                **sent.envelope,
                "envelope_id": self._envelope_id(),
                "retry_attempt": sent.envelope["retry_attempt"] + 1,
                "retry_reason": "timeout",
            }
            await self._deliver(retry)

    def sent_envelopes(self) -> list[dict[str, Any]]:
        """Envelopes written to a socket, in order (redeliveries included)."""
        with self._lock:
            return [copy.deepcopy(s.envelope) for s in self._sent.values()]

    def acks(self) -> dict[str, dict[str, Any]]:
        """Acks received: envelope_id -> the client's frame (with `payload` if any) plus acked_at."""
        with self._lock:
            return copy.deepcopy(self._acks)

    def wait_for_ack(self, envelope_id: str, timeout: float = 5.0) -> dict[str, Any]:
        """Wait for the client to ack an envelope; return its ack frame."""
        self.wait_for(lambda f: envelope_id in f._acks, timeout)
        return self.acks()[envelope_id]

    def _envelope_id(self) -> str:
        return str(uuid.uuid4())

    def send_envelope(
        self,
        kind: str,
        payload: dict[str, Any],
        *,
        accepts_response_payload: bool = False,
        retry_attempt: int = 0,
        retry_reason: str = "",
    ) -> str:
        """Send any envelope (events_api, slash_commands, interactive); queued while no client is up."""
        envelope = {
            "envelope_id": self._envelope_id(),
            "type": kind,
            "payload": payload,
            "accepts_response_payload": accepts_response_payload,
        }
        if kind == "events_api":
            envelope |= {"retry_attempt": retry_attempt, "retry_reason": retry_reason}
        self._run(self._deliver(envelope))
        return str(envelope["envelope_id"])

    def send_event(
        self,
        event: dict[str, Any],
        *,
        event_id: str | None = None,
        retry_attempt: int = 0,
        retry_reason: str = "",
    ) -> str:
        """Send an event in an event_callback/events_api envelope; store user messages; return envelope_id."""
        event = copy.deepcopy(event)
        if event.get("type") in ("message", "app_mention") and event.get("user") and "text" in event:
            event.setdefault("ts", self._new_ts())
            event.setdefault("event_ts", event["ts"])
        event.setdefault("event_ts", self._new_ts())
        if event.get("type") in ("message", "app_mention"):
            self._store_event_message(event)
        payload = {
            "token": "fake-verification-token",
            "team_id": self.team_id,
            "api_app_id": self.app_id,
            "event": event,
            "type": "event_callback",
            "event_id": event_id or f"Ev{next(self._ids):08d}",
            "event_time": int(time.time()),
            "is_ext_shared_channel": False,
            "event_context": uuid.uuid4().hex,
            "authorizations": [
                {
                    "enterprise_id": None,
                    "team_id": self.team_id,
                    "user_id": self.bot_user_id,
                    "is_bot": True,
                    "is_enterprise_install": False,
                }
            ],
        }
        return self.send_envelope(
            "events_api", payload, retry_attempt=retry_attempt, retry_reason=retry_reason
        )

    def _user_message(
        self, kind: str, text: str, user: str, channel: str, thread_ts: str | None, ts: str | None
    ) -> dict[str, Any]:
        ts = ts or self._new_ts()
        event = {
            "type": kind,
            "user": user,
            "text": text,
            "ts": ts,
            "channel": channel,
            "event_ts": ts,
            "team": self.team_id,
            "client_msg_id": str(uuid.uuid4()),
        }
        if thread_ts:
            event["thread_ts"] = thread_ts
        return event

    def mention(
        self,
        text: str,
        *,
        user: str = "U1",
        channel: str = "C1",
        thread_ts: str | None = None,
        ts: str | None = None,
        event_id: str | None = None,
        also_message: bool = False,
    ) -> tuple[str, str]:
        """@mention the bot: an app_mention event (plus the matching message event if also_message)."""
        event = self._user_message(
            "app_mention", f"<@{self.bot_user_id}> {text}", user, channel, thread_ts, ts
        )
        envelope_id = self.send_event(event, event_id=event_id)
        if also_message:
            kind = "im" if channel.startswith("D") else "channel"
            self.send_event({**event, "type": "message", "channel_type": kind})
        return envelope_id, str(event["ts"])

    def dm(
        self,
        text: str,
        *,
        user: str = "U1",
        channel: str = "D1",
        thread_ts: str | None = None,
        ts: str | None = None,
        event_id: str | None = None,
    ) -> tuple[str, str]:
        """A direct message to the bot: a message event with channel_type im."""
        return self.message(
            text, user=user, channel=channel, channel_type="im", thread_ts=thread_ts, ts=ts, event_id=event_id
        )

    def message(
        self,
        text: str,
        *,
        user: str = "U1",
        channel: str = "C1",
        channel_type: str = "channel",
        thread_ts: str | None = None,
        ts: str | None = None,
        event_id: str | None = None,
    ) -> tuple[str, str]:
        """A plain message event (message.channels / message.im); returns (envelope_id, ts)."""
        event = {
            **self._user_message("message", text, user, channel, thread_ts, ts),
            "channel_type": channel_type,
        }
        return self.send_event(event, event_id=event_id), str(event["ts"])

    def edit(self, channel: str, ts: str, text: str, *, user: str = "U1") -> str:
        """The user edits a message: a message_changed event; returns envelope_id."""
        with self._lock:
            previous = next((copy.deepcopy(m) for m in self._channels.get(channel, []) if m["ts"] == ts), {})
        now = self._new_ts()
        changed = {
            **previous,
            "type": "message",
            "user": user,
            "text": text,
            "ts": ts,
            "edited": {"user": user, "ts": now},
        }
        return self.send_event(
            {
                "type": "message",
                "subtype": "message_changed",
                "hidden": True,
                "channel": channel,
                "ts": now,
                "event_ts": now,
                "message": changed,
                "previous_message": previous,
                "channel_type": "im" if channel.startswith("D") else "channel",
            }
        )

    def delete(self, channel: str, ts: str) -> str:
        """The user deletes a message: a message_deleted event; returns envelope_id."""
        with self._lock:
            previous = next((copy.deepcopy(m) for m in self._channels.get(channel, []) if m["ts"] == ts), {})
        now = self._new_ts()
        return self.send_event(
            {
                "type": "message",
                "subtype": "message_deleted",
                "hidden": True,
                "channel": channel,
                "ts": now,
                "event_ts": now,
                "deleted_ts": ts,
                "previous_message": previous,
                "channel_type": "im" if channel.startswith("D") else "channel",
            }
        )

    def send_slash_command(
        self, command: str = "/docbot", text: str = "", *, user_id: str = "U1", channel_id: str = "C1"
    ) -> str:
        """Send a slash command envelope (accepts_response_payload); returns envelope_id."""
        n = next(self._ids)
        payload = {
            "token": "fake-verification-token",
            "team_id": self.team_id,
            "team_domain": "fake-team",
            "channel_id": channel_id,
            "channel_name": f"channel-{channel_id.lower()}",
            "user_id": user_id,
            "user_name": f"user-{user_id.lower()}",
            "command": command,
            "text": text,
            "api_app_id": self.app_id,
            "is_enterprise_install": "false",
            "response_url": f"{self.base_url}/response/{n}",
            "trigger_id": f"{n}.1.fake",
        }
        return self.send_envelope("slash_commands", payload, accepts_response_payload=True)

    def _echo(self, call: Call) -> None:
        message = call.response["message"]
        channel = str(call.response["channel"])
        event = {
            **copy.deepcopy(message),
            "channel": channel,
            "event_ts": message["ts"],
            "channel_type": "im" if channel.startswith("D") else "channel",
        }
        payload_event = {k: v for k, v in event.items() if k != "bot_profile"}
        assert self._loop is not None
        # Called on the loop thread: schedule, do not block on ourselves
        self._loop.create_task(self._deliver(self._event_envelope(payload_event)))

    def _event_envelope(self, event: dict[str, Any]) -> dict[str, Any]:
        return {
            "envelope_id": self._envelope_id(),
            "type": "events_api",
            "accepts_response_payload": False,
            "retry_attempt": 0,
            "retry_reason": "",
            "payload": {
                "token": "fake-verification-token",
                "team_id": self.team_id,
                "api_app_id": self.app_id,
                "event": event,
                "type": "event_callback",
                "event_id": f"Ev{next(self._ids):08d}",
                "event_time": int(time.time()),
                "authorizations": [{"team_id": self.team_id, "user_id": self.bot_user_id, "is_bot": True}],
            },
        }

    # ---- interactivity and the Messages tab: feedback buttons, modals, suggested prompts -------------
    # Slack's rules as the bot meets them: a click arrives as a block_actions envelope carrying a fresh
    # trigger_id, which views.open accepts once and only within 3 s; a submitted modal arrives as a
    # view_submission envelope; opening the app's Messages tab is an app_home_opened event. Methods are
    # checked against `granted_scopes` (None: every scope granted).

    def _init_interactive(self) -> None:
        self.trigger_ttl = TRIGGER_TTL_SECONDS
        self.granted_scopes: set[str] | None = None
        self.bot_events: set[str] | None = None  # None: every event is delivered
        self.interactivity = True
        self._triggers: dict[str, tuple[float, str]] = {}  # trigger_id -> (issued at, user)
        self._exchanged: set[str] = set()
        self._views: dict[str, dict[str, Any]] = {}
        self._prompts: dict[str, list[dict[str, Any]]] = {}  # channel -> setSuggestedPrompts applied
        self._payloads: dict[str, tuple[str, dict[str, Any]]] = {}  # envelope_id -> (type, payload)

    def apply_manifest(self, manifest: dict[str, Any]) -> None:
        """Behave like a workspace where the app was created from `manifest` (slack/manifest.yml, parsed):
        only its bot scopes granted, only its events sent, interactive payloads only with interactivity."""
        self.granted_scopes = set(manifest["oauth_config"]["scopes"]["bot"])
        self.bot_events = set(manifest["settings"]["event_subscriptions"]["bot_events"])
        self.interactivity = bool(manifest["settings"].get("interactivity", {}).get("is_enabled"))

    def _need_scope(self, method: str) -> None:
        scope = _METHOD_SCOPES.get(method)
        if scope and self.granted_scopes is not None and scope not in self.granted_scopes:
            raise ApiError("missing_scope", needed=scope, provided=",".join(sorted(self.granted_scopes)))

    def _new_trigger(self, user: str) -> str:
        trigger = f"{next(self._ids)}.{int(time.time())}.{uuid.uuid4().hex[:16]}"
        with self._lock:
            self._triggers[trigger] = (time.monotonic(), user)
        return trigger

    def _api_views_open(self, args: dict[str, Any]) -> dict[str, Any]:
        trigger = str(args.get("trigger_id") or "")
        view = args.get("view")
        if isinstance(view, str):
            try:
                view = json.loads(view)
            except ValueError as e:
                raise ApiError("invalid_arguments") from e
        if not trigger or view is None:
            missing = "trigger_id" if not trigger else "view"
            raise ApiError("invalid_arguments", response_metadata={"messages": [f"missing {missing}"]})
        issued = self._triggers.get(trigger)
        if issued is None:
            raise ApiError("invalid_trigger_id")
        if trigger in self._exchanged:
            raise ApiError("exchanged_trigger_id")
        if time.monotonic() - issued[0] > self.trigger_ttl:
            raise ApiError("expired_trigger_id")
        errors = _view_errors(view)
        if errors:
            raise ApiError("invalid_arguments", response_metadata={"messages": errors})
        self._exchanged.add(trigger)
        view_id = f"V{next(self._ids):08d}"
        stored = {
            **copy.deepcopy(view),
            "id": view_id,
            "team_id": self.team_id,
            "app_id": self.app_id,
            "bot_id": self.bot_id,
            "hash": uuid.uuid4().hex[:20],
            "state": {"values": {}},
            "private_metadata": str(view.get("private_metadata", "")),
            "callback_id": str(view.get("callback_id", "")),
        }
        self._views[view_id] = {"view": stored, "user": issued[1]}
        return {"view": copy.deepcopy(stored)}

    def _api_assistant_threads_setSuggestedPrompts(self, args: dict[str, Any]) -> dict[str, Any]:
        self._need_scope("assistant.threads.setSuggestedPrompts")
        channel = str(args.get("channel_id", ""))
        if not _CHANNEL_ID.match(channel):
            raise ApiError("channel_not_found")
        prompts = args.get("prompts")
        if isinstance(prompts, str):
            with contextlib.suppress(ValueError):
                prompts = json.loads(prompts)
        errors = _prompt_errors(prompts)
        if args.get("title") is not None and not isinstance(args["title"], str):
            errors.append("title must be a string")
        if errors:
            raise ApiError("invalid_arguments", response_metadata={"messages": errors})
        if args.get("thread_ts"):
            return {}  # the agent view ignores a thread_ts call without an error
        self._prompts[channel] = [{"title": args.get("title"), "prompts": copy.deepcopy(prompts)}]
        return {}

    def suggested_prompts(self, channel: str) -> dict[str, Any] | None:
        """The suggested prompts (title and prompts) last set for a DM's Messages tab, or None."""
        with self._lock:
            latest = self._prompts.get(channel)
            return copy.deepcopy(latest[-1]) if latest else None

    def views(self) -> list[dict[str, Any]]:
        """Modals opened so far, oldest first: {"view": ..., "user": ...}."""
        with self._lock:
            return copy.deepcopy(list(self._views.values()))

    def _send_interactive(self, payload: dict[str, Any]) -> str:
        assert self.interactivity, "interactivity is off in the app's manifest: Slack sends no payload"
        envelope_id = self.send_envelope("interactive", payload)
        with self._lock:
            self._payloads[envelope_id] = ("interactive", copy.deepcopy(payload))
        return envelope_id

    def _user_obj(self, user: str) -> dict[str, Any]:
        name = f"user-{user.lower()}"
        return {"id": user, "username": name, "name": name, "team_id": self.team_id}

    def click_feedback(
        self, channel: str, message_ts: str, *, user: str = "U1", positive: bool = True
    ) -> str:
        """A person clicks 👍 (positive) or 👎 on a message's feedback_buttons: a block_actions envelope
        with a fresh trigger_id; returns its envelope_id. Fails if the message shows no such buttons."""
        with self._lock:
            message = copy.deepcopy(self._find(channel, message_ts))
        found = [
            (block, element)
            for block in message.get("blocks") or []
            if block.get("type") == "context_actions"
            for element in block.get("elements") or []
            if element.get("type") == "feedback_buttons"
        ]
        assert found, f"message {message_ts} shows no feedback buttons"
        block, element = found[-1]
        button = element["positive_button" if positive else "negative_button"]
        payload: dict[str, Any] = {
            "type": "block_actions",
            "user": self._user_obj(user),
            "api_app_id": self.app_id,
            "token": "fake-verification-token",
            "container": {
                "type": "message",
                "message_ts": message_ts,
                "channel_id": channel,
                "is_ephemeral": False,
                **({"thread_ts": message["thread_ts"]} if message.get("thread_ts") else {}),
            },
            "trigger_id": self._new_trigger(user),
            "team": {"id": self.team_id, "domain": "fake-team"},
            "enterprise": None,
            "is_enterprise_install": False,
            "channel": {"id": channel, "name": f"channel-{channel.lower()}"},
            "message": message,
            "state": {"values": {}},
            "response_url": f"{self.base_url}/response/{next(self._ids)}",
            "actions": [
                {
                    "type": "feedback_buttons",
                    "action_id": element["action_id"],
                    "block_id": block.get("block_id", ""),
                    "value": button["value"],
                    "action_ts": f"{time.time():.6f}",
                }
            ],
        }
        return self._send_interactive(payload)

    def submit_view(self, view_id: str, values: dict[str, Any], *, user: str | None = None) -> str:
        """The person submits an open modal: values by action_id (text for plain_text_input, a list of
        option values for checkboxes); a view_submission envelope; returns its envelope_id."""
        with self._lock:
            opened = copy.deepcopy(self._views[view_id])
        view, user = opened["view"], user or opened["user"]
        state: dict[str, dict[str, Any]] = {}
        for block in view.get("blocks") or []:
            if block.get("type") != "input":
                continue
            element = block["element"]
            action = element["action_id"]
            given = values.get(action)
            if given in (None, "", []):
                assert block.get("optional"), f"{action} is required: Slack would not submit"
                continue
            if element["type"] == "plain_text_input":
                limit = element.get("max_length", 3000)
                assert len(str(given)) <= limit, f"{action} is longer than {limit}: Slack would not submit"
                state[block["block_id"]] = {action: {"type": "plain_text_input", "value": str(given)}}
            elif element["type"] == "checkboxes":
                picked = [o for o in element["options"] if o["value"] in given]
                state[block["block_id"]] = {action: {"type": "checkboxes", "selected_options": picked}}
        view["state"] = {"values": state}
        payload = {
            "type": "view_submission",
            "team": {"id": self.team_id, "domain": "fake-team"},
            "user": self._user_obj(user),
            "api_app_id": self.app_id,
            "token": "fake-verification-token",
            "trigger_id": self._new_trigger(user),
            "view": view,
            "response_urls": [],
            "enterprise": None,
            "is_enterprise_install": False,
        }
        return self._send_interactive(payload)

    def redeliver(self, envelope_id: str) -> str:
        """Send an interactive envelope's payload again under a new envelope id (at-least-once delivery)."""
        with self._lock:
            kind, payload = self._payloads[envelope_id]
        new_id = self.send_envelope(kind, copy.deepcopy(payload))
        with self._lock:
            self._payloads[new_id] = (kind, payload)
        return new_id

    def open_app_home(self, *, user: str = "U1", channel: str = "D1", tab: str = "messages") -> str:
        """The person opens the app's Messages (or Home) tab: an app_home_opened event; its envelope_id."""
        subscribed = self.bot_events is None or "app_home_opened" in self.bot_events
        assert subscribed, "the app's manifest does not subscribe to app_home_opened: Slack sends nothing"
        return self.send_event({"type": "app_home_opened", "user": user, "channel": channel, "tab": tab})


TRIGGER_TTL_SECONDS = 3.0
MAX_CONTEXT_ACTIONS = 5
MAX_FEEDBACK_TEXT = 75
MAX_FEEDBACK_VALUE = 2000
MAX_VIEW_TITLE = 24
MAX_VIEW_BLOCKS = 100
MAX_PRIVATE_METADATA = 3000
MAX_PROMPTS = 4
_METHOD_SCOPES = {
    "assistant.threads.setSuggestedPrompts": "assistant:write",
    "chat.postEphemeral": "chat:write",
}


def _plain_text_errors(obj: Any, limit: int, where: str) -> list[str]:
    if not isinstance(obj, dict) or obj.get("type") != "plain_text" or not str(obj.get("text", "")):
        return [f"must be a plain_text object {where}]"]
    if len(str(obj["text"])) > limit:
        return [f"must be less than {limit + 1} characters {where}/text]"]
    return []


def _context_actions_errors(block: dict[str, Any], ptr: str) -> list[str]:
    """A context_actions block: 1-5 feedback_buttons or icon_button elements, each button within limits."""
    elements = block.get("elements") or []
    if not elements or len(elements) > MAX_CONTEXT_ACTIONS:
        return [f"must have 1 to {MAX_CONTEXT_ACTIONS} items {ptr}/elements]"]
    errors = []
    for j, element in enumerate(elements):
        where = f"{ptr}/elements/{j}"
        kind = element.get("type") if isinstance(element, dict) else None
        if kind not in ("feedback_buttons", "icon_button"):
            errors.append(f"must be one of feedback_buttons, icon_button {where}/type]")
            continue
        if not element.get("action_id") or len(str(element["action_id"])) > 255:
            errors.append(f"action_id must be 1 to 255 characters {where}/action_id]")
        if kind == "feedback_buttons":
            for side in ("positive_button", "negative_button"):
                button = element.get(side)
                if not isinstance(button, dict):
                    errors.append(f"missing required field: {side} {where}]")
                    continue
                errors += _plain_text_errors(button.get("text"), MAX_FEEDBACK_TEXT, f"{where}/{side}/text")
                value = button.get("value")
                if not isinstance(value, str) or not value or len(value) > MAX_FEEDBACK_VALUE:
                    errors.append(f"value must be 1 to {MAX_FEEDBACK_VALUE} characters {where}/{side}/value]")
    return errors


def _view_errors(view: Any) -> list[str]:
    """What views.open rejects as invalid_arguments (the limits a modal meets in practice)."""
    if not isinstance(view, dict) or view.get("type") != "modal":
        return ["[ERROR] view type must be modal [json-pointer:/view/type]"]
    errors = _plain_text_errors(view.get("title"), MAX_VIEW_TITLE, "[json-pointer:/view/title")
    for key in ("submit", "close"):
        if key in view:
            errors += _plain_text_errors(view[key], MAX_VIEW_TITLE, f"[json-pointer:/view/{key}")
    blocks = view.get("blocks")
    if not isinstance(blocks, list) or not blocks or len(blocks) > MAX_VIEW_BLOCKS:
        return [*errors, f"[ERROR] must have 1 to {MAX_VIEW_BLOCKS} blocks [json-pointer:/view/blocks]"]
    inputs = [b for b in blocks if isinstance(b, dict) and b.get("type") == "input"]
    if inputs and "submit" not in view:
        errors.append("[ERROR] a view with input blocks needs submit [json-pointer:/view/submit]")
    for i, block in enumerate(inputs):
        where = f"[json-pointer:/view/blocks/{i}"
        errors += _plain_text_errors(block.get("label"), 2000, f"{where}/label")
        element = block.get("element")
        if not isinstance(element, dict) or not element.get("action_id"):
            errors.append(f"[ERROR] missing element or action_id {where}/element]")
        elif element.get("type") == "plain_text_input" and int(element.get("max_length", 3000)) > 3000:
            errors.append(f"[ERROR] max_length must be at most 3000 {where}/element/max_length]")
        elif element.get("type") == "checkboxes" and not 1 <= len(element.get("options") or []) <= 10:
            errors.append(f"[ERROR] must have 1 to 10 options {where}/element/options]")
    if len(str(view.get("private_metadata", ""))) > MAX_PRIVATE_METADATA:
        errors.append(
            f"[ERROR] must be at most {MAX_PRIVATE_METADATA} characters [json-pointer:/view/private_metadata]"
        )
    if len(str(view.get("callback_id", ""))) > 255:
        errors.append("[ERROR] must be at most 255 characters [json-pointer:/view/callback_id]")
    return errors


def _prompt_errors(prompts: Any) -> list[str]:
    """assistant.threads.setSuggestedPrompts: 1 to 4 prompts, each a non-empty title and message."""
    if not isinstance(prompts, list) or not 1 <= len(prompts) <= MAX_PROMPTS:
        return [f"prompts must be a list of 1 to {MAX_PROMPTS}"]
    return [
        f"prompts[{i}] needs a non-empty title and message"
        for i, p in enumerate(prompts)
        if not isinstance(p, dict)
        or not (isinstance(p.get("title"), str) and p["title"].strip())
        or not (isinstance(p.get("message"), str) and p["message"].strip())
    ]


def close_handler(fake: FakeSlack, handler: Any) -> None:
    """Close a slack_bolt Socket Mode handler in well under a second instead of 1-4 s.

    Resets its sockets from the server side (so its blocking recv ends) and wakes the builtin client's
    message processor, which otherwise sits out a 1 s queue timeout before close() can join it.
    """
    fake.hang_up()
    client = getattr(handler, "client", None)
    queue = getattr(client, "message_queue", None)
    if client is not None and queue is not None:
        client.closed = True
        queue.put(None)  # the processor skips None and sees `closed`
    handler.close()
    fake.accept_connections()


async def _request_args(request: web.Request) -> dict[str, Any]:
    """Query, form and JSON arguments merged, with JSON-in-form fields (blocks, attachments) decoded."""
    args: dict[str, Any] = dict(request.query)
    if request.can_read_body:
        if request.content_type == "application/json":
            body = await request.json()
            args.update(body if isinstance(body, dict) else {})
        else:
            args.update({k: v for k, v in (await request.post()).items() if isinstance(v, str)})
    for key in ("blocks", "attachments", "metadata"):
        if isinstance(args.get(key), str):
            with contextlib.suppress(ValueError):
                args[key] = json.loads(args[key])
    return args


def _bearer(request: web.Request) -> str | None:
    auth = request.headers.get("Authorization", "")
    if not auth.startswith("Bearer "):
        return None
    return auth.removeprefix("Bearer ").strip() or None


@contextlib.contextmanager
def running_fake_slack() -> Iterator[FakeSlack]:
    """A started FakeSlack, stopped on leaving the block."""
    fake = FakeSlack()
    fake.start()
    try:
        yield fake
    finally:
        fake.stop()
