"""Messages: every DM is a question; in channels, replies in a thread begun by a question to the bot."""

from __future__ import annotations

import logging
from typing import Any

from slack_bolt import App, BoltContext

from bot.slack.context import BotContext
from bot.slack.listeners.question import Question, plain_text, take_question

logger = logging.getLogger(__name__)

# Subtypes that are a person writing something new; edits, deletions, joins and bot posts are not.
QUESTION_SUBTYPES = {None, "thread_broadcast", "file_share"}


def is_person_writing(event: dict[str, Any], bot_user_id: str | None) -> bool:
    """True for a new message by a person (not an edit, deletion, bot post or the bot itself)."""
    if event.get("subtype") not in QUESTION_SUBTYPES:
        return False
    if event.get("bot_id") or event.get("bot_profile"):
        return False
    user = event.get("user")
    return bool(user) and user != bot_user_id


def register(app: App, ctx: BotContext) -> None:
    """Listen to message events of every subtype (filtered here, so none goes unhandled)."""

    @app.event("message")
    def on_message(body: dict[str, Any], event: dict[str, Any], context: BoltContext) -> None:
        if not is_person_writing(event, context.bot_user_id):
            return
        channel, ts = str(event["channel"]), str(event["ts"])
        thread_ts = str(event.get("thread_ts") or ts)
        is_dm = event.get("channel_type") == "im"
        if not is_dm and not _is_channel_follow_up(ctx, event, channel, ts, thread_ts, context.bot_user_id):
            return
        question = Question(
            event_id=str(body.get("event_id", "")),
            channel=channel,
            ts=ts,
            thread_ts=thread_ts,
            user=str(event["user"]),
            text=plain_text(str(event.get("text", "")), context.bot_user_id),
            is_dm=is_dm,
        )
        take_question(ctx, question)


def _is_channel_follow_up(
    ctx: BotContext, event: dict[str, Any], channel: str, ts: str, thread_ts: str, bot_user_id: str | None
) -> bool:
    if not ctx.settings.answer_thread_replies or event.get("channel_type") not in ("channel", "group"):
        return False
    if thread_ts == ts:
        return False  # a new top-level message: only an @mention makes it a question
    if bot_user_id and f"<@{bot_user_id}" in str(event.get("text", "")):
        return False  # the app_mention listener takes it
    return ctx.queue.is_bot_thread(channel, thread_ts)
