"""Acceptance on the real shared corpus (skipped without ../shared): what issue 2's "done means" lists."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time

import pytest

from devtools.eval_sets import BLIND_SETS, EVAL_DIR
from tests.conftest import REPO, CorpusIndex

# The first test to use corpus_index builds it: about 6 minutes on 2 idle cores, up to 15 on busy ones.
pytestmark = [pytest.mark.corpus, pytest.mark.slow, pytest.mark.timeout(1800)]

READABLE = {
    "bert_1810.04805.pdf",
    "contoso_employee_handbook.pdf",
    "contoso_handbook_mip_protected.pdf",
    "lyft_2021_10k.pdf",
    "manu-20f-2022-09-24.pdf",
    "riscv_unprivileged_isa_20191214.pdf",
    "uber_2021_10k.pdf",
}


def docbot(index: CorpusIndex, *args: str, stdin: str | None = None) -> str:
    result = subprocess.run(
        [sys.executable, "-m", "bot", *args],
        env=index.env(),
        cwd=REPO,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=900,
        check=True,
    )
    return result.stdout


SCANNED = "linnsequencer_scanned_ccitt.pdf"
HAS_TESSERACT = shutil.which("tesseract") is not None


def test_ingest_indexes_the_readable_files_and_explains_the_others(corpus_index: CorpusIndex) -> None:
    report = corpus_index.report
    failed = {f["file"]: f["reason"] for f in report["failed"]}
    assert failed.pop("password_protected_lorem.pdf") == "password-protected"
    if HAS_TESSERACT:  # the scanned page is OCR'd
        assert set(report["indexed"]) == READABLE | {SCANNED} and failed == {}
    else:
        assert set(report["indexed"]) == READABLE
        assert failed == {SCANNED: "no text layer (scanned; needs OCR)"}
    assert report["chunks"] > 7000


def test_second_ingest_finds_everything_unchanged(corpus_index: CorpusIndex) -> None:
    started = time.perf_counter()
    again = json.loads(docbot(corpus_index, "ingest", "--json"))
    elapsed = time.perf_counter() - started
    assert len(again["unchanged"]) == 9
    assert again["indexed"] == again["removed"] == again["failed"] == []
    # Not a timing assertion (see `make bench`); printed so the CI log shows the ratio.
    print(
        f"no-change ingest {again['seconds']:.2f} s in-process, {elapsed:.1f} s with start-up; "
        f"first run {corpus_index.report['seconds']:.1f} s"
    )


def test_adidas_question_cites_page_53_first(corpus_index: CorpusIndex) -> None:
    # The 20-F states the £750 million guarantee on pages 53, 54, 75, 85, 118 and 138, the best four
    # within 0.03 of each other; page 53, where the deal is described, states it first and is cited first.
    out = docbot(corpus_index, "search", "--json", "How much is the minimum guarantee payable by adidas?")
    hits = json.loads(out)["hits"]
    assert (hits[0]["file"], hits[0]["page"], hits[0]["page_label"]) == ("manu-20f-2022-09-24.pdf", 53, "43")
    assert all(hit["file"] == "manu-20f-2022-09-24.pdf" for hit in hits)
    assert {hit["page"] for hit in hits} <= {53, 54, 75, 85, 118, 138}
    assert "minimum guarantee" in hits[0]["text"] and "adidas" in hits[0]["text"]


# The bar (hit@4 >= 0.95, hit@2 >= 0.85) on the tuning and first held-out sets (both read in tuning).
@pytest.mark.parametrize("questions", ["questions.jsonl", "holdout.jsonl"])
def test_retrieval_quality_on_the_tuning_sets(corpus_index: CorpusIndex, questions: str) -> None:
    overall, misses = eval_report(corpus_index, [questions])
    assert overall["page_hit@4"] >= 0.95, misses
    assert overall["page_hit@2"] >= 0.85, misses


# The 300 questions of holdout2-11, written blind and each scored once with the retrieval as it stood, read
# 0.913 hit@4 and 0.823 hit@2 pooled: under the bar (see the README). Here a floor against regressions.
def test_retrieval_quality_on_the_blind_sets(corpus_index: CorpusIndex) -> None:
    overall, misses = eval_report(corpus_index, list(BLIND_SETS))
    assert overall["n"] == 300
    assert overall["page_hit@4"] >= 0.9, misses
    assert overall["page_hit@2"] >= 0.8, misses


def eval_report(index: CorpusIndex, names: list[str]) -> tuple[dict[str, float], list[object]]:
    paths = [str(EVAL_DIR / name) for name in names]
    report = json.loads(docbot(index, "eval", *paths, "--k", "2,4", "--json"))
    print(names, json.dumps(report["overall"]))
    return report["overall"], report["misses"]


def test_status_lists_files_and_failures(corpus_index: CorpusIndex) -> None:
    status = json.loads(docbot(corpus_index, "status", "--json"))
    assert status["problems"] == []
    failed = {f["file"] for f in status["failed"]}
    if HAS_TESSERACT:
        assert status["files"] == 8 and failed == {"password_protected_lorem.pdf"}
    else:
        assert status["files"] == 7 and failed == {SCANNED, "password_protected_lorem.pdf"}
