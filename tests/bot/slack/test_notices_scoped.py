"""With DOCBOT_SCOPES, the notify channel is a channel like any other: its re-index notices leave out
files in folders it may not see, and a run that changed only those posts nothing."""

from __future__ import annotations

from slack_sdk import WebClient

from bot.slack.notices import ChangeNotifier
from devtools.fake_slack import FakeSlack
from ingest.sync import SyncReport
from tests.fake_slack import fake_slack  # noqa: F401
from vectorstore.scopes import FolderScopes
from vectorstore.status import FailedFile

SCOPES = FolderScopes.from_mapping({"hr/": ["CHR", "COPSHR"], "sales/": ["CSALES", "COPS", "COPSHR"]})


def notifier(fake: FakeSlack, channel: str) -> ChangeNotifier:
    client = WebClient(token=fake.bot_token, base_url=fake.api_url)
    return ChangeNotifier(client, channel, SCOPES.filter_for(channel))


def posted(fake: FakeSlack, channel: str) -> list[str]:
    return [str(m.get("text", "")) for m in fake.messages(channel)]


def test_files_outside_the_notify_channels_scopes_are_left_out(fake_slack: FakeSlack) -> None:  # noqa: F811
    report = SyncReport(
        indexed=["hr/salaries.pdf", "sales/q3.pdf", "handbook.pdf"],
        renamed=[("hr/old.pdf", "hr/new.pdf"), ("sales/a.pdf", "sales/b.pdf")],
        removed=["hr/2019.pdf"],
        failed=[FailedFile("hr/review.pdf", "password-protected"), FailedFile("sales/x.pdf", "empty file")],
    )
    notifier(fake_slack, "COPS")(report)
    [text] = posted(fake_slack, "COPS")
    assert "sales/q3.pdf" in text and "handbook.pdf" in text and "sales/a.pdf → sales/b.pdf" in text
    assert "sales/x.pdf skipped: empty file" in text
    assert "hr/" not in text and "Removed" not in text

    notifier(fake_slack, "COPSHR")(report)  # a channel listed for both folders sees everything
    [text] = posted(fake_slack, "COPSHR")
    assert "hr/salaries.pdf" in text and "hr/review.pdf skipped" in text and "hr/2019.pdf" in text


def test_a_run_that_changed_only_hidden_files_posts_nothing(fake_slack: FakeSlack) -> None:  # noqa: F811
    notifier(fake_slack, "COPS")(
        SyncReport(indexed=["hr/salaries.pdf"], failed=[FailedFile("hr/a.pdf", "x")])
    )
    notifier(fake_slack, "COPS")(SyncReport(indexed=["sales/q3.pdf"]))
    [text] = posted(fake_slack, "COPS")
    assert "sales/q3.pdf" in text
