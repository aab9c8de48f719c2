"""Digit lines: a segmentation-free recogniser of a whole field's writing (CNN + BiLSTM, CTC).

The character reader of :mod:`pipeline.read.digits` cuts a field's ink into characters
first; where digits touch, a stop runs into a digit or a 1 leans on its neighbour, the cut is
where it goes wrong. This reader never cuts: the field's ink, scaled to a line 32 px high, is
read column by column by a small convolutional network and a bidirectional LSTM trained with
CTC loss (``tools/train_lines.py``, PyTorch, on strings composed of real handwritten MNIST
digits from the recogniser's slice, never the sample generator's), and decoded by a prefix
beam search into the k most probable strings. The weights (``lines.npz``, float16, BatchNorm
folded in) run here in plain numpy.

    reader = LineReader.load()
    x = line_input(cov)                      # one field's ink coverage → (32, W) float32
    reader.candidates([x], k=8)              # [[("07.30", 0.91), ("07.20", 0.05), …]]

Two such networks read every field (``NETWORKS``): the same shape, trained apart (another
seed, other lines, from scratch). Each gives its own strings, and the field reader
(:func:`pipeline.read.fields.read_number`) combines them with the character reader's as
readers of their own: most of what one misreads the other reads right or doubts.
"""

from __future__ import annotations

import heapq
import math
from functools import lru_cache
from pathlib import Path

import cv2
import numpy as np

WEIGHTS = Path(__file__).with_name("lines.npz")
NETWORKS = (WEIGHTS, WEIGHTS.with_name("lines2.npz"))  # each field is read by both

LINE_H = 32  # network input height, px
INK_H = 28  # the writing's height inside it (2 px paper above and below)
MARGIN_W = 4  # paper left and right of the writing, px
MAX_W = 480  # widest input (px); wider writing is scaled down to fit
STRIDE = 4  # input columns per output step (two 2× poolings across)
# Output classes: index 0 is CTC's blank, then these characters. No space: people's gaps
# are not reliable enough to read, and no kind's value needs them (amount groups are checked
# on the digits; phone numbers are their digits).
ALPHABET = "0123456789.,-:"
N_CLASSES = len(ALPHABET) + 1


def line_input(cov: np.ndarray) -> np.ndarray:
    """A field's ink coverage (float 0 paper … 1 ink, print and stray components already
    removed) → the network input (LINE_H, W) float32, W a multiple of STRIDE.

    Cropped to the ink, contrast-stretched (98th percentile of the ink → 1: grey ballpoint
    and black toner look alike), scaled with its aspect kept so that the ink is INK_H high
    (or the line MAX_W wide), and set in a margin of paper. The same function prepares the
    training lines (``tools/train_lines.py``)."""
    a = np.asarray(cov, dtype=np.float32)
    ys, xs = np.nonzero(a > 0.1)
    if len(ys) == 0:
        return np.zeros((LINE_H, 2 * STRIDE), np.float32)
    a = a[ys.min(): ys.max() + 1, xs.min(): xs.max() + 1]
    top = float(np.percentile(a[a > 0.1], 98))
    a = np.clip(a / max(top, 0.2), 0.0, 1.0)
    h, w = a.shape
    s = min(INK_H / h, (MAX_W - 2 * MARGIN_W) / w)
    nh, nw = max(1, int(round(h * s))), max(1, int(round(w * s)))
    a = cv2.resize(a, (nw, nh), interpolation=cv2.INTER_AREA if s < 1 else cv2.INTER_LINEAR)
    width = int(math.ceil((nw + 2 * MARGIN_W) / STRIDE) * STRIDE)
    out = np.zeros((LINE_H, width), np.float32)
    y0 = (LINE_H - nh) // 2
    out[y0: y0 + nh, MARGIN_W: MARGIN_W + nw] = a
    return out


def batch(lines: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Inputs of different widths → (N, LINE_H, Wmax) padded with paper, and their output
    lengths (steps)."""
    wmax = max(x.shape[1] for x in lines)
    out = np.zeros((len(lines), LINE_H, wmax), np.float32)
    for i, x in enumerate(lines):
        out[i, :, : x.shape[1]] = x
    return out, np.array([x.shape[1] // STRIDE for x in lines])


# --- the network in numpy ----------------------------------------------------------------------

def _conv3(x: np.ndarray, w: np.ndarray, b: np.ndarray) -> np.ndarray:
    """3×3 'same' convolution, NHWC, then ReLU: the nine shifted copies of the input side by
    side (block copies, cheaper than a sliding-window gather) and one matrix product."""
    n, h, wd, c = x.shape
    o = w.shape[0]
    xp = np.pad(x, ((0, 0), (1, 1), (1, 1), (0, 0)))
    cols = np.empty((n, h, wd, 9, c), np.float32)
    for dy in range(3):
        for dx in range(3):
            cols[:, :, :, dy * 3 + dx, :] = xp[:, dy:dy + h, dx:dx + wd, :]
    wm = w.transpose(0, 2, 3, 1).reshape(o, 9 * c)  # (out, ky, kx, in): the order of cols
    return np.maximum(cols.reshape(n * h * wd, 9 * c) @ wm.T + b, 0.0).reshape(n, h, wd, o)


def _pool(x: np.ndarray, ph: int, pw: int) -> np.ndarray:
    n, h, w, c = x.shape
    x = x[:, : h // ph * ph, : w // pw * pw]
    return x.reshape(n, h // ph, ph, w // pw, pw, c).max(axis=(2, 4))


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return 0.5 * (np.tanh(0.5 * z) + 1.0)


def _lstm(x: np.ndarray, wi: np.ndarray, wh: np.ndarray, b: np.ndarray, reverse: bool,
          lengths: np.ndarray) -> np.ndarray:
    """One direction of an LSTM (torch's gate order i, f, g, o) over (N, T, F). A forward
    pass runs into the padding harmlessly (those steps are never read); a reversed pass
    starts at each sequence's own end: its state stays zero over the padding."""
    n, t, _ = x.shape
    hid = wh.shape[1]
    gx = x @ wi.T + b  # (N, T, 4H)
    whT = np.ascontiguousarray(wh.T)
    h = np.zeros((n, hid), np.float32)
    c = np.zeros((n, hid), np.float32)
    out = np.zeros((n, t, hid), np.float32)
    live = (np.arange(t)[None, :] < lengths[:, None]).astype(np.float32)[:, :, None]
    for s in (range(t - 1, -1, -1) if reverse else range(t)):
        g = gx[:, s] + h @ whT
        sg = _sigmoid(g)
        c = sg[:, hid: 2 * hid] * c + sg[:, :hid] * np.tanh(g[:, 2 * hid: 3 * hid])
        h = sg[:, 3 * hid:] * np.tanh(c)
        if reverse:
            c *= live[:, s]
            h *= live[:, s]
        out[:, s] = h
    return out


class LineReader:
    """conv3·16 → pool 2 → conv3·32 → pool 2 → conv3·64 → conv3·64 → pool (2,1) → conv3·96 →
    pool (2,1) → columns of 192 → BiLSTM 2×96 → 15 classes (blank, 0–9 . , - :) a step."""

    CONVS = ((1, (2, 2)), (2, (2, 2)), (3, None), (4, (2, 1)), (5, (2, 1)))

    def __init__(self, params: dict[str, np.ndarray]):
        self.p = {k: np.asarray(v, dtype=np.float32) for k, v in params.items() if not k.startswith("meta_")}

    @classmethod
    def load(cls, path: Path | str | None = None) -> "LineReader":
        return _load(str(path or WEIGHTS))

    def log_probs(self, x: np.ndarray, lengths: np.ndarray) -> np.ndarray:
        """(N, LINE_H, W) inputs → (N, W/STRIDE, N_CLASSES) log probabilities."""
        p = self.p
        h = x[:, :, :, None].astype(np.float32)
        steps = np.asarray(lengths)
        for i, pool in self.CONVS:
            h = _conv3(h, p[f"c{i}.w"], p[f"c{i}.b"])
            # a line narrower than the batch sees zeros past its end, as it would alone
            # ("same" padding), not the activations of the batch's padding: a field reads
            # the same whatever it is batched with
            live = steps * STRIDE * h.shape[2] // x.shape[2]  # each line's columns at this layer
            h *= (np.arange(h.shape[2])[None, :] < live[:, None])[:, None, :, None]
            if pool is not None:
                h = _pool(h, *pool)
        n, hh, t, c = h.shape
        seq = h.transpose(0, 2, 3, 1).reshape(n, t, c * hh)  # torch: features are (C, H)
        fwd = _lstm(seq, p["l.wi"], p["l.wh"], p["l.b"], False, lengths)
        bwd = _lstm(seq, p["l.wi_r"], p["l.wh_r"], p["l.b_r"], True, lengths)
        z = np.concatenate([fwd, bwd], axis=2) @ p["o.w"].T + p["o.b"]
        z = z - z.max(axis=2, keepdims=True)
        return z - np.log(np.exp(z).sum(axis=2, keepdims=True))

    def candidates(self, lines: list[np.ndarray], k: int = 8, chunk: int = 32) -> list[list[tuple[str, float]]]:
        """The k most probable strings of each input line, with their probabilities."""
        order = sorted(range(len(lines)), key=lambda i: lines[i].shape[1])  # similar widths together
        res: dict[int, list[tuple[str, float]]] = {}
        for j in range(0, len(order), chunk):
            idx = order[j: j + chunk]
            x, lens = batch([lines[i] for i in idx])
            lp = self.log_probs(x, lens)
            for i, q, n in zip(idx, lp, lens):
                res[i] = ctc_beam(q[:n], k)
        return [res[i] for i in range(len(lines))]


@lru_cache(maxsize=2)
def _load(path: str) -> LineReader:
    with np.load(path) as z:
        return LineReader({k: z[k] for k in z.files})


# --- decoding ------------------------------------------------------------------------------------

# Beam width of the prefix search; classes below PRUNE (log) at a step are not extended.
BEAM = 16
PRUNE = math.log(1e-4)


def _lse(a: float, b: float) -> float:
    if a == -math.inf:
        return b
    if b == -math.inf:
        return a
    m = max(a, b)
    return m + math.log1p(math.exp(-abs(a - b)))


def ctc_beam(logp: np.ndarray, k: int = 8, beam: int = BEAM) -> list[tuple[str, float]]:
    """CTC prefix beam search over (T, N_CLASSES) log probabilities: the k best strings and
    their probabilities (summed over all alignments; not renormalised)."""
    ninf = -math.inf
    beams: dict[str, tuple[float, float]] = {"": (0.0, ninf)}  # prefix → (log p ends in blank, in non-blank)
    for t in range(len(logp)):
        row = logp[t]
        cands = [c for c in range(1, N_CLASSES) if row[c] > PRUNE]
        if not cands:  # only a blank is plausible here (most steps): every prefix just goes on
            beams = {p: (_lse(pb, pnb) + float(row[0]), ninf) for p, (pb, pnb) in beams.items()}
            continue
        nxt: dict[str, list[float]] = {}

        def add(prefix: str, pb: float, pnb: float) -> None:
            cur = nxt.setdefault(prefix, [ninf, ninf])
            cur[0] = _lse(cur[0], pb)
            cur[1] = _lse(cur[1], pnb)

        for prefix, (pb, pnb) in beams.items():
            tot = _lse(pb, pnb)
            add(prefix, tot + float(row[0]), ninf)  # a blank
            last = prefix[-1] if prefix else None
            for c in cands:
                ch = ALPHABET[c - 1]
                lc = float(row[c])
                if ch == last:
                    add(prefix, ninf, pnb + lc)  # the same character, not separated by a blank
                    add(prefix + ch, ninf, pb + lc)  # a repeat after a blank
                else:
                    add(prefix + ch, ninf, tot + lc)
        beams = dict(heapq.nlargest(beam, ((p, (v[0], v[1])) for p, v in nxt.items()), key=lambda kv: _lse(*kv[1])))
    ranked = sorted(((p, _lse(*v)) for p, v in beams.items()), key=lambda kv: -kv[1])[:k]
    return [(p, math.exp(s)) for p, s in ranked]


def field_input(img: np.ndarray, dpi: float, inner: tuple[int, int, int, int] | None = None,
                prepared=None) -> np.ndarray | None:
    """A field's ink crop (grey, paper 255; ``page.ink_crop``) → the network input: the same
    cleaning as the character reader (dust dropped, components centred outside the box
    proper ignored, the writing uprighted), then :func:`line_input`. None when no ink is
    left (an empty field). ``prepared``: that cleaning (``digits._Field(img, dpi, inner)``)
    when the caller has it."""
    from pipeline.read.digits import MIN_INK_MM2, MM_PER_INCH, _Field

    fld = prepared or _Field(img, dpi, inner)
    px = dpi / MM_PER_INCH
    if not fld.comps or sum(int(fld.stats[i, cv2.CC_STAT_AREA]) for i in fld.comps) < MIN_INK_MM2 * px * px:
        return None
    return line_input(fld.kept_coverage())


FieldImage = tuple[np.ndarray, tuple[int, int, int, int]]


Strings = list[tuple[str, float]]


def read_lines(page, fields, images: dict[str, FieldImage] | None = None, k: int = 16,
               readers: list[LineReader] | None = None, prepared: dict | None = None) -> dict[str, list[Strings]]:
    """The k most probable strings of each digit field of a registered page by each network
    (``NETWORKS``; one batched call a network for them all), by field id; ``images``: their
    ``digits.field_image``, and ``prepared`` their ``digits._Field``, when the caller has them.
    An empty field has no strings."""
    from pipeline.read.digits import field_image

    xs: dict[str, np.ndarray] = {}
    for f in fields:
        img, inner = images[f.id] if images and f.id in images else field_image(page, f)
        x = field_input(img, page.dpi, inner, (prepared or {}).get(f.id))
        if x is not None:
            xs[f.id] = x
    readers = readers or [LineReader.load(path) for path in NETWORKS]
    out: dict[str, list[Strings]] = {f.id: [[] for _ in readers] for f in fields}
    if xs:
        got = [reader.candidates(list(xs.values()), k=k) for reader in readers]
        out.update({fid: [strings[i] for strings in got] for i, fid in enumerate(xs)})
    return out


def read_line(page, field, image: FieldImage | None = None, k: int = 16,
              readers: list[LineReader] | None = None) -> list[Strings]:
    """:func:`read_lines` of one field."""
    return read_lines(page, [field], {field.id: image} if image else None, k, readers)[field.id]
