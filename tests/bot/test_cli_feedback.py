"""`docbot feedback`: the votes newest first with the share of 👍, as text or JSON, and `--export` writing
each 👎 that has a reason as a question `docbot eval` reads."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from bot.answer import Answer, Source, Timings
from bot.cli import main
from bot.evaluate import load_questions
from bot.feedback import FeedbackStore

Q1 = "How much is the minimum guarantee payable by adidas?"
Q2 = "When does the staff canteen close on Fridays?"
Q3 = "Who audits the accounts?"


@pytest.fixture
def index(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    for name in list(os.environ):
        if name.startswith(("DOCBOT_", "SLACK_")):
            monkeypatch.delenv(name)
    monkeypatch.setenv("DOCBOT_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("DOCBOT_INDEX_DIR", str(tmp_path / "index"))
    monkeypatch.setenv("DOCBOT_MODEL_PATH", str(tmp_path / "missing.gguf"))
    monkeypatch.chdir(tmp_path)
    return tmp_path / "index"


def _votes(index: Path) -> None:
    store = FeedbackStore.beside_index(index, model="smollm2.gguf")
    try:
        for job, question, sources in (
            (
                1,
                Q1,
                [Source("manu.pdf", 53, "43", "the guarantee", 0.9), Source("manu.pdf", 75, "65", "x", 0.5)],
            ),
            (2, Q2, [Source("notices.pdf", 1, "1", "the canteen", 0.8)]),
            (3, Q3, []),
        ):
            answer = Answer(question, f"answer {job}", "llm", sources, Timings(total=4.0))
            store.record_answer(
                job_id=job,
                channel="C1",
                thread_ts="1.0",
                question_ts="1.0",
                asker="U1",
                answer=answer,
                seconds=4.1,
            )
        store.vote(job_id=1, user="U1", vote="up", click_id="a")
        store.vote(job_id=1, user="U2", vote="down", click_id="b")
        store.set_reason(job_id=1, user="U2", reason="the figure is on p. 75")
        store.vote(job_id=2, user="U2", vote="down", click_id="c")  # no reason: not exported
        store.vote(job_id=3, user="U3", vote="down", click_id="d")
        store.set_reason(job_id=3, user="U3", reason="nothing was cited")  # no page: left out
    finally:
        store.close()


def test_without_feedback_it_says_so(index: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["feedback"]) == 0
    assert "no feedback yet" in capsys.readouterr().out
    assert main(["feedback", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["votes"] == 0
    assert main(["feedback", "--export", str(index.parent / "q.jsonl")]) == 1


def test_the_list_is_newest_first_with_the_share_of_thumbs_up(
    index: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _votes(index)
    assert main(["feedback"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "feedback: 4 votes, 1 👍 · 3 👎 (25% 👍), 2 with a reason"
    entries = [line for line in lines[1:] if not line.startswith("    ")]
    assert [e.split(": ", 1)[1] for e in entries] == [Q3, Q2, Q1, Q1]
    assert "👎 U2 job 1" in entries[2] and "👍 U1 job 1" in entries[3]
    assert (
        "    reason: the figure is on p. 75" in lines and "    cited: manu.pdf p. 53, manu.pdf p. 75" in lines
    )
    assert main(["feedback", "-n", "1"]) == 0
    assert Q3 in capsys.readouterr().out.splitlines()[1]


def test_json_has_every_vote_and_what_was_answered(index: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _votes(index)
    assert main(["feedback", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert (data["votes"], data["up"], data["down"], data["share_up"], data["with_reason"]) == (
        4,
        1,
        3,
        0.25,
        2,
    )
    first = data["items"][-1]
    assert first["question"] == Q1 and first["vote"] == "up" and first["model"] == "smollm2.gguf"
    assert first["sources"][0]["page"] == 53 and first["timings"]["total"] == 4.0 and first["seconds"] == 4.1


def test_export_writes_thumbs_down_with_a_reason_as_eval_questions(
    index: Path, capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    _votes(index)
    out = index.parent / "eval" / "from-feedback.jsonl"
    assert main(["feedback", "--export", str(out)]) == 0
    err = capsys.readouterr().err
    assert "wrote 1 questions" in err and "1 without a cited page left out" in err and "check them" in err
    [line] = out.read_text(encoding="utf-8").splitlines()
    record = json.loads(line)
    assert (record["question"], record["doc"], record["page"], record["also_on"]) == (
        Q1,
        "manu.pdf",
        53,
        [75],
    )
    assert record["feedback"]["reason"] == "the figure is on p. 75"
    with caplog.at_level("WARNING"):
        [question] = load_questions(out)
    assert question.question == Q1 and question.expected_pages == (53, 75)
    assert "unknown key" not in caplog.text  # eval knows the feedback note
