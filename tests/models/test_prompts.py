"""The QA prompt: the tutorial's template byte for byte, or a file's, checked for its placeholders."""

from __future__ import annotations

from pathlib import Path

import pytest

from models.prompts import QA_TEMPLATE, PromptFileError, load_prompt

# The tutorial's prompts.py, copied character for character.
TUTORIAL_TEMPLATE = (
    "Use the following pieces of information to answer the user's question.\n"
    "If you don't know the answer, just say that you don't know, don't try to make up an answer.\n"
    "\n"
    "Context: {context}\n"
    "Question: {question}\n"
    "\n"
    "Only return the helpful answer below and nothing else.\n"
    "Helpful answer:\n"
)


def test_default_is_the_tutorial_template_exactly() -> None:
    assert QA_TEMPLATE == TUTORIAL_TEMPLATE
    prompt = load_prompt(None)
    assert sorted(prompt.input_variables) == ["context", "question"]
    text = prompt.format(context="Revenue was 5.", question="What was revenue?")
    assert text == TUTORIAL_TEMPLATE.format(context="Revenue was 5.", question="What was revenue?")
    assert text.endswith("Helpful answer:\n")


def test_braces_in_context_are_not_template_syntax() -> None:
    text = load_prompt(None).format(context="a {weird} {{chunk}}", question="q?")
    assert "a {weird} {{chunk}}" in text


def test_prompt_from_file(tmp_path: Path) -> None:
    path = tmp_path / "prompt.txt"
    path.write_text("[INST] Use only this:\n{context}\n\n{question} [/INST]\n", encoding="utf-8")
    prompt = load_prompt(path)
    assert prompt.format(context="C", question="Q") == "[INST] Use only this:\nC\n\nQ [/INST]\n"


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("Context: {context}\nAnswer:", r"missing \{question\}"),
        ("Just answer.", r"missing \{context\}, \{question\}"),
        ("{context} {question} {language}", r"found \{language\}"),
        ("{context} {question} {", "not a valid template"),
    ],
)
def test_bad_prompt_files_are_refused(tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "prompt.txt"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(PromptFileError, match=message) as caught:
        load_prompt(path)
    assert str(path) in str(caught.value)


def test_missing_prompt_file(tmp_path: Path) -> None:
    with pytest.raises(PromptFileError, match="not found"):
        load_prompt(tmp_path / "nope.txt")
