"""Write tiny random-weight Llama model files (GGUF and legacy GGML v3) that the real backends load.

The output of such a model is meaningless words; loading, prompting, streaming, stop sequences and context
limits still run through the real ctransformers and llama-cpp-python code. See shared/notes/tiny-llama.md.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

N_EMBD = 64
N_LAYER = 2
N_HEAD = 4
N_FF = 192
N_MULT = 64  # GGML v3 derives n_ff from n_mult: ceil((2 * 4 * 64 // 3) / 64) * 64 == 192
N_CTX = 512
RMS_EPS = 1e-5
TARGET_VOCAB = 1400
# Logit of <unk>, <s>, </s> and the byte tokens, so that sampling yields whole words and never stops early.
SUPPRESSED_LOGIT = -100.0

UNK, BOS, EOS = 0, 1, 2
N_SPECIAL = 3
BYTE_TOKEN_TYPE = 6

COMMON_WORDS = """
the of and to a in is it you that he was for on are with as his they be at one have this from or had by
not word but what some we can out other were all there when up use your how said an each she which do their
time if will way about many then them write would like so these her long make thing see him two has look
more day could go come did number sound no most people my over know water than call first who may down
side been now find any new work part take get place made live where after back little only round man year
came show every good me give our under name very through just form sentence great think say help low line
differ turn cause much mean before move right boy old too same tell does set three want air well also play
small end put home read hand port large spell add even land here must big high such follow act why ask men
change went light kind off need house picture try us again animal point mother world near build self earth
father head stand own page should country found answer school grow study still learn plant cover food sun
four between state keep eye never last let thought city tree cross farm hard start might story saw far sea
draw left late run while press close night real life few north open seem together next white children begin
got walk example ease paper group always music those both mark often letter until mile river car feet care
second book carry took science eat room friend began idea fish mountain stop once base hear horse cut sure
watch color face wood main enough plain girl usual young ready above ever red list though feel talk bird
soon body dog family direct pose leave song measure door product black short numeral class wind question
happen complete ship area half rock order fire south problem piece told knew pass since top whole king space
heard best hour better true during hundred five remember step early hold west ground interest reach fast
verb sing listen six table travel less morning ten simple several vowel toward war lay against pattern slow
center love person money serve appear road map rain rule govern pull cold notice voice unit power town fine
certain fly fall lead cry dark machine note wait plan figure star box noun field rest correct able pound
done beauty drive stood contain front teach week final gave green quick develop ocean warm free minute
strong special mind behind clear tail produce fact street inch multiply nothing course stay wheel full force
blue object decide surface deep moon island foot system busy test record boat common gold possible plane
stead dry wonder laugh thousand ago ran check game shape equate miss brought heat snow tire bring yes
distant fill east paint language among company revenue million billion total report annual financial year
income net profit loss share shares market price value cost costs sales growth business operating results
tax cash assets debt interest rate quarter fiscal period ended december june march september customers
management risk risks factors statement statements information policy policies board directors officer
chief executive contract contracts agreement payment payments amount amounts fee fees guarantee minimum
club football season player players match league media broadcasting commercial sponsorship retail
employees employee operations segment segments services service products technology data users platform
rides drivers network capital equity stock holders dividend dividends increase decrease compared prior
percent per average approximately including related primarily due result results expected future
""".split()


@dataclass(frozen=True)
class _Vocab:
    tokens: list[str]
    scores: list[float]
    types: list[int]


def _word_pieces(words: list[str]) -> Iterator[str]:
    """Each word's '▁'-prefixed pieces, prefixes first, so the SPM bigram merges can reach the whole word."""
    for word in words:
        piece = "▁" + word
        for end in range(2, len(piece) + 1):
            yield piece[:end]


def build_vocab(vocab_words: list[str] | None = None, target: int = TARGET_VOCAB) -> _Vocab:
    """Llama's id layout: <unk>, <s>, </s>, the 256 byte tokens, single characters, then word pieces."""
    tokens = ["<unk>", "<s>", "</s>"] + [f"<0x{b:02X}>" for b in range(256)]
    types = [2, 3, 3] + [BYTE_TOKEN_TYPE] * 256
    seen = set(tokens)
    singles = ["▁"] + [chr(c) for c in range(33, 127)]
    pieces = list(_word_pieces(vocab_words if vocab_words is not None else COMMON_WORDS))
    for piece in singles + pieces:
        if len(tokens) >= target:
            break
        if piece not in seen:
            seen.add(piece)
            tokens.append(piece)
            types.append(1)
    # Higher scores merge first; longer pieces win so words come out whole.
    scores = [0.0] * 3 + [0.0] * 256 + [float(len(t)) - i * 1e-4 for i, t in enumerate(tokens[259:])]
    return _Vocab(tokens=tokens, scores=scores, types=types)


def _weights(n_vocab: int, seed: int) -> dict[str, np.ndarray]:
    """Random weights keyed by GGUF tensor name, numpy shape (rows, cols) = ggml ne reversed."""
    rng = np.random.default_rng(seed)

    def rand(*shape: int, scale: float = 0.2) -> np.ndarray:
        return (rng.standard_normal(shape) * scale).astype(np.float32)

    embd = rand(n_vocab, N_EMBD, scale=1.0)
    # Dimension 0 of the residual stream is a constant that no layer writes to, so after the final norm it is
    # positive; the output rows of suppressed tokens read only it, with a large negative weight.
    embd[:, 0] = 1.0
    out: dict[str, np.ndarray] = {"token_embd.weight": embd}
    for layer in range(N_LAYER):
        attn_output = rand(N_EMBD, N_EMBD)
        ffn_down = rand(N_EMBD, N_FF)
        attn_output[0, :] = 0.0
        ffn_down[0, :] = 0.0
        out |= {
            f"blk.{layer}.attn_norm.weight": np.ones(N_EMBD, dtype=np.float32),
            f"blk.{layer}.attn_q.weight": rand(N_EMBD, N_EMBD),
            f"blk.{layer}.attn_k.weight": rand(N_EMBD, N_EMBD),
            f"blk.{layer}.attn_v.weight": rand(N_EMBD, N_EMBD),
            f"blk.{layer}.attn_output.weight": attn_output,
            f"blk.{layer}.ffn_norm.weight": np.ones(N_EMBD, dtype=np.float32),
            f"blk.{layer}.ffn_gate.weight": rand(N_FF, N_EMBD),
            f"blk.{layer}.ffn_down.weight": ffn_down,
            f"blk.{layer}.ffn_up.weight": rand(N_FF, N_EMBD),
        }
    output = rand(n_vocab, N_EMBD, scale=1.0)
    output[:, 0] = 0.0
    output[: N_SPECIAL + 256, :] = 0.0
    output[: N_SPECIAL + 256, 0] = SUPPRESSED_LOGIT
    out["output_norm.weight"] = np.ones(N_EMBD, dtype=np.float32)
    out["output.weight"] = output
    return out


def write_tiny_gguf(
    path: Path, *, seed: int = 0, quant: str = "f32", vocab_words: list[str] | None = None
) -> Path:
    """Write a tiny Llama GGUF (f32, f16, q8_0 or q4_0 matrices) that ctransformers and llama-cpp load."""
    import gguf

    qtypes = {
        "f32": None,
        "f16": gguf.GGMLQuantizationType.F16,
        "q8_0": gguf.GGMLQuantizationType.Q8_0,
        "q4_0": gguf.GGMLQuantizationType.Q4_0,
    }
    if quant not in qtypes:
        raise ValueError(f"quant must be one of {sorted(qtypes)}, got {quant!r}")
    vocab = build_vocab(vocab_words)
    writer = gguf.GGUFWriter(str(path), "llama")
    writer.add_name("tiny-llama-test")
    writer.add_context_length(N_CTX)
    writer.add_embedding_length(N_EMBD)
    writer.add_block_count(N_LAYER)
    writer.add_feed_forward_length(N_FF)
    writer.add_head_count(N_HEAD)
    writer.add_head_count_kv(N_HEAD)
    writer.add_rope_dimension_count(N_EMBD // N_HEAD)
    writer.add_layer_norm_rms_eps(RMS_EPS)
    writer.add_tokenizer_model("llama")
    writer.add_token_list(vocab.tokens)
    writer.add_token_scores(vocab.scores)
    writer.add_token_types(vocab.types)
    writer.add_bos_token_id(BOS)
    writer.add_eos_token_id(EOS)
    writer.add_unk_token_id(UNK)
    qtype = qtypes[quant]
    for name, tensor in _weights(len(vocab.tokens), seed).items():
        if qtype is None or tensor.ndim == 1:
            writer.add_tensor(name, tensor)
        else:
            # Quantized data goes in as its byte array; gguf derives the logical shape from it.
            writer.add_tensor(name, gguf.quants.quantize(tensor, qtype), raw_dtype=qtype)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return path


_GGML_NAMES = {
    "token_embd": "tok_embeddings",
    "output_norm": "norm",
    "output": "output",
    "attn_norm": "attention_norm",
    "attn_q": "attention.wq",
    "attn_k": "attention.wk",
    "attn_v": "attention.wv",
    "attn_output": "attention.wo",
    "ffn_norm": "ffn_norm",
    "ffn_gate": "feed_forward.w1",
    "ffn_down": "feed_forward.w2",
    "ffn_up": "feed_forward.w3",
}


def _ggml_name(gguf_name: str) -> str:
    parts = gguf_name.removesuffix(".weight").split(".")
    if parts[0] == "blk":
        return f"layers.{parts[1]}.{_GGML_NAMES[parts[2]]}.weight"
    return f"{_GGML_NAMES[parts[0]]}.weight"


def _ggml_token_bytes(token: str, token_type: int) -> bytes:
    """How llama.cpp's old convert.py stored a token: raw byte, empty control, spaces for '▁'."""
    if token_type == BYTE_TOKEN_TYPE:
        return bytes([int(token[3:-1], 16)])
    if token_type == 3:
        return b""
    if token_type == 2:
        return " \u2047 ".encode()
    return token.replace("▁", " ").encode()


def write_tiny_ggml_v3(path: Path, *, seed: int = 0) -> Path:
    """Write a tiny legacy GGML v3 ("ggjt") Llama file with f32 tensors, loadable by ctransformers."""
    vocab = build_vocab()
    n_vocab = len(vocab.tokens)
    with path.open("wb") as out:
        out.write(struct.pack("<II", 0x67676A74, 3))
        out.write(struct.pack("<7I", n_vocab, N_EMBD, N_MULT, N_HEAD, N_LAYER, N_EMBD // N_HEAD, 0))
        for token, score, token_type in zip(vocab.tokens, vocab.scores, vocab.types, strict=True):
            text = _ggml_token_bytes(token, token_type)
            out.write(struct.pack("<I", len(text)) + text + struct.pack("<f", score))
        for name, tensor in _weights(n_vocab, seed).items():
            encoded = _ggml_name(name).encode()
            dims = tuple(reversed(tensor.shape))
            out.write(struct.pack(f"<III{len(dims)}I", len(dims), len(encoded), 0, *dims) + encoded)
            out.write(b"\0" * (-out.tell() % 32))
            out.write(np.ascontiguousarray(tensor, dtype="<f4").tobytes())
    return path
