"""Weight digests cached by path, size and mtime: unchanged weights are not re-read, changed ones are."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest

from models import file_digest, openvino_export
from models.embeddings import packaged_model_path
from models.file_digest import DIGESTS_FILE, cached_sha256


def _count_reads(monkeypatch: pytest.MonkeyPatch) -> list[Path]:
    reads: list[Path] = []
    real = file_digest.sha256_file

    def counting(path: Path) -> str:
        reads.append(path)
        return real(path)

    monkeypatch.setattr(file_digest, "sha256_file", counting)
    return reads


def test_digest_is_reused_while_size_and_mtime_stay(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    weights, cache = tmp_path / "weights.bin", tmp_path / "cache" / DIGESTS_FILE
    weights.write_bytes(b"a" * 1000)
    reads = _count_reads(monkeypatch)
    first = cached_sha256(weights, cache)
    assert first == hashlib.sha256(b"a" * 1000).hexdigest() and len(reads) == 1
    assert cached_sha256(weights, cache) == first and len(reads) == 1  # not read again


def test_a_changed_mtime_or_size_is_hashed_again(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    weights, cache = tmp_path / "weights.bin", tmp_path / DIGESTS_FILE
    weights.write_bytes(b"a" * 1000)
    stamp = weights.stat()
    cached_sha256(weights, cache)
    weights.write_bytes(b"b" * 1000)  # same size
    os.utime(weights, ns=(stamp.st_atime_ns, stamp.st_mtime_ns + 1_000_000_000))
    assert cached_sha256(weights, cache) == hashlib.sha256(b"b" * 1000).hexdigest()
    weights.write_bytes(b"c" * 999)
    os.utime(weights, ns=(stamp.st_atime_ns, stamp.st_mtime_ns + 1_000_000_000))  # same mtime, new size
    assert cached_sha256(weights, cache) == hashlib.sha256(b"c" * 999).hexdigest()


def test_an_unwritable_or_broken_cache_still_gives_the_right_digest(tmp_path: Path) -> None:
    weights = tmp_path / "weights.bin"
    weights.write_bytes(b"x" * 10)
    broken = tmp_path / DIGESTS_FILE
    broken.write_text("{not json")
    assert cached_sha256(weights, broken) == hashlib.sha256(b"x" * 10).hexdigest()
    blocked = tmp_path / "a-file" / DIGESTS_FILE
    (tmp_path / "a-file").write_text("not a folder")
    assert cached_sha256(weights, blocked) == hashlib.sha256(b"x" * 10).hexdigest()


def test_export_key_reads_the_weights_once_then_trusts_the_digest(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    model_dir = Path(packaged_model_path())
    reads = _count_reads(monkeypatch)
    digests = tmp_path / DIGESTS_FILE
    key = openvino_export.cache_key(model_dir, digests)
    assert any(p.name == "model.safetensors" for p in reads)
    reads.clear()
    assert openvino_export.cache_key(model_dir, digests) == key and reads == []
    assert openvino_export.cache_key(model_dir) == key  # the same key as hashing everything
