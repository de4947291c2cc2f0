"""Where docbot keeps per-machine runtime files: the user's cache folder, never the installed package."""

from __future__ import annotations

from pathlib import Path

APP_NAME = "docbot"


def user_cache_dir() -> Path:
    """The user cache folder for docbot (platformdirs: ~/.cache/docbot on Linux, XDG_CACHE_HOME honoured)."""
    from platformdirs import user_cache_path

    return user_cache_path(APP_NAME, appauthor=False)
