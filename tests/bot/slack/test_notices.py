"""The notify-channel message after a re-index: what changed, escaped, quiet when nothing did."""

from __future__ import annotations

from bot.slack.notices import MAX_LISTED, notice_message, notice_text
from devtools.fake_slack import control_sequences
from ingest.sync import SyncReport
from vectorstore.status import FailedFile


def test_new_updated_renamed_removed_and_failed_files_are_listed() -> None:
    report = SyncReport(
        indexed=["q3/revenue.pdf", "handbook.pdf"],
        updated=["handbook.pdf"],
        pages_by_file={"q3/revenue.pdf": 12, "handbook.pdf": 1},
        renamed=[("old.pdf", "new.pdf")],
        removed=["2019.pdf"],
        failed=[FailedFile("Q3.pdf", "password-protected")],
        unchanged=["same.pdf"],
    )
    text = notice_text(report)
    assert text is not None
    assert "*New (1):*\n• q3/revenue.pdf (12 pages)" in text
    assert "*Updated (1):*\n• handbook.pdf (1 page)" in text
    assert "• old.pdf → new.pdf" in text
    assert "*Removed (no longer cited) (1):*\n• 2019.pdf" in text
    assert "• Q3.pdf skipped: password-protected" in text
    assert "same.pdf" not in text


def test_quiet_when_nothing_changed() -> None:
    assert notice_text(SyncReport(unchanged=["a.pdf"], deferred=["b.pdf"])) is None
    assert notice_message(SyncReport()) is None


def test_names_and_reasons_cannot_ping_or_link() -> None:
    report = SyncReport(
        indexed=["<!channel> & <@U123>.pdf"],
        failed=[FailedFile("<https://evil.example|x>.pdf", "corrupt: <!here>")],
    )
    message = notice_message(report)
    assert message is not None
    assert "&lt;!channel&gt; &amp; &lt;@U123&gt;.pdf" in message.text
    assert control_sequences({"text": message.text, "blocks": message.blocks}) == []


def test_long_lists_are_counted_and_fit_one_section() -> None:
    report = SyncReport(indexed=[f"reports/{n:03d}-{'x' * 80}.pdf" for n in range(200)])
    message = notice_message(report)
    assert message is not None
    assert "*New (200):*" in message.text and "… and" in message.text
    assert message.text.count("\n• ") <= MAX_LISTED + 1
    assert len(message.blocks[0]["text"]["text"]) <= 3000
