"""DOCBOT_SCOPES through the real bot: a question from #sales never retrieves chunks from hr/."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from langchain_core.embeddings import Embeddings

from bot.engine import open_engine
from devtools.fake_slack import FakeSlack
from devtools.pdfs import make_garbage_file, make_text_pdf
from tests.bot.slack.conftest import RunningBot, Thread

pytestmark = pytest.mark.timeout(120)

SALARIES = "Engineers at level four earn between 71 and 93 thousand euros a year, reviewed each April."
QUESTION = "How much do engineers earn a year?"


def test_retrieval_follows_the_channel_scope(
    fake_slack: FakeSlack, make_settings: Callable[..., Any], embeddings: Embeddings
) -> None:
    settings = make_settings(
        slack_bot_token=fake_slack.bot_token,
        slack_app_token=fake_slack.app_token,
        slack_api_url=fake_slack.api_url,
        scopes="hr/=C0HR,C0EXEC;sales/=C0SALES",
    )
    make_text_pdf(settings.data_dir / "hr" / "salaries.pdf", [SALARIES])
    make_text_pdf(settings.data_dir / "sales" / "pipeline.pdf", ["Sales pay a commission on each deal."])
    make_text_pdf(settings.data_dir / "handbook.pdf", ["Pay day is the last working day of the month."])
    make_garbage_file(settings.data_dir / "hr" / "dismissal-jane-doe.pdf")  # even its name is scoped
    engine = open_engine(settings, load_llm=False, embeddings=embeddings)
    engine.sync()
    bot = RunningBot(fake_slack, settings, engine.qa, index_status=engine.status).start()
    try:
        cited: dict[str, str] = {}
        for channel in ("C0SALES", "C0HR", "C0OTHER"):
            _, ts = fake_slack.mention(QUESTION, channel=channel)
            [answer] = Thread(fake_slack, channel, ts).wait_answered(timeout=60)
            cited[channel] = str(answer["text"])
        _, ts = fake_slack.dm(QUESTION)
        [answer] = Thread(fake_slack, "D1", ts).wait_answered(timeout=60)
        cited["DM"] = str(answer["text"])
        status = {
            channel: fake_slack.wait_for_ack(
                fake_slack.send_slash_command("/docbot", "status", channel_id=channel)
            )
            for channel in ("C0HR", "C0SALES")
        }
    finally:
        assert bot.stop() == 0
        engine.close()
    assert "hr/salaries.pdf" in cited["C0HR"] and "93 thousand euros" in cited["C0HR"]
    assert "sales/pipeline.pdf" not in cited["C0HR"]
    for place in ("C0SALES", "C0OTHER", "DM"):
        assert "hr/salaries.pdf" not in cited[place] and "thousand euros" not in cited[place], place
        assert "handbook.pdf" in cited[place]
    assert "sales/pipeline.pdf" in cited["C0SALES"] and "sales/pipeline.pdf" not in cited["C0OTHER"]
    assert "dismissal-jane-doe" in status["C0HR"]["payload"]["text"]
    assert "dismissal-jane-doe" not in status["C0SALES"]["payload"]["text"]
