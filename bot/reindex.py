"""The bot's background re-index: the engine's sync, taking turns with answers on one CPU gate."""

from __future__ import annotations

import dataclasses
import threading
from typing import TYPE_CHECKING

from ingest.cpu_gate import CpuGate
from ingest.schedule import ReindexScheduler
from ingest.sync import SyncReport

if TYPE_CHECKING:
    from bot.engine import Engine


def build_reindexer(engine: Engine, cpu_gate: CpuGate) -> ReindexScheduler:
    """A scheduler that syncs the engine's data dir at start and every `reindex_minutes`."""
    settings = engine.settings

    def sync(cancel: threading.Event) -> SyncReport:
        return engine.sync(dataclasses.replace(engine.sync_options(), cpu_gate=cpu_gate, cancel=cancel))

    return ReindexScheduler(
        sync,
        interval_minutes=settings.reindex_minutes,
        state_dir=settings.index_dir,
        data_dir=settings.data_dir,
        cpu_gate=cpu_gate,
    )
