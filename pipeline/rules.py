"""Stage 4b, check: FK's rules over a document's values, as :class:`Finding` objects.

A finding names a reason code (the sentences are data: ``forms/messages.yaml``), the route
it asks for (``completion``: only the sender can fix it; ``review``: an operator must look;
``None``: a flag that travels with the record), the fields it rests on and where they are.
The rules see canonical values (as the readers and the truth files write them), so the same
code checks generated truth and read documents:

- the template's own rules (``required`` / ``required_when``, checkbox groups, signatures);
- personnummer / samordningsnummer / organisationsnummer (date, day + 60, Luhn);
- 3059 rows: day within the month, exactly one kind of time, midnight crossings allowed;
  page 3 "Summa tid" against the rows (a flag: FK recomputes);
- 3057 point 2 against the sum of that person's 3059 rows of the month (:func:`check_invoice_totals`);
- the deadline (a flag) and the municipality's share of each week (:func:`municipality_weeks`).

Whether a finding *really* sends a document to the sender depends on how sure the readings
behind it are: that is :mod:`pipeline.route`'s decision, not the rules'.
"""

from __future__ import annotations

import calendar
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Iterable, Literal, Mapping

from pipeline import defs
from pipeline.forms import ExpandedField, FieldKind, FormTemplate, parse_condition
from pipeline.ids import Organisationsnummer, Personnummer

Route = Literal["validation", "review", "completion"]
Value = str | bool

TIME_KINDS = ("aktiv", "vantetid", "beredskap")  # column ids of 3059 rows, as in summa.* and tid.*
MINUTES_PER_DAY = 24 * 60
ROUTE_RANK: dict[str, int] = {"validation": 0, "review": 1, "completion": 2}


@dataclass(frozen=True)
class Finding:
    """One thing the rules found. ``route`` None: a flag only."""

    code: str  # key of forms/messages.yaml
    route: Route | None
    fields: tuple[str, ...] = ()  # field ids the finding rests on
    page: int | None = None
    params: Mapping[str, str] = field(default_factory=dict)  # values for the sentence
    certain: bool | None = None  # None: certain when every field it rests on was read surely

    def __str__(self) -> str:
        where = f" p{self.page}" if self.page else ""
        return f"{self.code}{where}: {', '.join(self.fields)}" if self.fields else f"{self.code}{where}"


# --- template rules ---------------------------------------------------------------------------

@dataclass(frozen=True)
class RuleViolation:
    """A template rule the values break. ``code``: ``empty_required`` (a required field is
    empty), ``missing_signature`` (a required signature), ``unmarked`` (an exactly_one group
    that needs an answer has none), ``multiple_marked`` (more than one box of a group)."""

    code: str
    target: str  # field id or group id
    page: int

    def __str__(self) -> str:
        return f"{self.code}: {self.target} (page {self.page})"


def is_filled(values: Mapping[str, Value], field_id: str) -> bool:
    v = values.get(field_id)
    return v is True or (isinstance(v, str) and v.strip() != "")


def filled_rows(values: Mapping[str, Value]) -> dict[str, set[str]]:
    """``table.row`` → ids of the filled fields of that table row (ids ``table.row.column``)."""
    out: dict[str, set[str]] = {}
    for k in values:
        parts = k.split(".")
        if len(parts) == 3 and parts[1].isdigit() and is_filled(values, k):
            out.setdefault(f"{parts[0]}.{parts[1]}", set()).add(k)
    return out


def condition_holds(template: FormTemplate, values: Mapping[str, Value], cond: str,
                    context: ExpandedField | None = None, *, rows: dict[str, set[str]] | None = None) -> bool:
    """One ``required_when`` condition: ``field`` / ``!field`` (checked or filled in, or not),
    ``@row`` (another field of ``context``'s table row is filled in) or ``@row:table.N`` (some
    field of that row is). ``rows`` is :func:`filled_rows` of the values, if already known."""
    negated, target = parse_condition(cond)
    if target.startswith("@row"):
        rows = filled_rows(values) if rows is None else rows
        if target == "@row":
            if context is None or context.table is None:
                raise ValueError(f"condition '@row' outside a table row ({context.id if context else '?'})")
            return bool(rows.get(f"{context.table}.{context.row}", set()) - {context.id})
        return bool(rows.get(target[5:]))
    held = is_filled(values, target)
    return not held if negated else held


def field_required(template: FormTemplate, values: Mapping[str, Value], f: ExpandedField,
                   *, rows: dict[str, set[str]] | None = None) -> bool:
    """A field is required when it says ``required: true`` or has ``required_when`` conditions
    (table columns carry only the latter), and all of its conditions hold."""
    if not (f.required or f.required_when):
        return False
    return all(condition_holds(template, values, c, f, rows=rows) for c in f.required_when)


_GROUPS: dict[int, tuple[FormTemplate, list]] = {}


def template_groups(template: FormTemplate) -> list:
    """``template.groups()`` as a list, kept per template (table groups expand to many)."""
    hit = _GROUPS.get(id(template))
    if hit is None or hit[0] is not template:
        hit = _GROUPS[id(template)] = (template, list(template.groups()))
    return hit[1]


def check_rules(template: FormTemplate, values: Mapping[str, Value]) -> list[RuleViolation]:
    """Every required field, required signature and checkbox group the values break."""
    out: list[RuleViolation] = []
    rows = filled_rows(values)
    for f in template.fields_by_id.values():
        if is_filled(values, f.id) or not field_required(template, values, f, rows=rows):
            continue
        code = "missing_signature" if f.kind == FieldKind.signature else "empty_required"
        out.append(RuleViolation(code, f.id, f.page))
    for g, page in template_groups(template):
        marked = sum(values.get(m) is True for m in g.members)
        if marked > 1:
            out.append(RuleViolation("multiple_marked", g.id, page))
        elif marked == 0 and g.rule == "exactly_one" and \
                all(condition_holds(template, values, c, rows=rows) for c in g.required_when):
            out.append(RuleViolation("unmarked", g.id, page))
    return out


def _group_members(template: FormTemplate, group_id: str) -> tuple[str, ...]:
    for g, _ in template_groups(template):
        if g.id == group_id:
            return tuple(g.members)
    return ()


def _condition_fields(f: ExpandedField, rows: dict[str, set[str]]) -> list[str]:
    """The fields that make ``f`` required (a required field is empty only if they were read
    right: a checkbox ticked, a neighbour in the row filled in)."""
    out: list[str] = []
    for c in f.required_when:
        negated, target = parse_condition(c)
        if target == "@row":
            out += sorted(rows.get(f"{f.table}.{f.row}", set()) - {f.id})
        elif target.startswith("@row:"):
            out += sorted(rows.get(target[5:], set()))
        else:
            out.append(target)
    return out


def template_findings(template: FormTemplate, values: Mapping[str, Value]) -> list[Finding]:
    """:func:`check_rules` as findings. A table row's kind of time gets its own codes (the
    letter says which row), other groups name the question."""
    out: list[Finding] = []
    rows = filled_rows(values)
    for v in check_rules(template, values):
        table_row = v.target.split(".")
        row = table_row[1] if len(table_row) >= 2 and table_row[1].isdigit() else None
        if v.code in ("empty_required", "missing_signature"):
            f = template.fields_by_id[v.target]
            out.append(Finding(v.code, "completion", (v.target, *_condition_fields(f, rows)), v.page))
            continue
        members = _group_members(template, v.target)
        if row is not None:
            code = "row_kind_missing" if v.code == "unmarked" else "row_kind_multiple"
            out.append(Finding(code, "completion", members, v.page, {"row": row}))
        else:
            code = "unmarked_mandatory" if v.code == "unmarked" else "multiple_marked"
            out.append(Finding(code, "completion", members, v.page, {"group": v.target}))
    return out


# --- identity numbers -------------------------------------------------------------------------

# An operator confirmed a number the rules refuse: it is on the paper, so the sender is asked.
SENDER_IDENTITY_CODES = {"bad_luhn": "wrong_check_digit", "invalid_personnummer": "invalid_number"}


def identity_findings(template: FormTemplate, values: Mapping[str, Value],
                      decided: frozenset[str] = frozenset()) -> list[Finding]:
    """Every personnummer and organisationsnummer: a valid date (samordningsnummer: day + 60)
    and a right check digit. A wrong one goes to an operator first: a misread digit is far
    likelier than a miswritten one, and the operator sees the writing. Once an operator has
    decided the field (``decided``: confirmed or corrected), the number is what the sender
    wrote, and the sender is asked for the right one."""
    out: list[Finding] = []
    for fid, f in template.fields_by_id.items():
        v = values.get(fid)
        if not isinstance(v, str) or not v.isdigit():
            continue
        code = None
        if f.kind == FieldKind.personnummer:
            try:
                Personnummer.parse(v)
            except ValueError as e:
                code = "bad_luhn" if "check digit" in str(e) else "invalid_personnummer"
        elif f.kind == FieldKind.organisationsnummer:
            try:
                Organisationsnummer.parse(v, allow_sole_trader=True)
            except ValueError:
                code = "bad_luhn"
        if code is not None and fid in decided:
            out.append(Finding(SENDER_IDENTITY_CODES[code], "completion", (fid,), f.page))
        elif code is not None:
            out.append(Finding(code, "review", (fid,), f.page))
    return out


def samordningsnummer_flags(template: FormTemplate, values: Mapping[str, Value]) -> list[Finding]:
    """An assistant registered (3066/3080) with a samordningsnummer: FK may need a certified
    copy of a passport or ID (FK guidance); it cannot be settled from the form."""
    if template.form not in ("3066", "3080"):
        return []
    v = values.get("assistent.personnummer")
    try:
        if isinstance(v, str) and Personnummer.parse(v).is_samordningsnummer:
            return [Finding("samordningsnummer", None, ("assistent.personnummer",),
                            template.fields_by_id["assistent.personnummer"].page)]
    except ValueError:
        pass
    return []


# --- time -------------------------------------------------------------------------------------

def parse_time(text: str) -> int:
    """Minutes after midnight of an ``HH.MM`` clock time."""
    h, m = text.split(".")
    return int(h) * 60 + int(m)


def add_months(year: int, month: int, n: int) -> tuple[int, int]:
    i = year * 12 + (month - 1) + n
    return i // 12, i % 12 + 1


def month_end(year: int, month: int) -> date:
    return date(year, month, calendar.monthrange(year, month)[1])


def deadline_for(month: str) -> date:
    """The last day a report of ``month`` (YYYY-MM) reaches FK in time: the 5th of the second
    month after it (September → 5 November)."""
    y, m = (int(x) for x in month.split("-"))
    y2, m2 = add_months(y, m, defs.DEADLINE_MONTHS_AFTER)
    return date(y2, m2, defs.DEADLINE_DAY)


def is_late(month: str, received: str | date) -> bool:
    r = date.fromisoformat(received) if isinstance(received, str) else received
    return r > deadline_for(month)


def _int(values: Mapping[str, Value], fid: str) -> int | None:
    v = values.get(fid)
    return int(v) if isinstance(v, str) and v.isdigit() else None


def _time(values: Mapping[str, Value], fid: str) -> int | None:
    v = values.get(fid)
    try:
        return parse_time(v) if isinstance(v, str) else None
    except ValueError:
        return None


@dataclass(frozen=True)
class TimeRow:
    """One 3059 row as written: an interval of one kind that starts on ``day`` and may end
    after midnight (``end`` ≤ ``start``)."""

    day: int
    start: int  # minutes after midnight
    end: int  # minutes after midnight; ≤ start means the next day
    kind: str  # aktiv | vantetid | beredskap
    row: int = 0  # its row number on the form (0: not from a form)

    @property
    def minutes(self) -> int:
        return (self.end - self.start) % MINUTES_PER_DAY

    @property
    def crosses_midnight(self) -> bool:
        return self.end <= self.start


def row_numbers(values: Mapping[str, Value], table: str = "rows") -> list[int]:
    return sorted({int(k.split(".")[1]) for k in values if k.startswith(table + ".") and k.split(".")[1].isdigit()})


def time_rows(values: Mapping[str, Value]) -> list[TimeRow]:
    """The complete rows of a 3059 (day, both times and exactly one kind); others are the
    row rules' business."""
    out = []
    for n in row_numbers(values):
        day, start, end = _int(values, f"rows.{n}.dag"), _time(values, f"rows.{n}.from"), _time(values, f"rows.{n}.tom")
        kinds = [k for k in TIME_KINDS if values.get(f"rows.{n}.{k}") is True]
        if day is not None and start is not None and end is not None and len(kinds) == 1:
            out.append(TimeRow(day, start, end, kinds[0], row=n))
    return out


def rows_totals_from_values(values: Mapping[str, Value]) -> dict[str, int]:
    """Minutes of each kind summed from the ``rows.N.*`` values of a 3059; a row crossing
    midnight counts to its end on the next day."""
    out = {k: 0 for k in TIME_KINDS}
    for r in time_rows(values):
        out[r.kind] += r.minutes
    return out


def stated_minutes(values: Mapping[str, Value], prefix: str) -> dict[str, int] | None:
    """Minutes of each kind written as hours + minutes (``summa.*`` on 3059 page 3, ``tid.*``
    on 3057 point 2); None when nothing at all is written there."""
    out = {}
    any_written = False
    for k in TIME_KINDS:
        h, m = _int(values, f"{prefix}.{k}.timmar"), _int(values, f"{prefix}.{k}.minuter")
        any_written |= h is not None or m is not None
        out[k] = (h or 0) * 60 + (m or 0)
    return out if any_written else None


def _month(values: Mapping[str, Value]) -> tuple[int, int] | None:
    v = values.get("header.year_month")
    if isinstance(v, str) and len(v) == 7:
        try:
            return int(v[:4]), int(v[5:])
        except ValueError:
            return None
    return None


def row_findings(template: FormTemplate, values: Mapping[str, Value]) -> list[Finding]:
    """3059 rows: the day exists in the month reported. (Exactly one kind and complete rows
    are template rules; times are valid clock times by the readers' parsing.)"""
    ym = _month(values)
    if ym is None or "rows" not in {f.table for f in template.fields_by_id.values() if f.table}:
        return []
    last = calendar.monthrange(*ym)[1]
    out = []
    for n in row_numbers(values):
        day = _int(values, f"rows.{n}.dag")
        if day is not None and not 1 <= day <= last:
            fid = f"rows.{n}.dag"
            out.append(Finding("day_outside_month", "completion", (fid, "header.year_month"),
                               template.fields_by_id[fid].page,
                               {"row": str(n), "day": str(day), "month": f"{ym[0]:04d}-{ym[1]:02d}"}))
    return out


def _hm(minutes: int) -> str:
    return f"{minutes // 60} h {minutes % 60:02d} min"


def summa_findings(template: FormTemplate, values: Mapping[str, Value]) -> list[Finding]:
    """3059 page 3 "Summa tid" against the rows: a flag (FK recomputes from the rows)."""
    if "summa.aktiv.timmar" not in template.fields_by_id:
        return []
    stated = stated_minutes(values, "summa")
    if stated is None:
        return []
    rows = rows_totals_from_values(values)
    out = []
    for k in TIME_KINDS:
        if stated[k] != rows[k]:
            ids = (f"summa.{k}.timmar", f"summa.{k}.minuter")
            out.append(Finding("summa_mismatch", None, ids, template.fields_by_id[ids[0]].page,
                               {"kind": k, "stated": _hm(stated[k]), "rows": _hm(rows[k])}))
    return out


def deadline_findings(values: Mapping[str, Value], received: date | None) -> list[Finding]:
    """The month reported against the day FK received the form: after the deadline, a flag;
    a month that had not begun (the assistance it reports was not yet given: a slip in the
    year, as a rule), for the sender to put right."""
    v = values.get("header.year_month")
    if received is None or not isinstance(v, str) or _month(values) is None:
        return []
    if v > received.isoformat()[:7]:
        return [Finding("month_not_begun", "completion", ("header.year_month",), 1,
                        {"month": v, "received": received.isoformat()})]
    if is_late(v, received):
        return [Finding("late", None, ("header.year_month",), 1,
                        {"deadline": deadline_for(v).isoformat(), "received": received.isoformat()})]
    return []


def check_invoice_totals(invoice: Mapping[str, Value], reported: Mapping[str, int] | None,
                         reports: int) -> list[Finding]:
    """3057 point 2 against the sum of the month's 3059 rows of the same person, per kind
    (``reported``: minutes per kind over ``reports`` time reports). No time report known yet:
    a flag, re-checked when one arrives."""
    stated = stated_minutes(invoice, "tid") or {k: 0 for k in TIME_KINDS}
    if reports == 0 or reported is None:
        return [Finding("time_reports_missing", None, ("header.year_month", "person.personnummer"), 1)]
    out = []
    for k in TIME_KINDS:
        if stated[k] != reported.get(k, 0):
            out.append(Finding("totals_mismatch", "completion", (f"tid.{k}.timmar", f"tid.{k}.minuter"), 1,
                               {"kind": k, "stated": _hm(stated[k]), "reported": _hm(reported.get(k, 0)),
                                "reports": str(reports)}))
    return out


def municipality_weeks(values: Mapping[str, Value]) -> list[dict]:
    """The municipality's share of each ISO week of the month reported: the first
    :data:`defs.MUNICIPALITY_MINUTES_PER_WEEK` minutes of assistance, in time order, of the
    rows given (one 3059, or all of a person's 3059s for the month merged). A row crossing
    midnight into a new week counts in each week for its part. A week that begins or ends
    outside the month is ``partial``: its other days are in another month's reports."""
    ym = _month(values)
    if ym is None:
        return []
    y, m = ym
    last = calendar.monthrange(y, m)[1]
    pieces: list[tuple[datetime, datetime]] = []
    for r in time_rows(values):
        if r.kind not in defs.MUNICIPALITY_TIME_KINDS or not 1 <= r.day <= last:
            continue
        start = datetime(y, m, r.day) + timedelta(minutes=r.start)
        pieces.append((start, start + timedelta(minutes=r.minutes)))
    weeks: dict[tuple[int, int], list[tuple[datetime, datetime]]] = {}
    for a, b in sorted(pieces):
        while a < b:  # cut at Monday 00:00
            monday = datetime.combine((a - timedelta(days=a.weekday())).date(), datetime.min.time())
            nxt = monday + timedelta(days=7)
            weeks.setdefault(tuple(a.isocalendar()[:2]), []).append((a, min(b, nxt)))
            a = min(b, nxt)
    out = []
    for (iy, iw), spans in sorted(weeks.items()):
        total = sum(int((b - a).total_seconds() // 60) for a, b in spans)
        monday = date.fromisocalendar(iy, iw, 1)
        out.append({
            "week": f"{iy}-W{iw:02d}", "minutes": total,
            "municipality_minutes": min(total, defs.MUNICIPALITY_MINUTES_PER_WEEK),
            "partial": monday < date(y, m, 1) or monday + timedelta(days=6) > date(y, m, last),
        })
    return out


def merge_rows(values_list: Iterable[Mapping[str, Value]]) -> dict[str, Value]:
    """Several 3059s of one person and month as one set of rows (for the person's weeks)."""
    out: dict[str, Value] = {}
    n = 0
    for values in values_list:
        if "header.year_month" in values:
            out.setdefault("header.year_month", values["header.year_month"])
        for r in row_numbers(values):
            n += 1
            for col in ("dag", "from", "tom", *TIME_KINDS):
                if f"rows.{r}.{col}" in values:
                    out[f"rows.{n}.{col}"] = values[f"rows.{r}.{col}"]
    return out


# --- all rules of one document ----------------------------------------------------------------

def check_document(template: FormTemplate, values: Mapping[str, Value], received: date | None,
                   decided: frozenset[str] = frozenset()) -> list[Finding]:
    """Every rule that one document can be checked by on its own (3057 point 2 needs the
    time reports: :func:`check_invoice_totals`); ``decided``: fields an operator decided."""
    return (template_findings(template, values) + identity_findings(template, values, decided)
            + row_findings(template, values) + summa_findings(template, values)
            + deadline_findings(values, received) + samordningsnummer_flags(template, values))
