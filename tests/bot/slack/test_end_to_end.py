"""The whole bot on loopback: PDFs indexed by the real engine, the real QA chain (tiny real model through
the real backend, or retrieval-only), run_slack with slack_bolt Socket Mode, and the fake Slack."""

from __future__ import annotations

import re
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from langchain_core.embeddings import Embeddings

from bot.engine import Engine, open_engine
from devtools.fake_slack import FakeSlack, control_sequences
from devtools.pdfs import make_text_pdf
from tests.bot.slack.conftest import RunningBot, Thread
from tests.conftest import CorpusIndex

pytestmark = [pytest.mark.timeout(180), pytest.mark.slow]

ADIDAS = (
    "The minimum guarantee payable by adidas over the term of the agreement is equal to 750 million pounds."
)
NOTICE = "Notice to <!channel> and <@U123>: the staff canteen closes early on Fridays, see <https://evil.example|here>."
SAFETY = "Report every workplace injury to the safety officer within twenty-four hours of it happening."
DOCS = "https://docs.example/reports"
REPO = Path(__file__).resolve().parents[3]


StartEngineBot = Callable[..., RunningBot]


@pytest.fixture
def start_engine_bot(
    fake_slack: FakeSlack, make_settings: Callable[..., Any], embeddings: Embeddings
) -> Iterator[StartEngineBot]:
    """Index two generated PDFs with the real engine and run the bot on its QA chain."""
    started: list[tuple[Engine, RunningBot]] = []

    def start(**model: Any) -> RunningBot:
        settings = make_settings(
            slack_bot_token=fake_slack.bot_token,
            slack_app_token=fake_slack.app_token,
            slack_api_url=fake_slack.api_url,
            docs_base_url=DOCS,
            k=2,
            **model,
        )
        make_text_pdf(
            settings.data_dir / "club report.pdf", ["Annual report 2022.", ADIDAS], labels=["i", "43"]
        )
        make_text_pdf(settings.data_dir / "staff" / "notices.pdf", [NOTICE, SAFETY])
        engine = open_engine(settings, load_llm=bool(model), embeddings=embeddings)
        started.append((engine, RunningBot(fake_slack, settings, engine.qa, index_status=engine.status)))
        assert sorted(engine.sync().indexed) == ["club report.pdf", "staff/notices.pdf"]
        return started[-1][1].start()

    yield start
    for engine, bot in started:
        assert bot.stop() == 0
        engine.close()


def test_retrieval_only_answer_cites_the_page_and_cannot_ping(
    fake_slack: FakeSlack, start_engine_bot: StartEngineBot
) -> None:
    start_engine_bot()
    _, ts = fake_slack.mention("How much is the minimum guarantee payable by adidas?")
    assert fake_slack.wait_for_calls("reactions.add")[0].args["timestamp"] == ts
    [answer] = Thread(fake_slack, "C1", ts).wait_answered(timeout=30)
    text = answer["text"]
    assert "Retrieval only — no generated answer" in text
    link = f"<{DOCS}/club%20report.pdf#page=2|p. 2 (printed 43)>"
    assert f"*<{DOCS}/club%20report.pdf|club report.pdf>* — {link}" in text
    assert "750 million pounds" in text
    assert "Index: 2 files, updated just now" in text

    _, notice = fake_slack.mention("When does the staff canteen close early?")
    [answer] = Thread(fake_slack, "C1", notice).wait_answered(timeout=30)
    assert "&lt;!channel&gt;" in answer["text"] and "&lt;@U123&gt;" in answer["text"]
    posted = fake_slack.calls("chat.postMessage") + fake_slack.calls("chat.update")
    assert all(s.startswith(f"<{DOCS}/") for c in posted for s in control_sequences(c.args))


@pytest.mark.parametrize("delivery", ["auto", "update"])
def test_tiny_real_model_streams_into_the_thread_and_cites_the_page(
    fake_slack: FakeSlack, start_engine_bot: StartEngineBot, tiny_gguf: Path, delivery: str
) -> None:
    # The tiny model writes a token in well under a millisecond: 64 of them give the streaming thread
    # time to wake and send the first words before the answer is complete, even on a busy machine.
    start_engine_bot(
        model_path=tiny_gguf,
        max_new_tokens=64,
        threads=1,
        context_length=512,
        context_token_budget=200,
        reply_delivery=delivery,
    )
    _, ts = fake_slack.mention("How much is the minimum guarantee payable by adidas?")
    thread = Thread(fake_slack, "C1", ts)
    [answer] = thread.wait_answered(timeout=60)
    fake_slack.wait_for(lambda f: f.reactions("C1", ts) == ["eyes"], 5)  # sent from its own pool
    if delivery == "update":
        updates = [c for c in fake_slack.calls("chat.update") if c.args.get("ts") == answer["ts"]]
        partials = [str(c.args["text"]) for c in updates[:-1]]
    else:  # Slack's native stream: the first words start it, in the asker's thread, for the asker
        [start] = fake_slack.calls("chat.startStream")
        assert start.ok and start.response["ts"] == answer["ts"] and start.args["thread_ts"] == ts
        assert start.args["recipient_user_id"] == "U1" and start.args["recipient_team_id"] == "T0001"
        partials = [str(start.args["markdown_text"])]
        assert fake_slack.stream_state("C1", answer["ts"]) == "stopped"  # finished, not left open
    assert partials and all(p.strip() for p in partials)  # generated words shown before the final answer
    assert "Retrieval only" not in answer["text"]
    body = answer["text"].split("*Sources*")[0].strip()
    assert body and body.split()[0] in partials[0]  # the final answer begins with the streamed words
    assert f"<{DOCS}/club%20report.pdf#page=2|p. 2 (printed 43)>" in answer["text"]
    assert len(thread.bot_messages()) == 1


@pytest.mark.corpus
@pytest.mark.timeout(1800)  # may build the shared corpus index
def test_docbot_run_answers_the_adidas_question_citing_the_guarantee_page(
    fake_slack: FakeSlack, corpus_index: CorpusIndex, tmp_path: Path
) -> None:
    """The issue's "done means": `python -m bot run` (the Procfile) against the loopback Slack."""
    env = corpus_index.env() | {
        "SLACK_BOT_TOKEN": fake_slack.bot_token,
        "SLACK_APP_TOKEN": fake_slack.app_token,
        "SLACK_API_URL": fake_slack.api_url,
    }
    docbot = [sys.executable, "-m", "bot"]
    log = tmp_path / "bot.log"
    with (
        log.open("w") as stderr,
        subprocess.Popen([*docbot, "-v", "run"], env=env, cwd=tmp_path, stderr=stderr) as bot,
    ):
        try:
            fake_slack.wait_for(lambda f: f.connection_count > 0 or bot.poll() is not None, 120)
            assert bot.poll() is None, log.read_text()
            _, ts = fake_slack.mention("How much is the minimum guarantee payable by adidas?")
            [answer] = Thread(fake_slack, "C1", ts).wait_answered(timeout=120)
            line = re.search(r"\*manu-20f-2022-09-24\.pdf\* — ([^\n]*)", answer["text"])
            assert line, answer["text"]
            cited = {int(p) for p in re.findall(r"\bp\. (\d+)", line.group(1))}
            assert 53 in cited, answer["text"]
            assert "£750 million" in answer["text"]
            fake_slack.hang_up()
            bot.send_signal(signal.SIGTERM)
            assert bot.wait(60) == 0, log.read_text()
        finally:
            fake_slack.accept_connections()
            if bot.poll() is None:
                bot.kill()


def test_real_model_streams_its_answer_into_the_thread(
    fake_slack: FakeSlack, start_engine_bot: StartEngineBot, real_chat_model: Path
) -> None:
    pytest.importorskip("llama_cpp")
    start_engine_bot(model_path=real_chat_model, threads=2, max_new_tokens=96, context_length=2048)
    _, ts = fake_slack.mention("How much is the minimum guarantee payable by adidas?")
    thread = Thread(fake_slack, "C1", ts)
    [answer] = thread.wait_answered(timeout=120)
    body = answer["text"].split("*Sources*")[0]
    assert "750 million" in body, answer["text"]  # the real model's answer, from the cited page
    assert "Retrieval only" not in body and "<|im_end|>" not in body
    assert f"<{DOCS}/club%20report.pdf#page=2|p. 2 (printed 43)>" in answer["text"]
    assert len(thread.bot_messages()) == 1
