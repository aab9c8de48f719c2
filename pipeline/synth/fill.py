"""The filler of the sample generator: what a person (or a computer) writes into a form page.

:func:`fill_page` draws the values of one page's fields as an *ink layer*: a greyscale page
image (255 = no ink) at the page's size and resolution. The blank page is drawn elsewhere
(:mod:`pipeline.synth.render`); :func:`compose` lays the ink over it (darken).

A :class:`Writer` says how one person writes: typed (a computer filled the form: clean
DejaVu/Liberation text) or by hand (a handwriting font, drawn glyph by glyph with jitter of
position, rotation and size, a slant, a wobbling baseline, a pen width and a grey level).
With a :class:`DigitBank` a hand writer's digits are real handwritten MNIST digits.

Values come in canonical form (``"198503121234"``, ``"2026-09-03"``, ``"07.00"``,
``"1234.50"``…); the writer decides how to write them (``"19850312-1234"``, ``"26-09-03"``,
``"7.00"``, ``"1 234,50"``): always an unambiguous reading of the canonical value. The exact
string drawn per field is returned in :attr:`FillResult.written`, the ground truth a reader
is scored against.

Geometry: template boxes are millimetres; one mm is ``dpi / 25.4`` px. Every stroke of a
field stays inside its box, or within :data:`OVERSHOOT_MM` of it for a sloppy checkbox.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field as dc_field, replace
from functools import lru_cache
from pathlib import Path
from typing import Callable, Iterable, Literal, Mapping

import cv2
import numpy as np
from PIL import Image, ImageDraw, ImageFont

from pipeline.forms import ExpandedField, FieldKind, FormTemplate

# --- units and layout constants ---------------------------------------------------------------

MM_PER_INCH = 25.4

# FK prints a field's label at the top-left inside its box (baseline 2.3 mm below the top,
# 6.5 pt; see render.LABEL_OFFSET_MM): in a box at least LABEL_BOX_MIN_H_MM high the ink stays
# below LABEL_CLEAR_MM from the top, and in the lower 2/3 of the box.
LABEL_BOX_MIN_H_MM = 7.0
LABEL_CLEAR_MM = 3.0
# Ink keeps this far from the box's bottom rule (mm) …
BOTTOM_CLEAR_MM = 0.6
# … and from the top of a box too low to carry a label (share of the box height).
SMALL_BOX_TOP_SHARE = 0.12
# Left margin of handwritten / typed text (mm); sloppy writers add up to HAND_MARGIN_SLOP_MM.
HAND_MARGIN_MM = 1.0
HAND_MARGIN_SLOP_MM = 2.0
TYPED_MARGIN_MM = 1.2
# Right margin: text never gets closer than this to the right side of its box (mm).
RIGHT_MARGIN_MM = 0.6
# A checkbox mark may overshoot its box by at most this much (mm); the tests allow 1 mm.
OVERSHOOT_MM = 0.8

# Handwriting: height of a capital / digit in mm at size factor 1 (people write digits
# 3–4.5 mm high in a 9 mm box), and the pen width of a ballpoint / felt pen (mm).
HAND_CAP_MM = 3.4
PEN_WIDTH_MM = (0.35, 0.6)
# Typed text: point size at size factor 1 (forms filled on a computer use 9–11 pt).
TYPED_PT = 10.0
# Grey levels (0 black … 255 paper) of full-coverage ink as scanned: blue-black pens come out
# 20–80, laser toner 0–30.
HAND_INK = (20, 80)
TYPED_INK = (0, 30)

# Field kinds written with digits (a DigitBank replaces a hand writer's digits in these).
DIGIT_KINDS = frozenset({
    FieldKind.day, FieldKind.clock_time, FieldKind.date, FieldKind.year_month,
    FieldKind.personnummer, FieldKind.organisationsnummer, FieldKind.hours,
    FieldKind.minutes, FieldKind.amount, FieldKind.phone,
})
TEXT_KINDS = DIGIT_KINDS | {FieldKind.text}

ILLEGIBLE = "<illegible>"

# --- fonts ----------------------------------------------------------------------------------

FONT_ROOT = Path("/usr/share/fonts")
# Handwriting fonts (Debian packages fonts-kristi, fonts-breip, fonts-sjfonts, …). The messy
# ones (Kristi, Breip, Delphine, dkg) are the realistic hard cases. Not femkeklaver: its
# digits are hollow outlines, which no pen draws.
HAND_FONT_FILES = (
    "Kristi.ttf", "Breip.ttf", "SteveHand.ttf", "Delphine.ttf", "dkg.ttf", "dkgIt.ttf",
    "TomsonTalks.ttf", "Humor-Sans.ttf", "DancingScript-Regular.otf",
    "KaushanScript-Regular.otf", "ComicNeue-Regular.otf", "ComicNeue-Italic.otf",
    "ComicNeue-Light.otf", "Purisa.otf", "Purisa-Oblique.otf",
)
# Script fonts for the name part of a signature.
SIGNATURE_FONT_FILES = (
    "DancingScript-Regular.otf", "DancingScript-Bold.otf", "KaushanScript-Regular.otf",
    "Kristi.ttf", "Delphine.ttf",
)
TYPED_FONT_FILES = ("DejaVuSans.ttf", "LiberationSans-Regular.ttf", "LiberationMono-Regular.ttf")
# Fallbacks for a glyph a handwriting font lacks (Humor Sans and femkeklaver lack å/ä/ö):
# other handwriting fonts first, then DejaVu Sans which has everything.
HAND_FALLBACK_FILES = ("ComicNeue-Regular.otf", "Purisa.otf", "dkg.ttf", "DejaVuSans.ttf")


@lru_cache(maxsize=1)
def _font_index() -> dict[str, str]:
    """File name → path of every TTF/OTF font under FONT_ROOT."""
    out: dict[str, str] = {}
    for p in sorted(FONT_ROOT.rglob("*")):
        if p.suffix.lower() in (".ttf", ".otf"):
            out.setdefault(p.name, str(p))
    return out


def available_fonts(names: Iterable[str]) -> list[str]:
    """Paths of those of ``names`` that are installed."""
    idx = _font_index()
    return [idx[n] for n in names if n in idx]


@lru_cache(maxsize=512)
def _font(path: str, size_px: int) -> ImageFont.FreeTypeFont:
    return ImageFont.truetype(path, max(4, int(size_px)))


@lru_cache(maxsize=8192)
def has_glyph(path: str, ch: str) -> bool:
    """Whether the font draws ``ch`` itself (not its .notdef box, not nothing)."""
    if ch.isspace():
        return True
    f = _font(path, 48)
    m = f.getmask(ch)
    if not any(bytes(m)):
        return False
    nd = f.getmask("\U0010FFFD")  # a private-use code point no font here maps
    return not (m.size == nd.size and bytes(m) == bytes(nd))


def _font_for(path: str, ch: str) -> str:
    if has_glyph(path, ch):
        return path
    for fb in available_fonts(HAND_FALLBACK_FILES):
        if has_glyph(fb, ch):
            return fb
    return path


@lru_cache(maxsize=64)
def _cap_ratio(path: str) -> float:
    """Height of the digits/capitals above the baseline as a share of the font size: the
    median over digits and flat capitals, so that one tall flourish (dkg's, Kristi's) does
    not shrink all the text."""
    f = _font(path, 200)
    tops = [-f.getbbox(ch, anchor="ls")[1] for ch in "0123456789HEFTL"]
    return max(0.3, float(np.median(tops)) / 200.0)


@dataclass(frozen=True)
class _Glyph:
    cov: np.ndarray | None  # float32 coverage 0..1, None for a blank
    ox: float  # top-left of cov relative to the pen position on the baseline (px)
    oy: float
    advance: float


@lru_cache(maxsize=20000)
def _glyph(path: str, size_px: int, ch: str) -> _Glyph:
    f = _font(path, size_px)
    adv = f.getlength(ch)
    l, t, r, b = f.getbbox(ch, anchor="ls")
    if ch.isspace() or r <= l or b <= t:
        return _Glyph(None, 0.0, 0.0, adv)
    im = Image.new("L", (r - l + 2, b - t + 2), 0)
    ImageDraw.Draw(im).text((1 - l, 1 - t), ch, font=f, fill=255, anchor="ls")
    cov = np.asarray(im, dtype=np.float32) / 255.0
    return _Glyph(cov, l - 1.0, t - 1.0, adv)


# --- writers ----------------------------------------------------------------------------------

Style = Literal["typed", "hand"]
CheckStyle = Literal["tick", "cross", "fill"]


@dataclass(frozen=True)
class Writer:
    """How one person (or one computer) writes.

    Sizes: ``size`` scales HAND_CAP_MM (hand) or TYPED_PT (typed). ``stroke`` changes the pen
    width in mm (negative thins). Jitter shares are of the digit height. The format flags say
    how the writer writes canonical values; every choice reads back to the same value.
    """

    style: Style
    font: str
    size: float = 1.0
    slant: float = 0.0  # degrees, positive leans right
    stroke: float = 0.0  # mm added to (or taken from) the font's stroke
    pen_width: float = 0.45  # mm, for drawn strokes (checkmarks, signatures, scrawls)
    jitter_xy: float = 0.0  # per-glyph offset, sd as a share of the digit height
    jitter_rot: float = 0.0  # per-glyph rotation sd, degrees
    jitter_scale: float = 0.0  # per-glyph scale sd, share
    wobble: float = 0.0  # baseline wobble amplitude, share of the digit height
    ink: int = 0  # grey level of full-coverage ink, 0..255
    check: CheckStyle = "cross"
    sloppiness: float = 0.0  # 0 neat … 1 sloppy: margins, drift, overshooting checkmarks
    spacing: float = 1.0  # letter advance factor
    pnr_dash: bool = True  # "19850312-1234" vs "198503121234" (also org.nr "556677-8899")
    short_year: bool = False  # dates "26-09-03" (hand only)
    pad_hour: bool = True  # "07.00" vs "7.00"
    amount_grouping: bool = True  # "1 234,50" vs "1234,50"
    drop_zero_cents: bool = False  # "1 234" for 1234.00

    @staticmethod
    def random(rng: np.random.Generator, style: Style) -> "Writer":
        if style == "typed":
            fonts = available_fonts(TYPED_FONT_FILES)
            return Writer(
                style="typed", font=str(rng.choice(fonts)), size=float(rng.uniform(0.9, 1.1)),
                ink=int(rng.integers(TYPED_INK[0], TYPED_INK[1] + 1)),
                check="cross", pnr_dash=bool(rng.random() < 0.7),
                pad_hour=bool(rng.random() < 0.85), amount_grouping=bool(rng.random() < 0.6),
            )
        if style != "hand":
            raise ValueError(f"writer style must be 'typed' or 'hand', not {style!r}")
        fonts = available_fonts(HAND_FONT_FILES)
        slop = float(rng.beta(2.0, 4.0))
        return Writer(
            style="hand", font=str(rng.choice(fonts)), size=float(rng.uniform(0.85, 1.2)),
            slant=float(np.clip(rng.normal(6.0, 7.0), -10.0, 22.0)),
            stroke=float(rng.uniform(-0.03, 0.15)),
            pen_width=float(rng.uniform(*PEN_WIDTH_MM)),
            jitter_xy=float(rng.uniform(0.02, 0.06) * (1 + slop)),
            jitter_rot=float(rng.uniform(1.0, 5.0) * (1 + slop)),
            jitter_scale=float(rng.uniform(0.03, 0.09) * (1 + slop)),
            wobble=float(rng.uniform(0.02, 0.08) * (1 + slop)),
            ink=int(rng.integers(HAND_INK[0], HAND_INK[1] + 1)),
            check=str(rng.choice(["tick", "cross", "fill"], p=[0.55, 0.35, 0.10])),
            sloppiness=slop, spacing=float(rng.uniform(0.95, 1.15)),
            pnr_dash=bool(rng.random() < 0.6), short_year=bool(rng.random() < 0.3),
            pad_hour=bool(rng.random() < 0.6), amount_grouping=bool(rng.random() < 0.4),
            drop_zero_cents=bool(rng.random() < 0.5),
        )


WriterChoice = Writer | Mapping[str, Writer] | Callable[[ExpandedField], Writer]


def _writer_for(writers: WriterChoice) -> Callable[[ExpandedField], Writer]:
    if isinstance(writers, Writer):
        return lambda f: writers
    if isinstance(writers, Mapping):
        return lambda f: writers[f.id]
    return writers


# --- writing values -------------------------------------------------------------------------

def format_value(kind: FieldKind, value: str, w: Writer) -> str:
    """How writer ``w`` writes the canonical ``value`` of a field of ``kind``."""
    v = value.strip()
    if kind == FieldKind.personnummer and len(v) == 12 and v.isdigit():
        return f"{v[:8]}-{v[8:]}" if w.pnr_dash else v
    if kind == FieldKind.organisationsnummer and len(v) == 10 and v.isdigit():
        return f"{v[:6]}-{v[6:]}" if w.pnr_dash else v
    if kind == FieldKind.date and len(v) == 10:
        return v[2:] if (w.short_year and w.style == "hand") else v
    if kind == FieldKind.clock_time and "." in v:
        h, m = v.split(".", 1)
        return f"{int(h):02d}.{m}" if w.pad_hour else f"{int(h)}.{m}"
    if kind == FieldKind.amount:
        neg = v.startswith("-")
        units, _, cents = v.lstrip("-").partition(".")
        if w.amount_grouping:
            units = f"{int(units):,}".replace(",", " ")
        cents = (cents + "00")[:2] if cents else "00"
        s = units if (cents == "00" and w.drop_zero_cents) else f"{units},{cents}"
        return ("-" if neg else "") + s
    return v


def _comb_cells(kind: FieldKind, value: str, written: str, cells: int) -> tuple[list[str], str]:
    """Characters per comb cell ('' = left empty) and what the page then reads."""
    digits = "".join(c for c in value if c.isdigit())
    if kind == FieldKind.year_month and cells == 7 and len(digits) == 6:
        # YYYY in cells 1–4, cell 5 holds the printed dash, MM in cells 6–7
        return list(digits[:4]) + [""] + list(digits[4:]), f"{digits[:4]}-{digits[4:]}"
    if len(written) <= cells:
        return list(written) + [""] * (cells - len(written)), written
    if kind != FieldKind.text and len(digits) <= cells:
        return list(digits) + [""] * (cells - len(digits)), digits
    return list(written[:cells]), written[:cells]


# --- the digit bank ---------------------------------------------------------------------------

# Seed of the fixed row order of a digit file (see DigitBank.from_npz); changing it changes
# which digits every slice holds.
DIGIT_ORDER_SEED = 3059


def digit_order(n: int) -> np.ndarray:
    """The fixed shuffled order in which DigitBank.from_npz takes the rows of an n-row file."""
    return np.random.default_rng(DIGIT_ORDER_SEED).permutation(n)


class DigitBank:
    """Real handwritten digits: ``images`` (N, 28, 28) uint8 white ink on black, ``labels``."""

    def __init__(self, images: np.ndarray, labels: np.ndarray):
        if images.ndim != 3 or len(images) != len(labels):
            raise ValueError("DigitBank needs images (N, H, W) and N labels")
        self.images = images
        self.labels = labels.astype(np.int64)
        self._by_class = {d: np.flatnonzero(self.labels == d) for d in range(10)}
        self._prepared: dict[int, tuple[np.ndarray, float]] = {}
        missing = [d for d, ix in self._by_class.items() if len(ix) == 0]
        if missing:
            raise ValueError(f"DigitBank has no sample of digit(s) {missing}")

    @classmethod
    def from_npz(cls, path: str | Path, start: int = 0, stop: int | None = None) -> "DigitBank":
        """Load rows [start:stop) of an npz with ``images`` and ``labels``, in a fixed order.

        The shared MNIST copy is sorted by class (all eights first), so positions are taken in
        the fixed shuffled order :func:`digit_order` (seeded, the same on every machine):
        disjoint slices stay disjoint and each holds every class. Either polarity is accepted:
        the shared copy is dark digits on white paper (its SOURCES.md); it is inverted here to
        the MNIST convention, ink bright.
        """
        with np.load(path) as z:
            labels_all = np.asarray(z["labels"])
            rows = np.sort(digit_order(len(labels_all))[start:stop])
            images = np.asarray(z["images"][rows], dtype=np.uint8)
            labels = labels_all[rows]
        border = np.concatenate([images[:, 0, :], images[:, -1, :], images[:, :, 0], images[:, :, -1]], axis=1)
        if border.mean() > 127:  # paper is bright: ink-on-paper, flip to MNIST's ink-bright
            images = 255 - images
        return cls(images, labels)

    def sample(self, digit: int, rng: np.random.Generator) -> tuple[np.ndarray, float]:
        """One random sample of ``digit``: float coverage cropped to its ink, and its stroke
        width (px of the bank image). Prepared once per sample and kept."""
        ix = self._by_class[digit]
        i = int(ix[rng.integers(len(ix))])
        hit = self._prepared.get(i)
        if hit is None:
            img = self.images[i].astype(np.float32) / 255.0
            ys, xs = np.nonzero(img > 0.15)
            if len(ys):
                img = img[ys.min(): ys.max() + 1, xs.min(): xs.max() + 1]
            big = cv2.resize(img, None, fx=2, fy=2, interpolation=cv2.INTER_LINEAR) > 0.45
            hit = (img, _stroke_width(big.astype(np.uint8)) / 2.0)
            self._prepared[i] = hit
        return hit


# --- results --------------------------------------------------------------------------------

@dataclass
class FillResult:
    ink: np.ndarray  # uint8 page image, 255 = no ink
    written: dict[str, str] = dc_field(default_factory=dict)  # the string drawn per text field
    boxes: dict[str, tuple[int, int, int, int]] = dc_field(default_factory=dict)  # ink bbox px (x0, y0, x1, y1)


def compose(paper: np.ndarray, ink: np.ndarray) -> np.ndarray:
    """Lay the ink layer over a blank page (darken). A page 1–2 px off in size (rounding of
    the page size in px by different rasterizers) is padded or cropped to the paper."""
    h, w = paper.shape[:2]
    if ink.shape[:2] != (h, w):
        if abs(ink.shape[0] - h) > 2 or abs(ink.shape[1] - w) > 2:
            raise ValueError(f"ink {ink.shape[:2]} and paper {(h, w)} are not the same page size")
        fixed = np.full((h, w), 255, np.uint8)
        hh, ww = min(h, ink.shape[0]), min(w, ink.shape[1])
        fixed[:hh, :ww] = ink[:hh, :ww]
        ink = fixed
    if paper.ndim == 3:
        ink = ink[:, :, None]
    return np.minimum(paper, ink)


# --- drawing primitives -----------------------------------------------------------------------

class _Canvas:
    """A float coverage canvas (0 = no ink, 1 = full ink) with an origin on the page (px)."""

    def __init__(self, w: int, h: int):
        self.a = np.zeros((max(1, h), max(1, w)), np.float32)

    def add(self, cov: np.ndarray, x: int, y: int, k: float = 1.0) -> None:
        h, w = cov.shape
        H, W = self.a.shape
        x0, y0, x1, y1 = max(0, x), max(0, y), min(W, x + w), min(H, y + h)
        if x1 <= x0 or y1 <= y0:
            return
        src = cov[y0 - y: y1 - y, x0 - x: x1 - x]
        if k != 1.0:
            src = src * k
        np.maximum(self.a[y0:y1, x0:x1], src, out=self.a[y0:y1, x0:x1])


def _warp_into(canvas: _Canvas, cov: np.ndarray, A: np.ndarray, t: np.ndarray, k: float = 1.0) -> None:
    """Draw ``cov`` mapped by p → A·p + t (p in the glyph's pixel coordinates) onto canvas."""
    h, w = cov.shape
    corners = np.array([[0, 0], [w, 0], [0, h], [w, h]], np.float32) @ A.T + t
    x0, y0 = np.floor(corners.min(0)).astype(int)
    x1, y1 = np.ceil(corners.max(0)).astype(int)
    M = np.hstack([A, (t - [x0, y0])[:, None]]).astype(np.float32)
    patch = cv2.warpAffine(cov, M, (int(x1 - x0) + 1, int(y1 - y0) + 1), flags=cv2.INTER_LINEAR,
                           borderMode=cv2.BORDER_CONSTANT, borderValue=0)
    canvas.add(patch, int(x0), int(y0), k)


def _bezier(p: np.ndarray, n: int) -> np.ndarray:
    """Points on a Bézier curve with control points ``p`` (k, 2)."""
    t = np.linspace(0.0, 1.0, n)[:, None]
    k = len(p) - 1
    out = np.zeros((n, 2))
    for i, c in enumerate(p):
        out += math.comb(k, i) * (1 - t) ** (k - i) * t ** i * c
    return out


def _stroke(canvas8: np.ndarray, pts: np.ndarray, width_px: float | np.ndarray) -> None:
    """A pen stroke along ``pts`` on a uint8 canvas (255 = ink), width per segment."""
    shift = 4
    q = np.round(pts * (1 << shift)).astype(np.int32)
    widths = np.broadcast_to(np.asarray(width_px, float), (len(pts),))
    for i in range(len(q) - 1):
        th = max(1, int(round(widths[i])))
        cv2.line(canvas8, tuple(int(v) for v in q[i]), tuple(int(v) for v in q[i + 1]), 255, th,
                 cv2.LINE_AA, shift)


def _morph(a: np.ndarray, delta_px: float) -> np.ndarray:
    """Thicken (delta > 0) or thin a coverage image by about ``delta_px`` pixels."""
    k = int(round(abs(delta_px)))
    if k < 1:
        return a
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (k + 1, k + 1))
    return cv2.dilate(a, kernel) if delta_px > 0 else cv2.erode(a, kernel)


# --- text lines -------------------------------------------------------------------------------

@dataclass
class _Line:
    cov: np.ndarray  # float coverage
    baseline: float  # y of the baseline in cov (px)
    cap: float  # digit / capital height (px)


def _typed_line(text: str, w: Writer, dpi: float, max_cap_px: float) -> _Line:
    size_px = TYPED_PT * w.size * dpi / 72.0
    cap = size_px * _cap_ratio(w.font)
    if cap > max_cap_px:
        size_px *= max_cap_px / cap
        cap = max_cap_px
    f = _font(w.font, int(round(size_px)))
    l, t, r, b = f.getbbox(text, anchor="ls")
    pad = 2
    im = Image.new("L", (r - l + 2 * pad, b - t + 2 * pad), 0)
    ImageDraw.Draw(im).text((pad - l, pad - t), text, font=f, fill=255, anchor="ls")
    return _Line(np.asarray(im, np.float32) / 255.0, float(pad - t), cap)


def _hand_line(text: str, w: Writer, dpi: float, cap_px: float, rng: np.random.Generator,
               bank: DigitBank | None, digit_kind: bool) -> _Line:
    """Text drawn glyph by glyph: each glyph jittered, slanted and set on a wobbling baseline."""
    size_px = max(6, int(round(cap_px / _cap_ratio(w.font))))
    n = max(1, len(text))
    width = int(size_px * (1.2 * n + 2) * max(1.0, w.spacing)) + 8
    height = int(cap_px * 3.2) + 8
    base = cap_px * 1.9 + 4
    canvas = _Canvas(width, height)
    shear = math.tan(math.radians(w.slant))
    phase = rng.uniform(0, 2 * math.pi)
    period = cap_px * rng.uniform(4.0, 9.0)
    drift = rng.normal(0.0, 0.015 * (0.5 + w.sloppiness))  # the line runs up or down a little
    pen = cap_px * 0.4 + 4
    use_bank = bank is not None and digit_kind
    # the pen line of a bank digit: the writer's pen, thickened like the font strokes
    pen_px = max(1.5, (w.pen_width + w.stroke) * dpi / MM_PER_INCH)
    for ch in text:
        s = 1.0 + rng.normal(0.0, w.jitter_scale)
        rot = math.radians(rng.normal(0.0, w.jitter_rot))
        dx, dy = rng.normal(0.0, w.jitter_xy * cap_px, 2)
        wob = w.wobble * cap_px * math.sin(phase + 2 * math.pi * pen / period) + drift * pen
        c, si = math.cos(rot), math.sin(rot)
        R = np.array([[c, si], [-si, c]])
        S = np.array([[1.0, -shear], [0.0, 1.0]])
        k = float(rng.uniform(0.85, 1.0))  # pen pressure
        if use_bank and ch.isdigit():
            hgt = cap_px * s * rng.uniform(0.95, 1.1)
            cov = _bank_digit(*bank.sample(int(ch), rng), hgt, pen_px)
            A = S @ R
            # the digit's bottom sits on the baseline
            t = np.array([pen + dx, base + wob + dy]) + A @ np.array([0.0, -float(cov.shape[0])])
            _warp_into(canvas, cov, A, t, k)
            pen += (cov.shape[1] + cap_px * rng.uniform(0.04, 0.16)) * w.spacing
            continue
        g = _glyph(_font_for(w.font, ch), size_px, ch)
        if g.cov is not None:
            A = S @ R * s
            t = np.array([pen + dx, base + wob + dy]) + A @ np.array([g.ox, g.oy])
            _warp_into(canvas, g.cov, A, t, k)
        pen += g.advance * s * w.spacing
    a = canvas.a
    if not use_bank:  # bank digits already have the pen's width
        a = _morph(a, w.stroke * dpi / MM_PER_INCH)
    return _Line(a, base, cap_px)


def _stroke_width(mask: np.ndarray) -> float:
    """Mean stroke width of a binary shape, 2·area/perimeter (px)."""
    area = float(mask.sum())
    if area == 0:
        return 0.0
    contours, _ = cv2.findContours(mask, cv2.RETR_LIST, cv2.CHAIN_APPROX_NONE)
    perimeter = sum(cv2.arcLength(c, True) for c in contours)
    return 2.0 * area / max(perimeter, 1.0)


def _bank_digit(d: np.ndarray, w0: float, height_px: float, pen_px: float) -> np.ndarray:
    """A cropped MNIST digit scaled to ``height_px`` with its strokes made ``pen_px`` wide.

    MNIST digits differ a lot in stroke width (different pens, different scanning); one
    writer's digits are all drawn with one pen, so each digit is binarised at its new size,
    its stroke width ``w0`` (bank px, estimated as 2·area/perimeter) eroded or dilated to the
    pen's width.
    """
    # scale so that the digit is height_px high *after* its strokes are made pen_px wide:
    # eroding by (w·sc − pen)/2 a side takes w·sc − pen off the height
    span = max(d.shape[0] - w0, 0.4 * d.shape[0])
    sc = max(0.05, (height_px - pen_px) / span)
    nw, nh = max(1, int(round(d.shape[1] * sc))), max(1, int(round(d.shape[0] * sc)))
    pad = int(pen_px) + 2
    big = cv2.resize(d, (nw, nh), interpolation=cv2.INTER_CUBIC)
    big = cv2.copyMakeBorder(big, pad, pad, pad, pad, cv2.BORDER_CONSTANT, value=0)
    mask = (big > 0.45).astype(np.uint8)
    area = float(mask.sum())
    if area == 0:
        return big.clip(0, 1)
    width = w0 * sc
    delta = (pen_px - width) / 2.0  # per side
    k = int(round(abs(delta)))
    if k >= 1:
        kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * k + 1, 2 * k + 1))
        thinner = cv2.erode(mask, kernel)
        # never erode a stroke away: keep the thinned digit only if most of it survives
        mask = (cv2.dilate(mask, kernel) if delta > 0 else
                thinner if thinner.sum() > 0.25 * area else mask)
    ys, xs = np.nonzero(mask)
    if len(ys):
        mask = mask[max(0, ys.min() - 1): ys.max() + 2, max(0, xs.min() - 1): xs.max() + 2]
    # soften to an anti-aliased pen line
    return cv2.GaussianBlur(mask.astype(np.float32), (3, 3), 0.8)


# --- placement --------------------------------------------------------------------------------

def _band(box: tuple[float, float, float, float], frame: str) -> tuple[float, float]:
    """Top and bottom (mm) of the part of a box where the value is written."""
    x, y, w, h = box
    if h >= LABEL_BOX_MIN_H_MM and frame != "comb":
        top = y + max(LABEL_CLEAR_MM, h / 3.0)
    else:
        top = y + SMALL_BOX_TOP_SHARE * h
    bottom = y + h - min(BOTTOM_CLEAR_MM, 0.1 * h)
    return top, bottom


def _crop(a: np.ndarray, thr: float = 0.04) -> tuple[np.ndarray, int, int] | None:
    rows = np.flatnonzero(a.max(1) > thr)
    if len(rows) == 0:
        return None
    cols = np.flatnonzero(a.max(0) > thr)
    return a[rows[0]: rows[-1] + 1, cols[0]: cols[-1] + 1], int(rows[0]), int(cols[0])


class _Page:
    def __init__(self, w_px: int, h_px: int, dpi: float):
        self.ink = np.full((h_px, w_px), 255, np.uint8)
        self.dpi = dpi
        self.px = dpi / MM_PER_INCH

    def paste(self, cov: np.ndarray, x: int, y: int, grey: int,
              clip: tuple[int, int, int, int] | None = None) -> tuple[int, int, int, int] | None:
        """Darken the page with coverage ``cov`` at (x, y); returns the ink bbox drawn."""
        h, w = cov.shape
        H, W = self.ink.shape
        x0, y0, x1, y1 = max(0, x), max(0, y), min(W, x + w), min(H, y + h)
        if clip is not None:
            x0, y0, x1, y1 = max(x0, clip[0]), max(y0, clip[1]), min(x1, clip[2]), min(y1, clip[3])
        if x1 <= x0 or y1 <= y0:
            return None
        c = cov[y0 - y: y1 - y, x0 - x: x1 - x]
        val = (255.0 - np.clip(c, 0.0, 1.0) * (255.0 - grey)).astype(np.uint8)
        region = self.ink[y0:y1, x0:x1]
        np.minimum(region, val, out=region)
        nz = _crop(c)
        if nz is None:
            return None
        sub, r0, c0 = nz
        return (x0 + c0, y0 + r0, x0 + c0 + sub.shape[1], y0 + r0 + sub.shape[0])

    def box_px(self, box_mm: tuple[float, float, float, float]) -> tuple[float, float, float, float]:
        x, y, w, h = box_mm
        return x * self.px, y * self.px, w * self.px, h * self.px


def _place_line(page: _Page, line: _Line, area: tuple[float, float, float, float], grey: int,
                rng: np.random.Generator, w: Writer, align: str, margin_px: float,
                ) -> tuple[int, int, int, int] | None:
    """Put a written line into ``area`` (x0, top, x1, bottom px): shrunk to fit, left-aligned
    (or centred), the baseline low in the area so that descenders still fit."""
    x0, top, x1, bottom = area
    cr = _crop(line.cov)
    if cr is None:
        return None
    cov, r0, _ = cr
    base_off = line.baseline - r0  # baseline below the ink top
    avail_w = max(2.0, x1 - x0 - (margin_px if align == "left" else 0.0))
    avail_h = max(2.0, bottom - top)
    s = min(1.0, avail_w / cov.shape[1], avail_h / cov.shape[0])
    if s < 1.0:
        nw, nh = max(1, int(cov.shape[1] * s)), max(1, int(cov.shape[0] * s))
        cov = cv2.resize(cov, (nw, nh), interpolation=cv2.INTER_AREA)
        base_off *= s
    ih, iw = cov.shape
    if align == "left":
        x = x0 + margin_px
        x = min(x, x1 - iw)
    else:
        x = (x0 + x1 - iw) / 2 + rng.normal(0.0, 0.04 * (x1 - x0) * (0.3 + w.sloppiness))
        x = float(np.clip(x, x0, x1 - iw))
    # baseline about a quarter of the digit height above the bottom (room for descenders)
    jit = rng.normal(0.0, 0.06 * line.cap * (0.3 + w.sloppiness)) if w.style == "hand" else 0.0
    baseline = bottom - 0.28 * line.cap * s + jit
    y = baseline - base_off
    y = float(np.clip(y, top, bottom - ih))
    return page.paste(cov, int(round(x)), int(round(y)), grey)


def _union(a, b):
    if a is None:
        return b
    if b is None:
        return a
    return (min(a[0], b[0]), min(a[1], b[1]), max(a[2], b[2]), max(a[3], b[3]))


# --- marks ----------------------------------------------------------------------------------

def _checkmark(page: _Page, f: ExpandedField, w: Writer, rng: np.random.Generator):
    bx, by, bw, bh = page.box_px(f.box)
    over = OVERSHOOT_MM * page.px
    if w.style == "typed":
        # a computer-filled form prints an X centred in the box
        cap = 0.7 * bh
        line = _typed_line("X", w, page.dpi, cap)
        return _place_line(page, line, (bx, by + 0.1 * bh, bx + bw, by + 0.95 * bh), w.ink, rng, w, "center", 0)
    W, H = int(bw + 2 * over) + 2, int(bh + 2 * over) + 2
    c8 = np.zeros((H, W), np.uint8)
    pw = w.pen_width * page.px * rng.uniform(0.85, 1.15)
    sl = w.sloppiness
    o = np.array([over, over])

    def P(u, v):  # box-relative (0..1) → canvas px, jittered
        j = 0.06 + 0.1 * sl
        return o + [(u + rng.normal(0, j)) * bw, (v + rng.normal(0, j)) * bh]

    def clampbox(p, lim):  # keep a point within lim px of the box
        return np.clip(p, o - lim, o + [bw, bh] + lim)

    lim = over * (0.4 + 0.6 * sl)
    if w.check == "tick":
        a, b_, c = P(0.12, 0.5), P(0.42, 0.88), P(0.95 + 0.15 * sl, -0.05 - 0.15 * sl)
        a, b_, c = (clampbox(p, lim) for p in (a, b_, c))
        m1 = (a + b_) / 2 + rng.normal(0, 0.05 * bw, 2)
        m2 = (b_ + c) / 2 + [-0.08 * bw, 0.05 * bh] + rng.normal(0, 0.05 * bw, 2)
        pts = np.vstack([_bezier(np.array([a, m1, b_]), 10), _bezier(np.array([b_, m2, c]), 16)[1:]])
        wid = pw * np.concatenate([np.linspace(0.8, 1.1, 10), np.linspace(1.1, 0.6, 15)])
        _stroke(c8, pts, wid)
    elif w.check == "cross":
        for (u0, v0, u1, v1) in ((0.08, 0.08, 0.92, 0.92), (0.92, 0.08, 0.08, 0.92)):
            p0 = clampbox(P(u0 - 0.1 * sl, v0 - 0.1 * sl), lim)
            p1 = clampbox(P(u1 + 0.1 * sl, v1 + 0.1 * sl), lim)
            mid = (p0 + p1) / 2 + rng.normal(0, 0.08 * bw, 2)
            _stroke(c8, _bezier(np.array([p0, mid, p1]), 14), pw * np.linspace(1.05, 0.75, 14))
    else:  # fill: a dense back-and-forth scribble
        n = max(3, int(bh / (pw * 0.9)))
        ys = np.linspace(0.1, 0.9, n)
        pts = []
        for i, v in enumerate(ys):
            u = (0.08, 0.92) if i % 2 == 0 else (0.92, 0.08)
            pts.append(P(u[0], v))
            pts.append(P(u[1], v + 0.4 / n))
        pts = np.array([clampbox(p, lim) for p in pts])
        _stroke(c8, pts, pw * 1.2)
    cov = c8.astype(np.float32) / 255.0
    return page.paste(cov, int(bx - over) - 1, int(by - over) - 1, w.ink)


# A signature's ink is at least this share of its box's width (one who signs uses the space).
SIGNATURE_MIN_SHARE = 0.45

SIGNATURE_NAMES = (
    "Anna Lindqvist", "Erik Johansson", "Maria Karlsson", "Lars Nilsson", "Karin Eriksson",
    "Per Andersson", "Eva Larsson", "Johan Olsson", "Åsa Persson", "Björn Svensson",
    "Lena Gustafsson", "Mikael Pettersson", "Sara Jönsson", "Anders Berg", "Ingrid Holm",
    "Mats Öberg", "Kerstin Sandberg", "Nils Forsberg", "Elin Wikström", "Ola Håkansson",
)


def _signature_writer(w: Writer, rng: np.random.Generator) -> Writer:
    fonts = available_fonts(SIGNATURE_FONT_FILES) or available_fonts(HAND_FONT_FILES)
    return Writer(
        style="hand", font=str(rng.choice(fonts)), slant=float(rng.uniform(8, 25)),
        stroke=float(rng.uniform(0.0, 0.12)), pen_width=w.pen_width if w.style == "hand" else 0.45,
        jitter_xy=0.06, jitter_rot=6.0, jitter_scale=0.12, wobble=0.15,
        ink=w.ink if w.style == "hand" else int(rng.integers(*HAND_INK)),
        spacing=float(rng.uniform(0.75, 0.95)), sloppiness=1.0,
    )


def _signature(page: _Page, f: ExpandedField, w: Writer, rng: np.random.Generator):
    bx, by, bw, bh = page.box_px(f.box)
    top_mm, bot_mm = _band(f.box, f.frame)
    # a signature may rise above the lower 2/3 of the box, but not into the label's line
    if f.box[3] >= LABEL_BOX_MIN_H_MM:
        top_mm = f.box[1] + LABEL_CLEAR_MM
    top = top_mm * page.px
    bottom = bot_mm * page.px
    sw = _signature_writer(w, rng)
    name = str(rng.choice(SIGNATURE_NAMES))
    style = rng.random()
    if style < 0.3:
        first, last = name.split(" ", 1)
        name = f"{first[0]}. {last}"
    elif style < 0.45:
        first, last = name.split(" ", 1)
        name = f"{first[0]}{last[:4]}"
    area_w, area_h = bw - 2.0 * page.px, bottom - top
    target_w = area_w * rng.uniform(0.45, 0.85)
    # size the name so that it comes out target_w wide: a first pass measures, the second
    # draws at the final size (enlarging a small rendering would blur the pen line)
    cap = min(area_h, 6.0 * page.px) * 0.6
    probe = _crop(_hand_line(name, sw, page.dpi, cap, np.random.default_rng(0), None, False).cov)
    if probe is None:
        return None
    cap = min(cap * target_w / probe[0].shape[1], area_h * 0.75)
    line = _hand_line(name, sw, page.dpi, cap, rng, None, False)
    cr = _crop(line.cov)
    if cr is None:
        return None
    cov = cr[0]
    min_w = area_w * SIGNATURE_MIN_SHARE
    if cov.shape[0] > area_h * 0.95 or cov.shape[1] < min_w or cov.shape[1] > area_w:
        # too flat a box for this name: squeeze or stretch a little, a fast flat signature
        cov = cv2.resize(cov, (max(1, int(min(area_w, max(cov.shape[1], min_w)))),
                               max(1, int(min(cov.shape[0], area_h * 0.95)))), interpolation=cv2.INTER_AREA)
    Hc, Wc = int(area_h) + 1, int(area_w) + 1
    sig = np.zeros((Hc, Wc), np.float32)
    x0 = int(rng.uniform(0, max(1.0, Wc - cov.shape[1]) * 0.4))
    y0 = int(max(0, Hc - cov.shape[0]) * rng.uniform(0.3, 1.0))
    hh, ww = min(cov.shape[0], Hc - y0), min(cov.shape[1], Wc - x0)
    sig[y0:y0 + hh, x0:x0 + ww] = cov[:hh, :ww]
    # a flourish: an underline swash (sometimes returning in a hook) drawn in one pen movement,
    # with a slight tremor and the pen lifting (thinning) toward its end
    c8 = np.zeros_like(sig, dtype=np.uint8)
    pw = sw.pen_width * page.px
    if rng.random() < 0.7:
        yb = y0 + hh * rng.uniform(0.85, 1.0)
        xs = x0 + ww * rng.uniform(-0.02, 0.25)
        xe = x0 + ww * rng.uniform(0.75, 1.05)
        ctrl = np.array([
            [xs, yb + rng.uniform(-0.1, 0.1) * hh],
            [xs + (xe - xs) * 0.3, yb + rng.uniform(-0.05, 0.25) * hh],
            [xs + (xe - xs) * 0.7, yb + rng.uniform(-0.2, 0.15) * hh],
            [xe, yb - rng.uniform(0.05, 0.4) * hh]])
        pts = _bezier(ctrl, 48)
        if rng.random() < 0.35:  # a hook back to the left at the end
            end, d = pts[-1], pts[-1] - pts[-2]
            hook = np.array([end, end + d * 6 + [0, -0.2 * hh], end + [-0.12 * ww, -0.25 * hh]])
            pts = np.vstack([pts, _bezier(hook, 16)[1:]])
        pts = pts + rng.normal(0, 0.25, pts.shape).cumsum(0) * 0.3
        _stroke(c8, pts, pw * np.linspace(1.1, 0.45, len(pts)))
    sig = np.maximum(sig, c8.astype(np.float32) / 255.0)
    clip = tuple(int(v) for v in (bx, top, bx + bw, by + bh))
    return page.paste(sig, int(bx + page.px), int(top), sw.ink, clip=clip)


def _scrawl(page: _Page, f: ExpandedField, w: Writer, rng: np.random.Generator, dpi: float):
    """An unreadable scribble in the value's place: looping cursive or piled-up glyphs."""
    bx, by, bw, bh = page.box_px(f.box)
    top_mm, bot_mm = _band(f.box, f.frame)
    top, bottom = top_mm * page.px, bot_mm * page.px
    area_w = bw - 2 * HAND_MARGIN_MM * page.px
    hgt = bottom - top
    if w.style == "hand" and rng.random() < 0.5:
        letters = "".join(rng.choice(list("mnuwvelhkbdao"), int(rng.integers(8, 18))))
        sloppy = replace(w, spacing=0.6, jitter_rot=14.0, jitter_scale=0.25, jitter_xy=0.15, wobble=0.3)
        line = _hand_line(letters, sloppy, dpi, hgt * 0.6, rng, None, False)
        return _place_line(page, line, (bx, top, bx + bw - RIGHT_MARGIN_MM * page.px, bottom),
                           w.ink, rng, w, "left", HAND_MARGIN_MM * page.px)
    # cursive-like loops in one to three "words", the loop size, speed and height wandering
    Wd = area_w * rng.uniform(0.25, 0.6)
    c8 = np.zeros((int(hgt) + 2, int(Wd) + 2), np.uint8)
    pw = (w.pen_width if w.style == "hand" else 0.45) * page.px
    n_words = int(rng.integers(1, 4))
    gap = hgt * 0.5
    word_w = (Wd - gap * (n_words - 1)) / n_words
    x_start = 0.0
    for _ in range(n_words):
        r0 = hgt * rng.uniform(0.3, 0.45)
        n_loops = max(2, int(word_w / (r0 * rng.uniform(1.8, 2.6))))
        n = n_loops * 20
        t = np.linspace(0, 2 * math.pi * n_loops, n)
        r = r0 * np.clip(1 + np.cumsum(rng.normal(0, 0.08, n)), 0.5, 1.6)
        tall = 1 + 0.8 * (rng.random(n_loops) < 0.25)  # some loops rise like an l or a b
        # loops as high as small letters (x-height about a third of the band), not round blobs
        amp = hgt * rng.uniform(0.28, 0.4) * np.repeat(tall, 20)[:n] * np.clip(r / r0, 0.7, 1.3)
        xs = x_start + r0 + (t / t[-1]) * (word_w - 2 * r0) + r * np.cos(t) * 0.6
        ys = hgt * 0.85 - amp * (1 - np.sin(t)) * 0.5 + t / t[-1] * rng.normal(0, 0.05 * hgt)
        pts = np.stack([xs, np.clip(ys, 1, hgt - 1)], 1)
        _stroke(c8, pts, pw * rng.uniform(0.6, 0.85))
        x_start += word_w + gap
    x = bx + HAND_MARGIN_MM * page.px
    ink = w.ink if w.style == "hand" else int(rng.integers(*HAND_INK))
    return page.paste(c8.astype(np.float32) / 255.0, int(x), int(top), ink)


# --- fields -----------------------------------------------------------------------------------

def _text_field(page: _Page, f: ExpandedField, value: str, w: Writer, rng: np.random.Generator,
                bank: DigitBank | None) -> tuple[str, tuple | None]:
    written = format_value(f.kind, value, w)
    digit_kind = f.kind in DIGIT_KINDS
    bx, by, bw, bh = page.box_px(f.box)
    top_mm, bot_mm = _band(f.box, f.frame)
    top, bottom = top_mm * page.px, bot_mm * page.px
    if f.frame == "comb" and f.cells:
        chars, written = _comb_cells(f.kind, value if digit_kind else written, written, f.cells)
        cw = bw / f.cells
        bbox = None
        for i, ch in enumerate(chars):
            if not ch:
                continue
            cx0 = bx + i * cw + 0.08 * cw
            cx1 = bx + (i + 1) * cw - 0.08 * cw
            line = _line(ch, w, page.dpi, (bottom - top), cx1 - cx0, rng, bank, digit_kind)
            bbox = _union(bbox, _place_line(page, line, (cx0, top, cx1, bottom), w.ink, rng, w, "center", 0))
        return written, bbox
    if w.style == "hand":
        margin = (HAND_MARGIN_MM + HAND_MARGIN_SLOP_MM * w.sloppiness * rng.random()) * page.px
    else:
        margin = TYPED_MARGIN_MM * page.px
    margin = min(margin, 0.15 * bw)  # a narrow cell (the day column) leaves little room
    width = bw - margin - RIGHT_MARGIN_MM * page.px
    line = _line(written, w, page.dpi, bottom - top, width, rng, bank, digit_kind)
    bbox = _place_line(page, line, (bx, top, bx + bw - RIGHT_MARGIN_MM * page.px, bottom), w.ink, rng, w,
                       "left", margin)
    return written, bbox


def _line(text: str, w: Writer, dpi: float, band_px: float, width_px: float, rng: np.random.Generator,
          bank: DigitBank | None, digit_kind: bool) -> _Line:
    """One written line sized for a band ``band_px`` high and ``width_px`` wide: a person
    writes smaller in a narrow cell rather than squeezing full-size figures into it."""
    if w.style == "typed":
        return _typed_line(text, w, dpi, band_px * 0.62)
    cap = min(HAND_CAP_MM * w.size * dpi / MM_PER_INCH, band_px * 0.72)
    ratio = BANK_ADVANCE if (bank is not None and digit_kind) else _advance_ratio(w.font)
    est = sum(ratio if not c.isspace() else 0.5 for c in text) * w.spacing
    cap = min(cap, width_px / max(est, 0.5) * 0.92)
    return _hand_line(text, w, dpi, max(cap, 4.0), rng, bank, digit_kind)


# Advance of a handwritten MNIST digit (width plus gap) as a share of its height.
BANK_ADVANCE = 0.85


@lru_cache(maxsize=64)
def _advance_ratio(path: str) -> float:
    """Mean advance of digits and lower-case letters as a share of the digit height."""
    f = _font(path, 200)
    adv = np.mean([f.getlength(c) for c in "0123456789aenrst.-"])
    return float(adv / (200.0 * _cap_ratio(path)))


def page_size_px(template: FormTemplate, page_number: int, dpi: float) -> tuple[int, int]:
    """(width, height) of a page in px at ``dpi``."""
    wmm, hmm = template.page_size_of(page_number)
    return int(round(wmm * dpi / MM_PER_INCH)), int(round(hmm * dpi / MM_PER_INCH))


def fill_page(
    template: FormTemplate,
    page_number: int,
    values: Mapping[str, str | bool],
    writers: WriterChoice,
    rng: np.random.Generator,
    dpi: float,
    *,
    illegible: frozenset[str] = frozenset(),
    digits: DigitBank | None = None,
) -> FillResult:
    """Draw the ink of one page: ``values`` (canonical, by field id) as ``writers`` write them.

    Ids of other pages are ignored; a missing or empty value leaves its field empty; a field
    in ``illegible`` gets an unreadable scrawl instead of its value (written "<illegible>").
    ``writers`` is one Writer, a mapping field id → Writer, or a function of the field.
    """
    pick = _writer_for(writers)
    w_px, h_px = page_size_px(template, page_number, dpi)
    page = _Page(w_px, h_px, dpi)
    result = FillResult(ink=page.ink)
    for f in template.expanded_fields(page_number):
        v = values.get(f.id)
        if v is None or v is False or v == "":
            continue
        w = pick(f)
        if f.kind == FieldKind.checkbox:
            bbox = _checkmark(page, f, w, rng)
        elif f.kind == FieldKind.signature:
            bbox = _signature(page, f, w, rng)
        elif f.id in illegible:
            bbox = _scrawl(page, f, w, rng, dpi)
            result.written[f.id] = ILLEGIBLE
        else:
            if not isinstance(v, str):
                raise TypeError(f"field {f.id} ({f.kind.value}) needs a string value, got {v!r}")
            written, bbox = _text_field(page, f, v, w, rng, digits)
            result.written[f.id] = written
        if bbox is not None:
            result.boxes[f.id] = bbox
    return result
