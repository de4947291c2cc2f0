"""Tell the notify channel what a re-index changed: new, updated, removed and failed documents."""

from __future__ import annotations

import dataclasses
import logging

from slack_sdk import WebClient

from bot.answer import display_name
from bot.slack.render import SECTION_LIMIT, SlackMessage, escape
from bot.slack.thread import slack_error
from ingest.sync import SyncReport
from vectorstore.scopes import FileFilter

logger = logging.getLogger(__name__)

MAX_LISTED = 20  # per kind of change; the rest are counted


def _name(text: str) -> str:
    """A file name (or reason) on one line, unable to ping or link."""
    return escape(display_name(text))


def _pages(count: int | None) -> str:
    if not count:
        return ""
    return f" ({count} page{'s' if count != 1 else ''})"


def _section(title: str, items: list[str]) -> list[str]:
    if not items:
        return []
    lines = [f"*{title} ({len(items)}):*"]
    lines += [f"• {item}" for item in items[:MAX_LISTED]]
    if len(items) > MAX_LISTED:
        lines.append(f"• … and {len(items) - MAX_LISTED} more")
    return lines


def notice_text(report: SyncReport) -> str | None:
    """The mrkdwn notice for a run, or None when it changed nothing people can see."""
    if not report.changed:
        return None
    updated = set(report.updated)
    new = [f"{_name(p)}{_pages(report.pages_by_file.get(p))}" for p in report.indexed if p not in updated]
    changed = [f"{_name(p)}{_pages(report.pages_by_file.get(p))}" for p in report.indexed if p in updated]
    renamed = [f"{_name(old)} → {_name(new)}" for old, new in report.renamed]
    removed = [_name(p) for p in report.removed]
    failed = [f"{_name(f.file)} skipped: {_name(f.reason)}" for f in report.failed]
    lines = [":card_index_dividers: *The document index was updated.*"]
    lines += _section("New", new)
    lines += _section("Updated", changed)
    lines += _section("Renamed", renamed)
    lines += _section("Removed (no longer cited)", removed)
    lines += _section("Could not be indexed", failed)
    text = "\n".join(lines)
    if len(text) > SECTION_LIMIT:
        text = text[: SECTION_LIMIT - 2].rsplit("\n", 1)[0] + "\n…"
    return text


def notice_message(report: SyncReport) -> SlackMessage | None:
    """The notice as a Slack message (one section block + plain-text fallback)."""
    text = notice_text(report)
    if text is None:
        return None
    return SlackMessage(text=text, blocks=[{"type": "section", "text": {"type": "mrkdwn", "text": text}}])


def visible_part(report: SyncReport, visible: FileFilter) -> SyncReport:
    """The report with only the files `visible` allows (a rename only when both names are allowed)."""
    return dataclasses.replace(
        report,
        indexed=[p for p in report.indexed if visible(p)],
        updated=[p for p in report.updated if visible(p)],
        removed=[p for p in report.removed if visible(p)],
        renamed=[(old, new) for old, new in report.renamed if visible(old) and visible(new)],
        failed=[f for f in report.failed if visible(f.file)],
    )


class ChangeNotifier:
    """Posts the notice for each re-index run that changed something; quiet otherwise.

    With `visible` (the notify channel's folder scopes), files the channel may not see are left out, as
    they are from its questions and status replies; a run that changed only those posts nothing.
    """

    def __init__(self, client: WebClient, channel: str, visible: FileFilter | None = None) -> None:
        self.client = client
        self.channel = channel
        self.visible = visible

    def __call__(self, report: SyncReport) -> None:
        """Post the notice for `report` (failures are logged; the next run's notice is independent)."""
        shown = report if self.visible is None else visible_part(report, self.visible)
        message = notice_message(shown)
        if message is None:
            return
        try:
            self.client.chat_postMessage(
                channel=self.channel,
                text=message.text,
                blocks=message.blocks,
                unfurl_links=False,
                unfurl_media=False,
            )
        except Exception as exc:
            logger.warning("index notice not posted channel=%s error=%s", self.channel, slack_error(exc))
            return
        logger.info(
            "index notice posted channel=%s indexed=%d removed=%d failed=%d",
            self.channel,
            len(report.indexed),
            len(report.removed),
            len(report.failed),
        )
