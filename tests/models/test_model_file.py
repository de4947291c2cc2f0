"""Model file checks: format by magic, complete GGUF / GGML v3 headers, one-line errors naming the file."""

from __future__ import annotations

import struct
from pathlib import Path

import gguf
import pytest

from models.model_file import (
    GGML_TYPE_SIZES,
    ModelFileError,
    detect_format,
    inspect_model_file,
)


def test_type_size_table_matches_the_gguf_package() -> None:
    for type_id, sizes in GGML_TYPE_SIZES.items():
        if type_id == 9:  # Q8_1 is never stored in files and changed layout over time
            continue
        assert gguf.GGML_QUANT_SIZES[gguf.GGMLQuantizationType(type_id)] == sizes


def test_tiny_gguf_is_complete(tiny_gguf: Path) -> None:
    info = inspect_model_file(tiny_gguf)
    assert info.format == "gguf" and info.version == 3
    assert info.architecture == "llama"
    assert info.expected_size == info.size == tiny_gguf.stat().st_size
    assert info.metadata["llama.block_count"] == 2


def test_tiny_ggml_is_complete(tiny_ggml: Path) -> None:
    info = inspect_model_file(tiny_ggml)
    assert info.format == "ggml" and info.version == 3
    assert info.architecture == "llama"
    assert info.metadata["llama.embedding_length"] == 64


@pytest.mark.parametrize("fmt", ["gguf", "ggml"])
def test_every_truncation_is_caught(tmp_path: Path, tiny_gguf: Path, tiny_ggml: Path, fmt: str) -> None:
    data = (tiny_gguf if fmt == "gguf" else tiny_ggml).read_bytes()
    path = tmp_path / "cut.bin"
    for cut in (4, 9, 24, 300, 20_000, len(data) // 3, len(data) - 1):
        path.write_bytes(data[:cut])
        with pytest.raises(ModelFileError, match="truncated") as caught:
            inspect_model_file(path)
        assert str(path) in str(caught.value)


def test_ggml_missing_whole_tensors_is_truncated(tmp_path: Path, tiny_ggml: Path) -> None:
    # Cut exactly after the first tensor's data: every remaining tensor is absent, none half-written.
    data = tiny_ggml.read_bytes()
    first_tensor_end = data.index(b"tok_embeddings.weight") + len("tok_embeddings.weight")
    first_tensor_end += -first_tensor_end % 32 + 1400 * 64 * 4
    path = tmp_path / "cut.bin"
    path.write_bytes(data[:first_tensor_end])
    with pytest.raises(ModelFileError, match="1 of 21 tensors"):
        inspect_model_file(path)


def test_format_is_read_from_the_magic(tmp_path: Path) -> None:
    (tmp_path / "a.bin").write_bytes(b"GGUF" + bytes(20))
    (tmp_path / "b.gguf").write_bytes(struct.pack("<II", 0x67676A74, 3) + bytes(20))
    assert detect_format(tmp_path / "a.bin") == "gguf"
    assert detect_format(tmp_path / "b.gguf") == "ggml"


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "not a model file"),
        (b"PK\x03\x04zipfile", "not a GGUF or GGML model file"),
        (b"GGUF" + struct.pack("<I", 9) + bytes(16), "unsupported GGUF version 9"),
        (b"GGUF" + struct.pack("<IQQ", 3, 1 << 40, 0), "corrupt model file header"),
        (struct.pack("<II", 0x67676A74, 1) + bytes(40), "GGML version 1 is not supported"),
        (struct.pack("<I", 0x67676D6C) + bytes(40), "unversioned GGML"),
    ],
)
def test_bad_headers_give_one_line_reasons(tmp_path: Path, content: bytes, message: str) -> None:
    path = tmp_path / "model.gguf"
    path.write_bytes(content)
    with pytest.raises(ModelFileError, match=message) as caught:
        inspect_model_file(path)
    assert str(path) in str(caught.value) and "\n" not in str(caught.value)


def test_missing_file_and_directory(tmp_path: Path) -> None:
    with pytest.raises(ModelFileError, match="not found") as caught:
        detect_format(tmp_path / "nope.gguf")
    assert "nope.gguf" in str(caught.value)
    with pytest.raises(ModelFileError, match="not a file"):
        detect_format(tmp_path)


def test_other_ctransformers_model_types_pass_with_legacy_magic(tmp_path: Path) -> None:
    path = tmp_path / "gpt2.bin"
    path.write_bytes(struct.pack("<I", 0x67676D6C) + bytes(100))
    assert inspect_model_file(path, model_type="gpt2").format == "ggml"
