"""Checkbox marks: measurement, decision and group rules.

Crafted marks are drawn into a blank page (our replica, and FK's real blank form when
../shared is present), scanned by the scan simulator (1-bit and grey, 200 and 300 dpi) and run
through the page pipeline, so that registration and print dropout are the real ones. Then
accuracy on generated batches against their truth."""

from __future__ import annotations

import collections
from dataclasses import replace

import cv2
import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageFont

from pipeline import defs
from pipeline.evaluate import iter_field_samples
from pipeline.forms import FieldKind
from pipeline.ingest import PageImage
from pipeline.pages import process_page
from pipeline.read.marks import (MarkMeasurements, decide_checkbox, read_checkbox, resolve_group)
from pipeline.read.types import Reading
from pipeline.synth import render, scan
from pipeline.synth.batch import SampleOptions, generate_samples
from pipeline.synth.reference import render_reference_page

FORM, VERSION, PAGE = "3059", "016F003", 2  # the time-report page: 40 rows × 3 checkboxes


# --- drawing on a blank page ----------------------------------------------------------------

def _line(img, k, p0, p1, w_mm=0.45, grey=40):
    s = 16
    cv2.line(img, (int(round(p0[0] * k * s)), int(round(p0[1] * k * s))),
             (int(round(p1[0] * k * s)), int(round(p1[1] * k * s))), grey, max(1, int(round(w_mm * k))),
             cv2.LINE_AA, 4)


def _tick(img, k, box, grey=40, spill_mm=0.0):
    x, y, w, h = box
    _line(img, k, (x + 0.15 * w, y + 0.5 * h), (x + 0.42 * w, y + 0.85 * h), grey=grey)
    _line(img, k, (x + 0.42 * w, y + 0.85 * h), (x + 0.9 * w + spill_mm, y + 0.1 * h - spill_mm), grey=grey)


def _cross(img, k, box, over_mm=0.0, grey=40):
    x, y, w, h = box
    o = over_mm
    _line(img, k, (x + 0.1 * w - o, y + 0.1 * h - o), (x + 0.9 * w + o, y + 0.9 * h + o), grey=grey)
    _line(img, k, (x + 0.9 * w + o, y + 0.1 * h - o), (x + 0.1 * w - o, y + 0.9 * h + o), grey=grey)


def _fill(img, k, box, grey=50):
    x, y, w, h = box
    cv2.rectangle(img, (int((x + 0.35) * k), int((y + 0.35) * k)), (int((x + w - 0.35) * k), int((y + h - 0.35) * k)),
                  grey, -1)


def _dot(img, k, c, r_mm, grey=40):
    cv2.circle(img, (int(round(c[0] * k)), int(round(c[1] * k))), max(1, int(round(r_mm * k))), grey, -1, cv2.LINE_AA)


def _typed_x(img, k, box):
    x, y, w, h = box
    im = Image.fromarray(img)
    f = ImageFont.truetype("DejaVuSans.ttf", int(round(10 * k * 25.4 / 72)))
    ImageDraw.Draw(im).text(((x + w / 2) * k, (y + h / 2) * k), "X", font=f, fill=10, anchor="mm")
    img[:] = np.asarray(im)


# Crafted cases: (member of row n, drawing, expected state(s)). Each lands in its own box.
def _cases():
    c = {}
    c["empty"] = (lambda img, k, b: None, {"empty"})
    c["dust"] = (lambda img, k, b: _dot(img, k, (b[0] + b[2] / 2, b[1] + b[3] / 2), 0.12), {"empty"})
    c["tick"] = (lambda img, k, b: _tick(img, k, b), {"marked"})
    c["tick_spill"] = (lambda img, k, b: _tick(img, k, b, spill_mm=1.2), {"marked"})
    c["cross"] = (lambda img, k, b: _cross(img, k, b), {"marked"})
    c["cross_sloppy"] = (lambda img, k, b: _cross(img, k, b, over_mm=0.9), {"marked"})
    c["light_pen"] = (lambda img, k, b: _tick(img, k, b, grey=110), {"marked"})
    c["filled"] = (lambda img, k, b: _fill(img, k, b), {"filled"})
    c["filled_crossed"] = (lambda img, k, b: (_fill(img, k, b), _cross(img, k, b, over_mm=0.8)), {"filled"})
    c["typed_x"] = (lambda img, k, b: _typed_x(img, k, b), {"marked"})
    # a pen touch: more than dust, far less than a mark
    c["touch"] = (lambda img, k, b: _line(img, k, (b[0] + 1.8, b[1] + 2.0), (b[0] + 2.6, b[1] + 2.2), w_mm=0.35),
                  {"ambiguous", "empty"})
    # a tick made beside the box, not in it
    c["beside"] = (lambda img, k, b: _line(img, k, (b[0] + b[2] + 0.7, b[1] + 0.5), (b[0] + b[2] + 0.8, b[1] + 3.5)),
                   {"ambiguous"})
    # a printed rule the dropout missed (thin, exactly level, through the box): not a mark
    # (drawn as FK's 0.21 mm rules are printed: solid black, no anti-aliasing)
    c["rule_residue"] = (lambda img, k, b: cv2.line(img, (int((b[0] - 1.5) * k), int((b[1] + 1.6) * k)),
                                                    (int((b[0] + b[2] + 1.5) * k), int((b[1] + 1.6) * k)), 0,
                                                    max(1, int(0.21 * k))), {"empty"})
    return c


CASES = _cases()

# Group scenarios on whole rows (exactly_one): row → {member: case}
ROWS = {
    1: {"aktiv": "tick"},
    2: {"aktiv": "tick", "vantetid": "touch"},  # a faint stray touch beside a clear mark
    3: {},  # nothing marked: the answer is missing
    4: {"aktiv": "tick", "beredskap": "cross"},  # two clear marks: review
    5: {"vantetid": "filled"},
}
MEMBERS = ("aktiv", "vantetid", "beredskap")


def _layout(template):
    """Field id → case name: group rows first, then one crafted case per remaining box."""
    fields = {f.id: f for f in template.expanded_fields(PAGE) if f.kind == FieldKind.checkbox}
    plan = {}
    for row, marks in ROWS.items():
        for m in MEMBERS:
            plan[f"rows.{row}.{m}"] = marks.get(m, "empty")
    spare = [fid for fid in fields if fid not in plan]
    # every case twice, in different rows and columns (box positions differ per block)
    for i, name in enumerate(list(CASES) * 2):
        plan[spare[i * 4]] = name
    return fields, plan


def _scanned_page(registry, dpi, bitonal, seed, real=False):
    t = registry.get(FORM, VERSION)
    if real:
        img = render_reference_page(defs.reference_pdf(FORM, VERSION), PAGE, dpi).copy()
    else:
        img = render.render_blank_image(t, PAGE, dpi).copy()
    k = dpi / defs.MM_PER_INCH
    fields, plan = _layout(t)
    for fid, name in plan.items():
        CASES[name][0](img, k, fields[fid].box)
    rng = np.random.default_rng(seed)
    prof = replace(scan.ScanProfile.random(rng, dpi, bitonal), speckle_per_dm2=20.0)
    s = scan.simulate_scan(img, dpi, prof, rng)
    res = process_page(PageImage(None, 0, s.image, float(s.dpi), s.bitonal, "png"), registry)
    assert res.registered is not None and res.registered.ok, (res.ident, res.registered and res.registered.reason)
    return res.registered, fields, plan


SCANS = [(200, True, 11), (300, True, 12), (200, False, 13), (300, False, 14)]


@pytest.mark.parametrize("dpi,bitonal,seed", SCANS, ids=[f"{d}dpi-{'1bit' if b else 'grey'}" for d, b, _ in SCANS])
def test_crafted_marks(registry, dpi, bitonal, seed):
    rp, fields, plan = _scanned_page(registry, dpi, bitonal, seed)
    wrong = []
    for fid, name in plan.items():
        r = read_checkbox(rp, fields[fid])
        if r.detail["state"] not in CASES[name][1]:
            wrong.append(f"{fid} ({name}): {r.detail['state']} {r.detail}")
        assert r.value is {"empty": False, "marked": True, "filled": True, "ambiguous": None}[r.detail["state"]]
        assert (r.status == "low_confidence") == (r.detail["state"] == "ambiguous")
    assert not wrong, "\n".join(wrong)

    # groups, exactly_one, on whole rows
    groups = {g.id: g for g, p in rp.template.groups() if p == PAGE}
    got = {}
    for row in ROWS:
        g = groups[f"rows.{row}.kind"]
        got[row] = resolve_group({m: read_checkbox(rp, fields[m]) for m in g.members}, g.rule)
    assert got[1]["value"] == "rows.1.aktiv" and got[1]["status"] == "ok"
    assert got[2]["value"] == "rows.2.aktiv", got[2]
    assert got[3]["value"] is None and got[3]["missing"] and got[3]["status"] == "empty"
    assert got[4]["value"] is None and got[4]["status"] == "low_confidence" and len(got[4]["marked"]) == 2
    assert got[5]["value"] == "rows.5.vantetid" and got[5]["status"] == "ok"


def test_crafted_marks_on_fk_real_form(registry, shared_dir):
    rp, fields, plan = _scanned_page(registry, 200, True, 21, real=True)
    wrong = [f"{fid} ({name}): {read_checkbox(rp, fields[fid]).detail}" for fid, name in plan.items()
             if read_checkbox(rp, fields[fid]).detail["state"] not in CASES[name][1]]
    assert not wrong, "\n".join(wrong)


def test_untouched_page_reads_empty(registry):
    """A blank time-report page: all 120 boxes empty (dust, 300 dpi grey, JPEG)."""
    t = registry.get(FORM, VERSION)
    img = render.render_blank_image(t, PAGE, 300).copy()
    rng = np.random.default_rng(5)
    prof = replace(scan.ScanProfile.random(rng, 300, False), speckle_per_dm2=25.0, jpeg_quality=40)
    s = scan.simulate_scan(img, 300, prof, rng)
    rp = process_page(PageImage(None, 0, s.image, 300.0, False, "jpeg"), registry).registered
    assert rp is not None and rp.ok
    boxes = [f for f in t.expanded_fields(PAGE) if f.kind == FieldKind.checkbox]
    assert len(boxes) == 120
    states = collections.Counter(read_checkbox(rp, f).detail["state"] for f in boxes)
    assert states == {"empty": 120}


# --- decisions and group rules on their own -------------------------------------------------

def _m(share, span, ring=0.0, ring_span=0.0, core=None):
    core = share if core is None else core
    return MarkMeasurements(share, share, span, 1 if span else 0, ring, ring_span, 3.2, core)


def test_decision_thresholds():
    assert decide_checkbox(_m(0.0, 0.0))[0] == "empty"
    assert decide_checkbox(_m(0.01, 0.4))[0] == "empty"  # a dust speck
    assert decide_checkbox(_m(0.03, 1.1))[0] == "ambiguous"
    assert decide_checkbox(_m(0.1, 1.5))[0] == "ambiguous"  # a 1 mm touch of the pen  # a short touch
    assert decide_checkbox(_m(0.2, 3.0))[0] == "marked"
    assert decide_checkbox(_m(0.8, 3.2))[0] == "filled"
    assert decide_checkbox(_m(0.6, 3.2, core=0.05))[0] == "marked"  # a bold cross, not solid
    assert decide_checkbox(_m(0.0, 0.0, ring=0.1, ring_span=3.0))[0] == "ambiguous"  # beside the box
    state, conf, _ = decide_checkbox(_m(0.3, 3.2))
    assert conf > decide_checkbox(_m(0.045, 1.9))[1] >= 0.8


def _r(fid, value, share, conf=0.95):
    status = "low_confidence" if value is None else ("empty" if value is False else "ok")
    return Reading(fid, FieldKind.checkbox, 1, (0, 0, 4.5, 4.5), value, conf, status, share > 0,
                   detail={"inner_share": share})


def test_group_rules():
    one = {"a": _r("a", True, 0.2), "b": _r("b", False, 0.0), "c": _r("c", False, 0.0)}
    assert resolve_group(one, "exactly_one")["value"] == "a"
    assert resolve_group(one, "at_most_one")["value"] == "a"
    none = {"a": _r("a", False, 0.0), "b": _r("b", False, 0.0)}
    g = resolve_group(none, "exactly_one")
    assert g["value"] is None and g["missing"] and g["status"] == "empty"
    g = resolve_group(none, "at_most_one")
    assert g["value"] is None and not g["missing"] and g["status"] == "ok"
    # a weak second mark (a stray stroke read as marked) beside a clear one
    stray = {"a": _r("a", True, 0.25), "b": _r("b", True, 0.05)}
    g = resolve_group(stray, "exactly_one")
    assert g["value"] == "a" and g["status"] == "ok"
    two = {"a": _r("a", True, 0.25), "b": _r("b", True, 0.18)}
    g = resolve_group(two, "exactly_one")
    assert g["value"] is None and g["status"] == "low_confidence"
    assert resolve_group(two, "at_most_one")["status"] == "low_confidence"
    only_unclear = {"a": _r("a", None, 0.03, 0.5), "b": _r("b", False, 0.0)}
    g = resolve_group(only_unclear, "exactly_one")
    assert g["value"] is None and g["status"] == "low_confidence" and not g["missing"]
    # one clear mark and an ambiguous box with comparable ink: review, the mark is proposed
    close = {"a": _r("a", True, 0.06), "b": _r("b", None, 0.03, 0.5)}
    g = resolve_group(close, "exactly_one")
    assert g["value"] == "a" and g["status"] == "low_confidence"
    with pytest.raises(ValueError):
        resolve_group(one, "any")


# --- generated batches ----------------------------------------------------------------------

def _confusion(folder):
    cm = collections.Counter()
    for s in iter_field_samples(folder):
        if s.field.kind != FieldKind.checkbox:
            continue
        r = read_checkbox(s.page, s.field)
        cm[(bool(s.truth), r.detail["state"], s.style)] += 1
    return cm


def _check_accuracy(cm, label):
    n = sum(cm.values())
    right = sum(v for (t, st, _), v in cm.items() if (st in ("marked", "filled")) == t and st != "ambiguous")
    to_review = sum(v for (_, st, _), v in cm.items() if st == "ambiguous")
    wrong = n - right - to_review
    marked = sum(v for (t, _, _), v in cm.items() if t)
    print(f"{label}: {n} checkboxes ({marked} marked): right {right}, ambiguous {to_review}, wrong {wrong}; {dict(cm)}")
    assert marked >= 10, "too few marked boxes to measure"
    assert right / n >= 0.998, (label, dict(cm))  # ambiguous counts as wrong here
    assert wrong == 0, (label, dict(cm))


def test_generated_batches(tmp_path):
    list(generate_samples(tmp_path, SampleOptions(count=5, seed=4242)))
    _check_accuracy(_confusion(tmp_path), "replica")


def test_generated_batches_on_fk_real_forms(tmp_path, shared_dir):
    list(generate_samples(tmp_path, SampleOptions(count=4, seed=4343, real_forms=True)))
    _check_accuracy(_confusion(tmp_path), "FK real forms")
