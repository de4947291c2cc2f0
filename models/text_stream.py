"""Turn a stream of token bytes into text pieces: whole UTF-8 characters, stop sequences cut, token limit."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Literal

FinishReason = Literal["eos", "stop", "length", "deadline", "cancelled", "repetition"]
# Asked between tokens: the reason to stop now ("deadline" or "cancelled"), or None to go on.
StopCheck = Callable[[], FinishReason | None]


@dataclass
class StreamResult:
    """How a stream ended; filled in while it runs."""

    finish_reason: FinishReason = "eos"
    generated_tokens: int = 0


def split_incomplete_utf8(data: bytes) -> tuple[bytes, bytes]:
    """Split off a trailing, not yet complete UTF-8 character (a token may end mid-character)."""
    for back in range(1, min(4, len(data)) + 1):
        byte = data[-back]
        if byte & 0xC0 == 0x80:  # continuation byte: keep looking for the lead byte
            continue
        needed = 2 if byte & 0xE0 == 0xC0 else 3 if byte & 0xF0 == 0xE0 else 4 if byte & 0xF8 == 0xF0 else 1
        if needed > back:
            return data[:-back], data[-back:]
        break
    return data, b""


def _held_back(text: str, stops: list[str]) -> int:
    """Length of the longest end of `text` that could be the start of a stop sequence."""
    longest = 0
    for stop in stops:
        for size in range(min(len(stop) - 1, len(text)), longest, -1):
            if text.endswith(stop[:size]):
                longest = size
                break
    return longest


# A loop is a run of text repeated back to back: at least this many characters over at least three copies.
_LOOP_MIN_CHARS = 30
_LOOP_MAX_PERIOD = 160
_LINE_REPEATS = 3


def is_looping(text: str) -> bool:
    """Whether `text` ends in a loop (one run three or more times in a row, or a line said three times)."""
    for period in range(2, min(_LOOP_MAX_PERIOD, len(text) // 3) + 1):
        copies = max(3, -(-_LOOP_MIN_CHARS // period))
        if period * copies > len(text):
            continue
        unit = text[-period:]
        # A run of punctuation (a table rule "|----|----|") is layout, not a loop.
        if any(ch.isalnum() for ch in unit) and text.endswith(unit * copies):
            return True
    if text.endswith("\n"):
        lines = [line.strip() for line in text.splitlines() if len(line.strip()) >= 10]
        if lines and lines.count(lines[-1]) >= _LINE_REPEATS:
            return True
    return False


def stream_text(
    tokens: Iterable[bytes],
    *,
    max_new_tokens: int,
    stop: list[str],
    should_stop: StopCheck,
    result: StreamResult,
) -> Iterator[str]:
    """Yield text once it cannot be part of a stop sequence; end at a stop, loop, limit or request."""
    stops = [s for s in stop if s]
    said = ""
    pending = ""
    incomplete = b""
    result.finish_reason = "eos"
    for piece in tokens:
        result.generated_tokens += 1
        complete, incomplete = split_incomplete_utf8(incomplete + piece)
        pending += complete.decode("utf-8", errors="replace")
        hits = [i for i in (pending.find(s) for s in stops) if i >= 0]
        if hits:
            result.finish_reason = "stop"
            if min(hits) > 0:
                yield pending[: min(hits)]
            return
        ready = len(pending) - _held_back(pending, stops)
        if ready > 0:
            said += pending[:ready]
            yield pending[:ready]
            pending = pending[ready:]
        if said and is_looping(said):
            result.finish_reason = "repetition"
            return
        if result.generated_tokens >= max_new_tokens:
            result.finish_reason = "length"
            break
        if reason := should_stop():
            result.finish_reason = reason
            break
    else:
        # The backend also stops early, without a token, when asked to during the prompt.
        if reason := should_stop():
            result.finish_reason = reason
    tail = pending + incomplete.decode("utf-8", errors="replace")
    if tail:
        yield tail
