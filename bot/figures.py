"""Numbers, amounts and names in free text, normalised so "£750 million", "£750m" and "750,000,000" agree."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

_MAGNITUDES = {
    "thousand": 3,
    "k": 3,
    "million": 6,
    "millions": 6,
    "mn": 6,
    "m": 6,
    "mm": 6,
    "billion": 9,
    "billions": 9,
    "bn": 9,
    "b": 9,
    "trillion": 12,
    "tn": 12,
}
# A number as written: optional sign and currency, digits with thousands separators or decimals, then an
# optional magnitude word glued on or one space away ("£750m", "$1.2 billion", "59%").
_NUMBER = re.compile(
    r"(?<![\w.])(?P<num>\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+(?:\.\d+)?)"
    r"(?:\s?(?P<mag>thousand|millions?|billions?|trillion|mn|bn|tn|mm|m|k|b)\b)?",
    re.IGNORECASE,
)
_WORD = re.compile(r"[^\W_]+(?:['’][^\W_]+)?", re.UNICODE)
# Capitalised words that begin no claim of their own: sentence openers, pronouns, months, document words.
_NOT_NAMES = frozenset(
    """a an and as at based but by for from he her his however i if in it its my no not of on or our per she
    so that the their there these they this those to we what when where which who with yes you your
    according answer context based page pages passage passages document documents source sources
    january february march april may june july august september october november december
    monday tuesday wednesday thursday friday saturday sunday""".split()
)


@dataclass(frozen=True)
class Figure:
    """A number as written: its digits, how many decimals it shows, and its magnitude (10**exponent)."""

    mantissa: Decimal
    decimals: int
    exponent: int
    text: str

    @property
    def value(self) -> Decimal:
        """The number with its magnitude applied."""
        return self.mantissa.scaleb(self.exponent)

    def is_stated_by(self, other: Figure, *, table_units: bool = True) -> bool:
        """Whether `other` states this number, allowing for magnitude words, rounding and table units.

        A plain whole number ("20", "10,000") must be stated exactly: small models invent round numbers, and
        a lenient match would find some page number or count that rounds to them. A number with decimals or
        a magnitude word may be the rounding of a more precise one ("£7.7 million" of "£7,712 thousand").
        Filings give amounts "in millions" in their tables, so with `table_units` a page's 3,208 may state
        the "$3.2 billion" of an answer that carries a magnitude word.
        """
        if self.exponent == 0 and self.decimals == 0:
            return other.value == self.value
        extras = (0, 3, 6, 9) if table_units and self.exponent >= 6 and other.exponent == 0 else (0,)
        for extra in extras:
            candidate = other.value.scaleb(extra - self.exponent)
            if candidate.quantize(Decimal(1).scaleb(-self.decimals)) == self.mantissa:
                return True
        return False


def figures(text: str) -> list[Figure]:
    """Every number in `text` with its magnitude; years and plain counts included."""
    found = []
    for match in _NUMBER.finditer(normalise_text(text, keep_case=True)):
        digits = match.group("num").replace(",", "")
        try:
            mantissa = Decimal(digits)
        except InvalidOperation:
            continue
        magnitude = (match.group("mag") or "").lower()
        exponent = _MAGNITUDES.get(magnitude, 0)
        if magnitude in ("m", "b", "k") and match.group(0)[len(match.group("num")) :].startswith(" "):
            exponent = 0  # "5 m" is more often metres or a list letter than millions
        decimals = len(digits.split(".")[1]) if "." in digits else 0
        found.append(Figure(mantissa, decimals, exponent, match.group(0)))
    return found


def normalise_text(text: str, *, keep_case: bool = False) -> str:
    """NFKC, one kind of apostrophe and dash, no soft hyphens, single spaces; lower case unless kept."""
    text = unicodedata.normalize("NFKC", text).replace("\u00ad", "")
    text = text.replace("’", "'").replace("‘", "'").replace("–", "-").replace("—", "-")
    text = re.sub(r"\s+", " ", text)
    return text if keep_case else text.lower()


_ADDRESS = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+|(?:https?://|www\.)\S+", re.IGNORECASE)


def addresses(text: str) -> list[str]:
    """E-mail addresses and web links, which an answer must copy, never compose."""
    return [match.group(0).rstrip(".,;:)").lower() for match in _ADDRESS.finditer(normalise_text(text))]


def words(text: str) -> list[str]:
    """The words of `text`, lower-cased and normalised."""
    return _WORD.findall(normalise_text(text))


def names(text: str) -> list[str]:
    """Capitalised words that are not the first of a sentence and not ordinary openers: likely names."""
    found = []
    # Lines are split before normalising, which folds line breaks into spaces.
    sentences = (
        sentence
        for line in text.splitlines()
        for sentence in re.split(r"(?<=[.!?:;])\s+", normalise_text(line, keep_case=True))
    )
    for sentence in sentences:
        tokens = _WORD.findall(sentence)
        for token in tokens[1:]:
            if token[0].isupper() and token.lower() not in _NOT_NAMES and not token.isdigit():
                found.append(token)
    return found
