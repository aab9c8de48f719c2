"""The replica renderer draws what the template says, where it says it.

Per template: page count and sizes of the PDF; every boxed field's four rules found on the
200 dpi raster at the template position (within 0.3 mm); the vertical skanningsID and the
footer's version label read back with Tesseract. The edge check is shown to fail on a box
that is not where the template says.
"""

from __future__ import annotations

import io
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pypdfium2 as pdfium
import pytest
import pytesseract
from PIL import Image

from pipeline.forms import FormTemplate, load_template
from pipeline.synth.render import (
    blank_pdf_bytes,
    mm_to_px,
    pt_to_mm,
    px_to_mm,
    rasterize_pdf,
    render_blank_image,
    render_blank_pdf,
)

DPI = 200
# A rule must be found within this distance (mm) of the template's edge position.
EDGE_TOL_MM = 0.3
# A pixel darker than this (0 black … 255 white) is ink.
INK_LEVEL = 128
# Share of an edge's pixels (ends left out) that must be ink on the best row/column.
EDGE_INK_SHARE = 0.9
# The ends of an edge are where the perpendicular rules cross: left out of the count (mm).
EDGE_END_MARGIN_MM = 0.5
# Page sizes of the PDF agree with the template within this (mm).
PAGE_SIZE_TOL_MM = 0.1
# OCR crops: the box plus this margin (mm), scaled up by this factor (Tesseract reads small
# print better at a cap height of 20–30 px).
OCR_MARGIN_MM = 1.0
OCR_UPSCALE = 3
TESSERACT_DIGITS = "--psm 7 -c tessedit_char_whitelist=0123456789"
TESSERACT_LINE = "--psm 7"


@dataclass(frozen=True)
class EdgeHit:
    edge: str  # top / bottom / left / right
    found: bool
    offset_mm: float | None  # measured rule position minus template position (None: not found)
    ink_share: float  # best share of ink along the edge within the tolerance


def frame_edges(img: np.ndarray, box, dpi: int, tol_mm: float = EDGE_TOL_MM) -> list[EdgeHit]:
    """Look for the four rules of ``box`` (mm) on a greyscale page raster.

    For each edge, every pixel row (column) whose centre is within ``tol_mm`` of the edge is
    scored by its share of ink along the edge; the edge is found when the best one reaches
    EDGE_INK_SHARE."""
    x, y, w, h = box
    ink = img < INK_LEVEL
    hits = []
    for edge, horizontal, pos, a, b in (
        ("top", True, y, x, x + w),
        ("bottom", True, y + h, x, x + w),
        ("left", False, x, y, y + h),
        ("right", False, x + w, y, y + h),
    ):
        p = mm_to_px(pos, dpi)
        lo = int(round(mm_to_px(a + EDGE_END_MARGIN_MM, dpi)))
        hi = int(round(mm_to_px(b - EDGE_END_MARGIN_MM, dpi)))
        t = mm_to_px(tol_mm, dpi)
        best, best_i = 0.0, None
        for i in range(int(np.floor(p - t - 0.5)), int(np.ceil(p + t - 0.5)) + 1):
            if abs(i + 0.5 - p) > t or not (0 <= i < (ink.shape[0] if horizontal else ink.shape[1])):
                continue
            run = ink[i, lo:hi] if horizontal else ink[lo:hi, i]
            share = float(run.mean()) if run.size else 0.0
            if share > best:
                best, best_i = share, i
        found = best >= EDGE_INK_SHARE
        off = px_to_mm(best_i + 0.5 - p, dpi) if found else None
        hits.append(EdgeHit(edge, found, off, best))
    return hits


def _pdf(template: FormTemplate) -> bytes:
    return blank_pdf_bytes(template)


def _crop_mm(img: np.ndarray, box, dpi: int, margin: float) -> np.ndarray:
    x, y, w, h = box
    x0 = max(0, int(mm_to_px(x - margin, dpi)))
    y0 = max(0, int(mm_to_px(y - margin, dpi)))
    x1 = min(img.shape[1], int(np.ceil(mm_to_px(x + w + margin, dpi))))
    y1 = min(img.shape[0], int(np.ceil(mm_to_px(y + h + margin, dpi))))
    return img[y0:y1, x0:x1]


def ocr_vertical(img: np.ndarray, box, dpi: int, config: str) -> str:
    """Read text printed bottom to top in ``box``: crop, turn upright, enlarge, Tesseract."""
    crop = np.rot90(_crop_mm(img, box, dpi, OCR_MARGIN_MM), k=-1)  # clockwise: text upright
    im = Image.fromarray(np.ascontiguousarray(crop))
    im = im.resize((im.width * OCR_UPSCALE, im.height * OCR_UPSCALE), Image.LANCZOS)
    pad = Image.new("L", (im.width + 40, im.height + 40), 255)
    pad.paste(im, (20, 20))
    return pytesseract.image_to_string(pad, config=config).strip()


def _normalise(s: str) -> str:
    return re.sub(r"[^0-9A-Za-z]", "", s).upper()


@pytest.fixture(autouse=True)
def _one_tesseract_thread(monkeypatch):
    # Tesseract's OpenMP threads only slow down many small images run side by side.
    monkeypatch.setenv("OMP_THREAD_LIMIT", "1")


# --- every template -----------------------------------------------------------------------

def test_pages_and_sizes(template: FormTemplate):
    doc = pdfium.PdfDocument(_pdf(template))
    try:
        assert len(doc) == len(template.pages), f"{template.key}: {len(doc)} PDF pages, template has {len(template.pages)}"
        for i, p in enumerate(template.pages):
            w_pt, h_pt = doc[i].get_size()
            tw, th = template.page_size_of(p.number)
            assert abs(pt_to_mm(w_pt) - tw) <= PAGE_SIZE_TOL_MM and abs(pt_to_mm(h_pt) - th) <= PAGE_SIZE_TOL_MM, (
                f"{template.key} page {p.number}: PDF is {pt_to_mm(w_pt):.2f} x {pt_to_mm(h_pt):.2f} mm, "
                f"template says {tw} x {th} mm"
            )
    finally:
        doc.close()


def test_selected_pages_only(template: FormTemplate):
    last = template.pages[-1].number
    buf = io.BytesIO()
    render_blank_pdf(template, buf, pages=[last])
    doc = pdfium.PdfDocument(buf.getvalue())
    try:
        assert len(doc) == 1
        w_pt, h_pt = doc[0].get_size()
        assert abs(pt_to_mm(h_pt) - template.page_size_of(last)[1]) <= PAGE_SIZE_TOL_MM
    finally:
        doc.close()


def test_boxed_fields_drawn_at_template_position(template_page):
    template, n = template_page
    img = render_blank_image(template, n, DPI)
    boxed = [f for f in template.expanded_fields(n) if f.frame in ("box", "comb")]
    failures = []
    for f in boxed:
        for hit in frame_edges(img, f.box, DPI):
            if not hit.found:
                failures.append(f"{f.id} {hit.edge} edge of {list(f.box)}: no rule within {EDGE_TOL_MM} mm "
                                f"(best ink share {hit.ink_share:.2f})")
    assert not failures, f"{template.key} page {n}:\n" + "\n".join(failures)


def test_skanningsid_reads_back(template_page):
    template, n = template_page
    page = template.page(n)
    img = render_blank_image(template, n, DPI)
    text = ocr_vertical(img, page.skanningsid_box, DPI, TESSERACT_DIGITS)
    assert re.sub(r"\D", "", text) == page.skanningsid, (
        f"{template.key} page {n}: Tesseract read {text!r} in skanningsid_box {list(page.skanningsid_box)}, "
        f"expected {page.skanningsid}"
    )


def test_footer_names_version(template_page):
    template, n = template_page
    page = template.page(n)
    img = render_blank_image(template, n, DPI)
    text = ocr_vertical(img, page.footer_box, DPI, TESSERACT_LINE)
    want = _normalise(f"{template.form} {template.version_label}")
    assert want in _normalise(text), (
        f"{template.key} page {n}: footer OCR {text!r} does not contain {template.form} ({template.version_label})"
    )


def test_blank_image_is_a_fresh_copy(template):
    n = template.pages[0].number
    a = render_blank_image(template, n, 100)
    a[:] = 0
    b = render_blank_image(template, n, 100)
    assert b.mean() > 200, "render_blank_image returned the cached array itself (a caller's drawing leaked into it)"


# --- the checks can fail -------------------------------------------------------------------

SMALL_TEMPLATE = """\
form: "9999"
version: "001T001"
title: Test
footer: FK 9999 (001 T 001) Fastställd av Försäkringskassan
page_size: [210.0, 297.0]
pages:
  - number: 1
    skanningsid: "99990101"
    skanningsid_box: [9.2, 162.9, 2.7, 15.6]
    footer_box: [9.2, 230.0, 2.7, 59.0]
    drawing:
      - {text: "1. Rubrik", at: [16.2, 66.9], size: 9, bold: true}
      - {shade: [15.0, 82.0, 180.0, 15.75]}
      - {logo: [13.7, 10.0, 60.2, 7.9]}
    fields:
      - {id: person.name, kind: text, box: [15.0, 68.5, 135.0, 9.0], label: Förnamn och efternamn}
      - {id: person.personnummer, kind: personnummer, box: [150.0, 68.5, 45.0, 9.0], label: Personnummer}
      - {id: header.year_month, kind: year_month, box: [105.0, 23.5, 35.0, 9.0], frame: comb, cells: 7}
      - {id: kollektivavtal.ja, kind: checkbox, box: [17.45, 127.0, 4.5, 4.5], label: Ja}
      - {id: underskrift.signatur, kind: signature, box: [45.0, 110.0, 100.0, 8.0], frame: underline}
"""


@pytest.fixture(scope="module")
def small_template(tmp_path_factory) -> FormTemplate:
    d = tmp_path_factory.mktemp("forms") / "9999"
    d.mkdir()
    (d / "001T001.yaml").write_text(SMALL_TEMPLATE, encoding="utf-8")
    return load_template(d / "001T001.yaml")


def test_small_template_edges_found(small_template):
    img = render_blank_image(small_template, 1, DPI)
    for f in small_template.expanded_fields(1):
        if f.frame in ("box", "comb"):
            hits = frame_edges(img, f.box, DPI)
            assert all(h.found for h in hits), f"{f.id}: {hits}"
            assert all(abs(h.offset_mm) <= EDGE_TOL_MM for h in hits)


@pytest.mark.parametrize("shift", [(0.8, 0.0), (0.0, -0.8), (1.5, 1.5)])
def test_edge_check_catches_a_wrong_position(small_template, shift):
    """A template box that is off by more than the tolerance fails the check."""
    img = render_blank_image(small_template, 1, DPI)
    x, y, w, h = small_template.fields_by_id["person.name"].box
    wrong = (x + shift[0], y + shift[1], w, h)
    missed = [hit.edge for hit in frame_edges(img, wrong, DPI) if not hit.found]
    expect = (["left", "right"] if shift[0] else []) + (["top", "bottom"] if shift[1] else [])
    assert sorted(missed) == sorted(expect), f"shift {shift}: edges missed {missed}, expected {expect}"


def test_edge_check_catches_a_missing_rule(small_template):
    """The underline field has no top/left/right rules: checked as a box, it fails there."""
    img = render_blank_image(small_template, 1, DPI)
    f = small_template.fields_by_id["underskrift.signatur"]
    found = {h.edge: h.found for h in frame_edges(img, f.box, DPI)}
    assert found == {"top": False, "bottom": True, "left": False, "right": False}


def test_comb_ticks_and_label(small_template):
    img = render_blank_image(small_template, 1, DPI)
    x, y, w, h = small_template.fields_by_id["header.year_month"].box
    ink = img < INK_LEVEL
    for i in range(1, 7):
        col = int(mm_to_px(x + i * w / 7, DPI))
        lower = ink[int(mm_to_px(y + h - 0.2 * h, DPI)):int(mm_to_px(y + h - 0.3, DPI)), col - 1:col + 2].any(axis=1)
        upper = ink[int(mm_to_px(y + 0.5, DPI)):int(mm_to_px(y + h * 0.6, DPI)), col - 1:col + 2].any()
        assert lower.all(), f"comb tick {i}: not drawn over the lower fifth of the box"
        assert not upper, f"comb tick {i}: reaches the upper part of the box (should be 1/4 of its height)"


def test_small_template_ocr(small_template):
    img = render_blank_image(small_template, 1, DPI)
    p = small_template.page(1)
    assert re.sub(r"\D", "", ocr_vertical(img, p.skanningsid_box, DPI, TESSERACT_DIGITS)) == "99990101"
    assert "001T001" in _normalise(ocr_vertical(img, p.footer_box, DPI, TESSERACT_LINE))


def test_rasterize_size_follows_dpi(small_template):
    data = blank_pdf_bytes(small_template)
    for dpi in (72, 150):
        img = rasterize_pdf(data, 0, dpi)
        assert img.dtype == np.uint8 and img.ndim == 2
        assert abs(img.shape[1] - mm_to_px(210.0, dpi)) <= 1 and abs(img.shape[0] - mm_to_px(297.0, dpi)) <= 1


def test_render_to_path(small_template, tmp_path: Path):
    out = tmp_path / "blank.pdf"
    render_blank_pdf(small_template, out)
    assert out.read_bytes().startswith(b"%PDF")
