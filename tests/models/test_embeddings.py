"""Embedding runtimes: selection, torch fallback, the export cache, int8 closeness, and the index's record."""

from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from models import openvino_export
from models.embeddings import _load, embedding_model_id, packaged_model_path, runtime_of
from models.file_digest import DIGESTS_FILE
from vectorstore.store import ChunkInput, FileInfo, IndexStore

SENTENCES = [
    "Revenue rose 12% to $4.2 billion on higher volumes in core markets.",
    "Employees get a formal performance review once a year.",
    "The ADDI instruction adds a sign-extended 12-bit immediate to register rs1.",
    "How many days of paid leave do new parents get?",
    "Broadcasting revenue fell because fewer home matches were played.",
    "Drivers are classified as independent contractors, which is the subject of litigation.",
    "We pre-train a bidirectional transformer with a masked language model objective.",
    "Press STOP to halt playback; hold SHIFT and press RECORD to record a pattern.",
    "The audit committee oversees the independent registered public accounting firm.",
    "What was the net loss per share in 2021?",
    "Goodwill is tested for impairment annually in the fourth quarter.",
    "Unused vacation days can be carried over up to a maximum of ten days.",
]


def test_auto_uses_openvino_when_it_works(openvino_embeddings: Any, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="models.embeddings")
    auto = _load.__wrapped__("", 16, "auto", None)
    assert runtime_of(auto) == "openvino"
    assert runtime_of(openvino_embeddings) == "openvino"
    assert "embedding runtime=openvino" in caplog.text


def test_auto_falls_back_to_torch_without_openvino(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setitem(sys.modules, "openvino", None)  # `import openvino` now raises ImportError
    caplog.set_level(logging.INFO, logger="models.embeddings")
    model = _load.__wrapped__("", 16, "auto", tmp_path / "cache")
    assert runtime_of(model) == "torch"
    assert len(model.embed_query("a question")) == 384
    assert "embedding runtime=torch" in caplog.text and "openvino unavailable" in caplog.text


def test_explicit_openvino_fails_loudly_without_openvino(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setitem(sys.modules, "openvino", None)
    with pytest.raises(openvino_export.ExportError, match="openvino"):
        _load.__wrapped__("", 16, "openvino", tmp_path / "cache")


def test_custom_model_is_refused_on_openvino() -> None:
    with pytest.raises(ValueError, match="packaged model only"):
        _load.__wrapped__("some/other-model", 16, "openvino", None)


def test_cached_export_is_reused_without_exporting(
    openvino_embeddings: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    def no_export(model_dir: Path, out_dir: Path) -> None:
        raise AssertionError("the cached export should have been used")

    monkeypatch.setattr(openvino_export, "export_int8", no_export)
    model_dir = Path(packaged_model_path())
    path = openvino_export.cached_model(model_dir, openvino_embeddings.model_xml.parent.parent)
    assert path == openvino_embeddings.model_xml


def test_export_runs_once_and_lands_atomically(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[Path] = []

    def fake_export(model_dir: Path, out_dir: Path) -> None:
        calls.append(out_dir)
        assert not list(tmp_path.glob("minilm-int8-*")), "the target appears only when complete"
        (out_dir / openvino_export.MODEL_XML).write_text("<net/>")

    monkeypatch.setattr(openvino_export, "export_int8", fake_export)
    model_dir = Path(packaged_model_path())
    first = openvino_export.cached_model(model_dir, tmp_path)
    second = openvino_export.cached_model(model_dir, tmp_path)
    assert first == second and first.read_text() == "<net/>"
    assert len(calls) == 1
    assert first.parent.name == f"minilm-int8-{openvino_export.cache_key(model_dir)}"
    left = sorted(p.name for p in tmp_path.iterdir())
    assert left == [DIGESTS_FILE, first.parent.name]  # no temp dir left behind


def test_failed_export_leaves_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def broken_export(model_dir: Path, out_dir: Path) -> None:
        (out_dir / "partial.bin").write_bytes(b"half")
        raise RuntimeError("conversion failed")

    monkeypatch.setattr(openvino_export, "export_int8", broken_export)
    with pytest.raises(RuntimeError, match="conversion failed"):
        openvino_export.cached_model(Path(packaged_model_path()), tmp_path)
    left = [p.suffix for p in tmp_path.iterdir() if p.name != DIGESTS_FILE]
    assert left == [".failed"]  # no model, no temp dir: only the note


def test_failed_export_is_noted_so_auto_does_not_retry_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[Path] = []

    def broken_export(model_dir: Path, out_dir: Path) -> None:
        calls.append(out_dir)
        raise RuntimeError("no CPU plugin")

    monkeypatch.setattr(openvino_export, "export_int8", broken_export)
    model_dir = Path(packaged_model_path())
    with pytest.raises(RuntimeError):
        openvino_export.cached_model(model_dir, tmp_path)
    with pytest.raises(openvino_export.ExportError, match="no CPU plugin"):
        openvino_export.cached_model(model_dir, tmp_path, retry_failed=False)
    assert len(calls) == 1
    auto = _load.__wrapped__("", 16, "auto", tmp_path)
    assert runtime_of(auto) == "torch" and len(calls) == 1


def test_cache_key_follows_the_weights(tmp_path: Path) -> None:
    packaged = Path(packaged_model_path())
    copy = tmp_path / "model"
    copy.mkdir()
    for name in ("config.json", "tokenizer.json", "modules.json"):
        (copy / name).write_bytes((packaged / name).read_bytes())
    (copy / "model.safetensors").write_bytes(b"other weights")
    assert openvino_export.cache_key(copy) != openvino_export.cache_key(packaged)
    assert openvino_export.cache_key(packaged) == openvino_export.cache_key(packaged)


def test_int8_vectors_stay_close_to_torch(openvino_embeddings: Any, torch_embeddings: Any) -> None:
    int8 = np.asarray(openvino_embeddings.embed_documents(SENTENCES))
    ref = np.asarray(torch_embeddings.embed_documents(SENTENCES))
    assert int8.shape == ref.shape == (len(SENTENCES), 384)
    assert np.allclose(np.linalg.norm(int8, axis=1), 1.0, atol=1e-3)
    cosines = (int8 * ref).sum(axis=1)
    assert cosines.mean() >= 0.99, cosines
    assert cosines.min() >= 0.97, cosines
    # Each question finds the same best passage with either runtime.
    queries = ["carry over vacation days", "what does addi do", "who checks the auditors", "home games"]
    top_int8 = np.argmax(np.asarray(openvino_embeddings.embed_documents(queries)) @ int8.T, axis=1)
    top_ref = np.argmax(np.asarray(torch_embeddings.embed_documents(queries)) @ ref.T, axis=1)
    assert top_int8.tolist() == top_ref.tolist() == [11, 2, 8, 4]


def test_batching_by_length_keeps_input_order(openvino_embeddings: Any) -> None:
    texts = [SENTENCES[0] * 6, "short", SENTENCES[3], SENTENCES[2] * 3, "x"]
    together = openvino_embeddings.embed_array(texts)
    alone = np.vstack([openvino_embeddings.embed_array([text]) for text in texts])
    assert ((together * alone).sum(axis=1) > 0.999).all()


def _one_file(store: IndexStore, path: str, vector: np.ndarray) -> None:
    info = FileInfo(path, 1, 1, path, "indexed", None, "", 1, 1, 0.0)
    store.replace_file(info, [ChunkInput("text", 1, "1", "", False)], vector.reshape(1, -1))


def test_index_records_runtimes_and_stays_searchable_across_them(
    tmp_path: Path, openvino_embeddings: Any, make_settings: Any, caplog: pytest.LogCaptureFixture
) -> None:
    from bot.engine import open_store

    model_id = embedding_model_id("")
    store = IndexStore(tmp_path / "index", dim=384, model_id=model_id, runtime="torch")
    _one_file(store, "a.pdf", np.ones(384, dtype=np.float32) / np.sqrt(384))
    assert store.runtimes() == ["torch"]
    store.close()

    caplog.set_level(logging.INFO, logger="bot.engine")
    reopened = open_store(make_settings(index_dir=tmp_path / "index"), openvino_embeddings)
    assert "runtime=torch; new ones come from runtime=openvino" in caplog.text
    vector = np.asarray(openvino_embeddings.embed_query("text"), dtype=np.float32)
    _one_file(reopened, "b.pdf", vector)
    assert reopened.runtimes() == ["torch", "openvino"]
    (_, score), *_ = reopened.dense_search(vector, 2)
    assert score > 0.999  # the openvino query finds its own vector beside the torch one
    reopened.close()
