"""Export all-MiniLM-L6-v2 to an int8 OpenVINO model once per machine, cached by weights hash and versions
in the user cache (or `embedding_cache_dir`).

The recipe: the packaged PyTorch weights with mean pooling and L2 normalisation folded into one graph
-> `openvino.convert_model` -> `nncf.quantize` (static int8, transformer preset) calibrated on
models/calibration.txt. The calibration text is bundled, not taken from the user's documents, so that a fresh
install can export before it has any documents and every machine builds the same model from the same inputs.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import shutil
import sys
import tempfile
import time
from importlib import metadata
from pathlib import Path
from typing import Any

from models.file_digest import DIGESTS_FILE, cached_sha256

logger = logging.getLogger(__name__)

RECIPE = "minilm-mean-norm-int8-v1"  # bump when the export steps change: old caches are then ignored
MAX_TOKENS = 256  # all-MiniLM-L6-v2's max_seq_length, as sentence-transformers truncates
CALIBRATION_FILE = Path(__file__).with_name("calibration.txt")
MODEL_XML = "model.xml"
INFO_JSON = "export.json"
_SOURCE_FILES = (
    "model.safetensors",
    "config.json",
    "tokenizer.json",
    "modules.json",
    "1_Pooling/config.json",
)


class ExportError(RuntimeError):
    """The int8 model could not be built (missing packages, a conversion failure)."""


def default_cache_dir() -> Path:
    """The user cache's embeddings folder (never the installed package, which may be read-only)."""
    from config.paths import user_cache_dir

    return user_cache_dir() / "embeddings"


def cache_key(model_dir: Path, digests: Path | None = None) -> str:
    """Hash of the weights, tokenizer, calibration text, recipe and the package versions that shape it.

    Each file's sha256 is taken from `digests` (see models.file_digest) while its size and mtime are
    unchanged, so a start does not re-read the 91 MB weights; without it every file is hashed.
    """
    digest = hashlib.sha256(RECIPE.encode())
    sources = [(name, model_dir / name) for name in _SOURCE_FILES]
    for name, path in [*sources, ("calibration", CALIBRATION_FILE)]:
        digest.update(name.encode())
        if path.is_file():
            digest.update(cached_sha256(path, digests).encode())
    for package in ("openvino", "nncf", "torch", "transformers"):
        digest.update(f"{package}={_version(package)}".encode())
    return digest.hexdigest()[:20]


def _version(package: str) -> str:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return "absent"


def cached_model(model_dir: Path, cache_dir: Path, *, retry_failed: bool = True) -> Path:
    """The int8 model.xml for these weights, exporting it first when this machine has none yet.

    A failed export leaves a `<target>.failed` note; with retry_failed=False (the `auto` runtime) that note
    is raised at once instead of spending another minute failing again. Delete it to retry.
    """
    target = cache_dir / f"minilm-int8-{cache_key(model_dir, cache_dir / DIGESTS_FILE)}"
    if (target / MODEL_XML).is_file() and (target / INFO_JSON).is_file():
        return target / MODEL_XML
    failed_note = target.with_name(target.name + ".failed")
    if not retry_failed and failed_note.is_file():
        raise ExportError(f"an earlier export failed ({failed_note.read_text().strip()}); see {failed_note}")
    cache_dir.mkdir(parents=True, exist_ok=True)
    _remove_stale_workdirs(cache_dir)
    started = time.perf_counter()
    # Written beside the target and renamed into place: a killed export leaves only a temp dir behind.
    workdir = Path(tempfile.mkdtemp(prefix=".export-", dir=cache_dir))
    logger.info("openvino int8 export starting (once per machine, about a minute) path=%s", target)
    try:
        try:
            # nncf draws progress bars on stdout; stdout may be `docbot ingest --json`'s output.
            with contextlib.redirect_stdout(sys.stderr):
                export_int8(model_dir, workdir)
        except Exception as exc:
            failed_note.write_text(f"{type(exc).__name__}: {exc}\n")
            raise
        failed_note.unlink(missing_ok=True)
        seconds = time.perf_counter() - started
        info = {"recipe": RECIPE, "source": str(model_dir), "seconds": round(seconds, 1)}
        info |= {package: _version(package) for package in ("openvino", "nncf", "torch", "transformers")}
        (workdir / INFO_JSON).write_text(json.dumps(info, indent=1))
        try:
            os.rename(workdir, target)
        except OSError:
            if not (target / MODEL_XML).is_file():  # another process won the race only if it finished
                raise
            logger.info("openvino export already cached by another process path=%s", target)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    logger.info("openvino int8 export done once for this machine seconds=%.1f path=%s", seconds, target)
    return target / MODEL_XML


def _remove_stale_workdirs(cache_dir: Path, older_than_s: float = 3600.0) -> None:
    """Temp dirs of exports that were killed (an export takes about a minute, never an hour)."""
    for stale in cache_dir.glob(".export-*"):
        try:
            if time.time() - stale.stat().st_mtime > older_than_s:
                shutil.rmtree(stale, ignore_errors=True)
        except OSError:
            continue


def calibration_texts() -> list[str]:
    """The bundled calibration passages and questions, one per line."""
    lines = CALIBRATION_FILE.read_text(encoding="utf-8").splitlines()
    return [line.strip() for line in lines if line.strip()]


def export_int8(model_dir: Path, out_dir: Path) -> None:
    """Convert the PyTorch model (with pooling and normalisation) to OpenVINO and quantize it to int8."""
    try:
        import nncf
        import openvino as ov
        import torch
        from sentence_transformers import SentenceTransformer
    except ImportError as exc:
        raise ExportError(f"openvino export needs openvino, nncf and torch ({exc})") from exc

    st_model = SentenceTransformer(str(model_dir), device="cpu")
    wrapper = _pooled_model(torch, st_model)
    tokenizer = load_tokenizer(model_dir)
    example = encode_batch(tokenizer, ["an example sentence", "another one, a little longer than the first"])
    inputs = [(name, ov.PartialShape([-1, -1]), ov.Type.i64) for name in ("input_ids", "attention_mask")]
    with torch.no_grad():
        float_model = ov.convert_model(
            wrapper, example_input={k: torch.from_numpy(v) for k, v in example.items()}, input=inputs
        )
    dataset = nncf.Dataset(calibration_texts(), lambda text: encode_batch(tokenizer, [text]))
    quantized = nncf.quantize(
        float_model,
        dataset,
        model_type=nncf.ModelType.TRANSFORMER,
        subset_size=len(calibration_texts()),
    )
    ov.save_model(quantized, out_dir / MODEL_XML)


def _pooled_model(torch: Any, st_model: Any) -> Any:
    """The transformer with mean pooling over real tokens and L2 normalisation, as one torch module."""
    modules = [type(module).__name__ for module in st_model]
    pooling = st_model[1].get_config_dict() if len(modules) > 1 else {}
    mean = pooling.get("pooling_mode") == "mean" or pooling.get("pooling_mode_mean_tokens") is True
    shape_ok = modules == ["Transformer", "Pooling", "Normalize"] and st_model.max_seq_length == MAX_TOKENS
    if not (shape_ok and mean):
        raise ExportError(f"openvino export supports mean-pooled, normalised models only, not {modules}")
    bert = st_model[0].auto_model.eval()

    class Pooled(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.bert = bert  # a registered submodule: tracing sees its weights as parameters

        def forward(self, input_ids: Any, attention_mask: Any) -> Any:
            hidden = self.bert(
                input_ids=input_ids,
                attention_mask=attention_mask,
                token_type_ids=torch.zeros_like(input_ids),
            )[0]
            mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
            pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
            return torch.nn.functional.normalize(pooled, p=2, dim=1)

    return Pooled().eval()


def load_tokenizer(model_dir: Path) -> Any:
    """The model's fast tokenizer, truncating as sentence-transformers does (256 tokens)."""
    from tokenizers import Tokenizer

    tokenizer = Tokenizer.from_file(str(model_dir / "tokenizer.json"))
    tokenizer.enable_truncation(MAX_TOKENS)
    tokenizer.enable_padding(pad_id=0, pad_token="[PAD]")
    return tokenizer


def encode_batch(tokenizer: Any, texts: list[str]) -> dict[str, Any]:
    """input_ids and attention_mask (int64, padded to the longest text) for the OpenVINO model."""
    import numpy as np

    encoded = tokenizer.encode_batch(texts)
    return {
        "input_ids": np.array([e.ids for e in encoded], dtype=np.int64),
        "attention_mask": np.array([e.attention_mask for e in encoded], dtype=np.int64),
    }
