"""How a cited page is written in every front end (CLI, console, Slack): one label, file names made safe."""

from __future__ import annotations

from bot.answer import Source, display_name


def page_label(source: Source) -> str:
    """Like "p. 53 (printed 51)"; the printed label only when it differs from the page number."""
    label = f"p. {source.page}"
    if source.page_label and source.page_label != str(source.page):
        label += f" (printed {display_name(source.page_label)})"
    return label


def ocr_mark(source: Source) -> str:
    """Text read from a scan by OCR may contain misread words; say so next to the page."""
    return " (OCR)" if source.ocr else ""


def citation(source: Source) -> str:
    """Like "report.pdf — p. 53 (printed 51) (OCR)", with control characters in the name escaped."""
    return f"{display_name(source.file)} — {page_label(source)}{ocr_mark(source)}"
