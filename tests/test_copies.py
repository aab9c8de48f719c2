"""The running header's copies read together (pipeline/read/copies.py)."""

from __future__ import annotations

import pytest

from pipeline import defs
from pipeline.forms import FieldKind, TemplateRegistry
from pipeline.read.copies import agree, groups
from pipeline.read.types import Reading


@pytest.fixture(scope="module")
def form3059():
    return TemplateRegistry.load().get("3059", "016F003")


def _r(fid, value, conf, alts=(), status=None, page=1):
    accept = defs.ACCEPT_CONFIDENCE["personnummer"]
    status = status or ("ok" if conf >= accept else "low_confidence")
    return Reading(fid, FieldKind.personnummer, page, (0, 0, 1, 1), value, conf, status, True, tuple(alts))


PNR = ["assistent.personnummer", "p2.assistent_personnummer", "p3.assistent_personnummer"]
A, B = "198503121234", "198503121739"  # both pass Luhn


def test_groups_come_from_the_template(form3059):
    assert PNR in groups(form3059)
    assert ["header.year_month", "p2.year_month", "p3.year_month"] in groups(form3059)


def test_copies_that_agree_are_accepted_together(form3059):
    lo = defs.ACCEPT_CONFIDENCE["personnummer"] - 0.01  # each copy too unsure to pass alone
    rs = {PNR[0]: _r(PNR[0], A, lo - 0.01, [(B, 0.03)]), PNR[1]: _r(PNR[1], A, lo - 0.05, [(B, 0.05)]),
          PNR[2]: _r(PNR[2], A, lo)}
    assert all(r.status == "low_confidence" for r in rs.values())
    out = agree(form3059, rs)
    assert all(out[f].value == A and out[f].status == "ok" for f in PNR)
    assert out[PNR[0]].confidence > 0.99 and out[PNR[0]].detail["read_alone"] == A


def test_a_misread_copy_is_outvoted_when_its_alternatives_hold_the_value(form3059):
    rs = {PNR[0]: _r(PNR[0], A, 0.97), PNR[1]: _r(PNR[1], B, 0.6, [(A, 0.35)]), PNR[2]: _r(PNR[2], A, 0.96)}
    out = agree(form3059, rs)
    assert out[PNR[1]].value == A and out[PNR[1]].status == "ok"
    assert out[PNR[1]].detail["read_alone"] == B


def test_a_copy_that_holds_another_value_surely_stops_the_agreement(form3059):
    """A sender who wrote two personnummer is asked, not silenced: nothing changes."""
    rs = {PNR[0]: _r(PNR[0], A, 0.97), PNR[1]: _r(PNR[1], B, 0.999, [(A, 0.0005)]), PNR[2]: _r(PNR[2], A, 0.96)}
    assert agree(form3059, rs) == rs
    rs[PNR[1]] = _r(PNR[1], B, 0.999)  # A not among its candidates at all
    assert agree(form3059, rs) == rs


def test_an_unreadable_or_empty_copy_takes_no_part(form3059):
    rs = {PNR[0]: _r(PNR[0], A, 0.97), PNR[1]: _r(PNR[1], None, 0.0, status="unreadable"),
          PNR[2]: _r(PNR[2], A, 0.96)}
    assert agree(form3059, rs) == rs  # an operator looks at the scrawl
    rs[PNR[1]] = Reading(PNR[1], FieldKind.personnummer, 2, (0, 0, 1, 1), None, 1.0, "empty", False)
    out = agree(form3059, rs)
    assert out[PNR[1]] == rs[PNR[1]]
    assert out[PNR[0]].status == "ok" and out[PNR[2]].status == "ok"
