"""Stage 2c, register: the exact transform from template millimetres to scan pixels.

Estimated from the form's own ruling: the template knows every printed rule (its drawing and
its field frames); the scan's rules are found by morphology. A coarse fit matches 1-D
profiles of horizontal and vertical rules over scale and shift; a fine fit then pairs points
along every template rule with the nearest scanned rule across it, and solves two small
least-squares problems (horizontal rules fix the y row of the affine, vertical rules the x
row), dropping outliers (handwriting that crosses a rule, rules hidden under a stamp).

The result carries a quality figure (RMS residual in mm and the share of the template's
rules found); a page that cannot be registered says why, and goes to review.
"""

from __future__ import annotations

from dataclasses import dataclass, field
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


def _rule_points(rules: tuple[Rule, ...], orient: str) -> np.ndarray:
    """Sample points (x, y in mm) along the rules of one orientation."""
    pts = []
    for o, pos, a, b in rules:
        if o != orient:
            continue
        inset = min(defs.REG_END_INSET_MM, (b - a) / 4)
        n = max(2, int((b - a - 2 * inset) / defs.REG_SAMPLE_STEP_MM) + 1)
        t = np.linspace(a + inset, b - inset, n)
        pts.append(np.column_stack([t, np.full(n, pos)]) if o == "h" else np.column_stack([np.full(n, pos), t]))
    return np.vstack(pts) if pts else np.zeros((0, 2))


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
    band = int(defs.REG_EDGE_BAND_MM * dpi / defs.MM_PER_INCH)
    for m in (h, v):
        m[:band], m[-band:], m[:, :band], m[:, -band:] = 0, 0, 0, 0
    return _Masks(_drop_edge_touching(h), _drop_edge_touching(v), dpi)


def _drop_edge_touching(mask: np.ndarray) -> np.ndarray:
    """Remove structures that touch the image edge: scanner borders and the paper's edge
    shadow. A form's rules lie at least 15 mm inside the paper, never at its edge."""
    n, labels, stats, _ = cv2.connectedComponentsWithStats(mask, connectivity=8)
    h, w = mask.shape
    x, y, bw, bh = stats[:, 0], stats[:, 1], stats[:, 2], stats[:, 3]
    edge = (x == 0) | (y == 0) | (x + bw >= w) | (y + bh >= h)
    edge[0] = True  # background
    return ~edge[labels]


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


# --- the stage ------------------------------------------------------------------------------

@dataclass
class RegisteredPage:
    """A page in template space: ``image`` is the scan resampled so that template mm map to
    pixels at ``dpi`` (x = mm × dpi / 25.4); ``mm_to_px`` maps template mm to pixels of the
    original scan as ingested (for scoring against truth and for drawing overlays)."""

    identified: IdentifiedPage
    template: FormTemplate
    page_number: int
    image: np.ndarray
    dpi: float
    mm_to_px: np.ndarray
    quality: RegistrationQuality
    ok: bool
    reason: str | None = None
    _ink: np.ndarray | None = field(default=None, repr=False)

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

    def crop(self, f: ExpandedField, pad_mm: float = 0.0) -> np.ndarray:
        return self.image[self._slice(f.box, pad_mm)]

    @property
    def ink(self) -> np.ndarray:
        """The filler's ink alone: the registered page with the blank form's print removed."""
        if self._ink is None:
            self._ink = remove_print(self.image, self.template, self.page_number, self.dpi)
        return self._ink

    def ink_crop(self, f: ExpandedField, pad_mm: float = 0.0) -> np.ndarray:
        return self.ink[self._slice(f.box, pad_mm)]


@lru_cache(maxsize=32)
def _print_mask(template: FormTemplate, page: int, dpi: float, shape: tuple[int, int]) -> np.ndarray:
    from pipeline.synth.render import render_blank_image

    blank = render_blank_image(template, page, int(round(dpi)))
    if blank.shape != shape:
        blank = cv2.resize(blank, (shape[1], shape[0]), interpolation=cv2.INTER_AREA)
    r = max(1, int(round(defs.DROPOUT_DILATE_MM * dpi / defs.MM_PER_INCH)))
    mask = cv2.dilate((blank < 200).astype(np.uint8), cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * r + 1, 2 * r + 1)))
    return mask.astype(bool)


def remove_print(image: np.ndarray, template: FormTemplate, page: int, dpi: float) -> np.ndarray:
    """The filler's ink: the blank form's print and isolated scanner specks removed."""
    mask = _print_mask(template, page, float(dpi), image.shape)
    ink = np.where(mask, 255, image).astype(np.uint8)
    return despeckle(ink, dpi)


def despeckle(img: np.ndarray, dpi: float) -> np.ndarray:
    """Whiten dust: ink specks smaller than DESPECKLE_MAX_MM2 with no other ink within
    DESPECKLE_ISOLATION_MM. A written full stop or decimal comma sits next to its digits and
    is kept."""
    k = dpi / defs.MM_PER_INCH
    ink = (img < 160).astype(np.uint8)
    n, labels, stats, _ = cv2.connectedComponentsWithStats(ink, connectivity=8)
    small = stats[:, cv2.CC_STAT_AREA] <= defs.DESPECKLE_MAX_MM2 * k * k
    small[0] = False
    if not small.any():
        return img
    big = (~small[labels]) & (ink > 0)
    r = max(1, int(round(defs.DESPECKLE_ISOLATION_MM * k)))
    near_big = cv2.dilate(big.astype(np.uint8), cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * r + 1, 2 * r + 1))) > 0
    isolated = np.ones(n, bool)
    ys, xs = np.nonzero(small[labels] & near_big)
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


def fit(op: OrientedPage, template: FormTemplate, page: int) -> tuple[np.ndarray, RegistrationQuality]:
    """mm → oriented-image px affine for one template page, and its quality."""
    return _best_fit(_rule_masks(op.image, op.dpi), template_rules(template, page), template.page_size_of(page))


def register(ip: IdentifiedPage, registry: TemplateRegistry) -> RegisteredPage | None:
    """Register an identified form page; None for pages that are not forms."""
    ident = ip.ident
    if ident.kind != "form" or ip.oriented is None:
        return None
    t = registry.get(ident.form, ident.version)
    op = ip.oriented
    m_oriented, q = fit(op, t, ident.page_number)
    ok, reason = q.ok()
    # template mm → original scan px: undo the orientation step
    mm_to_px = compose(invert(op.to_oriented), m_oriented)
    # resample the original scan once, straight into template space
    k = op.dpi / defs.MM_PER_INCH
    px_to_mm = np.array([[1 / k, 0, 0], [0, 1 / k, 0]], np.float64)
    tpx_to_scan = compose(mm_to_px, px_to_mm)
    w, h = page_size_px(t, ident.page_number, op.dpi)
    image = cv2.warpAffine(op.page.image, tpx_to_scan, (w, h), flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
                           borderMode=cv2.BORDER_CONSTANT, borderValue=255)
    return RegisteredPage(ip, t, ident.page_number, image, op.dpi, mm_to_px, q, ok, reason)


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
