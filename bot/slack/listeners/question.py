"""The path every question takes from a listener: parse, filter, dedupe, enqueue, react, tell the position."""

from __future__ import annotations

import dataclasses
import html
import logging
import re
from collections.abc import Callable
from dataclasses import dataclass

from bot.slack.context import BotContext
from bot.slack.help import help_text, status_text
from bot.slack.render import SlackMessage
from bot.slack.status import StatusLine, queued_text
from vectorstore.scopes import FolderScopes
from vectorstore.status import IndexStatus

logger = logging.getLogger(__name__)

_MENTION = re.compile(r"<@([A-Z0-9]+)(?:\|[^>]*)?>")
_CHANNEL = re.compile(r"<#[A-Z0-9]+\|([^>]*)>")
_LINK = re.compile(r"<([^@#!][^|>]*)(?:\|([^>]*))?>")
_SPECIAL = re.compile(r"<!([^|>]*)(?:\|([^>]*))?>")
WORDS = {"help", "status"}


@dataclass(frozen=True)
class Question:
    """A question as it arrived from Slack."""

    event_id: str
    channel: str
    ts: str
    thread_ts: str
    user: str
    text: str
    is_dm: bool


def plain_text(text: str, bot_user_id: str | None) -> str:
    """Slack's message markup turned into what the person typed, without the mention of the bot."""
    if bot_user_id:
        text = re.sub(rf"<@{re.escape(bot_user_id)}(?:\|[^>]*)?>", " ", text)
    text = _MENTION.sub(lambda m: "@" + m.group(1), text)
    text = _CHANNEL.sub(lambda m: "#" + m.group(1), text)
    text = _SPECIAL.sub(lambda m: "@" + (m.group(2) or m.group(1)).lstrip("@"), text)
    text = _LINK.sub(lambda m: m.group(2) or m.group(1), text)
    return " ".join(html.unescape(text).split())


def refusal(ctx: BotContext, q: Question) -> str | None:
    """Why this asker or place is not served, or None if it is."""
    settings = ctx.settings
    if q.is_dm and not settings.allow_dms:
        return "Sorry, I don't answer direct messages here. Please mention me in a channel."
    if not q.is_dm and settings.allowed_channels and q.channel not in settings.allowed_channels:
        return "Sorry, I don't answer questions in this channel."
    if settings.allowed_users and q.user not in settings.allowed_users:
        return "Sorry, I can only answer questions from people on my list. Ask whoever runs me to add you."
    return None


def current_status(ctx: BotContext, channel: str | None = None) -> str:
    """The status text for /docbot status and the word `status` (failed files outside the channel's
    scopes are left out)."""
    running = ctx.worker.current()
    try:
        index = _scoped(_with_run_failures(ctx.index_status(), ctx), ctx, channel)
    except Exception:
        logger.exception("index status failed")
        index = None
    try:
        schedule = ctx.schedule_status() if ctx.schedule_status else None
    except Exception:
        logger.exception("schedule status failed")
        schedule = None
    try:
        feedback = ctx.feedback.summary() if ctx.feedback is not None else None
    except Exception:
        logger.exception("feedback summary failed")
        feedback = None
    return status_text(
        ctx.queue.snapshot(),
        running_for=None if running is None else running[1],
        average_seconds=ctx.worker.average_seconds(),
        index=index,
        schedule=schedule,
        feedback=feedback,
    )


def _with_run_failures(index: IndexStatus, ctx: BotContext) -> IndexStatus:
    """The index's failed files plus those of the last re-index run (reasons included)."""
    if ctx.run_failures is None:
        return index
    try:
        latest = ctx.run_failures()
    except Exception:
        logger.exception("re-index failures unavailable")
        return index
    return index.with_failures(latest)


def _scoped(index: IndexStatus, ctx: BotContext, channel: str | None) -> IndexStatus:
    scopes = ctx.settings.scopes
    allowed = FolderScopes.from_mapping(scopes).filter_for(channel) if scopes and channel else None
    if allowed is None:
        return index
    return dataclasses.replace(index, failed=[f for f in index.failed if allowed(f.file)])


def _reply(ctx: BotContext, q: Question, what: str, text: str | Callable[[], str]) -> None:
    """Post `text` in the question's thread from the notifier pool (a callable is evaluated there too,
    so slow texts such as the status do not delay the event's acknowledgement)."""

    def post() -> str:
        body = text() if callable(text) else text
        section = {"type": "section", "text": {"type": "mrkdwn", "text": body}}
        message = SlackMessage(text=body, blocks=[section])
        return ctx.replies.post(q.channel, q.thread_ts, message)

    ctx.later(what, post)


def take_question(ctx: BotContext, q: Question) -> None:
    """Handle one question event exactly once: refuse, answer help/status, or queue it."""
    why_not = refusal(ctx, q)
    word = q.text.lower().strip(" ?!.")
    if why_not is not None or word in WORDS or not q.text:
        if not ctx.queue.mark_seen(q.event_id, q.channel, q.ts):
            logger.info("duplicate event dropped event_id=%s", q.event_id)
            return
        if why_not is not None:
            logger.info("refused channel=%s user=%s", q.channel, q.user)
            _reply(ctx, q, "refusal", why_not)
        elif word == "status":
            _reply(ctx, q, "status", lambda: current_status(ctx, q.channel))
        else:
            _reply(ctx, q, "help", help_text())
        return
    _enqueue(ctx, q)


def _enqueue(ctx: BotContext, q: Question) -> None:
    result = ctx.queue.enqueue(
        event_id=q.event_id, channel=q.channel, ts=q.ts, thread_ts=q.thread_ts, user=q.user, question=q.text
    )
    logger.info("question outcome=%s position=%d event_id=%s", result.outcome, result.position, q.event_id)
    if result.outcome == "duplicate":
        return
    if result.outcome == "full":
        _reply(ctx, q, "full", f"Sorry, {result.position} questions are already waiting. Please try later.")
        return
    if result.outcome == "user_full":
        limit = ctx.settings.queue_per_user_max
        text = f"You already have {limit} questions waiting; please wait for their answers first."
        _reply(ctx, q, "user_full", text)
        return
    emoji = ctx.settings.reaction_emoji
    ctx.later("reaction", lambda: ctx.replies.react(q.channel, q.ts, emoji))
    if result.busy:
        _tell_position(ctx, q, result.position)


def _tell_position(ctx: BotContext, q: Question, position: int) -> None:
    """The queue position as the thread's status (kept fresh by the board), or as a message where Slack
    has no status for this channel."""
    minutes = ctx.worker.estimate_minutes(position)
    note = f"Queued — you are #{position} (about {minutes} min)"
    status = ctx.status
    if status is None or not status.available(q.channel):
        _reply(ctx, q, "position", note)
        return

    def show() -> None:
        ahead = position - 1 + (ctx.worker.current() is not None)
        text = queued_text(ahead, ctx.worker.estimate_seconds(position))
        if not status.show_queued(StatusLine(q.channel, q.thread_ts, text, (text,))):
            ctx.replies.post(q.channel, q.thread_ts, SlackMessage(text=note, blocks=[_section(note)]))

    ctx.later("position", show)


def _section(text: str) -> dict[str, object]:
    return {"type": "section", "text": {"type": "mrkdwn", "text": text}}
