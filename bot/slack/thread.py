"""The Slack calls the bot makes in a question's thread, and which of their failures are worth retrying."""

from __future__ import annotations

import http.client
import logging
from typing import Any

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.slack.render import SlackMessage

logger = logging.getLogger(__name__)

ANSWER_EVENT = "docbot_answer"
NOTICE_EVENT = "docbot_notice"  # every other bot post, so an unmarked bot message can only be a stream
REPLIES_PAGE = 200
TRANSIENT_ERRORS = frozenset(
    {"ratelimited", "internal_error", "fatal_error", "service_unavailable", "request_timeout"}
)


def is_transient(exc: BaseException) -> bool:
    """True for failures that a later retry can fix: Slack 5xx/429, dropped or refused connections."""
    if isinstance(exc, SlackApiError):
        status = int(getattr(exc.response, "status_code", 200) or 200)
        return status >= 500 or status == 429 or exc.response.get("error") in TRANSIENT_ERRORS
    return isinstance(exc, OSError | http.client.HTTPException)


def slack_error(exc: BaseException) -> str:
    """Slack's error code for an API error, else the exception's class name."""
    if isinstance(exc, SlackApiError):
        return str(exc.response.get("error") or f"http_{exc.response.status_code}")
    return type(exc).__name__


def answer_metadata(question_ts: str) -> dict[str, Any]:
    """Message metadata marking the bot's answer to the question `question_ts`, so it can be found again."""
    return {"event_type": ANSWER_EVENT, "event_payload": {"question_ts": question_ts}}


def notice_metadata() -> dict[str, Any]:
    """Message metadata marking a bot post that is not an answer (positions, help, refusals)."""
    return {"event_type": NOTICE_EVENT, "event_payload": {}}


def _is_orphan_stream(message: dict[str, Any], question_ts: str) -> bool:
    """A bot message after the question with no metadata at all: a native stream (chat.startStream takes
    no metadata) whose process died before recording it. Every other bot post carries metadata."""
    return (
        bool(message.get("bot_id"))
        and not message.get("metadata")
        and float(message.get("ts") or 0) > float(question_ts or 0)
    )


def _is_answer_to(message: dict[str, Any], question_ts: str) -> bool:
    metadata = message.get("metadata") or {}
    payload = metadata.get("event_payload") or {}
    return (
        bool(message.get("bot_id"))
        and metadata.get("event_type") == ANSWER_EVENT
        and payload.get("question_ts") == question_ts
    )


class ThreadReplies:
    """Posts, updates and reactions in a question's thread."""

    def __init__(self, client: WebClient) -> None:
        self.client = client
        self._team: str | None = None

    def post(
        self, channel: str, thread_ts: str, message: SlackMessage, metadata: dict[str, Any] | None = None
    ) -> str:
        """Post `message` in the thread (with message `metadata`, if any); returns the new message's ts."""
        response = self.client.chat_postMessage(
            channel=channel,
            thread_ts=thread_ts,
            text=message.text,
            blocks=message.blocks or None,
            metadata=metadata or notice_metadata(),
            unfurl_links=False,
            unfurl_media=False,
        )
        return str(response["ts"])

    def update(
        self, channel: str, ts: str, message: SlackMessage, metadata: dict[str, Any] | None = None
    ) -> None:
        """Replace the text of the bot's message `ts` (and its metadata, if given)."""
        self.client.chat_update(
            channel=channel, ts=ts, text=message.text, blocks=message.blocks or [], metadata=metadata
        )

    def show(
        self,
        channel: str,
        thread_ts: str,
        reply_ts: str | None,
        message: SlackMessage,
        metadata: dict[str, Any] | None = None,
    ) -> str:
        """Update the bot's message `reply_ts` if there is one (and it still exists), else post a new one."""
        if reply_ts:
            try:
                self.update(channel, reply_ts, message, metadata)
                return reply_ts
            except SlackApiError as exc:
                if exc.response.get("error") not in ("message_not_found", "cant_update_message"):
                    raise
                logger.info("reply message gone channel=%s ts=%s; posting a new one", channel, reply_ts)
        return self.post(channel, thread_ts, message, metadata)

    def find_answer(self, channel: str, thread_ts: str, question_ts: str) -> str | None:
        """The ts of the bot's message posted with answer_metadata(question_ts) in the thread, else of a
        stream left without metadata after the question, if any."""
        cursor: str | None = None
        orphan: str | None = None
        while True:
            response = self.client.conversations_replies(
                channel=channel, ts=thread_ts, include_all_metadata=True, limit=REPLIES_PAGE, cursor=cursor
            )
            for message in response.get("messages") or []:
                if _is_answer_to(message, question_ts):
                    return str(message["ts"])
                if orphan is None and _is_orphan_stream(message, question_ts):
                    orphan = str(message["ts"])
            cursor = (response.get("response_metadata") or {}).get("next_cursor") or None
            if not cursor:
                return orphan

    def end_stream(self, channel: str, ts: str) -> bool:
        """Stop the native stream of message `ts` if it is still open; True if it was."""
        try:
            self.client.chat_stopStream(channel=channel, ts=ts)
        except SlackApiError as exc:
            if is_transient(exc):
                raise
            return False  # not a stream, already stopped, or closed by Slack: nothing to end
        return True

    def start_stream(
        self, channel: str, thread_ts: str, markdown: str, *, user: str, team: str | None
    ) -> str:
        """Start a native stream replying to `user` in the thread; returns the message's ts."""
        response = self.client.chat_startStream(
            channel=channel,
            thread_ts=thread_ts,
            markdown_text=markdown,
            recipient_user_id=user,
            recipient_team_id=team,
        )
        return str(response["ts"])

    def append_stream(self, channel: str, ts: str, markdown: str) -> None:
        """Add markdown to an open stream."""
        self.client.chat_appendStream(channel=channel, ts=ts, markdown_text=markdown)

    def stop_stream(
        self,
        channel: str,
        ts: str,
        *,
        markdown: str = "",
        blocks: list[dict[str, Any]] | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> None:
        """Finish an open stream with its last markdown, the blocks under it and its metadata."""
        self.client.chat_stopStream(
            channel=channel, ts=ts, markdown_text=markdown or None, blocks=blocks or None, metadata=metadata
        )

    def team_id(self) -> str | None:
        """The workspace's id (auth.test), asked once it is first needed."""
        if self._team is None:
            self._team = str(self.client.auth_test().get("team_id") or "")
        return self._team or None

    def react(self, channel: str, ts: str, emoji: str) -> None:
        """Add the reaction `emoji` to message `ts`; an existing reaction is fine."""
        try:
            self.client.reactions_add(channel=channel, timestamp=ts, name=emoji)
        except SlackApiError as exc:
            if exc.response.get("error") != "already_reacted":
                raise
