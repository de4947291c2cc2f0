"""The memory part against the real bot process on a small generated index: figures come from /proc."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.memory import one_run, proc_status_mib
from devtools.pdfs import make_text_pdf


def test_proc_status_of_this_process() -> None:
    import os

    figures = proc_status_mib(os.getpid())
    assert figures["VmHWM"] >= figures["VmRSS"] > 0
    assert figures["RssAnon"] + figures["RssFile"] <= figures["VmRSS"] + 1


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_one_run_answers_every_question_and_reads_the_peak(tmp_path: Path) -> None:
    make_text_pdf(tmp_path / "data" / "club.pdf", ["Annual report.", "The guarantee is 750 million pounds."])
    questions = ["How much is the guarantee?", "What is this report?", "Who pays the guarantee?"]
    run = one_run(questions, tmp_path / "bot.log", tmp_path / "index", tmp_path / "data")
    assert (tmp_path / "index").is_dir()  # the bot's start-up re-index built it before the questions
    after, idle = run["after"], run["idle"]
    assert after["VmHWM"] >= max(after["VmRSS"], idle["VmRSS"], run["peak_sampled_rss_mib"]) > 100
    assert run["answered_seconds"] < 120
    # a second run on the same index: the queue of the first must not swallow the questions as duplicates
    again = one_run(questions, tmp_path / "bot2.log", tmp_path / "index", tmp_path / "data")
    assert again["answered_seconds"] < 120
