"""Open a PDF with pypdf: decryption, failures described in words a person can act on, pypdf's own
warnings and log records routed to DEBUG."""

from __future__ import annotations

import logging
import warnings
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pypdf import PdfReader

logger = logging.getLogger(__name__)

EMPTY_FILE = "empty file"
PASSWORD_PROTECTED = "password-protected"
NO_TEXT_LAYER = "no text layer (scanned; needs OCR)"
_DETAIL_MAX_CHARS = 120
_PROBE_BYTES = 1024


class PdfReadError(Exception):
    """A PDF that cannot be read; `reason` is meant for people."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def corrupt(detail: str) -> PdfReadError:
    """The error for a file pypdf cannot parse, with a short one-line detail."""
    line = " ".join(detail.split())
    if len(line) > _DETAIL_MAX_CHARS:
        line = line[: _DETAIL_MAX_CHARS - 3].rstrip() + "..."
    return PdfReadError(f"corrupt: {line or 'unreadable'}")


def open_pdf(path: Path) -> PdfReader:
    """A pypdf reader for the file, decrypted when it opens with an empty password; else PdfReadError."""
    from pypdf import PdfReader
    from pypdf.errors import DependencyError

    try:
        reader = PdfReader(path, strict=False)
    except OSError:
        raise
    except Exception as exc:
        raise corrupt(_damage(path, exc)) from exc
    if not reader.is_encrypted:
        return reader
    try:
        opened = reader.decrypt("")
    except DependencyError as exc:
        raise corrupt("AES-encrypted; needs the 'cryptography' package") from exc
    except NotImplementedError as exc:  # a non-standard security handler (DRM): no way in without it
        logger.debug("pdf_unsupported_encryption file=%s detail=%s", path.name, exc)
        raise PdfReadError(PASSWORD_PROTECTED) from exc
    except Exception as exc:
        raise corrupt(describe(exc)) from exc
    if not opened:
        raise PdfReadError(PASSWORD_PROTECTED)
    return reader


def _damage(path: Path, exc: Exception) -> str:
    """Say what is wrong in words a person can act on, when the bytes show it."""
    size = path.stat().st_size
    with path.open("rb") as handle:
        head = handle.read(_PROBE_BYTES)
        handle.seek(max(0, size - _PROBE_BYTES))
        tail = handle.read()
    if b"%PDF-" not in head:
        return "not a PDF file"
    if b"%%EOF" not in tail:
        return f"truncated ({describe(exc)})"
    return describe(exc)


def describe(exc: BaseException) -> str:
    """The first line of an exception's message, or its type name."""
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return text or type(exc).__name__


class _ToDebug(logging.Handler):
    """Re-log pypdf's records at DEBUG under this module's logger (they are about the file, not us)."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            message = record.getMessage()
        except Exception:  # a malformed record must not break reading
            message = str(record.msg)
        logger.debug("pypdf level=%s message=%s", record.levelname, message[:300])


def route_pypdf_logging() -> None:
    """Send pypdf's log records to DEBUG under this module (once per process)."""
    pypdf_logger = logging.getLogger("pypdf")
    if any(isinstance(handler, _ToDebug) for handler in pypdf_logger.handlers):
        return
    pypdf_logger.addHandler(_ToDebug())
    pypdf_logger.propagate = False


def relog_warnings(caught: list[warnings.WarningMessage]) -> None:
    """pypdf's warnings to DEBUG; anyone else's warnings are re-issued as they were."""
    for item in caught:
        if "pypdf" in item.filename.replace("\\", "/").split("/"):
            logger.debug("pypdf_warning category=%s message=%s", item.category.__name__, item.message)
        else:  # not ours to silence
            warnings.warn_explicit(item.message, item.category, item.filename, item.lineno)


def page_text_here(path: Path, index: int) -> str:
    """The raw text of page `index` (0-based), in this process: what the child of ingest.page_text runs."""
    route_pypdf_logging()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return open_pdf(path).pages[index].extract_text()
