"""Make image-only PDFs showing printed text, as a scanner would: the text is pixels, not a text layer."""

from __future__ import annotations

import io
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from PIL.Image import Image

PAGE_WIDTH, PAGE_HEIGHT = 612, 792  # US Letter, points
DPI = 200
FONT_PIXELS = 44  # about 16 pt at 200 dpi


def make_scanned_text_pdf(path: Path, pages: Sequence[Sequence[str]]) -> Path:
    """Write a PDF with one full-page bitmap per entry of `pages`, each line of text drawn into it."""
    from reportlab.lib.utils import ImageReader
    from reportlab.pdfgen import canvas

    buffer = io.BytesIO()
    pdf = canvas.Canvas(buffer, pagesize=(PAGE_WIDTH, PAGE_HEIGHT), invariant=1)
    for lines in pages:
        pdf.drawImage(ImageReader(_page_image(lines)), 0, 0, width=PAGE_WIDTH, height=PAGE_HEIGHT)
        pdf.showPage()
    pdf.save()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(buffer.getvalue())
    return path


def _page_image(lines: Sequence[str]) -> Image:
    import reportlab
    from PIL import Image, ImageDraw, ImageFont

    font = ImageFont.truetype(str(Path(reportlab.__file__).parent / "fonts" / "Vera.ttf"), FONT_PIXELS)
    image = Image.new("L", (PAGE_WIDTH * DPI // 72, PAGE_HEIGHT * DPI // 72), color=255)
    draw = ImageDraw.Draw(image)
    for row, line in enumerate(lines):
        draw.text((DPI, DPI + row * FONT_PIXELS * 2), line, fill=0, font=font)
    return image.convert("1")
