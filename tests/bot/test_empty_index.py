"""The empty-index reply: the folder, when it is read next, and how to read it now, per front end."""

from __future__ import annotations

from pathlib import Path

from bot.empty_index import empty_index_message


def test_slack_names_the_folder_on_the_bots_machine_and_the_interval(tmp_path: Path) -> None:
    text = empty_index_message(tmp_path, "slack", reindex_minutes=5, failed=2)
    assert text == (
        f"No document is indexed yet. Put PDF reports in `{tmp_path.resolve()}` on the bot's machine: the"
        " folder is re-indexed every 5 min, or at once with `docbot ingest` there. 2 files there could not"
        " be indexed; `/docbot status` says why."
    )


def test_while_the_first_run_indexes_it_says_to_wait(tmp_path: Path) -> None:
    text = empty_index_message(tmp_path, "console", reindex_minutes=5, indexing=True)
    assert "being indexed now" in text and "Put PDF reports" not in text


def test_a_console_without_a_scheduler_reads_the_folder_before_each_question(tmp_path: Path) -> None:
    text = empty_index_message(tmp_path / "data", "console")
    assert text.endswith(
        f"in {(tmp_path / 'data').resolve()}: the folder is read again before each question."
    )
