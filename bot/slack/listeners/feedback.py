"""A click on an answer's 👍/👎 (a block action): record the vote once, acknowledge it privately, and
after 👎 open the modal that asks what was wrong."""

from __future__ import annotations

import logging
from typing import Any

from slack_bolt import Ack, App

from bot.feedback import VoteResult
from bot.slack.context import BotContext
from bot.slack.feedback_ui import REFUSED, ReasonContext, acknowledgement, post_ephemeral, reason_modal
from bot.slack.render import FEEDBACK_ACTION, parse_feedback_value
from bot.slack.thread import slack_error

logger = logging.getLogger(__name__)


def _where(body: dict[str, Any]) -> tuple[str, str, str]:
    """(channel, message ts, thread ts) of the message whose buttons were clicked."""
    container = body.get("container") or {}
    message = body.get("message") or {}
    channel = str(container.get("channel_id") or (body.get("channel") or {}).get("id") or "")
    message_ts = str(container.get("message_ts") or message.get("ts") or "")
    thread_ts = str(container.get("thread_ts") or message.get("thread_ts") or message_ts)
    return channel, message_ts, thread_ts


def register(app: App, ctx: BotContext) -> None:
    """Listen to clicks on the feedback buttons."""

    @app.action(FEEDBACK_ACTION)
    def on_feedback(ack: Ack, body: dict[str, Any], action: dict[str, Any]) -> None:
        ack()
        store = ctx.feedback
        parsed = parse_feedback_value(str(action.get("value", "")))
        user = str((body.get("user") or {}).get("id", ""))
        channel, message_ts, thread_ts = _where(body)
        if store is None or parsed is None or not user or not channel:
            logger.warning("feedback click ignored parsed=%s channel=%s", parsed is not None, channel)
            return
        if ctx.settings.allowed_users and user not in ctx.settings.allowed_users:
            ctx.later(
                "feedback refusal",
                lambda: post_ephemeral(ctx.replies.client, channel, thread_ts, user, REFUSED),
            )
            return
        vote, job_id = parsed
        click = str(body.get("trigger_id") or action.get("action_ts") or "")
        result = store.vote(
            job_id=job_id,
            user=user,
            vote="up" if vote == "up" else "down",
            click_id=click,
            channel=channel,
            message_ts=message_ts,
        )
        logger.info("feedback job=%d vote=%s outcome=%s", job_id, result.vote, result.outcome)
        if result.outcome == "redelivered":
            return
        trigger = str(body.get("trigger_id") or "")
        reply = ReasonContext(job_id, channel, thread_ts)
        ctx.later("feedback ack", lambda: _answer_click(ctx, result, reply, user, trigger))


def _answer_click(ctx: BotContext, result: VoteResult, where: ReasonContext, user: str, trigger: str) -> None:
    """After 👎 (without a reason yet) open the reason modal first: its trigger id lives only 3 s."""
    opened = False
    if result.vote == "down" and not result.has_reason and trigger:
        try:
            ctx.replies.client.views_open(trigger_id=trigger, view=reason_modal(where))
            opened = True
        except Exception as exc:
            logger.warning("feedback modal not opened job=%d error=%s", where.job_id, slack_error(exc))
    text = acknowledgement(result, form_opened=opened)
    if text:
        post_ephemeral(ctx.replies.client, where.channel, where.thread_ts, user, text)
