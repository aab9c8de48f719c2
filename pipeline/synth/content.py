"""What gets written on the sample forms: cases, values, faults and expected outcomes.

The sample generator draws a realistic month of personal assistance — a person, the
assistants, their shifts, the provider, the invoice — and turns it into the values written on
each form (:class:`DocumentTruth`), in canonical formats and keyed by the template's field ids.
Some documents carry a *fault* (a missing signature, a wrong check digit, totals that do not
agree, …); each fault's expected outcome (route, reason or flag) is kept in one table,
:data:`FAULTS`, that the tests and later the validation stage share.

Everything is drawn from a ``numpy.random.Generator``: the same seed gives the same documents.
Field ids come from the templates (``docs/templates.md``): a value is only written where the
template has a field, so layouts with fewer rows (3059 015 F 001: 40) or fields are covered.

:func:`check_rules` evaluates a template's ``required`` / ``required_when`` / group rules on a
set of values; the generator's tests use it and validation may reuse it.
"""

from __future__ import annotations

import calendar
import re
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Iterable, Literal, Sequence

import numpy as np
from pydantic import BaseModel

from pipeline.forms import ExpandedField, FieldKind, FormTemplate, TemplateRegistry
from pipeline.ids import (
    Personnummer,
    corrupt_check_digit,
    random_organisationsnummer,
    random_personnummer,
)
from pipeline.rules import (  # noqa: F401  (re-exported: the generator's API since session 1)
    MINUTES_PER_DAY,
    ROUTE_RANK,
    TIME_KINDS,
    RuleViolation,
    TimeRow,
    add_months,
    check_rules,
    condition_holds,
    deadline_for,
    field_required,
    filled_rows,
    is_filled,
    is_late,
    month_end,
    parse_time,
    rows_totals_from_values,
    template_groups,
)

Route = Literal["validation", "review", "completion"]
Style = Literal["typed", "hand", "mixed"]
Value = str | bool

# Route precedence (rules.ROUTE_RANK): the strongest route any fault asks for wins.


# --- faults and their expected outcomes -------------------------------------------------------

@dataclass(frozen=True)
class FaultOutcome:
    """What a fault leads to. ``route`` None: a flag only, the route is unchanged."""

    route: Route | None
    code: str  # reason code (when the route changes) or flag code
    sv: str
    en: str


FAULTS: dict[str, FaultOutcome] = {
    "missing_signature": FaultOutcome(
        "completion", "missing_signature",
        "En obligatorisk underskrift saknas.", "A required signature is missing."),
    "unmarked_mandatory": FaultOutcome(
        "completion", "unmarked_mandatory",
        "En obligatorisk fråga är inte besvarad (ingen ruta är markerad).",
        "A mandatory question is not answered (no box is marked)."),
    "empty_required": FaultOutcome(
        "completion", "empty_required",
        "En obligatorisk uppgift är inte ifylld.", "A required field is left empty."),
    "illegible": FaultOutcome(
        "review", "illegible",
        "En handskriven uppgift går inte att läsa.", "A handwritten field cannot be read."),
    "bad_luhn": FaultOutcome(
        "review", "bad_luhn",
        "Ett person- eller organisationsnummer har fel kontrollsiffra.",
        "A personal identity or organisation number has a wrong check digit."),
    "totals_mismatch": FaultOutcome(
        "completion", "totals_mismatch",
        "Tiden i räkningen (punkt 2) stämmer inte med summan av tidsredovisningarna.",
        "The time on the invoice (point 2) differs from the sum of the time reports."),
    "summa_mismatch": FaultOutcome(
        None, "summa_mismatch",
        "Summa tid stämmer inte med raderna; Försäkringskassan räknar om.",
        "The total time differs from the rows; FK recomputes it."),
    "late": FaultOutcome(
        None, "late",
        "Inkom efter den 5:e i andra månaden efter assistansmånaden.",
        "Received after the 5th of the second month after the month of assistance."),
}

# Flags that come from the case itself, not from a fault (they never change the route).
FLAGS: dict[str, tuple[str, str]] = {
    "samordningsnummer": (
        "Assistenten har samordningsnummer: identiteten kan behöva styrkas med pass eller id-handling.",
        "The assistant has a samordningsnummer: identity may need a certified passport or ID copy."),
}

# Which forms a fault can be put on (others are left out when drawing a fault).
FAULT_FORMS: dict[str, tuple[str, ...]] = {
    "missing_signature": ("3059", "3057", "3066", "3080"),
    "unmarked_mandatory": ("3059", "3057", "3066", "3080"),
    "empty_required": ("3059", "3057", "3066", "3080"),
    "illegible": ("3059", "3057", "3066", "3080"),
    "bad_luhn": ("3059", "3057", "3066", "3080"),
    "totals_mismatch": ("3057",),
    "summa_mismatch": ("3059",),
    "late": ("3059", "3057"),
}
# How often each fault is drawn, relative (missing signatures and unanswered questions are
# FK's most common completion causes; the others rarer; a late document makes its whole
# case late, so "late" is drawn seldom).
FAULT_WEIGHTS: dict[str, float] = {
    "missing_signature": 0.20, "unmarked_mandatory": 0.15, "empty_required": 0.15, "illegible": 0.15,
    "bad_luhn": 0.12, "totals_mismatch": 0.25, "summa_mismatch": 0.10, "late": 0.03,
}

# Groups whose answer FK's guidance calls mandatory: unmarked_mandatory leaves one empty.
MANDATORY_GROUPS = ("daglig_verksamhet", "kollektivavtal", "anordnare", "narstaende", "bosatt_utanfor_ees")
# Preferred targets of empty_required (others required fields are used if none of these is there).
EMPTY_REQUIRED_PREFERRED = (
    "assistent.personnummer", "person.personnummer", "assistent.name", "person.name",
    "header.year_month", "underskrift.datum", "assistent_underskrift.datum",
    "assistent.anstallningsdatum", "anordnare.orgnr", "anordnare.name",
)

# In a "mixed" document the identity parts are typed (printed by the provider's system) and
# these are filled in by hand; signatures are always handwritten.
HANDWRITTEN_IN_MIXED = (
    "rows.", "summa.", "assistent_underskrift.", "underskrift.datum", "underskrift.telefon",
    "sjukhus.", "berakningsperiod.", "efterskott.kvar_kronor", "forskott.kvar_kronor",
)

STYLE_WEIGHTS: dict[str, float] = {"typed": 0.40, "hand": 0.35, "mixed": 0.25}

# Date range the sample months are drawn from ("recent" months, fixed for reproducibility).
EARLIEST_MONTH = (2023, 1)
LATEST_MONTH = (2025, 9)


def is_handwritten(style: str, field_id: str, kind: FieldKind | str) -> bool:
    """Whether a field of a document of this style is written by hand."""
    if FieldKind(kind) == FieldKind.signature or style == "hand":
        return True
    if style == "typed":
        return False
    return FieldKind(kind) == FieldKind.checkbox or field_id.startswith(HANDWRITTEN_IN_MIXED)


# --- the truth of one document ----------------------------------------------------------------

class DocumentTruth(BaseModel):
    """What one sample document says, and what the pipeline is expected to do with it."""

    doc_id: str
    form: str
    version: str
    style: Style
    case_id: str
    month: str | None  # YYYY-MM of the assistance (3059, 3057); None for 3066/3080
    received_date: str  # YYYY-MM-DD, when FK received it (deadline rule)
    values: dict[str, Value]  # field id → canonical value; an absent key = left empty
    illegible: list[str] = []  # field ids written as an unreadable scrawl
    faults: list[str] = []
    expected_route: Route = "validation"
    reasons: list[str] = []
    flags: list[str] = []

    def finalize(self, extra_flags: Iterable[str] = ()) -> "DocumentTruth":
        """Set expected_route, reasons and flags from the faults (FAULTS) and extra flags."""
        route, reasons, flags = "validation", [], []
        for f in self.faults:
            o = FAULTS[f]
            if o.route is None:
                flags.append(o.code)
            else:
                reasons.append(o.code)
                if ROUTE_RANK[o.route] > ROUTE_RANK[route]:
                    route = o.route
        flags.extend(extra_flags)
        self.expected_route = route
        self.reasons = list(dict.fromkeys(reasons))
        self.flags = list(dict.fromkeys(flags))
        return self


def expected_outcome(faults: Iterable[str]) -> tuple[Route, list[str], list[str]]:
    """(route, reasons, flags) for a list of fault codes, by :data:`FAULTS` and precedence."""
    d = DocumentTruth(doc_id="-", form="0000", version="-", style="typed", case_id="-", month=None,
                      received_date="2000-01-01", values={}, faults=list(faults)).finalize()
    return d.expected_route, d.reasons, d.flags


# --- canonical formats ------------------------------------------------------------------------

_CANONICAL = {
    FieldKind.personnummer: re.compile(r"^\d{12}$"),
    FieldKind.organisationsnummer: re.compile(r"^\d{10}$"),
    FieldKind.date: re.compile(r"^\d{4}-\d{2}-\d{2}$"),
    FieldKind.year_month: re.compile(r"^\d{4}-(0[1-9]|1[0-2])$"),
    FieldKind.clock_time: re.compile(r"^([01]\d|2[0-3])\.[0-5]\d$"),
    FieldKind.day: re.compile(r"^([1-9]|[12]\d|3[01])$"),
    FieldKind.hours: re.compile(r"^\d+$"),
    FieldKind.minutes: re.compile(r"^([0-9]|[1-5]\d)$"),
    FieldKind.amount: re.compile(r"^\d+\.\d{2}$"),
    FieldKind.phone: re.compile(r"^[0-9+][0-9 \-]{5,}$"),
    FieldKind.text: re.compile(r"\S"),
}


def canonical_ok(kind: FieldKind | str, value: Value) -> bool:
    """Whether ``value`` is in the canonical format of a field of this kind."""
    kind = FieldKind(kind)
    if kind in (FieldKind.checkbox, FieldKind.signature):
        return isinstance(value, bool)
    if not isinstance(value, str) or not _CANONICAL[kind].search(value):
        return False
    if kind == FieldKind.date:
        try:
            date.fromisoformat(value)
        except ValueError:
            return False
    return True


# --- small formatting helpers -----------------------------------------------------------------

def fmt_time(minutes: int) -> str:
    m = minutes % MINUTES_PER_DAY
    return f"{m // 60:02d}.{m % 60:02d}"


def fmt_amount(ore: int) -> str:
    return f"{ore // 100}.{ore % 100:02d}"


def month_str(year: int, month: int) -> str:
    return f"{year:04d}-{month:02d}"


def _pick(rng: np.random.Generator, items: Sequence, p: Sequence[float] | None = None):
    if p is not None:
        w = np.asarray(p, dtype=float)
        return items[int(rng.choice(len(items), p=w / w.sum()))]
    return items[int(rng.integers(len(items)))]


# --- names, phones, places --------------------------------------------------------------------

FIRST_NAMES = (
    "Anna", "Eva", "Maria", "Karin", "Sara", "Lena", "Emma", "Kerstin", "Ingrid", "Malin", "Linnea",
    "Elin", "Johanna", "Sofia", "Fatima", "Amira", "Hanna", "Ida", "Birgitta", "Marie", "Aisha", "Jelena",
    "Erik", "Lars", "Karl", "Anders", "Johan", "Per", "Mikael", "Nils", "Olof", "Jonas", "Ahmed",
    "Mohammed", "Ali", "Oskar", "Viktor", "Emil", "Hassan", "Goran", "Mats", "Fredrik", "Björn", "Åke",
)
LAST_NAMES = (
    "Andersson", "Johansson", "Karlsson", "Nilsson", "Eriksson", "Larsson", "Olsson", "Persson",
    "Svensson", "Gustafsson", "Pettersson", "Jonsson", "Lindberg", "Lindqvist", "Berg", "Lundgren",
    "Sandberg", "Forsberg", "Holm", "Engström", "Hussein", "Ali", "Mohamed", "Nordström", "Åberg",
    "Öberg", "Bergström", "Sjöberg", "Ekström", "Kovačević", "Yilmaz", "Nguyen", "Virtanen", "Lind",
)
PLACES = (
    "Östersund", "Umeå", "Luleå", "Sundsvall", "Gävle", "Uppsala", "Västerås", "Örebro", "Karlstad",
    "Linköping", "Norrköping", "Jönköping", "Växjö", "Kalmar", "Malmö", "Lund", "Helsingborg",
    "Göteborg", "Borås", "Halmstad", "Falun", "Borlänge", "Skövde", "Visby", "Kiruna",
)
PROVIDER_WORDS = (
    "Assistans", "Omsorg", "Assistanspartner", "Vardaga Assistans", "Livskvalitet", "Trygg Assistans",
    "Personlig Assistans", "Hemassistans", "Frihet Assistans", "Omtanke", "Nära Assistans",
)
# Addresses outside the EEA (bosatt_utanfor_ees.adress): Switzerland, the UK, Türkiye, Serbia…
ADDRESSES_ABROAD = (
    "Bahnhofstrasse 21, 8001 Zürich, Schweiz",
    "12 Baker Street, London NW1 6XE, Storbritannien",
    "Atatürk Cad. 45, 35210 İzmir, Turkiet",
    "Knez Mihailova 8, 11000 Beograd, Serbien",
    "Ferhadija 14, 71000 Sarajevo, Bosnien och Hercegovina",
    "Rue du Rhône 3, 1204 Genève, Schweiz",
    "Sukhumvit Soi 11, Bangkok 10110, Thailand",
)


def random_name(rng: np.random.Generator) -> str:
    return f"{_pick(rng, FIRST_NAMES)} {_pick(rng, LAST_NAMES)}"


def random_phone(rng: np.random.Generator) -> str:
    """A Swedish phone number written the way people write them."""
    d = lambda n: "".join(str(int(x)) for x in rng.integers(0, 10, size=n))  # noqa: E731
    style = int(rng.integers(0, 5))
    if style == 0:
        return f"07{_pick(rng, '02369')}-{d(3)} {d(2)} {d(2)}"
    if style == 1:
        return f"07{_pick(rng, '02369')}{d(7)}"
    if style == 2:
        return f"07{_pick(rng, '02369')}-{d(7)}"
    if style == 3:
        return f"08-{d(3)} {d(2)} {d(2)}"
    return f"0{_pick(rng, ['31', '40', '18', '63', '90', '13', '19'])}-{d(2)} {d(2)} {d(2)}"


def provider_name(rng: np.random.Generator, orgnr: str) -> str:
    place = _pick(rng, PLACES)
    word = _pick(rng, PROVIDER_WORDS)
    if orgnr[0] == "2":
        return f"{place} kommun"
    if orgnr[0] == "7":
        return f"{word} {place} ek. för."
    if orgnr[0] == "8":
        return f"Stiftelsen {word} {place}"
    if orgnr[0] == "9":
        return f"{word} {place} HB"
    return f"{word} i {place} AB"


# --- shifts -----------------------------------------------------------------------------------

Row = TimeRow  # one line of a 3059: an interval of one kind, starting on ``day``


def totals(rows: Iterable[Row]) -> dict[str, int]:
    """Minutes of each kind; a row crossing midnight counts to its end on the next day."""
    out = {k: 0 for k in TIME_KINDS}
    for r in rows:
        out[r.kind] += r.minutes
    return out


def split_hm(minutes: int) -> tuple[int, int]:
    return minutes // 60, minutes % 60


H = 60  # minutes per hour, for readable shift tables below
# Start and length choices (minutes) of the three kinds of shift; times stay on 5/15/30-minute marks.
DAY_STARTS = (6 * H + 30, 7 * H, 7 * H, 7 * H, 7 * H + 30, 8 * H, 9 * H)
DAY_LENGTHS = (6 * H, 7 * H, 8 * H, 8 * H, 8 * H, 8 * H + 30)
EVENING_STARTS = (14 * H, 14 * H + 30, 15 * H, 15 * H, 15 * H + 15, 16 * H)
EVENING_ENDS = (21 * H, 21 * H + 30, 22 * H, 22 * H, 22 * H)
NIGHT_STARTS = (21 * H + 30, 22 * H, 22 * H, 22 * H, 23 * H)
NIGHT_ENDS = (6 * H + 30, 7 * H, 7 * H, 7 * H + 30, 8 * H)
# Small changes to an end time, mostly none: 5-, 10-, 15- and 30-minute marks.
END_JITTER = (0,) * 8 + (5, -5, 10, -10, 15, -15, 30, -30)
# How a night is worked: awake (aktiv), on call (beredskap, one row or split by a call-out),
# or waiting (väntetid between active hours at both ends).
NIGHT_VARIANTS = ("vaken", "beredskap", "beredskap_utryckning", "vantetid")


def _segments(day: int, parts: Sequence[tuple[int, int, str]]) -> list[Row]:
    """Rows from intervals in minutes after midnight of ``day`` (≥ 1440: the next day); a row
    starts on the day its start falls on and may end after midnight."""
    return [Row(day + a // MINUTES_PER_DAY, a % MINUTES_PER_DAY, b % MINUTES_PER_DAY, kind) for a, b, kind in parts]


def _shift_rows(rng: np.random.Generator, slot: str, day: int, night_variant: str) -> list[Row]:
    if slot == "day":
        start = _pick(rng, DAY_STARTS)
        return _segments(day, [(start, start + _pick(rng, DAY_LENGTHS) + _pick(rng, END_JITTER), "aktiv")])
    if slot == "evening":
        return _segments(day, [(_pick(rng, EVENING_STARTS), _pick(rng, EVENING_ENDS) + _pick(rng, END_JITTER), "aktiv")])
    start, end = _pick(rng, NIGHT_STARTS), MINUTES_PER_DAY + _pick(rng, NIGHT_ENDS)
    if night_variant == "vaken":
        return _segments(day, [(start, end, "aktiv")])
    if night_variant == "beredskap":
        if rng.random() < 0.6:
            return _segments(day, [(start, end, "beredskap")])  # 22.00–07.00 as one row
        wake = end - _pick(rng, (30, 60))
        return _segments(day, [(start, wake, "beredskap"), (wake, end, "aktiv")])
    if night_variant == "beredskap_utryckning":
        call = MINUTES_PER_DAY + _pick(rng, (1 * H, 2 * H, 2 * H + 30, 3 * H))
        back = call + _pick(rng, (30, 45, 60, 90))
        return _segments(day, [(start, call, "beredskap"), (call, back, "aktiv"), (back, end, "beredskap")])
    # vantetid: active at the start and end of the night, waiting in between
    wait_from = start + _pick(rng, (60, 90))
    wait_to = end - _pick(rng, (30, 60))
    return _segments(day, [(start, wait_from, "aktiv"), (wait_from, wait_to, "vantetid"), (wait_to, end, "aktiv")])


def plan_month(rng: np.random.Generator, year: int, month: int, row_caps: Sequence[int]) -> list[list[Row]]:
    """A month of shifts for one person's assistants, one list of rows per assistant, each at
    most ``row_caps[i]`` rows (the rows of that assistant's form). No assistant works two
    shifts in one day or a day shift right after a night shift; nights do not start on the
    last day of the month (they would end in the next month)."""
    ndays = calendar.monthrange(year, month)[1]
    p_day, p_evening = rng.uniform(0.6, 1.0), rng.uniform(0.4, 0.95)
    p_night = _pick(rng, (0.0, 0.0, 0.3, 0.8, 1.0))
    night_weights = rng.dirichlet((4.0, 3.0, 1.5, 1.5))
    slots = []
    for d in range(1, ndays + 1):
        for slot, p in (("day", p_day), ("evening", p_evening), ("night", p_night)):
            if slot == "night" and d == ndays:
                continue
            if rng.random() < p:
                slots.append((d, slot))
    order = rng.permutation(len(slots))
    n = len(row_caps)
    target = [int(rng.integers(5, 21)) for _ in range(n)]  # shifts per assistant this month
    taken: list[dict[int, str]] = [{} for _ in range(n)]
    rows: list[list[Row]] = [[] for _ in range(n)]
    for i in order:
        d, slot = slots[int(i)]
        variant = _pick(rng, NIGHT_VARIANTS, night_weights)
        shift = _shift_rows(rng, slot, d, variant)
        ok = []
        for a in range(n):
            t = taken[a]
            if len(t) >= target[a] or len(rows[a]) + len(shift) > row_caps[a] or d in t:
                continue
            if slot == "day" and t.get(d - 1) == "night":
                continue
            if slot == "night" and t.get(d + 1) == "day":
                continue
            ok.append(a)
        if not ok:
            continue
        a = ok[int(rng.choice(len(ok), p=np.array([target[x] - len(taken[x]) for x in ok], float)
                              / sum(target[x] - len(taken[x]) for x in ok)))]
        taken[a][d] = slot
        rows[a].extend(shift)
    return [sorted(r, key=lambda x: (x.day, x.start)) for r in rows]


# --- the case ---------------------------------------------------------------------------------

@dataclass
class Provider:
    name: str
    orgnr: str
    kontaktperson: str
    telefon: str


@dataclass
class Assistant:
    name: str
    personnummer: str
    telefon: str
    kollektivavtal: bool
    employment: str  # arbetsgivare answer: ja | nej_uppdragsgivare | nej_egenforetagare
    employer: Provider | None = None  # the other employer when nej_uppdragsgivare
    rows: list[Row] = field(default_factory=list)
    version: str = ""  # layout of this assistant's 3059
    signed: date | None = None


@dataclass
class Case:
    case_id: str
    kind: str  # "time" (a 3057 and its 3059s) | "3066" | "3080"
    person_name: str
    person_pnr: str
    person_phone: str
    provider: Provider | None  # None: the person employs the assistants (anordnare.sjalv)
    assistants: list[Assistant]
    received: date
    month: str | None = None
    payment: str = "efterskott"  # efterskott | forskott (advance payment)


def _random_month(rng: np.random.Generator) -> tuple[int, int]:
    first = EARLIEST_MONTH[0] * 12 + EARLIEST_MONTH[1] - 1
    last = LATEST_MONTH[0] * 12 + LATEST_MONTH[1] - 1
    i = int(rng.integers(first, last + 1))
    return i // 12, i % 12 + 1


def _random_provider(rng: np.random.Generator) -> Provider:
    orgnr = random_organisationsnummer(rng)
    return Provider(provider_name(rng, orgnr), orgnr, random_name(rng), random_phone(rng))


def _random_assistant(rng: np.random.Generator, self_employed_person: bool) -> Assistant:
    samordning = rng.random() < 0.04
    employment = "ja"
    employer = None
    if not self_employed_person:
        employment = _pick(rng, ("ja", "nej_uppdragsgivare", "nej_egenforetagare"), (0.88, 0.07, 0.05))
        if employment == "nej_uppdragsgivare":
            employer = _random_provider(rng)
    return Assistant(
        name=random_name(rng),
        personnummer=random_personnummer(rng, born_between=(1955, 2005), samordning=samordning),
        telefon=random_phone(rng),
        kollektivavtal=bool(rng.random() < 0.8),
        employment=employment,
        employer=employer,
    )


def _table_rows(template: FormTemplate, table: str = "rows") -> int:
    return len({f.row for f in template.fields_by_id.values() if f.table == table})


# --- values of each form ----------------------------------------------------------------------

def _identity_values(case: Case, a: Assistant | None) -> dict[str, Value]:
    v: dict[str, Value] = {"person.name": case.person_name, "person.personnummer": case.person_pnr}
    if a is not None:
        v["assistent.name"] = a.name
        v["assistent.personnummer"] = a.personnummer
    return v


def _anordnare_values(case: Case, a: Assistant) -> dict[str, Value]:
    if case.provider is None:
        return {"anordnare.sjalv": True}
    p = case.provider
    v: dict[str, Value] = {
        "anordnare.anlitar": True, "anordnare.name": p.name, "anordnare.orgnr": p.orgnr,
        "anordnare.kontaktperson": p.kontaktperson, "anordnare.telefon": p.telefon,
        f"arbetsgivare.{a.employment}": True,
    }
    if a.employment == "nej_uppdragsgivare" and a.employer is not None:
        v["arbetsgivare.name"] = a.employer.name
        v["arbetsgivare.orgnr"] = a.employer.orgnr
    return v


def _running_headers(template: FormTemplate, month: str | None, a_pnr: str | None, p_pnr: str) -> dict[str, Value]:
    v: dict[str, Value] = {}
    for fid in template.fields_by_id:
        m = re.match(r"^p\d+\.(year_month|assistent_personnummer|person_personnummer)$", fid)
        if not m:
            continue
        val = {"year_month": month, "assistent_personnummer": a_pnr, "person_personnummer": p_pnr}[m.group(1)]
        if val:
            v[fid] = val
    return v


def _berakningsperiod(rng: np.random.Generator, year: int, month: int) -> dict[str, Value]:
    """0–6 calculation periods around the month: none (most), the month, or 4-week periods."""
    choice = _pick(rng, ("none", "month", "weeks"), (0.55, 0.25, 0.20))
    if choice == "none":
        return {}
    first, last = date(year, month, 1), month_end(year, month)
    if choice == "month":
        pairs = [(first, last)]
    else:
        start = first - timedelta(days=int(rng.integers(0, 28)))
        pairs = []
        while start <= last and len(pairs) < 6:
            pairs.append((start, start + timedelta(days=27)))
            start += timedelta(days=28)
    v: dict[str, Value] = {}
    for i, (f, t) in enumerate(pairs, 1):
        v[f"berakningsperiod.{i}.from"] = f.isoformat()
        v[f"berakningsperiod.{i}.tom"] = t.isoformat()
    return v


def _hm_values(prefix: str, minutes: dict[str, int]) -> dict[str, Value]:
    v: dict[str, Value] = {}
    for k, m in minutes.items():
        if m:
            h, mi = split_hm(m)
            v[f"{prefix}.{k}.timmar"] = str(h)
            v[f"{prefix}.{k}.minuter"] = str(mi)
    return v


def values_3059(template: FormTemplate, case: Case, a: Assistant, rng: np.random.Generator) -> dict[str, Value]:
    y, m = (int(x) for x in case.month.split("-"))
    v: dict[str, Value] = {"header.year_month": case.month}
    v |= _identity_values(case, a)
    v[f"kollektivavtal.{'ja' if a.kollektivavtal else 'nej'}"] = True
    v |= _berakningsperiod(rng, y, m)
    v |= _anordnare_values(case, a)
    signer_phone = case.provider.telefon if case.provider else case.person_phone
    provider_signed = a.signed + timedelta(days=int(rng.integers(0, 4)))
    v |= {"underskrift.datum": provider_signed.isoformat(), "underskrift.signatur": True,
          "underskrift.telefon": signer_phone}
    v |= _running_headers(template, case.month, a.personnummer, case.person_pnr)
    for n, r in enumerate(a.rows, 1):
        v[f"rows.{n}.dag"] = str(r.day)
        v[f"rows.{n}.from"] = fmt_time(r.start)
        v[f"rows.{n}.tom"] = fmt_time(r.end)
        v[f"rows.{n}.{r.kind}"] = True
    v |= _hm_values("summa", totals(a.rows))
    v |= {"assistent_underskrift.datum": a.signed.isoformat(), "assistent_underskrift.signatur": True,
          "assistent_underskrift.telefon": a.telefon}
    return v


# Cost per hour of each cost type (kronor), drawn uniformly; they add up to about FK's
# schablonbelopp (2024: 335.50 kr/h).
COST_PER_HOUR_KR = {
    "lon": (240.0, 275.0), "ob": (15.0, 32.0), "omkostnader": (3.0, 10.0),
    "utbildning": (1.0, 5.0), "arbetsmiljo": (1.0, 5.0), "administration": (10.0, 30.0),
}


def _cost_values(rng: np.random.Generator, hours: int) -> dict[str, Value]:
    """Point 9: per-hour and period costs in öre arithmetic, summa = the sum of the rows,
    per hour = period / hours rounded to öre."""
    hours = max(hours, 1)
    v: dict[str, Value] = {}
    sum_rate = sum_period = 0
    for typ, (lo, hi) in COST_PER_HOUR_KR.items():
        period = int(round(rng.uniform(lo, hi) * hours * 100))
        rate = int(round(period / hours))
        v[f"kostnad.{typ}.per_timme"] = fmt_amount(rate)
        v[f"kostnad.{typ}.period"] = fmt_amount(period)
        sum_rate += rate
        sum_period += period
    v["kostnad.summa.per_timme"] = fmt_amount(sum_rate)
    v["kostnad.summa.period"] = fmt_amount(sum_period)
    v["kostnad.antal_timmar"] = str(hours)
    return v


def values_3057(template: FormTemplate, case: Case, rng: np.random.Generator, signed: date) -> dict[str, Value]:
    y, m = (int(x) for x in case.month.split("-"))
    v: dict[str, Value] = {"header.year_month": case.month}
    v |= _identity_values(case, None)
    minutes = {k: 0 for k in TIME_KINDS}
    for a in case.assistants:
        for k, mi in totals(a.rows).items():
            minutes[k] += mi
    v |= _hm_values("tid", minutes)
    v[f"daglig_verksamhet.{'ja' if rng.random() < 0.25 else 'nej'}"] = True
    if rng.random() < 0.06:  # a hospital stay this month
        v["sjukhus.ja"] = True
        ndays = calendar.monthrange(y, m)[1]
        d0 = int(rng.integers(1, ndays - 1))
        d1 = min(ndays, d0 + int(rng.integers(1, 6)))
        v |= {"sjukhus.1.from_datum": date(y, m, d0).isoformat(), "sjukhus.1.from_tid": fmt_time(_pick(rng, (8 * H, 10 * H + 30, 14 * H, 19 * H + 15))),
              "sjukhus.1.tom_datum": date(y, m, d1).isoformat(), "sjukhus.1.tom_tid": fmt_time(_pick(rng, (9 * H, 12 * H, 15 * H + 30)))}
    elif rng.random() < 0.7:
        v["sjukhus.nej"] = True
    if rng.random() < 0.02:
        v["utanfor_ees.ja"] = True
    self_employed = case.provider is None
    hours_month = int(round(sum(minutes.values()) / 60))
    if self_employed and case.payment == "efterskott":
        if rng.random() < 0.6:
            v["efterskott.ja"] = True
        else:
            v["efterskott.nej"] = True
            v["efterskott.kvar_kronor"] = fmt_amount(int(rng.integers(50, 20000)) * 100 + _pick(rng, (0, 0, 50, 25)))
        v |= _cost_values(rng, hours_month)
    elif self_employed and case.payment == "forskott" and rng.random() < 0.35:  # end of a grant period
        n = int(_pick(rng, (6, 6, 6, 3, 4, 5)))
        fy, fm = add_months(y, m, -(n - 1))
        v["forskott.from"] = month_str(fy, fm)
        v["forskott.tom"] = case.month
        v |= _cost_values(rng, int(round(hours_month * n * rng.uniform(0.9, 1.1))))
        if rng.random() < 0.5:
            v["forskott.kvar_nej"] = True
        else:
            v["forskott.kvar_ja"] = True
            v["forskott.kvar_kronor"] = fmt_amount(int(rng.integers(500, 60000)) * 100)
            v[_pick(rng, ("aterbetalning.avdrag", "aterbetalning.utred"))] = True
    signer_phone = case.person_phone
    # A representative signs for a child, or for an adult with god man / förvaltare.
    born = Personnummer.parse(case.person_pnr).birth_date
    role = None
    if (signed - born).days < 18 * 365:
        role = "vardnadshavare"
    elif rng.random() < 0.12:
        role = _pick(rng, ("god_man", "forvaltare"))
    if role:
        v[f"foretradare.{role}"] = True
        v["foretradare.name"] = random_name(rng)
        v["foretradare.personnummer"] = random_personnummer(rng, born_between=(1950, 1995))
        signer_phone = random_phone(rng)
    v |= {"underskrift.datum": signed.isoformat(), "underskrift.signatur": True, "underskrift.telefon": signer_phone}
    v |= _running_headers(template, case.month, None, case.person_pnr)
    return v


def values_3066(template: FormTemplate, case: Case, rng: np.random.Generator, *, retroactive: bool) -> dict[str, Value]:
    a = case.assistants[0]
    received = case.received
    signed = received - timedelta(days=int(rng.integers(1, 6)))
    v: dict[str, Value] = _identity_values(case, a)
    if retroactive:
        # Assistance began before FK's decision: a past period, the employment began at its start.
        start = signed - timedelta(days=int(rng.integers(30, 180)))
        end = signed - timedelta(days=int(rng.integers(0, 20)))
        employed = start - timedelta(days=int(rng.integers(0, 15)))
        v["retroaktiv.from"] = start.isoformat()
        v["retroaktiv.tom"] = end.isoformat()
        v["omfattning.timmar_per_vecka"] = str(int(_pick(rng, (10, 16, 20, 25, 30, 35, 38, 40))))
    elif rng.random() < 0.15:  # a change for an assistant already employed
        employed = signed - timedelta(days=int(rng.integers(60, 900)))
        v["andring.from"] = (signed + timedelta(days=int(rng.integers(1, 30)))).isoformat()
    else:  # a new assistant: reported before the assistance starts
        employed = received + timedelta(days=int(rng.integers(1, 30)))
    v["assistent.anstallningsdatum"] = employed.isoformat()
    v["narstaende.ja" if rng.random() < 0.15 else "narstaende.nej"] = True
    if rng.random() < 0.05:
        v["bosatt_utanfor_ees.ja"] = True
        v["bosatt_utanfor_ees.adress"] = _pick(rng, ADDRESSES_ABROAD)
    else:
        v["bosatt_utanfor_ees.nej"] = True
    v |= _anordnare_values(case, a)
    signer_phone = case.provider.telefon if case.provider else case.person_phone
    v |= {"underskrift.datum": signed.isoformat(), "underskrift.signatur": True, "underskrift.telefon": signer_phone}
    v |= _running_headers(template, None, a.personnummer, case.person_pnr)
    return v


def _only_template_fields(template: FormTemplate, values: dict[str, Value]) -> dict[str, Value]:
    v = {k: x for k, x in values.items() if k in template.fields_by_id}
    # A kind of time with no minutes is left empty, unless the template requires it: then "0".
    for viol in check_rules(template, v):
        f = template.fields_by_id[viol.target] if viol.target in template.fields_by_id else None
        if viol.code == "empty_required" and f is not None and f.kind in (FieldKind.hours, FieldKind.minutes) \
                and re.match(r"^(summa|tid)\.", f.id):
            v[f.id] = "0"
    return v


# --- faults -----------------------------------------------------------------------------------

def _required_now(template: FormTemplate, values: dict[str, Value]) -> list[ExpandedField]:
    rows = filled_rows(values)
    return [f for f in template.fields_by_id.values() if field_required(template, values, f, rows=rows)]


def _shift_hm(values: dict[str, Value], prefix: str, kind: str, rng: np.random.Generator) -> bool:
    """Change the hours/minutes written for one kind by a plausible slip (never to the same
    value, never negative)."""
    h = values.get(f"{prefix}.{kind}.timmar", "0")
    mi = values.get(f"{prefix}.{kind}.minuter", "0")
    total = int(h) * 60 + int(mi)
    for _ in range(20):
        delta = _pick(rng, (-120, -60, -30, -15, 15, 30, 60, 120, 480))
        if total + delta >= 0 and delta != 0:
            break
    else:
        return False
    nh, nm = split_hm(total + delta)
    values[f"{prefix}.{kind}.timmar"] = str(nh)
    values[f"{prefix}.{kind}.minuter"] = str(nm)
    return True


def apply_fault(doc: DocumentTruth, template: FormTemplate, fault: str, rng: np.random.Generator) -> bool:
    """Put one fault on a document (values changed to match); False if it cannot have it.
    Call :meth:`DocumentTruth.finalize` afterwards."""
    if fault not in FAULTS:
        raise ValueError(f"unknown fault {fault!r}; known: {', '.join(FAULTS)}")
    if doc.form not in FAULT_FORMS[fault] or fault in doc.faults:
        return False
    v = doc.values
    fields = template.fields_by_id
    if fault == "missing_signature":
        cands = [f.id for f in _required_now(template, v) if f.kind == FieldKind.signature and v.get(f.id) is True]
        if not cands:
            return False
        v[_pick(rng, cands)] = False
    elif fault == "unmarked_mandatory":
        cands = [g for g, _ in template_groups(template)
                 if g.id in MANDATORY_GROUPS and g.rule == "exactly_one"
                 and all(condition_holds(template, v, c) for c in g.required_when)
                 and any(v.get(m) is True for m in g.members)]
        if not cands:
            return False
        g = _pick(rng, cands)
        for m in g.members:
            v.pop(m, None)
    elif fault == "empty_required":
        cands = [f.id for f in _required_now(template, v)
                 if f.table is None and f.kind not in (FieldKind.signature, FieldKind.checkbox) and is_filled(v, f.id)]
        preferred = [c for c in EMPTY_REQUIRED_PREFERRED if c in cands]
        if not cands:
            return False
        del v[_pick(rng, preferred or cands)]
    elif fault == "illegible":
        cands = [k for k, x in v.items() if isinstance(x, str) and k not in doc.illegible
                 and is_handwritten(doc.style, k, fields[k].kind)]
        if not cands:
            return False
        doc.illegible.append(_pick(rng, sorted(cands)))
    elif fault == "bad_luhn":
        main = [k for k, x in v.items() if isinstance(x, str) and not re.match(r"^p\d+\.", k)
                and fields[k].kind in (FieldKind.personnummer, FieldKind.organisationsnummer)]
        if not main:
            return False
        k = _pick(rng, sorted(main))
        good = v[k]
        bad = corrupt_check_digit(good, rng)
        for other in [o for o, x in v.items() if x == good]:  # written the same way everywhere
            v[other] = bad
    elif fault in ("totals_mismatch", "summa_mismatch"):
        # 3057 point 2 ("tid") or 3059 page 3 ("summa") no longer adds up: shift one kind
        prefix = "tid" if fault == "totals_mismatch" else "summa"
        kinds = [k for k in TIME_KINDS if f"{prefix}.{k}.timmar" in fields]
        if not kinds:
            return False
        nonzero = [k for k in kinds if is_filled(v, f"{prefix}.{k}.timmar")]
        if not _shift_hm(v, prefix, _pick(rng, nonzero or kinds), rng):
            return False
    elif fault == "late":
        if doc.month is None:
            return False
        doc.received_date = (deadline_for(doc.month) + timedelta(days=int(rng.integers(1, 75)))).isoformat()
    doc.faults.append(fault)
    return True


def draw_fault(doc: DocumentTruth, rng: np.random.Generator) -> list[str]:
    """The faults this document could have, in a random order weighted by FAULT_WEIGHTS."""
    cands = [f for f in FAULTS if doc.form in FAULT_FORMS[f] and (f != "illegible" or doc.style != "typed")]
    w = np.array([FAULT_WEIGHTS[f] for f in cands])
    order = rng.choice(len(cands), size=len(cands), replace=False, p=w / w.sum())
    return [cands[int(i)] for i in order]


# --- the generator ----------------------------------------------------------------------------

def _version_weights(registry: TemplateRegistry, form: str, versions: dict | None) -> tuple[list[str], list[float]]:
    """Layout versions of a form and their shares: from ``versions`` ({form: version} or
    {form: {version: weight}}), else the newest 85 % and the older ones share 15 %."""
    known = sorted(t.version for t in registry if t.form == form)
    if not known:
        raise ValueError(f"no template of form {form} in the registry")
    spec = (versions or {}).get(form)
    if isinstance(spec, str):
        registry.get(form, spec)
        return [spec], [1.0]
    if isinstance(spec, dict):
        for ver in spec:
            registry.get(form, ver)
        return list(spec), [float(x) for x in spec.values()]
    if len(known) == 1:
        return known, [1.0]
    older = 0.15 / (len(known) - 1)
    return known, [older] * (len(known) - 1) + [0.85]


def _draw_style(rng: np.random.Generator, styles: Sequence[str]) -> str:
    return _pick(rng, list(styles), [STYLE_WEIGHTS.get(s, 1 / 3) for s in styles])


def _person(rng: np.random.Generator) -> tuple[str, str, str]:
    return random_name(rng), random_personnummer(rng, born_between=(1940, 2018)), random_phone(rng)


def build_time_case(registry: TemplateRegistry, rng: np.random.Generator, case_id: str, n_assistants: int,
                    *, versions: dict | None = None) -> Case:
    """A person's month: 1–4 assistants with their shifts, a provider or self-employment."""
    y, m = _random_month(rng)
    name, pnr, phone = _person(rng)
    provider = _random_provider(rng) if rng.random() < 0.8 else None
    vers, w = _version_weights(registry, "3059", versions)
    version = _pick(rng, vers, w)  # one provider, one layout
    cap = _table_rows(registry.get("3059", version))
    assistants = [_random_assistant(rng, provider is None) for _ in range(n_assistants)]
    for a, rows in zip(assistants, plan_month(rng, y, m, [cap] * n_assistants)):
        a.rows = rows
        a.version = version
        a.signed = month_end(y, m) + timedelta(days=int(rng.integers(0, 6)))
    latest_sign = max(a.signed for a in assistants) + timedelta(days=4)
    received = min(latest_sign + timedelta(days=int(rng.integers(1, 15))), deadline_for(month_str(y, m)))
    return Case(case_id, "time", name, pnr, phone, provider, assistants, received, month_str(y, m),
                payment="forskott" if provider is None and rng.random() < 0.6 else "efterskott")


def build_registration_case(rng: np.random.Generator, case_id: str, form: str) -> Case:
    name, pnr, phone = _person(rng)
    provider = _random_provider(rng) if rng.random() < 0.75 else None
    a = _random_assistant(rng, provider is None)
    y, m = _random_month(rng)
    received = date(y, m, int(rng.integers(1, 29)))
    return Case(case_id, form, name, pnr, phone, provider, [a], received)


def case_documents(registry: TemplateRegistry, case: Case, rng: np.random.Generator, styles: Sequence[str],
                   *, versions: dict | None = None) -> list[DocumentTruth]:
    """The fault-free documents of a case: a 3057 and one 3059 per assistant, or one 3066/3080."""
    docs: list[DocumentTruth] = []

    def make(form: str, version: str, n: int, values: dict[str, Value]) -> DocumentTruth:
        t = registry.get(form, version)
        return DocumentTruth(
            doc_id=f"{case.case_id}-{form}-{n}", form=form, version=version, style=_draw_style(rng, styles),
            case_id=case.case_id, month=case.month, received_date=case.received.isoformat(),
            values=_only_template_fields(t, values))

    if case.kind == "time":
        vers, w = _version_weights(registry, "3057", versions)
        v57 = _pick(rng, vers, w)
        signed = max(a.signed for a in case.assistants) + timedelta(days=int(rng.integers(0, 4)))
        docs.append(make("3057", v57, 1, values_3057(registry.get("3057", v57), case, rng, signed)))
        for n, a in enumerate(case.assistants, 1):
            docs.append(make("3059", a.version, n, values_3059(registry.get("3059", a.version), case, a, rng)))
    else:
        vers, w = _version_weights(registry, case.kind, versions)
        ver = _pick(rng, vers, w)
        docs.append(make(case.kind, ver, 1, values_3066(registry.get(case.kind, ver), case, rng,
                                                          retroactive=case.kind == "3080")))
    return docs


def _case_flags(case: Case, doc: DocumentTruth) -> list[str]:
    if doc.form in ("3066", "3080") and Personnummer.parse(case.assistants[0].personnummer).is_samordningsnummer:
        return ["samordningsnummer"]
    return []


# Share of *cases* that are registrations (3066 / 3080, one document each); the rest are
# monthly time cases of 2–5 documents, so about 8 % of documents are 3066s and 3 % 3080s.
REGISTRATION_SHARE = {"3066": 0.20, "3080": 0.08}
ASSISTANTS_PER_CASE = ((1, 2, 3, 4), (0.30, 0.35, 0.20, 0.15))


def generate_documents(
    registry: TemplateRegistry,
    rng: np.random.Generator,
    count: int,
    *,
    fault_rate: float = 0.25,
    styles: Sequence[str] = ("typed", "hand", "mixed"),
    versions: dict | None = None,
) -> list[DocumentTruth]:
    """``count`` sample documents: mostly a 3057 with its 3059s per case, some 3066 and 3080.

    Each document gets a fault with probability ``fault_rate`` (a late case is late for all its
    documents). Every document satisfies its template's rules unless a fault says otherwise.
    """
    for s in styles:
        if s not in STYLE_WEIGHTS:
            raise ValueError(f"unknown style {s!r}; known: {', '.join(STYLE_WEIGHTS)}")
    forms = set(registry.forms())
    out: list[DocumentTruth] = []
    case_no = 0
    while len(out) < count:
        case_no += 1
        case_id = f"c{case_no:04d}"
        left = count - len(out)
        r = rng.random()
        reg_forms = [f for f in REGISTRATION_SHARE if f in forms]
        kind = "time"
        cum = 0.0
        for f in reg_forms:
            cum += REGISTRATION_SHARE[f]
            if r < cum:
                kind = f
                break
        if kind == "time" and (left < 2 or not {"3057", "3059"} <= forms):
            if not reg_forms:
                break
            kind = reg_forms[0]
        if kind == "time":
            n = int(_pick(rng, *ASSISTANTS_PER_CASE))
            case = build_time_case(registry, rng, case_id, min(n, left - 1), versions=versions)
        else:
            case = build_registration_case(rng, case_id, kind)
        docs = case_documents(registry, case, rng, styles, versions=versions)
        for d in docs:
            if rng.random() < fault_rate:
                t = registry.get(d.form, d.version)
                for fault in draw_fault(d, rng):
                    if apply_fault(d, t, fault, rng):
                        break
        late = next((d for d in docs if "late" in d.faults), None)
        for d in docs:
            if late is not None and d is not late:
                d.received_date = late.received_date
                if "late" not in d.faults:
                    d.faults.append("late")
            d.finalize(_case_flags(case, d))
        out.extend(docs)
    return out
