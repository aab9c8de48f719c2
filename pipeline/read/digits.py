"""Digits: a small CNN (numpy at run time) and the segmentation of a field's ink into characters.

Two parts:

* :class:`DigitClassifier` reads one character image: 10 digit probabilities and a reject
  score (scrawl, letters, two touching digits, a stray stroke). Trained by
  ``tools/train_digits.py`` with PyTorch on real handwritten MNIST digits plus digits of the
  generator's handwriting and typed fonts; the weights (``digits.npz``, float16, BatchNorm
  folded in) run here in plain numpy (im2col convolutions), so torch is never needed at run time.
* :func:`read_digit_string` cuts a field's ink (``page.ink_crop``: the filler's ink, print
  removed, template space at the scan's dpi) into characters: connected components,
  separators (``.`` ``,`` ``:`` ``-`` and space gaps) told apart by size and position, wide
  blobs over-segmented at the minima of their column profile; then a beam search over the
  left-to-right pieces groups 1–3 of them into a character, scored by the classifier (all
  candidates of a field in one batch), with a cost per cut through ink and a prior from the
  field's kind (does the string parse, is it in the usual format). Comb fields are read cell
  by cell. :meth:`DigitString.candidates` returns the search's best whole readings for the
  kind-specific parsers.

Preprocessing (MNIST convention, identical in training): a character's coverage (0 paper … 1
ink) is cropped to its ink, scaled (aspect kept) to fit 20×20 px, and placed in 28×28 px with
its centre of mass at the centre.
"""

from __future__ import annotations

import heapq
import math
import re
from dataclasses import dataclass, field as dc_field
from functools import lru_cache
from pathlib import Path
from typing import Literal, Sequence

import cv2
import numpy as np

from pipeline import defs

MM_PER_INCH = 25.4
WEIGHTS = Path(__file__).with_name("digits.npz")

# --- preprocessing (shared with tools/train_digits.py) -------------------------------------------

SIDE = 28  # network input, px
FIT = 20  # the character's longer side after scaling, px (MNIST)
N_CLASSES = 11  # digits 0–9 and a reject class (index 10)
REJECT = 10


def normalize(cov: np.ndarray) -> np.ndarray:
    """One character's coverage (float 0..1 or uint8 ink-bright, any size) → 28×28 float32.

    Cropped to its ink, contrast-stretched (its 98th-percentile ink level → 1, so grey
    ballpoint and black toner look alike), scaled with the aspect kept so that the longer side is
    20 px, and centred by its centre of mass (MNIST's convention)."""
    a = np.asarray(cov, dtype=np.float32)
    if a.dtype != np.float32 or a.max(initial=0) > 1.5:
        a = a / 255.0
    out = np.zeros((SIDE, SIDE), np.float32)
    ys, xs = np.nonzero(a > 0.1)
    if len(ys) == 0:
        return out
    a = a[ys.min(): ys.max() + 1, xs.min(): xs.max() + 1]
    top = float(np.percentile(a[a > 0.1], 98))
    a = np.clip(a / max(top, 0.2), 0.0, 1.0)
    h, w = a.shape
    s = FIT / max(h, w)
    nh, nw = max(1, int(round(h * s))), max(1, int(round(w * s)))
    interp = cv2.INTER_AREA if s < 1 else cv2.INTER_LINEAR
    a = cv2.resize(a, (nw, nh), interpolation=interp)
    m = a.sum()
    if m <= 0:
        return out
    cy = float((a.sum(1) * np.arange(nh)).sum() / m)
    cx = float((a.sum(0) * np.arange(nw)).sum() / m)
    y0 = int(round(SIDE / 2 - 0.5 - cy))
    x0 = int(round(SIDE / 2 - 0.5 - cx))
    y0 = min(max(y0, 0), SIDE - nh)
    x0 = min(max(x0, 0), SIDE - nw)
    out[y0: y0 + nh, x0: x0 + nw] = a
    return out


# --- the network in numpy ----------------------------------------------------------------------

def _conv(x: np.ndarray, w: np.ndarray, b: np.ndarray) -> np.ndarray:
    """'Same' convolution, NHWC, odd square kernel (w: out, in, k, k), by im2col and one
    matrix product."""
    n, h, wd, c = x.shape
    o, _, k, _ = w.shape
    p = k // 2
    xp = np.pad(x, ((0, 0), (p, p), (p, p), (0, 0)))
    win = np.lib.stride_tricks.sliding_window_view(xp, (k, k), axis=(1, 2))  # n h w c k k
    cols = win.reshape(n * h * wd, c * k * k)
    return (cols @ w.reshape(o, -1).T + b).reshape(n, h, wd, o)


def _pool(x: np.ndarray) -> np.ndarray:
    """2×2 max pooling, stride 2, NHWC (an odd edge row/column is dropped, as torch does)."""
    n, h, w, c = x.shape
    x = x[:, : h // 2 * 2, : w // 2 * 2]
    return x.reshape(n, h // 2, 2, w // 2, 2, c).max(axis=(2, 4))


class DigitClassifier:
    """The digit CNN: three conv blocks (5×5, 3×3, 3×3; each ReLU and 2×2 max pool) → fc → 11.

    The widths come with the weights (committed: 32, 64, 128 channels, fc 256;
    ``tools/train_digits.py --widths --fc``)."""

    def __init__(self, params: dict[str, np.ndarray]):
        self.p = {k: np.asarray(v, dtype=np.float32) for k, v in params.items()}
        self.meta = {k: v for k, v in params.items() if k.startswith("meta_")}

    @classmethod
    def load(cls, path: Path | str | None = None) -> "DigitClassifier":
        """The committed weights (cached)."""
        return _load(str(path or WEIGHTS))

    def logits(self, x: np.ndarray) -> np.ndarray:
        p = self.p
        h = x[:, :, :, None].astype(np.float32)
        for i in (1, 2, 3):
            h = _pool(np.maximum(_conv(h, p[f"c{i}.w"], p[f"c{i}.b"]), 0.0))
        h = h.transpose(0, 3, 1, 2).reshape(len(h), -1)  # torch flattens C, H, W
        h = np.maximum(h @ p["f1.w"].T + p["f1.b"], 0.0)
        return h @ p["f2.w"].T + p["f2.b"]

    def predict_all(self, images: np.ndarray, normalized: bool = True) -> np.ndarray:
        """(N, 11) softmax: digits 0–9 and the reject class. ``images`` (N, 28, 28) already
        normalised (float 0..1 or uint8 ink-bright); with ``normalized=False`` any-size
        character images are normalised first."""
        imgs = [normalize(i) for i in images] if not normalized else images
        x = np.asarray(imgs, dtype=np.float32)
        if len(x) == 0:
            return np.zeros((0, N_CLASSES), np.float32)
        if x.max(initial=0) > 1.5:
            x = x / 255.0
        out = []
        for i in range(0, len(x), 256):  # bounded im2col memory
            z = self.logits(x[i: i + 256])
            z = z - z.max(axis=1, keepdims=True)
            e = np.exp(z)
            out.append(e / e.sum(axis=1, keepdims=True))
        return np.concatenate(out)

    def predict(self, images: np.ndarray, with_reject: bool = False):
        """(N, 10) digit probabilities of normalised 28×28 images (they sum to 1 − reject);
        with ``with_reject`` also the (N,) reject score."""
        pr = self.predict_all(images)
        return (pr[:, :10], pr[:, REJECT]) if with_reject else pr[:, :10]


@lru_cache(maxsize=4)
def _load(path: str) -> DigitClassifier:
    with np.load(path) as z:
        return DigitClassifier({k: z[k] for k in z.files})


# --- segmentation -------------------------------------------------------------------------------

# A pixel is ink below this grey level (0 black … 255 paper); register.despeckle uses the same.
INK_LEVEL = 160
# Faint strokes (see even_ink): faint ink is darker than defs.FAINT_INK_LEVEL; a stroke whose
# darkest 5 % is lighter than FAINT_CORE is faint, and is darkened so that they are EVEN_CORE
# (ballpoint and toner on a grey scan: 30–80).
FAINT_CORE, EVEN_CORE = 100, 60
# Coverage of a pixel: (COVER_PAPER − grey) / COVER_SPAN, clipped to 0..1.
COVER_PAPER, COVER_SPAN = 250.0, 200.0
# Components smaller than this are dust (mm²). A written full stop (0.35 mm pen) is ≥ 0.1 mm².
SPECK_MM2 = 0.04
# A field with less ink than this (mm²) is empty: no written digit is that small.
MIN_INK_MM2 = 0.15
# Slants tried when uprighting a field's writing (shear dx/dy; positive leans right).
SHEARS = np.round(np.arange(-0.25, 0.551, 0.05), 3)
# A component at least this share of the line height is a character (or part of one).
TALL_SHARE = 0.45
# Dots and dashes: at most this share of the line height high.
SEP_MAX_SHARE = 0.32
# A decimal comma written as a stroke: narrow, in the lower part of the line (its top at least
# COMMA_TOP_SHARE of the line height below the line's top: no digit starts there), down to the
# line's foot (within COMMA_FOOT_SHARE) or below, at most COMMA_MAX_SHARE high. A quick comma
# is often half a digit high or hangs far below the line: tall enough to pass for a character
# by height alone, and the classifier reads a lone stroke as a 1. The search reads it as a
# comma, or as a digit or part of one at COMMA_DIGIT_COST (a small 1 written low looks much
# alike; where a comma cannot stand, a personnummer, the kind's prior keeps the digit).
COMMA_TOP_SHARE = 0.55
COMMA_FOOT_SHARE = 0.1
COMMA_MAX_SHARE = 1.0
COMMA_DIGIT_COST = 3.0
# … tucked under a digit (within its columns), it is a comma only if it hangs at least
# COMMA_HANG_SHARE of the line height below the line's foot; otherwise it is a part of the digit.
COMMA_HANG_SHARE = 0.15
# A dot (stop, comma, half a colon) at most this share of the line height across.
DOT_MAX_SHARE = 0.22
# A small component near a character but not under it, at most this share of the line height
# across, is left to the segmentation search (a stop, a dash, or a broken-off piece).
LOOSE_MAX_SHARE = 0.5
# Characters further apart than this share of the line height have a space between them.
SPACE_SHARE = 0.45
# Blobs at least this wide (share of the line height) are over-segmented: cut at the lowest
# minima of their column profile, CUTS_PER_HEIGHT cuts per line height of width, at most MAX_CUTS.
OVERSEG_SHARE = 0.6
# … unless narrower than OVERSEG_ALWAYS_SHARE and read as one digit with at least OVERSEG_DOUBT
# (speed: most characters are clean singles).
OVERSEG_ALWAYS_SHARE = 1.0
OVERSEG_DOUBT = 0.98
CUTS_PER_HEIGHT = 2.0
MAX_CUTS = 6
# A piece of a cut at least this wide (share of the line height): a deslanted 1 is a pen wide.
PIECE_MIN_SHARE = 0.1
# One character is 1–MAX_GROUP consecutive pieces (or a whole component), at most
# GROUP_MAX_SHARE of the line height wide, with gaps of at most GROUP_GAP_SHARE between them
# (the broken strokes of one digit).
MAX_GROUP = 3
GROUP_MAX_SHARE = 1.15
GROUP_GAP_SHARE = 0.3
# A whole component (cut pieces back together) is always tried, up to this wide.
WHOLE_MAX_SHARE = 2.5
# Scores (natural log) of the search over segmentations, added to the characters' digit log
# probabilities: a bonus per character read (0: the reject class already makes a touching pair
# improbable as one digit, and the fragment rejects a slice of one), a cut through ink between
# two characters (touching digits), a slice or loose speck read as a separator (and the share
# of the cut cost it pays: a stop run into a digit is common), dropping a separator or a loose
# speck, and a reading that does not parse as the field's kind.
CHAR_BONUS = 0.0
CUT_COST = 3.0
SMALL_SEP = -1.0
SEP_CUT_SHARE = 0.3
DROP_SEP = -4.0
PRIOR_INVALID = -6.0
# How people write the values of a kind (spaces ignored), with log weights: the usual format
# 0, a valid but unusual one less; any other valid string PRIOR_ODD_FORMAT.
FORMATS: dict[str, tuple[tuple[str, float], ...]] = {
    "clock_time": ((r"\d{1,2}[.:,]\d{2}", 0.0), (r"\d{4}", -1.0), (r"\d{3}", -2.0)),
    "date": ((r"(\d{2})?\d{2}-\d{2}-\d{2}", 0.0), (r"(\d{2})?\d{6}", -1.0)),
    "personnummer": ((r"(\d{2})?\d{6}[-+]\d{4}", 0.0), (r"(\d{2})?\d{10}", -0.5)),
    "organisationsnummer": ((r"\d{6}-\d{4}", 0.0), (r"\d{10}", -0.5)),
}
PRIOR_ODD_FORMAT = -2.0
# Kinds with a check digit: their readings also get every one-digit change of the best one.
CHECK_DIGIT_KINDS = ("personnummer", "organisationsnummer")
# A digit reading of a character less than SHORT_SHARE of the line height high costs up to
# SHORT_COST (linearly in the shortfall): a stop read as a 0.
SHORT_SHARE = 0.75
SHORT_COST = 8.0
# Hypotheses kept per position, digits tried per character.
BEAM = 24
DIGITS_PER_GROUP = 3
# Pad around a field's box read with its ink (mm): registration is good to ~0.3 mm, and a
# digit written low may touch the box's bottom rule.
PAD_MM = 0.6


@dataclass(frozen=True)
class Token:
    kind: Literal["digit", "sep"]
    char: str  # best digit, or the separator: "." "," ":" "-" " "
    candidates: tuple[tuple[str, float], ...] = ()  # top-3 digits (char, prob), best first
    box: tuple[int, int, int, int] = (0, 0, 0, 0)  # x0, y0, x1, y1 px in the field crop
    reject: float = 0.0  # the classifier's "not one digit" score

    @property
    def prob(self) -> float:
        return self.candidates[0][1] if self.candidates else 1.0


@dataclass
class DigitString:
    tokens: list[Token] = dc_field(default_factory=list)
    ink: bool = False
    ranked: list[tuple[str, float]] | None = None  # whole readings of the segmentation search

    @property
    def text(self) -> str:
        return "".join(t.char for t in self.tokens)

    @property
    def digits(self) -> str:
        return "".join(t.char for t in self.tokens if t.kind == "digit")

    def candidates(self, k: int = 5) -> list[tuple[str, float]]:
        """The k most probable strings, best first: the segmentation search's readings
        (probabilities normalised over its final beam), or for comb fields the product of
        the digits' probabilities."""
        if self.ranked is not None:
            return self.ranked[:k] if self.tokens else []
        beams: list[tuple[float, str]] = [(1.0, "")]
        for t in self.tokens:
            if t.kind == "sep" or not t.candidates:
                beams = [(p, s + t.char) for p, s in beams]
                continue
            beams = heapq.nlargest(k, ((p * q, s + c) for p, s in beams for c, q in t.candidates))
        return [(s, float(p)) for p, s in beams] if self.tokens else []


@dataclass
class _Char:
    labels: tuple[int, ...]  # components (of the uprighted image) making the character
    x0: int  # column range in the uprighted image; a split piece keeps only these columns
    x1: int
    y0: int = 0
    y1: int = 0
    sep: str | None = None
    small: str | None = None  # a loose dot or dash near a character: part of it, or a separator

    def join(self, label: int, box: tuple[int, int, int, int]) -> None:
        """Take one more component (its label and box) into this character."""
        x0, y0, x1, y1 = box
        self.labels += (label,)
        self.x0, self.x1 = min(self.x0, x0), max(self.x1, x1)
        self.y0, self.y1 = min(self.y0, y0), max(self.y1, y1)


def _coverage(img: np.ndarray) -> np.ndarray:
    return np.clip((COVER_PAPER - img.astype(np.float32)) / COVER_SPAN, 0.0, 1.0)


def even_ink(img: np.ndarray) -> np.ndarray:
    """A field crop with faint strokes darkened to the ink of the rest (a skipping
    ballpoint, a light hand on a grey scan): each area of faint ink (darker than
    defs.FAINT_INK_LEVEL) that holds ink (darker than INK_LEVEL) but whose darkest part is lighter
    than FAINT_CORE is scaled from the paper's level so that its darkest part is EVEN_CORE.
    Normal ink is left as it is, so the readers see what they were trained on; without
    this, the faint part of a stroke falls under INK_LEVEL's cut and a 7 reads as a 1."""
    dark = img < INK_LEVEL
    if not dark.any():
        return img
    n, lab = cv2.connectedComponents((img < defs.FAINT_INK_LEVEL).astype(np.uint8), connectivity=8)
    # a stroke with more than 5 % of its pixels at FAINT_CORE or darker is not faint: counted
    # for all components at once, so that only the rare faint ones are looked at one by one
    size = np.bincount(lab.ravel(), minlength=n)
    core_px = np.bincount(lab[img <= FAINT_CORE], minlength=n)
    maybe = np.zeros(n, bool)
    maybe[np.unique(lab[dark])] = True
    maybe &= core_px <= 0.05 * (size - 1) + 1
    maybe[0] = False
    if not maybe.any():
        return img
    out = None
    paper = float(np.median(img))
    for i in np.nonzero(maybe)[0]:
        sel = lab == i
        core = float(np.percentile(img[sel], 5))
        if core <= FAINT_CORE or paper - core < 1.0:
            continue
        if out is None:
            out = img.astype(np.float32)
        k = (paper - EVEN_CORE) / (paper - core)
        out[sel] = np.clip(paper - (paper - out[sel]) * k, 0.0, 255.0)
    return img if out is None else out.astype(np.uint8)


def _upright(mask: np.ndarray) -> float:
    """The shear that makes the writing's strokes most vertical (sharpest column profile)."""
    ys, xs = np.nonzero(mask)
    if len(ys) < 20:
        return 0.0
    yc = (ys.min() + ys.max()) / 2
    best, best_s = -1.0, 0.0
    for s in SHEARS:
        col = np.rint(xs - s * (ys - yc)).astype(np.int64)
        col -= col.min()
        score = float((np.bincount(col).astype(np.float64) ** 2).sum())
        if score > best * 1.0001:  # ties: the first (least slant tried from the left)
            best, best_s = score, float(s)
    return best_s


def _shear(img: np.ndarray, s: float, fill: float) -> tuple[np.ndarray, np.ndarray]:
    """Shear an image (x' = x − s·(y − yc) + off); returns it and the 2×3 matrix."""
    h, w = img.shape
    yc = (h - 1) / 2
    off = abs(s) * h / 2 + 1
    m = np.array([[1.0, -s, s * yc + off], [0.0, 1.0, 0.0]])
    out = cv2.warpAffine(img, m, (int(w + 2 * off) + 1, h), flags=cv2.INTER_LINEAR,
                         borderMode=cv2.BORDER_CONSTANT, borderValue=fill)
    return out, m


class _Field:
    """One field's ink, uprighted, in components."""

    def __init__(self, img: np.ndarray, dpi: float, inner: tuple[int, int, int, int] | None):
        self.px = dpi / MM_PER_INCH
        from pipeline.read.text import main_line

        # only the band of writing: scraps of the printed label above it (its edges outside
        # the dropout mask, on a grey scan) read as digits otherwise
        img = main_line(even_ink(img), dpi)
        mask = img < INK_LEVEL
        if inner is not None:  # keep components that are mostly inside the box proper
            mask = self._inside(mask, inner)
        self.s = _upright(mask)
        img = np.where(mask, img, 255).astype(np.uint8)
        up, self.m = _shear(img, self.s, 255.0)
        self.cov = _coverage(up)
        self.mask = up < INK_LEVEL
        n, self.labels, st, _ = cv2.connectedComponentsWithStats(self.mask.astype(np.uint8), connectivity=8)
        self.stats = st
        speck = SPECK_MM2 * self.px * self.px
        self.comps = [i for i in range(1, n) if st[i, cv2.CC_STAT_AREA] >= speck]

    def _inside(self, mask: np.ndarray, inner: tuple[int, int, int, int]) -> np.ndarray:
        x0, y0, x1, y1 = inner
        n, lab, st, cen = cv2.connectedComponentsWithStats(mask.astype(np.uint8), connectivity=8)
        keep = np.zeros(n, bool)
        for i in range(1, n):
            cx, cy = cen[i]
            keep[i] = x0 <= cx <= x1 and y0 <= cy <= y1
        return keep[lab]

    def kept_coverage(self) -> np.ndarray:
        """The uprighted coverage of the kept components only (no dust, nothing centred
        outside the box): what the line reader reads."""
        keep = np.zeros(int(self.labels.max()) + 1, bool)
        keep[self.comps] = True
        return np.where(keep[self.labels], self.cov, 0.0).astype(np.float32)

    def box(self, i: int) -> tuple[int, int, int, int]:
        st = self.stats[i]
        return int(st[0]), int(st[1]), int(st[0] + st[2]), int(st[1] + st[3])

    def image(self, c: _Char) -> np.ndarray:
        sel = np.isin(self.labels[:, c.x0: c.x1], c.labels)
        return np.where(sel, self.cov[:, c.x0: c.x1], 0.0)

    def orig_box(self, c: _Char) -> tuple[int, int, int, int]:
        """The character's box in the field crop (undoing the upright shear)."""
        sel = np.isin(self.labels[:, c.x0: c.x1], c.labels)
        ys, xs = np.nonzero(sel)
        if len(ys) == 0:
            return (c.x0, c.y0, c.x1, c.y1)
        xs = xs + c.x0
        m = self.m  # x' = x + m01·y + m02
        ox = xs - m[0, 2] - m[0, 1] * ys
        return int(ox.min()), int(ys.min()), int(np.ceil(ox.max())) + 1, int(ys.max()) + 1


def _classify(clf: DigitClassifier, fld: _Field, chars: Sequence[_Char]) -> np.ndarray:
    if not chars:
        return np.zeros((0, N_CLASSES), np.float32)
    return clf.predict_all(np.asarray([normalize(fld.image(c)) for c in chars]))


def _line(fld: _Field) -> tuple[float, float, float]:
    """(top, bottom, height) px of the writing line: from the taller components."""
    hs = np.array([fld.stats[i, cv2.CC_STAT_HEIGHT] for i in fld.comps], float)
    tall = [i for i, h in zip(fld.comps, hs) if h >= 0.5 * hs.max()]
    top = float(np.median([fld.stats[i, cv2.CC_STAT_TOP] for i in tall]))
    bot = float(np.median([fld.stats[i, cv2.CC_STAT_TOP] + fld.stats[i, cv2.CC_STAT_HEIGHT] for i in tall]))
    return top, bot, max(bot - top, 1.0)


def _group(fld: _Field) -> tuple[list[_Char], float]:
    """Components → characters and separators, left to right, and the line height."""
    top, bot, h = _line(fld)
    tall, small, low = [], [], []
    for i in fld.comps:
        x0, y0, x1, y1 = fld.box(i)
        if y1 - y0 < TALL_SHARE * h:
            small.append(i)
        elif y0 - top >= COMMA_TOP_SHARE * h and y1 >= bot - COMMA_FOOT_SHARE * h \
                and y1 - y0 <= COMMA_MAX_SHARE * h and x1 - x0 < y1 - y0:
            low.append(i)
        else:
            tall.append(i)
    chars: list[_Char] = []
    for i in sorted(tall, key=lambda i: fld.stats[i, 0]):
        x0, y0, x1, y1 = fld.box(i)
        prev = chars[-1] if chars else None
        if prev is not None:
            ov = min(prev.x1, x1) - max(prev.x0, x0)
            if ov >= 0.5 * min(x1 - x0, prev.x1 - prev.x0):  # strokes of one digit
                prev.join(i, (x0, y0, x1, y1))
                continue
        chars.append(_Char((i,), x0, x1, y0, y1))
    seps: list[_Char] = []
    loose: list[_Char] = []
    for i in low:
        x0, y0, x1, y1 = fld.box(i)
        host = _host(chars, x0, x1)
        if host is None or y1 >= bot + COMMA_HANG_SHARE * h:
            # apart from the digits, or tucked under one and hanging below the line: a comma,
            # or (the search decides) a digit, or a part of the digit above it
            loose.append(_Char((i,), x0, x1, y0, y1, small=","))
        else:  # under a digit's columns and on the line: a part of it
            host.join(i, (x0, y0, x1, y1))
    for i in small:
        x0, y0, x1, y1 = fld.box(i)
        w, hh = x1 - x0, y1 - y0
        cy = ((y0 + y1) / 2 - top) / h
        sep = None
        if max(w, hh) <= SEP_MAX_SHARE * h and cy >= 0.62:
            sep = "," if (hh > 1.6 * w and y1 > bot + 0.12 * h) else "."
        elif hh <= SEP_MAX_SHARE * h and w >= 1.3 * hh and 0.25 <= cy <= 0.8:
            sep = "-"
        if sep is not None:
            # a piece inside a character's columns is part of it (a 5's bar), unless a dot at
            # the foot of the line (7.00: the stop tucked under the 7's arm)
            host = _host(chars, x0, x1)
            if host is None or (sep in ".," and _clear_above(fld, host, x0, x1, y0, 0.2 * h)):
                seps.append(_Char((i,), x0, x1, y0, y1, sep))
                continue
        if _host(chars, x0, x1) is None and max(w, hh) <= DOT_MAX_SHARE * h and 0.5 <= w / max(hh, 1) <= 2.0:
            seps.append(_Char((i,), x0, x1, y0, y1, "."))  # a raised dot: half of a colon
            continue
        host = _host(chars, x0, x1)
        if host is None and max(w, hh) <= LOOSE_MAX_SHARE * h and _nearest(chars, x0, x1, 0.3 * h) is not None:
            # near a character but not under it: the search decides (a stop, a dash, or a piece)
            loose.append(_Char((i,), x0, x1, y0, y1, small="-" if w >= 1.3 * hh and cy < 0.62 else "."))
            continue
        host = host or _nearest(chars, x0, x1, 0.3 * h)
        if host is not None:
            host.join(i, (x0, y0, x1, y1))
        elif max(w, hh) <= SEP_MAX_SHARE * h and 0.2 <= cy < 0.62:
            seps.append(_Char((i,), x0, x1, y0, y1, "."))  # a raised dot: half of a colon, or a stop
        elif max(w, hh) <= LOOSE_MAX_SHARE * h and cy >= 0.5:
            # standing apart, under a digit's height, low on the line: a big round stop
            # ("07 o 30") or a small digit; the search decides
            loose.append(_Char((i,), x0, x1, y0, y1, small="."))
        elif hh >= 0.3 * h:
            chars.append(_Char((i,), x0, x1, y0, y1))
    # two dots above each other: a colon
    seps.sort(key=lambda c: c.x0)
    out: list[_Char] = []
    for c in seps:
        if out and out[-1].sep == "." and c.sep == "." and min(out[-1].x1, c.x1) - max(out[-1].x0, c.x0) > -0.1 * h \
                and abs(out[-1].y0 - c.y0) > 0.25 * h:
            p = out.pop()
            out.append(_Char(p.labels + c.labels, min(p.x0, c.x0), max(p.x1, c.x1), min(p.y0, c.y0), max(p.y1, c.y1), ":"))
            continue
        out.append(c)
    return sorted(chars + loose + out, key=lambda c: (c.x0 + c.x1) / 2), h


def _clear_above(fld: _Field, host: _Char, x0: int, x1: int, y0: int, gap: float) -> bool:
    """No ink of ``host`` within ``gap`` px above a dot (the stop under a 7's arm, not a
    broken-off tail of a 9)."""
    ya = max(0, int(y0 - gap))
    return not np.isin(fld.labels[ya:y0, x0:x1], host.labels).any()


def _host(chars: list[_Char], x0: int, x1: int) -> _Char | None:
    w = max(1, x1 - x0)
    best, ov_best = None, 0.5 * w
    for c in chars:
        ov = min(c.x1, x1) - max(c.x0, x0)
        if ov >= ov_best:
            best, ov_best = c, ov
    return best


def _nearest(chars: list[_Char], x0: int, x1: int, limit: float) -> _Char | None:
    best, d_best = None, limit
    for c in chars:
        d = max(c.x0 - x1, x0 - c.x1, 0)
        if d <= d_best:
            best, d_best = c, d
    return best


def _token(fld: _Field, c: _Char, pr: np.ndarray) -> Token:
    top = np.argsort(-pr[:10])[:3]
    cands = tuple((str(int(d)), float(pr[d])) for d in top)
    return Token("digit", cands[0][0], cands, fld.orig_box(c), float(pr[REJECT]))


def _cuts(fld: _Field, c: _Char, h: float, max_cuts: int) -> list[int]:
    """Columns where a touching pair may be cut: the lowest minima of the ink per column."""
    sel = np.isin(fld.labels[:, c.x0: c.x1], c.labels)
    prof = sel.sum(axis=0).astype(float)
    lo = max(1, int(PIECE_MIN_SHARE * h))
    cand = []
    for x in range(lo, len(prof) - lo + 1):
        if prof[x] <= prof[x - 1] and (x + 1 >= len(prof) or prof[x] <= prof[x + 1]):
            cand.append((prof[x] + 0.02 * abs(x - len(prof) / 2), x))
    out: list[int] = []
    for _, x in sorted(cand):
        if all(abs(x - o) >= PIECE_MIN_SHARE * h for o in out):
            out.append(x)
        if len(out) == max_cuts:
            break
    return sorted(c.x0 + x for x in out)


def _pieces(c: _Char, cuts: Sequence[int]) -> list[_Char]:
    xs = [c.x0, *sorted(cuts), c.x1]
    return [_Char(c.labels, a, b, c.y0, c.y1) for a, b in zip(xs[:-1], xs[1:])]


@dataclass
class _Atom:
    """One piece of the over-segmented ink, left to right: a separator as read, or a part of a
    character (a component, or a column slice of a wide one)."""

    part: _Char
    sep: str | None = None  # a separator component ("." "," ":" "-")
    small: str | None = None  # a slice small enough to be a separator: what it would be
    cut_left: bool = False  # cut off the piece to its left (not a gap in the ink)


def _atoms(fld: _Field, chars: list[_Char], h: float, top: float, bot: float,
           clf: DigitClassifier) -> list[_Atom]:
    # blobs of one digit's width that read as a digit surely enough are not cut
    mid = [c for c in chars if c.sep is None and c.small is None
           and OVERSEG_SHARE * h <= c.x1 - c.x0 < OVERSEG_ALWAYS_SHARE * h]
    sure = {id(c) for c, p in zip(mid, _classify(clf, fld, mid)) if p[:10].max() >= OVERSEG_DOUBT}
    out: list[_Atom] = []
    for c in chars:
        if c.sep is not None:
            out.append(_Atom(c, c.sep))
            continue
        if c.small is not None:
            out.append(_Atom(c, None, c.small))
            continue
        w = c.x1 - c.x0
        cuts = _cuts(fld, c, h, min(MAX_CUTS, int(CUTS_PER_HEIGHT * w / h))) \
            if w >= OVERSEG_SHARE * h and id(c) not in sure else []
        for k, p in enumerate(_pieces(c, cuts)):
            out.append(_Atom(p, None, _small_sep(fld, p, h, top, bot) if cuts else None, k > 0))
    return out


def _small_sep(fld: _Field, p: _Char, h: float, top: float, bot: float) -> str | None:
    """What a slice of a blob would be as a separator (a stop or dash fused to a digit)."""
    ys, xs = np.nonzero(np.isin(fld.labels[:, p.x0: p.x1], p.labels))
    if len(ys) == 0:
        return None
    hh, w = ys.max() - ys.min() + 1, xs.max() - xs.min() + 1
    cy = ((ys.min() + ys.max() + 1) / 2 - top) / h
    if max(w, hh) <= SEP_MAX_SHARE * h and cy >= 0.62:
        return "."
    if hh <= SEP_MAX_SHARE * h and w >= 1.3 * hh and 0.25 <= cy <= 0.8:
        return "-"
    return None


def _group_image(fld: _Field, parts: Sequence[_Char]) -> np.ndarray:
    x0, x1 = min(p.x0 for p in parts), max(p.x1 for p in parts)
    sel = np.zeros((fld.labels.shape[0], x1 - x0), bool)
    for p in parts:
        sel[:, p.x0 - x0: p.x1 - x0] |= np.isin(fld.labels[:, p.x0: p.x1], p.labels)
    return np.where(sel, fld.cov[:, x0: x1], 0.0)


def _prior(kind: str | None, s: str) -> float:
    """Log prior of a whole reading for the field's kind: 0 when it parses as a value of the
    kind, PRIOR_INVALID when it does not (a prior, not a filter: the parse stage decides)."""
    if kind is None:
        return 0.0
    from pipeline.forms import FieldKind
    from pipeline.read.parse import normalise

    try:
        ok = normalise(FieldKind(kind), s) is not None
    except ValueError:
        return 0.0
    if not ok:
        return PRIOR_INVALID
    forms = FORMATS.get(kind)
    if forms is None:
        return 0.0
    t = s.replace(" ", "")
    return max((w for pat, w in forms if re.fullmatch(pat, t)), default=PRIOR_ODD_FORMAT)


def read_digits_image(img: np.ndarray, dpi: float, cells: int | None = None,
                      inner: tuple[int, int, int, int] | None = None,
                      clf: DigitClassifier | None = None, kind: str | None = None,
                      prepared: _Field | None = None) -> DigitString:
    """Read the digits of one field's ink crop (uint8, 255 paper). ``cells``: a comb field
    with that many cells across the box ``inner`` (x0, y0, x1, y1 px of the box in the crop;
    components centred outside it are ignored). ``kind`` (a FieldKind value) ranks the whole
    readings by whether they parse as that kind. ``prepared``: ``_Field(img, dpi, inner)``
    when the caller has it (the line reader reads the same)."""
    clf = clf or DigitClassifier.load()
    px = dpi / MM_PER_INCH
    if int((img < INK_LEVEL).sum()) < MIN_INK_MM2 * px * px:
        return DigitString([], False)
    if cells:
        return _read_comb(img, dpi, cells, inner, clf)
    fld = prepared or _Field(img, dpi, inner)
    if not fld.comps:
        return DigitString([], False)
    top, bot, h = _line(fld)
    chars, h = _group(fld)
    atoms = _atoms(fld, chars, h, top, bot, clf)
    n = len(atoms)
    # every run of 1–3 consecutive character pieces narrow enough for one digit, one batch
    groups: list[tuple[int, int]] = []
    for i in range(n):
        if atoms[i].sep is not None:
            continue
        for j in range(i + 1, n + 1):
            if atoms[j - 1].sep is not None:
                break
            if j > i + 1 and atoms[j - 2].part.x1 < atoms[j - 1].part.x0 - GROUP_GAP_SHARE * h:
                break
            whole = not atoms[i].cut_left and (j == n or not atoms[j].cut_left)  # uncut components
            if j - i > MAX_GROUP and not whole:
                continue
            wide = atoms[j - 1].part.x1 - atoms[i].part.x0
            if wide > WHOLE_MAX_SHARE * h:
                break
            if wide > GROUP_MAX_SHARE * h and not whole:
                continue
            groups.append((i, j))
    crops = [_group_image(fld, [a.part for a in atoms[i:j]]) for i, j in groups]
    imgs = np.asarray([normalize(c) for c in crops]) if groups else np.zeros((0, SIDE, SIDE), np.float32)
    pr = clf.predict_all(imgs)
    logp = np.log(pr[:, :10] + 1e-6)
    # a digit is about a line high: a short group (a stop, a dash, a slice's stub) is no digit,
    # however round it looks once normalised to 20 px
    tall = np.array([np.ptp(np.nonzero(c.any(axis=1))[0]) + 1 if c.any() else 0 for c in crops], float) / h
    logp -= (SHORT_COST * np.maximum(SHORT_SHARE - tall, 0.0) / SHORT_SHARE)[:, None]
    logp -= np.array([COMMA_DIGIT_COST if any(a.small == "," for a in atoms[i:j]) else 0.0
                      for i, j in groups])[:, None]
    by_start: dict[int, list[int]] = {}
    for g, (i, j) in enumerate(groups):
        by_start.setdefault(i, []).append(g)
    # beam over the atoms: (score, text, path); path items: ("d", group, digit) / ("s", atom, char)
    beams: list[list[tuple[float, str, tuple]]] = [[] for _ in range(n + 1)]
    beams[0] = [(0.0, "", ())]
    for i in range(n):
        if not beams[i]:
            continue
        beams[i] = heapq.nlargest(BEAM, beams[i], key=lambda b: b[0])
        gap = atoms[i].part.x0 - atoms[i - 1].part.x1 if i else 0
        a = atoms[i]
        for score, text, path in beams[i]:
            if a.sep is not None:
                beams[i + 1].append((score, text + a.sep, path + (("s", i, a.sep),)))
                beams[i + 1].append((score + DROP_SEP, text, path))
                continue
            cost = CUT_COST if a.cut_left else 0.0
            sp = " " if (gap > SPACE_SHARE * h and text and text[-1].isdigit()) else ""
            if a.small is not None:
                beams[i + 1].append((score + SMALL_SEP - SEP_CUT_SHARE * cost, text + a.small, path + (("s", i, a.small),)))
            if a.part.small is not None:  # a loose speck may be noise
                beams[i + 1].append((score + DROP_SEP, text, path))
            for g in by_start.get(i, ()):
                j = groups[g][1]
                for d in np.argsort(-logp[g])[:DIGITS_PER_GROUP]:
                    beams[j].append((score + float(logp[g, d]) + CHAR_BONUS - cost, text + sp + str(int(d)),
                                     path + (("d", g, int(d)),)))
    final: dict[str, tuple[float, tuple]] = {}
    for score, text, path in heapq.nlargest(BEAM, beams[n], key=lambda b: b[0]):
        s = score + _prior(kind, text)
        if text not in final or s > final[text][0]:
            final[text] = (s, path)
    if not final:
        return DigitString([], True)
    if kind in CHECK_DIGIT_KINDS:
        # the best segmentation with each digit read otherwise in turn: a wrong check digit
        # says one digit is misread, and its second choice may have left the beam before the
        # kind's prior was applied to whole readings
        best_text, (best_s, best_path) = max(final.items(), key=lambda kv: kv[1][0])
        base = best_s - _prior(kind, best_text)
        where = [i for i, c in enumerate(best_text) if c.isdigit()]
        digits = [(k, item) for k, item in enumerate(best_path) if item[0] == "d"]
        for (k, item), at in zip(digits, where):
            g, d0 = item[1], item[2]
            for d in range(10):
                if d == d0:
                    continue
                path = best_path[:k] + (("d", g, d),) + best_path[k + 1:]
                text = best_text[:at] + str(d) + best_text[at + 1:]
                if text in final:
                    continue
                s = base - float(logp[g, d0]) + float(logp[g, d]) + _prior(kind, text)
                final[text] = (s, path)
    ranked = sorted(final.items(), key=lambda kv: -kv[1][0])
    sc = np.array([v[0] for _, v in ranked])
    p = np.exp(sc - sc.max())
    p /= p.sum()
    cands = [(t, float(q)) for (t, _), q in zip(ranked, p)]
    tokens: list[Token] = []
    for item in ranked[0][1][1]:
        if item[0] == "s":
            tokens.append(Token("sep", item[2], (), fld.orig_box(atoms[item[1]].part)))
            continue
        g = item[1]
        i, j = groups[g]
        if tokens and tokens[-1].kind == "digit" and i and atoms[i].part.x0 - atoms[i - 1].part.x1 > SPACE_SHARE * h:
            tokens.append(Token("sep", " "))
        parts = [a.part for a in atoms[i:j]]
        c = _Char(tuple(sorted({l for q in parts for l in q.labels})), min(q.x0 for q in parts),
                  max(q.x1 for q in parts))
        tokens.append(_token(fld, c, pr[g]))
    return DigitString(tokens, True, cands)


def _read_comb(img: np.ndarray, dpi: float, cells: int, inner, clf: DigitClassifier) -> DigitString:
    """One character per cell of a comb field: its components grouped by the cell their centre
    falls in (no splitting: the comb keeps the characters apart)."""
    h_img, w_img = img.shape
    x0, y0, x1, y1 = inner if inner is not None else (0, 0, w_img, h_img)
    fld = _Field(img, dpi, None)
    cw = (x1 - x0) / cells
    # the cell of each component, from its centre in the original crop
    m = fld.m
    by_cell: dict[int, list[int]] = {}
    for i in fld.comps:
        bx0, by0, bx1, by1 = fld.box(i)
        cy = (by0 + by1) / 2
        cx = (bx0 + bx1) / 2 - m[0, 2] - m[0, 1] * cy
        if not (y0 <= cy <= y1):
            continue
        k = int((cx - x0) // cw)
        if 0 <= k < cells:
            by_cell.setdefault(k, []).append(i)
    px = dpi / MM_PER_INCH
    chars = []
    for k in sorted(by_cell):
        ids = by_cell[k]
        if sum(fld.stats[i, cv2.CC_STAT_AREA] for i in ids) < MIN_INK_MM2 * px * px:
            continue
        boxes = np.array([fld.box(i) for i in ids])
        chars.append(_Char(tuple(ids), int(boxes[:, 0].min()), int(boxes[:, 2].max()),
                           int(boxes[:, 1].min()), int(boxes[:, 3].max())))
    pr = _classify(clf, fld, chars)
    return DigitString([_token(fld, c, p) for c, p in zip(chars, pr)], bool(chars))


def field_image(page, field, pad_mm: float = PAD_MM) -> tuple[np.ndarray, tuple[int, int, int, int]]:
    """A digit field's ink crop (``page.ink_crop``, padded by ``pad_mm``) and the box proper
    inside it, px (the crop is clipped at the page edge)."""
    img = page.ink_crop(field, pad_mm=pad_mm, mend=True)
    k = page.px_per_mm
    x, y, w, h = field.box
    cx0 = max(0, int(round((x - pad_mm) * k)))
    cy0 = max(0, int(round((y - pad_mm) * k)))
    inner = (int(round(x * k)) - cx0, int(round(y * k)) - cy0,
             int(round((x + w) * k)) - cx0, int(round((y + h) * k)) - cy0)
    return _without_print_scraps(img, page, field, (cx0, cy0)), inner


def _print_places(page, field) -> list[tuple[float, float, float, float]]:
    """Where print lies in or at the field (x0, y0, x1, y1 mm): its own label, and the short
    lines (ticks, shorter than defs.PRINT_TICK_MAX_MM) the page draws within its box."""
    from pipeline.synth.render import label_box

    places = [lb] if (lb := label_box(page.template, field)) is not None else []
    x, y, w, h = field.box
    for d in page.template.page(page.page_number).drawing:
        if d.line is None:
            continue
        x1, y1, x2, y2 = d.line
        if (math.hypot(x2 - x1, y2 - y1) < defs.PRINT_TICK_MAX_MM
                and x <= max(x1, x2) and min(x1, x2) <= x + w and y <= max(y1, y2) and min(y1, y2) <= y + h):
            places.append((min(x1, x2), min(y1, y2), max(x1, x2), max(y1, y2)))
    return places


def _without_print_scraps(img: np.ndarray, page, field, origin: tuple[int, int]) -> np.ndarray:
    """The crop without what the print dropout left of the print in the field (the edges of
    its label's letters where FK's print and our replica of it differ, a tick that a sheet
    not lying flat moved: an empty field on FK's real forms read as "ink, no valid date"):
    ink components (faint ink included) lying wholly within one such place
    (:func:`_print_places`), widened by defs.LABEL_SCRAP_MARGIN_MM. Writing that reaches into
    such a place also runs out of it, and stays."""
    places = _print_places(page, field)
    if not places:
        return img
    n, lab, st, _ = cv2.connectedComponentsWithStats((img < defs.FAINT_INK_LEVEL).astype(np.uint8), connectivity=8)
    k, m = page.px_per_mm, defs.LABEL_SCRAP_MARGIN_MM
    inside = np.zeros(n, bool)
    for px0, py0, px1, py1 in places:
        x0, y0 = (px0 - m) * k - origin[0], (py0 - m) * k - origin[1]
        x1, y1 = (px1 + m) * k - origin[0], (py1 + m) * k - origin[1]
        inside |= ((st[:, 0] >= x0) & (st[:, 1] >= y0) & (st[:, 0] + st[:, 2] <= x1) & (st[:, 1] + st[:, 3] <= y1))
    inside[0] = False
    if not inside.any():
        return img
    out = img.copy()
    out[inside[lab]] = 255
    return out


def read_digit_string(page, field, pad_mm: float = PAD_MM, clf: DigitClassifier | None = None,
                      image: tuple[np.ndarray, tuple[int, int, int, int]] | None = None,
                      prepared: _Field | None = None) -> DigitString:
    """Read a digit field of a registered page (``pipeline.register.RegisteredPage``);
    ``image``: its :func:`field_image`, and ``prepared`` its ``_Field``, when the caller has
    them already."""
    img, inner = image or field_image(page, field, pad_mm)
    cells = field.cells if getattr(field, "frame", None) == "comb" and field.cells else None
    return read_digits_image(img, page.dpi, cells, inner, clf, kind=getattr(field.kind, "value", None),
                             prepared=prepared)
