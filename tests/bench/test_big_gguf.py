"""The random Llama writer: same code as the real-size file, a small shape, loaded by both real backends."""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from bench.big_gguf import LLAMA2_7B, Shape, corpus_words, model_path, vocabulary, write_big_gguf

SMALL = Shape(n_embd=128, n_layer=2, n_head=4, n_ff=256, n_vocab=2000, n_ctx=512)
WORDS = ["guarantee", "adidas", "minimum", "payable", "Manchester"]
PROMPT = "The minimum guarantee payable by adidas"


@pytest.fixture(scope="module")
def small_models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("big-gguf")
    return {q: write_big_gguf(q, words=WORDS, shape=SMALL, out_dir=folder).path for q in ("q4_0", "q8_0")}


def test_vocabulary_has_llamas_layout_and_exact_size() -> None:
    tokens, scores, types = vocabulary(WORDS, 32000)
    assert len(tokens) == len(scores) == len(types) == LLAMA2_7B.n_vocab
    assert tokens[:3] == ["<unk>", "<s>", "</s>"]
    assert tokens[3:259] == [f"<0x{b:02X}>" for b in range(256)] and set(types[3:259]) == {6}
    assert "▁guarantee" in tokens and "▁Manchester" in tokens
    assert len(set(tokens)) == len(tokens)


def test_corpus_words_most_frequent_first() -> None:
    assert corpus_words(["the club, the club's kit; the 2022 season", "club"]) == [
        "the",
        "club",
        "club's",
        "kit",
        "season",
    ]


def test_file_has_the_shape_types_and_valid_scales(small_models: dict[str, Path]) -> None:
    import gguf

    reader = gguf.GGUFReader(small_models["q8_0"])
    tensors = {t.name: t for t in reader.tensors}
    assert len(tensors) == 2 + 9 * SMALL.n_layer + 1
    ffn_down = tensors["blk.0.ffn_down.weight"]
    assert ffn_down.tensor_type == gguf.GGMLQuantizationType.Q8_0
    assert [int(n) for n in ffn_down.shape] == [SMALL.n_ff, SMALL.n_embd]  # ggml order: ne0 first
    assert tensors["output_norm.weight"].tensor_type == gguf.GGMLQuantizationType.F32
    blocks = np.asarray(tensors["output.weight"].data).reshape(-1, 34)
    scales = blocks[:, :2].copy().view(np.float16).astype(np.float32).ravel()
    assert np.isfinite(scales).all()
    per_row = SMALL.n_embd // 32
    assert (scales[: 259 * per_row] == 0).all()  # specials and byte tokens: logit 0, never sampled
    assert (scales[259 * per_row :] > 0).all() and scales.max() < 0.01


def test_reused_when_the_parameters_match_else_replaced(tmp_path: Path) -> None:
    first = write_big_gguf("q4_0", words=WORDS, shape=SMALL, out_dir=tmp_path)
    again = write_big_gguf("q4_0", words=WORDS, shape=SMALL, out_dir=tmp_path)
    other = write_big_gguf("q4_0", words=[*WORDS, "club"], shape=SMALL, out_dir=tmp_path)
    assert not first.reused and again.reused and again.path == first.path
    assert other.path != first.path and not other.reused
    assert not first.path.exists()  # the same shape and quant with other parameters is gigabytes: removed
    assert model_path(LLAMA2_7B, "q4_0", [], 0)[0].name.startswith("llama2-7b-random-q4_0-")
    assert not list(tmp_path.glob("*.part"))


@pytest.mark.parametrize("quant", ["q4_0", "q8_0"])
def test_llama_cpp_generates_exactly_the_tokens_asked(small_models: dict[str, Path], quant: str) -> None:
    from llama_cpp import Llama

    llama = Llama(model_path=str(small_models[quant]), n_ctx=256, n_threads=1, seed=1, verbose=False)
    prompt = llama.tokenize(PROMPT.encode(), add_bos=True)
    assert len(prompt) < 20  # corpus words are whole tokens
    out: Any = llama(PROMPT, max_tokens=40, temperature=0.01)
    assert out["usage"]["completion_tokens"] == 40 and out["choices"][0]["finish_reason"] == "length"
    assert "\n" not in out["choices"][0]["text"]


@pytest.mark.parametrize("quant", ["q4_0", "q8_0"])
def test_ctransformers_generates_exactly_the_tokens_asked(small_models: dict[str, Path], quant: str) -> None:
    from ctransformers import AutoModelForCausalLM

    llm = AutoModelForCausalLM.from_pretrained(
        str(small_models[quant]), model_type="llama", threads=1, context_length=256
    )
    tokens = list(itertools.islice(llm.generate(llm.tokenize(PROMPT), temperature=0.01), 60))
    assert len(tokens) == 60  # generate() ends at EOS by itself
    assert all(t >= 259 for t in tokens)
