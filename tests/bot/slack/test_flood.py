"""A flood of questions in one burst through the real bot and the fake Slack.

One user floods first, the others ask in turn. Every event is acknowledged within 1 s by the bot process
(within Slack's 3 s deadline when the bot shares the test's interpreter); each accepted
question is answered exactly once, first in first out; the flooder is told to wait once they have
`queue_per_user_max` questions waiting, so everyone else's questions are not stuck behind all of theirs;
the bot's memory is flat over the run (RSS from /proc).
"""

from __future__ import annotations

import threading
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
from langchain_core.embeddings import Embeddings

from devtools.bot_process import BotProcess, bot_env
from devtools.fake_slack import FakeSlack
from devtools.pdfs import make_text_pdf
from ingest.sync import SyncOptions, sync_folder
from models.embeddings import embedding_model_id
from tests.bot.answerers import ScriptedAnswerer
from tests.bot.slack.conftest import StartBot, Thread
from vectorstore.store import IndexStore

ACK_SECONDS = 1.0  # the bot process's promise
# Slack's own deadline (it redelivers an event not acked within 3 s). In-process, the fake Slack, the sender
# of the burst and the bot share one interpreter, so a pause of the test process is counted as the bot's;
# a fresh-clone CI run saw one ack at 1.39 s there while the bot process's own acks stay far under 1 s.
IN_PROCESS_ACK_SECONDS = 3.0
RSS_GROWTH_LIMIT_MB = 40.0  # in-process: includes the fake Slack keeping every message and call
BOT_RSS_GROWTH_LIMIT_MB = 15.0  # the bot process alone
ADIDAS = "The minimum guarantee payable by adidas over the term of the agreement is 750 million pounds."


def rss_mb() -> float:
    """Resident memory of this process (the bot runs in it), from /proc."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmRSS in /proc/self/status")


@dataclass(frozen=True)
class Flood:
    flooder_questions: int
    users: int
    questions_each: int
    per_user_cap: int

    @property
    def total(self) -> int:
        return self.flooder_questions + (self.users - 1) * self.questions_each


BURST = Flood(flooder_questions=110, users=20, questions_each=10, per_user_cap=10)  # 300 questions
SOAK = Flood(flooder_questions=500, users=100, questions_each=10, per_user_cap=10)  # 1,490 questions


@dataclass(frozen=True)
class Sent:
    name: str
    user: str
    envelope: str
    ts: str
    at: float


def send_burst(fake: FakeSlack, flood: Flood) -> list[Sent]:
    """The flooder's questions first, then the others taking turns."""
    order = [("UFLOOD", n) for n in range(flood.flooder_questions)]
    order += [(f"U{u:02d}", n) for n in range(flood.questions_each) for u in range(1, flood.users)]
    sent = []
    for user, n in order:
        name = f"{user}-q{n:03d}"
        envelope, ts = fake.mention(name, user=user)
        sent.append(Sent(name, user, envelope, ts, time.monotonic()))
    return sent


@dataclass(frozen=True)
class ChannelView:
    """One pass over the channel: the bot's texts per thread and the reactions per message."""

    texts: dict[str, list[str]]
    reactions: dict[str, list[str]]

    @classmethod
    def of(cls, fake: FakeSlack) -> ChannelView:
        texts: dict[str, list[str]] = defaultdict(list)
        reactions: dict[str, list[str]] = {}
        for message in fake.messages("C1"):
            reactions[message["ts"]] = [r["name"] for r in message.get("reactions", [])]
            if message.get("bot_id"):
                texts[message.get("thread_ts", message["ts"])].append(str(message.get("text", "")))
        return cls(texts, reactions)

    def answers(self, ts: str) -> int:
        return sum("Sources" in text for text in self.texts.get(ts, []))

    def told_to_wait(self, ts: str) -> bool:
        return any("already have" in text for text in self.texts.get(ts, []))

    def reacted(self, ts: str) -> bool:
        return self.reactions.get(ts) == ["eyes"]


def poll(fake: FakeSlack, done: Callable[[ChannelView], bool], timeout: float = 120) -> None:
    """Check the channel every half second (a full copy of thousands of messages is not free)."""
    deadline = time.monotonic() + timeout
    pause = threading.Event()
    while not done(ChannelView.of(fake)):
        view = ChannelView.of(fake)
        assert time.monotonic() < deadline, (
            f"not done within {timeout} s: {len(view.texts)} threads with bot messages,"
            f" {sum(r == ['eyes'] for r in view.reactions.values())} reactions"
        )
        pause.wait(0.5)


def run_flood(fake: FakeSlack, start_bot: StartBot, flood: Flood) -> dict[str, float]:
    gate = threading.Event()
    answerer = ScriptedAnswerer(mode="retrieval-only", gate=gate)
    # The chat.update delivery without thread statuses: the figures in docs/reliability.md were measured so.
    start_bot(
        answerer,
        queue_max=flood.total,
        queue_per_user_max=flood.per_user_cap,
        reply_delivery="update",
        thread_status=False,
    )
    # Warm up (imports, connection pools, SQLite caches) before measuring memory.
    gate.set()
    _, warm = fake.mention("warm-up", user="UWARM")
    Thread(fake, "C1", warm).wait_answered()
    gate.clear()
    rss_before = rss_mb()

    _, first = fake.mention("busy", user="UBUSY")  # keeps the worker busy while the burst arrives
    fake.wait_for(lambda _: "busy" in answerer.questions())
    sent = send_burst(fake, flood)
    fake.wait_for(lambda f: all(s.envelope in f.acks() for s in sent), 60)
    acks = fake.acks()
    latencies = sorted(acks[s.envelope]["acked_at"] - s.at for s in sent)

    accepted = [s for s in sent if s.user != "UFLOOD" or int(s.name[-3:]) < flood.per_user_cap]
    refused = [s for s in sent if s not in accepted]
    poll(
        fake, lambda v: all(v.told_to_wait(s.ts) for s in refused) and all(v.reacted(s.ts) for s in accepted)
    )
    reactions_seconds = time.monotonic() - sent[0].at
    opened = time.monotonic()
    gate.set()
    poll(fake, lambda v: all(v.answers(s.ts) == 1 for s in accepted), timeout=600)
    answered_seconds = time.monotonic() - opened
    rss_after = rss_mb()

    assert latencies[-1] < IN_PROCESS_ACK_SECONDS, f"slowest ack {latencies[-1]:.2f} s"
    assert answerer.questions() == ["warm-up", "busy", *(s.name for s in accepted)]  # FIFO, once each
    final = ChannelView.of(fake)
    assert final.answers(first) == 1 and all(final.answers(s.ts) == 1 for s in accepted)
    assert all(final.answers(s.ts) == 0 and not final.reacted(s.ts) for s in refused)
    # Fairness: every other user's first question comes before the flooder's 11th could have.
    others_first = [min(i for i, s in enumerate(accepted) if s.user == u) for u in {s.user for s in accepted}]
    assert max(others_first) < flood.per_user_cap + flood.users
    assert rss_after - rss_before < RSS_GROWTH_LIMIT_MB, (rss_before, rss_after)
    return {
        "questions": len(sent),
        "accepted": len(accepted),
        "told_to_wait": len(refused),
        "ack_p50_ms": round(latencies[len(latencies) // 2] * 1000, 1),
        "ack_max_ms": round(latencies[-1] * 1000, 1),
        "all_reacted_s": round(reactions_seconds, 2),
        "all_answered_s": round(answered_seconds, 2),
        "rss_before_mb": round(rss_before, 1),
        "rss_after_mb": round(rss_after, 1),
    }


def process_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise AssertionError(f"no VmRSS for pid {pid}")


@pytest.mark.slow
@pytest.mark.timeout(400)
def test_a_burst_of_300_from_20_users_on_the_bot_process(
    fake_slack: FakeSlack, tmp_path: Path, embeddings: Embeddings
) -> None:
    """`python -m bot run` with the real engine (retrieval-only): its own memory measured from /proc."""
    flood = BURST
    make_text_pdf(tmp_path / "data" / "club.pdf", ["Annual report 2022.", ADIDAS])
    store = IndexStore(tmp_path / "index", dim=384, model_id=embedding_model_id(""))
    sync_folder(tmp_path / "data", store, embeddings, SyncOptions())
    store.close()
    env = bot_env(
        fake_slack,
        tmp_path,
        reindex_minutes="60",
        queue_max=str(flood.total),
        reply_delivery="update",  # FIFO is read from the final chat.updates; figures measured so
        thread_status="false",
    )
    bot = BotProcess(fake_slack, env, tmp_path / "bot.log", cwd=tmp_path)
    try:
        bot.wait_connected(0)
        _, warm = fake_slack.mention("warm-up: the adidas guarantee?", user="UWARM")
        Thread(fake_slack, "C1", warm).wait_answered(timeout=60)
        rss_before = process_rss_mb(bot.proc.pid)
        # The next answer's final update is rate limited (Retry-After): the worker is busy while the
        # burst arrives, so every question of the burst waits in the queue.
        stall = 10
        fake_slack.fail_next("chat.update", status=429, retry_after=stall)
        _, first = fake_slack.mention("busy: the adidas guarantee?", user="UBUSY")
        fake_slack.wait_for_calls("chat.update", count=2, timeout=60)
        stalled_at = time.monotonic()
        sent = send_burst(fake_slack, flood)
        fake_slack.wait_for(lambda f: all(s.envelope in f.acks() for s in sent), 60)
        acks = fake_slack.acks()
        latencies = sorted(acks[s.envelope]["acked_at"] - s.at for s in sent)
        accepted = [s for s in sent if s.user != "UFLOOD" or int(s.name[-3:]) < flood.per_user_cap]
        refused = [s for s in sent if s not in accepted]
        poll(fake_slack, lambda v: all(v.told_to_wait(s.ts) for s in refused))
        poll(fake_slack, lambda v: all(v.reacted(s.ts) for s in accepted))
        intake_seconds = time.monotonic() - sent[0].at
        assert time.monotonic() - stalled_at < stall, "the burst must be queued while the worker is busy"
        poll(fake_slack, lambda v: all(v.answers(s.ts) == 1 for s in [*accepted]), timeout=300)
        answered_seconds = time.monotonic() - stalled_at
        rss_after = process_rss_mb(bot.proc.pid)
        assert bot.stop() == 0, bot.log_text()
    finally:
        bot.close()
    view = ChannelView.of(fake_slack)
    assert latencies[-1] < ACK_SECONDS, f"slowest ack {latencies[-1]:.2f} s"
    assert view.answers(first) == 1 and all(view.answers(s.ts) == 1 for s in accepted)
    assert all(view.answers(s.ts) == 0 and not view.reacted(s.ts) for s in refused)
    # FIFO: the final answers were written in the order the questions were accepted.
    thread_of_reply = {
        m["ts"]: m["thread_ts"] for m in fake_slack.messages("C1") if m.get("bot_id") and "thread_ts" in m
    }
    finals = [
        thread_of_reply.get(c.args["ts"])
        for c in fake_slack.calls("chat.update")
        if c.ok and "Sources" in str(c.args.get("text"))
    ]
    assert finals == [warm, first, *(s.ts for s in accepted)]
    growth = rss_after - rss_before
    print(
        f"flood on the bot process: questions={len(sent)} accepted={len(accepted)}"
        f" told_to_wait={len(refused)}"
        f" ack_p50_ms={latencies[len(latencies) // 2] * 1000:.1f} ack_max_ms={latencies[-1] * 1000:.1f}"
        f" intake_s={intake_seconds:.2f} answered_s={answered_seconds:.1f}"
        f" rss_before_mb={rss_before:.1f} rss_after_mb={rss_after:.1f}"
    )
    assert growth < BOT_RSS_GROWTH_LIMIT_MB, (rss_before, rss_after)


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_a_burst_of_300_from_20_users_in_process(fake_slack: FakeSlack, start_bot: StartBot) -> None:
    print(f"flood: {run_flood(fake_slack, start_bot, BURST)}")


@pytest.mark.soak
@pytest.mark.slow
@pytest.mark.timeout(900)
def test_soak_a_burst_of_1490_from_100_users(fake_slack: FakeSlack, start_bot: StartBot) -> None:
    print(f"flood: {run_flood(fake_slack, start_bot, SOAK)}")
