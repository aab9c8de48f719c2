"""Stage 4a, build: a read document becomes a typed record (pydantic), one model per form.

The models are made from the form templates (the form knowledge stays in ``forms/``): a
field id ``assistent.personnummer`` becomes ``fields.assistent.personnummer``, a table cell
``rows.12.from`` becomes ``fields.rows[i].from_`` with ``row: 12``. Every field is a
:class:`FieldValue` that keeps the typed value, the canonical text as read, the confidence,
the status, the page, the box and the image crop an operator looks at. The typed value is
set only when the reading is valid for its type (a personnummer with a wrong check digit
keeps ``read`` but no ``value``); why a record cannot go on is in ``reasons``.

Types by field kind: personnummer / samordningsnummer and organisationsnummer as validated
strings (12 and 10 digits: date, day + 60, Luhn), ``date``, clock times as ``time``, days,
hours and minutes as ``int``, kronor as ``Decimal`` with two places, year-month as
``YYYY-MM``. Each form's JSON Schema is published in ``docs/records/`` (``blankett schema``).
"""

from __future__ import annotations

import keyword
from datetime import date, time
from decimal import Decimal
from functools import lru_cache
from typing import Annotated, Any, Generic, Literal, TypeVar

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints, create_model

from pipeline.forms import FieldKind, TemplateRegistry
from pipeline.ids import Organisationsnummer, Personnummer
from pipeline.read.types import Reading

RECORD_SCHEMA = "blankett.record/1"
Route = Literal["validation", "review", "completion"]
FieldStatus = Literal[
    "ok", "low_confidence", "unreadable", "empty",
    # after an operator's decision (pipeline.review):
    "confirmed", "corrected", "unreadable_confirmed", "missing_confirmed",
]


def _personnummer(v: str) -> str:
    return Personnummer.parse(v).digits


def _orgnr(v: str) -> str:
    return Organisationsnummer.parse(v, allow_sole_trader=True).digits


PersonnummerStr = Annotated[str, StringConstraints(pattern=r"^\d{12}$"), AfterValidator(_personnummer)]
OrganisationsnummerStr = Annotated[str, StringConstraints(pattern=r"^\d{10}$"), AfterValidator(_orgnr)]
YearMonth = Annotated[str, StringConstraints(pattern=r"^\d{4}-(0[1-9]|1[0-2])$")]
Kronor = Annotated[Decimal, Field(max_digits=14, decimal_places=2, ge=0)]

KIND_TYPES: dict[FieldKind, Any] = {
    FieldKind.personnummer: PersonnummerStr,
    FieldKind.organisationsnummer: OrganisationsnummerStr,
    FieldKind.date: date,
    FieldKind.year_month: YearMonth,
    FieldKind.clock_time: time,
    FieldKind.day: Annotated[int, Field(ge=1, le=31)],
    FieldKind.hours: Annotated[int, Field(ge=0)],
    FieldKind.minutes: Annotated[int, Field(ge=0, le=59)],
    FieldKind.amount: Kronor,
    FieldKind.phone: str,
    FieldKind.text: str,
    FieldKind.checkbox: bool,
    FieldKind.signature: bool,
}

T = TypeVar("T")


class FieldValue(BaseModel, Generic[T]):
    """One field of a record: the typed value with everything needed to trust or check it."""

    model_config = ConfigDict(extra="forbid")

    kind: FieldKind
    value: T | None = None  # typed; None when empty or not valid for its type
    read: str | bool | None = None  # the canonical reading (what ``value`` was made from)
    confidence: float = Field(ge=0, le=1)
    status: FieldStatus
    page: int
    box_mm: tuple[float, float, float, float]
    crop: str | None = None  # image of the field, relative to the data directory
    # the reader's other candidates, best first (the review UI offers them)
    alternatives: list[tuple[str | bool, float]] = Field(default_factory=list)
    # fields of the case's documents ("document_id:field_id") that read the same value and,
    # read together with this one, decided it (pipeline/across.py)
    agreed_with: list[str] = Field(default_factory=list)
    # what the form's own redundancy found about this reading, "sums: <finding>" (a cost
    # report's arithmetic, a time report's rows against their total: pipeline/read/sums.py),
    # "order: <finding>" (the days down the rows, dates in order: pipeline/read/order.py) or
    # "copies: <finding>" (the running header's copies: pipeline/read/copies.py); with the
    # value the readers read where the finding changed it (the review UI shows both)
    check: str | None = None
    read_as: str | bool | None = None


class PageRef(BaseModel):
    page: int  # page number of the form
    file: str  # file name in the batch
    index: int  # 0-based page index in that file
    skanningsid: str | None = None


class PageProblem(BaseModel):
    code: str  # missing_page | duplicate_page | page_order | header_mismatch | unregistered_page | …
    page: int | None = None
    sv: str
    en: str


class Source(BaseModel):
    batch: str
    file: str
    file_sha256: str
    pages: list[PageRef]
    attachments: int = 0  # blank / other / unreadable pages that travelled with the document
    unknown_pages: int = 0  # of those, pages that could not be identified
    problems: list[PageProblem] = []  # what the page stages found


class Reason(BaseModel):
    """Why a record went where it did (or a flag it carries), in words for its reader."""

    code: str
    to: Literal["sender", "operator", "handler"]
    certain: bool = True  # False: rests on a reading an operator must confirm first
    fields: list[str] = []
    page: int | None = None
    sv: str
    en: str


class WeekShare(BaseModel):
    week: str  # ISO week, "2025-W36"
    minutes: int  # minutes of assistance in the month's part of the week
    municipality_minutes: int  # the first 20 hours of the week: the municipality's share
    partial: bool  # the week runs into another month: its other days are elsewhere


class Computed(BaseModel):
    """What blankett computed from the fields (never written on the form)."""

    minutes_from_rows: dict[str, int] | None = None  # 3059: per kind of time, from the rows
    minutes_stated: dict[str, int] | None = None  # 3057 point 2 / 3059 Summa tid
    municipality_weeks: list[WeekShare] | None = None  # 3059: this report; 3057: all its reports
    time_reports: int | None = None  # 3057: how many 3059s its point 2 was checked against


class RecordBase(BaseModel):
    model_config = ConfigDict(extra="forbid")

    record_schema: Literal["blankett.record/1"] = RECORD_SCHEMA
    document_id: str
    form: str
    version: str
    received_date: date | None = None
    source: Source
    route: Route
    reasons: list[Reason] = []
    flags: list[Reason] = []
    computed: Computed = Computed()


# --- models from the templates ----------------------------------------------------------------

def _attr(name: str) -> str:
    """A field id part as a Python attribute (``from`` → ``from_``); the alias keeps the id."""
    return name + "_" if keyword.iskeyword(name) else name


def _model(name: str, tree: dict, path: str) -> type[BaseModel]:
    spec: dict[str, Any] = {}
    for key, sub in tree.items():
        if key == "#rows":
            continue
        if isinstance(sub, FieldKind):
            typ: Any = FieldValue[KIND_TYPES[sub]] | None
        elif set(sub) == {"#rows"}:  # a table: a list of row models
            row = _model(f"{name}_{key}_row", sub["#rows"], f"{path}{key}.N.")
            spec[_attr(key)] = (list[row], Field(default_factory=list, alias=key))
            continue
        else:
            typ = _model(f"{name}_{key}", sub, f"{path}{key}.") | None
        spec[_attr(key)] = (typ, Field(default=None, alias=key))
    if "#rows" in tree:  # a table whose id also names plain fields: its rows under "rows"
        row = _model(f"{name}_row", tree["#rows"], f"{path}N.")
        spec["rows"] = (list[row], Field(default_factory=list))
    if path.endswith(".N."):
        spec["row"] = (int, ...)
    return create_model(name, __config__=ConfigDict(extra="forbid", populate_by_name=True), **spec)


@lru_cache(maxsize=None)
def field_tree(form: str) -> dict:
    """The nesting of a form's field ids (all its layout versions): leaves are field kinds,
    a table's row columns sit under ``"#rows"``."""
    tree: dict = {}
    for t in TemplateRegistry.load():
        if t.form != form:
            continue
        for fid, f in t.fields_by_id.items():
            parts = fid.split(".")
            node = tree
            if f.table is not None:
                node = node.setdefault(parts[0], {}).setdefault("#rows", {})
                parts = parts[2:]
            for p in parts[:-1]:
                node = node.setdefault(p, {})
            node[parts[-1]] = f.kind
    return tree


@lru_cache(maxsize=None)
def record_model(form: str) -> type[RecordBase]:
    """The record model of a form (all its layout versions' fields)."""
    fields = _model(f"Fields{form}", field_tree(form), "")
    return create_model(f"Record{form}", __base__=RecordBase,
                        form=(Literal[form], ...), fields=(fields, ...))  # type: ignore[valid-type]


def forms() -> list[str]:
    return sorted({t.form for t in TemplateRegistry.load()})


def json_schema(form: str) -> dict:
    schema = record_model(form).model_json_schema(by_alias=True)
    schema["title"] = f"blankett record of FK {form}"
    return schema


# --- building ---------------------------------------------------------------------------------

def typed_value(kind: FieldKind, read: str | bool | None) -> Any:
    """The typed value of a canonical reading, or None when it is not valid for the kind."""
    if read is None:
        return None
    try:
        if kind in (FieldKind.checkbox, FieldKind.signature):
            return bool(read)
        if kind == FieldKind.clock_time:
            h, m = str(read).split(".")
            return time(int(h), int(m))
        if kind == FieldKind.amount:
            d = Decimal(str(read))
            return d.quantize(Decimal("0.01")) if d.is_finite() else None  # "NaN", "Infinity" are no amounts
        if kind in (FieldKind.day, FieldKind.hours, FieldKind.minutes):
            return int(str(read))
        if kind == FieldKind.date:
            return date.fromisoformat(str(read))
        if kind == FieldKind.personnummer:
            return _personnummer(str(read))
        if kind == FieldKind.organisationsnummer:
            return _orgnr(str(read))
        return str(read)
    except (ValueError, ArithmeticError):
        return None


def field_value(kind: FieldKind, read: str | bool | None, confidence: float, status: str, page: int,
                box_mm, crop: str | None = None) -> dict:
    """One field of a record (a :class:`FieldValue` as a dict), its typed value made from ``read``."""
    return {"kind": kind.value, "value": typed_value(kind, read), "read": read, "confidence": round(float(confidence), 4),
            "status": status, "page": page, "box_mm": tuple(float(x) for x in box_mm), "crop": crop}


# the readers' detail keys of the checks that read a document's fields together
CHECKS_BY = ("sums", "order", "copies")


def reading_value(r: Reading, crop: str | None = None) -> dict:
    """A reader's :class:`Reading` as a field of a record."""
    fv = field_value(r.kind, r.value, r.confidence, r.status, r.page, r.box_mm, crop)
    fv["alternatives"] = [(v, round(float(c), 4)) for v, c in r.alternatives if v is not None]
    for by in CHECKS_BY:
        if by in r.detail:
            fv["check"] = f"{by}: {r.detail[by]}"
            if r.detail.get("read_as") not in (None, r.value):
                fv["read_as"] = r.detail["read_as"]
    return fv


def nest(flat: dict[str, dict], form: str) -> dict:
    """``{"rows.3.from": fv, "person.name": fv}`` → the nested dict of the record's fields."""
    tree = field_tree(form)
    out: dict = {}
    table_rows: dict[str, dict[int, dict]] = {}
    for fid, fv in flat.items():
        parts = fid.split(".")
        if len(parts) >= 3 and parts[1].isdigit() and "#rows" in tree.get(parts[0], {}):
            row = table_rows.setdefault(parts[0], {}).setdefault(int(parts[1]), {"row": int(parts[1])})
            node = row
            parts = parts[2:]
        else:
            node = out
        for p in parts[:-1]:
            node = node.setdefault(p, {})
        node[parts[-1]] = fv
    for t, rows in table_rows.items():
        listed = [rows[n] for n in sorted(rows)]
        if set(tree[t]) == {"#rows"}:
            out[t] = listed
        else:
            out.setdefault(t, {})["rows"] = listed
    return out


def flatten(fields: dict, prefix: str = "") -> dict[str, dict]:
    """The inverse of :func:`nest` on a record's ``fields`` dumped by alias."""
    out: dict[str, dict] = {}
    for k, v in fields.items():
        if v is None:
            continue
        if isinstance(v, list):
            base = prefix if k == "rows" and prefix else f"{prefix}{k}."
            for row in v:
                out |= flatten({c: x for c, x in row.items() if c != "row"}, f"{base}{row['row']}.")
        elif isinstance(v, dict) and "status" in v and "confidence" in v:
            out[prefix + k] = v
        elif isinstance(v, dict):
            out |= flatten(v, f"{prefix}{k}.")
    return out
