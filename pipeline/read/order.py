"""Stage 3c, the order of a time report's rows: the days down the rows read together.

A 3059 reports the month row by row, and people fill the rows in the order of the days (a
second shift on the same day takes the next row, with the same day). Each row's day is read
on its own (pipeline/read/fields.py), with its alternatives; a misread digit (a 2 read as
a 7, a 1 as a 4) mostly makes a day that breaks that order. Read down the rows together,
as a chain whose steps to an earlier day are unlikely (``defs.DAY_ORDER_BACK``), each
day's probabilities become its share of all the ways the rows' days can run (the
forward–backward algorithm over each row's candidates). Where another candidate is now the
likelier one it replaces the reading; a day that breaks the order with no better candidate
keeps its value, less sure, for an operator; a day whose rival candidate broke the order is
surer. The step changes nothing where the order tells nothing (the candidates of a day all
fit between its neighbours).

A row without a valid day (empty, or ink without a valid reading) is left out of the
chain. "None of these" (the mass a reading leaves to values no reader listed) fits any
order. The rows are ``rows.<n>.dag`` in row order, across the pages of the document.
"""

from __future__ import annotations

import re
from dataclasses import replace

import numpy as np

from pipeline import defs
from pipeline.forms import FieldKind
from pipeline.read.fields import status_of
from pipeline.read.types import Reading

_DAY = re.compile(r"rows\.(\d+)\.dag")


def _states(r: Reading) -> tuple[list[int | None], np.ndarray]:
    """A day reading's candidates (None: "none of these") and their probabilities."""
    values: list[int | None] = []
    probs: list[float] = []
    for v, p in ((r.value, r.confidence),) + tuple(r.alternatives):
        try:
            d = int(v)
        except (TypeError, ValueError):
            continue
        if d not in values:
            values.append(d)
            probs.append(max(0.0, float(p)))
    values.append(None)
    probs.append(max(0.0, 1.0 - sum(probs)))
    return values, np.asarray(probs)


def _steps(a: list[int | None], b: list[int | None]) -> np.ndarray:
    """(len a, len b) likelihood of a row's day b following the row above's day a."""
    t = np.ones((len(a), len(b)))
    for i, x in enumerate(a):
        for j, y in enumerate(b):
            if x is not None and y is not None and y < x:
                t[i, j] = defs.DAY_ORDER_BACK
    return t


def in_order(readings: dict[str, Reading]) -> dict[str, Reading]:
    """The readings of a document, its rows' days read together down the rows (see the
    module); a document without rows, or with fewer than two read days, as it was."""
    rows = sorted((int(m.group(1)), fid) for fid in readings if (m := _DAY.fullmatch(fid)))
    chain = [readings[fid] for _, fid in rows
             if readings[fid].kind == FieldKind.day and readings[fid].value is not None
             and readings[fid].status != "empty"]
    if len(chain) < 2:
        return readings
    states = [_states(r) for r in chain]
    # forward and backward passes, each step normalised (probabilities, not their scale)
    fwd = [states[0][1] / states[0][1].sum()]
    for (va, _), (vb, pb) in zip(states, states[1:]):
        f = (fwd[-1] @ _steps(va, vb)) * pb
        fwd.append(f / f.sum())
    bwd = [np.ones(len(states[-1][0]))]
    for (va, _), (vb, pb) in zip(reversed(states[:-1]), reversed(states[1:])):
        b = _steps(va, vb) @ (pb * bwd[0])
        bwd.insert(0, b / b.sum())
    out = dict(readings)
    for r, (values, _), f, b in zip(chain, states, fwd, bwd):
        m = f * b
        m = m / m.sum()
        order = sorted(range(len(values) - 1), key=lambda i: -m[i])  # the candidates, "none" left out
        best = order[0]
        value, confidence = str(values[best]), float(m[best])
        if value == r.value and abs(confidence - r.confidence) < 1e-9:
            continue
        alternatives = tuple((str(values[i]), float(m[i])) for i in order[1:])
        how = "confirmed" if value == r.value else "corrected"
        out[r.field_id] = replace(r, value=value, confidence=confidence, alternatives=alternatives,
                                  status=status_of(r, value, confidence),
                                  detail=r.detail | {"order": how, "read_as": r.value, "read_confidence": r.confidence})
    return out

