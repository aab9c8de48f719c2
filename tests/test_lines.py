"""The line reader (pipeline/read/lines.py): CTC decoding, the numpy network, held-out
handwriting, and its combination with the character reader (parse.combine)."""

from __future__ import annotations

import itertools
import math
import sys
from datetime import date
from pathlib import Path

import numpy as np
import pytest

from pipeline import defs
from pipeline.forms import FieldKind
from pipeline.read import lines as L
from pipeline.read.parse import combine

ROOT = Path(__file__).parents[1]
MNIST = ROOT.parent / "shared" / "data" / "mnist-train" / "mnist_train.npz"


def _logp(rows: list[dict[str, float]]) -> np.ndarray:
    """(T, N_CLASSES) log probabilities from per-step {char: p} ('' is the blank), the
    rest of each step's mass spread over the other classes."""
    out = np.zeros((len(rows), L.N_CLASSES))
    for t, row in enumerate(rows):
        rest = (1.0 - sum(row.values())) / (L.N_CLASSES - len(row))
        out[t] = rest
        for ch, p in row.items():
            out[t, 0 if ch == "" else L.ALPHABET.index(ch) + 1] = p
    return np.log(out)


def _brute(logp: np.ndarray) -> dict[str, float]:
    """Every alignment of a short sequence, collapsed: the exact string probabilities."""
    out: dict[str, float] = {}
    for path in itertools.product(range(L.N_CLASSES), repeat=len(logp)):
        s, prev = "", 0
        for c in path:
            if c and c != prev:
                s += L.ALPHABET[c - 1]
            prev = c
        out[s] = out.get(s, 0.0) + math.exp(sum(logp[t, c] for t, c in enumerate(path)))
    return out


def test_ctc_beam_sums_alignments_exactly():
    rng = np.random.default_rng(3)
    z = rng.normal(0, 2, (4, L.N_CLASSES))
    logp = z - np.log(np.exp(z).sum(1, keepdims=True))
    exact = _brute(logp)
    got = L.ctc_beam(logp, k=5, beam=10_000)
    best = sorted(exact.items(), key=lambda kv: -kv[1])[:5]
    assert [s for s, _ in got] == [s for s, _ in best]
    for (s, p), (_, q) in zip(got, best):
        assert p == pytest.approx(q, rel=1e-9)


def test_ctc_repeats_need_a_blank_between():
    # "0", "0" with no blank between is one 0; "0", blank, "0" is two
    one = L.ctc_beam(_logp([{"0": 0.98}, {"0": 0.98}]), k=1)
    two = L.ctc_beam(_logp([{"0": 0.98}, {"": 0.98}, {"0": 0.98}]), k=1)
    assert one[0][0] == "0" and two[0][0] == "00"


def test_line_input_scales_the_ink_to_the_line_height():
    cov = np.zeros((90, 400), np.float32)
    cov[20:80, 50:300] = 0.6  # a block of grey ink 60 px high
    x = L.line_input(cov)
    assert x.shape[0] == L.LINE_H and x.shape[1] % L.STRIDE == 0
    rows = np.nonzero(x.max(1) > 0.1)[0]
    assert rows.max() - rows.min() + 1 == L.INK_H
    assert x.max() == pytest.approx(1.0)  # grey ink stretched to full contrast
    assert L.line_input(np.zeros((10, 10))).max() == 0.0


def test_weights_are_small_and_numpy_only():
    assert L.NETWORKS[0] == L.WEIGHTS and len(L.NETWORKS) == 2
    for path in L.NETWORKS:
        assert path.stat().st_size < 2 * 1024 * 1024
    assert "import torch" not in Path(L.__file__).read_text(encoding="utf-8")


def _train_lines():
    sys.path.insert(0, str(ROOT / "tools"))
    import train_lines

    return train_lines


def _heldout_lines(n: int, seed: int) -> list:
    """n lines composed by the training tool from held-out MNIST digits (never trained on)."""
    T = _train_lines()
    x, y = T.load_mnist(MNIST)
    held = slice(*T.HOLDOUT)
    return T.build(n, seed, x[held], y[held], [], [], procs=1)


@pytest.mark.skipif(not MNIST.exists(), reason=f"MNIST not found at {MNIST} (shared data absent)")
@pytest.mark.parametrize("network", L.NETWORKS, ids=lambda p: p.name)
def test_heldout_handwritten_lines(network):
    """Lines composed by the training tool from held-out MNIST digits (never trained on):
    each network reads most of them exactly (both 93.3 % of these 300; docs/digits.md)."""
    acc = _train_lines().exact(L.LineReader.load(network), _heldout_lines(300, 4242))
    assert acc >= 0.87, f"held-out lines exact {acc:.3f}"


@pytest.mark.skipif(not MNIST.exists(), reason=f"MNIST not found at {MNIST} (shared data absent)")
def test_the_networks_were_trained_apart():
    """The second network is worth reading only if it is not the first again: on held-out
    lines both read, their probabilities differ everywhere and their best strings somewhere."""
    data = _heldout_lines(150, 4343)
    lines = [img.astype(np.float32) / 255.0 for img, _ in data]  # as train_lines.exact reads them
    first, second = (L.LineReader.load(p).candidates(lines, k=1) for p in L.NETWORKS)
    assert all(a and b and a[0][1] != b[0][1] for a, b in zip(first, second))
    differ = sum(a[0][0] != b[0][0] for a, b in zip(first, second))
    assert 0 < differ < len(data) // 4


# --- combining two readers --------------------------------------------------------------------------

CT = FieldKind.clock_time


def test_readers_that_agree_make_a_sure_value():
    p = combine(CT, [[("07.30", 0.9), ("07.20", 0.1)], [("07.30", 0.95), ("07.80", 0.03)]], floor=0.01)
    assert p.value == "07.30" and p.probability > 0.98


def test_readers_that_disagree_make_a_doubtful_one():
    p = combine(CT, [[("07.30", 0.9), ("07.20", 0.1)], [("07.20", 0.9), ("07.30", 0.05)]], floor=0.01)
    assert p.probability < 0.7


def test_mass_on_invalid_strings_lowers_confidence():
    # the line reader is sure of an invalid string a sender can write (a 25th hour); a valid
    # value it barely lists stays doubtful
    p = combine(CT, [[("07.30", 0.6), ("25.30", 0.4)], [("25.30", 0.97), ("07.30", 0.01)]], floor=0.01)
    assert p.value == "07.30" and p.probability < 0.5


def test_a_phone_number_is_read_on_the_numbering_plan():
    """Readers torn between a mobile number and the same number with a digit doubled (11
    digits: no Swedish number) are sure of the number; a doubt between two valid numbers,
    or mass on strings no reader listed, stays a doubt."""
    ph = FieldKind.phone
    doubled = [[("0762234153", 0.9), ("07622341537", 0.08)], [("0762234153", 0.93), ("07622234153", 0.06)]]
    assert combine(ph, doubled, floor=0.01).probability > 0.995
    valid = [[("0762234153", 0.9), ("0762234158", 0.08)], [("0762234153", 0.93), ("0762234158", 0.06)]]
    assert combine(ph, valid, floor=0.01).probability < 0.995
    unlisted = [[("0762234153", 0.9)], [("0762234153", 0.93)]]
    assert combine(ph, unlisted, floor=0.01).probability < combine(ph, doubled, floor=0.01).probability


def test_a_date_is_read_on_its_shape():
    """Mass on strings no sender writes as a date (a year far from the form's month, a 9-digit
    date, month 63) is the readers' misreading: the date they list beside it is sure. A 31
    April or a date after the post was received is written by senders: mass on it stays a
    doubt, as mass on strings no reader listed does."""
    d = FieldKind.date
    misread = [[("2023-06-05", 0.6), ("2623-06-05", 0.35)], [("2023-06-05", 0.7), ("2023-063-05", 0.25)]]
    p = combine(d, misread, floor=0.01, month="2023-05")
    assert p.value == "2023-06-05" and p.probability > 0.99
    assert combine(d, [[("2023-06-05", 0.6), ("2023-63-05", 0.35)]] * 2, floor=0.01, month="2023-05").probability > 0.99
    calendar = [[("2023-04-30", 0.6), ("2023-04-31", 0.35)], [("2023-04-30", 0.7), ("2023-04-31", 0.25)]]
    assert combine(d, calendar, floor=0.01, month="2023-04").probability < 0.9
    late = [[("2023-06-05", 0.6), ("2023-06-08", 0.35)], [("2023-06-05", 0.7), ("2023-06-08", 0.25)]]
    assert combine(d, late, floor=0.01, month="2023-05", received=date(2023, 6, 7)).probability < 0.9
    unlisted = [[("2023-06-05", 0.6)], [("2023-06-05", 0.7)]]
    assert combine(d, unlisted, floor=0.01, month="2023-05").probability < 0.9


def test_a_month_is_read_on_its_shape():
    """A month 13 or seven digits in the comb is the readers' misreading; a month after the
    post was received is written by senders, and stays a doubt."""
    ym = FieldKind.year_month
    misread = [[("2023-06", 0.6), ("2023-66", 0.35)], [("2023-06", 0.7), ("2023-061", 0.25)]]
    assert combine(ym, misread, floor=0.01).probability > 0.99
    late = [[("2023-06", 0.6), ("2023-08", 0.35)], [("2023-06", 0.7), ("2023-08", 0.25)]]
    assert combine(ym, late, floor=0.01, received=date(2023, 7, 4)).probability < 0.9


def test_a_clock_time_is_read_on_its_shape():
    """Five digits or minute 65 is the readers' misreading; an hour alone or a 25th hour is
    written by senders and stays a doubt."""
    misread = [[("07.30", 0.9), ("07.301", 0.08)], [("07.30", 0.93), ("07.65", 0.06)]]
    assert combine(CT, misread, floor=0.01).probability > 0.995
    written = [[("07.30", 0.9), ("25.30", 0.08)], [("07.30", 0.93), ("7", 0.06)]]
    assert combine(CT, written, floor=0.01).probability < 0.995


def test_a_conditioned_kind_needs_a_shape(monkeypatch):
    """Listing a kind in defs.COMBINE_CONDITIONED_KINDS without saying which strings no
    sender writes in it is a configuration error, not a silent "every invalid string"."""
    from pipeline.read.parse import misreading

    assert not misreading(FieldKind.hours, "12345")  # not conditioned: an invalid string is doubt
    monkeypatch.setattr(defs, "COMBINE_CONDITIONED_KINDS", (*defs.COMBINE_CONDITIONED_KINDS, "hours"))
    with pytest.raises(ValueError, match="no shape for hours"):
        misreading(FieldKind.hours, "12345")


def test_a_mobile_number_is_likelier_than_another_series(monkeypatch):
    """A 7 of "07" read as a 9 makes a valid number of another series: the mobile number's
    prior (defs.PHONE_MOBILE_ODDS) decides between the two; a number of another series that
    the readers agree on keeps its confidence, and a clear one is still read as written."""
    ph = FieldKind.phone
    torn = [[("0962234153", 0.6), ("0762234153", 0.38)], [("0962234153", 0.55), ("0762234153", 0.4)]]
    p = combine(ph, torn, floor=0.01)
    assert p.value == "0762234153"
    assert combine(ph, [[(v, 1 - q) for v, q in c] for c in torn], floor=0.01).value == "0762234153"
    alone = [[("031123456", 0.9)], [("031123456", 0.8)]]
    with_prior = combine(ph, alone, floor=0.01).probability
    monkeypatch.setattr(defs, "PHONE_MOBILE_ODDS", 1.0)
    assert combine(ph, torn, floor=0.01).value == "0962234153"  # without the prior: as most read
    assert combine(ph, alone, floor=0.01).probability == with_prior
    monkeypatch.undo()
    with_mobile = [[("0311234567", 0.97), ("0731234567", 0.02)], [("0311234567", 0.96), ("0731234567", 0.02)]]
    clear = combine(ph, with_mobile, floor=0.01)
    assert clear.value == "0311234567" and clear.probability > 0.9
    # the prior shares out the valid readings' mass; "none of these" keeps its own
    without = combine(ph, [[("0311234567", 0.97)], [("0311234567", 0.96)]], floor=0.01)
    assert abs(sum(q for _, q in clear.alternatives) + clear.probability - without.probability) < 0.02


def test_one_reader_alone_still_reads():
    p = combine(CT, [[("07.30", 0.99)], []], floor=0.01)
    assert p.value == "07.30"
    assert combine(CT, [[("x", 1.0)], [("99.99", 1.0)]], floor=0.01).value is None


def test_a_line_reads_the_same_alone_or_in_a_batch():
    """Lines narrower than their batch see zeros past their end, as alone: batching a page's
    fields changes no reading."""
    rng = np.random.default_rng(5)
    lines = []
    for w in (40, 96, 200, 400):
        cov = np.zeros((40, w), np.float32)
        for x0 in range(4, w - 12, 14):  # strokes like a row of 1s and 0s
            cov[6:34, x0: x0 + 3] = rng.uniform(0.6, 1.0)
            if rng.random() < 0.5:
                cov[6:9, x0: x0 + 10] = cov[31:34, x0: x0 + 10] = 1.0
        lines.append(L.line_input(cov))
    reader = L.LineReader.load()
    together = reader.candidates(lines, k=4)
    for x, got in zip(lines, together):
        alone = reader.candidates([x], k=4)[0]
        assert [s for s, _ in alone] == [s for s, _ in got]
        assert [p for _, p in alone] == pytest.approx([p for _, p in got], abs=1e-5)
