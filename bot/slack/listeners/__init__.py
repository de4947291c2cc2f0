"""Slack listeners, one module per event kind; each is thin: parse, filter, enqueue, then Bolt acks."""

from __future__ import annotations

from slack_bolt import App

from bot.slack.context import BotContext
from bot.slack.listeners import app_home, app_mention, command, feedback, feedback_reason, message


def register_all(app: App, ctx: BotContext) -> None:
    """Attach every listener to `app`."""
    app_mention.register(app, ctx)
    message.register(app, ctx)
    command.register(app, ctx)
    feedback.register(app, ctx)
    feedback_reason.register(app, ctx)
    app_home.register(app, ctx)
