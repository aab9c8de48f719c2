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
is high (readings that add up to the öre by chance, each wrong, are very unlikely). The
total per hour is checked only to half an öre a row; it is confirmed when it is the rows'
sum or the total / hours, else its last digits stay the reader's. Where nothing adds up as
read, one doubtful reading (one not accepted) at a time has each of its digits tried as
every other (:func:`_slipped`; where no one change will do, two: one that makes its own
row fit and one more): when exactly one such change makes the whole table add up, the
other fields are confirmed, and the changed ones are shown to an operator with their new
values (the sender may have slipped there, which no arithmetic can tell from a misread).
Where no assignment adds up (a field unreadable, two misread, a sum wrong on paper) the
rows are taken one at a time against the hours (:func:`reconcile_rows`):
with one field misread among thirteen amounts the whole table never adds up, but the other
rows do, and a row that fits no way goes to an operator even when its readings were sure.
Last, the table is searched once more over its doubtful readings' alternatives
(:func:`_alternatives_fit`): an assignment that adds up and is likelier than the sender's
having slipped and every other such assignment together has its changed fields shown to an
operator with their new values (a lost comma and a misread digit at once, which neither the
comma variants nor one changed digit explain); nothing is accepted that way.
The tables are data: ``cost_tables`` in the form's template (forms/3057/*.yaml).

A 3059's rows are summed the same way: :func:`confirm_time_rows` sets each kind of time's
rows, as read, against the total page 3 states for it; where they add up, and the readings as
read are clearly the likeliest way the candidates can add up, the rows' clock times and the
total are confirmed. Where they do not add up, the one doubtful reading (or the two) whose
readers' alternatives make them add up, if that is clearly likelier than the sender's having
written a wrong total, is shown to an operator with those values, a sure reading's as well;
a sure reading that such an alternative would make add up is only as sure as that
alternative is unlikely (:func:`_time_slip`).
"""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal, InvalidOperation
from itertools import product

from pipeline import defs
from pipeline.forms import CostTable, FormTemplate
from pipeline.read.fields import status_for, status_of
from pipeline.read.types import Reading
from pipeline.rules import MINUTES_PER_DAY, TIME_KINDS, parse_time, time_rows

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
    digits with a lost decimal comma restored (defs.SUMS_LOST_COMMA), or with a 1 that may be
    the comma read as a digit made the comma (defs.SUMS_COMMA_AS_ONE); [(None, …)] for an
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
        kronor = str(n // 100)
        if len(kronor) >= 4 and kronor[-3] == "1":  # the comma read as a 1
            whole, ore = int(kronor[:-3]), int(kronor[-2:])
            out.append((whole * 100 + ore, f"{whole}.{ore:02d}", r.confidence * defs.SUMS_COMMA_AS_ONE))
    return out


def _row_ok(rate: int | None, period: int | None, hours: int, slack: float = 0) -> bool:
    """A row's cost per hour is its period cost / hours, rounded to the öre (both empty: a
    cost type not used); ``slack`` öre more for the totals' row."""
    if rate is None or period is None:
        return rate is None and period is None
    return abs(rate * hours - period) <= hours / 2 + slack + defs.SUMS_SLACK_ORE


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


def _slips(kind: str, c: _Cand) -> list[_Cand]:
    """The value of ``c`` with one digit read otherwise: each other digit in each place (an
    amount as its öre, at least three digits: "0,85" has its 0; no new leading zero), each
    at the reading's probability: the arithmetic, not the readers, tells them apart."""
    n, _, p = c
    if n is None:
        return []
    amount = kind == "amount"
    s = f"{n:03d}" if amount else str(n)
    out: list[_Cand] = []
    for i, ch in enumerate(s):
        for d in "0123456789":
            if d == ch or (i == 0 and d == "0" and len(s) > (3 if amount else 1)):
                continue
            m = int(s[:i] + d + s[i + 1:])
            out.append((m, f"{m // 100}.{m % 100:02d}" if amount else str(m), p))
    return out


def _slipped(cands: dict[str, list[_Cand]], table: CostTable, readings: dict[str, Reading]):
    """The assignments that add up when one doubtful reading (one not accepted as read) has
    one digit read otherwise (:func:`_slips`), every such reading tried in turn; where none
    does, when two have: one that makes its own row fit (a cost per hour to the öre, a period
    cost in its larger digits) and one more anywhere. A reading accepted as read is never
    changed: where the table does not add up around it, the sender may have slipped, and an
    operator looks."""
    found = [a for fid, slip in _doubtful_slips(cands, readings) for a in _assignments(cands | {fid: [slip]}, table)]
    if found:
        return found
    # two misread: one pinned by its row (a row fits no way as read, and one digit of one of
    # its doubtful readings makes it fit), the other anywhere
    hours = cands[table.hours][0][0]
    seen: dict[tuple, tuple] = {}
    for fid, slip in _row_repairs(cands, table, readings, hours):
        pinned = cands | {fid: [slip]}
        for fid2, slip2 in _doubtful_slips(pinned, readings, skip=fid):
            for p, a in _assignments(pinned | {fid2: [slip2]}, table):
                key = (a[0][0], tuple((x[0], y[0]) for x, y in a[1]), a[2][0][0], a[2][1][0])
                seen[key] = (p, a)
    return list(seen.values())


def _doubtful_slips(cands: dict[str, list[_Cand]], readings: dict[str, Reading], skip: str | None = None):
    """(field, one-digit change) of every doubtful reading."""
    for fid, cs in cands.items():
        r = readings.get(fid)
        if r is None or r.status == "ok" or fid == skip:
            continue
        for slip in _slips(r.kind.value, cs[0]):
            yield fid, slip


def _row_repairs(cands: dict[str, list[_Cand]], table: CostTable, readings: dict[str, Reading], hours: int):
    """(field, one-digit change) of a doubtful reading that makes a row fit that fits no way as read."""
    for rate_id, period_id in table.rows:
        if any(_row_ok(a[0], b[0], hours) for a, b in product(cands[rate_id], cands[period_id])):
            continue
        for fid, slip in _doubtful_slips({rate_id: cands[rate_id], period_id: cands[period_id]}, readings):
            rates = [slip] if fid == rate_id else cands[rate_id]
            periods = [slip] if fid == period_id else cands[period_id]
            if any(_row_ok(a[0], b[0], hours) for a, b in product(rates, periods)):
                yield fid, slip


def reconcile_table(table: CostTable, readings: dict[str, Reading]) -> dict[str, Reading]:
    """The table's readings, replaced by the assignment that adds up when it is clear (see the
    module); else its rows one by one (:func:`reconcile_rows`)."""
    ids = [table.hours, *(f for row in table.rows for f in row), *table.total]
    cands = {fid: _candidates(readings.get(fid)) for fid in ids}
    if cands[table.hours] is None or cands[table.hours][0][0] is None:
        return {}
    readable = not any(c is None for c in cands.values())
    found = sorted(_assignments(cands, table), key=lambda x: -x[0]) if readable else []
    if readable and not found:
        found = sorted(_slipped(cands, table, readings), key=lambda x: -x[0])
    total = sum(p for p, _ in found)
    if not found or found[0][0] / total < defs.SUMS_MIN_SHARE:
        rows = reconcile_rows(table, readings, cands)
        return rows | _alternatives_fit(table, readings, readings | rows)
    best_p, (h, choice, tot) = found[0]
    chosen = {table.hours: h, table.total[0]: tot[0], table.total[1]: tot[1]}
    for (rate_id, period_id), (a, b) in zip(table.rows, choice):
        chosen[rate_id], chosen[period_id] = a, b
    rates = [chosen[rate_id][0] for rate_id, _ in table.rows if chosen[rate_id][0] is not None]
    loose = {}
    if chosen[table.total[0]][0] not in (sum(rates), round(chosen[table.total[1]][0] / h[0])):
        # the total per hour fits within its rounding only, and neither as the rows' sum nor
        # as the total / hours: its last digits are the reader's word, not the table's (a
        # comma the candidates restored stays restored; a digit read otherwise, not)
        rate_t = chosen.pop(table.total[0])
        loose = {table.total[0]: rate_t} if rate_t[0] in {x[0] for x in cands[table.total[0]]} else {}
    slipped = {fid for fid, c in chosen.items() if c[0] not in {x[0] for x in cands[fid]}}
    return _settled(chosen, readings, best_p / total, slipped) | _sized(loose, readings)


def reconcile_rows(table: CostTable, readings: dict[str, Reading], cands: dict[str, list[_Cand] | None]) -> dict[str, Reading]:
    """A table that does not add up as a whole (a field unreadable or misread, a total wrong on
    paper), row by row against the hours as read. A row's cost per hour times the hours is its
    period cost to within half an öre an hour (the rounding), so a row whose readings (or
    their comma variants) fit settles its cost per hour to the öre, and of its period cost
    only the size: the digits within the rounding are not checked, so a period cost whose
    comma the row restored waits for an operator with the corrected value, and one that fit
    as read keeps its own status. A row that fits no way holds a wrong reading (or the
    sender's slip): each of its two is right only if the other is not, and its confidence
    becomes that, c·(1 − c')/(1 − c·c'), so even two sure readings go to an operator. The
    totals are a row too, with half an öre an hour for each row's rounding: they settle no
    digit, only sizes.

    The hours are taken as read only when at least SUMS_MIN_ROWS rows fit them (a misread
    hours field fits none); with fewer, the rows stay as read, and the hours are right only if
    each row that fits them no way holds a misreading: with SUMS_MIN_ROWS such rows or more,
    the hours' confidence becomes that, weighed against the rows' readings all being right
    (:func:`_unfit_hours`), so that sure hours no row bears out go to an operator (390 hours
    read 3901 at 0.94, seed 305). They are confirmed only by as many
    rows whose cost per hour, in öre, exceeds the hours: a smaller one fits an hour more or
    less too (1542 hours read for 1541 fitted a row of 2.93 kronor an hour)."""
    h = cands[table.hours][0]
    exact: dict[str, _Cand] = {}  # cost per hour: settled to the öre
    sized: dict[str, _Cand] = {}  # period costs and totals: their comma settled
    shares, unfit = [], []
    pins = 0  # rows that fit these hours and no others
    for rate_id, period_id in [*table.rows, table.total]:
        if cands[rate_id] is None or cands[period_id] is None:
            continue  # ink and no valid reading: nothing to check it against
        totals = (rate_id, period_id) == tuple(table.total)
        slack = h[0] / 2 * (len(table.rows) - 1) if totals else 0
        pairs = [(a[2] * b[2], a, b) for a, b in product(cands[rate_id], cands[period_id])
                 if a[0] is not None and _row_ok(a[0], b[0], h[0], slack)]
        if not pairs:
            if cands[rate_id][0][0] is not None and cands[period_id][0][0] is not None:
                unfit.append((rate_id, period_id))  # (half a row is the sender's to complete)
            continue
        p, a, b = max(pairs)
        share = p / sum(q for q, _, _ in pairs)
        if share >= defs.SUMS_MIN_SHARE:
            (sized if totals else exact)[rate_id], sized[period_id] = a, b
            shares.append(share)
            # a cost per hour of fewer öre than the hours fits an hour more or less as well
            # (within the rounding), so it checks the hours only when it is larger
            pins += not totals and a[0] > h[0] + 2 * defs.SUMS_SLACK_ORE
    if len(shares) < defs.SUMS_MIN_ROWS:
        rows = [pair for pair in unfit if pair != tuple(table.total)]
        return _unfit_hours(readings[table.hours], [tuple(readings[f] for f in pair) for pair in rows])
    out = _settled(exact | ({table.hours: h} if pins >= defs.SUMS_MIN_ROWS else {}), readings, min(shares))
    out |= _sized(sized, readings)
    for pair in unfit:  # not both right: each is right only if the other is not
        a, b = (readings[fid] for fid in pair)
        both = a.confidence * b.confidence
        for r, other in ((a, b), (b, a)):
            c = r.confidence * (1 - other.confidence) / (1 - both) if both < 1 else 0.5
            # on the digit readers' threshold even when Tesseract led: print's is set by typed
            # numbers that are right, not by one its row contradicts
            out[r.field_id] = replace(r, confidence=c, status=status_for(r.kind, r.value, c),
                                      detail=r.detail | {"sums": "row does not add up", "read_confidence": r.confidence})
    return out


def _alternative_options(r: Reading | None, now: Reading | None) -> list[_Cand] | None:
    """What a field may hold when its table adds up in no way as read, each with its odds
    against the reading: a field accepted (or empty) only its value; a doubtful one its
    reading (odds 1) and its readers' alternatives (odds q / c), each with the comma variants
    of :func:`_candidates`. None: ink and no valid reading."""
    if now is None or now.status == "empty":
        return [(None, None, 1.0)]
    if now.status == "ok":
        n = _number(now.kind.value, now.value)
        return None if n is None else [(n, now.value, 1.0)]
    if r is None or r.value is None or r.confidence <= 0:
        return None
    out: list[_Cand] = []
    for v, q in ((r.value, r.confidence),) + tuple(r.alternatives):
        out += _candidates(replace(r, value=v, confidence=q / r.confidence)) or []
    return out


def _alternatives_fit(table: CostTable, readings: dict[str, Reading], now: dict[str, Reading]) -> dict[str, Reading]:
    """A table that adds up in no way as read (``now``: after :func:`reconcile_rows`), its
    doubtful fields tried as their readers' alternatives (:func:`_alternative_options`).
    Every assignment that adds up is weighed as the product of its values' odds, against the
    sender's having slipped somewhere (defs.SUMS_TOTAL_WRONG); when the likeliest holds at
    least SUMS_SLIP_CONFIDENCE of that, its changed fields are shown to an operator with
    their new values. Nothing is accepted or confirmed this way: two alternatives whose
    errors cancel add up too (see :func:`_candidates`).

    The rows are added one at a time, assignments grouped by their partial sums (period
    costs, costs per hour, rows used), each group keeping its total weight and its
    SUMS_TOP_PATHS likeliest members."""
    ids = [table.hours, *(f for row in table.rows for f in row), *table.total]
    opts = {fid: _alternative_options(readings.get(fid), now.get(fid)) for fid in ids}
    if any(o is None for o in opts.values()):
        return {}
    mass = defs.SUMS_TOTAL_WRONG / (1 - defs.SUMS_TOTAL_WRONG)
    best: tuple[float, tuple] = (0.0, ())
    for h in opts[table.hours]:
        if not h[0]:
            continue
        groups: dict[tuple[int, int, int], tuple[float, list]] = {(0, 0, 0): (h[2], [(h[2], ((table.hours, h),))])}
        for rate_id, period_id in table.rows:
            pairs = [(a, b) for a, b in product(opts[rate_id], opts[period_id]) if _row_ok(a[0], b[0], h[0])]
            grown: dict[tuple[int, int, int], tuple[float, list]] = {}
            for (period, rate, used), (weight, top) in groups.items():
                for a, b in pairs:
                    key = (period + (b[0] or 0), rate + (a[0] or 0), used + (a[0] is not None))
                    w, t = grown.get(key, (0.0, []))
                    t = t + [(p * a[2] * b[2], path + ((rate_id, a), (period_id, b))) for p, path in top]
                    grown[key] = (w + weight * a[2] * b[2], sorted(t, key=lambda x: -x[0])[:defs.SUMS_TOP_PATHS])
            groups = grown
        for ta, tb in product(opts[table.total[0]], opts[table.total[1]]):
            if ta[0] is None or tb[0] is None:
                continue
            for (period, rate, used), (weight, top) in groups.items():
                if period == tb[0] and abs(rate - ta[0]) <= used / 2 + defs.SUMS_SLACK_ORE:
                    mass += weight * ta[2] * tb[2]
                    p, path = top[0]
                    if p * ta[2] * tb[2] > best[0]:
                        best = (p * ta[2] * tb[2], path + ((table.total[0], ta), (table.total[1], tb)))
    if best[0] / mass < defs.SUMS_SLIP_CONFIDENCE:
        return {}
    return {fid: _shown(now[fid], value, "an alternative adds up")
            for fid, (_, value, _) in best[1] if value is not None and value != now[fid].value}


def _unfit_hours(hours: Reading, rows: list[tuple[Reading, Reading]]) -> dict[str, Reading]:
    """Hours that at least SUMS_MIN_ROWS rows (cost per hour, period cost) fit no way: right
    only if every such row holds a misreading, wrong if the rows' readings are all right;
    their confidence becomes the first's share of the two, c·Π(1 − ab) / (c·Π(1 − ab) +
    (1 − c)·Π ab) (the hours' c, each row's a and b), never higher than it was."""
    if len(rows) < defs.SUMS_MIN_ROWS:
        return {}
    misread = right = 1.0
    for a, b in rows:
        misread *= 1 - a.confidence * b.confidence
        right *= a.confidence * b.confidence
    c = hours.confidence
    c = min(c, c * misread / (c * misread + (1 - c) * right)) if c < 1 else c
    return {hours.field_id: _doubted(hours, c, "no row fits the hours")}


def _doubted(r: Reading, confidence: float, why: str) -> Reading:
    """``r`` as read, as sure only as the arithmetic leaves it (``why``, in its detail)."""
    return replace(r, confidence=confidence, status=status_of(r, r.value, confidence),
                   detail=r.detail | {"sums": why, "read_confidence": r.confidence})


def _shown(r: Reading, value: str, how: str) -> Reading:
    """``r`` with a value the arithmetic points to but cannot settle (the sender may have
    slipped there): for an operator at SUMS_SLIP_CONFIDENCE, the reading as its first
    alternative. Never accepted, on whichever path's threshold: print's for amounts is on
    another scale, far below even odds."""
    c = defs.SUMS_SLIP_CONFIDENCE
    alternatives = tuple((v, p) for v, p in ((r.value, r.confidence),) + r.alternatives if v != value)
    return replace(r, value=value, confidence=c, alternatives=alternatives, status="low_confidence",
                   detail=r.detail | {"sums": how, "read_as": r.value})


def _settled(chosen: dict[str, _Cand], readings: dict[str, Reading], share: float,
             slipped: frozenset[str] | set[str] = frozenset()) -> dict[str, Reading]:
    """The readings replaced by the values the arithmetic chose (``share``: of all that add
    up), accepted; the reading kept as the operator's first alternative. A field of
    ``slipped`` (a digit read otherwise, :func:`_slipped`) is shown to an operator at
    SUMS_SLIP_CONFIDENCE instead."""
    out = {}
    for fid, (_, value, _) in chosen.items():
        r = readings.get(fid)
        if r is None or value is None:
            continue
        if fid in slipped:
            out[fid] = _shown(r, value, "digit corrected")
            continue
        how = "confirmed" if value == r.value else "corrected"
        alternatives = tuple((v, c) for v, c in ((r.value, r.confidence),) + r.alternatives if v != value)
        confidence = max(share, r.confidence) if how == "confirmed" else share
        out[fid] = replace(r, value=value, confidence=confidence, alternatives=alternatives, status="ok",
                           detail=r.detail | {"sums": how, "read_as": r.value})
    return out


def _sized(chosen: dict[str, _Cand], readings: dict[str, Reading]) -> dict[str, Reading]:
    """Readings whose value the arithmetic settled only in size (a comma restored, the digits
    within a rounding unchecked): the new value, as sure as that reading was before the
    arithmetic chose it; a value as read stays as it was."""
    out = {}
    for fid, (_, value, p) in chosen.items():
        r = readings[fid]
        if value != r.value:
            out[fid] = replace(r, value=value, confidence=p, status=status_of(r, value, p),
                               alternatives=((r.value, r.confidence),) + r.alternatives,
                               detail=r.detail | {"sums": "comma restored", "read_as": r.value})
    return out


def reconcile(template: FormTemplate, readings: dict[str, Reading]) -> dict[str, Reading]:
    """The readings of a document (or of a page), its cost tables reconciled and its time
    rows set against their totals (on a page without the rows or the totals: nothing)."""
    out = dict(readings)
    for table in template.cost_tables:
        out.update(reconcile_table(table, out))
    out.update(confirm_time_rows(template, out))
    return out


# --- a 3059's rows against its page-3 totals ---------------------------------------------------

def _options(r: Reading | None, parse) -> list[tuple[int, float]]:
    """A field's values, parsed, with their probabilities: the reading and its alternatives
    (a value the parser refuses is left out)."""
    if r is None or r.value is None:
        return []
    out = []
    for v, p in ((r.value, r.confidence),) + tuple(r.alternatives):
        try:
            out.append((parse(str(v)), p))
        except ValueError:
            continue
    return out


def _convolve(dist: dict[int, float], options: list[tuple[int, float]]) -> dict[int, float]:
    """The distribution of a sum plus one more term; sums below SUMS_PRUNE of the likeliest
    dropped (they cannot move a share that must reach SUMS_MIN_SHARE)."""
    out: dict[int, float] = {}
    for t, p in dist.items():
        for d, q in options:
            out[t + d] = out.get(t + d, 0.0) + p * q
    floor = max(out.values(), default=0.0) * defs.SUMS_PRUNE
    return {t: p for t, p in out.items() if p >= floor}


def confirm_time_rows(template: FormTemplate, readings: dict[str, Reading]) -> dict[str, Reading]:
    """A 3059's rows of one kind of time whose durations, as read, add up to the total stated
    on page 3 (``summa.<kind>``), as read: their clock times and that total confirmed, when
    the readings as read hold at least SUMS_MIN_SHARE of the probability of every way the
    fields' candidates add up (a reader's doubt between two times of one duration, 7.00–17.00
    or 1.00–11.00, stays a doubt): rows that add up as read are confirmed, never corrected.
    Days are not in the sum and stay as read. Rows that do not add up as read go to
    :func:`_time_slip`: one doubtful time, or two, may be shown as their readers'
    alternatives that make them add up."""
    if "summa.aktiv.timmar" not in template.fields_by_id:
        return {}
    values = {fid: r.value for fid, r in readings.items() if r.value is not None and r.status != "empty"}
    rows = time_rows(values)
    out = {}
    for k in TIME_KINDS:
        hours, minutes = readings.get(f"summa.{k}.timmar"), readings.get(f"summa.{k}.minuter")
        mine = [r for r in rows if r.kind == k]
        if not mine or hours is None or hours.value is None:
            continue  # no rows of the kind, or no total written for it
        marks = [readings.get(f"rows.{r.row}.{k}") for r in mine]
        times = [(readings[f"rows.{r.row}.from"], readings[f"rows.{r.row}.tom"]) for r in mine]
        if any(m is None or m.status != "ok" for m in marks) or any(
                t.status not in ("ok", "low_confidence") for pair in times for t in pair):
            continue  # which rows are of this kind is itself unsure, or a time was not read
        stated = _options(hours, int)
        m_opts = _options(minutes, int) if minutes is not None and minutes.status != "empty" else [(0, 1.0)]
        total_opts = [(h * 60 + m, p * q) for h, p in stated for m, q in m_opts]
        if not total_opts:
            continue
        durations = [r.minutes for r in mine]
        if total_opts[0][0] != sum(durations):
            # the rows as read do not add up to the total as read: an operator looks, shown
            # the one change that would make them add up when it is clearly the likeliest
            out |= _time_slip(times, hours, minutes, total_opts[0][0], durations)
            continue
        fields = [r for pair in times for r in pair] + [hours]
        if minutes is not None and minutes.status != "empty":
            fields.append(minutes)
        if all(r.status == "ok" for r in fields):
            continue  # accepted as read: nothing to confirm
        dist = {0: 1.0}
        top = total_opts[0][1]
        for start, end in times:
            durations = [((e - s) % MINUTES_PER_DAY, p * q)
                         for s, p in _options(start, parse_time) for e, q in _options(end, parse_time)]
            dist = _convolve(dist, durations)
            top *= start.confidence * end.confidence
        joint = sum(dist.get(t, 0.0) * p for t, p in total_opts)
        share = top / joint if joint else 0.0
        if share < defs.SUMS_MIN_SHARE:
            continue
        for r in fields:
            if r.status != "ok":
                out[r.field_id] = replace(r, confidence=max(share, r.confidence), status="ok",
                                          detail=r.detail | {"sums": "confirmed", "read_as": r.value})
    return out


# a change a reading's alternative makes to a kind's rows against their total: (odds against
# the reading as read, the reading, the alternative, minutes it adds to the rows' sum less
# the total, the row it lies in or None for the total)
_Change = tuple[float, Reading, str, int, int | None]


def _time_changes(times: list[tuple[Reading, Reading]], hours: Reading, minutes: Reading | None,
                  durations: list[int]) -> list[_Change]:
    """Each alternative the readers give a kind's clock times and its total, as a change."""
    out: list[_Change] = []
    for i, ((start, end), duration) in enumerate(zip(times, durations)):
        for r, other, sign in ((start, end, -1), (end, start, 1)):
            for v, q in r.alternatives:
                try:  # this row's duration with the alternative at its start (or end)
                    d = sign * (parse_time(str(v)) - parse_time(str(other.value))) % MINUTES_PER_DAY
                except ValueError:
                    continue
                out.append((q / r.confidence, r, v, d - duration, i))
    for r, unit in ((hours, 60), (minutes, 1)):
        if r is None or r.status == "empty" or r.value is None:
            continue
        for v, q in r.alternatives:
            if str(v).isdigit():
                out.append((q / r.confidence, r, v, (int(r.value) - int(v)) * unit, None))
    return out


def _paired(changes: list[_Change], times: list[tuple[Reading, Reading]], durations: list[int], gap: int):
    """(odds, ((reading, value), (reading, value))): two changes of two readings that together
    close ``gap`` (the total less the rows' sum); a row's start and end changed at once are
    summed as that row's new duration."""
    by_effect: dict[int, list[int]] = {}
    for j, c in enumerate(changes):
        by_effect.setdefault(c[3], []).append(j)
    for i, (odds, r, v, effect, row) in enumerate(changes):
        for j in by_effect.get(gap - effect, ()):
            o2, r2, v2, _, row2 = changes[j]
            if j > i and r2 is not r and (row is None or row != row2):
                yield odds * o2, ((r, v), (r2, v2))
    for i, (start, end) in enumerate(times):  # a row's start and end both misread
        for v, q in start.alternatives:
            for v2, q2 in end.alternatives:
                try:
                    d = (parse_time(str(v2)) - parse_time(str(v))) % MINUTES_PER_DAY
                except ValueError:
                    continue
                if d - durations[i] == gap:
                    yield q / start.confidence * q2 / end.confidence, ((start, v), (end, v2))


def _time_slip(times: list[tuple[Reading, Reading]], hours: Reading, minutes: Reading | None,
               stated: int, durations: list[int]) -> dict[str, Reading]:
    """Rows of one kind whose durations as read (``durations``, minutes) do not add up to the
    total as read (``stated``). Each reading whose readers' alternative makes them add up is
    such a fit, weighed as the alternative's probability over the reading's, and so is each
    pair of two readings' alternatives that together make them add up (two misread times),
    weighed as the product of their two odds; all against each other and the total's being
    the sender's slip (defs.SUMS_TOTAL_WRONG).

    A fit likelier than all that together is shown to an operator with the new values, each
    reading as its first alternative, never accepted: a sender may slip in a row as well as
    in the total. A reading accepted as read is as sure only as the fits that change it are
    unlikely: a sure misreading that the total contradicts goes to an operator, shown with
    the value that adds up when that fit is the likelier (a hand-written "137" that looked
    printed, read "187" by Tesseract, the digit readers' 137 a close second)."""
    gap = stated - sum(durations)
    changes = _time_changes(times, hours, minutes, durations)
    fits = [(odds, ((r, v),)) for odds, r, v, effect, _ in changes if effect == gap]
    fits += _paired(changes, times, durations, gap)
    mass = defs.SUMS_TOTAL_WRONG / (1 - defs.SUMS_TOTAL_WRONG) + sum(f[0] for f in fits)
    against: dict[str, float] = {}
    for odds, fit in fits:
        for r, _ in fit:
            against[r.field_id] = against.get(r.field_id, 0.0) + odds / mass
    sure = {r.field_id: r for _, fit in fits for r, _ in fit if r.status == "ok"}
    out = {fid: _doubted(r, 1 - against[fid], "another reading adds up")
           for fid, r in sure.items() if 1 - against[fid] < r.confidence}  # (a doubt that lowers it)
    for odds, fit in fits:
        if odds / mass >= defs.SUMS_SLIP_CONFIDENCE:
            out |= {r.field_id: _shown(r, v, "corrected to the total") for r, v in fit}
    return out
