"""Simulate a production document scanner on a clean rendered page.

A clean page (the filled form rendered as greyscale uint8, white paper = 255) goes in; out
comes what a sheet-fed office scanner delivers: the page a little skewed, shifted and scaled,
sometimes fed upside down, softened by the optics, with paper tone, sensor noise, dust specks,
dark scanner borders, and either JPEG artefacts (greyscale) or a hard 1-bit threshold
(bitonal). The exact geometry applied is returned as an affine map from template millimetres
to output pixels, so registration can be scored against it.

A sheet that is not flat (folded for the envelope, bulging, curled along an edge) adds a
smooth local displacement on top of the affine: ``ScanProfile.warp``, a few analytic
components (``Fold``, ``Bulge``, ``Curl``) of at most ~1 mm together. It is defined on the
paper, in template millimetres, in the direction the renderer needs it: the output pixel
``q`` shows the template point ``p = u - e(u)`` where ``u`` = ``mm_to_px``⁻¹(q) is where
``q`` would sit on a flat sheet and ``e`` the sum of the components. The exact forward map
(template mm → output px) solves ``u = p + e(u)`` by fixed-point iteration (the field's
gradient is far below 1, so it converges to machine precision in a few steps); use
``ScanResult.to_px`` or, from a truth file, ``map_mm_to_px(mm_to_px, warp, points)``.

Conventions
- Template millimetres: x right, y down, origin at the paper's top-left corner.
- Pixel coordinates follow OpenCV: the centre of pixel (col, row) is at (col, row), so the
  paper's top-left corner is at (-0.5, -0.5). A clean render at ``clean_dpi`` is assumed to
  sample millimetre ``(i + 0.5) / (clean_dpi / 25.4)`` in pixel ``i`` (what pdftoppm, Pillow
  and OpenCV's resize do).
- Rotation: positive ``rotation_deg`` turns the content counter-clockwise as seen on screen.
  ``skew_deg`` in the result is this small skew; a page fed upside down has ``orientation``
  180 and its content is turned by a further 180 degrees.

Everything random is drawn from the ``numpy.random.Generator`` passed in, so a seed fixes the
output exactly.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Union

import cv2
import numpy as np

MM_PER_INCH = 25.4

# Resolutions FK intake scanners are configured for (dpi).
SUPPORTED_DPI = (200, 300)

# Nominal paper sizes (width, height in mm). A clean render whose size is within
# PAPER_SNAP_MM of one of these is delivered at exactly that nominal size, as a scanner with
# the paper size set delivers it (A4 at 300 dpi = 2480 x 3508 px).
PAPER_SIZES_MM = {"A4": (210.0, 297.0), "A5": (148.0, 210.0), "letter": (215.9, 279.4)}
PAPER_SNAP_MM = 2.0

# --- Limits of a profile (checked on construction) ---------------------------------------
MAX_SKEW_DEG = 5.0  # sheet-fed scanners with skew detection off rarely feed worse than this
MAX_SHIFT_MM = 10.0  # hard limit; random profiles stay within RANDOM_MAX_SHIFT_MM
SCALE_RANGE = (0.97, 1.03)  # roller speed / optics error of a misadjusted scanner
JPEG_QUALITY_RANGE = (30, 95)  # 30 is the worst a "small file" preset writes; 95 near lossless

# --- Random profile distribution ----------------------------------------------------------
# Most pages go in nearly straight: skew ~ N(0, STRAIGHT_SKEW_SIGMA_DEG) clipped to
# STRAIGHT_SKEW_MAX_DEG; a share STRONG_SKEW_SHARE is fed badly, |skew| 1.5..5 degrees.
STRAIGHT_SKEW_SIGMA_DEG = 0.5
STRAIGHT_SKEW_MAX_DEG = 1.5
STRONG_SKEW_SHARE = 0.15
UPSIDE_DOWN_SHARE = 0.10  # pages put in the feeder the wrong way round
RANDOM_SHIFT_SIGMA_MM = 1.5  # feeder guides leave the sheet a few mm off ...
RANDOM_MAX_SHIFT_MM = 4.0  # ... but never more than this
RANDOM_SCALE_SIGMA = 0.01
# Optical softness (Gaussian sigma in pixels at 300 dpi; scaled with dpi).
BLUR_SIGMA_300DPI_PX = (0.3, 1.0)
SPECKLE_SHARE = 0.6  # share of pages with dust specks at all
SPECKLE_PER_DM2_MAX = 25.0  # dark specks per square decimetre (A4 = 6.2 dm2)
LIGHT_HOLE_RATIO = 0.2  # light holes (toner drop-outs) per dark speck
BORDER_SHARE = 0.3  # share of pages with dark scanner-background strips at some edges
BORDER_SIDE_SHARE = 0.5  # given borders, the chance for each side to have one
BORDER_MM_RANGE = (0.5, 4.0)
JPEG_LOSSLESS_SHARE = 0.2  # greyscale scanners set to PNG/LZW instead of JPEG
PAPER_GREY_RANGE = (228, 252)  # white office paper as a scanner's grey channel reads it
INK_GREY_RANGE = (12, 45)  # black toner / ballpoint as read
NOISE_SIGMA_RANGE = (1.0, 4.0)  # sensor noise, grey levels
TEXTURE_AMPLITUDE_RANGE = (0.0, 2.5)  # slow paper brightness variation, grey levels; more looks mottled
# Bitonal output: a fixed global threshold, as a production scanner's "brightness" setting
# is (Fujitsu/Kodak/Canon drivers threshold the grey signal in hardware, per batch, not per
# page). Otsu is not used: on a mostly white form page with a dark border strip its split
# point jumps from page to page, and a fixed threshold reproduces the real behaviour that
# faint pencil or light blue ink drops out. 160 of 255 is the usual driver default; the
# random profiles vary it a little, as operators do.
BITONAL_THRESHOLD_DEFAULT = 160
BITONAL_THRESHOLD_RANGE = (145, 175)

# Paper that is not flat: share of random profiles with a warp, and its size. A sheet folded
# for a C5/C6 envelope and flattened again, or bulging on a flatbed, shifts print locally by
# a few tenths of a millimetre up to about one (measured on office scans of folded letters:
# 0.3 .. 1.2 mm against the flat neighbourhood).
WARP_SHARE = 0.15
WARP_MAX_MM = 1.0  # largest displacement of a random warp anywhere on the page
WARP_LIMIT_MM = 3.0  # hard limit of a profile's warp (checked on construction)
WARP_MAX_GRADIENT = 0.5  # mm per mm; keeps the field invertible (u = p + e(u) contracts)
WARP_CHECK_STEP_MM = 2.5  # grid on which a warp's size and gradient are checked
WARP_FOLD_WIDTH_MM = (2.0, 6.0)  # width of a flattened fold's transition
WARP_FOLD_STEP_MM = (0.2, 0.7)  # offset of the far side across the fold ...
WARP_FOLD_SHEAR_MM = 0.3  # ... and along it (at most)
WARP_FOLD_TILT = 0.003  # far side turned by up to 3 mrad (0.6 mm over the width of A4)
WARP_FOLD_ANGLE_DEG = 2.0  # a hand fold is not quite square to the sheet
WARP_FOLD_LINES_MM = (99.0, 148.5, 198.0)  # A4 folded in three (DL/C5-6) or in half
WARP_FOLD_JITTER_MM = 8.0
WARP_BULGE_RADIUS_MM = (25.0, 70.0)
WARP_BULGE_AMP_MM = (0.3, 1.0)
WARP_CURL_LENGTH_MM = (10.0, 35.0)  # how far in from the edge the curl reaches (e-folding)
WARP_CURL_AMP_MM = (0.3, 1.0)
WARP_CURL_SLOPE = 0.004  # amplitude change along the edge, mm per mm (a corner curls more)
WARP_FIXED_POINT_ITERATIONS = 30  # forward map: |∇e| <= 0.5 gives 2^-30 of the start error
WARP_RENDER_STEP_PX = 6  # the renderer evaluates the warp on this grid, bilinear between:
# the interpolation error is step² / 8 × |e''| <= (0.5 mm)² / 8 × 0.06 / mm < 0.002 mm

# --- Rendering constants --------------------------------------------------------------------
SCANNER_BACKGROUND_GREY = 28  # black scanner lid / feeder background seen past the paper
TEXTURE_CELL_MM = 8.0  # correlation length of the paper brightness variation
SPECKLE_RADIUS_300DPI_PX = (0, 2)  # dust specks: 1 to 5 pixels across at 300 dpi
DOWNSAMPLE_PRESMOOTH_BELOW = 0.9  # resample with area averaging first below this ratio
TWO_BYTE_SUM_SIGMA = math.sqrt(2 * (256**2 - 1) / 12)  # std of the sum of two uniform bytes


def _check_range(name: str, value: float, lo: float, hi: float) -> None:
    if not (lo <= value <= hi):
        raise ValueError(f"ScanProfile.{name}={value} outside [{lo}, {hi}]")


# --- Paper that is not flat ------------------------------------------------------------------

@dataclass(frozen=True)
class Fold:
    """A fold flattened again: across a line through (x_mm, y_mm) at ``angle_deg`` (0 = along
    x), the far side (positive normal, i.e. below a horizontal fold) sits offset by ``step_mm``
    (across, along the line) plus ``tilt`` mm across per mm along the line from that point;
    the change is a smooth tanh of half-width ``width_mm``."""

    x_mm: float
    y_mm: float
    angle_deg: float
    width_mm: float
    step_mm: tuple[float, float]
    tilt: float = 0.0

    def displacement(self, ux: np.ndarray, uy: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        a = math.radians(self.angle_deg)
        tx, ty = math.cos(a), math.sin(a)
        nx, ny = -ty, tx
        dx, dy = ux - self.x_mm, uy - self.y_mm
        s = dx * nx + dy * ny
        t = dx * tx + dy * ty
        side = 0.5 * (1.0 + np.tanh(s / self.width_mm))
        across = side * (self.step_mm[0] + self.tilt * t)
        along = side * self.step_mm[1]
        return across * nx + along * tx, across * ny + along * ty

    def scaled(self, k: float) -> "Fold":
        return Fold(self.x_mm, self.y_mm, self.angle_deg, self.width_mm,
                    (self.step_mm[0] * k, self.step_mm[1] * k), self.tilt * k)


@dataclass(frozen=True)
class Bulge:
    """A raised patch (a sheet lying on something, a wave of damp paper): radial displacement
    ``amp_mm`` × (r / R) × exp((1 - r²/R²) / 2), largest (``amp_mm``) at r = R."""

    x_mm: float
    y_mm: float
    radius_mm: float
    amp_mm: float

    def displacement(self, ux: np.ndarray, uy: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        dx, dy = (ux - self.x_mm) / self.radius_mm, (uy - self.y_mm) / self.radius_mm
        g = self.amp_mm * np.exp(0.5 * (1.0 - (dx * dx + dy * dy)))
        return g * dx, g * dy

    def scaled(self, k: float) -> "Bulge":
        return Bulge(self.x_mm, self.y_mm, self.radius_mm, self.amp_mm * k)


@dataclass(frozen=True)
class Curl:
    """An edge lifting off the glass: print near ``edge`` ("left", "top", "right", "bottom",
    at ``edge_mm``) moves across the edge by amp × exp(-distance / length_mm), the amplitude
    changing linearly along the edge (``slope`` mm per mm from ``centre_mm``)."""

    edge: str
    edge_mm: float
    length_mm: float
    amp_mm: float
    slope: float = 0.0
    centre_mm: float = 0.0

    def displacement(self, ux: np.ndarray, uy: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        vertical = self.edge in ("left", "right")
        across, along = (ux, uy) if vertical else (uy, ux)
        dist = np.abs(across - self.edge_mm)
        m = (self.amp_mm + self.slope * (along - self.centre_mm)) * np.exp(-dist / self.length_mm)
        zero = np.zeros_like(m)
        return (m, zero) if vertical else (zero, m)

    def scaled(self, k: float) -> "Curl":
        return Curl(self.edge, self.edge_mm, self.length_mm, self.amp_mm * k, self.slope * k, self.centre_mm)


WarpComponent = Union[Fold, Bulge, Curl]
_WARP_KINDS = {"fold": Fold, "bulge": Bulge, "curl": Curl}


def warp_displacement_mm(warp, ux, uy) -> tuple[np.ndarray, np.ndarray]:
    """e(u): the summed displacement (mm) of the warp components at flat-paper points u."""
    ux, uy = np.asarray(ux, np.float64), np.asarray(uy, np.float64)
    ex, ey = np.zeros_like(ux), np.zeros_like(uy)
    for c in warp:
        dx, dy = c.displacement(ux, uy)
        ex = ex + dx
        ey = ey + dy
    return ex, ey


def warp_to_json(warp) -> list[dict]:
    """The warp as plain data for a truth file (``warp_from_json`` reads it back)."""
    out = []
    for c in warp:
        kind = next(k for k, v in _WARP_KINDS.items() if isinstance(c, v))
        out.append({"kind": kind, **{k: (list(v) if isinstance(v, tuple) else v) for k, v in asdict(c).items()}})
    return out


def warp_from_json(data) -> tuple:
    if not data:
        return ()
    out = []
    for d in data:
        d = dict(d)
        cls = _WARP_KINDS[d.pop("kind")]
        if "step_mm" in d:
            d["step_mm"] = tuple(d["step_mm"])
        out.append(cls(**d))
    return tuple(out)


def map_mm_to_px(mm_to_px, warp, points_mm) -> np.ndarray:
    """Template mm (N, 2) → output px (N, 2), exactly, through the warp and the affine.

    ``warp`` is a tuple of components or its JSON form (a truth file's ``"warp"``); empty or
    None means a flat sheet (the affine alone)."""
    p = np.asarray(points_mm, dtype=np.float64).reshape(-1, 2)
    m = np.asarray(mm_to_px, dtype=np.float64)
    if warp and isinstance(warp[0], dict):
        warp = warp_from_json(warp)
    u = p
    if warp:
        u = p.copy()
        for _ in range(WARP_FIXED_POINT_ITERATIONS):  # u = p + e(u)
            ex, ey = warp_displacement_mm(warp, u[:, 0], u[:, 1])
            u_new = p + np.column_stack([ex, ey])
            done = np.max(np.abs(u_new - u)) < 1e-12 if len(u) else True
            u = u_new
            if done:
                break
    return u @ m[:, :2].T + m[:, 2]


def _warp_extent(warp, paper_mm: tuple[float, float]) -> tuple[float, float]:
    """Largest displacement (mm) and largest gradient (mm/mm) of a warp on the paper."""
    xs = np.arange(0.0, paper_mm[0] + 1e-9, WARP_CHECK_STEP_MM)
    ys = np.arange(0.0, paper_mm[1] + 1e-9, WARP_CHECK_STEP_MM)
    gx, gy = np.meshgrid(xs, ys)
    ex, ey = warp_displacement_mm(warp, gx, gy)
    amp = float(np.hypot(ex, ey).max())
    grads = [np.abs(np.diff(f, axis=a)).max() / WARP_CHECK_STEP_MM for f in (ex, ey) for a in (0, 1)]
    return amp, float(max(grads))


def random_warp(rng: np.random.Generator, paper_mm: tuple[float, float] = PAPER_SIZES_MM["A4"]) -> tuple:
    """One or two components of a plausible non-flat sheet, scaled to at most WARP_MAX_MM."""
    w, h = paper_mm
    sign = lambda: float(rng.choice([-1.0, 1.0]))  # noqa: E731
    comps: list = []
    kinds = rng.choice(["fold", "bulge", "curl"], size=int(rng.integers(1, 3)), replace=False)
    for kind in kinds:
        if kind == "fold":
            horizontal = rng.random() < 0.8  # letters are folded across their height
            line = float(rng.choice(WARP_FOLD_LINES_MM)) + float(rng.uniform(-WARP_FOLD_JITTER_MM, WARP_FOLD_JITTER_MM))
            angle = float(rng.uniform(-WARP_FOLD_ANGLE_DEG, WARP_FOLD_ANGLE_DEG)) + (0.0 if horizontal else 90.0)
            x, y = (w / 2, line) if horizontal else (line * w / h, h / 2)
            comps.append(Fold(x, y, angle, float(rng.uniform(*WARP_FOLD_WIDTH_MM)),
                              (sign() * float(rng.uniform(*WARP_FOLD_STEP_MM)),
                               float(rng.uniform(-WARP_FOLD_SHEAR_MM, WARP_FOLD_SHEAR_MM))),
                              float(rng.uniform(-WARP_FOLD_TILT, WARP_FOLD_TILT))))
        elif kind == "bulge":
            comps.append(Bulge(float(rng.uniform(0.15 * w, 0.85 * w)), float(rng.uniform(0.15 * h, 0.85 * h)),
                               float(rng.uniform(*WARP_BULGE_RADIUS_MM)), sign() * float(rng.uniform(*WARP_BULGE_AMP_MM))))
        else:
            edge = str(rng.choice(["left", "top", "right", "bottom"]))
            pos = {"left": 0.0, "top": 0.0, "right": w, "bottom": h}[edge]
            inward = 1.0 if edge in ("left", "top") else -1.0  # a lifted edge looks shorter
            centre = (h if edge in ("left", "right") else w) / 2
            comps.append(Curl(edge, pos, float(rng.uniform(*WARP_CURL_LENGTH_MM)),
                              inward * float(rng.uniform(*WARP_CURL_AMP_MM)),
                              float(rng.uniform(-WARP_CURL_SLOPE, WARP_CURL_SLOPE)), centre))
    amp, _ = _warp_extent(comps, paper_mm)
    if amp > WARP_MAX_MM:
        comps = [c.scaled(WARP_MAX_MM / amp) for c in comps]
    return tuple(comps)


@dataclass(frozen=True)
class ScanProfile:
    """How one page goes through the scanner. Lengths in mm, intensities on 0..255."""

    dpi: int = 300
    bitonal: bool = False
    rotation_deg: float = 0.0  # skew, counter-clockwise positive
    upside_down: bool = False  # fed at 180 degrees
    shift_mm: tuple[float, float] = (0.0, 0.0)  # (dx, dy) of the content on the image
    scale: float = 1.0
    blur_sigma_px: float = 0.0  # Gaussian sigma in output pixels; 0 = none
    speckle_per_dm2: float = 0.0  # dark dust specks per square decimetre of image
    jpeg_quality: int | None = None  # greyscale only; None = lossless
    border_mm: tuple[float, float, float, float] = (0.0, 0.0, 0.0, 0.0)  # left, top, right, bottom
    paper_grey: float = 255.0  # what white paper reads as
    ink_grey: float = 0.0  # what full black reads as
    noise_sigma: float = 0.0  # per-pixel Gaussian sensor noise, grey levels
    texture_amplitude: float = 0.0  # slow paper brightness variation, grey levels
    bitonal_threshold: int = BITONAL_THRESHOLD_DEFAULT  # grey < threshold -> black
    warp: tuple = ()  # Fold / Bulge / Curl components: the sheet not flat; () = flat

    def __post_init__(self) -> None:
        if self.dpi not in SUPPORTED_DPI:
            raise ValueError(f"ScanProfile.dpi={self.dpi}: scanners here run at {SUPPORTED_DPI} dpi")
        _check_range("rotation_deg", self.rotation_deg, -MAX_SKEW_DEG, MAX_SKEW_DEG)
        for v in self.shift_mm:
            _check_range("shift_mm", v, -MAX_SHIFT_MM, MAX_SHIFT_MM)
        _check_range("scale", self.scale, *SCALE_RANGE)
        _check_range("blur_sigma_px", self.blur_sigma_px, 0.0, 5.0)
        _check_range("speckle_per_dm2", self.speckle_per_dm2, 0.0, 1000.0)
        if self.jpeg_quality is not None:
            if self.bitonal:
                raise ValueError("ScanProfile: a bitonal scan has no JPEG quality")
            _check_range("jpeg_quality", self.jpeg_quality, *JPEG_QUALITY_RANGE)
        if len(self.border_mm) != 4:
            raise ValueError("ScanProfile.border_mm needs 4 widths: left, top, right, bottom")
        for v in self.border_mm:
            _check_range("border_mm", v, 0.0, 30.0)
        _check_range("paper_grey", self.paper_grey, 0.0, 255.0)
        _check_range("ink_grey", self.ink_grey, 0.0, self.paper_grey)
        _check_range("noise_sigma", self.noise_sigma, 0.0, 30.0)
        _check_range("texture_amplitude", self.texture_amplitude, 0.0, 30.0)
        _check_range("bitonal_threshold", self.bitonal_threshold, 1, 254)
        if self.warp:
            if not all(isinstance(c, (Fold, Bulge, Curl)) for c in self.warp):
                raise ValueError("ScanProfile.warp holds Fold, Bulge and Curl components only")
            if any(isinstance(c, Fold) and c.width_mm < WARP_FOLD_WIDTH_MM[0] for c in self.warp):
                raise ValueError(f"ScanProfile.warp: a fold is at least {WARP_FOLD_WIDTH_MM[0]} mm wide")
            amp, grad = _warp_extent(self.warp, PAPER_SIZES_MM["A4"])
            _check_range("warp (largest displacement, mm)", amp, 0.0, WARP_LIMIT_MM)
            _check_range("warp (largest gradient)", grad, 0.0, WARP_MAX_GRADIENT)

    @classmethod
    def random(
        cls,
        rng: np.random.Generator,
        dpi: int,
        bitonal: bool,
        *,
        allow_upside_down: bool = True,
    ) -> ScanProfile:
        """Draw a plausible profile of a real office scan (distribution constants above)."""
        if rng.random() < STRONG_SKEW_SHARE:
            skew = float(rng.uniform(STRAIGHT_SKEW_MAX_DEG, MAX_SKEW_DEG)) * float(rng.choice([-1.0, 1.0]))
        else:
            skew = float(np.clip(rng.normal(0.0, STRAIGHT_SKEW_SIGMA_DEG), -STRAIGHT_SKEW_MAX_DEG, STRAIGHT_SKEW_MAX_DEG))
        upside_down = bool(allow_upside_down and rng.random() < UPSIDE_DOWN_SHARE)
        shift = tuple(
            float(v) for v in np.clip(rng.normal(0.0, RANDOM_SHIFT_SIGMA_MM, 2), -RANDOM_MAX_SHIFT_MM, RANDOM_MAX_SHIFT_MM)
        )
        scale = float(np.clip(rng.normal(1.0, RANDOM_SCALE_SIGMA), *SCALE_RANGE))
        blur = float(rng.uniform(*BLUR_SIGMA_300DPI_PX)) * dpi / 300.0
        speckle = float(rng.uniform(0.0, SPECKLE_PER_DM2_MAX)) if rng.random() < SPECKLE_SHARE else 0.0
        border = (0.0, 0.0, 0.0, 0.0)
        if rng.random() < BORDER_SHARE:
            border = tuple(
                float(rng.uniform(*BORDER_MM_RANGE)) if rng.random() < BORDER_SIDE_SHARE else 0.0 for _ in range(4)
            )
        jpeg: int | None = None
        if not bitonal and rng.random() >= JPEG_LOSSLESS_SHARE:
            # Most scanner presets sit at 75..90; a few "small file" presets go much lower.
            jpeg = int(round(rng.triangular(JPEG_QUALITY_RANGE[0], 85, JPEG_QUALITY_RANGE[1])))
        return cls(
            dpi=dpi,
            bitonal=bitonal,
            rotation_deg=skew,
            upside_down=upside_down,
            shift_mm=shift,  # type: ignore[arg-type]
            scale=scale,
            blur_sigma_px=blur,
            speckle_per_dm2=speckle,
            jpeg_quality=jpeg,
            border_mm=border,  # type: ignore[arg-type]
            paper_grey=float(rng.uniform(*PAPER_GREY_RANGE)),
            ink_grey=float(rng.uniform(*INK_GREY_RANGE)),
            noise_sigma=float(rng.uniform(*NOISE_SIGMA_RANGE)),
            texture_amplitude=float(rng.uniform(*TEXTURE_AMPLITUDE_RANGE)),
            bitonal_threshold=int(rng.integers(BITONAL_THRESHOLD_RANGE[0], BITONAL_THRESHOLD_RANGE[1] + 1))
            if bitonal
            else BITONAL_THRESHOLD_DEFAULT,
            warp=random_warp(rng) if rng.random() < WARP_SHARE else (),
        )


@dataclass(frozen=True, eq=False)
class ScanResult:
    """One scanned page and the truth about how it was made."""

    image: np.ndarray  # uint8 (H, W); bitonal images hold only 0 and 255
    dpi: int
    bitonal: bool
    profile: ScanProfile
    mm_to_px: list[list[float]]  # 2x3 affine: template mm -> output pixel (OpenCV centres); the warp comes on top
    orientation: int  # 0 or 180
    skew_deg: float  # counter-clockwise positive, excluding the 180 of an upside-down feed
    paper_mm: tuple[float, float]  # nominal paper (width, height) the image covers
    jpeg_bytes: bytes | None = None  # the JPEG the scanner wrote; image is its decode

    @property
    def warp(self) -> tuple:
        return self.profile.warp

    def to_px(self, points_mm: np.ndarray | list) -> np.ndarray:
        """Map (N, 2) template mm points to (N, 2) output pixel coordinates, exactly: the
        warp (if any), then the affine ``mm_to_px``."""
        return map_mm_to_px(self.mm_to_px, self.profile.warp, points_mm)


def _nominal_paper_mm(width_mm: float, height_mm: float) -> tuple[float, float]:
    for w, h in PAPER_SIZES_MM.values():
        for pw, ph in ((w, h), (h, w)):
            if abs(width_mm - pw) <= PAPER_SNAP_MM and abs(height_mm - ph) <= PAPER_SNAP_MM:
                return pw, ph
    return width_mm, height_mm


def _affine3(m: np.ndarray) -> np.ndarray:
    out = np.eye(3)
    out[:2] = m
    return out


def _draw_specks(img: np.ndarray, count: int, value: float, radius_max: int, rng: np.random.Generator) -> None:
    if count <= 0:
        return
    h, w = img.shape
    xs = rng.integers(0, w, count)
    ys = rng.integers(0, h, count)
    rs = rng.integers(0, radius_max + 1, count)
    for x, y, r in zip(xs.tolist(), ys.tolist(), rs.tolist()):
        if r == 0:
            img[y, x] = value
        else:
            cv2.circle(img, (x, y), r, float(value), thickness=-1, lineType=cv2.LINE_8)


def _remap_warped(src: np.ndarray, mm_to_px: np.ndarray, mm_to_src: np.ndarray, warp,
                  size: tuple[int, int]) -> np.ndarray:
    """Resample ``src`` so that output pixel q shows template point u - e(u), u = mm_to_px⁻¹ q.

    The source coordinates are computed on a grid every WARP_RENDER_STEP_PX output pixels
    and interpolated bilinearly by cv2.resize (an integer factor, so that its samples sit
    exactly on the grid; a margin of one step keeps its edge clamping off the page)."""
    w_out, h_out = size
    g = WARP_RENDER_STEP_PX
    gw, gh = (w_out + 2 * g) // g + 2, (h_out + 2 * g) // g + 2
    # cv2.resize by g maps big pixel x' to grid (x' + 0.5) / g - 0.5: node k at x' = k g + (g-1)/2
    xs = np.arange(gw) * g + (g - 1) / 2.0 - g
    ys = np.arange(gh) * g + (g - 1) / 2.0 - g
    qx, qy = np.meshgrid(xs, ys)
    inv = np.linalg.inv(mm_to_px)
    ux = inv[0, 0] * qx + inv[0, 1] * qy + inv[0, 2]
    uy = inv[1, 0] * qx + inv[1, 1] * qy + inv[1, 2]
    ex, ey = warp_displacement_mm(warp, ux, uy)
    px, py = ux - ex, uy - ey
    maps = []
    for r in (0, 1):
        coarse = (mm_to_src[r, 0] * px + mm_to_src[r, 1] * py + mm_to_src[r, 2]).astype(np.float32)
        big = cv2.resize(coarse, (gw * g, gh * g), interpolation=cv2.INTER_LINEAR)
        maps.append(big[g : g + h_out, g : g + w_out])
    return cv2.remap(src, maps[0], maps[1], cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=255)


def simulate_scan(
    clean: np.ndarray,
    clean_dpi: float,
    profile: ScanProfile,
    rng: np.random.Generator,
    *,
    paper_mm: tuple[float, float] | None = None,
) -> ScanResult:
    """Scan ``clean`` (uint8 greyscale page rendered at ``clean_dpi``) as ``profile`` says.

    ``paper_mm`` overrides the nominal paper size, which otherwise is the clean render's size
    snapped to the nearest standard size (A4, A5, Letter) within PAPER_SNAP_MM.
    """
    if clean.dtype != np.uint8 or clean.ndim != 2:
        raise ValueError(f"simulate_scan needs a 2-D uint8 greyscale page, got {clean.dtype} {clean.shape}")
    if clean_dpi <= 0:
        raise ValueError(f"clean_dpi must be positive, got {clean_dpi}")
    s_clean = clean_dpi / MM_PER_INCH  # px per mm of the clean render
    s_out = profile.dpi / MM_PER_INCH  # px per mm of the scan
    hc, wc = clean.shape
    if paper_mm is None:
        paper_mm = _nominal_paper_mm(wc / s_clean, hc / s_clean)
    w_out = int(round(paper_mm[0] * s_out))
    h_out = int(round(paper_mm[1] * s_out))

    # Downsampling more than a little: average areas first so thin rules do not alias.
    src = clean
    sx_clean = sy_clean = s_clean
    if s_out / s_clean < DOWNSAMPLE_PRESMOOTH_BELOW:
        ws, hs = max(1, int(round(wc * s_out / s_clean))), max(1, int(round(hc * s_out / s_clean)))
        src = cv2.resize(clean, (ws, hs), interpolation=cv2.INTER_AREA)
        # cv2.resize keeps pixel areas: resized pixel j covers clean [j, j+1) * wc / ws.
        sx_clean, sy_clean = s_clean * ws / wc, s_clean * hs / hc

    # mm -> ideal output px (pixel centres at integers, so the paper corner is at -0.5).
    mm_to_ideal = np.array([[s_out, 0.0, -0.5], [0.0, s_out, -0.5]])
    # source px -> mm
    src_to_mm = np.array([[1.0 / sx_clean, 0.0, 0.5 / sx_clean], [0.0, 1.0 / sy_clean, 0.5 / sy_clean]])
    # Scanner distortion on the output image: rotate and scale about the image centre, shift.
    angle = profile.rotation_deg + (180.0 if profile.upside_down else 0.0)
    centre = ((w_out - 1) / 2.0, (h_out - 1) / 2.0)
    distort = _affine3(cv2.getRotationMatrix2D(centre, angle, profile.scale))
    distort[0, 2] += profile.shift_mm[0] * s_out
    distort[1, 2] += profile.shift_mm[1] * s_out
    mm_to_px = distort @ _affine3(mm_to_ideal)
    src_to_px = mm_to_px @ _affine3(src_to_mm)

    if profile.warp:
        img = _remap_warped(src, mm_to_px, np.linalg.inv(_affine3(src_to_mm)), profile.warp, (w_out, h_out))
    else:
        img = cv2.warpAffine(
            src,
            src_to_px[:2],
            (w_out, h_out),
            flags=cv2.INTER_LINEAR,
            borderMode=cv2.BORDER_CONSTANT,
            borderValue=255,
        )

    # Dark scanner background where the scan area runs past the paper.
    left, top, right, bottom = (int(round(b * s_out)) for b in profile.border_mm)
    if left:
        img[:, :left] = SCANNER_BACKGROUND_GREY
    if right:
        img[:, w_out - right :] = SCANNER_BACKGROUND_GREY
    if top:
        img[:top, :] = SCANNER_BACKGROUND_GREY
    if bottom:
        img[h_out - bottom :, :] = SCANNER_BACKGROUND_GREY

    if profile.blur_sigma_px > 0:
        img = cv2.GaussianBlur(img, (0, 0), profile.blur_sigma_px)

    # Tone: white -> paper grey, black -> ink grey; slow paper texture; sensor noise.
    needs_float = (
        profile.paper_grey != 255.0 or profile.ink_grey != 0.0 or profile.noise_sigma > 0 or profile.texture_amplitude > 0
    )
    if needs_float:
        gain = (profile.paper_grey - profile.ink_grey) / 255.0
        if profile.texture_amplitude > 0:
            cells = max(2, int(round(TEXTURE_CELL_MM * s_out)))
            tex = rng.standard_normal((h_out // cells + 2, w_out // cells + 2), dtype=np.float32)
            tex = cv2.resize(tex, (w_out, h_out), interpolation=cv2.INTER_CUBIC)
            # Texture shows on paper, hardly on ink: scale by local whiteness.
            tex *= np.float32(profile.texture_amplitude / 255.0)
            tex += np.float32(gain)
            f = cv2.multiply(img, tex, dtype=cv2.CV_32F)
        else:
            f = img.astype(np.float32)
            f *= np.float32(gain)
        if profile.noise_sigma > 0:
            # Sensor noise as the sum of two uniform bytes (a triangular distribution, mean 0
            # after the offset): indistinguishable from Gaussian noise on a scan, and three
            # times cheaper to draw than 8.7 M normal variates for a 300 dpi A4 page.
            a, b = np.frombuffer(rng.bytes(2 * h_out * w_out), np.uint8).reshape(2, h_out, w_out)
            k = profile.noise_sigma / TWO_BYTE_SUM_SIGMA
            f += cv2.addWeighted(a, k, b, k, profile.ink_grey - 255.0 * k, dtype=cv2.CV_32F)
        else:
            f += np.float32(profile.ink_grey)
        np.clip(f, 0.0, 255.0, out=f)
        img = cv2.convertScaleAbs(f)  # rounds to nearest; f >= 0 here, so abs() is a no-op

    if profile.speckle_per_dm2 > 0:
        area_dm2 = (w_out / s_out) * (h_out / s_out) / 1e4
        radius_max = max(0, int(round(SPECKLE_RADIUS_300DPI_PX[1] * profile.dpi / 300.0)))
        n_dark = int(rng.poisson(profile.speckle_per_dm2 * area_dm2))
        n_light = int(rng.poisson(profile.speckle_per_dm2 * area_dm2 * LIGHT_HOLE_RATIO))
        _draw_specks(img, n_dark, profile.ink_grey, radius_max, rng)
        _draw_specks(img, n_light, profile.paper_grey, radius_max, rng)

    jpeg_bytes: bytes | None = None
    if profile.bitonal:
        img = np.where(img < profile.bitonal_threshold, np.uint8(0), np.uint8(255))
    elif profile.jpeg_quality is not None:
        ok, buf = cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, int(profile.jpeg_quality)])
        if not ok:  # pragma: no cover - OpenCV without a JPEG codec
            raise RuntimeError("OpenCV could not encode JPEG")
        jpeg_bytes = buf.tobytes()
        img = cv2.imdecode(buf, cv2.IMREAD_GRAYSCALE)

    return ScanResult(
        image=img,
        dpi=profile.dpi,
        bitonal=profile.bitonal,
        profile=profile,
        mm_to_px=[[float(v) for v in row] for row in mm_to_px[:2]],
        orientation=180 if profile.upside_down else 0,
        skew_deg=float(profile.rotation_deg),
        paper_mm=(float(paper_mm[0]), float(paper_mm[1])),
        jpeg_bytes=jpeg_bytes,
    )


def scan_matrix_error_px(result: ScanResult, estimated_mm_to_px: np.ndarray, points_mm: np.ndarray) -> float:
    """Largest distance (px) between true and estimated positions of ``points_mm``.

    For scoring a registration stage: pass its estimated 2x3 (or 3x3) mm->px map.
    """
    est = np.asarray(estimated_mm_to_px, dtype=np.float64)
    pts = np.asarray(points_mm, dtype=np.float64).reshape(-1, 2)
    ones = np.ones((len(pts), 1))
    truth = result.to_px(pts)
    if est.shape == (3, 3):
        q = np.hstack([pts, ones]) @ est.T
        got = q[:, :2] / q[:, 2:3]
    else:
        got = pts @ est[:, :2].T + est[:, 2]
    return float(np.max(np.hypot(*(got - truth).T))) if len(pts) else 0.0


__all__ = [
    "ScanProfile",
    "ScanResult",
    "Fold",
    "Bulge",
    "Curl",
    "map_mm_to_px",
    "random_warp",
    "warp_from_json",
    "warp_to_json",
    "simulate_scan",
    "scan_matrix_error_px",
    "SUPPORTED_DPI",
    "PAPER_SIZES_MM",
]
