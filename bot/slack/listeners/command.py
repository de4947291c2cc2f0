"""/docbot [help|status]: answered at once, visible only to the person who typed it."""

from __future__ import annotations

from typing import Any

from slack_bolt import Ack, App

from bot.slack.context import BotContext
from bot.slack.help import help_text
from bot.slack.listeners.question import current_status

COMMAND = "/docbot"


def reply_for(ctx: BotContext, command: dict[str, Any]) -> str:
    """The text answering a /docbot command."""
    settings = ctx.settings
    user, channel = str(command.get("user_id", "")), str(command.get("channel_id", ""))
    if settings.allowed_users and user not in settings.allowed_users:
        return "Sorry, I can only serve people on my list. Ask whoever runs me to add you."
    is_dm = channel.startswith("D")
    if not is_dm and settings.allowed_channels and channel not in settings.allowed_channels:
        return "Sorry, I don't serve this channel."
    word = str(command.get("text", "")).strip().lower()
    if word == "status":
        return current_status(ctx, channel)
    if word in ("", "help"):
        return help_text()
    return "To ask a question, mention me in a channel or send me a direct message.\n\n" + help_text()


def register(app: App, ctx: BotContext) -> None:
    """Listen to the /docbot slash command."""

    @app.command(COMMAND)
    def on_command(ack: Ack, command: dict[str, Any]) -> None:
        ack(response_type="ephemeral", text=reply_for(ctx, command))
