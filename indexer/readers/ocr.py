"""Optical character recognition of page images (scanned PDF pages, .png and .jpg files) with
rapidocr-onnxruntime, whose Chinese PP-OCRv4 models ship inside its wheel: nothing is downloaded."""
from __future__ import annotations

import io
import threading

from ..errors import UnreadableDocument
from . import Extracted, missing
from .pagelines import TextLine, page_text, reading_order

_engine = None
_engine_lock = threading.Lock()     # one engine per process; onnxruntime sessions are not cheap


def _get_engine():
    global _engine
    with _engine_lock:
        if _engine is None:
            try:
                from rapidocr_onnxruntime import RapidOCR
            except ImportError as exc:
                raise UnreadableDocument(missing("rapidocr-onnxruntime", "scanned pages and images")) from exc
            _engine = RapidOCR()
        return _engine


def recognise(image) -> list[TextLine]:
    """The text lines found in a PIL image, in reading order, in pixel coordinates."""
    import numpy as np

    engine = _get_engine()
    try:
        with _engine_lock:
            # No text-direction classifier: on upright scans it turned about one line in six
            # upside down, which then read as nothing and was dropped (bench/documents.md).
            result, _ = engine(np.asarray(image.convert("RGB")), use_cls=False)
    except Exception as exc:        # noqa: BLE001 - onnxruntime and opencv raise their own types
        raise UnreadableDocument(f"OCR failed ({type(exc).__name__}: {exc})") from exc
    pieces = []
    for box, text, _score in result or []:
        text = text.strip()
        if text:
            xs, ys = [pt[0] for pt in box], [pt[1] for pt in box]
            pieces.append(TextLine(min(ys), max(ys), min(xs), max(xs), text))
    return reading_order(pieces, image.width)


def read(data: bytes, name: str) -> Extracted:
    """A .png or .jpg image: its recognised text, one page."""
    try:
        from PIL import Image, UnidentifiedImageError
    except ImportError as exc:
        raise UnreadableDocument(missing("Pillow", "images")) from exc
    try:
        image = Image.open(io.BytesIO(data))
        image.load()
    except (UnidentifiedImageError, OSError, Image.DecompressionBombError) as exc:
        raise UnreadableDocument(f"is not a readable image ({exc})") from exc
    text = page_text(recognise(image))
    if not text.strip():
        raise UnreadableDocument("OCR found no text in the image")
    return Extracted(text=text, kind="image", encoding="", notes=("read by OCR",))
