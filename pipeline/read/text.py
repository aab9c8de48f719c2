"""Printed text with Tesseract: names, addresses and, for typed forms, every other value.

Swedish data for words (names have å, ä, ö), English data with a character whitelist for
numbers (the stack notes: swe misread every "7,75"; eng with a whitelist read all clean
typed fields). The crop is the filler's ink only (the form's print removed), trimmed to the
ink with a white margin, so Tesseract sees one line of writing.
"""

from __future__ import annotations

import cv2
import numpy as np

from pipeline import defs, ocr
from pipeline.forms import ExpandedField, FieldKind
from pipeline.register import RegisteredPage

_NUMERIC_WHITELIST = {
    FieldKind.personnummer: "0123456789-+",
    FieldKind.organisationsnummer: "0123456789-",
    FieldKind.date: "0123456789-/.",
    FieldKind.year_month: "0123456789-",
    FieldKind.clock_time: "0123456789.:,",
    FieldKind.day: "0123456789",
    FieldKind.hours: "0123456789",
    FieldKind.minutes: "0123456789",
    FieldKind.amount: "0123456789 ,.:-",
    FieldKind.phone: "0123456789 -+()/",
}


def config_for(kind: FieldKind) -> ocr.OcrConfig:
    if kind in _NUMERIC_WHITELIST:
        return ocr.OcrConfig(lang="eng", psm=ocr.PSM_SINGLE_LINE, whitelist=_NUMERIC_WHITELIST[kind])
    return ocr.OcrConfig(lang="swe", psm=ocr.PSM_SINGLE_LINE)


def field_ink(page: RegisteredPage, field: ExpandedField) -> np.ndarray:
    """The field's ink, inset from the ruled box so its edge never counts."""
    return page.ink_crop(field, pad_mm=-defs.READ_INSET_MM)


def has_ink(ink: np.ndarray, dpi: float) -> bool:
    k = dpi / defs.MM_PER_INCH
    return int((ink < defs.INK_LEVEL).sum()) >= defs.READ_MIN_INK_MM2 * k * k


def trim(ink: np.ndarray, dpi: float) -> np.ndarray:
    """Crop to the ink with a white margin (Tesseract wants one)."""
    ys, xs = np.nonzero(ink < defs.INK_LEVEL)
    if len(xs) == 0:
        return ink
    m = int(defs.OCR_MARGIN_MM * dpi / defs.MM_PER_INCH)
    crop = ink[ys.min():ys.max() + 1, xs.min():xs.max() + 1]
    return cv2.copyMakeBorder(crop, m, m, m, m, cv2.BORDER_CONSTANT, value=255)


def read_text(page: RegisteredPage, field: ExpandedField) -> tuple[str, float] | None:
    """Tesseract's reading of the field and its confidence (0..1); None when no ink."""
    ink = field_ink(page, field)
    if not has_ink(ink, page.dpi):
        return None
    r = ocr.read(trim(ink, page.dpi), config_for(field.kind))
    return r.text, r.confidence
