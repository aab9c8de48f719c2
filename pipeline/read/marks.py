"""Checkbox marks: measure the ink in and around a printed square, then decide.

As OMRChecker does, *detection* (:func:`measure_checkbox`: numbers about the ink, no
opinion) is kept apart from *interpretation* (:func:`decide_checkbox`: those numbers → a
state). The measurements are taken on the filler's ink alone (``RegisteredPage.ink``: the
blank form's print dropped out, isolated dust removed), in template space.

- The *inner box* is the printed square inset by :data:`defs.CHECKBOX_INNER_INSET_MM`, so that the square's
  own line, the dropout's halo around it and a little registration error never count.
- The *ring* is the band just outside the square (beyond the dropout halo): a tick that
  overshoots, or a mark made beside the box rather than in it, leaves ink there.

States: ``empty`` (no mark), ``marked`` (a tick, a cross, a stroke), ``filled`` (the box
blacked in; some people mark that way, and a box filled and then crossed stays filled: it is
marked), ``ambiguous`` (some ink, too little or too odd to call: a person decides).
:func:`resolve_group` applies a group's rule (exactly_one / at_most_one) to its members.
"""

from __future__ import annotations

from dataclasses import dataclass, asdict
from typing import Literal, Mapping

import cv2
import numpy as np

from pipeline import defs
from pipeline.forms import ExpandedField, FieldKind
from pipeline.read.types import Reading

MarkState = Literal["empty", "marked", "filled", "ambiguous"]


# --- detection ------------------------------------------------------------------------------

@dataclass(frozen=True)
class MarkMeasurements:
    """What the ink in and around one square measures (no decision here)."""

    inner_share: float  # ink pixels / inner-box pixels
    largest_share: float  # pixels of the largest component inside the inner box / inner-box pixels
    largest_span_mm: float  # longer side of the largest inner component's bounding box
    strokes: int  # inner components spanning ≥ defs.CHECKBOX_STROKE_MIN_SPAN_MM (after a small closing)
    ring_share: float  # ink pixels / ring pixels
    ring_span_mm: float  # longer side of the largest component in the ring
    inner_mm: float  # side of the inner box actually measured (mm)
    core_share: float = 0.0  # ink left after eroding by defs.CHECKBOX_FILLED_CORE_MM / inner-box pixels (solid ink)
    rule_residue_mm: float = 0.0  # length of printed-rule residue ignored (mm)

    def as_dict(self) -> dict:
        return {k: round(v, 4) if isinstance(v, float) else v for k, v in asdict(self).items()}


def _kernel(px: int) -> np.ndarray:
    px = max(1, px)
    return cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (px, px))


def _rule_residue(mask: np.ndarray, k: float) -> np.ndarray:
    """Pixels of thin axis-parallel lines (leftover printed rules), see defs.CHECKBOX_RULE_MIN_MM.

    A 1–2 px rule resampled into template space steps between rows, so the mask is first
    thickened by one pixel across the rule (joining the steps), then opened with a long
    line; bands no thicker than a rule are residue."""
    n = max(3, int(round(defs.CHECKBOX_RULE_MIN_MM * k)))
    out = np.zeros(mask.shape, bool)
    if mask.sum() < n:
        return out
    max_px = max(2, int(round(defs.CHECKBOX_RULE_MAX_MM * k)))
    for horizontal in (True, False):
        across = cv2.getStructuringElement(cv2.MORPH_RECT, (1, 3) if horizontal else (3, 1))
        runs = cv2.morphologyEx(cv2.dilate(mask, across), cv2.MORPH_OPEN,
                                cv2.getStructuringElement(cv2.MORPH_RECT, (n, 1) if horizontal else (1, n)))
        if not runs.any():
            continue
        num, labels, stats, _ = cv2.connectedComponentsWithStats(runs, connectivity=8)
        thin = np.zeros(num, bool)
        for j in range(1, num):
            x, y, w, h = stats[j, :4]
            if (h if horizontal else w) > max_px + 2:
                continue
            # a rule runs alone: beside its band (3 px either side) there is little ink. Two
            # strokes meeting at a crossing also make long thin runs, with ink all along them.
            if horizontal:
                side = mask[max(0, y - 3):y, x:x + w].any(0) | mask[y + h:y + h + 3, x:x + w].any(0)
            else:
                side = mask[y:y + h, max(0, x - 3):x].any(1) | mask[y:y + h, x + w:x + w + 3].any(1)
            thin[j] = side.mean() <= defs.CHECKBOX_RULE_MAX_SIDE_SHARE
        if thin.any():
            out |= (cv2.dilate(thin[labels].astype(np.uint8), across) > 0) & (mask > 0)
    return out


def measure_ink(ink_img: np.ndarray, box_px: tuple[float, float, float, float], px_per_mm: float) -> MarkMeasurements:
    """Measure a square at ``box_px`` (x, y, w, h in pixels of ``ink_img``; the image is the
    print-free ink around the square, with at least defs.CHECKBOX_RING_TO_MM of margin where possible)."""
    k = px_per_mm
    x, y, w, h = box_px
    H, W = ink_img.shape[:2]
    mask = (ink_img < defs.CHECKBOX_INK_LEVEL).astype(np.uint8)
    residue = _rule_residue(mask, k)
    if residue.any():
        mask[residue] = 0

    def rect(inset_mm: float) -> tuple[int, int, int, int]:
        d = inset_mm * k
        return (max(0, int(round(x + d))), max(0, int(round(y + d))),
                min(W, int(round(x + w - d))), min(H, int(round(y + h - d))))

    ix0, iy0, ix1, iy1 = rect(defs.CHECKBOX_INNER_INSET_MM)
    inner = mask[iy0:iy1, ix0:ix1]
    n_inner = max(1, inner.size)
    inner_share = float(inner.sum()) / n_inner

    largest_share = 0.0
    largest_span = 0.0
    strokes = 0
    core_share = 0.0
    if inner_share >= defs.CHECKBOX_FILLED_MIN_SHARE:
        core = cv2.erode(inner, _kernel(int(round(defs.CHECKBOX_FILLED_CORE_MM * k))), borderType=cv2.BORDER_REPLICATE)
        core_share = float(core.sum()) / n_inner
    if inner_share > 0:
        n, _, stats, _ = cv2.connectedComponentsWithStats(inner, connectivity=8)
        if n > 1:
            areas = stats[1:, cv2.CC_STAT_AREA]
            spans = np.maximum(stats[1:, cv2.CC_STAT_WIDTH], stats[1:, cv2.CC_STAT_HEIGHT]) / k
            j = int(np.argmax(areas))
            largest_share = float(areas[j]) / n_inner
            largest_span = float(spans[j])
        closed = cv2.morphologyEx(inner, cv2.MORPH_CLOSE, _kernel(int(round(defs.CHECKBOX_STROKE_CLOSE_MM * k))))
        n2, _, st2, _ = cv2.connectedComponentsWithStats(closed, connectivity=8)
        if n2 > 1:
            sp2 = np.maximum(st2[1:, cv2.CC_STAT_WIDTH], st2[1:, cv2.CC_STAT_HEIGHT]) / k
            strokes = int((sp2 >= defs.CHECKBOX_STROKE_MIN_SPAN_MM).sum())

    # the ring: outside the square beyond the dropout halo, out to defs.CHECKBOX_RING_TO_MM
    ox0, oy0, ox1, oy1 = rect(-defs.CHECKBOX_RING_TO_MM)
    rx0, ry0, rx1, ry1 = rect(-defs.CHECKBOX_RING_FROM_MM)
    outer = mask[oy0:oy1, ox0:ox1].copy()
    outer[ry0 - oy0:ry1 - oy0, rx0 - ox0:rx1 - ox0] = 0
    ring_px = max(1, (ox1 - ox0) * (oy1 - oy0) - (rx1 - rx0) * (ry1 - ry0))
    ring_share = float(outer.sum()) / ring_px
    ring_span = 0.0
    if ring_share > 0:
        n, _, stats, _ = cv2.connectedComponentsWithStats(outer, connectivity=8)
        if n > 1:
            ring_span = float(np.max(np.maximum(stats[1:, cv2.CC_STAT_WIDTH], stats[1:, cv2.CC_STAT_HEIGHT]))) / k
    return MarkMeasurements(inner_share, largest_share, largest_span, strokes, ring_share, ring_span,
                            float(min(ix1 - ix0, iy1 - iy0)) / k, core_share, float(residue.sum()) / k)


def measure_checkbox(page, f: ExpandedField) -> MarkMeasurements:
    """Measure one checkbox of a RegisteredPage: its ink with the ring around it."""
    k = page.dpi / defs.MM_PER_INCH
    x, y, w, h = f.box
    m = defs.CHECKBOX_RING_TO_MM + 0.2
    x0, y0 = page.crop_origin(f, m)
    return measure_ink(page.ink_crop(f, m), (x * k - x0, y * k - y0, w * k, h * k), k)


# --- interpretation -------------------------------------------------------------------------

def decide_checkbox(m: MarkMeasurements) -> tuple[MarkState, float, str]:
    """State, confidence (0..1) and a short reason, from the measurements alone."""
    if m.inner_share >= defs.CHECKBOX_FILLED_MIN_SHARE and m.core_share >= defs.CHECKBOX_FILLED_MIN_CORE:
        return "filled", float(min(0.99, 0.8 + (m.inner_share - defs.CHECKBOX_FILLED_MIN_SHARE))), "box blacked in"
    mark_ev = min(m.largest_span_mm / defs.CHECKBOX_MARK_SPAN_MM, m.inner_share / defs.CHECKBOX_MARK_MIN_SHARE)
    if mark_ev >= 1.0:
        # margins beyond the thresholds make it surer; a full-box tick reaches 0.99
        return "marked", float(min(0.99, 0.8 + 0.2 * (mark_ev - 1.0))), "a stroke across the box"
    empty_ev = max(m.largest_span_mm / defs.CHECKBOX_EMPTY_MAX_SPAN_MM, m.inner_share / defs.CHECKBOX_EMPTY_MAX_SHARE)
    if empty_ev <= 1.0:
        if m.ring_share >= defs.CHECKBOX_RING_MARK_SHARE and m.ring_span_mm >= defs.CHECKBOX_RING_MARK_SPAN_MM:
            return "ambiguous", 0.5, "ink beside the box, not in it"
        return "empty", float(min(0.99, 0.99 - 0.2 * empty_ev)), "no ink larger than a speck"
    return "ambiguous", 0.5, "some ink, too little for a mark"


def read_checkbox(page, f: ExpandedField) -> Reading:
    """Read one checkbox: value True (marked or filled), False (empty), None (ambiguous)."""
    m = measure_checkbox(page, f)
    state, conf, reason = decide_checkbox(m)
    value = {"empty": False, "marked": True, "filled": True}.get(state)
    status = "low_confidence" if state == "ambiguous" else ("empty" if state == "empty" else "ok")
    detail = {"state": state, "reason": reason, **m.as_dict()}
    return Reading(field_id=f.id, kind=FieldKind.checkbox, page=f.page, box_mm=tuple(f.box), value=value,
                   confidence=conf, status=status, ink=m.inner_share > 0 or m.ring_share > 0,
                   alternatives=(((not value) if value is not None else True, round(1 - conf, 3)),),
                   detail=detail)


# --- groups ---------------------------------------------------------------------------------

@dataclass(frozen=True)
class GroupResult:
    value: str | None  # the one marked member's field id, None when none (or undecidable)
    status: Literal["ok", "low_confidence", "empty"]
    confidence: float
    marked: tuple[str, ...]  # members read as marked / filled
    ambiguous: tuple[str, ...]  # members read as ambiguous
    missing: bool  # exactly_one and nothing marked: the group's answer is missing
    reason: str


def _strength(r: Reading) -> float:
    return float(r.detail.get("inner_share", 0.0))


def resolve_group(readings: Mapping[str, Reading], rule: str) -> dict:
    """Apply a group's rule to its members' readings (field id → Reading).

    - one clear mark, the rest empty → that member;
    - one clear mark and others marked or ambiguous but with far less ink (a faint stray touch,
      a pen resting on a neighbouring box; ≤ 1/defs.CHECKBOX_GROUP_DOMINANCE of the clear mark's ink) → the
      clear one, with lowered confidence;
    - several clear marks, or only ambiguous ones → undecided: status low_confidence (review);
    - nothing marked: exactly_one → missing (status empty); at_most_one → no choice, ok.
    """
    if rule not in ("exactly_one", "at_most_one"):
        raise ValueError(f"unknown group rule {rule!r}")
    marked = sorted((fid for fid, r in readings.items() if r.value is True), key=lambda i: -_strength(readings[i]))
    amb = sorted(fid for fid, r in readings.items() if r.value is None)
    out = dict(rule=rule, marked=tuple(marked), ambiguous=tuple(amb))

    def res(value, status, conf, missing, reason) -> dict:
        return {**out, "value": value, "status": status, "confidence": round(float(conf), 3),
                "missing": missing, "reason": reason}

    if not marked and not amb:
        if rule == "exactly_one":
            return res(None, "empty", min((r.confidence for r in readings.values()), default=1.0), True,
                       "no box marked")
        return res(None, "ok", min((r.confidence for r in readings.values()), default=1.0), False, "no box marked")
    if not marked:
        return res(None, "low_confidence", 0.5, False, "only unclear marks")
    best = marked[0]
    rivals = marked[1:] + amb
    top = _strength(readings[best])
    if not rivals:
        conf = min(r.confidence for r in readings.values())
        return res(best, "ok", conf, False, "one box marked")
    second = max(_strength(readings[i]) for i in rivals)
    if top >= defs.CHECKBOX_GROUP_DOMINANCE * max(second, 1e-6):
        conf = readings[best].confidence * (1.0 - second / max(top, 1e-6)) ** 0.5
        status = "ok" if conf >= 0.7 else "low_confidence"
        return res(best, status, conf, False, "one clear mark, the other ink is a stray touch")
    if len(marked) > 1:
        return res(None, "low_confidence", 0.5, False, f"{len(marked)} boxes marked")
    return res(best, "low_confidence", 0.5, False, "one mark and unclear ink in another box")
