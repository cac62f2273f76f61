"""Optical character recognition of page images (scanned PDF pages, .png and .jpg files) with
rapidocr-onnxruntime, whose Chinese PP-OCRv4 models ship inside its wheel: nothing is downloaded."""
from __future__ import annotations

import io
import threading

from ..errors import UnreadableDocument
from . import Extracted, missing
from .pagelines import TextLine, page_text, reading_order

# PaddleOCR's own default for detection: the page shrunk to at most 960 px on its longer side,
# but a long strip (a scrolled screenshot) no narrower than 480 px, or its text would vanish.
# Boxes found there are mapped back and the lines are cut from the full-resolution image.
DETECT_MAX_SIDE = 960
DETECT_MIN_SIDE = 480
# Lines are recognised 40 px high instead of the 48 px PP-OCRv4 was trained at, and narrowed to
# 0.6 of their width: its recogniser was trained on lines squeezed into 48x320, so it reads small,
# narrowed characters well, and its cost grows with height times width. A margin of half the
# line's height, in the line's own background colour, is added at either end: without it a
# narrowed line's final "。" was lost on a third of single-line images. On the bench scan this
# reads 0.64 pages/s against 0.09 with rapidocr's defaults, at character accuracy 0.990 against
# 0.992 (bench/documents.md).
LINE_HEIGHT = 40
LINE_SQUEEZE = 0.6
LINE_MARGIN = 0.5
MIN_SCORE = 0.5             # rapidocr's own text_score: lines read with less confidence are noise

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
            # One line per recognition call: onnxruntime on this model runs a batch of six long
            # lines 2-4x slower than six single calls (padding, and its arena regrowing per shape).
            # det_limit_side_len: rapidocr enlarges any image whose shorter side is below it; only
            # tiny ones need that, as detection gets the page at DETECT_MAX_SIDE.
            _engine = RapidOCR(rec_batch_num=1, rec_img_shape=[3, LINE_HEIGHT, 320], det_limit_side_len=32)
        return _engine


def _lines(engine, rgb) -> list[TextLine]:
    """The lines rapidocr reads in an RGB array, in its pixels (not yet in reading order)."""
    import cv2
    import numpy as np

    height, width = rgb.shape[:2]
    shrink = min(1.0, max(DETECT_MAX_SIDE / max(height, width), DETECT_MIN_SIDE / min(height, width)))
    small = rgb if shrink == 1.0 else cv2.resize(
        rgb, (max(1, round(width * shrink)), max(1, round(height * shrink))), interpolation=cv2.INTER_AREA)
    boxes, _ = engine.text_det(small)
    if boxes is None or len(boxes) == 0:
        return []
    boxes = [np.asarray(box, dtype=np.float32) / shrink for box in engine.sorted_boxes(boxes)]
    crops = [_narrowed(crop) for crop in engine.get_crop_img_list(rgb, boxes)]
    read, _ = engine.text_rec(crops)
    return [TextLine(float(box[:, 1].min()), float(box[:, 1].max()), float(box[:, 0].min()), float(box[:, 0].max()),
                     text.strip())
            for box, (text, score) in zip(boxes, read) if score >= MIN_SCORE and text.strip()]


def _narrowed(crop):
    import cv2
    import numpy as np

    height = crop.shape[0]
    crop = cv2.resize(crop, (max(8, round(crop.shape[1] * LINE_SQUEEZE)), height), interpolation=cv2.INTER_AREA)
    edge = np.concatenate([crop[0], crop[-1], crop[:, 0], crop[:, -1]])
    background = [int(v) for v in np.median(edge, axis=0)]
    margin = round(height * LINE_MARGIN)
    return cv2.copyMakeBorder(crop, 0, 0, margin, margin, cv2.BORDER_CONSTANT, value=background)


def recognise(image) -> list[TextLine]:
    """The text lines found in a PIL image, in reading order, in pixel coordinates."""
    import numpy as np

    engine = _get_engine()
    try:
        with _engine_lock:
            # No text-direction classifier: on upright scans it turned about one line in six
            # upside down, which then read as nothing and was dropped (bench/documents.md).
            pieces = _lines(engine, np.ascontiguousarray(np.asarray(image.convert("RGB"))))
    except Exception as exc:        # noqa: BLE001 - onnxruntime and opencv raise their own types
        raise UnreadableDocument(f"OCR failed ({type(exc).__name__}: {exc})") from exc
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
