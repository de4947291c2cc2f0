"""Clean extracted page text: control characters dropped, spaces collapsed, ligatures expanded, words
broken across lines joined the way the rest of the document spells them."""

from __future__ import annotations

import re
import string
import unicodedata

_CONTROL = re.compile(r"[\x00-\x08\x0e-\x1f\x7f-\x9f\u200b\ufeff]")
_SPACES = re.compile(r"[ \t\u00a0\u1680\u2000-\u200a\u202f\u205f\u3000]+")
_LIGATURES = {"ﬀ": "ff", "ﬁ": "fi", "ﬂ": "fl", "ﬃ": "ffi", "ﬄ": "ffl", "ﬅ": "st", "ﬆ": "st"}


def clean_lines(text: str) -> list[str]:
    """Split extracted text into stripped lines: control chars dropped, space runs collapsed, one blank
    line kept between paragraphs, ligatures expanded."""
    for ligature, letters in _LIGATURES.items():
        if ligature in text:
            text = text.replace(ligature, letters)
    if not unicodedata.is_normalized("NFC", text):
        text = unicodedata.normalize("NFC", text)
    text = text.replace("\r\n", "\n").replace("\r", "\n").replace("\x0b", "\n").replace("\x0c", "\n")
    text = _CONTROL.sub("", text)
    lines: list[str] = []
    for raw in text.split("\n"):
        line = _SPACES.sub(" ", raw).strip()
        if line or (lines and lines[-1]):
            lines.append(line)
    while lines and not lines[-1]:
        lines.pop()
    return lines


def has_text(lines: list[str]) -> bool:
    """True when any line holds a letter or digit."""
    return any(ch.isalnum() for line in lines for ch in line)


_WORD = re.compile(r"[^\W\d_]{3,}")


def has_words(lines: list[str]) -> bool:
    """OCR reads specks and rules as stray characters; a page of text has real words."""
    return sum(len(_WORD.findall(line)) for line in lines) >= 2


_BREAK = "-\n"
_HEAD = re.compile(r"(?<![\w-])([^\W\d_]+)$")
_TAIL = re.compile(r"^([^\W\d_A-Z]\w*)")
_TOKEN_EDGES = string.punctuation.replace("-", "") + "“”‘’«»…"


class Hyphenation:
    """Decides how to join a word broken across lines, from how the rest of the document spells words."""

    def __init__(self, texts: list[str]) -> None:
        self._compounds: set[str] = set()
        self._heads: set[str] = set()
        self._words: set[str] = set()
        if not any(_BREAK in text or "\u00ad" in text for text in texts):
            return  # nothing to decide; skip building the vocabulary
        for token in {token.strip(_TOKEN_EDGES) for text in texts for token in text.lower().split()}:
            parts = token.split("-")
            if len(parts) == 2 and parts[0].isalpha() and parts[1].isalpha():
                self._compounds.add(token)
                self._heads.add(parts[0])
            elif len(parts) == 1:
                self._words.add(token)

    def join(self, text: str) -> str:
        """Join "pay-\nment" -> "payment", but keep "task-\nspecific" -> "task-specific" when the
        document spells the compound (or the same prefix, like "pre-") with a hyphen elsewhere."""
        text = text.replace("\u00ad\n", _BREAK).replace("\u00ad", "")
        if _BREAK not in text:
            return text
        pieces = text.split(_BREAK)
        joined = [pieces[0]]
        for piece in pieces[1:]:
            head, tail = _HEAD.search(joined[-1][-60:]), _TAIL.match(piece)
            if head is None or tail is None:
                joined.append(_BREAK + piece)
            else:
                joined.append(self._glue(head.group(1), tail.group(1)) + piece)
        return "".join(joined)

    def _glue(self, head: str, tail: str) -> str:
        """What goes between the two halves: "-" to keep a compound, "" to make one word."""
        lowered = head.lower()
        if f"{lowered}-{tail.lower()}" in self._compounds:
            return "-"
        if (lowered + tail.lower()) not in self._words and lowered in self._heads:
            return "-"
        return ""
