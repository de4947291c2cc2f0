"""The submitted "what was wrong?" modal (view_submission): keep the reason with the 👎, thank privately."""

from __future__ import annotations

import logging
from typing import Any

from slack_bolt import Ack, App

from bot.slack.context import BotContext
from bot.slack.feedback_ui import (
    REASON_CALLBACK,
    REASON_THANKS,
    ReasonContext,
    post_ephemeral,
    reason_from_state,
)

logger = logging.getLogger(__name__)


def register(app: App, ctx: BotContext) -> None:
    """Listen to submissions of the reason modal."""

    @app.view(REASON_CALLBACK)
    def on_reason(ack: Ack, body: dict[str, Any], view: dict[str, Any]) -> None:
        ack()  # closes the modal
        where = ReasonContext.from_metadata(str(view.get("private_metadata", "")))
        user = str((body.get("user") or {}).get("id", ""))
        reason = reason_from_state((view.get("state") or {}).get("values") or {})
        if ctx.feedback is None or where is None or not user or not reason:
            logger.info("feedback reason not stored known=%s given=%s", where is not None, bool(reason))
            return
        changed = ctx.feedback.set_reason(job_id=where.job_id, user=user, reason=reason)
        logger.info("feedback reason job=%d chars=%d changed=%s", where.job_id, len(reason), changed)
        if changed and where.channel:
            ctx.later(
                "reason ack",
                lambda: post_ephemeral(
                    ctx.replies.client, where.channel, where.thread_ts, user, REASON_THANKS
                ),
            )
