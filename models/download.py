"""`make model`: download Llama-2-7B-Chat GGUF into models/, resuming a partial file; check size and sha256.

Run as `python -m models.download [--quant Q4_K_M|Q8_0] [--dest models]`. The transfer is an HTTP range
request on the hub's resolve URL (huggingface_hub builds the URL and reads the file's size and sha256); the
transport is injectable so the resume and verification logic is tested against a local server.
"""

from __future__ import annotations

import argparse
import hashlib
import http.client
import logging
import os
import re
import sys
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Protocol

logger = logging.getLogger(__name__)

CHUNK_BYTES = 1 << 20
DEFAULT_QUANT = "Q4_K_M"
DEFAULT_DEST = Path("models")
_SHA256_HEX = re.compile(r"[0-9a-f]{64}")


@dataclass(frozen=True)
class ModelSpec:
    """One downloadable model file; size and sha256 are None where not known in advance."""

    repo_id: str
    filename: str
    size: int | None
    sha256: str | None
    revision: str = "main"


# Sizes and the Q4_K_M sha256 are the hub's published LFS values for TheBloke/Llama-2-7B-Chat-GGUF. The Q8_0
# sha256 is not recorded here; it is taken from the hub's file metadata (the LFS etag) at download time.
KNOWN_MODELS: dict[str, ModelSpec] = {
    "Q4_K_M": ModelSpec(
        "TheBloke/Llama-2-7B-Chat-GGUF",
        "llama-2-7b-chat.Q4_K_M.gguf",
        size=4_081_004_224,
        sha256="08a5566d61d7cb6b420c3e4387a39e0078e1f2fe5f055f3a03887385304d4bfa",
    ),
    "Q8_0": ModelSpec(
        "TheBloke/Llama-2-7B-Chat-GGUF",
        "llama-2-7b-chat.Q8_0.gguf",
        size=7_161_089_728,
        sha256=None,
    ),
}


Progress = Callable[[int, int | None], None]


class DownloadError(Exception):
    """The model could not be downloaded or verified; the message says why and what to do."""


@dataclass(frozen=True)
class RemoteFile:
    """What the server says about the file before the transfer."""

    size: int | None
    sha256: str | None


class Response(Protocol):
    """The body of a (possibly partial) GET."""

    @property
    def status(self) -> int:
        """HTTP status: 200, 206 (range honoured) or 416 (nothing after the range start)."""
        ...

    def read(self, n: int) -> bytes:
        """Up to n bytes; b"" at the end."""
        ...


class Transport(Protocol):
    """How bytes get here: a metadata lookup and a GET that may start at an offset."""

    def metadata(self, url: str) -> RemoteFile:
        """Size and sha256 of the remote file, where the server tells them."""
        ...

    def open(self, url: str, start: int) -> AbstractContextManager[Response]:
        """A context-managed response; status 206 when the server honoured `Range: bytes=start-`."""
        ...


@dataclass(frozen=True)
class _NothingLeft:
    """The answer to a range that starts at or past the end of the file (HTTP 416)."""

    status: int = 416

    def read(self, n: int) -> bytes:
        return b""


def _sha256_or_none(value: str | None) -> str | None:
    value = (value or "").strip().strip('"').removeprefix("W/").strip('"').lower()
    return value if _SHA256_HEX.fullmatch(value) else None


class HttpTransport:
    """Plain HTTP(S) with urllib: HEAD for metadata (hub headers first), GET with a Range header."""

    def __init__(self, timeout: float = 60.0, headers: dict[str, str] | None = None) -> None:
        self.timeout = timeout
        self.headers = {"User-Agent": "docbot-model-download", **(headers or {})}

    def metadata(self, url: str) -> RemoteFile:
        """Size and sha256 from X-Linked-Size/X-Linked-Etag (the hub's LFS headers) or Content-Length/ETag."""
        request = urllib.request.Request(url, method="HEAD", headers=self.headers)
        with urllib.request.urlopen(request, timeout=self.timeout) as response:
            headers = response.headers
            size = headers.get("X-Linked-Size") or headers.get("Content-Length")
            etag = headers.get("X-Linked-Etag") or headers.get("ETag")
        return RemoteFile(size=int(size) if size else None, sha256=_sha256_or_none(etag))

    @contextmanager
    def open(self, url: str, start: int) -> Iterator[Response]:
        """GET from byte `start` (urllib keeps the Range header across the hub's redirect to its CDN)."""
        headers = dict(self.headers)
        if start:
            headers["Range"] = f"bytes={start}-"
        request = urllib.request.Request(url, headers=headers)
        try:
            response = urllib.request.urlopen(request, timeout=self.timeout)
        except urllib.error.HTTPError as exc:
            if exc.code != 416:
                raise
            exc.close()
            yield _NothingLeft()
            return
        with response:
            yield response


class HubTransport(HttpTransport):
    """HttpTransport whose metadata comes from huggingface_hub (follows the hub's redirects and headers)."""

    def metadata(self, url: str) -> RemoteFile:
        """The file's size and LFS sha256 as the hub reports them."""
        from huggingface_hub import get_hf_file_metadata

        meta = get_hf_file_metadata(url, timeout=self.timeout)
        return RemoteFile(size=meta.size, sha256=_sha256_or_none(meta.etag))


def hub_url(spec: ModelSpec) -> str:
    """The hub's resolve URL for the file."""
    from huggingface_hub import hf_hub_url

    return str(hf_hub_url(spec.repo_id, spec.filename, revision=spec.revision))


def sha256_of(path: Path) -> str:
    """Hex sha256 of a file, read in chunks."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while block := handle.read(CHUNK_BYTES):
            digest.update(block)
    return digest.hexdigest()


def _verify(path: Path, size: int | None, sha256: str | None) -> str | None:
    """None when the file matches; otherwise what is wrong with it."""
    actual = path.stat().st_size
    if size is not None and actual != size:
        return f"size {actual} bytes, expected {size}"
    if sha256 is not None:
        digest = sha256_of(path)
        if digest != sha256:
            return f"sha256 {digest}, expected {sha256}"
    return None


def _expected(spec: ModelSpec, remote: RemoteFile) -> tuple[int | None, str | None]:
    """Known values win and the server fills the gaps; a disagreement means the remote file is another one."""
    if spec.size is not None and remote.size is not None and spec.size != remote.size:
        raise DownloadError(
            f"{spec.filename}: the server reports {remote.size} bytes, expected {spec.size}; "
            "refusing to download"
        )
    if spec.sha256 is not None and remote.sha256 is not None and spec.sha256 != remote.sha256:
        raise DownloadError(
            f"{spec.filename}: the server reports sha256 {remote.sha256}, expected {spec.sha256}; "
            "refusing to download"
        )
    return spec.size or remote.size, spec.sha256 or remote.sha256


def _transfer(transport: Transport, url: str, part: Path, total: int | None, progress: Progress) -> None:
    """Append the rest of the file to `part`, or start over when the server ignores the Range header."""
    start = part.stat().st_size if part.exists() else 0
    if total is not None and start >= total:
        if start == total:
            return
        start = 0
    with transport.open(url, start) as response:
        if response.status == 416:
            return
        if start and response.status != 206:
            logger.info("server ignored the range request; starting over url=%s", url)
            start = 0
        with part.open("ab" if start else "wb") as out:
            _copy(response, out, start, total, progress)


def _copy(
    response: Response,
    out: IO[bytes],
    done: int,
    total: int | None,
    progress: Progress,
) -> None:
    progress(done, total)
    while block := response.read(CHUNK_BYTES):
        out.write(block)
        done += len(block)
        progress(done, total)
        if total is not None and done > total:
            return


def download_model(
    spec: ModelSpec,
    dest_dir: Path,
    *,
    transport: Transport | None = None,
    url: str | None = None,
    progress: Progress | None = None,
) -> Path:
    """Download `spec` into dest_dir (resuming dest/<file>.part); return the verified final path."""
    dest_dir.mkdir(parents=True, exist_ok=True)
    final = dest_dir / spec.filename
    part = dest_dir / (spec.filename + ".part")
    report = progress or (lambda done, total: None)
    if final.exists():
        problem = _verify(final, spec.size, spec.sha256)
        if problem is None:
            logger.info("model already present and verified path=%s", final)
            return final
        if spec.size is not None and final.stat().st_size < spec.size and not part.exists():
            # An interrupted copy under the final name: treat it as a partial download and resume it.
            final.rename(part)
        else:
            raise DownloadError(f"{final}: exists but does not match ({problem}); delete it and run again")
    transport = transport or HubTransport()
    url = url or hub_url(spec)
    try:
        size, sha256 = _expected(spec, transport.metadata(url))
        _transfer(transport, url, part, size, report)
    except (urllib.error.URLError, OSError, http.client.HTTPException) as exc:
        reason = getattr(exc, "reason", None) or exc
        kept = part.stat().st_size if part.exists() else 0
        after = f"{kept} bytes kept in {part}, run again to resume" if kept else "run again"
        raise DownloadError(f"{spec.filename}: download failed ({reason}); {after}") from exc
    return _finish(part, final, size, sha256)


def _finish(part: Path, final: Path, size: int | None, sha256: str | None) -> Path:
    if not part.exists():
        raise DownloadError(f"{final.name}: the server sent nothing; run again")
    actual = part.stat().st_size
    if size is not None and actual < size:
        raise DownloadError(
            f"{final.name}: download stopped at {actual} of {size} bytes; run again to resume"
        )
    problem = _verify(part, size, sha256)
    if problem is not None:
        part.unlink()
        raise DownloadError(f"{final.name}: downloaded file is wrong ({problem}); deleted it, run again")
    if sha256 is None:
        logger.warning("no sha256 known for %s; checked the size only", final.name)
    os.replace(part, final)
    logger.info("model downloaded path=%s size=%d", final, actual)
    return final


def _parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m models.download", description="Download Llama-2-7B-Chat (GGUF) into models/."
    )
    parser.add_argument("--quant", choices=sorted(KNOWN_MODELS), default=DEFAULT_QUANT)
    parser.add_argument("--dest", type=Path, default=DEFAULT_DEST, help="folder to put the file in")
    parser.add_argument("--url", help="download from this URL instead of the hub (a mirror)")
    return parser.parse_args(argv)


def _progress_bar(filename: str) -> Progress:
    from tqdm import tqdm

    bar = tqdm(unit="B", unit_scale=True, unit_divisor=1024, desc=filename, disable=not sys.stderr.isatty())

    def update(done: int, total: int | None) -> None:
        if total is not None and bar.total != total:
            bar.total = total
        bar.update(done - bar.n)

    return update


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of `make model`; 0 on success, 1 with a one-line reason on stderr otherwise."""
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    args = _parse_args(argv)
    spec = KNOWN_MODELS[args.quant]
    try:
        path = download_model(
            spec,
            args.dest,
            url=args.url,
            transport=HttpTransport() if args.url else None,
            progress=_progress_bar(spec.filename),
        )
    except DownloadError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except Exception as exc:  # the hub client raises its own types (offline mode, HTTP errors)
        print(f"error: {spec.filename}: download failed: {exc}", file=sys.stderr)
        return 1
    print(f"model ready: {path}")
    if path.name != KNOWN_MODELS[DEFAULT_QUANT].filename:
        print(f"use it with: DOCBOT_MODEL_PATH={path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
