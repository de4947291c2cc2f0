"""Waiting on a condition with a deadline: the one polling loop the tests share."""

from __future__ import annotations

import time
from collections.abc import Callable

POLL_SECONDS = 0.01


def wait_until(
    condition: Callable[[], object], timeout: float, message: str | Callable[[], str] = "condition not met"
) -> None:
    """Poll `condition` until it is true; fail with `message` (a string or a callable) after `timeout` s."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            text = message() if callable(message) else message
            raise AssertionError(f"{text} (within {timeout} s)")
        time.sleep(POLL_SECONDS)
