"""Short quotes from passages, centred on the words the question asked about."""

from __future__ import annotations

import re

from vectorstore.keywords import keywords

_SPACE = re.compile(r"\s+")


def snippet(text: str, question: str, width: int = 220) -> str:
    """About `width` characters of `text` around the densest run of the question's keywords."""
    flat = _SPACE.sub(" ", text).strip()
    if len(flat) <= width:
        return flat
    words = [w for w in keywords(question) if len(w) > 2]
    lower = flat.lower()
    positions = sorted(m.start() for w in words for m in re.finditer(re.escape(w), lower))
    start = _densest_window(positions, width) if positions else 0
    start = max(0, min(start - width // 5, len(flat) - width))
    if start:
        space = flat.find(" ", start)
        start = space + 1 if 0 <= space < start + 30 else start
    end = start + width
    if end < len(flat):
        space = flat.rfind(" ", start, end)
        end = space if space > start + width // 2 else end
    return ("…" if start else "") + flat[start:end].strip() + ("…" if end < len(flat) else "")


def _densest_window(positions: list[int], width: int) -> int:
    best_start, best_count, left = positions[0], 0, 0
    for right, pos in enumerate(positions):
        while pos - positions[left] > width:
            left += 1
        if right - left + 1 > best_count:
            best_count, best_start = right - left + 1, positions[left]
    return best_start
