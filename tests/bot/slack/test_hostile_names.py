"""File names with newlines, terminal escapes, direction overrides, Slack markup, unicode and `..`/backslash
tricks: indexed and cited under their real names, and shown safely (one line, no pings, no links) in the
notify channel, in status and in citations."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from langchain_core.embeddings import Embeddings

from bot.answer import display_name
from bot.qa import QAChain
from bot.queue import QueueSnapshot
from bot.slack.app import make_web_client
from bot.slack.help import status_text
from bot.slack.notices import ChangeNotifier
from bot.slack.render import escape, render_answer
from bot.slack.thread import ThreadReplies
from devtools.fake_slack import FakeSlack, control_sequences
from devtools.pdfs import make_garbage_file, make_text_pdf
from ingest.sync import SyncOptions, SyncReport, sync_folder
from models.prompts import load_prompt
from vectorstore.retriever import HybridRetriever
from vectorstore.store import IndexStore

REPO = Path(__file__).resolve().parents[3]
DOCS = "https://docs.example/reports"

# name -> a sentence found only in that file
NAMED = {
    "line\nbreak.pdf": "The lighthouse keeper logs every passing ship in a leather ledger.",
    "fake\n*New (1):*\n• payroll.pdf": "Quarterly payroll totals are approved by the finance director.",
    "\x1b[2J\x1b[31mred.pdf": "Terminal colours are configured through the theme settings panel.",
    "invoice\u202efdp.exe.pdf": "Invoices above ten thousand euros need two signatures.",
    "ünïcødé 報告 — été.pdf": "The glacier retreated forty metres during the hot summer.",
    "..\\..\\etc\\passwd.pdf": "Backslashes are ordinary characters in Linux file names.",
    "..pdf": "A file whose name is two dots and an extension still counts.",
    "<!channel> <@U123> <mailto:a@evil.example|click>.pdf": "Pinging everyone from a file name must fail.",
    "*bold* _it_ ~strike~ `code`.pdf": "Formatting characters in a name are shown as they are.",
    "sub dir/nested\ttab.pdf": "Nested folders keep their relative path in citations.",
}
BROKEN = "broken\n<!here>\x1b[0m.pdf"
UNSAFE_CHARS = ("\n", "\r", "\x1b", "\u202e", "\t")


@pytest.fixture
def share(tmp_path: Path, embeddings: Embeddings) -> Iterator[tuple[IndexStore, SyncReport]]:
    data = tmp_path / "data"
    for name, text in NAMED.items():
        make_text_pdf(data / name, [text])
    make_garbage_file(data / BROKEN)
    store = IndexStore(tmp_path / "index", dim=384, model_id="minilm")
    report = sync_folder(data, store, embeddings, SyncOptions())
    yield store, report
    store.close()


def test_every_name_is_indexed_and_cited_as_it_is(
    share: tuple[IndexStore, SyncReport], embeddings: Embeddings
) -> None:
    store, report = share
    assert sorted(report.indexed) == sorted(NAMED)
    assert [(f.file, f.reason.split(":")[0]) for f in report.failed] == [(BROKEN, "corrupt")]
    retriever = HybridRetriever(store=store, embeddings=embeddings, k=1)
    for name, text in NAMED.items():
        [hit] = retriever.search(text)
        assert hit.chunk.file == name


def one_line_and_inert(text: str, names: list[str]) -> None:
    """Each name appears escaped on one line; nothing in the text can ping, link or break a line."""
    for name in names:
        assert escape(display_name(name)) in text, name
    assert not any(char in text for char in ("\x1b", "\u202e", "\t", "\r"))
    assert "<!" not in text and "<@" not in text and "<mailto" not in text


def test_notify_channel_notice_shows_names_on_one_line(
    share: tuple[IndexStore, SyncReport], fake_slack: FakeSlack, make_settings: Any
) -> None:
    _, report = share
    settings = make_settings(slack_bot_token=fake_slack.bot_token, slack_api_url=fake_slack.api_url)
    ChangeNotifier(make_web_client(settings), "C0OPS")(report)
    [call] = fake_slack.calls("chat.postMessage")
    assert call.ok, call.response  # Block Kit accepted
    text = str(call.args["text"])
    one_line_and_inert(text, [*NAMED, BROKEN])
    assert control_sequences(call.args) == []
    items = [line for line in text.splitlines() if line.startswith("• ")]
    assert len(items) == len(NAMED) + 1  # no name started a line of its own
    headings = [line for line in text.splitlines() if line.startswith("*")]
    assert headings == [f"*New ({len(NAMED)}):*", "*Could not be indexed (1):*"]  # none forged by a name


def test_status_lists_a_failed_file_on_one_line(share: tuple[IndexStore, SyncReport]) -> None:
    store, _ = share
    text = status_text(QueueSnapshot(0, None), running_for=None, average_seconds=30, index=store.status())
    one_line_and_inert(text, [BROKEN])
    [line] = [line for line in text.splitlines() if "broken" in line]
    assert line.startswith("• broken\\n&lt;!here&gt;\\x1b[0m.pdf: corrupt")


def test_citations_show_names_safely_and_link_them_quoted(
    share: tuple[IndexStore, SyncReport], embeddings: Embeddings, fake_slack: FakeSlack, make_settings: Any
) -> None:
    store, _ = share
    chain = QAChain(HybridRetriever(store=store, embeddings=embeddings, k=len(NAMED)), load_prompt(None))
    answer = chain.answer(
        "ledger payroll colours invoices glacier backslashes dots pinging formatting nested"
    )
    assert {s.file for s in answer.sources} == set(NAMED)
    settings = make_settings(slack_bot_token=fake_slack.bot_token, slack_api_url=fake_slack.api_url)
    replies = ThreadReplies(make_web_client(settings))
    for base in ("", DOCS):
        for message in render_answer(answer, docs_base_url=base):
            replies.post("C1", "1.000001", message)
    posted = fake_slack.calls("chat.postMessage")
    assert posted and all(c.ok for c in posted)
    text = "\n".join(str(c.args["text"]) for c in posted)
    one_line_and_inert(text, list(NAMED))
    links = [seq for c in posted for seq in control_sequences(c.args)]
    assert links and all(seq.startswith(f"<{DOCS}/") for seq in links)
    assert f"<{DOCS}/line%0Abreak.pdf#page=1|p. 1>" in text


@pytest.mark.slow
def test_cli_status_prints_names_safely(share: tuple[IndexStore, SyncReport], tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DOCBOT_", "SLACK_"))}
    env |= {"PYTHONPATH": str(REPO), "DOCBOT_INDEX_DIR": str(tmp_path / "index")}
    result = subprocess.run(
        [sys.executable, "-m", "bot", "status"], env=env, cwd=tmp_path, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr
    assert not any(char in result.stdout.replace("\n", "") for char in UNSAFE_CHARS)
    assert display_name(BROKEN) in result.stdout
