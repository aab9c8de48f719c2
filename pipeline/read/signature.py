"""Signatures: is the signature box signed? Present / absent / uncertain, from the ink alone.

No one's signature is verified here (FK has no specimens); the question is only whether a
person has signed. A signature is a long, continuous, curving pen line across a good part of
the box. What must not pass for one: a stray dot or dust, a short tick, the box crossed out
(one X through it), a straight line, a name typed or printed by a computer. So the reading
keeps several measurements (in ``detail``) and asks for all of them:

- strokes: components of the ink after a small closing (a pen line broken by a faint spot
  or by the dropout of a printed rule is one stroke again);
- extent: horizontal span of the ink (mm and share of the box), vertical span (mm);
- density: ink share of the box;
- continuity: the pen line's length (half the contour length of the strokes: a thin line's
  outline runs along both of its sides) per mm of horizontal span: a straight line is ~1,
  an X through a flat box ~2, handwriting 3–10;
- curvature: how the line's direction is spread over angles (entropy of the gradient
  orientation histogram) and how much of it lies in the two strongest directions: a line or
  an X has one or two directions, handwriting turns through all of them;
- print: letters of equal height standing on one straight baseline, unslanted — a typed name.

Conservative: when in doubt the reading is *uncertain* (value None, status low_confidence,
a person looks); *absent* (value False, status empty) only when there is next to no ink:
a required signature is then missing.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Literal

import cv2
import numpy as np

from pipeline import defs
from pipeline.forms import ExpandedField, FieldKind
from pipeline.read.types import Reading

SignatureState = Literal["present", "absent", "uncertain"]


@dataclass(frozen=True)
class SignatureFeatures:
    ink_mm2: float  # ink area (mm²)
    ink_share: float  # of the (inset) box
    strokes: int  # components spanning ≥ defs.SIGNATURE_STROKE_MIN_SPAN_MM after a small closing
    largest_span_mm: float  # longer side of the largest stroke's bounding box
    width_mm: float  # horizontal span of the strokes
    width_share: float  # … as a share of the box's width
    height_mm: float  # vertical span of the strokes
    length_mm: float  # pen-line length of the strokes (half their contour length)
    continuity: float  # length / width
    orient_entropy: float  # 0..1
    two_direction_share: float  # share of the line in its two strongest directions
    straight_share: float  # share of the ink on straight segments ≥ defs.SIGNATURE_STRAIGHT_MIN_MM
    letters: int  # letter-sized components (unclosed), for the print test
    on_baseline: float  # share of those letters on one straight baseline

    def as_dict(self) -> dict:
        return {k: round(v, 4) if isinstance(v, float) else v for k, v in asdict(self).items()}


_EMPTY = SignatureFeatures(0.0, 0.0, 0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0, 0.0)


def _ink_mask(img: np.ndarray) -> np.ndarray:
    if img.size == 0:
        return np.zeros(img.shape, np.uint8)
    paper = float(np.percentile(img, 90))
    level = min(defs.SIGNATURE_INK_LEVEL, paper - defs.SIGNATURE_INK_CONTRAST)
    return (img < level).astype(np.uint8)


def _orientation(mask: np.ndarray) -> tuple[float, float]:
    """Entropy (0..1) of the edge orientation histogram of the strokes, and the share of
    edge weight in the two strongest directions (each ± one bin)."""
    f = cv2.GaussianBlur(mask.astype(np.float32), (5, 5), 1.0)
    gx = cv2.Sobel(f, cv2.CV_32F, 1, 0, ksize=3)
    gy = cv2.Sobel(f, cv2.CV_32F, 0, 1, ksize=3)
    mag = np.hypot(gx, gy)
    sel = mag > 0.2 * (mag.max() + 1e-9)
    if sel.sum() < 10:
        return 0.0, 1.0
    ang = (np.degrees(np.arctan2(gy[sel], gx[sel])) % 180.0)
    hist = np.bincount(np.minimum((ang / (180.0 / defs.SIGNATURE_ORIENT_BINS)).astype(int), defs.SIGNATURE_ORIENT_BINS - 1),
                       weights=mag[sel], minlength=defs.SIGNATURE_ORIENT_BINS)
    p = hist / hist.sum()
    nz = p[p > 0]
    entropy = float(-(nz * np.log(nz)).sum() / np.log(defs.SIGNATURE_ORIENT_BINS))
    # two strongest directions with their neighbours (a direction spreads over ±1 bin)
    smooth = p + np.roll(p, 1) + np.roll(p, -1)
    i = int(np.argmax(smooth))
    rest = smooth.copy()
    for d in (-2, -1, 0, 1, 2):
        rest[(i + d) % defs.SIGNATURE_ORIENT_BINS] = 0.0
    j = int(np.argmax(rest))
    covered = {(i + d) % defs.SIGNATURE_ORIENT_BINS for d in (-1, 0, 1)} | {(j + d) % defs.SIGNATURE_ORIENT_BINS for d in (-1, 0, 1)}
    return entropy, float(sum(p[b] for b in covered))


def _straight_share(mask: np.ndarray, k: float) -> float:
    """Share of the ink lying on straight segments at least defs.SIGNATURE_STRAIGHT_MIN_MM long."""
    total = int(mask.sum())
    if total == 0:
        return 0.0
    q = defs.SIGNATURE_STRAIGHT_PX_PER_MM
    if k > q * 1.2:
        small = cv2.resize(mask.astype(np.float32), (max(1, int(round(mask.shape[1] * q / k))),
                                                     max(1, int(round(mask.shape[0] * q / k)))),
                           interpolation=cv2.INTER_AREA) > 0.25
        small = small.astype(np.uint8)
    else:
        small, q = mask, k
    n = int(small.sum())
    min_len = int(round(defs.SIGNATURE_STRAIGHT_MIN_MM * q))
    segs = cv2.HoughLinesP(small * 255, 1, np.pi / 180, threshold=max(5, int(0.7 * min_len)),
                           minLineLength=min_len, maxLineGap=max(1, int(round(defs.SIGNATURE_STRAIGHT_GAP_MM * q))))
    if segs is None or n == 0:
        return 0.0
    on = np.zeros_like(small)
    t = max(1, int(round(defs.SIGNATURE_STRAIGHT_BAND_MM * q)))
    for x0, y0, x1, y1 in np.asarray(segs).reshape(-1, 4):
        cv2.line(on, (int(x0), int(y0)), (int(x1), int(y1)), 1, t)
    return float((small & on).sum()) / n


def _baseline(mask: np.ndarray, k: float) -> tuple[int, float]:
    """Letter-sized components (unclosed) and the share standing on one straight baseline."""
    n, _, stats, _ = cv2.connectedComponentsWithStats(mask, connectivity=8)
    if n <= 1:
        return 0, 0.0
    h = stats[1:, cv2.CC_STAT_HEIGHT] / k
    sel = (h >= defs.SIGNATURE_PRINT_LETTER_MM[0]) & (h <= defs.SIGNATURE_PRINT_LETTER_MM[1])
    if sel.sum() < defs.SIGNATURE_PRINT_MIN_LETTERS:
        return int(sel.sum()), 0.0
    med = float(np.median(h[sel]))
    sel &= np.abs(h - med) <= 0.25 * med
    n_letters = int(sel.sum())
    if n_letters < defs.SIGNATURE_PRINT_MIN_LETTERS:
        return n_letters, 0.0
    xs = (stats[1:, cv2.CC_STAT_LEFT] + stats[1:, cv2.CC_STAT_WIDTH] / 2.0)[sel] / k
    bottoms = (stats[1:, cv2.CC_STAT_TOP] + stats[1:, cv2.CC_STAT_HEIGHT])[sel] / k
    # robust line through the bottoms: every pair's line, keep the one most letters sit on
    best = 0
    tol = max(defs.SIGNATURE_PRINT_BASELINE_TOL_MM, defs.SIGNATURE_PRINT_BASELINE_TOL_PX / k)
    for a in range(n_letters):
        for b in range(a + 1, n_letters):
            if abs(xs[b] - xs[a]) < 1e-6:
                continue
            slope = (bottoms[b] - bottoms[a]) / (xs[b] - xs[a])
            if abs(slope) > 0.1:  # typed text sits level (± 6°)
                continue
            on = int((np.abs(bottoms - (bottoms[a] + slope * (xs - xs[a]))) <= tol).sum())
            best = max(best, on)
    return n_letters, best / n_letters


def signature_features(img: np.ndarray, k: float, box_w_mm: float) -> SignatureFeatures:
    """Measure the ink in a print-free crop of the (inset) signature box; ``k`` px per mm."""
    mask = _ink_mask(img)
    total = int(mask.sum())
    if total == 0:
        return _EMPTY
    closed = cv2.morphologyEx(mask, cv2.MORPH_CLOSE, cv2.getStructuringElement(
        cv2.MORPH_ELLIPSE, (max(1, int(round(defs.SIGNATURE_CLOSE_MM * k))) | 1,) * 2))
    n, labels, stats, _ = cv2.connectedComponentsWithStats(closed, connectivity=8)
    spans = np.maximum(stats[1:, cv2.CC_STAT_WIDTH], stats[1:, cv2.CC_STAT_HEIGHT]) / k
    keep = np.flatnonzero(spans >= defs.SIGNATURE_STROKE_MIN_SPAN_MM) + 1
    ink_mm2 = total / (k * k)
    share = total / mask.size
    if len(keep) == 0:
        return SignatureFeatures(ink_mm2, share, 0, float(spans.max(initial=0.0)), 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)
    st = stats[keep]
    x0, y0 = st[:, cv2.CC_STAT_LEFT].min(), st[:, cv2.CC_STAT_TOP].min()
    x1 = (st[:, cv2.CC_STAT_LEFT] + st[:, cv2.CC_STAT_WIDTH]).max()
    y1 = (st[:, cv2.CC_STAT_TOP] + st[:, cv2.CC_STAT_HEIGHT]).max()
    strokes = np.isin(labels, keep).astype(np.uint8) * mask  # the strokes' own pixels
    contours, _ = cv2.findContours(strokes, cv2.RETR_LIST, cv2.CHAIN_APPROX_NONE)
    length = sum(cv2.arcLength(c, True) for c in contours) / 2.0 / k
    width = (x1 - x0) / k
    entropy, two = _orientation(strokes[y0:y1, x0:x1])
    letters, on_base = _baseline(strokes, k)
    straight = _straight_share(strokes[y0:y1, x0:x1], k)
    return SignatureFeatures(
        ink_mm2=ink_mm2, ink_share=share, strokes=len(keep), largest_span_mm=float(spans[keep - 1].max()),
        width_mm=width, width_share=width / max(box_w_mm, 1e-6), height_mm=(y1 - y0) / k,
        length_mm=length, continuity=length / max(width, 1e-6), orient_entropy=entropy,
        two_direction_share=two, straight_share=straight, letters=letters, on_baseline=on_base)


def decide_signature(f: SignatureFeatures) -> tuple[SignatureState, float, list[str]]:
    """State, confidence and the reasons against a signature (empty when present)."""
    if f.strokes == 0 or (f.ink_mm2 < defs.SIGNATURE_ABSENT_MAX_INK_MM2 and f.largest_span_mm < defs.SIGNATURE_ABSENT_MAX_SPAN_MM):
        conf = 0.99 if f.ink_mm2 == 0 else 0.9
        return "absent", conf, ["no pen line (empty, dust or a dot)"]
    against = []
    if f.width_mm < defs.SIGNATURE_SIG_MIN_WIDTH_MM:
        against.append(f"only {f.width_mm:.1f} mm wide (a tick or a mark)")
    if f.height_mm < defs.SIGNATURE_SIG_MIN_HEIGHT_MM:
        against.append(f"only {f.height_mm:.1f} mm high (a line)")
    if f.continuity < defs.SIGNATURE_SIG_MIN_CONTINUITY:
        against.append(f"pen line {f.continuity:.1f}× its width (straight strokes)")
    if f.orient_entropy < defs.SIGNATURE_SIG_MIN_ORIENT_ENTROPY:
        against.append(f"one or two directions only (orientation entropy {f.orient_entropy:.2f}: a line or a cross)")
    if f.straight_share > defs.SIGNATURE_SIG_MAX_STRAIGHT_SHARE:
        against.append(f"{f.straight_share:.0%} of the ink on long straight strokes (lines, a cross)")
    if f.letters >= defs.SIGNATURE_PRINT_MIN_LETTERS and f.on_baseline >= defs.SIGNATURE_PRINT_MIN_ON_BASELINE:
        against.append(f"{f.letters} letters on one straight baseline (printed text)")
    if against:
        return "uncertain", 0.5, against
    # surer the further every measure is past its threshold
    margins = [f.width_mm / defs.SIGNATURE_SIG_MIN_WIDTH_MM, f.height_mm / defs.SIGNATURE_SIG_MIN_HEIGHT_MM, f.continuity / defs.SIGNATURE_SIG_MIN_CONTINUITY,
               f.orient_entropy / defs.SIGNATURE_SIG_MIN_ORIENT_ENTROPY, defs.SIGNATURE_SIG_MAX_STRAIGHT_SHARE / max(f.straight_share, 0.3)]
    conf = float(min(0.99, 0.75 + 0.5 * (min(margins) - 1.0)))
    return "present", conf, []


def read_signature(page, f: ExpandedField) -> Reading:
    """Read a signature box of a RegisteredPage."""
    k = page.dpi / defs.MM_PER_INCH
    w = f.box[2]
    ink = page.ink_crop(f, pad_mm=-defs.SIGNATURE_INSET_MM)
    feats = signature_features(ink, k, w - 2 * defs.SIGNATURE_INSET_MM)
    state, conf, against = decide_signature(feats)
    value = {"present": True, "absent": False}.get(state)
    status = {"present": "ok", "absent": "empty", "uncertain": "low_confidence"}[state]
    return Reading(field_id=f.id, kind=FieldKind.signature, page=f.page, box_mm=tuple(f.box), value=value,
                   confidence=conf, status=status, ink=feats.ink_mm2 > 0,
                   detail={"state": state, "against": against, **feats.as_dict()})
