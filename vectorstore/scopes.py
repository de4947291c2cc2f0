"""Per-folder scopes: which Slack channels may retrieve the documents of which folders (DOCBOT_SCOPES).

A folder that is not scoped is open to every channel. A file is retrievable for a channel only when
every scoped folder that contains it lists that channel, so a scope on a sub-folder can only narrow.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

FileFilter = Callable[[str], bool]
"""allowed(file) -> bool, for a file path relative to the data dir (forward slashes)."""


def folder_key(folder: str) -> str:
    """A folder as a path prefix: no leading "./" or "/", one trailing "/"."""
    cleaned = folder.strip().removeprefix("./").strip("/")
    return cleaned + "/" if cleaned else ""


@dataclass(frozen=True)
class FolderScopes:
    """Folder prefix (like "hr/") -> the channel ids whose questions may retrieve its documents."""

    rules: Mapping[str, frozenset[str]]

    @classmethod
    def from_mapping(cls, mapping: Mapping[str, Iterable[str]]) -> FolderScopes:
        """Scopes from settings (folders normalised with folder_key)."""
        return cls({folder_key(folder): frozenset(channels) for folder, channels in mapping.items()})

    def filter_for(self, channel: str) -> FileFilter | None:
        """What a question from `channel` may retrieve; None when nothing is hidden from it."""
        hidden = tuple(folder for folder, channels in self.rules.items() if channel not in channels)
        if not hidden:
            return None

        def allowed(file: str) -> bool:
            return not file.startswith(hidden)

        return allowed
