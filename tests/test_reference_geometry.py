"""Template geometry against FK's real blank forms (vector PDFs in ../shared, never committed).

Per template page whose FK original is in ``shared/reference/fk-forms``:
(a) every field's frame lies on printed rules (box: four edges, underline: the bottom edge,
    comb: the outer edges plus a rule at each cell boundary, none: inside the page);
(b) every drawing rect and line lies on printed rules;
(c) the replica is complete: every printed rule longer than 3 mm is covered by the template's
    rects, lines and field frames;
(d) the skanningsID box covers a printed text line.
Skipped when ``shared`` is absent; 3080 has no FK original (a layout of our own).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import pytest

from pipeline.forms import ExpandedField, FormTemplate
from pipeline.synth.reference import PageStructure, Segment, page_structure

# A template edge must have a printed rule within this distance (mm) …
EDGE_TOL_MM = 1.0
# … over at least this share of its length.
MIN_COVER = 0.8
# Printed rules shorter than this (mm) are comb ticks, dashes or glyph parts: not required of
# the replica (the extraction drops shorter filled rules for the same reason).
MIN_RULE_MM = 3.0
# A comb cell boundary needs a printed vertical rule overlapping the box by at least this (mm)
# (FK's ticks are a quarter of the box height, 2.2 mm on a 9 mm box).
MIN_TICK_MM = 1.0
# The skanningsID box must cover this share of (at least) one printed text-line cluster.
MIN_TEXT_OVERLAP = 0.5
# A line with both ends this close (mm) on one axis is horizontal / vertical.
AXIS_TOL_MM = 0.05


def reference_pdf(shared: Path, t: FormTemplate) -> Path:
    """FK's file name: FK3059_016_F_003.pdf for 3059 016F003."""
    v = t.version
    return shared / "reference" / "fk-forms" / f"FK{t.form}_{v[:3]}_{v[3]}_{v[4:]}.pdf"


@lru_cache(maxsize=None)
def _structure(pdf: str, page: int) -> PageStructure:
    return page_structure(pdf, page)


@pytest.fixture
def ref(template_page, shared_dir) -> tuple[FormTemplate, int, PageStructure]:
    t, n = template_page
    pdf = reference_pdf(shared_dir, t)
    if not pdf.exists():
        pytest.skip(f"{t.key}: no FK reference PDF ({pdf.name}){' – provisional layout' if t.provisional else ''}")
    return t, n, _structure(str(pdf), n)


# --- measuring ----------------------------------------------------------------------------

@dataclass(frozen=True)
class EdgeCheck:
    what: str  # "person.name top edge"
    cover: float  # share of the edge covered by printed rules within EDGE_TOL_MM
    offset_mm: float | None  # signed distance to the rule covering most of it (None: none near)

    @property
    def ok(self) -> bool:
        return self.cover >= MIN_COVER

    def describe(self) -> str:
        off = "no printed rule near" if self.offset_mm is None else f"nearest rule at {self.offset_mm:+.2f} mm"
        return f"{self.what}: {self.cover:.0%} covered within {EDGE_TOL_MM} mm ({off})"


def _offset(s: PageStructure, horizontal: bool, pos: float, a: float, b: float) -> float | None:
    """Signed offset of the printed rule that overlaps [a, b] most, among the closest ones
    (search up to 5 mm away, to name the miss in a failure message)."""
    segs = s.hsegs if horizontal else s.vsegs
    best = None
    for seg in segs:
        overlap = min(seg.b, b) - max(seg.a, a)
        if overlap <= 0 or abs(seg.pos - pos) > 5.0:
            continue
        score = (round(abs(seg.pos - pos), 1), -overlap)
        if best is None or score < best[0]:
            best = (score, seg.pos - pos)
    return None if best is None else best[1]


def check_edge(s: PageStructure, what: str, horizontal: bool, pos: float, a: float, b: float) -> EdgeCheck:
    return EdgeCheck(what, s.covered(horizontal, pos, a, b, EDGE_TOL_MM), _offset(s, horizontal, pos, a, b))


def box_edges(box) -> list[tuple[str, bool, float, float, float]]:
    x, y, w, h = box
    return [("top", True, y, x, x + w), ("bottom", True, y + h, x, x + w),
            ("left", False, x, y, y + h), ("right", False, x + w, y, y + h)]


def field_checks(s: PageStructure, f: ExpandedField) -> list[EdgeCheck]:
    x, y, w, h = f.box
    if f.frame == "underline":
        return [check_edge(s, f"{f.id} bottom edge", True, y + h, x, x + w)]
    if f.frame in ("box", "comb"):
        out = [check_edge(s, f"{f.id} {e} edge", hz, pos, a, b) for e, hz, pos, a, b in box_edges(f.box)]
        if f.frame == "comb":
            for i in range(1, f.cells):
                cx = x + i * w / f.cells
                near = [seg for seg in s.vsegs if abs(seg.pos - cx) <= EDGE_TOL_MM
                        and min(seg.b, y + h) - max(seg.a, y) >= MIN_TICK_MM]
                off = min((seg.pos - cx for seg in near), key=abs, default=None)
                out.append(EdgeCheck(f"{f.id} cell boundary {i} (x={cx:.2f})", 1.0 if near else 0.0, off))
        return out
    return []


def template_rules(t: FormTemplate, n: int) -> PageStructure:
    """What the replica prints as rules: drawing rects and lines, field frames, comb ticks."""
    p = t.page(n)
    w, h = t.page_size_of(n)
    hs: list[Segment] = []
    vs: list[Segment] = []

    def add_box(box):
        for _, hz, pos, a, b in box_edges(box):
            (hs if hz else vs).append(Segment(pos, a, b, 0.21))

    for d in p.drawing:
        if d.kind == "rect":
            add_box(d.rect)
        elif d.kind == "line":
            x1, y1, x2, y2 = d.line
            if abs(y1 - y2) <= AXIS_TOL_MM:
                hs.append(Segment(y1, min(x1, x2), max(x1, x2), d.lw))
            elif abs(x1 - x2) <= AXIS_TOL_MM:
                vs.append(Segment(x1, min(y1, y2), max(y1, y2), d.lw))
    for f in t.expanded_fields(n):
        x, y, fw, fh = f.box
        if f.frame in ("box", "comb"):
            add_box(f.box)
        elif f.frame == "underline":
            hs.append(Segment(y + fh, x, x + fw, 0.21))
        if f.frame == "comb":
            for i in range(1, f.cells):
                vs.append(Segment(x + i * fw / f.cells, y + 0.75 * fh, y + fh, 0.21))
    return PageStructure(w, h, hsegs=hs, vsegs=vs)


def _report(summary_lines: list[str], t: FormTemplate, n: int, checks: list[EdgeCheck], what: str) -> None:
    """Print (and add to the run summary) the largest offset from FK's rules on this page."""
    offs = [(abs(c.offset_mm), c) for c in checks if c.offset_mm is not None]
    failed = sum(not c.ok for c in checks)
    if offs:
        worst_off, worst = max(offs, key=lambda oc: oc[0])
        line = (f"{t.key} p{n} {what}: max deviation {worst_off:.2f} mm ({worst.what}); "
                f"{len(checks)} edges checked, {failed} off")
    else:
        line = f"{t.key} p{n} {what}: {len(checks)} edges checked, {failed} off"
    print(line)
    summary_lines.append(line)


# --- the checks ---------------------------------------------------------------------------

def test_field_frames_on_printed_rules(ref, summary_lines):
    t, n, s = ref
    checks: list[EdgeCheck] = []
    outside = []
    for f in t.expanded_fields(n):
        checks += field_checks(s, f)
        x, y, w, h = f.box
        if x < 0 or y < 0 or x + w > s.width + 0.1 or y + h > s.height + 0.1:
            outside.append(f"{f.id}: box {list(f.box)} leaves the {s.width:.1f} x {s.height:.1f} mm page")
    _report(summary_lines, t, n, checks, "fields")
    bad = [c.describe() for c in checks if not c.ok] + outside
    assert not bad, f"{t.key} page {n}: {len(bad)} field edges off FK's printed rules:\n" + "\n".join(bad)


def test_drawing_on_printed_rules(ref, summary_lines):
    t, n, s = ref
    checks: list[EdgeCheck] = []
    bad: list[str] = []
    for i, d in enumerate(t.page(n).drawing):
        if d.kind == "rect":
            checks += [check_edge(s, f"drawing[{i}] rect {list(d.rect)} {e} edge", hz, pos, a, b)
                       for e, hz, pos, a, b in box_edges(d.rect)]
        elif d.kind == "line":
            x1, y1, x2, y2 = d.line
            name = f"drawing[{i}] line {list(d.line)}"
            if abs(y1 - y2) <= AXIS_TOL_MM:
                checks.append(check_edge(s, name, True, y1, min(x1, x2), max(x1, x2)))
            elif abs(x1 - x2) <= AXIS_TOL_MM:
                checks.append(check_edge(s, name, False, x1, min(y1, y2), max(y1, y2)))
            else:
                bad.append(f"{name}: neither horizontal nor vertical (FK's forms have no slanted rules)")
    _report(summary_lines, t, n, checks, "drawing")
    bad += [c.describe() for c in checks if not c.ok]
    assert not bad, f"{t.key} page {n}: {len(bad)} drawn rules off FK's printed rules:\n" + "\n".join(bad)


def test_replica_prints_every_rule(ref):
    t, n, s = ref
    mine = template_rules(t, n)
    missing = []
    for hz, segs in ((True, s.hsegs), (False, s.vsegs)):
        for seg in segs:
            if seg.b - seg.a <= MIN_RULE_MM:
                continue
            cover = mine.covered(hz, seg.pos, seg.a, seg.b, EDGE_TOL_MM)
            if cover < MIN_COVER:
                kind = f"H y={seg.pos:.2f} x {seg.a:.2f}–{seg.b:.2f}" if hz else f"V x={seg.pos:.2f} y {seg.a:.2f}–{seg.b:.2f}"
                missing.append(f"printed rule {kind} ({seg.b - seg.a:.1f} mm): {cover:.0%} drawn by the template")
    assert not missing, (f"{t.key} page {n}: {len(missing)} of FK's rules are missing from the replica "
                         "(add a drawing rect/line or a field frame):\n" + "\n".join(missing))


def test_skanningsid_box_on_printed_id(ref):
    t, n, s = ref
    bx, by, bw, bh = t.page(n).skanningsid_box
    best, best_line = 0.0, None
    for x, y, w, h in s.text_lines:
        ix = min(bx + bw, x + w) - max(bx, x)
        iy = min(by + bh, y + h) - max(by, y)
        if ix > 0 and iy > 0 and w * h > 0:
            share = ix * iy / (w * h)
            if share > best:
                best, best_line = share, (x, y, w, h)
    near = sorted(s.text_lines, key=lambda tl: abs(tl[0] - bx) + abs(tl[1] - by))[:3]
    assert best >= MIN_TEXT_OVERLAP, (
        f"{t.key} page {n}: skanningsid_box {[bx, by, bw, bh]} covers at most {best:.0%} of a printed text line "
        f"(best {best_line}); nearest text lines: {[tuple(round(v, 2) for v in tl) for tl in near]}"
    )


# --- the checks can fail -------------------------------------------------------------------

def _structure_of_box() -> PageStructure:
    """A printed 40 x 10 mm box at (20, 20), a 5-cell comb at (100, 20) and a text line."""
    s = PageStructure(210.0, 297.0)
    s.hsegs = [Segment(20.0, 20.0, 60.0, 0.21), Segment(30.0, 20.0, 60.0, 0.21),
               Segment(20.0, 100.0, 125.0, 0.21), Segment(29.0, 100.0, 125.0, 0.21)]
    s.vsegs = [Segment(20.0, 20.0, 30.0, 0.21), Segment(60.0, 20.0, 30.0, 0.21),
               Segment(100.0, 20.0, 29.0, 0.21), Segment(125.0, 20.0, 29.0, 0.21)]
    s.vsegs += [Segment(100.0 + 5 * i, 26.75, 29.0, 0.21) for i in (1, 2, 3)]  # tick 4 missing
    s.text_lines = [(9.2, 163.0, 2.6, 15.5)]
    return s


def test_edge_check_names_the_miss():
    s = _structure_of_box()
    f = ExpandedField(id="person.name", page=1, kind="text", box=(20.0, 21.5, 40.0, 10.0))
    checks = {c.what: c for c in field_checks(s, f)}
    top, left = checks["person.name top edge"], checks["person.name left edge"]
    assert not top.ok and top.offset_mm == pytest.approx(-1.5)
    assert "person.name top edge" in top.describe() and "-1.50 mm" in top.describe()
    assert left.ok and left.cover == pytest.approx(0.85)  # the side rule ends 1.5 mm short


def test_comb_check_needs_every_boundary():
    s = _structure_of_box()
    f = ExpandedField(id="header.year_month", page=1, kind="year_month", box=(100.0, 20.0, 25.0, 9.0),
                      frame="comb", cells=5)
    bad = [c.what for c in field_checks(s, f) if not c.ok]
    assert bad == ["header.year_month cell boundary 4 (x=120.00)"]


def test_completeness_check_finds_an_undrawn_rule():
    s = _structure_of_box()
    mine = PageStructure(210.0, 297.0, hsegs=[Segment(20.0, 20.0, 60.0, 0.21)])
    assert mine.covered(True, 20.0, 20.0, 60.0, EDGE_TOL_MM) == 1.0
    assert mine.covered(True, 30.0, 20.0, 60.0, EDGE_TOL_MM) == 0.0
    assert s.covered(True, 30.4, 20.0, 60.0, EDGE_TOL_MM) == 1.0
