"""Read the text of a scanned page (a page that is only images) with Tesseract, when it is installed."""

from __future__ import annotations

import logging
import shutil
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from PIL.Image import Image
    from pypdf import PageObject

logger = logging.getLogger(__name__)

TESSERACT = "tesseract"
LANGUAGE = "eng"
MIN_IMAGE_PIXELS = 64  # smaller images are logos, rules and bullets, not text
TARGET_DPI = 300  # Tesseract reads best around 300 dpi
MIN_DPI = 200
MAX_SIDE_PIXELS = 6000
POINTS_PER_INCH = 72


def tesseract_available() -> bool:
    """True when the tesseract program and the pytesseract binding are both installed."""
    if shutil.which(TESSERACT) is None:
        return False
    try:
        import pytesseract  # noqa: F401
    except ImportError:
        return False
    return True


def ocr_page(page: PageObject, language: str = LANGUAGE) -> str:
    """The text Tesseract reads in the page's images (top to bottom as stored); "" when it finds none."""
    texts = []
    width_inches = float(page.mediabox.width) / POINTS_PER_INCH or 8.5
    for image in _page_images(page):
        try:
            texts.append(_read_image(image, width_inches, language))
        except Exception as exc:  # a broken image or a Tesseract failure costs this image, not the file
            logger.debug("ocr_image_failed detail=%s", exc)
    return "\n\n".join(text for text in texts if text.strip())


def _page_images(page: PageObject) -> list[Image]:
    images = []
    try:
        files = list(page.images)
    except Exception as exc:  # pypdf cannot decode every image filter
        logger.debug("ocr_images_unreadable detail=%s", exc)
        return []
    for file in files:
        try:
            image = file.image
        except Exception as exc:
            logger.debug("ocr_image_undecodable name=%s detail=%s", file.name, exc)
            continue
        if image is not None and min(image.size) >= MIN_IMAGE_PIXELS:
            images.append(image)
    return images


def _read_image(image: Image, page_width_inches: float, language: str) -> str:
    import pytesseract

    # A scan usually spans the page: its width in pixels over the page's width in inches is its dpi.
    dpi = image.width / page_width_inches
    if dpi < MIN_DPI:
        scale = min(TARGET_DPI / max(dpi, 1.0), MAX_SIDE_PIXELS / max(image.size))
        if scale > 1:
            image = image.resize((round(image.width * scale), round(image.height * scale)))
            dpi *= scale
    config = f"--dpi {max(70, round(dpi))}"
    return str(pytesseract.image_to_string(image.convert("L"), lang=language, config=config))
