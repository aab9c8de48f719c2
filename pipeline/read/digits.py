"""Digits: a small CNN (numpy at run time) and the segmentation of a field's ink into characters.

Two parts:

* :class:`DigitClassifier` reads one character image: 10 digit probabilities and a reject
  score (scrawl, letters, two touching digits, a stray stroke). Trained by
  ``tools/train_digits.py`` with PyTorch on real handwritten MNIST digits plus digits of the
  generator's handwriting and typed fonts; the weights (``digits.npz``, float16, BatchNorm
  folded in) run here in plain numpy (im2col convolutions), so torch is never needed at run time.
* :func:`read_digit_string` cuts a field's ink (``page.ink_crop``: the filler's ink, print
  removed, template space at the scan's dpi) into characters: connected components; broken
  strokes of one digit merged; separators (``.`` ``,`` ``:`` ``-`` ``/`` and space gaps)
  told apart by size and position; touching digits split at the cut the classifier is most
  sure of. Comb fields are read cell by cell. The result keeps the top-3 candidates of every
  digit, and :meth:`DigitString.candidates` ranks whole strings for the kind-specific parsers.

Preprocessing (MNIST convention, identical in training): a character's coverage (0 paper … 1
ink) is cropped to its ink, scaled (aspect kept) to fit 20×20 px, and placed in 28×28 px with
its centre of mass at the centre.
"""

from __future__ import annotations

import heapq
from dataclasses import dataclass, field as dc_field
from functools import lru_cache
from pathlib import Path
from typing import Literal, Sequence

import cv2
import numpy as np

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
    """The digit CNN: conv5×5·32 → pool → conv3×3·48 → pool → conv3×3·64 → pool → fc128 → 11."""

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
# A dot (stop, comma, half a colon) at most this share of the line height across.
DOT_MAX_SHARE = 0.22
# Characters further apart than this share of the line height have a space between them.
SPACE_SHARE = 0.45
# Blobs at least this wide (share of the line height) may be touching digits.
SPLIT_MIN_SHARE = 0.8
# … and when its digit probability is below SPLIT_DOUBT; always from SPLIT_WIDE_SHARE on.
SPLIT_DOUBT = 0.9
SPLIT_WIDE_SHARE = 1.05
# Neighbours are tried joined (broken strokes of one digit) when one reads below MERGE_DOUBT,
# they are at most MERGE_GAP_SHARE of the line height apart and MERGE_MAX_SHARE wide together.
MERGE_DOUBT = 0.8
MERGE_GAP_SHARE = 0.15
MERGE_MAX_SHARE = 1.0
# A piece of a split at least this wide (share of the line height): a deslanted 1 is a pen wide.
PIECE_MIN_SHARE = 0.1
# A split must beat the whole blob's log digit probability by this much (the whole is the prior).
SPLIT_MARGIN = 0.1
# Cut positions tried per blob (lowest column projection minima).
MAX_CUTS = 4
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

    @property
    def text(self) -> str:
        return "".join(t.char for t in self.tokens)

    @property
    def digits(self) -> str:
        return "".join(t.char for t in self.tokens if t.kind == "digit")

    def candidates(self, k: int = 5) -> list[tuple[str, float]]:
        """The k most probable strings (product of the digits' probabilities; separators kept
        as read), best first."""
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


def _coverage(img: np.ndarray) -> np.ndarray:
    return np.clip((COVER_PAPER - img.astype(np.float32)) / COVER_SPAN, 0.0, 1.0)


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
    tall, small = [], []
    for i in fld.comps:
        (tall if fld.stats[i, cv2.CC_STAT_HEIGHT] >= TALL_SHARE * h else small).append(i)
    chars: list[_Char] = []
    for i in sorted(tall, key=lambda i: fld.stats[i, 0]):
        x0, y0, x1, y1 = fld.box(i)
        prev = chars[-1] if chars else None
        if prev is not None:
            ov = min(prev.x1, x1) - max(prev.x0, x0)
            if ov >= 0.5 * min(x1 - x0, prev.x1 - prev.x0):  # strokes of one digit
                prev.labels += (i,)
                prev.x0, prev.x1 = min(prev.x0, x0), max(prev.x1, x1)
                prev.y0, prev.y1 = min(prev.y0, y0), max(prev.y1, y1)
                continue
        chars.append(_Char((i,), x0, x1, y0, y1))
    seps: list[_Char] = []
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
        host = _host(chars, x0, x1) or _nearest(chars, x0, x1, 0.3 * h)
        if host is not None:
            host.labels += (i,)
            host.x0, host.x1 = min(host.x0, x0), max(host.x1, x1)
            host.y0, host.y1 = min(host.y0, y0), max(host.y1, y1)
        elif max(w, hh) <= SEP_MAX_SHARE * h and 0.2 <= cy < 0.62:
            seps.append(_Char((i,), x0, x1, y0, y1, "."))  # a raised dot: half of a colon, or a stop
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
    return sorted(chars + out, key=lambda c: (c.x0 + c.x1) / 2), h


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


def _merge_broken(clf: DigitClassifier, fld: _Field, chars: list[_Char], digits: list[_Char],
                  pr: list[np.ndarray], h: float) -> tuple[list[_Char], list[np.ndarray]]:
    """Join neighbours that are the broken strokes of one digit: a pair close together, narrow
    enough together for one digit, with one of them doubtful, is joined when the joined image
    reads as a digit more surely than the two apart (log probabilities)."""
    seps = [((c.x0 + c.x1) / 2) for c in chars if c.sep is not None]
    i = 0
    while i + 1 < len(digits):
        a, b = digits[i], digits[i + 1]
        pa, pb = float(pr[i][:10].max()), float(pr[i + 1][:10].max())
        gap = b.x0 - a.x1
        width = max(a.x1, b.x1) - min(a.x0, b.x0)
        between = any(a.x1 <= x <= b.x0 for x in seps)
        if min(pa, pb) < MERGE_DOUBT and gap <= MERGE_GAP_SHARE * h and width <= MERGE_MAX_SHARE * h and not between:
            m = _Char(a.labels + b.labels, min(a.x0, b.x0), max(a.x1, b.x1), min(a.y0, b.y0), max(a.y1, b.y1))
            pm = _classify(clf, fld, [m])[0]
            if np.log(pm[:10].max() + 1e-6) > np.log(pa + 1e-6) + np.log(pb + 1e-6):
                digits[i: i + 2] = [m]
                pr[i: i + 2] = [pm]
                continue
        i += 1
    return digits, pr


def _cuts(fld: _Field, c: _Char, h: float) -> list[int]:
    """Columns where a touching pair may be cut: the lowest minima of the ink per column."""
    sel = np.isin(fld.labels[:, c.x0: c.x1], c.labels)
    prof = sel.sum(axis=0).astype(float)
    lo = max(1, int(PIECE_MIN_SHARE * h))
    cand = []
    for x in range(lo, len(prof) - lo):
        if prof[x] <= prof[x - 1] and prof[x] <= prof[x + 1]:
            cand.append((prof[x] + 0.02 * abs(x - len(prof) / 2), x))
    out: list[int] = []
    for _, x in sorted(cand):
        if all(abs(x - o) >= 0.1 * h for o in out):
            out.append(x)
        if len(out) == MAX_CUTS:
            break
    return [c.x0 + x for x in out]


def _pieces(c: _Char, cuts: Sequence[int]) -> list[_Char]:
    xs = [c.x0, *sorted(cuts), c.x1]
    return [_Char(c.labels, a, b, c.y0, c.y1) for a, b in zip(xs[:-1], xs[1:])]


def _split(clf: DigitClassifier, fld: _Field, c: _Char, h: float, p_whole: np.ndarray) -> tuple[list[_Char], np.ndarray]:
    """The best reading of a wide blob: whole, or cut in two or three."""
    cuts = _cuts(fld, c, h)
    options: list[list[_Char]] = [_pieces(c, [x]) for x in cuts]
    if c.x1 - c.x0 >= 1.4 * h:
        options += [_pieces(c, [a, b]) for i, a in enumerate(cuts) for b in cuts[i + 1:]]
    options = [o for o in options if all(p.x1 - p.x0 >= PIECE_MIN_SHARE * h for p in o)]
    if not options:
        return [c], p_whole[None]
    flat = [p for o in options for p in o]
    pr = _classify(clf, fld, flat)
    best, best_score, best_pr = [c], float(np.log(p_whole[:10].max() + 1e-6)) + SPLIT_MARGIN, p_whole[None]
    k = 0
    for o in options:
        po = pr[k: k + len(o)]
        k += len(o)
        score = float(np.log(po[:, :10].max(axis=1) + 1e-6).sum())
        if score > best_score:
            best, best_score, best_pr = o, score, po
    return best, best_pr


def _token(fld: _Field, c: _Char, pr: np.ndarray) -> Token:
    top = np.argsort(-pr[:10])[:3]
    cands = tuple((str(int(d)), float(pr[d])) for d in top)
    return Token("digit", cands[0][0], cands, fld.orig_box(c), float(pr[REJECT]))


def read_digits_image(img: np.ndarray, dpi: float, cells: int | None = None,
                      inner: tuple[int, int, int, int] | None = None,
                      clf: DigitClassifier | None = None) -> DigitString:
    """Read the digits of one field's ink crop (uint8, 255 paper). ``cells``: a comb field
    with that many cells across the box ``inner`` (x0, y0, x1, y1 px of the box in the crop;
    components centred outside it are ignored)."""
    clf = clf or DigitClassifier.load()
    px = dpi / MM_PER_INCH
    if int((img < INK_LEVEL).sum()) < MIN_INK_MM2 * px * px:
        return DigitString([], False)
    if cells:
        return _read_comb(img, dpi, cells, inner, clf)
    fld = _Field(img, dpi, inner)
    if not fld.comps:
        return DigitString([], False)
    chars, h = _group(fld)
    digits = [c for c in chars if c.sep is None]
    pr = list(_classify(clf, fld, digits))
    digits, pr = _merge_broken(clf, fld, chars, digits, pr, h)
    by_id = {id(c): p for c, p in zip(digits, pr)}
    tokens: list[Token] = []
    prev_x1: int | None = None
    for c in sorted([c for c in chars if c.sep is not None] + digits, key=lambda c: (c.x0 + c.x1) / 2):
        if prev_x1 is not None and c.x0 - prev_x1 > SPACE_SHARE * h and c.sep is None \
                and not (tokens and tokens[-1].kind == "sep"):
            tokens.append(Token("sep", " "))
        if c.sep is not None:
            tokens.append(Token("sep", c.sep, (), fld.orig_box(c)))
            prev_x1 = c.x1
            continue
        p = by_id[id(c)]
        parts, prs = [c], p[None]
        w = c.x1 - c.x0
        if w >= SPLIT_WIDE_SHARE * h or (w >= SPLIT_MIN_SHARE * h and p[:10].max() < SPLIT_DOUBT):
            parts, prs = _split(clf, fld, c, h, p)
        for part, pp in zip(parts, prs):
            tokens.append(_token(fld, part, pp))
        prev_x1 = c.x1
    return DigitString(tokens, True)


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


def read_digit_string(page, field, pad_mm: float = PAD_MM, clf: DigitClassifier | None = None) -> DigitString:
    """Read a digit field of a registered page (``pipeline.register.RegisteredPage``)."""
    img = page.ink_crop(field, pad_mm=pad_mm)
    k = page.px_per_mm
    # the box proper inside the padded crop (the crop is clipped at the page edge)
    x, y, w, h = field.box
    cx0 = max(0, int(round((x - pad_mm) * k)))
    cy0 = max(0, int(round((y - pad_mm) * k)))
    inner = (int(round(x * k)) - cx0, int(round(y * k)) - cy0,
             int(round((x + w) * k)) - cx0, int(round((y + h) * k)) - cy0)
    cells = field.cells if getattr(field, "frame", None) == "comb" and field.cells else None
    return read_digits_image(img, page.dpi, cells, inner, clf)
