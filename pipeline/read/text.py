"""Printed text with Tesseract: names, addresses and, for typed forms, every other value.

Swedish and Latin-script data for words (names have å, ä, ö, and č, ł, ı …), English data
with a character whitelist for numbers (the stack notes: swe misread every "7,75"; eng with a whitelist read all clean
typed fields). The crop is the filler's ink only (the form's print removed), cut to its
main line of writing (bits of a label the print mask missed, above or below the writing, are
left out: with them Tesseract read "Malin olsson" and "Mohammed berg") and trimmed to the
ink with a white margin, so Tesseract sees one line of writing.
"""

from __future__ import annotations

from dataclasses import replace
from functools import lru_cache

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


@lru_cache(maxsize=1)
def text_lang() -> str:
    return defs.OCR_TEXT_LANG if ocr.has_languages(defs.OCR_TEXT_LANG) else defs.OCR_TEXT_LANG_FALLBACK


def config_for(kind: FieldKind) -> ocr.OcrConfig:
    if kind in _NUMERIC_WHITELIST:
        return ocr.OcrConfig(lang="eng", psm=ocr.PSM_SINGLE_LINE, whitelist=_NUMERIC_WHITELIST[kind])
    return ocr.OcrConfig(lang=text_lang(), psm=ocr.PSM_SINGLE_LINE)


def field_ink(page: RegisteredPage, field: ExpandedField) -> np.ndarray:
    """The field's ink, inset from the ruled box so its edge never counts."""
    return page.ink_crop(field, pad_mm=-defs.READ_INSET_MM)


def has_ink(ink: np.ndarray, dpi: float) -> bool:
    k = dpi / defs.MM_PER_INCH
    return int((ink < defs.INK_LEVEL).sum()) >= defs.READ_MIN_INK_MM2 * k * k


def main_line(ink: np.ndarray, dpi: float) -> np.ndarray:
    """The crop with only its main line of ink kept (whitened elsewhere): rows of ink form
    bands wherever a white gap of more than OCR_LINE_GAP_MM separates them; the band holding
    the most ink is the writing."""
    rows = (ink < defs.INK_LEVEL).sum(axis=1)
    ys = np.nonzero(rows)[0]
    if len(ys) == 0:
        return ink
    gap = defs.OCR_LINE_GAP_MM * dpi / defs.MM_PER_INCH
    breaks = np.nonzero(np.diff(ys) > gap)[0]
    starts = np.concatenate(([ys[0]], ys[breaks + 1]))
    ends = np.concatenate((ys[breaks], [ys[-1]]))
    if len(starts) == 1:
        return ink
    best = int(np.argmax([rows[a:b + 1].sum() for a, b in zip(starts, ends)]))
    out = np.full_like(ink, 255)
    out[starts[best]:ends[best] + 1] = ink[starts[best]:ends[best] + 1]
    return out


def trim(ink: np.ndarray, dpi: float) -> np.ndarray:
    """Crop to the ink with a white margin (Tesseract wants one)."""
    ys, xs = np.nonzero(ink < defs.INK_LEVEL)
    if len(xs) == 0:
        return ink
    m = int(defs.OCR_MARGIN_MM * dpi / defs.MM_PER_INCH)
    crop = ink[ys.min():ys.max() + 1, xs.min():xs.max() + 1]
    return cv2.copyMakeBorder(crop, m, m, m, m, cv2.BORDER_CONSTANT, value=255)


def close_gaps(ink: np.ndarray) -> np.ndarray:
    """The writing with every white gap wider than OCR_GAP_MAX_H times its height narrowed to
    OCR_GAP_KEEP_H times it: a number typed into a comb (one digit a cell, "2 0 2 3 – 0 5"
    with the cells' ticks and dash dropped out) reads to Tesseract as words far apart, and it
    lost digits ("2 05"). Word spaces of print (a third to a half of the capital height) and
    a thousands space are narrower and kept."""
    cols = (ink < defs.INK_LEVEL).any(axis=0)
    rows = np.nonzero((ink < defs.INK_LEVEL).any(axis=1))[0]
    if not cols.any():
        return ink
    h = rows[-1] - rows[0] + 1
    xs = np.nonzero(cols)[0]
    keep = np.ones(ink.shape[1], bool)
    for a, b in zip(xs[:-1], xs[1:]):
        if b - a - 1 > defs.OCR_GAP_MAX_H * h:
            keep[a + 1 + int(defs.OCR_GAP_KEEP_H * h): b] = False
    return ink[:, keep]


def ocr_image(ink: np.ndarray, dpi: float, numeric: bool = False) -> np.ndarray:
    """What Tesseract is shown: the main line, trimmed, with a white margin, and for a
    number its wide gaps closed (:func:`close_gaps`). Not rescaled: scaling typed fields to a
    standard height gained nothing on the calibration set (313 of 318 typed numbers right
    either way) and upscaling a 1-bit 200 dpi crop made a dotted zero a 9 with 0.92
    confidence."""
    line = main_line(ink, dpi)
    return trim(close_gaps(line) if numeric else line, dpi)


def text_image(page: RegisteredPage, field: ExpandedField) -> np.ndarray | None:
    """What Tesseract is shown of the field (:func:`ocr_image` of its ink); None when there
    is no ink."""
    ink = field_ink(page, field)
    if not has_ink(ink, page.dpi):
        return None
    return ocr_image(ink, page.dpi, numeric=field.kind in _NUMERIC_WHITELIST)


def read_text(page: RegisteredPage, field: ExpandedField, image: np.ndarray | None = None,
              psm: int | None = None) -> ocr.OcrResult | None:
    """Tesseract's reading of the field (text, confidences); None when there is no ink.
    ``image``: its :func:`text_image`, when the caller has it; ``psm``: another page
    segmentation mode than the kind's."""
    image = image if image is not None else text_image(page, field)
    if image is None:
        return None
    cfg = config_for(field.kind)
    return ocr.read(image, replace(cfg, psm=psm) if psm is not None else cfg)


# Letters whose foot is not on the baseline (descenders), and J and Q whose tails reach below
# it in many fonts: their bottoms say nothing about a baseline.
_OFF_BASELINE = frozenset("gjpqyJQ")


def baseline_share(r: ocr.OcrResult) -> float | None:
    """The share of a reading's letters and digits whose bottoms lie on one straight line
    (within TEXT_BASELINE_TOL of their median height): about 1 for print, well below for a
    hand. The line is the median of the pairwise slopes (Theil–Sen) through the bottoms,
    placed at their median, so a slightly skewed page and a few wrong symbol boxes do not
    matter; boxes too tall for one letter are left out (TEXT_BOX_HEIGHT_MAX). None with
    fewer than TEXT_BASELINE_MIN_LETTERS letters, or without symbol boxes (the fallback
    engine): then the text counts as hand-written, on the stricter threshold."""
    boxes = np.array([b for (c, _), b in zip(r.symbols, r.boxes) if c.isalnum() and c not in _OFF_BASELINE],
                     dtype=np.float64).reshape(-1, 4)
    if len(boxes):  # a box Tesseract gave two letters, one a descender, is too tall
        heights = boxes[:, 3] - boxes[:, 1]
        boxes = boxes[heights <= defs.TEXT_BOX_HEIGHT_MAX * np.percentile(heights, 75)]
    if len(boxes) < defs.TEXT_BASELINE_MIN_LETTERS:
        return None
    x, y = (boxes[:, 0] + boxes[:, 2]) / 2, boxes[:, 3]
    i, j = np.triu_indices(len(x), 1)
    apart = x[j] != x[i]
    slope = float(np.median((y[j] - y[i])[apart] / (x[j] - x[i])[apart])) if apart.any() else 0.0
    resid = y - slope * x
    resid -= np.median(resid)
    tol = max(1.0, defs.TEXT_BASELINE_TOL * float(np.median(boxes[:, 3] - boxes[:, 1])))
    return float(np.mean(np.abs(resid) <= tol))
