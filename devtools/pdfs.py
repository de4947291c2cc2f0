"""Make small real PDFs for tests: text pages, printed footers, page labels, encryption, scans, damage.

Every function writes a file (creating parent folders) and returns its path. Text is laid out one input
line per PDF line (long lines are wrapped at about 90 characters), so "pay-\\nment" in the input really ends
a printed line with "pay-". Blank lines in the input become paragraph gaps. A page holds about 40 lines
(ValueError when the text does not fit).

    make_text_pdf(tmp / "a.pdf", ["First page text.", "Second page."])
    make_text_pdf(tmp / "b.pdf", pages, labels=["i", "ii", "1", "2"])      # /PageLabels, one per page
    make_text_pdf(tmp / "c.pdf", pages, footer_numbers=41)                 # prints 41, 42, ... at the bottom
    make_text_pdf(tmp / "d.pdf", pages, encrypt_password="secret")        # needs a password to open
    make_text_pdf(tmp / "e.pdf", pages, encrypt_password="")              # encrypted, opens without one
    make_image_only_pdf(tmp / "scan.pdf")                                  # a scanned page: no text layer
    make_garbage_file(tmp / "junk.pdf"); make_truncated_pdf(tmp / "cut.pdf")
"""

from __future__ import annotations

import io
import re
import textwrap
from collections.abc import Sequence
from pathlib import Path

PAGE_WIDTH, PAGE_HEIGHT = 612, 792  # US Letter, points
MARGIN = 72
WRAP_CHARS = 90


def make_text_pdf(
    path: Path,
    pages: Sequence[str],
    *,
    labels: Sequence[str] | None = None,
    footer_numbers: int | None = None,
    footers: Sequence[str | None] | None = None,
    header: str | None = None,
    title: str | None = None,
    encrypt_password: str | None = None,
    encrypt_algorithm: str = "RC4-128",
    font_size: int = 11,
) -> Path:
    """Write a PDF with one page per string of `pages`.

    labels: a printed page label per page ("i", "ii", "1", "F-3", "IV", "Cover"), stored as /PageLabels.
    footer_numbers: print a page number alone on the last line, starting at this number on the first page.
    footers: explicit footer text per page (None = no footer); overrides footer_numbers.
    header: a running header line printed at the top of every page.
    title: the document-information /Title.
    encrypt_password: encrypt with this user password; "" gives a file anyone can open.
    encrypt_algorithm: pypdf's name for it: "RC4-128" (default), "AES-128", "AES-256" (AES needs the
    `cryptography` package to write and to read).
    """
    if labels is not None and len(labels) != len(pages):
        raise ValueError("labels needs one entry per page")
    if footers is None and footer_numbers is not None:
        footers = [str(footer_numbers + index) for index in range(len(pages))]
    if footers is not None and len(footers) != len(pages):
        raise ValueError("footers needs one entry per page")
    data = _render(pages, footers, header, font_size)
    if labels is not None or title is not None or encrypt_password is not None:
        data = _post_process(data, labels, title, encrypt_password, encrypt_algorithm)
    return _write(path, data)


def make_image_only_pdf(path: Path, pages: int = 1) -> Path:
    """Write a PDF whose pages are only a bitmap (like a scan): there is no text to extract."""
    from PIL import Image, ImageDraw
    from reportlab.lib.utils import ImageReader
    from reportlab.pdfgen import canvas

    image = Image.new("1", (400, 200), color=1)
    draw = ImageDraw.Draw(image)
    for row in range(20, 180, 16):  # strokes that look like lines of print, but are pixels
        draw.rectangle((20, row, 380 - (row % 50), row + 6), fill=0)
    buffer = io.BytesIO()
    pdf = canvas.Canvas(buffer, pagesize=(PAGE_WIDTH, PAGE_HEIGHT), invariant=1)
    for _ in range(pages):
        pdf.drawImage(ImageReader(image), MARGIN, PAGE_HEIGHT - MARGIN - 300, width=400, height=200)
        pdf.showPage()
    pdf.save()
    return _write(path, buffer.getvalue())


def make_empty_file(path: Path) -> Path:
    """Write a zero-byte file."""
    return _write(path, b"")


def make_garbage_file(path: Path, data: bytes = b"this is not a PDF at all\x00\x01\x02" * 40) -> Path:
    """Write bytes that are not a PDF."""
    return _write(path, data)


def make_truncated_pdf(path: Path, fraction: float = 0.4) -> Path:
    """Write the first `fraction` of a valid multi-page PDF, as a half-finished download would leave it."""
    whole = _render([f"Page {n} of a file that was cut short." for n in range(1, 6)], None, None, 11)
    return _write(path, whole[: int(len(whole) * fraction)])


def make_bad_xref_pdf(path: Path, pages: Sequence[str] = ("A file whose xref offset is wrong.",)) -> Path:
    """Write a readable PDF whose startxref offset is wrong: pypdf recovers and logs a warning."""
    data = _render(pages, None, None, 11)
    data = re.sub(rb"startxref\s+(\d+)", lambda m: b"startxref\n" + str(int(m.group(1)) + 7).encode(), data)
    return _write(path, data)


def _write(path: Path, data: bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def _render(
    pages: Sequence[str], footers: Sequence[str | None] | None, header: str | None, size: int
) -> bytes:
    from reportlab.pdfgen import canvas

    buffer = io.BytesIO()
    pdf = canvas.Canvas(buffer, pagesize=(PAGE_WIDTH, PAGE_HEIGHT), invariant=1)
    leading = size * 1.4
    for index, text in enumerate(pages):
        pdf.setFont("Helvetica", size)
        if header:
            pdf.drawString(MARGIN, PAGE_HEIGHT - MARGIN / 2, header)
        y = float(PAGE_HEIGHT - MARGIN)
        for line in _layout(text):
            if y < MARGIN:  # keep clear of the footer
                raise ValueError(f"page {index + 1} holds more text than fits on one page")
            if line:
                pdf.drawString(MARGIN, y, line)
            y -= leading
        footer = footers[index] if footers is not None else None
        if footer:
            pdf.drawCentredString(PAGE_WIDTH / 2, MARGIN / 2, footer)
        pdf.showPage()
    pdf.save()
    return buffer.getvalue()


def _layout(text: str) -> list[str]:
    lines: list[str] = []
    for line in text.split("\n"):
        if len(line) <= WRAP_CHARS:
            lines.append(line)
        else:
            lines.extend(textwrap.wrap(line, WRAP_CHARS, break_long_words=False, break_on_hyphens=False))
    return lines


def _post_process(
    data: bytes,
    labels: Sequence[str] | None,
    title: str | None,
    encrypt_password: str | None,
    encrypt_algorithm: str,
) -> bytes:
    from pypdf import PdfReader, PdfWriter

    writer = PdfWriter(clone_from=PdfReader(io.BytesIO(data)))
    for index, label in enumerate(labels or []):
        style, prefix, start = _label_parts(label)
        writer.set_page_label(index, index, style=style, prefix=prefix, start=start)  # type: ignore[arg-type]
    if title is not None:
        writer.add_metadata({"/Title": title})
    if encrypt_password is not None:
        writer.encrypt(encrypt_password, "owner-secret", algorithm=encrypt_algorithm)
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


_ROMAN = re.compile(r"^(?=[ivxlcdm]+$)m{0,3}(cm|cd|d?c{0,3})(xc|xl|l?x{0,3})(ix|iv|v?i{0,3})$")
_ROMAN_VALUES = {"i": 1, "v": 5, "x": 10, "l": 50, "c": 100, "d": 500, "m": 1000}


def _label_parts(label: str) -> tuple[str | None, str | None, int | None]:
    """A printed label as a /PageLabels range: (style, prefix, start)."""
    if label.isdigit():
        return "/D", None, int(label)
    if (label.islower() or label.isupper()) and _ROMAN.match(label.lower()):
        return ("/r" if label.islower() else "/R"), None, _roman(label.lower())
    match = re.match(r"^(.*\D)(\d+)$", label)
    if match:
        return "/D", match.group(1), int(match.group(2))
    return None, label, None


def _roman(token: str) -> int:
    values = [_ROMAN_VALUES[ch] for ch in token]
    return sum(-v if i + 1 < len(values) and values[i + 1] > v else v for i, v in enumerate(values))
