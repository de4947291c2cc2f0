"""The bot's Messages tab opened (app_home_opened, tab "messages"): a suggested question per document."""

from __future__ import annotations

import logging
from typing import Any

from slack_bolt import App

from bot.slack.context import BotContext
from bot.slack.suggestions import PROMPTS_TITLE
from vectorstore.scopes import FolderScopes

logger = logging.getLogger(__name__)


def register(app: App, ctx: BotContext) -> None:
    """Listen to app_home_opened."""

    @app.event("app_home_opened")
    def on_home_opened(event: dict[str, Any]) -> None:
        channel = str(event.get("channel", ""))
        if event.get("tab") != "messages" or not channel or ctx.suggestions is None:
            return
        if not ctx.settings.allow_dms:
            return
        ctx.later("suggested prompts", lambda: _suggest(ctx, channel))


def _suggest(ctx: BotContext, channel: str) -> None:
    """Built on the notifier pool: reading the index must not delay the event's acknowledgement."""
    assert ctx.suggestions is not None
    scopes = ctx.settings.scopes
    allowed = FolderScopes.from_mapping(scopes).filter_for(channel) if scopes else None
    prompts = ctx.suggestions.prompts(allowed)
    if not prompts:
        logger.info("no suggested prompts: nothing indexed channel=%s", channel)
        return
    # The agent view takes prompts without thread_ts (with one, the call silently does nothing).
    ctx.replies.client.assistant_threads_setSuggestedPrompts(
        channel_id=channel, title=PROMPTS_TITLE, prompts=[p.as_dict() for p in prompts]
    )
    logger.info("suggested prompts set channel=%s count=%d", channel, len(prompts))
