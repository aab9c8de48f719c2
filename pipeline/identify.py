"""Stage 2b, identify: which form, page and layout version a page is, and which way is up.

FK prints an 8-digit skanningsID vertically in the left margin (form + page code) and a
vertical footer naming form and layout version ("FK 3059 (016 F 003) …"). The ID is read
first; the footer settles layout versions that share IDs (3059 015 and 016). A page whose
texts cannot be read is matched against the templates' ruling (see ``register.match_layout``).
Blank pages and pages of no form (letters, attachments) are kept as such, never dropped.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Literal

import cv2
import numpy as np

from pipeline import defs, ocr
from pipeline.forms import FormTemplate, TemplateRegistry
from pipeline.ingest import PageImage
from pipeline.orient import OrientedPage, dark_mask, orient, rotation_candidates

PageKind = Literal["form", "blank", "other", "unreadable"]

_DIGITS = ocr.OcrConfig(lang="eng", psm=ocr.PSM_SINGLE_LINE, whitelist="0123456789")
_FOOTER = ocr.OcrConfig(lang="eng", psm=ocr.PSM_SINGLE_LINE)
_ID_RE = re.compile(r"3\d{7}")
# The form and layout version FK prints in the footer: "FK 3059 (015 F 001)".
_FOOTER_VERSION_RE = re.compile(r"(\d{4})\s*\(\s*(\d{3})\s*([A-Z])\s*(\d{3})\s*\)")


@dataclass(frozen=True)
class Identification:
    kind: PageKind
    form: str | None = None
    version: str | None = None
    page_number: int | None = None
    skanningsid: str | None = None  # as read
    footer: str | None = None  # as read
    method: str = "none"  # skanningsid | skanningsid+footer | skanningsid+size | layout | none
    reason: str | None = None  # for pages that are not identified

    @property
    def key(self) -> str | None:
        return f"{self.form}/{self.version}/{self.page_number}" if self.kind == "form" else None


@dataclass(frozen=True)
class IdentifiedPage:
    oriented: OrientedPage | None  # None for pages that could not be decoded
    ident: Identification

    @property
    def page(self) -> PageImage:
        return self.oriented.page


@lru_cache(maxsize=8)
def _windows(registry: TemplateRegistry, attr: str) -> tuple[tuple[float, float, float, float], ...]:
    """Search windows (mm: x0, y0, x1, y1) for the vertical texts: one per distinct place the
    templates print them (layouts differ: 016 at x ≈ 9 mm, 015 on US letter at x ≈ 18 mm),
    widened by the shift and scale still possible after deskew."""
    boxes = sorted({tuple(round(v / 2) * 2 for v in getattr(p, attr)) for t in registry for p in t.pages})
    wins: list[list[float]] = []
    for x, y, w, h in boxes:
        for win in wins:
            if abs(win[0] + defs.ID_SEARCH_MARGIN_X_MM - x) < 3:  # same column: merge
                win[1] = min(win[1], y - defs.ID_SEARCH_MARGIN_MM)
                win[3] = max(win[3], y + h + defs.ID_SEARCH_MARGIN_MM)
                win[2] = max(win[2], x + w + defs.ID_SEARCH_MARGIN_X_MM)
                break
        else:
            wins.append([x - defs.ID_SEARCH_MARGIN_X_MM, y - defs.ID_SEARCH_MARGIN_MM,
                         x + w + defs.ID_SEARCH_MARGIN_X_MM, y + h + defs.ID_SEARCH_MARGIN_MM])
    return tuple((max(0.0, a), max(0.0, b), c, d) for a, b, c, d in wins)


def _crop_vertical_text(img: np.ndarray, dpi: float, window: tuple) -> np.ndarray:
    """Crop a window (mm), turn its bottom-to-top text to read left to right, and keep only
    the glyphs of its main text line: rules of the form's frame and neighbouring print that
    reach into the window confuse Tesseract's line finder."""
    px = dpi / defs.MM_PER_INCH
    x0, y0, x1, y1 = (int(round(v * px)) for v in window)
    crop = img[max(0, y0):min(img.shape[0], y1), max(0, x0):min(img.shape[1], x1)]
    crop = np.ascontiguousarray(np.rot90(crop, k=-1))
    if crop.size == 0:
        return crop
    ink = (crop < 160).astype(np.uint8)
    n, labels, stats, _ = cv2.connectedComponentsWithStats(ink, connectivity=8)
    h, w = crop.shape
    lo, hi = defs.ID_GLYPH_HEIGHT_MM[0] * px, defs.ID_GLYPH_HEIGHT_MM[1] * px
    wmax = defs.ID_GLYPH_MAX_WIDTH_MM * px
    keep = np.zeros(n, bool)
    for i in range(1, n):
        x, y, ww, hh, area = stats[i]
        # glyph-sized (touching glyphs make wider components) or a small dot or dash, and
        # not cut by the window's edge (rules and neighbouring print are)
        glyph = lo <= hh <= hi and ww <= wmax
        mark = hh < lo and ww < lo and area > 2
        inside = 0 < y and y + hh < h and 0 < x and x + ww < w
        keep[i] = inside and (glyph or mark)
    mask = keep[labels]
    rows = mask.sum(axis=1)
    if rows.sum() == 0:
        return np.zeros((0, 0), np.uint8)
    # the text line: the band of rows around the densest row
    peak = int(np.argmax(rows))
    top, bottom = peak, peak
    while top > 0 and rows[top - 1] > 0:
        top -= 1
    while bottom < h - 1 and rows[bottom + 1] > 0:
        bottom += 1
    band = np.where(mask, crop, 255).astype(np.uint8)[max(0, top - 2):bottom + 3]
    pad = int(defs.ID_PAD_MM * px)
    return cv2.copyMakeBorder(band, pad, pad, pad, pad, cv2.BORDER_CONSTANT, value=255)


def read_skanningsid(op: OrientedPage, registry: TemplateRegistry) -> str | None:
    for win in _windows(registry, "skanningsid_box"):
        crop = _crop_vertical_text(op.image, op.dpi, win)
        if crop.size == 0:
            continue
        for candidate in (crop, _thicken(crop)):
            text = ocr.read(candidate, _DIGITS).text.replace(" ", "")
            for m in _ID_RE.finditer(text):
                if registry.by_skanningsid(m.group()):
                    return m.group()
    return None


def _thicken(crop: np.ndarray) -> np.ndarray:
    """Thin 1-bit print can break up; a light erosion of the paper (= dilation of ink) helps."""
    return cv2.erode(crop, np.ones((2, 2), np.uint8))


def read_footer(op: OrientedPage, registry: TemplateRegistry) -> str | None:
    texts = []
    for win in _windows(registry, "footer_box"):
        crop = _crop_vertical_text(op.image, op.dpi, win)
        if crop.size:
            texts.append(ocr.read(crop, _FOOTER).text)
    return " | ".join(t for t in texts if t) or None


def unknown_version(footer: str | None, registry: TemplateRegistry) -> tuple[str, str] | None:
    """(form, version) when the footer legibly names a layout version of a known form that
    no template has; None when it names a known one (give or take an OCR misread), or cannot
    be read."""
    m = _FOOTER_VERSION_RE.search(footer or "")
    if m is None:
        return None
    form, version = m.group(1), "".join(m.groups()[1:])
    known = {t.version for t in registry.templates if t.form == form}
    # one character off a known version is OCR noise (a 6 read as 5), not a new layout
    near = any(sum(a != b for a, b in zip(version, k)) <= defs.FOOTER_VERSION_MAX_MISREAD for k in known)
    return (form, version) if known and not near else None


def _unknown_layout(op: OrientedPage, footer: str | None, registry: TemplateRegistry,
                    scan_id: str | None = None) -> IdentifiedPage | None:
    """The page kept as unreadable when its footer names a layout version we have no
    template of (:func:`unknown_version`); None otherwise."""
    unknown = unknown_version(footer, registry)
    if unknown is None:
        return None
    return IdentifiedPage(op, Identification(
        "unreadable", skanningsid=scan_id, footer=footer,
        reason=f"layout version {unknown[1]} of form {unknown[0]} is not known (footer: {footer!r})"))


def _closest_footer(text: str, candidates: list[tuple[FormTemplate, int]]) -> tuple[FormTemplate, int] | None:
    """The candidate whose footer the OCR text resembles most (OCR garbles small print)."""
    norm = lambda s: re.sub(r"[^0-9A-Za-z]", "", s).upper()  # noqa: E731
    scored = [(difflib.SequenceMatcher(None, norm(text), norm(t.footer)).ratio(), t.version, (t, n))
              for t, n in candidates]
    scored.sort(key=lambda s: (s[0], s[1]), reverse=True)
    if scored and scored[0][0] >= defs.FOOTER_MIN_SIMILARITY and (
            len(scored) == 1 or scored[0][0] - scored[1][0] >= defs.FOOTER_MIN_MARGIN):
        return scored[0][2]
    return None


def _by_paper_size(op: OrientedPage, candidates: list[tuple[FormTemplate, int]]) -> tuple[FormTemplate, int] | None:
    """Tell layouts apart by paper (A4 vs US letter) when the scan kept the paper's size."""
    h, w = op.image.shape
    w_mm, h_mm = w / op.dpi * defs.MM_PER_INCH, h / op.dpi * defs.MM_PER_INCH
    fits = [(abs(t.page_size_of(n)[0] - w_mm) + abs(t.page_size_of(n)[1] - h_mm), (t, n)) for t, n in candidates]
    fits.sort(key=lambda f: f[0])
    if len(fits) > 1 and fits[1][0] - fits[0][0] < defs.PAPER_SIZE_MARGIN_MM:
        return None
    return fits[0][1]


def ink_share(img: np.ndarray, dpi: float) -> float:
    """Share of dark pixels away from the edges (where scanner borders are)."""
    small = cv2.resize(img, None, fx=50 / dpi, fy=50 / dpi, interpolation=cv2.INTER_AREA) if dpi > 50 else img
    e = int(defs.EDGE_IGNORE_MM * 50 / defs.MM_PER_INCH)
    inner = small[e:-e, e:-e] if min(small.shape) > 2 * e + 10 else small
    return float(dark_mask(inner).mean())


def identify(page: PageImage, registry: TemplateRegistry) -> IdentifiedPage:
    if page.image is None:
        return IdentifiedPage(None, Identification("unreadable", reason=page.error))
    if ink_share(page.image, page.dpi) < defs.BLANK_MAX_INK_SHARE:
        return IdentifiedPage(orient(page, 0, 0.0), Identification("blank", reason="blank page"))
    candidates = rotation_candidates(page.image, page.dpi)
    skew = None
    tried: list[OrientedPage] = []
    for rotation in candidates:
        op = orient(page, rotation, skew)
        skew = op.skew_deg  # the other candidate is this one turned 180°: same skew
        tried.append(op)
        scan_id = read_skanningsid(op, registry)
        if scan_id is None:
            continue
        found = registry.by_skanningsid(scan_id)
        footer = read_footer(op, registry)
        unknown = _unknown_layout(op, footer, registry, scan_id)
        if unknown is not None:  # FK kept the skanningsID on a layout we have no template of
            return unknown
        if len(found) == 1:
            t, n = found[0]
            return IdentifiedPage(op, Identification("form", t.form, t.version, n, scan_id, footer, "skanningsid"))
        pick = _closest_footer(footer, found) if footer else None
        method = "skanningsid+footer"
        if pick is None:
            pick, method = _by_paper_size(op, found), "skanningsid+size"
        if pick is not None:
            t, n = pick
            return IdentifiedPage(op, Identification("form", t.form, t.version, n, scan_id, footer, method))
        return IdentifiedPage(op, Identification("unreadable", skanningsid=scan_id, footer=footer,
                                                 reason=f"skanningsID {scan_id} read, layout version not decided"))
    from pipeline.register import match_layout  # the fallback needs the template ruling

    for op in tried:
        m = match_layout(op, registry)
        if m is not None:
            t, n = m
            footer = read_footer(op, registry)
            unknown = _unknown_layout(op, footer, registry)
            if unknown is not None:
                return unknown
            return IdentifiedPage(op, Identification("form", t.form, t.version, n, footer=footer, method="layout"))
    return IdentifiedPage(tried[0], Identification("other", reason="no skanningsID and no form layout recognised"))
