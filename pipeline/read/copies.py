"""Stage 3c, copies: a value the form asks for on every page, read together.

A 3059 carries the month and two personnummer on each of its three pages, a 3057 the month
and a personnummer on both of its pages (the running header, ``identity`` in the form's
template: forms/*/*.yaml). A sender writes the same value each time, and each copy is read
on its own, by readers whose mistakes on one copy are mostly not those on the next (a
digit misread on page 1 is read right on page 3). Read together, the copies decide between
their candidates: the value every copy holds among its candidates, weighted by each copy's
probability for it (a product of experts, as ``parse.combine`` does for two readers of one
field), replaces the readings, accepted, when its share of all candidate values reaches the
kind's acceptance threshold (defs.ACCEPT_CONFIDENCE); below it each copy stays as read. A
value that a copy does not list counts with less than the least it lists (:func:`floor`).

A copy that gives the value less than COPIES_MIN_SUPPORT and reads another value as likelier
(another personnummer that Luhn accepts, read surely) keeps its reading and stops the
agreement: a sender who wrote two different personnummer is asked by the header check
(split), not silenced here. A copy whose readers mostly read an invalid string (a digit lost
at the box's edge), with the value as the likeliest valid one, is no such vote: it follows
what the other copies decide, when at least two of them do (:func:`consensus` with ``weak``).
Copies left empty take no part. A copy with ink but no valid reading at all (a scrawl, a
number cut up past repair) takes no part in the vote either; when the others decide, it is
shown to an operator with their value beside its image (COPIES_UNREAD_CONFIDENCE, never
accepted: what the scrawl says is not known).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

from pipeline import defs
from pipeline.forms import FormTemplate
from pipeline.read.types import Reading, Value


def candidates(value: Value, confidence: float, alternatives) -> dict[Value, float]:
    """A reading's values with their probabilities: the value read and its alternatives."""
    out: dict[Value, float] = {}
    if value is not None:
        out[value] = confidence
    for v, p in alternatives:
        if v is not None and v not in out:
            out[v] = p
    return out


@dataclass(frozen=True)
class Consensus:
    value: Value
    share: float  # its share of all candidate values' joint weight
    alternatives: tuple[tuple[Value, float], ...]


def floor(c: dict[Value, float]) -> float:
    """What a copy gives a value it does not list: COPIES_FLOOR, but no more than the least
    it lists (its candidates are its likeliest values, so one it left out is less likely than
    any of them), and no less than COPIES_FLOOR_MIN (the stored records' resolution)."""
    listed = [p for p in c.values() if p > 0]
    return max(min([defs.COPIES_FLOOR, *listed]), defs.COPIES_FLOOR_MIN)


def consensus(cands: list[dict[Value, float]], weak: bool = False) -> Consensus | None:
    """The value that copies' candidates (value → probability, one dict per copy) hold
    together, as a product of experts (see the module); None when no value has
    COPIES_MIN_SUPPORT in every copy.

    ``weak``: a copy that gives a value less than COPIES_MIN_SUPPORT but lists nothing likelier
    (its readers mostly read an invalid string: a digit lost at the box's edge) neither stops
    the agreement nor weighs in it; the value is then decided by the copies that do support
    it, at least two of them. Copies that all read mostly invalid strings (a wrong check digit
    written on every page) decide nothing, and a copy read surely as another valid value still
    stops the agreement."""
    def strong(c: dict[Value, float], v: Value) -> bool:
        return c.get(v, 0.0) >= defs.COPIES_MIN_SUPPORT

    def held(c: dict[Value, float], v: Value) -> bool:
        return strong(c, v) or (weak and v in c and c[v] == max(c.values()))

    shared = {v for v in set(cands[0]).intersection(*cands[1:])
              if all(held(c, v) for c in cands) and sum(strong(c, v) for c in cands) >= 2}
    if not shared:
        return None
    best = max(shared, key=lambda v: math.prod(c[v] for c in cands if strong(c, v)))
    voters = [c for c in cands if strong(c, best)]
    floors = [floor(c) for c in voters]
    score = {v: math.prod(max(c.get(v, 0.0), f) ** defs.COPIES_WEIGHT for c, f in zip(voters, floors))
             for v in set().union(*voters)}
    total = sum(score.values())
    alternatives = tuple((v, p / total) for v, p in sorted(score.items(), key=lambda kv: -kv[1])
                         if v != best)[:defs.COPIES_ALTERNATIVES]
    return Consensus(best, score[best] / total, alternatives)


def groups(template: FormTemplate) -> list[list[str]]:
    """The field ids of each value the form asks for on more than one page."""
    by_key: dict[str, list[str]] = {}
    for p in template.pages:
        for key, fid in p.identity.items():
            by_key.setdefault(key, []).append(fid)
    return [ids for ids in by_key.values() if len(ids) > 1]


def agree(template: FormTemplate, readings: dict[str, Reading]) -> dict[str, Reading]:
    """The readings with each repeated value's copies read together (see the module)."""
    out = dict(readings)
    for ids in groups(template):
        copies = [readings[i] for i in ids if i in readings and readings[i].status != "empty"]
        cands = [candidates(r.value, r.confidence, r.alternatives) for r in copies]
        voters = [(r, c) for r, c in zip(copies, cands) if c]
        unread = [r for r, c in zip(copies, cands) if not c]  # ink, no valid reading at all
        if len(voters) < 2 or (not unread and all(r.status == "ok" for r, _ in voters)):
            continue  # fewer than two copies to read together, or all accepted on their own
        c = consensus([c for _, c in voters], weak=True)
        if c is None or c.share < defs.ACCEPT_CONFIDENCE.get(copies[0].kind.value, defs.ACCEPT_CONFIDENCE_DEFAULT):
            continue  # not decisive: each copy as read, for an operator
        for r, _ in voters:
            if r.value == c.value and r.status == "ok":
                continue  # accepted as read: its own confidence stands
            out[r.field_id] = replace(r, value=c.value, confidence=c.share, status="ok", alternatives=c.alternatives,
                                      detail=r.detail | {"copies": "agreed", "read_as": r.value})
        for r in unread:  # the other copies' value, for an operator to compare with the scrawl
            out[r.field_id] = replace(r, value=c.value, confidence=defs.COPIES_UNREAD_CONFIDENCE,
                                      status="low_confidence", alternatives=(),
                                      detail=r.detail | {"copies": "from the other pages"})
    return out
