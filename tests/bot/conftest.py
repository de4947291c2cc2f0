"""Fixtures shared by the bot tests."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from devtools.fake_slack import FakeSlack
from tests.bot.worker_rig import Rig


@pytest.fixture
def rig(fake_slack: FakeSlack, tmp_path: Path, make_settings: Callable[..., Any]) -> Iterator[Rig]:
    rig = Rig(fake_slack, tmp_path, make_settings)
    yield rig
    for worker in rig.workers:
        worker.stop(5)
    rig.queue.close()
