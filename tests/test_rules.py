"""FK's rules and routing, each rule with a passing and a failing case, and the routes of
generated documents (values known, as if read perfectly) against their expected routes."""

from __future__ import annotations

from collections import Counter
from datetime import date

import numpy as np
import pytest

from pipeline import rules
from pipeline.assess import assess, record_from_values, validate
from pipeline.record import record_model
from pipeline.synth.content import generate_documents

N_DOCS = 400


@pytest.fixture(scope="module")
def t3059(registry):
    return registry.get("3059", "016F003")


@pytest.fixture(scope="module")
def t3057(registry):
    return registry.get("3057", "016F002")


@pytest.fixture(scope="module")
def t3066(registry):
    return registry.get("3066", "004F005")


@pytest.fixture(scope="module")
def docs(registry):
    return generate_documents(registry, np.random.default_rng(5), N_DOCS, fault_rate=0.4)


def _codes(findings):
    return sorted(f.code for f in findings)


def _good(docs, form):
    return next(d for d in docs if d.form == form and not d.faults and d.version in ("016F003", "016F002", "004F005"))


# --- one rule at a time ----------------------------------------------------------------------

def test_required_and_signature(docs, t3059):
    v = dict(_good(docs, "3059").values)
    assert rules.template_findings(t3059, v) == []
    v["assistent_underskrift.signatur"] = False
    del v["assistent.name"]
    got = rules.template_findings(t3059, v)
    assert _codes(got) == ["empty_required", "missing_signature"]
    sig = next(f for f in got if f.code == "missing_signature")
    assert sig.fields == ("assistent_underskrift.signatur",) and sig.page == 3 and sig.route == "completion"


def test_exclusive_choices(docs, t3057):
    v = dict(_good(docs, "3057").values)
    assert rules.template_findings(t3057, v) == []
    for m in ("daglig_verksamhet.ja", "daglig_verksamhet.nej"):
        v.pop(m, None)
    assert _codes(rules.template_findings(t3057, v)) == ["unmarked_mandatory"]
    v["daglig_verksamhet.ja"] = v["daglig_verksamhet.nej"] = True
    assert _codes(rules.template_findings(t3057, v)) == ["multiple_marked"]


def test_row_needs_exactly_one_kind(docs, t3059):
    v = dict(_good(docs, "3059").values)
    kind = next(k for k in rules.TIME_KINDS if v.get(f"rows.1.{k}"))
    v.pop(f"rows.1.{kind}")
    got = rules.template_findings(t3059, v)
    assert _codes(got) == ["row_kind_missing"] and got[0].params["row"] == "1"
    v["rows.1.aktiv"] = v["rows.1.vantetid"] = True
    assert _codes(rules.template_findings(t3059, v)) == ["row_kind_multiple"]


def test_required_when_names_its_condition(t3059):
    """An empty 'to' date is only the sender's fault if the 'from' date beside it was read."""
    got = [f for f in rules.template_findings(t3059, {"berakningsperiod.2.from": "2025-01-01"})
           if "berakningsperiod.2.tom" in f.fields]
    assert got and got[0].fields == ("berakningsperiod.2.tom", "berakningsperiod.2.from")


def _valid(prefix: str) -> str:
    """A number with a right check digit: Luhn over the last 9 digits of the 10-digit body."""
    from pipeline.ids import luhn_digit

    return prefix + str(luhn_digit(prefix[-9:]))


def test_identity_numbers(t3066):
    pnr, org = _valid("19900101238"), _valid("556677889")
    base = {"assistent.personnummer": pnr, "anordnare.orgnr": org}
    assert rules.identity_findings(t3066, base) == []
    wrong = pnr[:-1] + str((int(pnr[-1]) + 1) % 10)
    assert [(f.code, f.fields) for f in rules.identity_findings(t3066, dict(base, **{"assistent.personnummer": wrong}))] \
        == [("bad_luhn", ("assistent.personnummer",))]
    bad_date = _valid("19900230238")  # 30 February, check digit right
    assert _codes(rules.identity_findings(t3066, dict(base, **{"assistent.personnummer": bad_date}))) == \
        ["invalid_personnummer"]
    bad_org = org[:-1] + str((int(org[-1]) + 1) % 10)
    assert _codes(rules.identity_findings(t3066, dict(base, **{"anordnare.orgnr": bad_org}))) == ["bad_luhn"]
    # confirmed by an operator as written: the sender is asked for the right number
    decided = frozenset({"assistent.personnummer", "anordnare.orgnr"})
    found = rules.identity_findings(t3066, dict(base, **{"assistent.personnummer": wrong, "anordnare.orgnr": bad_org}),
                                    decided)
    assert [(f.code, f.route) for f in found] == [("wrong_check_digit", "completion")] * 2
    assert [(f.code, f.route) for f in rules.identity_findings(
        t3066, dict(base, **{"assistent.personnummer": bad_date}), decided)] == [("invalid_number", "completion")]


def test_samordningsnummer_is_valid_and_flagged(t3066):
    v = {"assistent.personnummer": _valid("19900161238")}  # born 1990-01-01: day 01 + 60 = 61
    assert rules.identity_findings(t3066, v) == []
    assert _codes(rules.samordningsnummer_flags(t3066, v)) == ["samordningsnummer"]
    assert rules.samordningsnummer_flags(t3066, {"assistent.personnummer": _valid("19900101238")}) == []


def test_day_within_month(t3059):
    v = {"header.year_month": "2025-02", "rows.1.dag": "28"}
    assert rules.row_findings(t3059, v) == []
    v["rows.1.dag"] = "29"  # 2025 is not a leap year
    got = rules.row_findings(t3059, v)
    assert _codes(got) == ["day_outside_month"] and got[0].params["day"] == "29"
    assert rules.row_findings(t3059, {"header.year_month": "2024-02", "rows.1.dag": "29"}) == []


def test_midnight_rows_and_summa(t3059):
    v = {"header.year_month": "2025-03", "rows.1.dag": "3", "rows.1.from": "22.00", "rows.1.tom": "07.00",
         "rows.1.beredskap": True, "rows.2.dag": "4", "rows.2.from": "07.00", "rows.2.tom": "15.30",
         "rows.2.aktiv": True}
    assert rules.rows_totals_from_values(v) == {"aktiv": 510, "vantetid": 0, "beredskap": 540}
    v |= {"summa.aktiv.timmar": "8", "summa.aktiv.minuter": "30", "summa.beredskap.timmar": "9",
          "summa.beredskap.minuter": "0"}
    assert rules.summa_findings(t3059, v) == []
    v["summa.aktiv.minuter"] = "0"
    got = rules.summa_findings(t3059, v)
    assert [(f.code, f.route, f.params["kind"]) for f in got] == [("summa_mismatch", None, "aktiv")]


def test_invoice_against_time_reports():
    invoice = {"tid.aktiv.timmar": "10", "tid.aktiv.minuter": "30"}
    assert rules.check_invoice_totals(invoice, {"aktiv": 630, "vantetid": 0, "beredskap": 0}, 2) == []
    got = rules.check_invoice_totals(invoice, {"aktiv": 600, "vantetid": 0, "beredskap": 0}, 2)
    assert [(f.code, f.route) for f in got] == [("totals_mismatch", "completion")]
    assert got[0].params["stated"] == "10 h 30 min" and got[0].params["reported"] == "10 h 00 min"
    assert _codes(rules.check_invoice_totals(invoice, None, 0)) == ["time_reports_missing"]


def test_deadline_is_a_flag():
    v = {"header.year_month": "2025-09"}
    assert rules.deadline_for("2025-09") == date(2025, 11, 5)
    assert rules.deadline_for("2025-12") == date(2026, 2, 5)
    assert rules.deadline_findings(v, date(2025, 11, 5)) == []
    got = rules.deadline_findings(v, date(2025, 11, 6))
    assert [(f.code, f.route) for f in got] == [("late", None)]


def test_a_month_not_begun_when_the_form_came_goes_to_the_sender():
    """Read with certainty (an operator confirmed what the paper says), a month after the
    day the post came is a slip only the sender can put right; the month itself is fine."""
    v = {"header.year_month": "2026-09"}
    assert rules.deadline_findings(v, date(2026, 9, 1)) == []  # begun: may be sent on its last days
    got = rules.deadline_findings(v, date(2026, 8, 31))
    assert [(f.code, f.route, f.fields) for f in got] == [("month_not_begun", "completion", ("header.year_month",))]
    assert got[0].params == {"month": "2026-09", "received": "2026-08-31"}


def test_municipality_share_per_week():
    # 2025-09-01 is a Monday. Week 36: 5 days of 5 h = 25 h → 20 h municipality. A night row
    # from Sunday 7 September 22.00 to Monday 06.00 puts 2 h in week 36 and 6 h in week 37.
    v = {"header.year_month": "2025-09"}
    for i, day in enumerate(range(1, 6), 1):
        v |= {f"rows.{i}.dag": str(day), f"rows.{i}.from": "08.00", f"rows.{i}.tom": "13.00", f"rows.{i}.aktiv": True}
    v |= {"rows.6.dag": "7", "rows.6.from": "22.00", "rows.6.tom": "06.00", "rows.6.beredskap": True}
    weeks = {w["week"]: w for w in rules.municipality_weeks(v)}
    assert weeks["2025-W36"]["minutes"] == 27 * 60 and weeks["2025-W36"]["municipality_minutes"] == 20 * 60
    assert weeks["2025-W37"]["minutes"] == 6 * 60 and weeks["2025-W37"]["municipality_minutes"] == 6 * 60
    assert not weeks["2025-W36"]["partial"] and weeks["2025-W37"]["partial"] is False
    # August 2025 ends on a Sunday, 1 August is a Friday: its first week is partial
    first = rules.municipality_weeks({"header.year_month": "2025-08", "rows.1.dag": "1", "rows.1.from": "08.00",
                                      "rows.1.tom": "09.00", "rows.1.aktiv": True})
    assert first == [{"week": "2025-W31", "minutes": 60, "municipality_minutes": 60, "partial": True}]


# --- routing: certainty decides between review and completion --------------------------------

def _record(t, values, **kw):
    return record_from_values(t, values, document="d", **kw)


def test_uncertain_reading_goes_to_review_not_to_the_sender(docs, t3059):
    v = dict(_good(docs, "3059").values)
    v["assistent_underskrift.signatur"] = False
    rec = _record(t3059, v)
    assert rec["route"] == "completion"
    assert any(r["code"] == "missing_signature" and r["sv"] == "Assistentens underskrift saknas på sidan 3."
               for r in rec["reasons"])
    # the same, but the signature reader was unsure: an operator looks first
    fields = rec["fields"]["assistent_underskrift"]["signatur"]
    fields["status"], fields["confidence"] = "low_confidence", 0.6
    rec = assess(rec)
    assert rec["route"] == "review"
    assert [r["certain"] for r in rec["reasons"] if r["code"] == "missing_signature"] == [False]
    # the operator confirms the box is empty: back to the sender
    fields["status"] = "confirmed"
    assert assess(rec)["route"] == "completion"


def test_unreadable_field_goes_to_review_then_to_the_sender(docs, t3059):
    v = dict(_good(docs, "3059").values)
    rec = _record(t3059, v, unreadable=["assistent.personnummer"])
    assert rec["route"] == "review"
    assert [r["code"] for r in rec["reasons"]] == ["unreadable"]
    rec["fields"]["assistent"]["personnummer"]["status"] = "unreadable_confirmed"
    rec = assess(rec)
    assert rec["route"] == "completion" and rec["reasons"][0]["to"] == "sender"


def test_record_validates_against_its_model(docs, registry):
    for d in docs[:40]:
        rec = validate(_record(registry.get(d.form, d.version), d.values))
        model = record_model(d.form)
        again = model.model_validate(rec)
        assert again.form == d.form and again.route == rec["route"]


def test_generated_documents_route_as_expected(docs, registry):
    """Generated documents, values known, routed as their truth says (the rules and routing
    alone; docs/benchmarks.md has the figures with reading): at least 99 % (issue 5). The
    known misses: a 3057 whose point 2 is wrong while one of its 3059s has an unreadable
    row — the sum is unknown until that report is completed, so the invoice only carries a
    flag (time_reports_pending) and is checked again then; the truth expects completion."""
    by_case: dict[str, list] = {}
    for d in docs:
        by_case.setdefault(d.case_id, []).append(d)
    wrong, total = [], Counter()
    for d in docs:
        t = registry.get(d.form, d.version)
        rec = record_from_values(t, d.values, document=d.doc_id, unreadable=d.illegible,
                                 received=date.fromisoformat(d.received_date))
        if d.form == "3057":
            reports = [record_from_values(registry.get(o.form, o.version), o.values, document=o.doc_id,
                                          unreadable=o.illegible) for o in by_case[d.case_id] if o.form == "3059"]
            rec = assess(rec, reports)
        total[d.expected_route] += 1
        if rec["route"] != d.expected_route:
            wrong.append((d.doc_id, d.faults, d.expected_route, rec["route"], [r["code"] for r in rec["reasons"]]))
        else:
            codes = {r["code"] for r in rec["reasons"]}
            for reason in d.reasons:  # the truth's reason is among ours (names differ for illegible)
                assert {"illegible": "unreadable"}.get(reason, reason) in codes, (d.doc_id, reason, codes)
        if "missing_signature" in d.faults:
            assert rec["route"] != "validation"
    assert len(wrong) <= 0.01 * len(docs), f"{len(wrong)} of {len(docs)} routed wrong: {wrong[:5]}"
    assert all(w[1] == ["totals_mismatch"] for w in wrong), wrong
    assert min(total.values()) >= 20  # every route is exercised


def test_a_point_2_that_may_be_misread_goes_to_an_operator_before_the_sender(docs, registry):
    """3057 point 2 read surely but wrong (297 hours read 247): it differs from the time
    reports, and the sender would be asked to correct a right invoice, unless one of the
    readers' alternatives makes it agree: then an operator confirms the reading first."""
    by_case: dict[str, list] = {}
    for d in docs:
        by_case.setdefault(d.case_id, []).append(d)
    inv = next(d for d in docs if d.form == "3057" and d.values.get("tid.aktiv.timmar", "0") != "0"
               and not any(o.faults for o in by_case[d.case_id]) and any(o.form == "3059" for o in by_case[d.case_id]))
    reports = [record_from_values(registry.get(o.form, o.version), o.values, document=o.doc_id)
               for o in by_case[inv.case_id] if o.form == "3059"]
    rec = record_from_values(registry.get(inv.form, inv.version), inv.values, document=inv.doc_id)
    assert assess(rec, reports)["route"] == "validation"
    hours = rec["fields"]["tid"]["aktiv"]["timmar"]
    right = hours["read"]
    hours["read"] = hours["value"] = str(int(right) + 50)  # a 9 read as a 4, the other way round
    assert assess(rec, reports)["route"] == "completion"  # no alternative: the sender's
    hours["alternatives"] = [[right, 0.001]]
    rec = assess(rec, reports)
    assert rec["route"] == "review"
    assert [r["certain"] for r in rec["reasons"] if r["code"] == "totals_mismatch"] == [False]
    hours["status"] = "confirmed"  # the operator sees the paper says so: the sender's after all
    assert assess(rec, reports)["route"] == "completion"
