"""The whole bot on loopback with DOCBOT_LLM_BACKEND=openai: run_slack with slack_bolt Socket Mode and the
fake Slack, the real QA chain, and llama-cpp-python's real server running SmolLM2 (no model file here)."""

from __future__ import annotations

import pytest

from tests.bot.slack.conftest import Thread
from tests.bot.slack.test_end_to_end import DOCS, StartEngineBot, start_engine_bot
from tests.fake_slack import FakeSlack
from tests.llm_server import LlamaServer

__all__ = ["start_engine_bot"]

pytestmark = [pytest.mark.timeout(180), pytest.mark.slow]


def test_the_servers_answer_reaches_the_thread_with_citations(
    fake_slack: FakeSlack, start_engine_bot: StartEngineBot, llm_server: LlamaServer
) -> None:
    start_engine_bot(llm_backend="openai", llm_base_url=llm_server.base_url, max_new_tokens=96)
    _, ts = fake_slack.mention("How much is the minimum guarantee payable by adidas?")
    thread = Thread(fake_slack, "C1", ts)
    [answer] = thread.wait_answered(timeout=120)
    body = answer["text"].split("*Sources*")[0]
    assert "750 million" in body, answer["text"]
    assert "Retrieval only" not in body and "<|im_end|>" not in body
    assert f"<{DOCS}/club%20report.pdf#page=2|p. 2 (printed 43)>" in answer["text"]
    assert len(thread.bot_messages()) == 1
