"""Stage 3b, the form's sums: a cost report's amounts read together, checked by arithmetic.

3057 point 9 holds, for each cost type, the cost per hour and the cost for the period, then
their totals and the hours the costs are computed on. On paper these agree: a row's cost per
hour is its period cost divided by the hours (to the öre), the period costs add up to the
total, the costs per hour to the total per hour (to an öre a row, rounding). Each amount is
read on its own (pipeline/read/fields.py); the commonest misread of a hand-written amount
is a lost decimal comma ("259,58" read 25958), whose value is valid on its own. Read
together, only the right values add up.

:func:`reconcile` tries each field of such a table as read and, for an amount read in whole
kronor, with its comma restored, for the assignments that satisfy the arithmetic; the most
probable one, with its share of all that do, replaces the readings, accepted, when that share
is high (readings that add up to the öre by chance, each wrong, are very unlikely).
Where no assignment adds up (a field unreadable, a value none of the candidates holds, or a
sum wrong on paper) the readings are left as they were, for an operator. The tables are
data: ``cost_tables`` in the form's template (forms/3057/*.yaml).
"""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal, InvalidOperation
from itertools import product

from pipeline import defs
from pipeline.forms import CostTable, FormTemplate
from pipeline.read.types import Reading

# a field's candidates: (value in öre or hours, as read, probability); None: left empty
_Cand = tuple[int | None, str | None, float]


def _number(kind: str, v) -> int | None:
    """A canonical amount ("259.58") in öre, or hours ("1150") as an int."""
    try:
        d = Decimal(str(v))
    except (InvalidOperation, ValueError):
        return None
    return int(d * 100) if kind == "amount" else int(d)


def _candidates(r: Reading | None) -> list[_Cand] | None:
    """What a field may hold: its reading, and for an amount read in whole kronor the same
    digits with a lost decimal comma restored (defs.SUMS_LOST_COMMA); [(None, …)] for an
    empty field; None for a field with ink and no valid reading (nothing to check).

    The readers' other alternatives are not tried: with them, two misread periods whose
    errors cancelled (+3 öre in one, −3 in another) added up, and were accepted wrong (FK's
    real 3057, seed 302). The arithmetic confirms digits the readers read, it does not
    choose new ones."""
    if r is None or r.status == "empty":
        return [(None, None, 1.0)]
    n = _number(r.kind.value, r.value) if r.value is not None else None
    if n is None:
        return None
    out: list[_Cand] = [(n, r.value, r.confidence)]
    if r.kind.value == "amount" and n % 100 == 0 and n >= 10_000:
        out.append((n // 100, f"{n // 10_000}.{n // 100 % 100:02d}", r.confidence * defs.SUMS_LOST_COMMA))
    return out


def _row_ok(rate: int | None, period: int | None, hours: int) -> bool:
    """A row's cost per hour is its period cost / hours, rounded to the öre (both empty: a
    cost type not used)."""
    if rate is None or period is None:
        return rate is None and period is None
    return abs(rate * hours - period) <= hours / 2 + defs.SUMS_SLACK_ORE


def _total_ok(rows: list[tuple[int | None, int | None]], total: tuple[int | None, int | None], hours: int) -> bool:
    """The totals: the period costs add up to the öre; the total per hour is the rows' sum or
    the total period cost / hours, within half an öre a row of rounding."""
    rate_t, period_t = total
    if rate_t is None or period_t is None:
        return False
    used = [(r, p) for r, p in rows if r is not None]
    if sum(p for _, p in used) != period_t:
        return False
    return abs(sum(r for r, _ in used) - rate_t) <= len(used) / 2 + defs.SUMS_SLACK_ORE


def _assignments(cands: dict[str, list[_Cand]], table: CostTable):
    """Every assignment of the candidates that adds up, with its probability product."""
    for h in cands[table.hours]:
        hours = h[0]
        if not hours:
            continue
        rows = []
        for rate_id, period_id in table.rows:
            pairs = [(a, b) for a, b in product(cands[rate_id], cands[period_id]) if _row_ok(a[0], b[0], hours)]
            if not pairs:
                break
            rows.append(pairs)
        else:
            for choice in product(*rows):
                for tot in product(cands[table.total[0]], cands[table.total[1]]):
                    if _total_ok([(a[0], b[0]) for a, b in choice], (tot[0][0], tot[1][0]), hours):
                        p = h[2] * tot[0][2] * tot[1][2]
                        for a, b in choice:
                            p *= a[2] * b[2]
                        yield p, (h, choice, tot)


def reconcile_table(table: CostTable, readings: dict[str, Reading]) -> dict[str, Reading]:
    """The table's readings, replaced by the assignment that adds up when it is clear (see the
    module); unchanged otherwise."""
    ids = [table.hours, *(f for row in table.rows for f in row), *table.total]
    cands = {fid: _candidates(readings.get(fid)) for fid in ids}
    if any(c is None for c in cands.values()) or cands[table.hours][0][0] is None:
        return {}
    found = sorted(_assignments(cands, table), key=lambda x: -x[0])
    if not found:
        return {}
    total = sum(p for p, _ in found)
    best_p, (h, choice, tot) = found[0]
    share = best_p / total
    if share < defs.SUMS_MIN_SHARE:
        return {}
    chosen = {table.hours: h, table.total[0]: tot[0], table.total[1]: tot[1]}
    for (rate_id, period_id), (a, b) in zip(table.rows, choice):
        chosen[rate_id], chosen[period_id] = a, b
    out = {}
    for fid, (_, value, _) in chosen.items():
        r = readings.get(fid)
        if r is None or value is None:
            continue
        how = "confirmed" if value == r.value else "corrected"
        alternatives = tuple((v, c) for v, c in ((r.value, r.confidence),) + r.alternatives if v != value)
        confidence = max(share, r.confidence) if how == "confirmed" else share
        out[fid] = replace(r, value=value, confidence=confidence, alternatives=alternatives, status="ok",
                           detail=r.detail | {"sums": how, "read_as": r.value})
    return out


def reconcile(template: FormTemplate, readings: dict[str, Reading]) -> dict[str, Reading]:
    """The readings of a document (or of a page), its cost tables reconciled."""
    out = dict(readings)
    for table in template.cost_tables:
        out.update(reconcile_table(table, out))
    return out
