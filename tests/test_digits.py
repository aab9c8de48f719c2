"""The digit recogniser and digit-string reading (pipeline/read/digits.py).

Held-out MNIST accuracy needs the shared MNIST copy (skipped without it); the rest runs on
fonts installed with the generator's font packages and on generated batches."""

from __future__ import annotations

import collections
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageFont

from pipeline.read.digits import DigitClassifier, normalize, read_digits_image
from pipeline.synth.fill import TYPED_FONT_FILES, available_fonts, digit_order

SHARED = Path(__file__).parents[1].parent / "shared"
MNIST = SHARED / "data" / "mnist-train" / "mnist_train.npz"
HOLDOUT = (50_000, 55_000)  # tools/train_digits.py trains on digit_order positions [0, 50000)
DPI = 300.0
DIGIT_KINDS = ("day", "clock_time", "date", "hours", "minutes", "personnummer",
               "organisationsnummer", "amount", "phone")


@pytest.fixture(scope="module")
def clf() -> DigitClassifier:
    return DigitClassifier.load()


def test_weights_are_small_and_numpy_only():
    from pipeline.read import digits

    assert digits.WEIGHTS.stat().st_size < 2 * 1024 * 1024
    src = Path(digits.__file__).read_text(encoding="utf-8")
    assert "import torch" not in src


@pytest.mark.skipif(not MNIST.exists(), reason=f"MNIST not found at {MNIST} (shared data absent)")
def test_heldout_mnist_accuracy(clf):
    with np.load(MNIST) as z:
        rows = digit_order(len(z["labels"]))[HOLDOUT[0]:HOLDOUT[1]]
        images, labels = z["images"][rows], z["labels"][rows].astype(int)
    if images[:, 0, :].mean() > 127:  # dark digits on white paper
        images = 255 - images
    x = np.asarray([normalize(i) for i in images])
    acc = float((clf.predict(x).argmax(1) == labels).mean())
    assert acc >= 0.995, f"held-out MNIST accuracy {acc:.4f}"  # committed weights: 0.9960


# --- crafted crops ------------------------------------------------------------------------------

def glyph(ch: str, cap_px: float, font: str | None = None) -> np.ndarray:
    """Coverage (0..1) of one character, its digit height about ``cap_px``."""
    font = font or available_fonts(["DejaVuSans.ttf"])[0]
    size = int(round(cap_px / 0.73))
    f = ImageFont.truetype(font, size)
    l, t, r, b = f.getbbox(ch, anchor="ls")
    im = Image.new("L", (r - l + 2, b - t + 2), 0)
    ImageDraw.Draw(im).text((1 - l, 1 - t), ch, font=f, fill=255, anchor="ls")
    a = np.asarray(im, np.float32) / 255.0
    ys, xs = np.nonzero(a > 0.05)
    return a[ys.min(): ys.max() + 1, xs.min(): xs.max() + 1]


def compose(parts: list[tuple[np.ndarray, int, int]], w: int = 400, h: int = 80, ink: int = 30) -> np.ndarray:
    """A field crop: coverage images pasted at (x, y) on paper (255), ink grey ``ink``."""
    cov = np.zeros((h, w), np.float32)
    for a, x, y in parts:
        region = cov[y: y + a.shape[0], x: x + a.shape[1]]
        np.maximum(region, a[: region.shape[0], : region.shape[1]], out=region)
    return (255 - cov * (255 - ink)).astype(np.uint8)


def line(text: str, cap: float = 40, gap: int = 6, x: int = 10, base: int = 60) -> list[tuple[np.ndarray, int, int]]:
    """Characters of ``text`` set on a baseline; '.' ',' sit on it, '-' mid-height."""
    parts = []
    for ch in text:
        if ch == " ":
            x += int(cap * 0.7)
            continue
        g = glyph(ch, cap)
        if ch in ".,":
            y = base - int(g.shape[0] * (0.35 if ch == "," else 1.0))
        elif ch == "-":
            y = base - int(cap * 0.45)
        elif ch == ":":
            y = base - g.shape[0]
        else:
            y = base - g.shape[0]
        parts.append((g, x, y))
        x += g.shape[1] + gap
    return parts


def read(img: np.ndarray, clf, **kw):
    return read_digits_image(img, DPI, clf=clf, **kw)


def test_typed_string_with_separators(clf):
    r = read(compose(line("2025-01-03")), clf)
    assert r.text == "2025-01-03"
    r = read(compose(line("14.35")), clf)
    assert r.text == "14.35"
    r = read(compose(line("1 234,50")), clf)
    assert r.text == "1 234,50"
    r = read(compose(line("07:45")), clf)
    assert r.text == "07:45"


def test_empty_field(clf):
    img = np.full((80, 300), 255, np.uint8)
    img[40, 100] = 0  # one dust speck
    r = read(img, clf)
    assert not r.ink and r.tokens == [] and r.candidates(3) == []


def test_touching_digits_are_split(clf):
    a, b = glyph("4", 40), glyph("7", 40)
    # the 7's top bar runs into the 4's arm: one connected blob
    img = compose([(a, 10, 20), (b, 10 + a.shape[1] - 4, 20)])
    assert (img[20:60, 10 + a.shape[1] - 4: 10 + a.shape[1]] < 160).any()
    r = read(img, clf)
    assert r.digits == "47", r.text


def test_broken_five_is_one_digit(clf):
    g = glyph("5", 40)
    g = g.copy()
    # lift the pen between the top bar and the bowl: a gap across the stem under the bar
    bar_rows = int(0.18 * g.shape[0])
    g[bar_rows: bar_rows + 3, :] = 0
    img = compose([(g, 20, 20), (glyph("3", 40), 20 + g.shape[1] + 8, 20)])
    r = read(img, clf)
    assert r.digits == "53", r.text


def test_a_faint_digit_is_read(clf):
    """A light hand or a skipping ballpoint on a grey scan: the 7 mostly lighter than the
    ink cut (INK_LEVEL 160), dark only where the pen landed. Cut at the ink level, only a
    speck of it is left and the field reads "2"; evened to the 2's ink, "27"."""
    two, seven = glyph("2", 40), glyph("7", 40)
    img = compose([(two, 20, 20), (seven, 20 + two.shape[1] + 8, 20)])
    x7 = 20 + two.shape[1] + 8
    part = img[:, x7:]
    part[:] = np.where(part < 250, np.maximum(part, 175), part)  # the 7 faint: 175 and lighter
    ys, xs = np.nonzero(part[:, :8] < 200)  # the pen lands at the top left of the bar: darker
    part[ys, xs] = 140
    assert (img[:, x7:] < 160).sum() < 0.2 * (img[:, x7:] < 200).sum()
    r = read(img, clf)
    assert r.digits == "27", r.text
    # normal ink is left exactly as it was: the readers see what they were trained on
    from pipeline.read.digits import even_ink
    dark = compose(line("27"))
    assert (even_ink(dark) == dark).all()


def test_label_scraps_above_the_writing_are_not_read(clf):
    """What the dropout leaves of a label printed in the box above the writing (its edges on a
    grey scan, broken bits of small print) is not part of the number: both readers read only
    the band of writing (seen on 3057 page 2: "2023-06" read as nothing valid)."""
    from pipeline.read.lines import LineReader, field_input

    parts = line("2023-06", cap=36, base=100)
    x = 10
    for ch in "Personnummer":
        g = glyph(ch, 12).copy()
        g[::3, :] = 0  # broken up
        parts.append((g, x, 20))
        x += g.shape[1] + 2
    img = compose(parts, w=400, h=120)
    assert read(img, clf).text == "2023-06"
    assert LineReader.load().candidates([field_input(img, DPI)], k=1)[0][0][0] == "2023-06"


def test_thin_one_is_kept(clf):
    one = np.zeros((40, 3), np.float32)
    one[:, :] = 1.0  # a hand-printed 1: a bare 3 px stroke
    two, three = glyph("2", 40), glyph("3", 40)
    img = compose([(two, 10, 20), (one, 10 + two.shape[1] + 12, 20), (three, 10 + two.shape[1] + 27, 20)])
    r = read(img, clf)
    assert r.digits == "213", r.text


def test_comb_cells(clf):
    cells, cw = 7, 40
    parts = []
    for i, ch in enumerate("2026" + " " + "09"):
        if ch != " ":
            g = glyph(ch, 30)
            parts.append((g, i * cw + (cw - g.shape[1]) // 2, 10))
    img = compose(parts, w=cells * cw, h=50)
    r = read(img, clf, cells=cells, inner=(0, 0, cells * cw, 50))
    assert r.digits == "202609"


def test_candidates_ranked(clf):
    r = read(compose(line("7.00")), clf)
    c = r.candidates(5)
    assert c[0][0] == "7.00"
    assert all(c[i][1] >= c[i + 1][1] for i in range(len(c) - 1))
    assert sum(p for _, p in c) <= 1.0 + 1e-6


def test_stop_fused_to_a_digit(clf):
    """A full stop touching the digit before it (14.35 with the stop run into the 4's foot) is
    cut off and read as the separator."""
    parts = line("14.35")
    four, dot = parts[1], parts[2]
    parts[2] = (dot[0], four[1] + four[0].shape[1] - 2, dot[2])  # overlap the 4 by 2 px
    img = compose(parts)
    r = read(img, clf, kind="clock_time")
    assert r.candidates(1)[0][0] == "14.35", r.candidates(3)


def _stroke(h: int, w: int) -> np.ndarray:
    """A pen stroke (coverage) from the top right to the bottom left of an h × w box."""
    a = np.zeros((h, w), np.float32)
    cv2.line(a, (w - 2, 1), (1, h - 2), 1.0, 3, cv2.LINE_AA)
    return a


def test_comma_written_as_a_stroke(clf):
    """A decimal comma written as a quick slanted stroke, half a digit high, in the lower part
    of the line and down past its foot, is a comma (it used to read as a 1: "335 186"); a
    stroke as high as the digits in the same place is still a 1."""
    head, tail = line("335"), line("86", x=170)
    comma = (_stroke(22, 10), 150, 44)  # digits run from y 20 to 60; the comma 44 to 66
    r = read(compose(head + [comma] + tail), clf, kind="amount")
    assert r.candidates(1)[0][0] == "335,86", r.candidates(3)
    one = (_stroke(40, 8), 150, 20)
    r = read(compose(head + [one] + tail), clf, kind="amount")
    assert r.digits == "335186", r.candidates(3)


def test_a_wrong_check_digit_brings_one_digit_repairs():
    """A personnummer read with a check digit that fails (here written so: 19840106-3154 with
    its 5 as an 8) also gets, as readings, the best reading with each digit read otherwise
    that passes Luhn: the second choice a misread digit needs may have left the search's
    beam. Without the kind nothing of the sort is offered."""
    from pipeline.read.parse import personnummer

    img = compose(line("19840106-3184", cap=30), w=520)
    plain = read(img, clf := DigitClassifier.load())
    assert plain.candidates(1)[0][0] == "19840106-3184"
    assert not any(personnummer(s) for s, _ in plain.candidates(24))
    r = read(img, clf, kind="personnummer")
    valid = [s for s, _ in r.candidates(24) if personnummer(s)]
    assert valid and all(sum(a != b for a, b in zip(s, "19840106-3184")) == 1 for s in valid), valid


def test_kind_prior_orders_readings():
    """The kind prior: a reading in the usual format beats a valid odd one, which beats one
    that does not parse."""
    from pipeline.read.digits import _prior

    assert _prior("clock_time", "7.00") > _prior("clock_time", "700") > _prior("clock_time", "7.0")
    assert _prior("personnummer", "19470114-2947") > _prior("personnummer", "19470114-2948")
    assert _prior("day", "31") > _prior("day", "311")
    assert _prior(None, "anything") == 0.0


def test_typed_font_digits(clf):
    """Digits of the generator's typed fonts, at 8–12 pt at 200 and 300 dpi, 1-bit and grey."""
    rng = np.random.default_rng(5)
    imgs, labels = [], []
    for font in available_fonts(TYPED_FONT_FILES):
        for dpi in (200, 300):
            for pt in (8, 9, 10, 11, 12):
                cap = pt * dpi / 72 * 0.73
                for d in "0123456789":
                    g = glyph(d, cap, font)
                    for binary in (False, True):
                        a = (g > rng.uniform(0.35, 0.6)).astype(np.float32) if binary else g
                        imgs.append(normalize(a))
                        labels.append(int(d))
    acc = float((clf.predict(np.asarray(imgs)).argmax(1) == np.asarray(labels)).mean())
    assert len(labels) >= 600
    assert acc >= 0.995, f"typed digit accuracy {acc:.4f}"


def test_reject_scores_scrawl_low(clf):
    """Ink that is no digit (loops of a scrawl) gets a low digit probability."""
    import cv2

    rng = np.random.default_rng(2)
    imgs = []
    for _ in range(50):
        c = np.zeros((40, 90), np.uint8)
        t = np.linspace(0, 2 * np.pi * 3, 120)
        xs = 8 + t / t[-1] * 70 + 7 * np.cos(t)
        ys = 22 - 12 * np.sin(t) * rng.uniform(0.7, 1.2)
        cv2.polylines(c, [np.stack([xs, ys], 1).astype(np.int32)], False, 255, 3, cv2.LINE_AA)
        imgs.append(normalize(c))
    p, rej = clf.predict(np.asarray(imgs), with_reject=True)
    assert float((p.max(1) < 0.5).mean()) >= 0.9


# --- generated batches ----------------------------------------------------------------------------

@pytest.fixture(scope="module")
def generated(tmp_path_factory):
    from pipeline.synth.batch import SampleOptions, generate_samples

    out = tmp_path_factory.mktemp("digits")
    list(generate_samples(out, SampleOptions(count=8, seed=21)))
    return out


def test_generated_digit_fields(generated, clf):
    from pipeline.evaluate import iter_field_samples
    from pipeline.read.digits import read_digit_string

    score = collections.defaultdict(lambda: [0, 0])
    misses = []
    for s in iter_field_samples(generated):
        if s.field.kind.value not in DIGIT_KINDS or s.illegible or not s.truth or not s.written:
            continue
        r = read_digit_string(s.page, s.field, clf=clf)
        best = r.candidates(1)[0][0] if r.tokens else ""
        got = "".join(c for c in best if c.isdigit())
        want = "".join(c for c in s.written if c.isdigit())
        key = "hand" if s.handwritten else "typed"
        score[key][0] += got == want
        score[key][1] += 1
        score[(key, s.field.kind.value)][0] += got == want
        score[(key, s.field.kind.value)][1] += 1
        if got != want:
            misses.append(f"{s.field.id}: wrote {s.written!r}, read {best!r}")
    print({k: f"{a}/{n}" for k, (a, n) in sorted(score.items(), key=str)})
    # a regression guard, below what is measured (hand 255/313 = 81.5 %, typed 26/26 on these
    # batches); the 98 % target is tracked in the issue. The character reader alone: it read
    # 276/313 before the dropout was mended for digit fields (register.mend_dropout, session
    # 7); the combined reading, which the pipeline uses, held on the calibration check set
    # (hand clock times 97.2 -> 97.1 %, days 97.9 -> 98.0 %). Why mending costs this reader
    # alone is open.
    for style, need in (("hand", 0.78), ("typed", 0.99)):
        a, n = score[style]
        assert n >= 20, f"too few {style} digit fields ({n}) to measure"
        assert a / n >= need, f"{style}: {a}/{n} digit strings right; e.g. {misses[:8]}"
