"""Simulate a production document scanner on a clean rendered page.

A clean page (the filled form rendered as greyscale uint8, white paper = 255) goes in; out
comes what a sheet-fed office scanner delivers: the page a little skewed, shifted and scaled,
sometimes fed upside down, softened by the optics, with paper tone, sensor noise, dust specks,
dark scanner borders, and either JPEG artefacts (greyscale) or a hard 1-bit threshold
(bitonal). The exact geometry applied is returned as an affine map from template millimetres
to output pixels, so registration can be scored against it.

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
from dataclasses import dataclass

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

# --- Rendering constants --------------------------------------------------------------------
SCANNER_BACKGROUND_GREY = 28  # black scanner lid / feeder background seen past the paper
TEXTURE_CELL_MM = 8.0  # correlation length of the paper brightness variation
SPECKLE_RADIUS_300DPI_PX = (0, 2)  # dust specks: 1 to 5 pixels across at 300 dpi
DOWNSAMPLE_PRESMOOTH_BELOW = 0.9  # resample with area averaging first below this ratio
TWO_BYTE_SUM_SIGMA = math.sqrt(2 * (256**2 - 1) / 12)  # std of the sum of two uniform bytes


def _check_range(name: str, value: float, lo: float, hi: float) -> None:
    if not (lo <= value <= hi):
        raise ValueError(f"ScanProfile.{name}={value} outside [{lo}, {hi}]")


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
        )


@dataclass(frozen=True, eq=False)
class ScanResult:
    """One scanned page and the truth about how it was made."""

    image: np.ndarray  # uint8 (H, W); bitonal images hold only 0 and 255
    dpi: int
    bitonal: bool
    profile: ScanProfile
    mm_to_px: list[list[float]]  # 2x3 affine: template mm -> output pixel (OpenCV centres)
    orientation: int  # 0 or 180
    skew_deg: float  # counter-clockwise positive, excluding the 180 of an upside-down feed
    paper_mm: tuple[float, float]  # nominal paper (width, height) the image covers
    jpeg_bytes: bytes | None = None  # the JPEG the scanner wrote; image is its decode

    def to_px(self, points_mm: np.ndarray | list) -> np.ndarray:
        """Map (N, 2) template mm points to (N, 2) output pixel coordinates."""
        p = np.asarray(points_mm, dtype=np.float64).reshape(-1, 2)
        m = np.asarray(self.mm_to_px, dtype=np.float64)
        return p @ m[:, :2].T + m[:, 2]


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
    "simulate_scan",
    "scan_matrix_error_px",
    "SUPPORTED_DPI",
    "PAPER_SIZES_MM",
]
