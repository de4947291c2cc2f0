"""Check a model file's format and completeness before a backend opens it.

ctransformers aborts or crashes the whole process on some malformed files (a truncated file is memory-mapped
past its end), so the header is walked here first and every problem becomes a one-line `ModelFileError`.
"""

from __future__ import annotations

import logging
import struct
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO, Literal

logger = logging.getLogger(__name__)

ModelFormat = Literal["gguf", "ggml"]

GGUF_MAGIC = b"GGUF"
# Legacy GGML magics are little-endian uint32s, so "ggjt" is stored as b"tjgg".
GGJT_MAGIC = struct.pack("<I", 0x67676A74)
GGML_LEGACY_MAGICS = (struct.pack("<I", 0x67676D6C), struct.pack("<I", 0x67676D66))  # "ggml", "ggmf"

# ggml tensor type id -> (elements per block, bytes per block); the layout shared by GGUF and GGML v3.
GGML_TYPE_SIZES: dict[int, tuple[int, int]] = {
    0: (1, 4),  # F32
    1: (1, 2),  # F16
    2: (32, 18),  # Q4_0
    3: (32, 20),  # Q4_1
    6: (32, 22),  # Q5_0
    7: (32, 24),  # Q5_1
    8: (32, 34),  # Q8_0
    9: (32, 40),  # Q8_1
    10: (256, 84),  # Q2_K
    11: (256, 110),  # Q3_K
    12: (256, 144),  # Q4_K
    13: (256, 176),  # Q5_K
    14: (256, 210),  # Q6_K
    15: (256, 292),  # Q8_K
    24: (1, 1),  # I8
    25: (1, 2),  # I16
    26: (1, 4),  # I32
    27: (1, 8),  # I64
    28: (1, 8),  # F64
    30: (1, 2),  # BF16
}

_GGUF_SCALARS = {
    0: "<B",
    1: "<b",
    2: "<H",
    3: "<h",
    4: "<I",
    5: "<i",
    6: "<f",
    7: "<?",
    10: "<Q",
    11: "<q",
    12: "<d",
}
_GGUF_STRING, _GGUF_ARRAY = 8, 9
_MAX_COUNT = 1 << 24  # more keys, tensors, dims or array items than this means a corrupt header
_MAX_STRING = 1 << 24
_LLAMA_TENSORS_PER_LAYER = 9


class LLMLoadError(Exception):
    """The language model cannot be loaded; the message is one line that says why and what to do."""


class ModelFileError(LLMLoadError):
    """The model file is missing, truncated, not a model, or in a format the chosen backend cannot read."""


class _Truncated(Exception):
    """The header ends before it should."""


@dataclass(frozen=True)
class ModelFileInfo:
    """What the header says about a model file."""

    path: Path
    format: ModelFormat
    version: int
    size: int
    expected_size: int | None  # the smallest size the header allows; None when it cannot be known
    metadata: dict[str, str | int | float | bool] = field(default_factory=dict)

    @property
    def architecture(self) -> str | None:
        """general.architecture for GGUF, "llama" for GGML v3, else None."""
        value = self.metadata.get("general.architecture")
        return value if isinstance(value, str) else None


class _Reader:
    """Little-endian reads that raise `_Truncated` at end of file."""

    def __init__(self, handle: BinaryIO) -> None:
        self.handle = handle

    def read(self, n: int) -> bytes:
        data = self.handle.read(n)
        if len(data) != n:
            raise _Truncated
        return data

    def unpack(self, fmt: str) -> tuple[object, ...]:
        return struct.unpack(fmt, self.read(struct.calcsize(fmt)))

    def u32(self) -> int:
        return int(struct.unpack("<I", self.read(4))[0])

    def u64(self) -> int:
        return int(struct.unpack("<Q", self.read(8))[0])

    def skip(self, n: int) -> None:
        self.handle.seek(n, 1)

    def tell(self) -> int:
        return self.handle.tell()


def detect_format(path: Path) -> ModelFormat:
    """GGUF or legacy GGML, from the file's magic bytes (never its name)."""
    magic = _read_magic(path)
    if magic == GGUF_MAGIC:
        return "gguf"
    if magic == GGJT_MAGIC or magic in GGML_LEGACY_MAGICS:
        return "ggml"
    raise ModelFileError(f"{path}: not a GGUF or GGML model file (starts with {magic!r})")


def _read_magic(path: Path) -> bytes:
    if not path.exists():
        raise ModelFileError(f"{path}: model file not found; run `make model` or set DOCBOT_MODEL_PATH")
    if not path.is_file():
        raise ModelFileError(f"{path}: model path is not a file")
    try:
        with path.open("rb") as handle:
            magic = handle.read(4)
    except OSError as exc:
        raise ModelFileError(f"{path}: cannot read model file: {exc.strerror or exc}") from exc
    if len(magic) < 4:
        raise ModelFileError(f"{path}: not a model file ({path.stat().st_size} bytes)")
    return magic


def inspect_model_file(path: Path, model_type: str = "llama") -> ModelFileInfo:
    """Walk the header of a GGUF or GGML v3 file; raise ModelFileError if it is not a complete model."""
    fmt = detect_format(path)
    size = path.stat().st_size
    try:
        with path.open("rb") as handle:
            reader = _Reader(handle)
            reader.skip(4)
            if fmt == "gguf":
                info = _inspect_gguf(path, reader, size)
            else:
                info = _inspect_ggml(path, reader, size, model_type)
    except _Truncated:
        raise ModelFileError(
            f"{path}: model file is truncated ({size} bytes); delete it and download it again"
        ) from None
    if info.expected_size is not None and size < info.expected_size:
        raise ModelFileError(
            f"{path}: model file is truncated ({size} of {info.expected_size} bytes); "
            "delete it and download it again"
        )
    logger.debug("model file checked path=%s format=%s version=%d size=%d", path, fmt, info.version, size)
    return info


def _tensor_bytes(path: Path, type_id: int, dims: list[int]) -> int | None:
    if type_id not in GGML_TYPE_SIZES:
        return None
    block, block_bytes = GGML_TYPE_SIZES[type_id]
    count = 1
    for dim in dims:
        count *= dim
    if count % block:
        raise ModelFileError(f"{path}: corrupt model file (tensor of {count} values in blocks of {block})")
    return count // block * block_bytes


def _check_count(path: Path, what: str, count: int) -> int:
    if count > _MAX_COUNT:
        raise ModelFileError(f"{path}: corrupt model file header ({count} {what})")
    return count


def _gguf_string(path: Path, reader: _Reader, wide: bool) -> bytes:
    length = reader.u64() if wide else reader.u32()
    if length > _MAX_STRING:
        raise ModelFileError(f"{path}: corrupt model file header (string of {length} bytes)")
    return reader.read(length)


def _gguf_value(path: Path, reader: _Reader, type_id: int, wide: bool) -> str | int | float | bool | None:
    """Read one metadata value; arrays are skipped and come back as None."""
    if type_id in _GGUF_SCALARS:
        value = reader.unpack(_GGUF_SCALARS[type_id])[0]
        assert isinstance(value, int | float | bool)
        return value
    if type_id == _GGUF_STRING:
        return _gguf_string(path, reader, wide).decode("utf-8", errors="replace")
    if type_id == _GGUF_ARRAY:
        item_type = reader.u32()
        count = _check_count(path, "array items", reader.u64() if wide else reader.u32())
        if item_type in _GGUF_SCALARS:
            reader.skip(count * struct.calcsize(_GGUF_SCALARS[item_type]))
            return None
        for _ in range(count):
            _gguf_value(path, reader, item_type, wide)
        return None
    raise ModelFileError(f"{path}: corrupt model file header (value type {type_id})")


def _inspect_gguf(path: Path, reader: _Reader, size: int) -> ModelFileInfo:
    version = reader.u32()
    if version not in (1, 2, 3):
        raise ModelFileError(f"{path}: unsupported GGUF version {version}")
    wide = version >= 2
    n_tensors = _check_count(path, "tensors", reader.u64() if wide else reader.u32())
    n_kv = _check_count(path, "metadata keys", reader.u64() if wide else reader.u32())
    metadata: dict[str, str | int | float | bool] = {}
    for _ in range(n_kv):
        key = _gguf_string(path, reader, wide).decode("utf-8", errors="replace")
        value = _gguf_value(path, reader, reader.u32(), wide)
        if value is not None:
            metadata[key] = value
    end = 0
    for _ in range(n_tensors):
        _gguf_string(path, reader, wide)
        n_dims = reader.u32()
        if n_dims > 4:
            raise ModelFileError(f"{path}: corrupt model file header (tensor with {n_dims} dimensions)")
        dims = [reader.u64() if wide else reader.u32() for _ in range(n_dims)]
        type_id, offset = reader.u32(), reader.u64()
        # A tensor type newer than this table counts as empty, so the expected size stays a lower bound.
        end = max(end, offset + (_tensor_bytes(path, type_id, dims) or 0))
    alignment = metadata.get("general.alignment", 32)
    alignment = alignment if isinstance(alignment, int) and alignment > 0 else 32
    data_start = -(-reader.tell() // alignment) * alignment
    return ModelFileInfo(path, "gguf", version, size, data_start + end, metadata)


def _inspect_ggml(path: Path, reader: _Reader, size: int, model_type: str) -> ModelFileInfo:
    reader.handle.seek(0)
    magic = reader.read(4)
    if magic != GGJT_MAGIC:
        if model_type == "llama":
            raise ModelFileError(
                f"{path}: unversioned GGML/GGMF Llama files are not supported; use GGML v3 or GGUF"
            )
        # Other ctransformers model types keep their own header layouts; nothing more to check here.
        return ModelFileInfo(path, "ggml", 0, size, None)
    version = reader.u32()
    if version != 3:
        raise ModelFileError(f"{path}: GGML version {version} is not supported; use GGML v3 or GGUF")
    n_vocab, n_embd, _n_mult, n_head, n_layer, _n_rot, _ftype = (reader.u32() for _ in range(7))
    for _ in range(_check_count(path, "tokens", n_vocab)):
        length = reader.u32()
        if length > _MAX_STRING:
            raise ModelFileError(f"{path}: corrupt model file header (token of {length} bytes)")
        reader.skip(length + 4)
    if reader.tell() > size:
        raise _Truncated
    n_tensors = 0
    while reader.tell() < size:
        n_dims, name_len, type_id = reader.u32(), reader.u32(), reader.u32()
        if n_dims > 4 or name_len > 1024:
            raise ModelFileError(f"{path}: corrupt model file (tensor header at byte {reader.tell() - 12})")
        dims = [reader.u32() for _ in range(n_dims)]
        reader.skip(name_len)
        reader.skip(-reader.tell() % 32)
        nbytes = _tensor_bytes(path, type_id, dims)
        if nbytes is None:
            raise ModelFileError(f"{path}: unknown tensor type {type_id} in GGML file")
        if reader.tell() + nbytes > size:
            raise ModelFileError(
                f"{path}: model file is truncated ({size} of {reader.tell() + nbytes}+ bytes); "
                "delete it and download it again"
            )
        reader.skip(nbytes)
        n_tensors += 1
    expected_tensors = 3 + _LLAMA_TENSORS_PER_LAYER * n_layer
    if n_tensors < expected_tensors:
        raise ModelFileError(
            f"{path}: model file is truncated ({n_tensors} of {expected_tensors} tensors); "
            "delete it and download it again"
        )
    metadata: dict[str, str | int | float | bool] = {
        "general.architecture": "llama",
        "llama.embedding_length": n_embd,
        "llama.attention.head_count": n_head,
        "llama.block_count": n_layer,
    }
    return ModelFileInfo(path, "ggml", version, size, size, metadata)
