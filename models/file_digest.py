"""sha256 of large files, remembered by path, size and mtime so unchanged weights are not re-read each start.

Hashing the 91 MB embedding weights took about 0.3 s of every command; the digest is kept in a small JSON
file in the user cache and recomputed whenever a file's size or modification time changes.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import tempfile
from pathlib import Path
from typing import Any

logger = logging.getLogger(__name__)

DIGESTS_FILE = "digests.json"


def sha256_file(path: Path) -> str:
    """Hex sha256 of a file, read in 1 MiB blocks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def cached_sha256(path: Path, cache_file: Path | None) -> str:
    """The file's sha256, from `cache_file` when its size and mtime are those recorded, else computed
    (and recorded; a cache that cannot be written is only logged)."""
    if cache_file is None:
        return sha256_file(path)
    key = str(path.resolve())
    stat = path.stat()
    stamp = {"size": stat.st_size, "mtime_ns": stat.st_mtime_ns}
    known = _read(cache_file)
    entry = known.get(key)
    if isinstance(entry, dict) and all(entry.get(k) == v for k, v in stamp.items()) and entry.get("sha256"):
        return str(entry["sha256"])
    value = sha256_file(path)
    known[key] = stamp | {"sha256": value}
    _write(cache_file, known)
    return value


def _read(cache_file: Path) -> dict[str, Any]:
    try:
        data = json.loads(cache_file.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _write(cache_file: Path, data: dict[str, Any]) -> None:
    """Replace the cache file atomically (concurrent starts may race; the last complete write wins)."""
    try:
        cache_file.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".digests-", dir=cache_file.parent)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as out:
                json.dump(data, out, indent=1)
            os.replace(tmp, cache_file)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
    except OSError as exc:
        logger.debug("digest cache not written path=%s error=%s", cache_file, exc)
