"""The help and status texts (mrkdwn) shown by /docbot and by the words `help` and `status`."""

from __future__ import annotations

from bot.answer import display_name
from bot.feedback import FeedbackSummary
from bot.queue import QueueSnapshot
from bot.slack.render import escape, format_seconds
from vectorstore.status import IndexStatus

MAX_FAILED_SHOWN = 10


def help_text() -> str:
    """How to use the bot."""
    return "\n".join(
        [
            "*I answer questions about the team's PDF reports, citing the pages I used.*",
            "• Mention me in a channel: `@docbot How much is the minimum guarantee payable by adidas?`",
            "• Or send me a direct message.",
            "• Ask a follow-up in the same thread (`and in 2021?`): I take the thread's earlier questions"
            " into account.",
            "• Questions are answered one at a time; I tell you your place in line when others are waiting.",
            "• Under each answer, 👍/👎 tell whoever runs me whether it helped; after 👎 a short form asks"
            " what was wrong (optional).",
            "• `/docbot status` (or `status` in a DM): the queue, the index, the last re-index and the"
            " feedback so far."
            " `/docbot help` (or `help`): this message.",
        ]
    )


def _queue_lines(snapshot: QueueSnapshot, running_for: float | None, average: float) -> list[str]:
    lines = [f"*Queue:* {snapshot.pending} waiting · recent answers take about {format_seconds(average)}"]
    active = snapshot.active
    if active is not None:
        where = "a direct message" if active.channel.startswith("D") else f"<#{escape(active.channel)}>"
        took = f" for {format_seconds(running_for)}" if running_for is not None else ""
        lines.append(f"*Answering:* a question from {where}{took}")
    else:
        lines.append("*Answering:* nothing right now")
    return lines


def _index_lines(status: IndexStatus) -> list[str]:
    lines = [
        f"*Index:* {status.files} files, {status.chunks:,} chunks, {status.pages:,} pages"
        f" · {escape(status.freshness())}"
    ]
    if status.failed:
        lines.append(f"*Files that could not be indexed ({len(status.failed)}):*")
        for failed in status.failed[:MAX_FAILED_SHOWN]:
            lines.append(f"• {escape(display_name(failed.file))}: {escape(display_name(failed.reason))}")
        if len(status.failed) > MAX_FAILED_SHOWN:
            lines.append(f"• … and {len(status.failed) - MAX_FAILED_SHOWN} more")
    return lines


def _schedule_lines(schedule: dict[str, str] | None) -> list[str]:
    if not schedule:
        return []
    return [
        f"*Re-index:* last {escape(schedule.get('last_run') or 'never')}"
        f" ({escape(schedule.get('last_result') or 'no result yet')})"
        f" · next {escape(schedule.get('next_run') or 'not scheduled')}"
    ]


def status_text(
    snapshot: QueueSnapshot,
    *,
    running_for: float | None,
    average_seconds: float,
    index: IndexStatus | None,
    schedule: dict[str, str] | None = None,
    feedback: FeedbackSummary | None = None,
) -> str:
    """Queue length, what is being answered, index files/chunks/failures, last and next re-index, and the
    👍/👎 given to answers."""
    lines = _queue_lines(snapshot, running_for, average_seconds)
    lines += _index_lines(index) if index is not None else ["*Index:* status unavailable"]
    lines += _schedule_lines(schedule)
    if feedback is not None:
        lines.append(f"*Feedback:* {feedback.line()}")
    return "\n".join(lines)
