"""Citations of pages read by OCR say so, page by page."""

from __future__ import annotations

from bot.answer import Answer, Source
from bot.slack.render import render_answer


def test_only_the_ocr_pages_are_marked() -> None:
    sources = [
        Source("mixed.pdf", 1, "1", "typed page", 0.9),
        Source("mixed.pdf", 2, "2", "scanned page", 0.8, ocr=True),
        Source("typed.pdf", 4, "iv", "another", 0.7),
    ]
    [message] = render_answer(Answer(question="q", text="a", mode="llm", sources=sources))
    assert "*mixed.pdf* — p. 1, p. 2 (OCR)" in message.text
    assert "*typed.pdf* — p. 4 (printed iv)\n" in message.text
    assert message.text.count("(OCR)") == 1
