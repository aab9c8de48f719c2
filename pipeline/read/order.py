"""Stage 3c, order: values that run in order on paper, read together down their order.

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

Dates do the same where the form says they run in order (``ordered`` in its template:
forms/*/*.yaml): a period's "från och med" comes before its "till och med", and a 3059's
calculation periods follow one another; a misread year or month (2025 for 2023, 01 for 03)
mostly puts a period's end before its start. A step back there costs
``defs.DATE_ORDER_BACK``.

A field without a valid value (empty, or ink without a valid reading) is left out of its
chain. "None of these" (the mass a reading leaves to values no reader listed) fits any
order. The rows are ``rows.<n>.dag`` in row order, across the pages of the document.
"""

from __future__ import annotations

import re
from dataclasses import replace
from typing import Sequence

import numpy as np

from pipeline import defs
from pipeline.forms import FieldKind
from pipeline.read.fields import status_of
from pipeline.read.types import Reading

_DAY = re.compile(r"rows\.(\d+)\.dag")


def _comparable(kind: FieldKind, v) -> int | str | None:
    """A candidate value as it is ordered: a day as its number, a date or month as its ISO
    text (which sorts as the calendar does); None when it is no value of the kind."""
    if kind == FieldKind.day:
        try:
            return int(v)
        except (TypeError, ValueError):
            return None
    return v if isinstance(v, str) and v else None


def _states(r: Reading) -> tuple[list, np.ndarray]:
    """A reading's candidates (None: "none of these") and their probabilities."""
    values: list = []
    probs: list[float] = []
    for v, p in ((r.value, r.confidence),) + tuple(r.alternatives):
        c = _comparable(r.kind, v)
        if c is not None and c not in values:
            values.append(c)
            probs.append(max(0.0, float(p)))
    values.append(None)
    probs.append(max(0.0, 1.0 - sum(probs)))
    return values, np.asarray(probs)


def _steps(a: list, b: list, back: float) -> np.ndarray:
    """(len a, len b) likelihood of value b following value a in the order: ``back`` for a
    step back."""
    t = np.ones((len(a), len(b)))
    for i, x in enumerate(a):
        for j, y in enumerate(b):
            if x is not None and y is not None and y < x:
                t[i, j] = back
    return t


def _read_chain(chain: list[Reading], back: float, what: str) -> dict[str, Reading]:
    """The readings of one chain read together (forward–backward over their candidates),
    those that changed; ``what`` names the order in their detail ("" for days, "period ")."""
    states = [_states(r) for r in chain]
    # forward and backward passes, each step normalised (probabilities, not their scale)
    fwd = [states[0][1] / states[0][1].sum()]
    for (va, _), (vb, pb) in zip(states, states[1:]):
        f = (fwd[-1] @ _steps(va, vb, back)) * pb
        fwd.append(f / f.sum())
    bwd = [np.ones(len(states[-1][0]))]
    for (va, _), (vb, pb) in zip(reversed(states[:-1]), reversed(states[1:])):
        b = _steps(va, vb, back) @ (pb * bwd[0])
        bwd.insert(0, b / b.sum())
    out: dict[str, Reading] = {}
    for r, (values, _), f, b in zip(chain, states, fwd, bwd):
        m = f * b
        m = m / m.sum()
        order = sorted(range(len(values) - 1), key=lambda i: -m[i])  # the candidates, "none" left out
        best = order[0]
        value, confidence = str(values[best]), float(m[best])
        if value == r.value and abs(confidence - r.confidence) < 1e-9:
            continue
        alternatives = tuple((str(values[i]), float(m[i])) for i in order[1:])
        how = what + ("confirmed" if value == r.value else "corrected")
        out[r.field_id] = replace(r, value=value, confidence=confidence, alternatives=alternatives,
                                  status=status_of(r, value, confidence),
                                  detail=r.detail | {"order": how, "read_as": r.value, "read_confidence": r.confidence})
    return out


def in_order(readings: dict[str, Reading], ordered: Sequence[Sequence[str]] = ()) -> dict[str, Reading]:
    """The readings of a document, its rows' days read together down the rows and each of
    ``ordered`` (the template's lists of dates in order) down its list (see the module); a
    chain with fewer than two read values as it was."""
    numbered = ((_DAY.fullmatch(fid), fid) for fid in readings)
    rows = [fid for _, fid in sorted((int(m.group(1)), fid) for m, fid in numbered if m)]
    chains = [(rows, FieldKind.day, defs.DAY_ORDER_BACK, "")]
    chains += [(list(seq), None, defs.DATE_ORDER_BACK, "period ") for seq in ordered]
    out = dict(readings)
    for fids, kind, back, what in chains:
        chain = [out[f] for f in fids if f in out and out[f].value is not None and out[f].status != "empty"
                 and (kind is None or out[f].kind == kind)]
        if len(chain) >= 2:
            out |= _read_chain(chain, back, what)
    return out
