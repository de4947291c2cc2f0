"""Write a random-weight GGUF shaped exactly like Llama-2-7B, for latency benchmarks without real weights.

Per token such a file costs what the real model costs: the same tensors, types and sizes go through the same
kernels. The values are random quants with small valid fp16 scales, so activations stay finite. The output
rows of <unk>, <s>, </s> and the 256 byte tokens are zero (logit 0, far below the best of 31,741 random
logits), so near-greedy sampling never ends early, never emits a newline and always produces the requested
number of tokens; both sides of a comparison use files written this way.

Q4_0 stands in for docbot's default download (Q4_K_M); Q8_0 is what the tutorial used. The vocabulary uses
Llama's id layout (devtools/tiny_llama.py's `build_vocab`) filled with the words of the benchmark corpus, so
that English prompts take about as many tokens as with the real tokenizer; the benchmark reports the counts.
Files go under bench-out/ and are reused when one with the same parameters exists (the name holds a hash).
"""

from __future__ import annotations

import hashlib
import itertools
import json
import logging
import re
import time
from collections import Counter
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from gguf import GGUFWriter

logger = logging.getLogger(__name__)

OUT_DIR = Path(__file__).resolve().parents[1] / "bench-out"
N_SPECIAL_AND_BYTES = 3 + 256
BLOCK_ELEMENTS = {"q4_0": 32, "q8_0": 32, "q4_k": 256}
BLOCK_BYTES = {"q4_0": 18, "q8_0": 34, "q4_k": 144}
# Scale giving each weight a standard deviation of about 1/sqrt(n_embd) (q8_0 quants span +-127, q4_0 +-8).
WEIGHT_STD = {"q4_0": 4.6, "q8_0": 73.0, "q4_k": 4.6}
POOL_BYTES = 1 << 24
WORD_RE = re.compile(r"[A-Za-z][A-Za-z'-]*[A-Za-z]|[A-Za-z]")


@dataclass(frozen=True)
class Shape:
    """A Llama architecture's sizes; the defaults are Llama-2-7B's."""

    n_embd: int = 4096
    n_layer: int = 32
    n_head: int = 32
    n_ff: int = 11008
    n_vocab: int = 32000
    n_ctx: int = 4096


LLAMA2_7B = Shape()


@dataclass(frozen=True)
class BigModel:
    """A written file and what it is."""

    path: Path
    quant: str
    shape: Shape
    seconds: float = 0.0
    reused: bool = False
    n_words: int = 0
    params: dict[str, object] = field(default_factory=dict)


def corpus_words(texts: Iterable[str], limit: int = 20000) -> list[str]:
    """The most frequent words of `texts`, most frequent first (for the vocabulary)."""
    counts: Counter[str] = Counter()
    for text in texts:
        counts.update(WORD_RE.findall(text))
    return [word for word, _ in counts.most_common(limit)]


def pdf_words(pdfs: Iterable[Path], limit: int = 20000) -> list[str]:
    """corpus_words over the text of every page of `pdfs` (pypdf)."""
    from pypdf import PdfReader

    return corpus_words((page.extract_text() for pdf in pdfs for page in PdfReader(pdf).pages), limit)


def _filler_words() -> Iterable[str]:
    """Deterministic made-up words to top the vocabulary up to its size when the corpus runs out."""
    letters = "abcdefghijklmnopqrstuvwxyz"
    for a, b, c, d in itertools.product(letters, repeat=4):
        yield f"zq{a}{b}{c}{d}"


def vocabulary(words: list[str], n_vocab: int) -> tuple[list[str], list[float], list[int]]:
    """Llama's id layout with exactly `n_vocab` tokens: specials, byte tokens, characters, word pieces."""
    from devtools.tiny_llama import COMMON_WORDS, build_vocab

    pool = list(dict.fromkeys([*COMMON_WORDS, *words]))
    vocab = build_vocab(pool + list(itertools.islice(_filler_words(), n_vocab)), target=n_vocab)
    if len(vocab.tokens) != n_vocab:
        raise ValueError(f"vocabulary came out at {len(vocab.tokens)} tokens, wanted {n_vocab}")
    return vocab.tokens, vocab.scores, vocab.types


def _tensor_shapes(shape: Shape) -> list[tuple[str, tuple[int, ...]]]:
    """GGUF tensor names with numpy shapes (rows, cols), in llama.cpp's usual order."""
    e, f = shape.n_embd, shape.n_ff
    names: list[tuple[str, tuple[int, ...]]] = [("token_embd.weight", (shape.n_vocab, e))]
    for i in range(shape.n_layer):
        names += [
            (f"blk.{i}.attn_norm.weight", (e,)),
            (f"blk.{i}.attn_q.weight", (e, e)),
            (f"blk.{i}.attn_k.weight", (e, e)),
            (f"blk.{i}.attn_v.weight", (e, e)),
            (f"blk.{i}.attn_output.weight", (e, e)),
            (f"blk.{i}.ffn_norm.weight", (e,)),
            (f"blk.{i}.ffn_gate.weight", (f, e)),
            (f"blk.{i}.ffn_down.weight", (e, f)),
            (f"blk.{i}.ffn_up.weight", (f, e)),
        ]
    return [*names, ("output_norm.weight", (e,)), ("output.weight", (shape.n_vocab, e))]


class _BlockMaker:
    """Random quantized blocks: bytes tiled from a random pool, with valid small fp16 scales written in."""

    def __init__(self, quant: str, n_embd: int, seed: int) -> None:
        self.quant = quant
        self.rng = np.random.default_rng(seed)
        self.pool = self.rng.integers(0, 256, POOL_BYTES, dtype=np.uint8)
        self.scale = 1.0 / (np.sqrt(n_embd) * WEIGHT_STD[quant])

    def blocks(self, rows: int, cols: int, zero_rows: int = 0) -> np.ndarray:
        """A (rows * blocks per row, block bytes) uint8 array; the first `zero_rows` rows are all zero."""
        per_row = cols // BLOCK_ELEMENTS[self.quant]
        n_blocks = rows * per_row
        size = BLOCK_BYTES[self.quant]
        start = int(self.rng.integers(0, POOL_BYTES))
        flat = np.resize(np.roll(self.pool, -start), n_blocks * size)
        data = flat.reshape(n_blocks, size)
        scales = (self.scale * (0.5 + self.rng.random(n_blocks, dtype=np.float32))).astype(np.float16)
        data[:, 0:2] = scales.view(np.uint8).reshape(n_blocks, 2)
        if self.quant == "q4_k":
            # d and dmin; the 6-bit sub-block scales and mins that follow may be anything.
            data[:, 2:4] = (scales * np.float16(0.5)).view(np.uint8).reshape(n_blocks, 2)
        if zero_rows:
            data[: zero_rows * per_row] = 0
        return data


def model_path(shape: Shape, quant: str, words: list[str], seed: int) -> tuple[Path, dict[str, object]]:
    """Where the file for these parameters lives, and the parameters (the name holds their hash)."""
    params: dict[str, object] = {"shape": asdict(shape), "quant": quant, "seed": seed, "version": 1}
    digest = hashlib.sha256(json.dumps([params, words], sort_keys=True).encode()).hexdigest()[:12]
    name = "llama2-7b" if shape == LLAMA2_7B else f"llama-{shape.n_embd}x{shape.n_layer}"
    return OUT_DIR / f"{name}-random-{quant}-{digest}.gguf", params


def write_big_gguf(
    quant: str,
    *,
    words: list[str] | None = None,
    shape: Shape = LLAMA2_7B,
    seed: int = 0,
    out_dir: Path | None = None,
) -> BigModel:
    """Write (or reuse) a random-weight GGUF of `shape` in q4_0, q8_0 or q4_k; returns where it is."""
    import gguf

    if quant not in BLOCK_ELEMENTS:
        raise ValueError(f"quant must be one of {sorted(BLOCK_ELEMENTS)}, got {quant!r}")
    words = list(words or [])
    path, params = model_path(shape, quant, words, seed)
    if out_dir is not None:
        path = out_dir / path.name
    if path.is_file():
        return BigModel(path, quant, shape, reused=True, n_words=len(words), params=params)
    path.parent.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    qtype = {
        "q4_0": gguf.GGMLQuantizationType.Q4_0,
        "q8_0": gguf.GGMLQuantizationType.Q8_0,
        "q4_k": gguf.GGMLQuantizationType.Q4_K,
    }[quant]
    tokens, scores, types = vocabulary(words, shape.n_vocab)
    partial = path.with_suffix(".part")
    writer = gguf.GGUFWriter(str(partial), "llama")
    _add_metadata(writer, shape, tokens, scores, types, quant)
    tensors = _tensor_shapes(shape)
    for name, dims in tensors:
        if len(dims) == 1:
            writer.add_tensor_info(name, dims, np.dtype(np.float32), dims[0] * 4)
        else:
            n_bytes = dims[0] * dims[1] // BLOCK_ELEMENTS[quant] * BLOCK_BYTES[quant]
            writer.add_tensor_info(name, dims, np.dtype(np.float32), n_bytes, raw_dtype=qtype)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_ti_data_to_file()
    maker = _BlockMaker(quant, shape.n_embd, seed)
    ones = np.ones(shape.n_embd, dtype=np.float32)
    for name, dims in tensors:
        if len(dims) == 1:
            writer.write_tensor_data(ones)
        else:
            zero = N_SPECIAL_AND_BYTES if name == "output.weight" else 0
            writer.write_tensor_data(maker.blocks(dims[0], dims[1], zero_rows=zero))
    writer.close()
    partial.rename(path)
    _remove_stale(path)
    seconds = time.perf_counter() - started
    logger.info("wrote model path=%s quant=%s seconds=%.1f", path, quant, seconds)
    return BigModel(path, quant, shape, seconds=seconds, n_words=len(words), params=params)


def _remove_stale(path: Path) -> None:
    """Delete files of the same shape and quant written with other parameters (each is gigabytes)."""
    stem = path.name.rsplit("-", 1)[0]
    for old in path.parent.glob(f"{stem}-*"):
        if old != path and old.suffix in (".gguf", ".part"):
            logger.info("removing stale model path=%s", old)
            old.unlink(missing_ok=True)


def _add_metadata(
    writer: GGUFWriter, shape: Shape, tokens: list[str], scores: list[float], types: list[int], quant: str
) -> None:
    writer.add_name(f"random-llama-{quant}")
    writer.add_context_length(shape.n_ctx)
    writer.add_embedding_length(shape.n_embd)
    writer.add_block_count(shape.n_layer)
    writer.add_feed_forward_length(shape.n_ff)
    writer.add_head_count(shape.n_head)
    writer.add_head_count_kv(shape.n_head)
    writer.add_rope_dimension_count(shape.n_embd // shape.n_head)
    writer.add_layer_norm_rms_eps(1e-5)
    writer.add_tokenizer_model("llama")
    writer.add_token_list(tokens)
    writer.add_token_scores(scores)
    writer.add_token_types(types)
    writer.add_bos_token_id(1)
    writer.add_eos_token_id(2)
    writer.add_unk_token_id(0)


def benchmark_words() -> list[str]:
    """The vocabulary words the benchmarks use: the Manchester United 20-F's, when the corpus is here."""
    from bench.common import CORPUS

    manu = CORPUS / "manu-20f-2022-09-24.pdf"
    if not manu.is_file():
        return []
    logging.getLogger("pypdf").setLevel(logging.ERROR)
    return pdf_words([manu])


def main() -> None:
    """Write (or find) the benchmark's Q4_0 and Q8_0 files and print where they are."""
    logging.basicConfig(level=logging.INFO)
    words = benchmark_words()
    for quant in ("q4_0", "q8_0"):
        model = write_big_gguf(quant, words=words)
        written = {"path": str(model.path), "seconds": round(model.seconds, 1), "reused": model.reused}
        print(json.dumps(written))


if __name__ == "__main__":
    main()
