"""The record models made from the templates, and their published JSON Schemas."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from pydantic import ValidationError

from pipeline import record

DOCS = Path(__file__).resolve().parents[1] / "docs" / "records"


@pytest.mark.parametrize("form", record.forms())
def test_published_schema_is_current(form):
    """docs/records/<form>.schema.json is what the models say (`blankett schema` rewrites it)."""
    published = json.loads((DOCS / f"{form}.schema.json").read_text(encoding="utf-8"))
    assert published == json.loads(json.dumps(record.json_schema(form)))


def _fv(**kw):
    return {"kind": "text", "confidence": 1.0, "status": "ok", "page": 1, "box_mm": (0, 0, 1, 1)} | kw


def _rec(fields):
    return {"document_id": "x", "form": "3059", "version": "016F003", "route": "validation",
            "source": {"batch": "b", "file": "f", "file_sha256": "0" * 64, "pages": []}, "fields": fields}


def test_typed_values_are_checked():
    m = record.record_model("3059")
    ok = m.model_validate(_rec({"assistent": {"personnummer": _fv(kind="personnummer", value="198112189876",
                                                                  read="198112189876")},
                                "rows": [{"row": 3, "from": _fv(kind="clock_time", value="22:00", read="22.00")}]}))
    assert ok.fields.rows[0].from_.value.hour == 22
    with pytest.raises(ValidationError):  # a wrong check digit is never a typed personnummer
        m.model_validate(_rec({"assistent": {"personnummer": _fv(kind="personnummer", value="198112189875")}}))
    with pytest.raises(ValidationError):  # a field the form does not have
        m.model_validate(_rec({"assistent": {"shoe_size": _fv(value="44")}}))


def test_typed_value_of_each_kind():
    from datetime import date, time
    from decimal import Decimal

    from pipeline.forms import FieldKind as K

    assert record.typed_value(K.amount, "225458.31") == Decimal("225458.31")
    assert record.typed_value(K.clock_time, "07.30") == time(7, 30)
    assert record.typed_value(K.date, "2025-02-28") == date(2025, 2, 28)
    assert record.typed_value(K.date, "2025-02-30") is None
    assert record.typed_value(K.day, "31") == 31
    assert record.typed_value(K.personnummer, "198112189875") is None  # wrong check digit


def test_nest_and_flatten_are_inverse():
    flat = {"rows.3.from": _fv(read="22.00"), "sjukhus.ja": _fv(read=True), "person.name": _fv(read="Ida")}
    nested = record.nest(flat, "3059")
    assert nested["rows"][0]["row"] == 3
    assert set(record.flatten(nested)) == {"rows.3.from", "sjukhus.ja", "person.name"}


def test_a_field_keeps_what_the_forms_checks_found_and_what_was_read():
    from pipeline.forms import FieldKind
    from pipeline.read.types import Reading

    shown = Reading("rows.1.from", FieldKind.clock_time, 1, (0, 0, 1, 1), "07.00", 0.5, "low_confidence", True,
                    (("09.00", 0.7),), detail={"sums": "corrected to the total", "read_as": "09.00"})
    fv = record.reading_value(shown)
    assert (fv["check"], fv["read_as"]) == ("sums: corrected to the total", "09.00")
    record.FieldValue[type(fv["value"])].model_validate(fv)  # the published model takes it
    confirmed = Reading("rows.2.dag", FieldKind.day, 1, (0, 0, 1, 1), "3", 0.99, "ok", True,
                        detail={"order": "confirmed", "read_as": "3", "read_confidence": 0.9})
    fv = record.reading_value(confirmed)
    assert fv["check"] == "order: confirmed" and "read_as" not in fv  # the value as read: nothing to show
    assert "check" not in record.reading_value(Reading("x", FieldKind.day, 1, (0, 0, 1, 1), "3", 0.99, "ok", True))
