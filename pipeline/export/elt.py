"""A read 3059 as FK's electronic time report (ELT): the ``Tidredovisning`` XML.

FK's electronic channel for assistansersättning takes one ``Tidredovisning`` per assistant and
month (schema ``tidredovisning_extern_v1.xsd``, version 1.8, namespace :data:`NAMESPACE`). A
paper 3059 read by the pipeline is exported in the same shape, so that paper and electronic
reports reach validation in one format. :func:`tidredovisning_xml` builds it from the canonical
values of a read 3059 (keyed by the field ids of ``forms/3059/*.yaml``, layouts 016 F 003 and
015 F 001 alike); :func:`schema_errors` checks a document against FK's XSD.

The paper form and the schema do not say everything the same way; these are the choices made:

* **Names.** The paper has one line, "Förnamn och efternamn"; the schema wants ``fornamn`` and
  ``efternamn``. The name is split at its *last* space: "Anna Maria Svensson" → fornamn "Anna
  Maria", efternamn "Svensson" (a double surname written with a space, "Karin af Klint", is
  split wrongly; FK identifies people by their number, not their name). A name of one word
  goes whole into ``efternamn`` with an empty ``fornamn``. Runs of white space become one space.
* **Samordningsnummer.** An assistant whose number has the day of birth + 60
  (``Personnummer.parse(...).is_samordningsnummer``) is written as ``samordningsnummer``
  instead of ``personnummer``. The person who has assistance has only ``personnummer`` in the
  schema, so a samordningsnummer of theirs is written there (FK's pattern is the same 12 digits).
* **Rows.** Each used row (any of its fields filled in) becomes one ``rapportRad`` with ``dag``,
  ``fromTid``, ``tomTid`` and exactly one of ``aktivTid`` / ``vanteTid`` / ``beredskapsTid``,
  in the order of the paper's rows. A row with no kind or more than one kind marked, a missing
  day or time, a day that is not in the month, or equal from and to times (nothing, or 24 hours?)
  raises ``ValueError`` naming the row: the caller exports only records that passed validation.
* **Midnight.** A row whose end is not after its start (22.00–07.00) crosses midnight and is
  split at 24.00 into two ``rapportRad`` of the same kind: ``dag`` from–24.00 and ``dag + 1``
  00.00–tom (an end of exactly 00.00 gives only the first). The schema's ``Dag`` is 1..31 and
  names a day of the report's month, so a row that crosses midnight on the month's *last* day
  cannot be written: the time after 24.00 belongs to the next month's report. Such a row raises
  ``ValueError`` (nothing is dropped or moved to a day that does not exist); the paper form
  should have had the row split across the two months' reports.
* **Anordnare.** ``anordnare.sjalv`` → ``anstalldAvPersonSomHarAssistans`` (provider fields, if
  any, are not written: the paper says to leave them empty). ``anordnare.anlitar`` →
  ``assistansanordnare`` with the provider's name, organisationsnummer, contact person and phone,
  and the answer to "Är anordnaren arbetsgivare för assistenten?": ``arbetsgivare.ja`` →
  ``assistentAnstalldAvAnordnare``, ``arbetsgivare.nej_uppdragsgivare`` → ``annanArbetsgivare``
  (name, organisationsnummer), ``arbetsgivare.nej_egenforetagare`` → ``assistentEgenForetagare``.
* **Kollektivavtal.** ``kollektivavtal.ja`` → true, ``kollektivavtal.nej`` → false (exactly one).
* **Phones.** ``telefonnummerAnordnare`` (required by the schema) is the phone of the page-1
  signature, ``underskrift.telefon`` (the provider's, or the person's who employs the assistant
  themself), or ``anordnare.telefon`` when that is empty. ``telefonnummerAssistent`` is
  ``assistent_underskrift.telefon`` (left out when empty). Phones are written as on the paper.
* **Beräkningsperiod.** Each filled pair ``berakningsperiod.N.from`` / ``.tom`` (N = 1..6, in
  order) becomes one ``berakningsperiod``; half a pair raises ``ValueError``.
* Anything else the schema would refuse and that can be seen here (a personnummer or
  organisationsnummer that is not valid, a phone shorter than the schema's 7 characters, a
  missing required value) raises ``ValueError`` naming the field rather than writing a document
  FK would reject.
"""

from __future__ import annotations

import calendar
import re
import uuid
from dataclasses import dataclass
from datetime import date
from functools import lru_cache
from pathlib import Path

from lxml import etree

from pipeline.ids import Organisationsnummer, Personnummer

NAMESPACE = "http://schema.forsakringskassan.se/integration/isassistansersattning/tidredovisning/1"
SCHEMA_VERSION = "1.8"  # the version of tidredovisning_extern_v1.xsd this module writes
ROOT = "Tidredovisning"

# Row kinds: the column ids of a 3059 row → the ELT element that marks that kind.
KIND_ELEMENTS: dict[str, str] = {"aktiv": "aktivTid", "vantetid": "vanteTid", "beredskap": "beredskapsTid"}
# "Är anordnaren arbetsgivare för assistenten?": checkbox id → ELT element of the answer.
ARBETSGIVARE_ELEMENTS: dict[str, str] = {
    "arbetsgivare.ja": "assistentAnstalldAvAnordnare",
    "arbetsgivare.nej_uppdragsgivare": "annanArbetsgivare",
    "arbetsgivare.nej_egenforetagare": "assistentEgenForetagare",
}
BERAKNINGSPERIODER = 6  # pairs of dates on the paper 3059 (point 4)
MIN_PHONE_CHARS = 7  # the schema's Telefonnummer: pattern ".{7,}"
MINUTES_PER_HOUR = 60
MIDNIGHT_END = "24.00"  # a row crossing midnight ends here on its first day (FK's way to split)
MIDNIGHT_START = "00.00"  # ... and goes on from here on the next day
SCHEMA_TRUE = "true"  # the schema's type True: an element that is there says yes

_CLOCK = re.compile(r"^([01]\d|2[0-3])\.([0-5]\d)$")  # canonical clock_time of a read row
_YEAR_MONTH = re.compile(r"^(\d{4})-(0[1-9]|1[0-2])$")
_DAY = re.compile(r"^([1-9]|[12]\d|3[01])$")
_ROW_KEY = re.compile(r"^rows\.(\d+)\.")
_BERAKNING_KEY = re.compile(r"^berakningsperiod\.(\d+)\.(from|tom)$")

Values = dict[str, "str | bool"]


@dataclass(frozen=True)
class RapportRad:
    """One ``rapportRad``: an interval within one day of the month, of one kind."""

    dag: int
    from_tid: str  # HH.MM
    tom_tid: str  # HH.MM, "24.00" for the first part of a row crossing midnight
    kind: str  # aktiv | vantetid | beredskap
    row: int  # the paper row it comes from

    @property
    def minutes(self) -> int:
        return clock_minutes(self.tom_tid) - clock_minutes(self.from_tid)


def clock_minutes(text: str) -> int:
    """Minutes after midnight of ``HH.MM`` (``24.00`` → 1440)."""
    h, m = text.split(".")
    return int(h) * MINUTES_PER_HOUR + int(m)


# --- reading the values -------------------------------------------------------------------------

def _filled(values: Values, key: str) -> bool:
    v = values.get(key)
    return v is True or (isinstance(v, str) and v.strip() != "")


def _checked(values: Values, key: str) -> bool:
    return values.get(key) is True


def _text(values: Values, key: str, *, required: bool = True) -> str | None:
    """The field's text with runs of white space made one space; None when empty (or
    ``ValueError`` when required)."""
    v = values.get(key)
    if isinstance(v, str) and v.strip():
        return " ".join(v.split())
    if v is not None and not isinstance(v, str):
        raise ValueError(f"{key}: expected text, got {v!r}")
    if required:
        raise ValueError(f"{key}: required for the ELT export but empty")
    return None


def _one_of(values: Values, ids: list[str] | tuple[str, ...], what: str) -> str:
    marked = [i for i in ids if _checked(values, i)]
    if len(marked) != 1:
        got = ", ".join(marked) if marked else "none"
        raise ValueError(f"{what}: exactly one of {', '.join(ids)} must be marked (marked: {got})")
    return marked[0]


def split_name(name: str) -> tuple[str, str]:
    """(fornamn, efternamn): split at the last space; one word → ("", word)."""
    parts = " ".join(name.split())
    if " " not in parts:
        return "", parts
    first, last = parts.rsplit(" ", 1)
    return first, last


def _personnummer(values: Values, key: str) -> Personnummer:
    text = _text(values, key)
    try:
        return Personnummer.parse(text)
    except ValueError as e:
        raise ValueError(f"{key}: {e}") from None


def _orgnr(values: Values, key: str) -> str:
    text = _text(values, key)
    try:
        # A sole trader (enskild firma) uses the owner's personnummer as organisationsnummer.
        return Organisationsnummer.parse(text, allow_sole_trader=True).digits
    except ValueError as e:
        raise ValueError(f"{key}: {e}") from None


def _phone(values: Values, key: str, *, required: bool = True) -> str | None:
    text = _text(values, key, required=required)
    if text is not None and len(text) < MIN_PHONE_CHARS:
        raise ValueError(f"{key}: phone {text!r} is shorter than the schema's {MIN_PHONE_CHARS} characters")
    return text


def _year_month(values: Values) -> tuple[int, int]:
    text = _text(values, "header.year_month")
    m = _YEAR_MONTH.match(text)
    if not m:
        raise ValueError(f"header.year_month: {text!r} is not YYYY-MM")
    return int(m[1]), int(m[2])


def _iso_date(values: Values, key: str) -> date:
    text = _text(values, key)
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise ValueError(f"{key}: {text!r} is not a date YYYY-MM-DD") from None


def berakningsperioder(values: Values) -> list[tuple[date, date]]:
    """The filled pairs of point 4, in the order of the paper."""
    numbers = sorted({int(m[1]) for k in values if (m := _BERAKNING_KEY.match(k)) and _filled(values, k)})
    out = []
    for n in numbers:
        if not 1 <= n <= BERAKNINGSPERIODER:
            raise ValueError(f"berakningsperiod.{n}: the form has pairs 1..{BERAKNINGSPERIODER}")
        f, t = _iso_date(values, f"berakningsperiod.{n}.from"), _iso_date(values, f"berakningsperiod.{n}.tom")
        if t < f:
            raise ValueError(f"berakningsperiod.{n}: ends ({t}) before it starts ({f})")
        out.append((f, t))
    return out


def rapportrader(values: Values, year: int, month: int) -> list[RapportRad]:
    """The paper's used rows as ELT rows, rows crossing midnight split at 24.00 (see the
    module docstring). Raises ``ValueError`` naming the first row that cannot be exported."""
    last_day = calendar.monthrange(year, month)[1]
    numbers = sorted({int(m[1]) for k in values if (m := _ROW_KEY.match(k)) and _filled(values, k)})
    out: list[RapportRad] = []
    for n in numbers:
        p = f"rows.{n}"
        kinds = [k for k in KIND_ELEMENTS if _checked(values, f"{p}.{k}")]
        if len(kinds) != 1:
            got = ", ".join(kinds) if kinds else "none"
            raise ValueError(f"row {n}: exactly one of aktiv, vantetid, beredskap must be marked (marked: {got})")
        kind = kinds[0]
        dag = values.get(f"{p}.dag")
        if not isinstance(dag, str) or not _DAY.match(dag.strip()):
            raise ValueError(f"row {n}: {p}.dag {dag!r} is not a day 1..31")
        day = int(dag)
        if day > last_day:
            raise ValueError(f"row {n}: day {day} is not in {year:04d}-{month:02d} ({last_day} days)")
        times = []
        for col in ("from", "tom"):
            t = values.get(f"{p}.{col}")
            if not isinstance(t, str) or not _CLOCK.match(t.strip()):
                raise ValueError(f"row {n}: {p}.{col} {t!r} is not a clock time HH.MM")
            times.append(t.strip())
        start, end = times
        if start == end:
            raise ValueError(f"row {n}: from and to are both {start} (nothing, or 24 hours?)")
        if clock_minutes(end) > clock_minutes(start):
            out.append(RapportRad(day, start, end, kind, n))
            continue
        # Crosses midnight: split at 24.00, the rest on the next day of the same month.
        if end != MIDNIGHT_START and day == last_day:
            raise ValueError(
                f"row {n}: {start}–{end} on day {day}, the last day of {year:04d}-{month:02d}, crosses "
                f"midnight; the time after 24.00 belongs to the next month's time report")
        out.append(RapportRad(day, start, MIDNIGHT_END, kind, n))
        if end != MIDNIGHT_START:
            out.append(RapportRad(day + 1, MIDNIGHT_START, end, kind, n))
    return out


# --- writing the XML ----------------------------------------------------------------------------

def _el(parent: etree._Element, name: str, text: str | None = None) -> etree._Element:
    e = etree.SubElement(parent, f"{{{NAMESPACE}}}{name}")
    if text is not None:
        e.text = text
    return e


def tidredovisning_xml(values: Values, *, doc_id: uuid.UUID) -> bytes:
    """The ``Tidredovisning`` XML (UTF-8, with declaration) of a read 3059's canonical values.

    ``doc_id`` becomes the report's ``id``. Raises ``ValueError`` naming the field or row when
    the values cannot make a document that FK's schema accepts (see the module docstring).
    """
    if not isinstance(doc_id, uuid.UUID):
        raise ValueError(f"doc_id must be a uuid.UUID, got {doc_id!r}")
    year, month = _year_month(values)

    root = etree.Element(f"{{{NAMESPACE}}}{ROOT}", nsmap={None: NAMESPACE})
    _el(root, "id", str(doc_id))
    _el(root, "redovisningsmanad", f"{year:04d}-{month:02d}")

    person = _el(root, "personSomHarAssistans")
    _el(person, "personnummer", _personnummer(values, "person.personnummer").digits)
    fornamn, efternamn = split_name(_text(values, "person.name"))
    _el(person, "fornamn", fornamn)
    _el(person, "efternamn", efternamn)

    assistent = _el(root, "assistent")
    pnr = _personnummer(values, "assistent.personnummer")
    _el(assistent, "samordningsnummer" if pnr.is_samordningsnummer else "personnummer", pnr.digits)
    fornamn, efternamn = split_name(_text(values, "assistent.name"))
    _el(assistent, "fornamn", fornamn)
    _el(assistent, "efternamn", efternamn)
    avtal = _one_of(values, ("kollektivavtal.ja", "kollektivavtal.nej"), "kollektivavtal")
    _el(assistent, "kollektivavtal", "true" if avtal == "kollektivavtal.ja" else "false")

    for f, t in berakningsperioder(values):
        period = _el(root, "berakningsperiod")
        _el(period, "fromDag", f.isoformat())
        _el(period, "tomDag", t.isoformat())

    anordnare = _one_of(values, ("anordnare.sjalv", "anordnare.anlitar"), "anordnare")
    if anordnare == "anordnare.sjalv":
        _el(root, "anstalldAvPersonSomHarAssistans", SCHEMA_TRUE)
    else:
        a = _el(root, "assistansanordnare")
        name = _text(values, "anordnare.name", required=False)
        if name is not None:
            _el(a, "anordnareNamn", name)
        _el(a, "organisationsnummer", _orgnr(values, "anordnare.orgnr"))
        kontakt = _text(values, "anordnare.kontaktperson", required=False)
        if kontakt is not None:
            _el(a, "kontaktperson", kontakt)
        telefon = _phone(values, "anordnare.telefon", required=False)
        if telefon is not None:
            _el(a, "telefonnummer", telefon)
        answer = _one_of(values, tuple(ARBETSGIVARE_ELEMENTS), "arbetsgivare")
        if answer == "arbetsgivare.nej_uppdragsgivare":
            other = _el(a, ARBETSGIVARE_ELEMENTS[answer])
            employer = _text(values, "arbetsgivare.name", required=False)
            if employer is not None:
                _el(other, "arbetsgivareNamn", employer)
            _el(other, "organisationsnummer", _orgnr(values, "arbetsgivare.orgnr"))
        else:
            _el(a, ARBETSGIVARE_ELEMENTS[answer], SCHEMA_TRUE)

    rapport = _el(root, "tidrapport")
    for r in rapportrader(values, year, month):
        rad = _el(rapport, "rapportRad")
        _el(rad, "dag", str(r.dag))
        _el(rad, "fromTid", r.from_tid)
        _el(rad, "tomTid", r.tom_tid)
        _el(rad, KIND_ELEMENTS[r.kind], SCHEMA_TRUE)

    if _filled(values, "underskrift.telefon"):
        anordnare_phone = _phone(values, "underskrift.telefon")
    elif _filled(values, "anordnare.telefon"):
        anordnare_phone = _phone(values, "anordnare.telefon")
    else:
        raise ValueError("underskrift.telefon: required for the ELT export (telefonnummerAnordnare) but empty")
    _el(root, "telefonnummerAnordnare", anordnare_phone)
    assistent_phone = _phone(values, "assistent_underskrift.telefon", required=False)
    if assistent_phone is not None:
        _el(root, "telefonnummerAssistent", assistent_phone)

    return etree.tostring(root, xml_declaration=True, encoding="UTF-8", pretty_print=True)


# --- checking against FK's schema ---------------------------------------------------------------

@lru_cache(maxsize=4)
def _schema(path: str, mtime_ns: int) -> etree.XMLSchema:
    return etree.XMLSchema(etree.parse(path))


def schema_errors(xml: bytes, xsd_path: Path) -> list[str]:
    """What FK's XSD says is wrong with ``xml`` (empty: valid), one message per error with its
    line. XML that is not well-formed gives one message saying so."""
    xsd_path = Path(xsd_path)
    schema = _schema(str(xsd_path), xsd_path.stat().st_mtime_ns)
    try:
        doc = etree.fromstring(xml, parser=etree.XMLParser(resolve_entities=False, no_network=True))
    except etree.XMLSyntaxError as e:
        return [f"not well-formed XML: {e}"]
    if schema.validate(doc):
        return []
    return [f"line {e.line}: {e.message}" for e in schema.error_log]
