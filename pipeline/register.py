"""Stage 2c, register: the exact transform from template millimetres to scan pixels.

Estimated from the form's own ruling: the template knows every printed rule (its drawing and
its field frames); the scan's rules are found by morphology. A coarse fit matches 1-D
profiles of horizontal and vertical rules over scale and shift; a fine fit then pairs points
along every template rule with the nearest scanned rule across it, and solves two small
least-squares problems (horizontal rules fix the y row of the affine, vertical rules the x
row), dropping outliers (handwriting that crosses a rule, rules hidden under a stamp).

Paper is not always flat: a letter folded for its envelope, a sheet bulging on the glass or
curled at an edge shifts the print locally by up to ~1 mm against any one affine. So the
affine is locally refined: the residuals of the rule samples are fitted with a smooth
displacement field (a normalised convolution of the residuals, coarse to fine, stored as
``LocalWarp``: node values every 2 mm over the template, bilinear between; see ``_refine``
for why this model), kept only where the samples support it and only when it clearly
lowers the residuals. The page is then
resampled through the full mapping, so that crops land on the boxes.

The result carries a quality figure (RMS residual in mm and the share of the template's
rules found); a page that cannot be registered says why, and goes to review.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import cv2
import numpy as np

from pipeline import defs
from pipeline.forms import ExpandedField, FormTemplate, TemplateRegistry
from pipeline.identify import IdentifiedPage
from pipeline.orient import OrientedPage, compose, dark_mask, invert, thin_mask

# A rule: (orientation "h"/"v", position mm, from mm, to mm)
Rule = tuple[str, float, float, float]

# --- the template's rules -------------------------------------------------------------------

@lru_cache(maxsize=64)
def template_rules(template: FormTemplate, page: int) -> tuple[Rule, ...]:
    """Every printed rule of a template page long enough to register on, in mm."""
    p = template.page(page)
    rules: list[Rule] = []

    def box(x, y, w, h):
        rules.extend([("h", y, x, x + w), ("h", y + h, x, x + w), ("v", x, y, y + h), ("v", x + w, y, y + h)])

    for d in p.drawing:
        if d.rect is not None:
            box(*d.rect)
        elif d.line is not None:
            x1, y1, x2, y2 = d.line
            if abs(y1 - y2) < 0.05:
                rules.append(("h", y1, min(x1, x2), max(x1, x2)))
            elif abs(x1 - x2) < 0.05:
                rules.append(("v", x1, min(y1, y2), max(y1, y2)))
    for f in template.expanded_fields(page):
        x, y, w, h = f.box
        if f.frame in ("box", "comb"):
            box(x, y, w, h)
        elif f.frame == "underline":
            rules.append(("h", y + h, x, x + w))
    out = {(o, round(pos, 2), round(a, 2), round(b, 2)) for o, pos, a, b in rules if b - a >= defs.REG_MIN_RULE_MM}
    return tuple(sorted(out))


@lru_cache(maxsize=128)
def _rule_points(rules: tuple[Rule, ...], orient: str) -> np.ndarray:
    """Sample points (x, y in mm) along the rules of one orientation (cached: read-only)."""
    pts = []
    for o, pos, a, b in rules:
        if o != orient:
            continue
        inset = min(defs.REG_END_INSET_MM, (b - a) / 4)
        n = max(2, int((b - a - 2 * inset) / defs.REG_SAMPLE_STEP_MM) + 1)
        t = np.linspace(a + inset, b - inset, n)
        pts.append(np.column_stack([t, np.full(n, pos)]) if o == "h" else np.column_stack([np.full(n, pos), t]))
    out = np.vstack(pts) if pts else np.zeros((0, 2))
    out.flags.writeable = False
    return out


# --- the scan's rules -----------------------------------------------------------------------

@dataclass
class _Masks:
    h: np.ndarray  # horizontal rule pixels
    v: np.ndarray  # vertical rule pixels
    dpi: float


def _rule_masks(img: np.ndarray, dpi: float) -> _Masks:
    ink = thin_mask(dark_mask(img), dpi).astype(np.uint8)
    n = max(5, int(defs.REG_LINE_KERNEL_MM * dpi / defs.MM_PER_INCH))
    h = cv2.morphologyEx(ink, cv2.MORPH_OPEN, cv2.getStructuringElement(cv2.MORPH_RECT, (n, 1)))
    v = cv2.morphologyEx(ink, cv2.MORPH_OPEN, cv2.getStructuringElement(cv2.MORPH_RECT, (1, n)))
    # Scanner borders and the paper's edge shadow lie in a band along the image edge; a
    # form's rules lie at least 15 mm inside the paper, never there.
    band = max(1, int(defs.REG_EDGE_BAND_MM * dpi / defs.MM_PER_INCH))
    for m in (h, v):
        m[:band], m[-band:], m[:, :band], m[:, -band:] = 0, 0, 0, 0
    return _Masks(h.astype(bool), v.astype(bool), dpi)


# --- coarse: profiles over scale and shift --------------------------------------------------

def _coarse_axis(profile: np.ndarray, positions_mm: np.ndarray, weights: np.ndarray, px: float,
                 centre_mm: float) -> list[tuple[float, float, float]]:
    """Candidate (scale, shift px, score) mappings of template positions onto a 1-D rule
    profile, best first: the best per distinct shift (forms repeat rows at a fixed pitch,
    so a shift by one row can score nearly as well as the right one).

    Scale is taken about the page centre so that scale and shift are nearly independent."""
    sigma = defs.REG_PROFILE_SIGMA_MM * px
    prof = cv2.GaussianBlur(profile.astype(np.float32).reshape(-1, 1), (1, 0), sigma).ravel()
    scales = np.arange(1 - defs.REG_MAX_SCALE_DEV, 1 + defs.REG_MAX_SCALE_DEV + 1e-9, defs.REG_SCALE_STEP)
    max_shift = int(defs.REG_MAX_SHIFT_MM * px)
    shifts = np.arange(-max_shift, max_shift + 1)
    base = (positions_mm - centre_mm) * px
    table = np.empty((len(scales), len(shifts)))
    for i, s in enumerate(scales):
        pos = np.rint(centre_mm * px + base * s).astype(np.int64)
        idx = pos[None, :] + shifts[:, None]
        valid = (idx >= 0) & (idx < len(prof))
        vals = np.where(valid, prof[np.clip(idx, 0, len(prof) - 1)], 0.0)
        table[i] = vals @ weights
    best_per_shift = table.max(axis=0)
    scale_per_shift = scales[table.argmax(axis=0)]
    out: list[tuple[float, float, float]] = []
    sep = defs.REG_CANDIDATE_SEPARATION_MM * px
    for j in np.argsort(-best_per_shift):
        if all(abs(shifts[j] - c[1]) >= sep for c in out):
            out.append((float(scale_per_shift[j]), float(shifts[j]), float(best_per_shift[j])))
            if len(out) == defs.REG_COARSE_CANDIDATES:
                break
    return out


def _coarse(masks: _Masks, rules: tuple[Rule, ...], page_mm: tuple[float, float]) -> list[tuple[np.ndarray, float]]:
    """Coarse mm → px affines (scale and shift per axis), best first, with their scores:
    the share of template rule length sitting on scanned rule pixels."""
    px = masks.dpi / defs.MM_PER_INCH
    h = [(pos, b - a) for o, pos, a, b in rules if o == "h"]
    v = [(pos, b - a) for o, pos, a, b in rules if o == "v"]
    hy, hw = np.array([p for p, _ in h]), np.array([w for _, w in h])
    vx, vw = np.array([p for p, _ in v]), np.array([w for _, w in v])
    ys = _coarse_axis(masks.h.sum(axis=1), hy, hw, px, page_mm[1] / 2)
    xs = _coarse_axis(masks.v.sum(axis=0), vx, vw, px, page_mm[0] / 2)
    cx, cy = page_mm[0] / 2 * px, page_mm[1] / 2 * px
    norm = (hw.sum() + vw.sum()) * px
    out = []
    for sx, tx, score_x in xs:
        for sy, ty, score_y in ys:
            m = np.array([[sx * px, 0, cx - sx * cx + tx], [0, sy * px, cy - sy * cy + ty]], np.float64)
            out.append((m, (score_x + score_y) / max(norm, 1e-9)))
    out.sort(key=lambda c: c[1], reverse=True)
    return out


# --- fine: points on rules, least squares ---------------------------------------------------

def _nearest_rule(mask: np.ndarray, pts_px: np.ndarray, across_y: bool, window: int,
                  run: int) -> tuple[np.ndarray, np.ndarray]:
    """For each predicted point, the centre of the nearest run of rule pixels across the rule
    (within ±window px). Returns observed coordinates and a found-flag."""
    hgt, wid = mask.shape
    offs = np.arange(-window, window + 1)
    x = np.rint(pts_px[:, 0]).astype(np.int64)
    y = np.rint(pts_px[:, 1]).astype(np.int64)
    if across_y:
        rows, cols = y[:, None] + offs[None, :], np.repeat(x[:, None], len(offs), axis=1)
    else:
        rows, cols = np.repeat(y[:, None], len(offs), axis=1), x[:, None] + offs[None, :]
    inside = (rows >= 0) & (rows < hgt) & (cols >= 0) & (cols < wid)
    vals = np.zeros(rows.shape, bool)
    vals[inside] = mask[rows[inside], cols[inside]]
    found = vals.any(axis=1)
    dist = np.where(vals, np.abs(offs)[None, :], 10 ** 6)
    nearest = offs[np.argmin(dist, axis=1)]
    # centre of the run around the nearest pixel: average the set pixels within ±run px of it
    near = vals & (np.abs(offs[None, :] - nearest[:, None]) <= run)
    centre = (near * offs[None, :]).sum(axis=1) / np.maximum(near.sum(axis=1), 1)
    base = pts_px[:, 1] if across_y else pts_px[:, 0]
    return np.rint(base) + centre, found


def _fit_row(design: np.ndarray, target: np.ndarray, w: np.ndarray) -> np.ndarray:
    sw = np.sqrt(w)[:, None]
    coef, *_ = np.linalg.lstsq(design * sw, target * sw.ravel(), rcond=None)
    return coef


@dataclass
class RegistrationQuality:
    rms_mm: float
    max_mm: float
    found_share: float  # share of template rule sample points on a scanned rule, after the fit
    points: int
    affine_rms_mm: float | None = None  # the affine's RMS over the same samples (refined fits)
    refined: bool = False  # a local displacement field is part of the mapping

    def ok(self) -> tuple[bool, str | None]:
        if self.found_share < defs.REG_MIN_FOUND_SHARE:
            return False, f"only {self.found_share:.0%} of the form's rules were found on the scan"
        if self.rms_mm > defs.REG_MAX_RMS_MM:
            return False, f"rules fit poorly (RMS {self.rms_mm:.2f} mm)"
        return True, None


def _fine(masks: _Masks, rules: tuple[Rule, ...], m0: np.ndarray) -> tuple[np.ndarray, RegistrationQuality]:
    px = masks.dpi / defs.MM_PER_INCH
    hp, vp = _rule_points(rules, "h"), _rule_points(rules, "v")
    m = m0.copy()
    windows = [defs.REG_WINDOW_MM * px, defs.REG_WINDOW_FINE_MM * px, defs.REG_WINDOW_FINE_MM * px]
    res_all = np.zeros(0)
    found_share = 0.0
    for win in windows:
        rows_new = []
        residuals = []
        inliers = 0
        for pts, across_y, mask in ((vp, False, masks.v), (hp, True, masks.h)):
            if len(pts) < 3:
                rows_new.append(m[0 if not across_y else 1])
                continue
            pred = pts @ m[:, :2].T + m[:, 2]
            obs, found = _nearest_rule(mask, pred, across_y, max(2, int(win)),
                                       max(1, int(round(defs.REG_RUN_HALF_MM * px))))
            design = np.column_stack([pts, np.ones(len(pts))])
            sel = found
            coef = m[1 if across_y else 0]
            for _ in range(3):  # fit, drop outliers, refit
                if sel.sum() < 6:
                    break
                coef = _fit_row(design[sel], obs[sel], np.ones(int(sel.sum())))
                r = design @ coef - obs
                lim = max(defs.REG_OUTLIER_MM * px, 3.0 * 1.4826 * np.median(np.abs(r[sel])))
                new_sel = found & (np.abs(r) <= lim)
                if np.array_equal(new_sel, sel):
                    break
                sel = new_sel
            residuals.append((design @ coef - obs)[sel])
            inliers += int(sel.sum())
            rows_new.append(coef)
        m = np.vstack(rows_new)
        res_all = np.concatenate(residuals) if residuals else np.zeros(0)
        found_share = inliers / max(1, len(hp) + len(vp))
    rms = float(np.sqrt(np.mean(res_all ** 2)) / px) if len(res_all) else float("inf")
    mx = float(np.max(np.abs(res_all)) / px) if len(res_all) else float("inf")
    return m, RegistrationQuality(rms, mx, found_share, int(len(res_all)))


# --- local refinement ---------------------------------------------------------------------

@dataclass(frozen=True)
class _Grid:
    """Nodes every ``step`` mm over a template page, from (0, 0); bilinear between nodes."""

    nx: int
    ny: int
    step: float

    @classmethod
    def over(cls, page_mm: tuple[float, float], step: float) -> "_Grid":
        return cls(int(np.ceil(page_mm[0] / step)) + 1, int(np.ceil(page_mm[1] / step)) + 1, step)

    @property
    def nodes(self) -> int:
        return self.nx * self.ny

    def weights(self, pts_mm: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(N, 4) node indices and (N, 4) bilinear weights of points (x, y mm)."""
        gx = np.clip(pts_mm[:, 0] / self.step, 0, self.nx - 1)
        gy = np.clip(pts_mm[:, 1] / self.step, 0, self.ny - 1)
        i0 = np.minimum(gx.astype(np.int64), self.nx - 2)
        j0 = np.minimum(gy.astype(np.int64), self.ny - 2)
        fx, fy = gx - i0, gy - j0
        n = j0 * self.nx + i0
        idx = np.column_stack([n, n + 1, n + self.nx, n + self.nx + 1])
        w = np.column_stack([(1 - fx) * (1 - fy), fx * (1 - fy), (1 - fx) * fy, fx * fy])
        return idx, w


def _smooth_field(grid: _Grid, idx: np.ndarray, w: np.ndarray, target: np.ndarray) -> np.ndarray:
    """Node values (ny × nx, flat): ``target`` at the samples smoothed by normalised
    convolution (bilinear splat, Gaussian blur, divide; shrunk towards 0 where samples are
    sparse), coarse to fine: each level fits what the coarser ones left."""
    n = grid.nodes
    eps = np.float32(defs.REG_WARP_MIN_DENSITY * grid.step ** 2)  # density per mm² → samples per cell
    flat_idx, flat_w = idx.ravel(), w.ravel()
    wsum = np.bincount(flat_idx, flat_w, minlength=n).reshape(grid.ny, grid.nx).astype(np.float32)
    field = np.zeros(n)
    left = target.astype(np.float64)
    for sigma_mm in defs.REG_WARP_SIGMAS_MM:
        rsum = np.bincount(flat_idx, (w * left[:, None]).ravel(), minlength=n).reshape(grid.ny, grid.nx).astype(np.float32)
        sigma = sigma_mm / grid.step
        blur = lambda a: cv2.GaussianBlur(a, (0, 0), sigma, borderType=cv2.BORDER_CONSTANT)  # noqa: E731
        level = (blur(rsum) / (blur(wsum) + eps)).astype(np.float64).ravel()
        field += level
        left = left - (level[idx] * w).sum(axis=1)
    return field


def _supported(pts: np.ndarray, page_mm: tuple[float, float], all_pts: np.ndarray) -> bool:
    """Enough samples, spread over the blocks of the page that hold rules at all."""
    b = defs.REG_WARP_BLOCK_MM
    nbx, nby = int(np.ceil(page_mm[0] / b)), int(np.ceil(page_mm[1] / b))

    def blocks(p: np.ndarray) -> set[int]:
        bx = np.clip((p[:, 0] // b).astype(int), 0, nbx - 1)
        by = np.clip((p[:, 1] // b).astype(int), 0, nby - 1)
        return set((by * nbx + bx).tolist())

    ruled = blocks(all_pts)
    return len(pts) >= defs.REG_WARP_MIN_POINTS and len(blocks(pts) & ruled) >= defs.REG_WARP_MIN_BLOCK_SHARE * len(ruled)


def _refine(masks: _Masks, rules: tuple[Rule, ...], page_mm: tuple[float, float], m: np.ndarray,
            q: RegistrationQuality) -> tuple[np.ndarray, np.ndarray, _Grid, RegistrationQuality] | None:
    """A smooth displacement field (oriented-image px: x and y node values) on top of the
    affine ``m``, and the quality of the whole mapping; None when the samples support no
    refinement or it does not clearly help. Each axis is refined on its own, where its
    rules support it and where that clearly lowers its residuals; the other stays affine.

    Why this model: the displacement of paper that is not flat is smooth but local (a fold
    moves one part of the sheet against the other; a bulge or a curl touches a region). A
    low-order polynomial in x, y would spread a fold's step over the whole page and swing at
    the page's unruled margins. A kernel smoother (normalised convolution, see
    ``_smooth_field``) is local, fills the gaps between rules smoothly, and falls back to the
    affine by itself where there are no rules. A grid with a bending-energy penalty fits
    about as well (measured) but needs a dense ~500-node linear solve per axis and pass,
    which multi-threaded LAPACK on a loaded 2-core machine turns from 8 ms into 350 ms;
    this costs a few splats and blurs of a 2 mm grid. Vertical rules measure only the x
    displacement and horizontal rules only the y displacement, so the two axes are fitted
    separately, each from its own rules, with the same outlier rejection as the affine fit
    (handwriting across a rule, stamps), re-matching the rules around the refined
    prediction as the windows narrow."""
    px = masks.dpi / defs.MM_PER_INCH
    hp, vp = _rule_points(rules, "h"), _rule_points(rules, "v")
    axes = [(vp, False, masks.v, 0), (hp, True, masks.h, 1)]  # x from vertical rules, y from horizontal
    every = np.vstack([vp, hp])
    supported = [_supported(pts, page_mm, every) for pts, *_ in axes]
    if not any(supported):
        return None
    grid = _Grid.over(page_mm, defs.REG_WARP_CELL_MM)
    run = max(1, int(round(defs.REG_RUN_HALF_MM * px)))
    fields = [np.zeros(grid.nodes), np.zeros(grid.nodes)]  # x, y displacement at the nodes (px)
    stencils = [grid.weights(pts) for pts, *_ in axes]
    res_ref: list[np.ndarray] = [np.zeros(0), np.zeros(0)]  # per axis, over its inliers
    res_aff: list[np.ndarray] = [np.zeros(0), np.zeros(0)]
    for win_mm in defs.REG_WARP_WINDOWS_MM:
        for a, (pts, across_y, mask, row) in enumerate(axes):
            idx, w = stencils[a]
            aff = pts @ m[:, :2].T + m[:, 2]
            pred = aff.copy()
            pred[:, 0] += (fields[0][idx] * w).sum(axis=1)
            pred[:, 1] += (fields[1][idx] * w).sum(axis=1)
            obs, found = _nearest_rule(mask, pred, across_y, max(2, int(win_mm * px)), run)
            target = obs - aff[:, row]  # what the affine leaves along this axis
            sel = found
            g = np.zeros(grid.nodes)
            for _ in range(3):  # fit, drop outliers, refit
                if supported[a]:
                    if sel.sum() < defs.REG_WARP_MIN_POINTS:
                        return None
                    g = _smooth_field(grid, idx[sel], w[sel], target[sel]).ravel()
                r = (g[idx] * w).sum(axis=1) - target
                lim = max(defs.REG_OUTLIER_MM * px, 3.0 * 1.4826 * np.median(np.abs(r[sel])) if sel.any() else 0.0)
                new_sel = found & (np.abs(r) <= lim)
                if np.array_equal(new_sel, sel):
                    break
                sel = new_sel
            fields[row] = g
            res_ref[a], res_aff[a] = r[sel], target[sel]

    def rms(r: np.ndarray) -> float:
        return float(np.sqrt(np.mean(r ** 2)) / px) if len(r) else 0.0

    kept = [False, False]
    for a in (0, 1):
        r_ref, r_aff = rms(res_ref[a]), rms(res_aff[a])
        largest = float(np.abs(fields[a]).max() / px)
        kept[a] = (supported[a] and r_ref <= defs.REG_WARP_KEEP_RATIO * r_aff and r_aff - r_ref >= defs.REG_WARP_KEEP_MIN_GAIN_MM
                   and largest <= defs.REG_WARP_MAX_MM)
        if not kept[a]:
            fields[a][:] = 0.0
            res_ref[a] = res_aff[a]
    if not any(kept):
        return None
    rr, ra = np.concatenate(res_ref), np.concatenate(res_aff)
    share = len(rr) / max(1, len(every))
    if share < q.found_share - defs.REG_WARP_SHARE_SLACK:
        return None
    quality = RegistrationQuality(rms(rr), float(np.abs(rr).max() / px) if len(rr) else 0.0, share, int(len(rr)),
                                  rms(ra), True)
    return fields[0].reshape(grid.ny, grid.nx), fields[1].reshape(grid.ny, grid.nx), grid, quality


@dataclass(frozen=True)
class LocalWarp:
    """The smooth part of a page's mapping: a displacement (px of the original scan) added to
    the affine ``mm_to_px``, given at nodes every ``step_mm`` over the template from (0, 0),
    bilinear between (``dx``, ``dy``: (ny, nx) arrays)."""

    step_mm: float
    dx: np.ndarray
    dy: np.ndarray

    def at(self, points_mm: np.ndarray) -> np.ndarray:
        """(N, 2) displacements in px at (N, 2) template mm points."""
        ny, nx = self.dx.shape
        idx, w = _Grid(nx, ny, self.step_mm).weights(np.asarray(points_mm, np.float64).reshape(-1, 2))
        return np.column_stack([(self.dx.ravel()[idx] * w).sum(axis=1), (self.dy.ravel()[idx] * w).sum(axis=1)])

    def on_grid(self, xs_mm: np.ndarray, ys_mm: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The displacement (px) at every (x, y) of a regular grid: (len(ys), len(xs)) arrays,
        equal to ``at`` (bilinear interpolation is separable: along x, then along y)."""
        ny, nx = self.dx.shape

        def axis(v: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
            g = np.clip(np.asarray(v, np.float64) / self.step_mm, 0, n - 1)
            i0 = np.minimum(g.astype(np.int64), n - 2)
            return i0, g - i0

        i0, fx = axis(xs_mm, nx)
        j0, fy = axis(ys_mm, ny)
        out = []
        for f in (self.dx, self.dy):
            rows = f[:, i0] * (1 - fx) + f[:, i0 + 1] * fx
            out.append(rows[j0] * (1 - fy)[:, None] + rows[j0 + 1] * fy[:, None])
        return out[0], out[1]


# Resampling through a warped mapping: the source position of every template pixel is
# computed exactly on a grid every this many pixels (1 mm at 200 dpi) and interpolated
# bilinearly in between. The mapping is affine plus a field bilinear over 2 mm cells, so the
# interpolation is exact for the affine and off by < 0.01 px for the field.
_REMAP_STEP_PX = 8


def _warped_maps(mm_to_px: np.ndarray, warp: LocalWarp, k: float, size: tuple[int, int]
                 ) -> tuple[np.ndarray, np.ndarray]:
    """cv2.remap maps: template pixel (x, y) (= mm (x, y) / k) → scan px, warp included."""
    w, h = size
    g = _REMAP_STEP_PX
    gw, gh = (w + 2 * g) // g + 2, (h + 2 * g) // g + 2
    # cv2.resize by g maps big pixel x' to grid (x' + 0.5) / g - 0.5: node i at x' = i g + (g-1)/2;
    # the big image starts g pixels before the page, so its edge clamping stays off the page.
    xs = (np.arange(gw) * g + (g - 1) / 2.0 - g) / k
    ys = (np.arange(gh) * g + (g - 1) / 2.0 - g) / k
    dx, dy = warp.on_grid(xs, ys)
    maps = []
    for row, d in ((0, dx), (1, dy)):
        a, b, c = mm_to_px[row]
        coarse = (a * xs[None, :] + b * ys[:, None] + c + d).astype(np.float32)
        maps.append(cv2.resize(coarse, (gw * g, gh * g), interpolation=cv2.INTER_LINEAR)[g:g + h, g:g + w])
    return maps[0], maps[1]


# --- the stage ------------------------------------------------------------------------------

@dataclass
class RegisteredPage:
    """A page in template space: ``image`` is the scan resampled so that template mm map to
    pixels at ``dpi`` (x = mm × dpi / 25.4); ``mm_to_px`` maps template mm to pixels of the
    original scan as ingested (for scoring against truth and for drawing overlays). That is
    the affine part; ``warp`` (when the paper was not flat) adds a smooth local displacement,
    and ``to_px`` gives the full mapping the page was resampled through."""

    identified: IdentifiedPage
    template: FormTemplate
    page_number: int
    image: np.ndarray
    dpi: float
    mm_to_px: np.ndarray
    quality: RegistrationQuality
    ok: bool
    reason: str | None = None
    warp: LocalWarp | None = None

    def to_px(self, points_mm: np.ndarray | list) -> np.ndarray:
        """Template mm (N, 2) → px of the original scan (N, 2): the full mapping."""
        p = np.asarray(points_mm, dtype=np.float64).reshape(-1, 2)
        out = p @ self.mm_to_px[:, :2].T + self.mm_to_px[:, 2]
        return out + self.warp.at(p) if self.warp is not None else out

    @property
    def px_per_mm(self) -> float:
        return self.dpi / defs.MM_PER_INCH

    @property
    def skew_deg(self) -> float:
        """Rotation of the template's x axis in the scan, degrees clockwise, modulo the
        quarter turns (``rotation``)."""
        a = np.degrees(np.arctan2(self.mm_to_px[1, 0], self.mm_to_px[0, 0]))
        return float((a + 45) % 90 - 45)

    @property
    def rotation(self) -> int:
        a = np.degrees(np.arctan2(self.mm_to_px[1, 0], self.mm_to_px[0, 0]))
        return int(round(a / 90.0)) % 4 * 90

    def _slice(self, box: tuple[float, float, float, float], pad_mm: float) -> tuple[slice, slice]:
        k = self.px_per_mm
        x, y, w, h = box
        x0, y0 = int(round((x - pad_mm) * k)), int(round((y - pad_mm) * k))
        x1, y1 = int(round((x + w + pad_mm) * k)), int(round((y + h + pad_mm) * k))
        return slice(max(0, y0), min(self.image.shape[0], y1)), slice(max(0, x0), min(self.image.shape[1], x1))

    def crop_origin(self, f: ExpandedField, pad_mm: float = 0.0) -> tuple[int, int]:
        """Pixel (x, y) of the top-left corner of ``crop(f, pad_mm)`` / ``ink_crop(f, pad_mm)``."""
        rows, cols = self._slice(f.box, pad_mm)
        return cols.start, rows.start

    def crop(self, f: ExpandedField, pad_mm: float = 0.0) -> np.ndarray:
        return self.image[self._slice(f.box, pad_mm)]

    def ink_crop(self, f: ExpandedField, pad_mm: float = 0.0, mend: bool = False) -> np.ndarray:
        """The filler's ink in one field: print removed and dust dropped in just this region
        (with a margin, so specks are judged with their neighbourhood), not the whole page.
        ``mend``: writing that touches a rule keeps what the dropout's halo took of it
        (:func:`mend_dropout`)."""
        margin = defs.DESPECKLE_ISOLATION_MM + max(0.0, -pad_mm)
        outer = self._slice(f.box, pad_mm + margin)
        inner = self._slice(f.box, pad_mm)
        mask = _print_mask(self.template, self.page_number, float(self.dpi), self.image.shape)[outer]
        if mend:
            mask = mend_dropout(self.image[outer], mask, self.dpi)
        region = despeckle(np.where(mask, 255, self.image[outer]).astype(np.uint8), self.dpi)
        y0, x0 = inner[0].start - outer[0].start, inner[1].start - outer[1].start
        return region[y0:y0 + (inner[0].stop - inner[0].start), x0:x0 + (inner[1].stop - inner[1].start)]


@lru_cache(maxsize=32)
def _print_mask(template: FormTemplate, page: int, dpi: float, shape: tuple[int, int]) -> np.ndarray:
    from pipeline.synth.render import render_blank_image

    blank = render_blank_image(template, page, int(round(dpi)))
    if blank.shape != shape:
        blank = cv2.resize(blank, (shape[1], shape[0]), interpolation=cv2.INTER_AREA)
    mask = cv2.dilate((blank < 200).astype(np.uint8), _disc(_px(defs.DROPOUT_DILATE_MM, dpi)))
    return mask.astype(bool)


def _px(mm: float, dpi: float) -> int:
    return max(1, int(round(mm * dpi / defs.MM_PER_INCH)))


def _disc(r: int) -> np.ndarray:
    return cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * r + 1, 2 * r + 1))


def mend_dropout(image: np.ndarray, mask: np.ndarray, dpi: float) -> np.ndarray:
    """The dropout mask with writing that touches a rule given back: dark pixels of the halo
    (the mask outside the print proper, i.e. outside the mask shrunk back to
    DROPOUT_CORE_MM around the print) reached from the filler's ink outside the mask within
    DROPOUT_MEND_MM, 8-connected through dark pixels. A typed value set low in its box keeps
    the feet of its digits (cut off, a 2 reads as a 7, an 8 as a 0); the rule itself, and
    its halo away from any writing, stay removed."""
    dark = image < defs.INK_LEVEL
    shrink = _px(defs.DROPOUT_DILATE_MM, dpi) - _px(defs.DROPOUT_CORE_MM, dpi)
    if shrink <= 0:
        return mask
    core = cv2.erode(mask.astype(np.uint8), _disc(shrink)).astype(bool)
    halo = dark & mask & ~core
    if not halo.any():
        return mask
    reach = ((dark & ~mask) | halo).astype(np.uint8)
    grown = (dark & ~mask).astype(np.uint8)
    kernel = np.ones((3, 3), np.uint8)
    for _ in range(_px(defs.DROPOUT_MEND_MM, dpi)):
        grown = cv2.dilate(grown, kernel) & reach
    return mask & ~(grown.astype(bool) & halo)


def despeckle(img: np.ndarray, dpi: float) -> np.ndarray:
    """Whiten dust: ink specks smaller than DESPECKLE_MAX_MM2 with no other ink within
    DESPECKLE_ISOLATION_MM. A written full stop or decimal comma sits next to its digits and
    is kept. So is the dark core of a faint stroke (a ballpoint that skips, a light hand on a
    grey scan): it lies in a larger area of faint ink (darker than FAINT_INK_LEVEL),
    where dust is a speck on its own."""
    k = dpi / defs.MM_PER_INCH
    max_px = defs.DESPECKLE_MAX_MM2 * k * k
    ink = (img < defs.INK_LEVEL).astype(np.uint8)
    n, labels, stats, _ = cv2.connectedComponentsWithStats(ink, connectivity=8)
    small = stats[:, cv2.CC_STAT_AREA] <= max_px
    small[0] = False
    if not small.any():
        return img
    big = (~small[labels]) & (ink > 0)
    r = max(1, int(round(defs.DESPECKLE_ISOLATION_MM * k)))
    near_big = cv2.dilate(big.astype(np.uint8), cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * r + 1, 2 * r + 1))) > 0
    _, faint, faint_stats, _ = cv2.connectedComponentsWithStats((img < defs.FAINT_INK_LEVEL).astype(np.uint8),
                                                               connectivity=8)
    in_stroke = (faint_stats[faint, cv2.CC_STAT_AREA] > defs.DESPECKLE_FAINT_FACTOR * max_px) & (faint > 0)
    isolated = np.ones(n, bool)
    ys, xs = np.nonzero(small[labels] & (near_big | in_stroke))
    isolated[np.unique(labels[ys, xs])] = False
    drop = small & isolated
    out = img.copy()
    out[drop[labels]] = 255
    return out


def page_size_px(template: FormTemplate, page: int, dpi: float) -> tuple[int, int]:
    w, h = template.page_size_of(page)
    k = dpi / defs.MM_PER_INCH
    return int(round(w * k)), int(round(h * k))


def _best_fit(masks: _Masks, rules: tuple[Rule, ...], page_mm: tuple[float, float]
              ) -> tuple[np.ndarray, RegistrationQuality]:
    """Fine-fit the coarse candidates, best coarse score first, until one fits well."""
    best: tuple[np.ndarray, RegistrationQuality] | None = None
    for m0, _ in _coarse(masks, rules, page_mm)[: defs.REG_MAX_FINE_TRIES]:
        m, q = _fine(masks, rules, m0)
        if best is None or (q.found_share - q.rms_mm) > (best[1].found_share - best[1].rms_mm):
            best = (m, q)
        if q.found_share >= defs.REG_GOOD_FOUND_SHARE and q.rms_mm <= defs.REG_GOOD_RMS_MM:
            break
    assert best is not None
    return best


def fit(op: OrientedPage, template: FormTemplate, page: int, refine: bool = True
        ) -> tuple[np.ndarray, RegistrationQuality, LocalWarp | None]:
    """mm → oriented-image px affine for one template page, the local displacement field on
    top of it (oriented-image px; None when the page is flat or the rules cannot support
    one, or ``refine`` is off), and the quality of the whole mapping."""
    masks = _rule_masks(op.image, op.dpi)
    rules = template_rules(template, page)
    page_mm = template.page_size_of(page)
    m, q = _best_fit(masks, rules, page_mm)
    if not refine:
        return m, q, None
    refined = _refine(masks, rules, page_mm, m, q)
    if refined is None:
        return m, q, None
    dx, dy, grid, q_ref = refined
    return m, q_ref, LocalWarp(grid.step, dx, dy)


def register(ip: IdentifiedPage, registry: TemplateRegistry, refine: bool = True) -> RegisteredPage | None:
    """Register an identified form page; None for pages that are not forms. ``refine=False``
    keeps the mapping affine (for comparisons)."""
    ident = ip.ident
    if ident.kind != "form" or ip.oriented is None:
        return None
    t = registry.get(ident.form, ident.version)
    op = ip.oriented
    m_oriented, q, warp_oriented = fit(op, t, ident.page_number, refine)
    ok, reason = q.ok()
    # template mm → original scan px: undo the orientation step
    back = invert(op.to_oriented)
    mm_to_px = compose(back, m_oriented)
    warp = None
    if warp_oriented is not None:  # displacements turn with the orientation's linear part
        r = back[:, :2]
        warp = LocalWarp(warp_oriented.step_mm,
                         r[0, 0] * warp_oriented.dx + r[0, 1] * warp_oriented.dy,
                         r[1, 0] * warp_oriented.dx + r[1, 1] * warp_oriented.dy)
    # resample the original scan once, straight into template space
    k = op.dpi / defs.MM_PER_INCH
    w, h = page_size_px(t, ident.page_number, op.dpi)
    if warp is None:
        px_to_mm = np.array([[1 / k, 0, 0], [0, 1 / k, 0]], np.float64)
        tpx_to_scan = compose(mm_to_px, px_to_mm)
        image = cv2.warpAffine(op.page.image, tpx_to_scan, (w, h), flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
                               borderMode=cv2.BORDER_CONSTANT, borderValue=255)
    else:
        map_x, map_y = _warped_maps(mm_to_px, warp, k, (w, h))
        image = cv2.remap(op.page.image, map_x, map_y, cv2.INTER_LINEAR,
                          borderMode=cv2.BORDER_CONSTANT, borderValue=255)
    return RegisteredPage(ip, t, ident.page_number, image, op.dpi, mm_to_px, q, ok, reason, warp)


def match_layout(op: OrientedPage, registry: TemplateRegistry) -> tuple[FormTemplate, int] | None:
    """Identify a page by its ruling alone (when its skanningsID and footer are unreadable)."""
    masks = _rule_masks(op.image, op.dpi)
    scored = []
    for t in registry:
        for p in t.pages:
            _, q = _best_fit(masks, template_rules(t, p.number), t.page_size_of(p.number))
            if q.ok()[0]:
                scored.append((q.found_share - q.rms_mm, t, p.number))
    scored.sort(key=lambda s: s[0], reverse=True)
    if not scored:
        return None
    if len(scored) > 1 and scored[0][0] - scored[1][0] < defs.LAYOUT_MIN_MARGIN:
        return None
    return scored[0][1], scored[0][2]
