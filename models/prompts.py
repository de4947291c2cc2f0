"""The QA prompt: the tutorial's template (byte for byte) or a checked prompt file.

Follow-up questions are made to stand alone by rules (bot/followup.py), not by a model prompt.
"""

from __future__ import annotations

import string
from pathlib import Path

from langchain_core.prompts import PromptTemplate

# The tutorial's template, whitespace included: small models answer differently when it changes.
QA_TEMPLATE = """Use the following pieces of information to answer the user's question.
If you don't know the answer, just say that you don't know, don't try to make up an answer.

Context: {context}
Question: {question}

Only return the helpful answer below and nothing else.
Helpful answer:
"""

QA_VARIABLES = frozenset({"context", "question"})


class PromptFileError(ValueError):
    """A prompt file cannot be used; the message names the file and the problem."""


def _placeholders(template: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(template) if name is not None}


def load_prompt(prompt_file: Path | None) -> PromptTemplate:
    """The QA prompt: the tutorial's template, or the file's, which must use {context} and {question}."""
    if prompt_file is None:
        return PromptTemplate.from_template(QA_TEMPLATE)
    try:
        template = Path(prompt_file).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise PromptFileError(f"{prompt_file}: prompt file not found") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise PromptFileError(f"{prompt_file}: cannot read prompt file: {exc}") from exc
    try:
        names = _placeholders(template)
    except ValueError as exc:
        message = f"{prompt_file}: not a valid template ({exc}); write literal braces doubled"
        raise PromptFileError(message) from exc
    missing = sorted(QA_VARIABLES - names)
    if missing:
        raise PromptFileError(
            f"{prompt_file}: prompt template must contain {{context}} and {{question}}; missing "
            + ", ".join("{" + name + "}" for name in missing)
        )
    extra = sorted(names - QA_VARIABLES)
    if extra:
        raise PromptFileError(
            f"{prompt_file}: prompt template may only use {{context}} and {{question}}; found "
            + ", ".join("{" + name + "}" for name in extra)
        )
    return PromptTemplate.from_template(template)
