"""Turn a question into an FTS5 keyword query: words that matter, numbers kept, stop words dropped."""

from __future__ import annotations

import re

# Question words and glue that match everywhere and only add noise to BM25.
STOP_WORDS = frozenset(
    """
    a about above after again against all am an and any are as at be because been before being below
    between both but by can could did do does doing down during each few for from further had has have
    having he her here hers herself him himself his how i if in into is it its itself just me more most
    my myself no nor not now of off on once only or other our ours ourselves out over own same she
    should so some such than that the their theirs them themselves then there these they this those
    through to too under until up very was we were what when where which while who whom why will with
    would you your yours yourself yourselves also much many tell say says said according give given
    describe explain kind sort please whose within per via across among document report company s t
    """.split()
)

_TOKEN = re.compile(r"[0-9]+(?:[.,][0-9]+)*|[^\W_]+", re.UNICODE)
# "STS-B", "RV32I/RV64I", "sign-on", "10-K": FTS5 splits them into separate words, one of which is often
# dropped or common; the joined words as a phrase find the exact term, which is usually rare and telling.
_COMPOUND = re.compile(r"[^\W_]+(?:[-/][^\W_]+)+", re.UNICODE)


def keywords(question: str) -> list[str]:
    """The distinct content words and numbers of a question, in order."""
    seen: dict[str, None] = {}
    for match in _TOKEN.finditer(question.lower()):
        token = match.group(0)
        if token in STOP_WORDS or (len(token) == 1 and not token.isdigit()):
            continue
        # FTS5's unicode61 tokenizer splits "1,234.5" into "1", "234", "5": match the same way.
        for part in re.split(r"[.,]", token) if token[0].isdigit() else [token]:
            if part:
                seen.setdefault(part, None)
    return list(seen)


def compounds(question: str) -> list[str]:
    """The question's hyphen- or slash-joined terms, as the space-separated words FTS5 indexes."""
    found: dict[str, None] = {}
    for match in _COMPOUND.finditer(question.lower()):
        found.setdefault(" ".join(part for part in re.split(r"[-/]", match.group(0)) if part), None)
    return list(found)


def fts_query(question: str) -> str:
    """An FTS5 MATCH expression that ORs the question's keywords and compound-term phrases (each quoted,
    so none is an operator)."""
    terms = [*keywords(question), *compounds(question)]
    return " OR ".join(f'"{term}"' for term in terms)
