"""Form templates: FK's paper forms described as data.

A template is one YAML file per form layout version under ``forms/<number>/<version>.yaml``.
It says, per page, what is printed (the *drawing*, used by the replica renderer and for
registration) and where each field's value goes (the *fields*, *tables* and *groups*, used by
every reader). Code never names a field's coordinates: it asks the template.

All geometry is in millimetres from the page's top-left corner, x to the right, y down.
A box is ``[x, y, width, height]``.
"""

from __future__ import annotations

import re
from enum import Enum
from functools import cached_property
from pathlib import Path
from typing import Annotated, Iterator, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field as PField, ValidationError, field_validator, model_validator

from pipeline.errors import TemplateError, UnknownFormError

FORMS_DIR = Path(__file__).resolve().parent.parent / "forms"

Box = tuple[float, float, float, float]
Point = tuple[float, float]
FieldId = Annotated[str, PField(pattern=r"^[a-z0-9_]+(\.[a-z0-9_]+)*$")]


class FieldKind(str, Enum):
    text = "text"
    personnummer = "personnummer"
    organisationsnummer = "organisationsnummer"
    date = "date"
    year_month = "year_month"
    clock_time = "clock_time"
    day = "day"
    hours = "hours"
    minutes = "minutes"
    amount = "amount"
    phone = "phone"
    checkbox = "checkbox"
    signature = "signature"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _check_box(box: Box) -> Box:
    if box[2] <= 0 or box[3] <= 0:
        raise ValueError(f"box {list(box)} must have positive width and height")
    return box


class Draw(_Strict):
    """One printed element of a page, as the replica renderer draws it.

    Exactly one of ``rect``, ``line``, ``text``, ``shade`` or ``logo`` is given.
    ``rect``: a stroked rectangle; ``line``: ``[x1, y1, x2, y2]``; ``text``: a string drawn
    with its baseline starting at ``at`` (lines split on ``\\n``, ``leading`` apart);
    ``shade``: a filled rounded box (FK's grey information panels); ``logo``: FK's logo
    replica fitted into a box.
    """

    rect: Box | None = None
    line: tuple[float, float, float, float] | None = None
    text: str | None = None
    shade: Box | None = None
    logo: Box | None = None
    at: Point | None = None
    size: float = 8.0  # font size in points
    bold: bool = False
    align: Literal["left", "center", "right"] = "left"
    leading: float | None = None  # mm between lines of a multi-line text; default 1.25 × size
    lw: float = 0.21  # line width in mm (FK's forms use 0.6 pt = 0.21 mm)
    grey: float = 0.9  # fill grey level of a shade, 0 black … 1 white
    radius: float = 3.0  # corner radius of a shade in mm

    @model_validator(mode="after")
    def _one_kind(self) -> "Draw":
        kinds = [k for k in ("rect", "line", "text", "shade", "logo") if getattr(self, k) is not None]
        if len(kinds) != 1:
            raise ValueError(f"a drawing element needs exactly one of rect/line/text/shade/logo, got {kinds or 'none'}")
        if self.text is not None and self.at is None:
            raise ValueError("a text element needs 'at: [x, y]' (baseline start in mm)")
        return self

    @property
    def kind(self) -> str:
        return next(k for k in ("rect", "line", "text", "shade", "logo") if getattr(self, k) is not None)


Frame = Literal["box", "underline", "comb", "none"]


class Field(_Strict):
    """A place on the page where the filler writes one value.

    ``frame`` says how the box is printed: ``box`` (four ruled sides), ``underline`` (a rule
    under the value), ``comb`` (``cells`` boxes side by side, one character each) or ``none``
    (the box is the free space of a larger printed cell). A field is required when it says
    ``required: true`` or has ``required_when`` conditions, and all those conditions hold
    (see :func:`parse_condition` and :meth:`ExpandedField.is_conditional`).
    """

    id: FieldId
    kind: FieldKind
    box: Box
    label: str | None = None  # the printed label, as on the form (Swedish)
    label_at: Point | None = None  # where the label is printed; default inside the box, top-left
    name_sv: str | None = None  # how a letter to the sender names the field
    name_en: str | None = None
    required: bool = False
    required_when: list[str] = []
    frame: Frame = "box"
    cells: int | None = None  # comb cells
    # the value lies on or before the day FK received the post: the month a report is for
    # has begun, a signature's date has come (a later reading is a misreading)
    before_received: bool = False
    # a date on or after the first day of the month the form reports: a signature certifies
    # that month's hours, so a reading before it is likelier a misreading (a prior, as for
    # dates far from the month: parse.date_prior; such a date on paper is still read)
    after_month_start: bool = False

    _box = field_validator("box")(classmethod(lambda cls, v: _check_box(v)))

    @model_validator(mode="after")
    def _comb(self) -> "Field":
        if (self.frame == "comb") != (self.cells is not None):
            raise ValueError("frame 'comb' and 'cells' go together")
        return self


class Column(_Strict):
    """A column of a repeated table; ``box`` is relative to the row's origin."""

    id: Annotated[str, PField(pattern=r"^[a-z0-9_]+$")]
    kind: FieldKind
    box: Box
    label: str | None = None
    name_sv: str | None = None
    name_en: str | None = None
    required_when: list[str] = []
    frame: Frame = "none"

    _box = field_validator("box")(classmethod(lambda cls, v: _check_box(v)))


class TableGroup(_Strict):
    """A checkbox rule applied to every row of a table (e.g. exactly one kind of time)."""

    id: Annotated[str, PField(pattern=r"^[a-z0-9_]+$")]
    rule: Literal["exactly_one", "at_most_one"]
    members: list[str]
    required_when: list[str] = ["@row"]


class Table(_Strict):
    """Repeated rows: ``blocks`` side-by-side blocks of ``rows`` rows each.

    Row *r* (0-based) of block *b* has its origin at
    ``(origin.x + block_offsets[b], origin.y + r * row_pitch)``. Rows are numbered across
    blocks and pages from ``first_row``: field ids are ``<table>.<row>.<column>``.
    """

    id: Annotated[str, PField(pattern=r"^[a-z0-9_]+$")]
    origin: Point
    rows: int
    row_pitch: float
    block_offsets: list[float] = [0.0]
    first_row: int = 1
    columns: list[Column]
    groups: list[TableGroup] = []

    @property
    def row_count(self) -> int:
        return self.rows * len(self.block_offsets)

    def row_numbers(self) -> range:
        return range(self.first_row, self.first_row + self.row_count)

    def row_origin(self, row_number: int) -> Point:
        i = row_number - self.first_row
        block, r = divmod(i, self.rows)
        return (self.origin[0] + self.block_offsets[block], self.origin[1] + r * self.row_pitch)


class Group(_Strict):
    """Checkboxes of which exactly one / at most one may be marked."""

    id: FieldId
    rule: Literal["exactly_one", "at_most_one"]
    members: list[str]
    required_when: list[str] = []
    name_sv: str | None = None
    name_en: str | None = None


IdentityKey = Literal["year_month", "person_personnummer", "assistent_personnummer"]


class Page(_Strict):
    number: int
    skanningsid: Annotated[str, PField(pattern=r"^\d{8}$")]
    label: str | None = None  # "2 (3)" top right; None on page 1
    label_at: Point | None = None
    size: Point | None = None  # mm; default: the form's page size
    skanningsid_box: Box  # where the vertical skanningsID is printed (reads bottom to top)
    footer_box: Box  # where the vertical footer is printed (reads bottom to top)
    # The fields that say which document this page belongs to (the running header of later
    # pages, the corresponding fields of page 1): pages whose identities differ are not
    # grouped into one document.
    identity: dict[IdentityKey, str] = {}
    drawing: list[Draw] = []
    fields: list[Field] = []
    tables: list[Table] = []
    groups: list[Group] = []


class ExpandedField(BaseModel):
    """A field with its absolute box on its page: a plain field or one cell of a table row."""

    model_config = ConfigDict(frozen=True)

    id: str
    page: int
    kind: FieldKind
    box: Box
    label: str | None = None
    label_at: Point | None = None
    name_sv: str | None = None
    name_en: str | None = None
    required: bool = False
    required_when: tuple[str, ...] = ()
    frame: Frame = "box"
    cells: int | None = None
    before_received: bool = False
    after_month_start: bool = False
    table: str | None = None
    row: int | None = None
    column: str | None = None


class CostTable(_Strict):
    """A cost report (3057 point 9): per row a cost per hour and a cost for the period (the
    period cost / ``hours``, to the öre), and the totals of both columns. pipeline/read/sums.py
    reads its amounts together."""

    hours: str  # the field of the hours the costs are computed on
    rows: list[tuple[str, str]]  # (cost per hour, cost for the period) field ids
    total: tuple[str, str]  # the totals' field ids, in the same order


class FormTemplate(_Strict):
    form: Annotated[str, PField(pattern=r"^\d{4}$")]
    version: Annotated[str, PField(pattern=r"^\d{3}[A-Z]\d{3}$")]  # "016F003"
    title: str
    subtitle: str | None = None
    footer: str  # "FK 3059 (016 F 003) Fastställd av Försäkringskassan"
    page_size: Point  # mm
    provisional: bool = False  # a layout of our own design, no FK original seen
    label_size_pt: float | None = None  # field labels' type size as printed (None: the renderer's default)
    note: str | None = None
    pages: list[Page]
    cost_tables: list[CostTable] = []
    # The parties a document is about, by number (a personnummer, an organisationsnummer):
    # documents of one batch that share an accepted value of one of these are one case.
    case_keys: list[str] = []
    # Values the sender writes again on other documents of the case (the provider's phone on
    # every time report and on the invoice): read together across them (pipeline/across.py).
    shared: list[str] = []
    # Name fields and the number that says whose name each is (person.name: the person's
    # personnummer): read together across documents by that number (pipeline/across.py).
    names: dict[str, str] = {}
    # Dates that run in order on paper, each list earliest first (a period's "från och med"
    # before its "till och med"; calculation periods one after another): read together down
    # the list (pipeline/read/order.py), as a time report's days down its rows.
    ordered: list[list[str]] = []

    @property
    def key(self) -> str:
        return f"{self.form}/{self.version}"

    def __hash__(self) -> int:  # by identity of the layout, so stages can cache per template
        return hash((self.form, self.version))

    @property
    def version_label(self) -> str:
        """The version as printed in the footer: ``016 F 003``."""
        return f"{self.version[:3]} {self.version[3]} {self.version[4:]}"

    def page(self, number: int) -> Page:
        for p in self.pages:
            if p.number == number:
                return p
        raise UnknownFormError(f"form {self.key} has no page {number}")

    def page_size_of(self, number: int) -> Point:
        return self.page(number).size or self.page_size

    def expanded_fields(self, page: int | None = None) -> Iterator[ExpandedField]:
        """Every field of the form (or of one page), table rows expanded, in print order."""
        for p in self.pages:
            if page is not None and p.number != page:
                continue
            for f in p.fields:
                yield ExpandedField(
                    id=f.id, page=p.number, kind=f.kind, box=f.box, label=f.label, label_at=f.label_at,
                    name_sv=f.name_sv, name_en=f.name_en, required=f.required,
                    required_when=tuple(f.required_when), frame=f.frame, cells=f.cells,
                    before_received=f.before_received, after_month_start=f.after_month_start,
                )
            for t in p.tables:
                for n in t.row_numbers():
                    ox, oy = t.row_origin(n)
                    for c in t.columns:
                        x, y, w, h = c.box
                        yield ExpandedField(
                            id=f"{t.id}.{n}.{c.id}", page=p.number, kind=c.kind,
                            box=(round(ox + x, 3), round(oy + y, 3), w, h), label=c.label,
                            name_sv=c.name_sv, name_en=c.name_en,
                            required_when=tuple(c.required_when), frame=c.frame,
                            table=t.id, row=n, column=c.id,
                        )

    @cached_property
    def fields_by_id(self) -> dict[str, ExpandedField]:
        return {f.id: f for f in self.expanded_fields()}

    def groups(self) -> Iterator[tuple[Group, int]]:
        """Every checkbox group with its page, table groups expanded per row."""
        for p in self.pages:
            for g in p.groups:
                yield g, p.number
            for t in p.tables:
                for tg in t.groups:
                    for n in t.row_numbers():
                        yield Group(
                            id=f"{t.id}.{n}.{tg.id}", rule=tg.rule,
                            members=[f"{t.id}.{n}.{m}" for m in tg.members],
                            required_when=[_row_condition(c, t.id, n) for c in tg.required_when],
                        ), p.number


def _row_condition(cond: str, table: str, row: int) -> str:
    return f"@row:{table}.{row}" if cond == "@row" else cond


# --- conditions -----------------------------------------------------------------------------

_COND = re.compile(r"^(!?)([a-z0-9_]+(?:\.[a-z0-9_]+)*)$")


def parse_condition(cond: str) -> tuple[bool, str]:
    """A condition is ``field`` (checked, or filled in) or ``!field`` (not), or ``@row``
    (some other field of the same table row is filled in). Returns (negated, target)."""
    if cond == "@row" or cond.startswith("@row:"):
        return False, cond
    m = _COND.match(cond)
    if not m:
        raise ValueError(f"condition {cond!r} is not 'field_id', '!field_id' or '@row'")
    return bool(m.group(1)), m.group(2)


# --- loading --------------------------------------------------------------------------------

def _cross_checks(t: FormTemplate) -> list[str]:
    """Checks that span the whole template: unique ids, references, boxes on the page."""
    problems: list[str] = []
    seen: dict[str, int] = {}
    for f in t.expanded_fields():
        if f.id in seen:
            problems.append(f"field {f.id}: id used twice (pages {seen[f.id]} and {f.page})")
        seen[f.id] = f.page
        pw, ph = t.page_size_of(f.page)
        x, y, w, h = f.box
        if x < 0 or y < 0 or x + w > pw + 0.01 or y + h > ph + 0.01:
            problems.append(f"field {f.id}: box {list(f.box)} lies outside page {f.page} ({pw} × {ph} mm)")
    for i, p in enumerate(t.pages):
        if p.number != i + 1:
            problems.append(f"pages: page {i + 1} is numbered {p.number}")
        if not p.skanningsid.startswith(t.form):
            problems.append(f"page {p.number}: skanningsid {p.skanningsid} does not start with the form number {t.form}")
        for tb in p.tables:
            cols = {c.id for c in tb.columns}
            for g in tb.groups:
                for m in g.members:
                    if m not in cols:
                        problems.append(f"table {tb.id}, group {g.id}: member {m!r} is not a column")
    for g, page in t.groups():
        for m in g.members:
            f = t.fields_by_id.get(m)
            if f is None:
                problems.append(f"group {g.id}: member {m!r} is not a field")
            elif f.kind != FieldKind.checkbox:
                problems.append(f"group {g.id}: member {m!r} is a {f.kind.value}, not a checkbox")
    conds = [(f.id, c) for f in t.expanded_fields() for c in f.required_when]
    conds += [(g.id, c) for g, _ in t.groups() for c in g.required_when]
    for owner, c in conds:
        try:
            _, target = parse_condition(c)
        except ValueError as e:
            problems.append(f"{owner}: {e}")
            continue
        if not target.startswith("@row") and target not in t.fields_by_id:
            problems.append(f"{owner}: condition {c!r} names no field of this form")
    for p in t.pages:
        for key, fid in p.identity.items():
            f = t.fields_by_id.get(fid)
            if f is None or f.page != p.number:
                problems.append(f"page {p.number}: identity {key} names {fid!r}, not a field of this page")
    for what, fids, kinds in (("case_keys", t.case_keys, (FieldKind.personnummer, FieldKind.organisationsnummer)),
                              ("shared", t.shared, tuple(FieldKind))):
        for fid in fids:
            f = t.fields_by_id.get(fid)
            if f is None:
                problems.append(f"{what}: {fid!r} is not a field")
            elif f.kind not in kinds:
                problems.append(f"{what}: {fid!r} is a {f.kind.value}, not one of {', '.join(k.value for k in kinds)}")
    for name, key in t.names.items():
        f, k = t.fields_by_id.get(name), t.fields_by_id.get(key)
        if f is None or f.kind != FieldKind.text:
            problems.append(f"names: {name!r} is not a text field")
        if k is None or k.kind not in (FieldKind.personnummer, FieldKind.organisationsnummer):
            problems.append(f"names: {name!r} is named by {key!r}, not a personnummer or organisationsnummer field")
    for seq in t.ordered:
        kinds = {t.fields_by_id[f].kind for f in seq if f in t.fields_by_id}
        if len(seq) < 2 or any(f not in t.fields_by_id for f in seq):
            problems.append(f"ordered: {seq!r} is not two or more fields of this form")
        elif len(kinds) != 1 or not kinds <= {FieldKind.date, FieldKind.year_month}:
            problems.append(f"ordered: {seq!r} is not dates or months of one kind")
    ids = {p.skanningsid for p in t.pages}
    if len(ids) != len(t.pages):
        problems.append("pages: skanningsid repeated")
    return problems


def _describe(err: ValidationError) -> list[str]:
    out = []
    for e in err.errors():
        loc = ".".join(str(x) for x in e["loc"])
        out.append(f"{loc}: {e['msg']}")
    return out


def load_template(path: str | Path) -> FormTemplate:
    """Load and validate one template file; raise :class:`TemplateError` naming every problem."""
    path = Path(path)
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as e:
        raise TemplateError(str(path), [f"cannot read: {e.strerror}"]) from e
    except yaml.YAMLError as e:
        raise TemplateError(str(path), [f"not valid YAML: {e}"]) from e
    if not isinstance(raw, dict):
        raise TemplateError(str(path), ["the file must hold a mapping with form, version, pages"])
    try:
        t = FormTemplate.model_validate(raw)
    except ValidationError as e:
        raise TemplateError(str(path), _describe(e)) from e
    problems = _cross_checks(t)
    expected = f"{t.version}.yaml"
    if path.name != expected or path.parent.name != t.form:
        problems.append(f"file name: a template of {t.key} belongs in forms/{t.form}/{expected}")
    if problems:
        raise TemplateError(str(path), problems)
    return t


class TemplateRegistry:
    """All templates of a forms directory, looked up by form, version or skanningsID."""

    def __init__(self, templates: list[FormTemplate]):
        self.templates = templates
        self._by_key = {t.key: t for t in templates}
        # Layout versions of one form may share skanningsIDs (3059 015 and 016 both print
        # 30590106 on page 1): the footer's version then decides.
        self._by_scan_id: dict[str, list[tuple[FormTemplate, int]]] = {}
        for t in templates:
            for p in t.pages:
                self._by_scan_id.setdefault(p.skanningsid, []).append((t, p.number))

    @classmethod
    def load(cls, forms_dir: str | Path = FORMS_DIR) -> "TemplateRegistry":
        files = sorted(Path(forms_dir).glob("*/*.yaml"))
        if not files:
            raise TemplateError(str(forms_dir), ["no templates found (expected forms/<number>/<version>.yaml)"])
        return cls([load_template(f) for f in files])

    def get(self, form: str, version: str | None = None) -> FormTemplate:
        if version is None:
            candidates = sorted((t for t in self.templates if t.form == form), key=lambda t: t.version)
            if not candidates:
                raise UnknownFormError(f"no template for form {form}; known: {', '.join(self.forms())}")
            return candidates[-1]
        try:
            return self._by_key[f"{form}/{version}"]
        except KeyError:
            versions = [t.version for t in self.templates if t.form == form]
            raise UnknownFormError(
                f"no template for form {form} version {version}; known versions: {', '.join(versions) or 'none'}"
            ) from None

    def by_skanningsid(self, scan_id: str) -> list[tuple[FormTemplate, int]]:
        """Every (template, page number) printing this skanningsID, newest version first."""
        return sorted(self._by_scan_id.get(scan_id, []), key=lambda tp: tp[0].version, reverse=True)

    def forms(self) -> list[str]:
        return sorted({t.form for t in self.templates})

    def __iter__(self) -> Iterator[FormTemplate]:
        return iter(self.templates)
