"""Replica renderer: draw a blank FK form page from its template alone.

The template (``forms/<number>/<version>.yaml``) says what is printed on each page: its
*drawing* (rules, boxes, texts, grey panels, the logo), every field's frame and label, the
page label, the vertical skanningsID and the vertical footer. This module turns that into a
vector PDF with reportlab (built-in Helvetica, which covers å, ä and ö) and rasterizes it
with pdfium. It never reads FK's own PDFs: the replica is our drawing, made from data.

Template geometry is millimetres from the page's top-left corner, y down; PDF space is
points from the bottom-left corner, y up. :func:`mm_to_pt` and :func:`page_y_pt` are the
only places that convert.
"""

from __future__ import annotations

import io
import threading
from pathlib import Path
from typing import BinaryIO

import numpy as np
from reportlab.lib.colors import Color
from reportlab.pdfbase.pdfmetrics import stringWidth
from reportlab.pdfgen.canvas import Canvas

from pipeline.forms import Draw, Field, FormTemplate, Page

# --- units --------------------------------------------------------------------------------

MM_PER_INCH = 25.4
PT_PER_INCH = 72.0


def mm_to_pt(mm: float) -> float:
    """Millimetres to PDF points (1 mm = 72 / 25.4 pt)."""
    return mm * PT_PER_INCH / MM_PER_INCH


def pt_to_mm(pt: float) -> float:
    """PDF points to millimetres."""
    return pt * MM_PER_INCH / PT_PER_INCH


def mm_to_px(mm: float, dpi: float) -> float:
    """Millimetres to pixels of an image rasterized at ``dpi``."""
    return mm * dpi / MM_PER_INCH


def px_to_mm(px: float, dpi: float) -> float:
    """Pixels of an image rasterized at ``dpi`` to millimetres."""
    return px * MM_PER_INCH / dpi


def page_y_pt(y_mm: float, page_height_mm: float) -> float:
    """A template y (mm from the top) as a PDF y (points from the bottom)."""
    return mm_to_pt(page_height_mm - y_mm)


# --- constants ----------------------------------------------------------------------------

FONT = "Helvetica"
FONT_BOLD = "Helvetica-Bold"
# Helvetica's cap and digit height as a share of the font size (AFM CapHeight 718/1000); used
# to fit vertical text across the width of its box.
CAP_HEIGHT_SHARE = 0.718

# FK prints every field frame and ruling with a 0.6 pt (0.21 mm) black line.
FRAME_LW_MM = 0.21
# Field labels ("Förnamn och efternamn"): FK's 016 layouts set them in 8 pt (measured: that
# label is 29.7 mm long and 2.1 mm high on 3059 016, i.e. Helvetica at 7.9 pt); the 015
# layouts use Arial 7.53 pt (their PDFs' text layer), which a template says with
# ``label_size_pt`` (Arial has Helvetica's metrics: at 8 pt a 26 mm label ends 1.6 mm late,
# beyond the print dropout's reach, and its residue reads as ink).
LABEL_SIZE_PT = 8.0
# Default label baseline inside a field box, from its top-left corner (mm): FK sets the label
# 1.0 mm in from the left rule, its baseline 2.55 mm below the top rule (3059 016 page 1,
# "Förnamn och efternamn" in the 68.5 mm and 104.5 mm boxes).
LABEL_OFFSET_MM = (1.0, 2.55)
# A checkbox's label, when the template does not place it, sits right of the square: 1.5 mm
# gap, baseline 1.1 mm above the square's bottom (visually centred on a 4.5 mm square).
CHECKBOX_LABEL_GAP_MM = 1.5
CHECKBOX_LABEL_RAISE_MM = 1.1
# Comb ticks: FK marks each cell boundary with a tick rising from the bottom rule over a
# quarter of the box height (measured 2.24 mm on a 9 mm box of 3059 016 page 1).
COMB_TICK_SHARE = 0.25
# Page label ("2 (3)") when the template does not place it: 10 pt, right-aligned on the
# 195 mm right margin, baseline 13.3 mm from the top (FK 3059 016 page 2: "2 (3)" starts at
# 187.15 mm with its baseline at 13.28 mm).
PAGE_LABEL_SIZE_PT = 10.0
PAGE_LABEL_DEFAULT_AT = (195.0, 13.3)
# The vertical skanningsID (about 10 pt) and footer (about 7 pt) are fitted to their boxes,
# which templates measure on FK's ink: the text's length fills the box's height, unless its
# ink would then be wider than the box. Helvetica's parentheses and descenders reach 0.207 of
# the size below the baseline.
DESCENDER_SHARE = 0.207
DESCENDER_CHARS = set("gjpqy(),;Q")
# Multi-line texts without an explicit leading: 1.25 × the font size (in points).
DEFAULT_LEADING_SHARE = 1.25
# Logo replica: a square mark as tall as the box, then the word mark in bold; the gap
# between them and the word mark's height are shares of the box height.
LOGO_GAP_SHARE = 0.35
LOGO_WORDMARK = "Försäkringskassan"


# --- drawing ------------------------------------------------------------------------------

class _PageCanvas:
    """A reportlab canvas plus the current page height: draws in template millimetres."""

    def __init__(self, canvas: Canvas):
        self.c = canvas
        self.height_mm = 0.0

    def new_page(self, width_mm: float, height_mm: float) -> None:
        self.c.setPageSize((mm_to_pt(width_mm), mm_to_pt(height_mm)))
        self.height_mm = height_mm

    def x(self, x_mm: float) -> float:
        return mm_to_pt(x_mm)

    def y(self, y_mm: float) -> float:
        return page_y_pt(y_mm, self.height_mm)

    def rect(self, box, lw_mm: float = FRAME_LW_MM) -> None:
        x, y, w, h = box
        self.c.setLineWidth(mm_to_pt(lw_mm))
        self.c.rect(self.x(x), self.y(y + h), mm_to_pt(w), mm_to_pt(h), stroke=1, fill=0)

    def line(self, x1: float, y1: float, x2: float, y2: float, lw_mm: float = FRAME_LW_MM) -> None:
        self.c.setLineWidth(mm_to_pt(lw_mm))
        self.c.line(self.x(x1), self.y(y1), self.x(x2), self.y(y2))

    def text(self, s: str, at, size: float, bold: bool = False, align: str = "left") -> None:
        font = FONT_BOLD if bold else FONT
        self.c.setFont(font, size)
        x, y = self.x(at[0]), self.y(at[1])
        if align == "center":
            self.c.drawCentredString(x, y, s)
        elif align == "right":
            self.c.drawRightString(x, y, s)
        else:
            self.c.drawString(x, y, s)

    def vertical_text(self, s: str, box) -> None:
        """Text rotated 90° (reads bottom to top), fitted into ``box`` and centred in it.

        The size makes the text as long as the box is high, shrunk if the ink (cap height,
        plus descenders if the text has any) would be wider than the box."""
        x, y, w, h = box
        width_at_1pt = pt_to_mm(stringWidth(s, FONT, 1.0))
        below = DESCENDER_SHARE if DESCENDER_CHARS & set(s) else 0.0
        ink_at_1pt = pt_to_mm(CAP_HEIGHT_SHARE + below)
        size = min(h / width_at_1pt, w / ink_at_1pt)
        length = width_at_1pt * size
        # After rotating by 90°, glyphs rise towards -x: the ink spans from the baseline
        # minus the cap height to the baseline plus the descent; centre that span in the box.
        base_x = x + w / 2 + pt_to_mm((CAP_HEIGHT_SHARE - below) * size) / 2
        start_y = y + h - (h - length) / 2
        self.c.saveState()
        self.c.setFont(FONT, size)
        self.c.translate(self.x(base_x), self.y(start_y))
        self.c.rotate(90)
        self.c.drawString(0, 0, s)
        self.c.restoreState()

    def shade(self, box, grey: float, radius_mm: float) -> None:
        x, y, w, h = box
        self.c.saveState()
        self.c.setFillColor(Color(grey, grey, grey))
        r = min(mm_to_pt(radius_mm), mm_to_pt(min(w, h)) / 2)
        self.c.roundRect(self.x(x), self.y(y + h), mm_to_pt(w), mm_to_pt(h), r, stroke=0, fill=1)
        self.c.restoreState()

    def logo(self, box) -> None:
        """Our own FK-like logo: a black square with a white stepped figure, then the word
        mark in bold, fitted into ``box`` (nothing of FK's artwork is copied)."""
        x, y, w, h = box
        side = min(h, w)
        c = self.c
        c.saveState()
        c.setFillColor(Color(0, 0, 0))
        c.rect(self.x(x), self.y(y + side), mm_to_pt(side), mm_to_pt(side), stroke=0, fill=1)
        # a white "person under a roof": a triangle over a small square
        c.setFillColor(Color(1, 1, 1))
        p = c.beginPath()
        p.moveTo(self.x(x + side * 0.18), self.y(y + side * 0.52))
        p.lineTo(self.x(x + side * 0.50), self.y(y + side * 0.18))
        p.lineTo(self.x(x + side * 0.82), self.y(y + side * 0.52))
        p.close()
        c.drawPath(p, stroke=0, fill=1)
        c.rect(self.x(x + side * 0.36), self.y(y + side * 0.84), mm_to_pt(side * 0.28), mm_to_pt(side * 0.26),
               stroke=0, fill=1)
        c.restoreState()
        # word mark: bold, cap height ~ 60 % of the box, shrunk to the remaining width
        tx = x + side + side * LOGO_GAP_SHARE
        room = x + w - tx
        if room <= 0:
            return
        size = mm_to_pt(0.6 * h) / CAP_HEIGHT_SHARE
        width = pt_to_mm(stringWidth(LOGO_WORDMARK, FONT_BOLD, size))
        if width > room:
            size *= room / width
        cap = pt_to_mm(CAP_HEIGHT_SHARE * size)
        self.text(LOGO_WORDMARK, (tx, y + (h + cap) / 2), size, bold=True)


def _draw_element(pc: _PageCanvas, d: Draw) -> None:
    kind = d.kind
    if kind == "rect":
        pc.rect(d.rect, d.lw)
    elif kind == "line":
        pc.line(*d.line, lw_mm=d.lw)
    elif kind == "text":
        leading_mm = d.leading if d.leading is not None else pt_to_mm(DEFAULT_LEADING_SHARE * d.size)
        for i, ln in enumerate(d.text.split("\n")):
            pc.text(ln, (d.at[0], d.at[1] + i * leading_mm), d.size, d.bold, d.align)
    elif kind == "shade":
        pc.shade(d.shade, d.grey, d.radius)
    elif kind == "logo":
        pc.logo(d.logo)


def _draw_frame(pc: _PageCanvas, box, frame: str, cells: int | None) -> None:
    x, y, w, h = box
    if frame == "box":
        pc.rect(box)
    elif frame == "underline":
        pc.line(x, y + h, x + w, y + h)
    elif frame == "comb":
        pc.rect(box)
        tick = h * COMB_TICK_SHARE
        for i in range(1, cells or 1):
            cx = x + i * w / cells
            pc.line(cx, y + h, cx, y + h - tick)


def _label_at(f: Field) -> tuple[float, float]:
    x, y, w, h = f.box
    if f.label_at is not None:
        return f.label_at
    if f.kind.value == "checkbox":
        return (x + w + CHECKBOX_LABEL_GAP_MM, y + h - CHECKBOX_LABEL_RAISE_MM)
    return (x + LABEL_OFFSET_MM[0], y + LABEL_OFFSET_MM[1])


def _draw_label(pc: _PageCanvas, f: Field, size_pt: float = LABEL_SIZE_PT) -> None:
    if not f.label:
        return
    at = _label_at(f)
    leading = pt_to_mm(DEFAULT_LEADING_SHARE * size_pt)
    for i, ln in enumerate(f.label.split("\n")):
        pc.text(ln, (at[0], at[1] + i * leading), size_pt)


def label_box(t: FormTemplate, f: Field) -> tuple[float, float, float, float] | None:
    """Where a field's label is printed (x0, y0, x1, y1 in mm, from its first line's cap
    height to its last line's descenders), as ``_draw_label`` sets it; None: no label."""
    if not f.label:
        return None
    size = t.label_size_pt or LABEL_SIZE_PT
    x, y = _label_at(f)
    lines = f.label.split("\n")
    width = max(pt_to_mm(stringWidth(ln, FONT, size)) for ln in lines)
    last = y + (len(lines) - 1) * pt_to_mm(DEFAULT_LEADING_SHARE * size)
    return (x, y - pt_to_mm(CAP_HEIGHT_SHARE * size), x + width, last + pt_to_mm(DESCENDER_SHARE * size))


def _draw_page(pc: _PageCanvas, t: FormTemplate, p: Page) -> None:
    w, h = t.page_size_of(p.number)
    pc.new_page(w, h)
    c = pc.c
    c.setStrokeColor(Color(0, 0, 0))
    c.setFillColor(Color(0, 0, 0))
    # shades first: they are backgrounds under texts and rules
    for d in p.drawing:
        if d.kind == "shade":
            _draw_element(pc, d)
    for d in p.drawing:
        if d.kind != "shade":
            _draw_element(pc, d)
    for f in p.fields:
        _draw_frame(pc, f.box, f.frame, f.cells)
        _draw_label(pc, f, t.label_size_pt or LABEL_SIZE_PT)
    for ef in t.expanded_fields(p.number):
        if ef.table is not None:  # table cells: frames only, the header is in the drawing
            _draw_frame(pc, ef.box, ef.frame, ef.cells)
    if p.label:
        pc.text(p.label, p.label_at or PAGE_LABEL_DEFAULT_AT, PAGE_LABEL_SIZE_PT,
                align="left" if p.label_at else "right")
    pc.vertical_text(p.skanningsid, p.skanningsid_box)
    pc.vertical_text(t.footer, p.footer_box)
    c.showPage()


def render_blank_pdf(template: FormTemplate, out: str | Path | BinaryIO, pages: list[int] | None = None) -> None:
    """Write a blank replica of the form (all pages, or the page numbers in ``pages``)."""
    numbers = [p.number for p in template.pages] if pages is None else pages
    target = str(out) if isinstance(out, (str, Path)) else out
    canvas = Canvas(target, pageCompression=1, invariant=1)
    canvas.setTitle(f"FK {template.form} ({template.version_label}) replica")
    canvas.setAuthor("blankett replica renderer")
    pc = _PageCanvas(canvas)
    for n in numbers:
        _draw_page(pc, template, template.page(n))
    canvas.save()


# --- rasterizing --------------------------------------------------------------------------

# PDFium is not thread-safe: two threads rendering at once crashed the process (seen when
# documents were read on threads). One render at a time.
_PDFIUM_LOCK = threading.Lock()


def rasterize_pdf(pdf_bytes: bytes, page_index: int, dpi: int) -> np.ndarray:
    """One page (0-based) of a PDF as a greyscale uint8 image at ``dpi`` (white = 255)."""
    import pypdfium2 as pdfium

    with _PDFIUM_LOCK:
        doc = pdfium.PdfDocument(pdf_bytes)
        try:
            bitmap = doc[page_index].render(scale=dpi / PT_PER_INCH, grayscale=True)
            return np.array(bitmap.to_pil().convert("L"))
        finally:
            doc.close()


# Replica PDFs per template object (keyed by id, the template kept alive next to its bytes so
# the id cannot be reused) and their rasters: the generator asks for a blank page for every
# page it makes.
_PDF_CACHE: dict[int, tuple[FormTemplate, bytes]] = {}
_RASTER_CACHE: dict[tuple[int, int, int], np.ndarray] = {}


def blank_pdf_bytes(template: FormTemplate) -> bytes:
    """The replica PDF of every page of ``template``, rendered once per process."""
    hit = _PDF_CACHE.get(id(template))
    if hit is not None and hit[0] is template:
        return hit[1]
    buf = io.BytesIO()
    render_blank_pdf(template, buf)
    data = buf.getvalue()
    _PDF_CACHE[id(template)] = (template, data)
    return data


def render_blank_image(template: FormTemplate, page_number: int, dpi: int) -> np.ndarray:
    """A blank replica page as a greyscale uint8 image (a fresh copy the caller may draw on)."""
    data = blank_pdf_bytes(template)
    key = (id(template), page_number, dpi)
    img = _RASTER_CACHE.get(key)
    if img is None:
        index = [p.number for p in template.pages].index(template.page(page_number).number)
        img = rasterize_pdf(data, index, dpi)
        _RASTER_CACHE[key] = img
    return img.copy()
