"""@docbot in a channel (or a thread): a question."""

from __future__ import annotations

from typing import Any

from slack_bolt import App, BoltContext

from bot.slack.context import BotContext
from bot.slack.listeners.question import Question, plain_text, take_question


def register(app: App, ctx: BotContext) -> None:
    """Listen to app_mention events."""

    @app.event("app_mention")
    def on_mention(body: dict[str, Any], event: dict[str, Any], context: BoltContext) -> None:
        if event.get("bot_id") or event.get("user") in (None, context.bot_user_id):
            return
        ts = str(event["ts"])
        channel = str(event["channel"])
        question = Question(
            event_id=str(body.get("event_id", "")),
            channel=channel,
            ts=ts,
            thread_ts=str(event.get("thread_ts") or ts),
            user=str(event["user"]),
            text=plain_text(str(event.get("text", "")), context.bot_user_id),
            is_dm=channel.startswith("D"),
        )
        take_question(ctx, question)
