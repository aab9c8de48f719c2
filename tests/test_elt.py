"""The ELT export: a read 3059 as FK's ``Tidredovisning`` XML (pipeline/export/elt.py).

Values come from the sample generator (the same canonical dicts the reader produces), for
several seeds and both 3059 layouts. Every document is checked against FK's XSD when
``../shared/reference/elt/`` is there (skipped otherwise), and parsed back to check that it says
what the paper says: identities, choices, rows, times, kinds and minutes per kind.
"""

from __future__ import annotations

import uuid
from pathlib import Path

import numpy as np
import pytest
from lxml import etree

from pipeline.export.elt import NAMESPACE, schema_errors, split_name, tidredovisning_xml
from pipeline.forms import TemplateRegistry
from pipeline.ids import Personnummer, luhn_digit, random_personnummer
from pipeline.synth.content import generate_documents, rows_totals_from_values

SEEDS = (1, 2, 3, 4, 5, 6)
DOCS_PER_SEED = 24  # documents drawn per seed; about two thirds are 3059s
XSD_RELATIVE = Path("reference/elt/tidredovisning_extern_v1.xsd")  # under ../shared (never committed)
SHARED_DIR = Path(__file__).resolve().parents[1].parent / "shared"  # as in conftest.py
NS = {"t": NAMESPACE}
KIND_OF_ELEMENT = {"aktivTid": "aktiv", "vanteTid": "vantetid", "beredskapsTid": "beredskap"}


@pytest.fixture(scope="module")
def reports() -> list[tuple[str, str, dict]]:
    """(doc_id, layout, values) of every 3059 the generator makes for SEEDS, without faults."""
    registry = TemplateRegistry.load()
    out = []
    for seed in SEEDS:
        for d in generate_documents(registry, np.random.default_rng(seed), DOCS_PER_SEED, fault_rate=0):
            if d.form == "3059":
                out.append((f"seed{seed}:{d.doc_id}", d.version, dict(d.values)))
    return out


@pytest.fixture(scope="module")
def xsd(shared_dir) -> Path:
    path = shared_dir / XSD_RELATIVE
    if not path.is_file():
        pytest.skip(f"{path} not present: schema check skipped")
    return path


@pytest.fixture(scope="module")
def xsd_or_none() -> Path | None:
    """The XSD when present, else None: for tests that check the XML shape either way."""
    path = SHARED_DIR / XSD_RELATIVE
    return path if path.is_file() else None


def _values(reports, pred) -> dict:
    for _, _, v in reports:
        if pred(v):
            return dict(v)
    raise AssertionError("no generated 3059 of that kind: change SEEDS")


def _parse(xml: bytes) -> etree._Element:
    root = etree.fromstring(xml)
    assert root.tag == f"{{{NAMESPACE}}}Tidredovisning"
    return root


def _t(el: etree._Element, path: str) -> str | None:
    found = el.find(path, NS)
    return None if found is None else found.text


def _minutes(hhmm: str) -> int:
    h, m = hhmm.split(".")
    return int(h) * 60 + int(m)


def _expected_rows(values: dict) -> list[tuple[int, str, str, str]]:
    """The spec of the rows, written independently: paper order, a row crossing midnight
    split at 24.00 into (day, from, 24.00) and (day + 1, 00.00, tom)."""
    out = []
    numbers = sorted({int(k.split(".")[1]) for k in values if k.startswith("rows.")})
    for n in numbers:
        kind = next(k for k in ("aktiv", "vantetid", "beredskap") if values.get(f"rows.{n}.{k}") is True)
        day, start, end = int(values[f"rows.{n}.dag"]), values[f"rows.{n}.from"], values[f"rows.{n}.tom"]
        if _minutes(end) > _minutes(start):
            out.append((day, start, end, kind))
        else:
            out.append((day, start, "24.00", kind))
            if end != "00.00":
                out.append((day + 1, "00.00", end, kind))
    return out


def _rows_of(root: etree._Element) -> list[tuple[int, str, str, str]]:
    out = []
    for rad in root.findall("t:tidrapport/t:rapportRad", NS):
        kinds = [KIND_OF_ELEMENT[etree.QName(c).localname] for c in rad
                 if etree.QName(c).localname in KIND_OF_ELEMENT]
        assert len(kinds) == 1, etree.tostring(rad)
        out.append((int(_t(rad, "t:dag")), _t(rad, "t:fromTid"), _t(rad, "t:tomTid"), kinds[0]))
    return out


# --- the generated reports ----------------------------------------------------------------------

def test_the_samples_cover_the_cases(reports):
    """The seeds give what the other tests rely on: both layouts, a self-employing person,
    a provider, rows crossing midnight, an assistant with a samordningsnummer."""
    assert {layout for _, layout, _ in reports} == {"016F003", "015F001"}
    assert any(v.get("anordnare.sjalv") is True for _, _, v in reports)
    assert any(v.get("arbetsgivare.ja") is True for _, _, v in reports)
    assert any(v.get("arbetsgivare.nej_uppdragsgivare") is True for _, _, v in reports)
    assert any(_minutes(v[k]) <= _minutes(v[k[:-3] + "from"])
               for _, _, v in reports for k in v if k.startswith("rows.") and k.endswith(".tom"))
    assert any(Personnummer.parse(v["assistent.personnummer"]).is_samordningsnummer for _, _, v in reports)
    assert len(reports) >= 50


def test_every_report_is_valid_for_fk_schema(reports, xsd):
    for name, _, values in reports:
        xml = tidredovisning_xml(values, doc_id=uuid.uuid4())
        assert schema_errors(xml, xsd) == [], name


def test_reports_say_what_the_paper_says(reports):
    for name, _, values in reports:
        doc_id = uuid.uuid4()
        root = _parse(tidredovisning_xml(values, doc_id=doc_id))
        assert _t(root, "t:id") == str(doc_id), name
        assert _t(root, "t:redovisningsmanad") == values["header.year_month"]
        p = root.find("t:personSomHarAssistans", NS)
        assert _t(p, "t:personnummer") == values["person.personnummer"]
        assert f"{_t(p, 't:fornamn')} {_t(p, 't:efternamn')}".strip() == values["person.name"]
        a = root.find("t:assistent", NS)
        number = "samordningsnummer" if Personnummer.parse(values["assistent.personnummer"]).is_samordningsnummer \
            else "personnummer"
        assert _t(a, f"t:{number}") == values["assistent.personnummer"], name
        assert len(a.findall("t:personnummer", NS) + a.findall("t:samordningsnummer", NS)) == 1
        assert f"{_t(a, 't:fornamn')} {_t(a, 't:efternamn')}".strip() == values["assistent.name"]
        assert _t(a, "t:kollektivavtal") == ("true" if values.get("kollektivavtal.ja") is True else "false")

        periods = [(_t(b, "t:fromDag"), _t(b, "t:tomDag")) for b in root.findall("t:berakningsperiod", NS)]
        assert periods == [(values[f"berakningsperiod.{i}.from"], values[f"berakningsperiod.{i}.tom"])
                           for i in range(1, 7) if f"berakningsperiod.{i}.from" in values], name

        rows = _rows_of(root)
        assert rows == _expected_rows(values), name
        for day, start, end, _ in rows:
            assert 1 <= day <= 31 and _minutes(start) < _minutes(end) <= 24 * 60, (name, day, start, end)
        minutes = {k: 0 for k in ("aktiv", "vantetid", "beredskap")}
        for _, start, end, kind in rows:
            minutes[kind] += _minutes(end) - _minutes(start)
        assert minutes == rows_totals_from_values(values), name

        assert _t(root, "t:telefonnummerAnordnare") == values["underskrift.telefon"]
        assert _t(root, "t:telefonnummerAssistent") == values["assistent_underskrift.telefon"]


def test_self_employing_person(reports):
    values = _values(reports, lambda v: v.get("anordnare.sjalv") is True)
    root = _parse(tidredovisning_xml(values, doc_id=uuid.uuid4()))
    assert _t(root, "t:anstalldAvPersonSomHarAssistans") == "true"
    assert root.find("t:assistansanordnare", NS) is None
    # the person's phone from the page-1 signature: the schema requires telefonnummerAnordnare
    assert _t(root, "t:telefonnummerAnordnare") == values["underskrift.telefon"]


@pytest.mark.parametrize("answer, element", [
    ("ja", "assistentAnstalldAvAnordnare"),
    ("nej_uppdragsgivare", "annanArbetsgivare"),
    ("nej_egenforetagare", "assistentEgenForetagare"),
])
def test_provider_and_employer(reports, xsd_or_none, answer, element):
    values = _values(reports, lambda v: v.get("anordnare.anlitar") is True and v.get("arbetsgivare.ja") is True)
    for k in ("arbetsgivare.ja", "arbetsgivare.nej_uppdragsgivare", "arbetsgivare.nej_egenforetagare"):
        values.pop(k, None)
    values[f"arbetsgivare.{answer}"] = True
    if answer == "nej_uppdragsgivare":
        values |= {"arbetsgivare.name": "Assistanspoolen i Vänersborg AB",
                   "arbetsgivare.orgnr": "556677889" + str(luhn_digit("556677889"))}
    xml = tidredovisning_xml(values, doc_id=uuid.uuid4())
    a = _parse(xml).find("t:assistansanordnare", NS)
    assert _t(a, "t:anordnareNamn") == values["anordnare.name"]
    assert _t(a, "t:organisationsnummer") == values["anordnare.orgnr"]
    assert _t(a, "t:kontaktperson") == values["anordnare.kontaktperson"]
    assert _t(a, "t:telefonnummer") == values["anordnare.telefon"]
    chosen = [etree.QName(c).localname for c in a][-1]
    assert chosen == element
    if answer == "nej_uppdragsgivare":
        assert _t(a, "t:annanArbetsgivare/t:arbetsgivareNamn") == "Assistanspoolen i Vänersborg AB"
        assert _t(a, "t:annanArbetsgivare/t:organisationsnummer") == values["arbetsgivare.orgnr"]
    if xsd_or_none is not None:
        assert schema_errors(xml, xsd_or_none) == []


def test_assistant_with_samordningsnummer(reports, xsd_or_none):
    values = _values(reports, lambda v: True)
    values["assistent.personnummer"] = random_personnummer(np.random.default_rng(7), samordning=True)
    assert Personnummer.parse(values["assistent.personnummer"]).is_samordningsnummer
    xml = tidredovisning_xml(values, doc_id=uuid.uuid4())
    a = _parse(xml).find("t:assistent", NS)
    assert _t(a, "t:samordningsnummer") == values["assistent.personnummer"]
    assert a.find("t:personnummer", NS) is None
    if xsd_or_none is not None:
        assert schema_errors(xml, xsd_or_none) == []


def test_kollektivavtal_nej_is_false(reports):
    values = _values(reports, lambda v: v.get("kollektivavtal.ja") is True)
    del values["kollektivavtal.ja"]
    values["kollektivavtal.nej"] = True
    root = _parse(tidredovisning_xml(values, doc_id=uuid.uuid4()))
    assert _t(root, "t:assistent/t:kollektivavtal") == "false"


# --- rows, crafted ------------------------------------------------------------------------------

def _with_rows(reports, rows: list[tuple[str, str, str, str]], month: str = "2024-02") -> dict:
    """A generated report with its rows replaced by ``rows`` (dag, from, tom, kind)."""
    values = {k: v for k, v in _values(reports, lambda v: True).items() if not k.startswith("rows.")}
    values["header.year_month"] = month
    for n, (dag, start, end, kind) in enumerate(rows, 1):
        values |= {f"rows.{n}.dag": dag, f"rows.{n}.from": start, f"rows.{n}.tom": end, f"rows.{n}.{kind}": True}
    return values


def test_rows_crossing_midnight_are_split_at_24(reports, xsd_or_none):
    values = _with_rows(reports, [("5", "22.00", "07.00", "beredskap"), ("6", "16.00", "00.00", "aktiv"),
                                  ("28", "23.30", "00.45", "vantetid"), ("29", "08.00", "12.00", "aktiv")])
    xml = tidredovisning_xml(values, doc_id=uuid.uuid4())
    assert _rows_of(_parse(xml)) == [
        (5, "22.00", "24.00", "beredskap"), (6, "00.00", "07.00", "beredskap"),
        (6, "16.00", "24.00", "aktiv"),
        (28, "23.30", "24.00", "vantetid"), (29, "00.00", "00.45", "vantetid"),
        (29, "08.00", "12.00", "aktiv"),
    ]
    if xsd_or_none is not None:
        assert schema_errors(xml, xsd_or_none) == []


def test_midnight_on_the_last_day_of_the_month_raises(reports):
    # 2024-02 has 29 days: the time after 24.00 would be on 1 March, another month's report
    values = _with_rows(reports, [("3", "08.00", "12.00", "aktiv"), ("29", "22.00", "07.00", "beredskap")])
    with pytest.raises(ValueError, match=r"row 2: .*last day"):
        tidredovisning_xml(values, doc_id=uuid.uuid4())
    # ending exactly at midnight stays within the day: fine
    values = _with_rows(reports, [("29", "16.00", "00.00", "aktiv")])
    assert _rows_of(_parse(tidredovisning_xml(values, doc_id=uuid.uuid4()))) == [(29, "16.00", "24.00", "aktiv")]


@pytest.mark.parametrize("change, message", [
    ({"rows.2.vantetid": True}, r"row 2: exactly one of .* \(marked: aktiv, vantetid\)"),
    ({"rows.2.aktiv": False}, r"row 2: exactly one of .* \(marked: none\)"),
    ({"rows.2.tom": ""}, r"row 2: rows\.2\.tom"),
    ({"rows.2.dag": "30"}, r"row 2: day 30 is not in 2024-02"),
    ({"rows.2.tom": "09.00"}, r"row 2: from and to are both 09\.00"),
])
def test_a_row_that_cannot_be_exported_raises(reports, change, message):
    values = _with_rows(reports, [("1", "08.00", "12.00", "aktiv"), ("2", "09.00", "17.00", "aktiv")])
    values |= change
    with pytest.raises(ValueError, match=message):
        tidredovisning_xml(values, doc_id=uuid.uuid4())


@pytest.mark.parametrize("change, message", [
    ({"anordnare.sjalv": True}, r"anordnare: exactly one"),
    ({"kollektivavtal.nej": True}, r"kollektivavtal: exactly one"),
    ({"assistent.personnummer": "19900101123"}, r"assistent\.personnummer"),
    ({"underskrift.telefon": "", "anordnare.telefon": ""}, r"underskrift\.telefon"),
    ({"assistent_underskrift.telefon": "12345"}, r"assistent_underskrift\.telefon: .*7 characters"),
    ({"berakningsperiod.1.from": "2024-02-01"}, r"berakningsperiod\.1\.tom"),
])
def test_values_fk_would_refuse_raise(reports, change, message):
    values = _values(reports, lambda v: v.get("anordnare.anlitar") is True and v.get("kollektivavtal.ja") is True
                     and "berakningsperiod.1.from" not in v)
    values |= change
    with pytest.raises(ValueError, match=message):
        tidredovisning_xml(values, doc_id=uuid.uuid4())


def test_names_split_at_the_last_space():
    assert split_name("Anna Maria  Svensson") == ("Anna Maria", "Svensson")
    assert split_name("Åsa Öberg") == ("Åsa", "Öberg")
    assert split_name("Cher") == ("", "Cher")


# --- the schema check itself --------------------------------------------------------------------

def test_schema_errors_reports_a_broken_document(reports, xsd):
    values = _values(reports, lambda v: True)
    root = _parse(tidredovisning_xml(values, doc_id=uuid.uuid4()))
    root.find("t:personSomHarAssistans/t:personnummer", NS).text = values["person.personnummer"] + "7"  # 13 digits
    errors = schema_errors(etree.tostring(root), xsd)
    assert len(errors) == 1 and "personnummer" in errors[0], errors

    root = _parse(tidredovisning_xml(values, doc_id=uuid.uuid4()))
    rad = root.find("t:tidrapport/t:rapportRad", NS)
    etree.SubElement(rad, f"{{{NAMESPACE}}}vanteTid").text = "true"  # a second kind on one row
    assert schema_errors(etree.tostring(root), xsd) != []

    assert schema_errors(b"<Tidredovisning", xsd)[0].startswith("not well-formed XML")
