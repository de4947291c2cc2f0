"""The latency part's timing logic on small random models: same code paths as the real-size run, fast."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from bench.big_gguf import Shape, write_big_gguf
from bench.llm_backends import GenerationLog, measure_combo
from bench.llm_common import GenRun, Plan, time_stream
from bench.llm_end_to_end import E2ESetup, measure_end_to_end
from devtools.pdfs import make_text_pdf

if TYPE_CHECKING:
    from langchain_core.embeddings import Embeddings

SMALL = Shape(n_embd=64, n_layer=2, n_head=4, n_ff=128, n_vocab=2000, n_ctx=512)
CONTEXT = "The minimum guarantee payable by adidas over the term of the agreement is 750 million pounds."
PLAN = Plan(direct_new_tokens=6, direct_runs=2, e2e_pairs=2, e2e_new_tokens=12)


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("models")
    return {q: write_big_gguf(q, shape=SMALL, out_dir=folder).path for q in ("q4_0", "q8_0")}


def test_time_stream_counts_and_times_the_first_piece() -> None:
    def pieces() -> Iterator[str]:
        yield ""  # an empty piece (half a character) is not a token shown
        yield from ["a", "b", "c", "d"]

    run = time_stream(pieces(), 3, lambda p: 1 if p else 0)
    assert run.new_tokens == 3
    assert 0 <= run.first_s <= run.total_s
    assert GenRun(10, 5, 2.0, 4.0).prompt_tps == 5.0 and GenRun(10, 5, 2.0, 4.0).gen_tps == 2.0


@pytest.mark.parametrize("backend", ["llama-cpp", "ctransformers"])
def test_combo_runs_the_same_prompts_and_token_counts_on_every_side(
    models: dict[str, Path], backend: str
) -> None:
    result = measure_combo(models["q8_0"], backend, "q8_0", CONTEXT, PLAN)
    sides = (result.direct, result.local_llm, result.qa_chain)
    assert [len(runs) for runs in sides] == [2, 2, 2]
    assert all(r.new_tokens == PLAN.direct_new_tokens for runs in sides for r in runs)
    assert all(0 < r.first_s <= r.total_s for runs in sides for r in runs)
    # Every run put the same prompt to the model, apart from a distinct first word (one token).
    assert len({r.prompt_tokens for runs in sides for r in runs}) == 1
    summary = result.summary()
    assert summary["qa_chain_overhead"]["runs"] == 2
    assert summary["direct"]["generation_tokens_per_second"]["median"] > 0


def test_generation_log_reads_docbots_own_token_count(models: dict[str, Path]) -> None:
    from bench.llm_common import docbot_settings
    from models.llm import load_llm, unload_all

    llm = load_llm(docbot_settings(models["q4_0"], "llama-cpp", max_new_tokens=5))
    try:
        with GenerationLog().attached() as log:
            "".join(llm.stream("The club"))
        assert log.generated == [5]
    finally:
        unload_all()


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_end_to_end_pairs_on_the_fake_slack(
    models: dict[str, Path], tmp_path: Path, embeddings: Embeddings
) -> None:
    from bench.tutorial import build_tutorial_index
    from bot.engine import open_engine
    from config.settings import load_settings

    pdf = make_text_pdf(tmp_path / "data" / "club report.pdf", ["Annual report 2022.", CONTEXT])
    settings = load_settings(
        env_file=None, data_dir=tmp_path / "data", index_dir=tmp_path / "index", settle_seconds=0.0
    )
    engine = open_engine(settings, load_llm=False, embeddings=embeddings)
    assert engine.sync().indexed == ["club report.pdf"]
    engine.close()
    setup = E2ESetup(
        docbot_model=models["q4_0"],
        tutorial_model=models["q8_0"],
        docbot_index=tmp_path / "index",
        tutorial_index=build_tutorial_index([pdf], embeddings=embeddings),
        docbot_overrides={"max_new_tokens": PLAN.e2e_new_tokens, "data_dir": tmp_path / "data"},
    )
    result = measure_end_to_end(setup, PLAN)
    docbot, tutorial = result["docbot"], result["tutorial"]
    assert docbot["total_seconds"]["runs"] == tutorial["total_seconds"]["runs"] == 2
    d = docbot["first_feedback_seconds"]["max"], docbot["first_token_seconds"]["max"]
    assert d[0] <= d[1] <= docbot["total_seconds"]["max"]
    # The tutorial shows nothing until its answer is complete.
    # (the three are rounded to different digits: feedback to ms, the others to 10 ms)
    total = tutorial["total_seconds"]["values"]
    assert tutorial["first_feedback_seconds"]["values"] == pytest.approx(total, abs=0.006)
    assert tutorial["first_token_seconds"]["values"] == pytest.approx(total, abs=0.006)
    assert result["total_ratio"]["runs"] == 2 and result["total_ratio"]["median"] > 0
    assert docbot["config"]["backend"] == "llama-cpp" and docbot["config"]["max_new_tokens"] == 12
    assert tutorial["model_load_seconds"]["runs"] == 2  # reloaded for every question
    assert all(n > 0 for n in docbot["prompt_tokens"] + tutorial["prompt_tokens"])


def test_results_are_written_after_the_pairs_and_after_each_backend(
    models: dict[str, Path], tmp_path: Path
) -> None:
    import json

    from bench import llm_latency
    from bench.big_gguf import BigModel
    from bench.common import summarize

    side = {k: summarize([1.0, 2.0, 3.0]) for k in ("first_feedback_seconds", "first_token_seconds")}
    e2e = {
        "docbot": side | {"total_seconds": summarize([30.0]), "prompt_tokens": [600]},
        "tutorial": side | {"total_seconds": summarize([100.0]), "prompt_tokens": [390]},
        "total_ratio": summarize([0.3]),
    }
    plan = replace(PLAN, combos=(("llama-cpp", "q8_0"), ("ctransformers", "q8_0")))
    built = {"q8_0": BigModel(models["q8_0"], "q8_0", SMALL)}
    combo = measure_combo(models["q8_0"], "llama-cpp", "q8_0", CONTEXT, replace(plan, direct_runs=1))
    path = llm_latency._write(plan, built, [combo.summary()], e2e, 0.0, (1.0, 1.0, 1.0), tmp_path)
    record = json.loads(path.read_text())
    assert record["part"] == "llm_latency" and record["complete"] is False
    overhead, ratio = record["goals"]
    assert ratio["met"] is True and ratio["measured"].startswith("0.30x")
    assert overhead["met"] is not None and "llama-cpp Q8_0" in overhead["measured"]
    assert "Not measured in this run: ctransformers Q8_0." in record["sections"][0]["notes"]
    empty = llm_latency._write(plan, built, [], e2e, 0.0, (1.0, 1.0, 1.0), tmp_path)
    assert json.loads(empty.read_text())["goals"][0]["met"] is None
