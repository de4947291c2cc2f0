"""What every front end says when no document is indexed yet: where to put PDFs and when they get read."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

FrontEnd = Literal["slack", "console", "cli"]


def empty_index_message(
    data_dir: Path,
    front: FrontEnd,
    *,
    reindex_minutes: float | None = None,
    failed: int = 0,
    indexing: bool = False,
    no_index_at: Path | None = None,
) -> str:
    """The reply to a question asked of an index with no chunks, instead of "nothing matches".

    `reindex_minutes` is the running bot's re-index interval (None when nothing re-indexes the folder);
    `failed` counts files found there that could not be indexed; `indexing` says a re-index runs now;
    `no_index_at` is the index dir when no index was ever built there.
    """
    folder = str(data_dir.resolve())
    shown = f"`{folder}`" if front == "slack" else folder
    if indexing:
        return (
            f"No document is indexed yet: the PDFs in {shown} are being indexed now; ask again in a minute."
        )
    where = "on the bot's machine" if front == "slack" else ""
    headline = f"There is no index at {no_index_at} yet." if no_index_at else "No document is indexed yet."
    text = f"{headline} Put PDF reports in {shown}{' ' + where if where else ''}"
    if reindex_minutes is not None:
        every = f"{reindex_minutes:g} min"
        now = {
            "slack": "with `docbot ingest` there",
            "console": "when you type `reindex`",
            "cli": "with `docbot ingest`",
        }[front]
        text += f": the folder is re-indexed every {every}, or at once {now}."
    elif front == "console":
        text += ": the folder is read again before each question."
    else:
        text += ", then run `docbot ingest` (a running `docbot run` also re-indexes the folder on its own)."
    if failed:
        files = "1 file" if failed == 1 else f"{failed} files"
        status = {"slack": "`/docbot status`", "console": "`status`", "cli": "`docbot status`"}[front]
        text += f" {files} there could not be indexed; {status} says why."
    return text
