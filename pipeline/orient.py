"""Stage 2a, orient: turn a page upright and remove its skew.

Skew is measured from the form's long horizontal structures (ruling lines, text lines) by a
projection profile over candidate angles on a reduced image. This estimate only has to be
good enough for line detection (well within ±0.3°); registration then fits the exact
transform, and the skew reported per page comes from that fit.

Which way up a page is (0/180, or 90/270 for a page scanned landscape) is decided with the
identification stage: :func:`rotation_candidates` orders the candidates by a cheap cue, and
identification confirms one by reading the skanningsID.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from pipeline import defs
from pipeline.ingest import PageImage


@dataclass(frozen=True)
class OrientedPage:
    """A page turned upright (``rotation`` degrees clockwise) and deskewed (``skew_deg``)."""

    page: PageImage
    image: np.ndarray
    dpi: float
    rotation: int
    skew_deg: float
    to_oriented: np.ndarray  # 2×3 affine: original scan px → this image's px


def _reduce(img: np.ndarray, dpi: float, target_dpi: float) -> tuple[np.ndarray, float]:
    f = min(1.0, target_dpi / dpi)
    if f < 1.0:
        img = cv2.resize(img, None, fx=f, fy=f, interpolation=cv2.INTER_AREA)
    return img, f


def dark_mask(img: np.ndarray) -> np.ndarray:
    """Ink and print as a boolean mask (Otsu, bounded so a near-blank page stays blank)."""
    t, _ = cv2.threshold(img, 0, 255, cv2.THRESH_BINARY + cv2.THRESH_OTSU)
    t = min(max(t, defs.INK_THRESHOLD_MIN), defs.INK_THRESHOLD_MAX)
    return img < t


def thin_mask(mask: np.ndarray, dpi: float) -> np.ndarray:
    """Drop solid dark areas (scanner borders, filled blocks, the logo) from a mask: what
    survives an opening with a SOLID_MIN_MM square is solid, not rule, text or handwriting."""
    n = max(3, int(defs.SOLID_MIN_MM * dpi / defs.MM_PER_INCH))
    m8 = mask.astype(np.uint8)
    solid = cv2.morphologyEx(m8, cv2.MORPH_OPEN, cv2.getStructuringElement(cv2.MORPH_RECT, (n, n)))
    if not solid.any():
        return mask
    solid = cv2.dilate(solid, np.ones((3, 3), np.uint8), iterations=2)
    return mask & ~solid.astype(bool)


def estimate_skew(img: np.ndarray, dpi: float) -> float:
    """Skew angle in degrees (positive: the content is turned clockwise in the image)."""
    # threshold first, then reduce: a thin rule (0.19 mm on FK's older layouts) averaged
    # into paper grey before thresholding would vanish
    full = dark_mask(img).astype(np.uint8) * 255
    small, f = _reduce(full, dpi, defs.SKEW_DPI)
    mask = thin_mask(small > defs.SKEW_MASK_LEVEL, defs.SKEW_DPI)
    # Keep horizontal structures: runs of ink at least SKEW_RUN_MM long survive the opening,
    # while handwriting, dots and vertical rules mostly do not.
    px = defs.SKEW_DPI / defs.MM_PER_INCH
    k = cv2.getStructuringElement(cv2.MORPH_RECT, (max(3, int(defs.SKEW_RUN_MM * px)), 1))
    lines = cv2.morphologyEx(mask.astype(np.uint8), cv2.MORPH_OPEN, k)
    ys, xs = np.nonzero(lines)
    if len(xs) < defs.SKEW_MIN_POINTS:
        ys, xs = np.nonzero(mask)
    if len(xs) < defs.SKEW_MIN_POINTS:
        return 0.0
    if len(xs) > defs.SKEW_MAX_POINTS:
        sel = np.random.default_rng(0).choice(len(xs), defs.SKEW_MAX_POINTS, replace=False)
        xs, ys = xs[sel], ys[sel]
    xs = xs.astype(np.float64) - small.shape[1] / 2
    ys = ys.astype(np.float64)

    def best(angles: np.ndarray) -> float:
        # Half-pixel bins; the centre of the plateau of best scores (within 0.5 %) rather
        # than its first angle, since near the optimum many angles bin the same way.
        scores = []
        for a in angles:
            proj = 2.0 * (ys - xs * np.tan(np.radians(a)))
            h = np.bincount((proj - proj.min()).astype(np.int64))
            scores.append(float(np.dot(h, h)))
        s = np.asarray(scores)
        return float(angles[s >= s.max() * 0.995].mean())

    coarse = best(np.arange(-defs.MAX_SKEW_DEG, defs.MAX_SKEW_DEG + 1e-9, 0.25))
    return best(np.arange(coarse - 0.3, coarse + 0.3 + 1e-9, 0.02))


def rotation_candidates(img: np.ndarray, dpi: float) -> list[int]:
    """Clockwise rotations that may turn the page upright, most likely first.

    FK forms are portrait: a landscape image was fed sideways (90 or 270). Between the two
    remaining candidates, the side margin holding the vertical skanningsID and footer (the
    left one when upright) carries more ink than the other."""
    h, w = img.shape
    pair = [90, 270] if w > h * 1.05 else [0, 180]
    small, f = _reduce(img, dpi, 50)
    mask = dark_mask(small)
    px = 50 / defs.MM_PER_INCH
    a, b = int(defs.MARGIN_CUE_MM[0] * px), int(defs.MARGIN_CUE_MM[1] * px)
    if pair == [0, 180]:
        first, second = mask[:, a:b].mean(), mask[:, mask.shape[1] - b:mask.shape[1] - a].mean()
    else:  # upright, the left margin is at the bottom (rot 90) or the top (rot 270) of the image
        first, second = mask[mask.shape[0] - b:mask.shape[0] - a, :].mean(), mask[a:b, :].mean()
    return pair if first >= second else pair[::-1]


def _rot90_matrix(rotation: int, h: int, w: int) -> np.ndarray:
    """2×3 affine of a clockwise quarter-turn rotation of an h×w image (exact, no resampling)."""
    if rotation == 0:
        return np.array([[1, 0, 0], [0, 1, 0]], np.float64)
    if rotation == 90:
        return np.array([[0, -1, h - 1], [1, 0, 0]], np.float64)
    if rotation == 180:
        return np.array([[-1, 0, w - 1], [0, -1, h - 1]], np.float64)
    if rotation == 270:
        return np.array([[0, 1, 0], [-1, 0, w - 1]], np.float64)
    raise ValueError(rotation)


def compose(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """The affine ``a ∘ b`` (apply b, then a), both 2×3."""
    A = np.vstack([a, [0, 0, 1]])
    B = np.vstack([b, [0, 0, 1]])
    return (A @ B)[:2]


def invert(a: np.ndarray) -> np.ndarray:
    return cv2.invertAffineTransform(a)


def orient(page: PageImage, rotation: int, skew_deg: float | None = None) -> OrientedPage:
    """Turn the page by ``rotation`` (clockwise) and remove its skew (measured if not given)."""
    img = page.image
    h, w = img.shape
    turned = np.ascontiguousarray(np.rot90(img, k=-(rotation // 90))) if rotation else img
    m_rot = _rot90_matrix(rotation, h, w)
    if skew_deg is None:
        skew_deg = estimate_skew(turned, page.dpi)
    th, tw = turned.shape
    # cv2's positive angle turns the image counter-clockwise: that undoes a clockwise skew.
    m_skew = cv2.getRotationMatrix2D((tw / 2, th / 2), skew_deg, 1.0) if skew_deg else None
    if m_skew is not None:
        border = 255
        out = cv2.warpAffine(turned, m_skew, (tw, th), flags=cv2.INTER_LINEAR, borderValue=border)
        total = compose(m_skew, m_rot)
    else:
        out, total = turned, m_rot
    return OrientedPage(page, out, page.dpi, rotation, float(skew_deg), total)
