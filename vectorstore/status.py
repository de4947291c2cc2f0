"""A summary of the index that the CLI and the bot show to people."""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass, field


@dataclass(frozen=True)
class FailedFile:
    """A file that could not be indexed, with a reason a person understands."""

    file: str
    reason: str


@dataclass(frozen=True)
class IndexStatus:
    """Files, chunks, failures and freshness of the index."""

    files: int
    chunks: int
    pages: int = 0
    failed: list[FailedFile] = field(default_factory=list)
    updated_at: float | None = None
    version: int = 0

    def with_failures(self, latest: list[FailedFile]) -> IndexStatus:
        """This status with `latest` failures (a re-index run's) first; a file listed in both keeps the
        latest reason only. Run failures that could not be stored (a full disk) show up this way."""
        seen = {f.file for f in latest}
        return dataclasses.replace(self, failed=[*latest, *(f for f in self.failed if f.file not in seen)])

    def freshness(self, now: float | None = None) -> str:
        """Like "12 files, updated 4 min ago"."""
        noun = "file" if self.files == 1 else "files"
        if self.updated_at is None:
            return f"{self.files} {noun}, never updated"
        age = max(0.0, (now if now is not None else time.time()) - self.updated_at)
        return f"{self.files} {noun}, updated {_age(age)}"


def _age(seconds: float) -> str:
    if seconds < 60:
        return "just now"
    if seconds < 3600:
        return f"{int(seconds // 60)} min ago"
    if seconds < 86400:
        return f"{int(seconds // 3600)} h ago"
    return f"{int(seconds // 86400)} d ago"
