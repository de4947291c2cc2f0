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

    def post(
        self, channel: str, thread_ts: str, message: SlackMessage, metadata: dict[str, Any] | None = None
    ) -> str:
        """Post `message` in the thread (with message `metadata`, if any); returns the new message's ts."""
        response = self.client.chat_postMessage(
            channel=channel,
            thread_ts=thread_ts,
            text=message.text,
            blocks=message.blocks or None,
            metadata=metadata,
            unfurl_links=False,
            unfurl_media=False,
        )
        return str(response["ts"])

    def update(self, channel: str, ts: str, message: SlackMessage) -> None:
        """Replace the text of the bot's message `ts`."""
        self.client.chat_update(channel=channel, ts=ts, text=message.text, blocks=message.blocks or [])

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
                self.update(channel, reply_ts, message)
                return reply_ts
            except SlackApiError as exc:
                if exc.response.get("error") not in ("message_not_found", "cant_update_message"):
                    raise
                logger.info("reply message gone channel=%s ts=%s; posting a new one", channel, reply_ts)
        return self.post(channel, thread_ts, message, metadata)

    def find_answer(self, channel: str, thread_ts: str, question_ts: str) -> str | None:
        """The ts of the bot's message posted with answer_metadata(question_ts) in the thread, if any."""
        cursor: str | None = None
        while True:
            response = self.client.conversations_replies(
                channel=channel, ts=thread_ts, include_all_metadata=True, limit=REPLIES_PAGE, cursor=cursor
            )
            for message in response.get("messages") or []:
                if _is_answer_to(message, question_ts):
                    return str(message["ts"])
            cursor = (response.get("response_metadata") or {}).get("next_cursor") or None
            if not cursor:
                return None

    def react(self, channel: str, ts: str, emoji: str) -> None:
        """Add the reaction `emoji` to message `ts`; an existing reaction is fine."""
        try:
            self.client.reactions_add(channel=channel, timestamp=ts, name=emoji)
        except SlackApiError as exc:
            if exc.response.get("error") != "already_reacted":
                raise
