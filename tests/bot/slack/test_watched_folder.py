"""The watched folder end to end: a real folder, the real APScheduler job on a short interval, the real
index and QA chain (retrieval-only), run_slack with slack_bolt Socket Mode, and the loopback fake Slack."""

from __future__ import annotations

import os
import re
import shutil
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from langchain_core.embeddings import Embeddings

from bot.engine import Engine, open_engine
from bot.reindex import build_reindexer
from devtools.fake_slack import FakeSlack
from devtools.pdfs import make_text_pdf
from devtools.waiting import wait_until
from ingest.cpu_gate import CpuGate
from ingest.ocr import tesseract_available
from ingest.schedule import ReindexScheduler
from ingest.sync import SyncReport
from tests.bot.slack.conftest import RunningBot, Thread
from tests.ingest.scans import make_scanned_text_pdf

pytestmark = [pytest.mark.timeout(240), pytest.mark.slow]

INTERVAL_MINUTES = 0.02  # 1.2 s
NOTIFY = "CNOTIFY"
ADIDAS_750 = "The minimum guarantee payable by adidas over the term of the agreement is 750 million pounds."
ADIDAS_900 = "Under the new agreement the minimum guarantee payable by adidas rises to 900 million pounds."
SAFETY = "Report every workplace injury to the safety officer within twenty-four hours of it happening."
ADIDAS_QUESTION = "How much is the minimum guarantee payable by adidas?"
WAIT = 60.0


class CountingEmbeddings(Embeddings):
    """The real model, recording each document batch and calling `on_batch(n)` before embedding it."""

    def __init__(self, real: Embeddings) -> None:
        self.real = real
        self.batches = 0
        self.on_batch: Callable[[int], None] | None = None

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        self.batches += 1
        if self.on_batch is not None:
            self.on_batch(self.batches)
        return self.real.embed_documents(texts)

    def embed_query(self, text: str) -> list[float]:
        return self.real.embed_query(text)


@dataclass
class WatchedBot:
    """The bot with its engine, CPU gate and scheduler; `reports` collects every run's SyncReport."""

    fake: FakeSlack
    engine: Engine
    gate: CpuGate
    reindex: ReindexScheduler
    running: RunningBot
    embeddings: CountingEmbeddings
    reports: list[SyncReport] = field(default_factory=list)
    finished_at: list[float] = field(default_factory=list)  # when each report arrived

    def record(self, report: SyncReport) -> None:
        self.finished_at.append(time.time())
        self.reports.append(report)

    @property
    def data(self) -> Path:
        return self.engine.settings.data_dir

    def next_runs(self, timeout: float = WAIT) -> list[SyncReport]:
        """The reports of the runs that end from now until one that began after this call has ended (the
        run in progress may have begun before)."""
        seen = self.reindex.runs
        assert self.reindex.wait_for_runs(seen + 2, timeout), "no complete re-index run in time"
        return self.reports[seen:]

    def next_full_run(self, timeout: float = WAIT) -> SyncReport:
        """What those runs did, together."""
        runs = self.next_runs(timeout)
        return SyncReport(
            indexed=[p for r in runs for p in r.indexed],
            updated=[p for r in runs for p in r.updated],
            removed=[p for r in runs for p in r.removed],
            failed=[f for r in runs for f in r.failed],
            deferred=sorted({p for r in runs for p in r.deferred}),
        )

    def ask(self, question: str, timeout: float = WAIT) -> str:
        _, ts = self.fake.mention(question)
        [answer] = Thread(self.fake, "C1", ts).wait_answered(timeout=timeout)
        return str(answer["text"])

    def notices(self) -> list[str]:
        return [str(m.get("text", "")) for m in self.fake.messages(NOTIFY)]


def cited_pages(answer: str, file: str) -> set[int]:
    """Pages cited for `file` in a rendered answer ("*file* — p. 2 (printed 43), p. 5")."""
    line = re.search(rf"\*{re.escape(file)}\* — ([^\n]*)", answer)
    return {int(p) for p in re.findall(r"\bp\. (\d+)", line.group(1))} if line else set()


StartWatched = Callable[..., WatchedBot]


@pytest.fixture
def start_watched(
    fake_slack: FakeSlack, make_settings: Callable[..., Any], embeddings: Embeddings
) -> Iterator[StartWatched]:
    started: list[WatchedBot] = []

    def start(before: Callable[[Path], None] | None = None, **overrides: Any) -> WatchedBot:
        values: dict[str, Any] = {
            "slack_bot_token": fake_slack.bot_token,
            "slack_app_token": fake_slack.app_token,
            "slack_api_url": fake_slack.api_url,
            "reindex_minutes": INTERVAL_MINUTES,
            "notify_channel": NOTIFY,
            "k": 2,
        }
        settings = make_settings(**(values | overrides))
        if before is not None:
            before(settings.data_dir)
        counting = CountingEmbeddings(embeddings)
        engine = open_engine(settings, load_llm=False, embeddings=counting)
        gate = CpuGate()
        reindex = build_reindexer(engine, gate)
        running = RunningBot(
            fake_slack, settings, engine.qa, index_status=engine.status, cpu_gate=gate, reindex=reindex
        )
        bot = WatchedBot(fake_slack, engine, gate, reindex, running, counting)
        reindex.add_listener(bot.record)
        started.append(bot)
        running.start()
        assert reindex.wait_for_runs(1, WAIT)
        return bot

    yield start
    for bot in started:
        assert bot.running.stop() == 0
        bot.engine.close()


def test_dropped_then_overwritten_then_deleted_pdf(start_watched: StartWatched) -> None:
    bot = start_watched(before=lambda data: make_text_pdf(data / "safety.pdf", [SAFETY]))
    assert bot.reports[0].indexed == ["safety.pdf"]

    make_text_pdf(bot.data / "club.pdf", ["Annual report 2022.", ADIDAS_750], labels=["i", "43"])
    assert "club.pdf" in bot.next_full_run().indexed
    answer = bot.ask(ADIDAS_QUESTION)
    assert cited_pages(answer, "club.pdf") == {2} and "p. 2 (printed 43)" in answer
    assert "750 million pounds" in answer

    make_text_pdf(bot.data / "club.pdf", [ADIDAS_900])
    assert bot.next_full_run().updated == ["club.pdf"]
    answer = bot.ask(ADIDAS_QUESTION)
    assert cited_pages(answer, "club.pdf") == {1}
    assert "900 million pounds" in answer and "750 million" not in answer

    (bot.data / "club.pdf").unlink()
    assert bot.next_full_run().removed == ["club.pdf"]
    for _ in range(2):  # and on every later run too
        assert "club.pdf" not in bot.ask(ADIDAS_QUESTION)
    assert "club.pdf" not in bot.engine.store.files()

    notices = bot.notices()
    assert len(notices) == 4  # start, new, updated, removed: quiet on the runs that changed nothing
    assert "*New (1):*\n• safety.pdf (1 page)" in notices[0]
    assert "*New (1):*\n• club.pdf (2 pages)" in notices[1]
    assert "*Updated (1):*\n• club.pdf (1 page)" in notices[2]
    assert "*Removed (no longer cited) (1):*\n• club.pdf" in notices[3]


def test_a_slowly_written_file_is_not_indexed_until_complete(
    start_watched: StartWatched, tmp_path: Path
) -> None:
    bot = start_watched(settle_seconds=30)
    whole = make_text_pdf(tmp_path / "club.pdf", ["Annual report 2022.", ADIDAS_750]).read_bytes()
    target = bot.data / "club.pdf"
    pieces = [whole[i : i + len(whole) // 4 + 1] for i in range(0, len(whole), len(whole) // 4 + 1)]
    for piece in pieces:
        with target.open("ab") as handle:
            handle.write(piece)
        runs = bot.next_runs()
        assert all(r.deferred == ["club.pdf"] and not r.changed for r in runs)
        assert bot.engine.store.files() == {}
    assert target.read_bytes() == whole
    finished = time.time() - 60  # the copy finished a minute ago: nothing has touched it since
    os.utime(target, (finished, finished))
    assert bot.next_full_run().indexed == ["club.pdf"]
    assert 2 in cited_pages(bot.ask(ADIDAS_QUESTION), "club.pdf")


@pytest.mark.skipif(not tesseract_available(), reason="tesseract is not installed")
def test_a_scanned_page_is_ocrd_and_cited_as_ocr(start_watched: StartWatched) -> None:
    bot = start_watched()
    make_scanned_text_pdf(bot.data / "scan.pdf", [["Safety report", "The forklift licence costs 420 euros."]])
    assert bot.next_full_run().indexed == ["scan.pdf"]
    answer = bot.ask("How much does the forklift licence cost?")
    assert "*scan.pdf* — p. 1 (OCR)" in answer
    assert "420 euros" in answer


def test_a_password_protected_file_is_reported_in_status_and_notify_channel(
    fake_slack: FakeSlack, start_watched: StartWatched
) -> None:
    bot = start_watched()
    make_text_pdf(bot.data / "Q3.pdf", ["Quarterly revenue."], encrypt_password="secret")
    report = bot.next_full_run()
    assert [(f.file, f.reason) for f in report.failed] == [("Q3.pdf", "password-protected")]
    bot.next_full_run()  # a file that failed is retried only when it changes: no second notice
    [notice] = bot.notices()
    assert "*Could not be indexed (1):*\n• Q3.pdf skipped: password-protected" in notice
    status = fake_slack.wait_for_ack(fake_slack.send_slash_command("/docbot", "status"))["payload"]["text"]
    assert "• Q3.pdf: password-protected" in status
    clock = r"\d\d:\d\d:\d\d"
    assert re.search(rf"\*Re-index:\* last {clock} \(.+\) \(0 indexed .*\) · next {clock}", status), status


def test_a_question_during_a_long_reindex_is_answered_within_one_batch(start_watched: StartWatched) -> None:
    bot = start_watched(embedding_batch_size=2, chunk_size=120, chunk_overlap=0)
    make_text_pdf(bot.data / "safety.pdf", [SAFETY])
    bot.next_full_run()
    asked = threading.Event()
    question_waiting_at_batch: dict[int, bool] = {}
    answers_done_at_batch: dict[int, int] = {}

    def on_batch(n: int) -> None:
        question_waiting_at_batch[n] = bot.gate.question_waiting()
        answers_done_at_batch[n] = bot.gate.stats().questions
        if n == 3:  # mid re-index: the question arrives while this batch is being embedded
            asked.set()
            wait_until(bot.gate.question_waiting, WAIT, "the question never asked for the CPU")

    topics = ["marketing", "travel", "training", "research", "catering"]
    sentences = [
        f"Section {n}: the {topics[n % 5]} budget for {1989 + n} was {n * 7} million." for n in range(40)
    ]
    pages = [" ".join(sentences[i : i + 8]) for i in range(0, 40, 8)]
    start = bot.embeddings.batches
    bot.embeddings.on_batch = lambda n: on_batch(n - start)
    make_text_pdf(bot.data / "budget.pdf", pages)
    assert asked.wait(WAIT)
    answer = bot.ask("When must a workplace injury be reported?")
    assert "safety.pdf" in answer
    report = bot.next_full_run()
    total = max(question_waiting_at_batch)
    assert "budget.pdf" in {p for r in bot.reports for p in r.indexed} and total > 4, report
    assert not any(question_waiting_at_batch.values())  # no batch began while the question waited
    assert answers_done_at_batch[3] == 0 and answers_done_at_batch[4] == 1  # answered between batch 3 and 4
    stats = bot.gate.stats()
    print(f"question waited {stats.question_wait_last:.3f} s for the CPU (one batch of 2 chunks)")


@pytest.mark.corpus
@pytest.mark.timeout(900)
def test_copying_manu_makes_the_adidas_question_answerable_and_removing_it_stops_citing_it(
    start_watched: StartWatched, corpus_dir: Path
) -> None:
    """The issue's "done means": copy manu-20f into the watched folder of the running bot, then remove it."""
    interval = 0.25
    bot = start_watched(  # the default k, as `make run` has it; another file so answers have sources
        before=lambda data: make_text_pdf(data / "safety.pdf", [SAFETY]), reindex_minutes=interval, k=4
    )
    name = "manu-20f-2022-09-24.pdf"
    copied_at = time.time()
    shutil.copyfile(corpus_dir / name, bot.data / name)
    deadline = time.monotonic() + 600
    while not any(name in r.indexed for r in bot.reports):
        assert time.monotonic() < deadline, "manu was not indexed"
        bot.reindex.wait_for_runs(bot.reindex.runs + 1, 60)
    at = next(i for i, r in enumerate(bot.reports) if name in r.indexed)
    run, finished = bot.reports[at], bot.finished_at[at]
    started = finished - run.seconds
    assert started - copied_at <= interval * 60 + 1  # the copy was picked up within one interval
    answer = bot.ask(ADIDAS_QUESTION, timeout=120)
    assert 53 in cited_pages(answer, name), answer
    print(f"manu: run began {started - copied_at:.1f} s after the copy and took {run.seconds:.0f} s")

    (bot.data / name).unlink()
    removed_at = time.time()
    while not any(name in r.removed for r in bot.reports):
        assert bot.reindex.wait_for_runs(bot.reindex.runs + 1, interval * 60 + 30), "removal not seen"
    assert time.time() - removed_at <= 2 * interval * 60 + 30
    answer = bot.ask(ADIDAS_QUESTION, timeout=120)
    assert name not in answer and "safety.pdf" in answer
