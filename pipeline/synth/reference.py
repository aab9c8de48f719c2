"""Read the printed structure of FK's real blank forms (vector PDFs) in millimetres.

FK's reference PDFs are reference data, never committed: this module only measures them,
to write templates (``tools/measure_reference.py``), to test template geometry against them
and to render real blank pages for scans made from the real forms.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

PT_TO_MM = 25.4 / 72

# A filled rectangle at most this thick (mm) and at least this long (mm) is a ruling line
# drawn as a fill; shorter ones are glyph stems of text converted to outlines.
RULE_MAX_THICKNESS_MM = 0.8
RULE_MIN_LENGTH_MM = 3.0
# Segments on one line closer than this (mm) are merged.
MERGE_GAP_MM = 0.3


@dataclass(frozen=True)
class Segment:
    """A horizontal (pos = y, from a to b in x) or vertical (pos = x, a..b in y) rule, mm."""

    pos: float
    a: float
    b: float
    lw: float


@dataclass
class PageStructure:
    width: float
    height: float
    hsegs: list[Segment] = field(default_factory=list)
    vsegs: list[Segment] = field(default_factory=list)
    fills: list[tuple[float, float, float, float, float]] = field(default_factory=list)
    text_lines: list[tuple[float, float, float, float]] = field(default_factory=list)

    def covered(self, horizontal: bool, pos: float, a: float, b: float, tol: float) -> float:
        """Share of [a, b] covered by printed rules within ``tol`` mm of line ``pos``."""
        segs = self.hsegs if horizontal else self.vsegs
        spans = sorted((max(s.a, a), min(s.b, b)) for s in segs if abs(s.pos - pos) <= tol and s.b > a and s.a < b)
        covered, end = 0.0, a
        for s0, s1 in spans:
            s0 = max(s0, end)
            if s1 > s0:
                covered += s1 - s0
                end = s1
        return covered / (b - a) if b > a else 0.0


def _merge(segs: list[Segment]) -> list[Segment]:
    """Merge touching collinear segments. Lines are clustered by position first, so a rule
    lying 0.1 mm beside another is merged with it only where the two actually touch."""
    clusters: list[list[Segment]] = []
    for s in sorted(segs, key=lambda s: s.pos):
        if clusters and s.pos - clusters[-1][-1].pos < 0.15:
            clusters[-1].append(s)
        else:
            clusters.append([s])
    out: list[Segment] = []
    for cl in clusters:
        run: list[Segment] = []
        for s in sorted(cl, key=lambda s: s.a):
            if run and s.a <= run[-1].b + MERGE_GAP_MM:
                last = run[-1]
                run[-1] = Segment(last.pos, last.a, max(last.b, s.b), max(last.lw, s.lw))
            else:
                run.append(s)
        out += run
    return out


def _grey(color) -> float | None:
    if color is None:
        return None
    if isinstance(color, (int, float)):
        return float(color)
    if len(color) == 1:
        return float(color[0])
    if len(color) == 3:
        return float(sum(color) / 3)
    if len(color) == 4:  # CMYK
        c, m, y, k = color
        return float(1 - min(1, (c + m + y) / 3 + k))
    return None


def page_structure(pdf: str | Path, page: int) -> PageStructure:
    """Rules, shaded panels and text-line boxes of one page (1-based) of a vector PDF."""
    import pdfplumber

    with pdfplumber.open(str(pdf)) as doc:
        p = doc.pages[page - 1]
        s = PageStructure(float(p.width) * PT_TO_MM, float(p.height) * PT_TO_MM)
        h: list[Segment] = []
        v: list[Segment] = []
        glyphs: list[tuple[float, float, float, float]] = []

        def mmbox(o) -> tuple[float, float, float, float]:
            return (o["x0"] * PT_TO_MM, o["top"] * PT_TO_MM, o["x1"] * PT_TO_MM, o["bottom"] * PT_TO_MM)

        for r in p.rects:
            x0, y0, x1, y1 = mmbox(r)
            w, hh = x1 - x0, y1 - y0
            lw = (r.get("linewidth") or 0) * PT_TO_MM
            if r["stroke"]:
                h += [Segment(y0, x0, x1, lw), Segment(y1, x0, x1, lw)]
                v += [Segment(x0, y0, y1, lw), Segment(x1, y0, y1, lw)]
            elif r["fill"]:
                g = _grey(r.get("non_stroking_color"))
                if hh <= RULE_MAX_THICKNESS_MM and w >= RULE_MIN_LENGTH_MM and (g is None or g < 0.5):
                    h.append(Segment((y0 + y1) / 2, x0, x1, hh))
                elif w <= RULE_MAX_THICKNESS_MM and hh >= RULE_MIN_LENGTH_MM and (g is None or g < 0.5):
                    v.append(Segment((x0 + x1) / 2, y0, y1, w))
                elif w > 1 and hh > 1 and g is not None and 0.5 < g < 0.99:
                    s.fills.append((x0, y0, w, hh, round(g, 3)))
                elif g is None or g < 0.5:
                    glyphs.append((x0, y0, x1, y1))
        for ln in p.lines:
            g = _grey(ln.get("stroking_color"))
            if g is not None and g >= 0.5:  # white strokes print nothing
                continue
            x0, y0, x1, y1 = mmbox(ln)
            lw = (ln.get("linewidth") or 0) * PT_TO_MM
            if abs(y1 - y0) < 0.2:
                h.append(Segment((y0 + y1) / 2, x0, x1, lw))
            elif abs(x1 - x0) < 0.2:
                v.append(Segment((x0 + x1) / 2, y0, y1, lw))
        rings_h: list[Segment] = []
        rings_v: list[Segment] = []
        for cu in p.curves:
            ring = _ring_segments(cu)
            if ring:  # a heavy frame drawn as one filled ring shape: its walls are rules
                rings_h += ring[0]
                rings_v += ring[1]
                continue
            x0, y0, x1, y1 = mmbox(cu)
            g = _grey(cu.get("non_stroking_color"))
            if cu["fill"] and x1 - x0 > 3 and y1 - y0 > 3 and g is not None and 0.5 < g < 0.99:
                s.fills.append((x0, y0, x1 - x0, y1 - y0, round(g, 3)))
            elif cu["fill"] and (g is None or g < 0.5) and (x1 - x0 < 20 or y1 - y0 < 20):
                glyphs.append((x0, y0, x1, y1))
        for ch in p.chars:
            glyphs.append(mmbox(ch))
        s.hsegs = _merge(h) + rings_h
        s.vsegs = _merge(v) + rings_v
        s.text_lines = _cluster_lines(glyphs)
        return s


def _ring_segments(cu):
    """A filled black path of straight edges forming a rectangular frame (outer and inner
    rectangle, walls at most RULE_MAX_THICKNESS_MM thick), e.g. the heavy "Summa tid" frame
    of 3059 016 p3: its four walls as segments at their centre lines; None for anything else."""
    g = _grey(cu.get("non_stroking_color"))
    if not cu.get("fill") or not (g is None or g < 0.5):
        return None
    path = cu.get("path") or []
    if any(op[0] not in ("m", "l", "h") for op in path):
        return None
    pts = [(x * PT_TO_MM, y * PT_TO_MM) for x, y in cu["pts"]]
    xs, ys = sorted({round(x, 2) for x, _ in pts}), sorted({round(y, 2) for _, y in pts})
    x0, x3, y0, y3 = xs[0], xs[-1], ys[0], ys[-1]
    if min(x3 - x0, y3 - y0) < 2 * RULE_MAX_THICKNESS_MM + RULE_MIN_LENGTH_MM:
        return None
    wall = RULE_MAX_THICKNESS_MM
    if any(x0 + wall < x < x3 - wall for x in xs) or any(y0 + wall < y < y3 - wall for y in ys):
        return None
    x1 = max(x for x in xs if x <= x0 + wall)
    x2 = min(x for x in xs if x >= x3 - wall)
    y1 = max(y for y in ys if y <= y0 + wall)
    y2 = min(y for y in ys if y >= y3 - wall)
    if x1 == x0 or x2 == x3 or y1 == y0 or y2 == y3:
        return None
    h = [Segment((y0 + y1) / 2, x0, x3, y1 - y0), Segment((y2 + y3) / 2, x0, x3, y3 - y2)]
    v = [Segment((x0 + x1) / 2, y0, y3, x1 - x0), Segment((x2 + x3) / 2, y0, y3, x3 - x2)]
    return h, v


def _cluster_lines(glyphs: list[tuple[float, float, float, float]]) -> list[tuple[float, float, float, float]]:
    """Merge glyph boxes into text-line boxes (x, y, w, h): overlapping bands, small gaps.

    Dots and accents (small glyph parts above the letters) join the line they touch."""
    boxes = [list(g) for g in glyphs]
    changed = True
    while changed:
        changed = False
        out: list[list[float]] = []
        for b in sorted(boxes, key=lambda g: (g[0], g[1])):
            for ln in out:
                vgap = max(ln[1], b[1]) - min(ln[3], b[3])  # < 0: the bands overlap
                hgap = max(ln[0], b[0]) - min(ln[2], b[2])
                small = min(ln[3] - ln[1], b[3] - b[1]) < 1.2
                if hgap < 1.5 and (vgap < -0.3 * min(ln[3] - ln[1], b[3] - b[1]) or (small and vgap < 0.4)):
                    ln[0], ln[1], ln[2], ln[3] = min(ln[0], b[0]), min(ln[1], b[1]), max(ln[2], b[2]), max(ln[3], b[3])
                    changed = True
                    break
            else:
                out.append(b)
        boxes = out
    return sorted(((a, b, c - a, d - b) for a, b, c, d in boxes), key=lambda t: (round(t[1]), t[0]))


def render_reference_page(pdf: str | Path, page: int, dpi: int) -> np.ndarray:
    """The page as a greyscale uint8 image at ``dpi`` (white paper)."""
    import pypdfium2 as pdfium

    from pipeline.synth.render import _PDFIUM_LOCK

    with _PDFIUM_LOCK:  # PDFium is not thread-safe
        doc = pdfium.PdfDocument(str(pdf))
        try:
            bitmap = doc[page - 1].render(scale=dpi / 72, grayscale=True)
            return np.array(bitmap.to_pil().convert("L"))
        finally:
            doc.close()


def grid_png(pdf: str | Path, page: int, out: str | Path, dpi: int = 150) -> None:
    """Write the page with a millimetre grid (every 5 mm, labelled every 10 mm)."""
    from PIL import Image, ImageDraw

    img = Image.fromarray(render_reference_page(pdf, page, dpi)).convert("RGB")
    d = ImageDraw.Draw(img)
    px = dpi / 25.4
    w_mm, h_mm = img.width / px, img.height / px
    for mm in range(0, int(max(w_mm, h_mm)) + 1, 5):
        c = (255, 120, 120) if mm % 10 == 0 else (255, 215, 215)
        if mm <= w_mm:
            d.line([(mm * px, 0), (mm * px, img.height)], fill=c, width=1)
            if mm % 10 == 0:
                d.text((mm * px + 2, 2), str(mm), fill=(200, 0, 0))
        if mm <= h_mm:
            d.line([(0, mm * px), (img.width, mm * px)], fill=c, width=1)
            if mm % 10 == 0:
                d.text((2, mm * px + 2), str(mm), fill=(200, 0, 0))
    img.save(out)
