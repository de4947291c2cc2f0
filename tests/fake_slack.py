"""The `fake_slack` fixture over devtools.fake_slack (the fake itself is shared with the benchmarks)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from devtools.fake_slack import PROXY_AND_OAUTH_ENV, FakeSlack, running_fake_slack


@pytest.fixture
def fake_slack(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeSlack]:
    """A started FakeSlack, stopped after the test; proxy and OAuth variables cleared."""
    for name in PROXY_AND_OAUTH_ENV:
        monkeypatch.delenv(name, raising=False)
    with running_fake_slack() as fake:
        yield fake
