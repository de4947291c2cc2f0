"""The bot's Messages tab through the real bot: opening it shows a suggested question per indexed document
(real PDFs, the real embedder and index), a click on one gets an answer from that document, and a
re-index that adds a report brings it into the prompts. The fake Slack acts as a workspace whose app was
created from slack/manifest.yml, so a missing scope, event or setting fails here."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from langchain_core.embeddings import Embeddings

from bot.engine import open_engine
from bot.reindex import build_reindexer
from bot.slack.suggestions import PROMPTS_TITLE
from devtools.pdfs import make_text_pdf
from ingest.cpu_gate import CpuGate
from tests.bot.slack.conftest import RunningBot, Thread
from tests.fake_slack import FakeSlack

pytestmark = pytest.mark.timeout(120)

REPO = Path(__file__).resolve().parents[3]
CONTRIBUTIONS = (
    "2 Contributions\nEmployees pay five percent of their salary into the pension scheme every month.\n"
    + "The company adds eight percent of salary on top of what each employee pays in. " * 8
)
EXPENSES = (
    "1 Expense claims\nClaims for travel expenses must be filed within thirty days of the trip.\n"
    + "Each claim lists the dates, the places visited and the receipts for every cost. " * 8
)


def _manifest() -> dict[str, Any]:
    return dict(yaml.safe_load((REPO / "slack" / "manifest.yml").read_text(encoding="utf-8")))


def _prompts_after(fake: FakeSlack, count: int) -> list[dict[str, str]]:
    calls = fake.wait_for_calls("assistant.threads.setSuggestedPrompts", count)
    assert calls[-1].ok, calls[-1].response
    shown = fake.suggested_prompts("D1")
    assert shown is not None and shown["title"] == PROMPTS_TITLE
    return list(shown["prompts"])


def test_the_messages_tab_suggests_a_question_per_indexed_document(
    fake_slack: FakeSlack, make_settings: Callable[..., Any], embeddings: Embeddings
) -> None:
    fake_slack.apply_manifest(_manifest())
    settings = make_settings(
        slack_bot_token=fake_slack.bot_token,
        slack_app_token=fake_slack.app_token,
        slack_api_url=fake_slack.api_url,
        reindex_minutes=60,
    )
    make_text_pdf(
        settings.data_dir / "pensions.pdf",
        ["1 Introduction\nThis guide explains the staff pension scheme.", CONTRIBUTIONS],
        title="Pension Scheme Guide",
    )
    make_text_pdf(
        settings.data_dir / "canteen.pdf",
        ["The staff canteen opens at eight and closes at three on Fridays."],
    )
    engine = open_engine(settings, load_llm=False, embeddings=embeddings)
    reindex = build_reindexer(engine, CpuGate())
    bot = RunningBot(
        fake_slack,
        settings,
        engine.qa,
        index_status=engine.status,
        reindex=reindex,
        documents=engine.store.document_sections,
    )
    try:
        bot.start()
        assert reindex.wait_for_runs(1, timeout=60)
        fake_slack.wait_for_ack(fake_slack.open_app_home(user="U1", channel="D1"))
        prompts = _prompts_after(fake_slack, 1)
        by_title = {p["title"]: p["message"] for p in prompts}
        assert set(by_title) == {"Pension Scheme Guide", "canteen"}  # no /Title: the file's name
        assert by_title["Pension Scheme Guide"] == "What does Pension Scheme Guide say about Contributions?"
        assert by_title["canteen"] == "What are the main points of canteen?"

        # Clicking a prompt sends its message as the person's own DM: it is answered from that document.
        _, ts = fake_slack.dm(by_title["Pension Scheme Guide"])
        [answer] = Thread(fake_slack, "D1", ts).wait_answered(timeout=60)
        assert "pensions.pdf" in answer["text"] and "eight percent" in answer["text"]

        # A new report, re-indexed: the next opening names it, newest first.
        make_text_pdf(settings.data_dir / "travel.pdf", [EXPENSES], title="Travel Policy")
        assert reindex.wait_for(reindex.run_now(), timeout=60)
        fake_slack.wait_for_ack(fake_slack.open_app_home(user="U2", channel="D2"))
        fake_slack.wait_for_calls("assistant.threads.setSuggestedPrompts", 2)
        refreshed = fake_slack.suggested_prompts("D2")
        assert refreshed is not None
        first = refreshed["prompts"][0]
        assert first == {
            "title": "Travel Policy",
            "message": "What does Travel Policy say about Expense claims?",
        }
        assert {p["title"] for p in refreshed["prompts"]} == {
            "Travel Policy",
            "Pension Scheme Guide",
            "canteen",
        }

        # The Home tab (off in the manifest) and repeated openings need nothing more than prompts.
        fake_slack.wait_for_ack(fake_slack.open_app_home(user="U1", channel="D1", tab="home"))
        assert len(fake_slack.calls("assistant.threads.setSuggestedPrompts")) == 2
        calls = fake_slack.calls("assistant.threads.setSuggestedPrompts")
        assert all("thread_ts" not in c.args for c in calls)  # the agent view ignores calls with one
    finally:
        assert bot.stop() == 0
        engine.close()


def test_without_the_manifests_scope_the_prompts_are_refused(
    fake_slack: FakeSlack, make_settings: Callable[..., Any], embeddings: Embeddings
) -> None:
    manifest = _manifest()
    manifest["oauth_config"]["scopes"]["bot"].remove("assistant:write")
    fake_slack.apply_manifest(manifest)
    settings = make_settings(
        slack_bot_token=fake_slack.bot_token,
        slack_app_token=fake_slack.app_token,
        slack_api_url=fake_slack.api_url,
    )
    make_text_pdf(settings.data_dir / "canteen.pdf", ["The canteen closes at three on Fridays."])
    engine = open_engine(settings, load_llm=False, embeddings=embeddings)
    engine.sync()
    bot = RunningBot(fake_slack, settings, engine.qa, documents=engine.store.document_sections)
    try:
        bot.start()
        fake_slack.wait_for_ack(fake_slack.open_app_home())
        [call] = fake_slack.wait_for_calls("assistant.threads.setSuggestedPrompts")
        assert call.error == "missing_scope" and call.response["needed"] == "assistant:write"
        _, ts = fake_slack.dm("When does the canteen close?")  # the bot goes on answering
        assert Thread(fake_slack, "D1", ts).wait_answered(timeout=60)
    finally:
        assert bot.stop() == 0
        engine.close()


def test_the_manifest_declares_what_feedback_and_the_messages_tab_need() -> None:
    manifest = _manifest()
    assert manifest["features"]["app_home"]["messages_tab_enabled"] is True
    assert manifest["features"]["agent_view"]["agent_description"]
    assert {"assistant:write", "chat:write"} <= set(manifest["oauth_config"]["scopes"]["bot"])
    assert "app_home_opened" in manifest["settings"]["event_subscriptions"]["bot_events"]
    assert manifest["settings"]["interactivity"]["is_enabled"] is True
    assert manifest["settings"]["socket_mode_enabled"] is True


def test_prompts_in_a_dm_leave_out_documents_a_dm_may_not_retrieve(
    fake_slack: FakeSlack, make_settings: Callable[..., Any], embeddings: Embeddings
) -> None:
    fake_slack.apply_manifest(_manifest())
    settings = make_settings(
        slack_bot_token=fake_slack.bot_token,
        slack_app_token=fake_slack.app_token,
        slack_api_url=fake_slack.api_url,
        scopes="hr/=C0HR",
    )
    make_text_pdf(
        settings.data_dir / "hr" / "salaries.pdf", ["Level four pays 93 thousand."], title="Salary Bands"
    )
    make_text_pdf(
        settings.data_dir / "handbook.pdf", ["Pay day is the last working day."], title="Staff Handbook"
    )
    engine = open_engine(settings, load_llm=False, embeddings=embeddings)
    engine.sync()
    bot = RunningBot(fake_slack, settings, engine.qa, documents=engine.store.document_sections)
    try:
        bot.start()
        fake_slack.wait_for_ack(fake_slack.open_app_home())
        assert [p["title"] for p in _prompts_after(fake_slack, 1)] == ["Staff Handbook"]
    finally:
        assert bot.stop() == 0
        engine.close()
