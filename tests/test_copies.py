"""The running header's copies read together (pipeline/read/copies.py)."""

from __future__ import annotations

import pytest

from pipeline import defs
from pipeline.forms import FieldKind, TemplateRegistry
from pipeline.read.copies import agree, consensus, floor, groups
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
    assert out[PNR[0]].confidence > 0.99 and out[PNR[0]].detail["read_as"] == A
    assert out[PNR[0]].detail["copies"] == "agreed"


def test_a_misread_copy_is_outvoted_when_its_alternatives_hold_the_value(form3059):
    rs = {PNR[0]: _r(PNR[0], A, 0.97), PNR[1]: _r(PNR[1], B, 0.6, [(A, 0.35)]), PNR[2]: _r(PNR[2], A, 0.96)}
    out = agree(form3059, rs)
    assert out[PNR[1]].value == A and out[PNR[1]].status == "ok"
    assert out[PNR[1]].detail["read_as"] == B


def test_a_copy_that_holds_another_value_surely_stops_the_agreement(form3059):
    """A sender who wrote two personnummer is asked, not silenced: nothing changes."""
    rs = {PNR[0]: _r(PNR[0], A, 0.97), PNR[1]: _r(PNR[1], B, 0.999, [(A, 0.0005)]), PNR[2]: _r(PNR[2], A, 0.96)}
    assert agree(form3059, rs) == rs
    rs[PNR[1]] = _r(PNR[1], B, 0.999)  # A not among its candidates at all
    assert agree(form3059, rs) == rs


def test_an_empty_copy_takes_no_part(form3059):
    rs = {PNR[0]: _r(PNR[0], A, 0.97), PNR[2]: _r(PNR[2], A, 0.96),
          PNR[1]: Reading(PNR[1], FieldKind.personnummer, 2, (0, 0, 1, 1), None, 1.0, "empty", False)}
    out = agree(form3059, rs)
    assert out[PNR[1]] == rs[PNR[1]]
    assert out[PNR[0]].status == "ok" and out[PNR[2]].status == "ok"


def test_an_unreadable_copy_is_shown_with_the_value_the_others_decide(form3059):
    """A copy with ink and no valid reading (seed 105: "2 006 8 24.4112", a 03 run together)
    does not vote; when the other copies decide, an operator sees their value beside the
    scrawl, never accepted. Before, one such copy kept every copy as read."""
    rs = {PNR[0]: _r(PNR[0], A, 0.97), PNR[1]: _r(PNR[1], None, 0.0, status="unreadable"),
          PNR[2]: _r(PNR[2], A, 0.96)}
    out = agree(form3059, rs)
    assert out[PNR[0]].status == "ok" and out[PNR[2]].status == "ok"
    shown = out[PNR[1]]
    assert (shown.value, shown.status, shown.confidence) == (A, "low_confidence", defs.COPIES_UNREAD_CONFIDENCE)
    assert shown.detail["copies"] == "from the other pages"
    # copies that decide nothing leave it unreadable
    rs[PNR[2]] = _r(PNR[2], B, 0.96)
    assert agree(form3059, rs) == rs
    # and one copy alone decides nothing for it either
    del rs[PNR[2]]
    assert agree(form3059, rs) == rs


def test_every_finding_of_the_copies_has_words(form3059):
    from pipeline.review.text import CHECKS

    rs = {PNR[0]: _r(PNR[0], A, 0.9), PNR[1]: _r(PNR[1], None, 0.0, status="unreadable"), PNR[2]: _r(PNR[2], A, 0.9)}
    found = {f"copies: {r.detail['copies']}" for r in agree(form3059, rs).values() if "copies" in r.detail}
    assert found == {"copies: agreed", "copies: from the other pages"}
    assert found <= CHECKS["sv"].keys()


def test_a_copy_read_mostly_as_an_invalid_string_joins_sure_copies(form3059):
    """Its readers read mostly an invalid string (a digit lost at the box's edge): that is
    no vote for another value, and the sure copies decide (bench seed 8010: such copies of
    the person's personnummer held their 3059s at 0.0001)."""
    rs = {PNR[0]: _r(PNR[0], A, 0.9999), PNR[1]: _r(PNR[1], A, 0.0001), PNR[2]: _r(PNR[2], A, 0.998)}
    out = agree(form3059, rs)
    assert out[PNR[1]].status == "ok" and out[PNR[1]].value == A
    assert out[PNR[1]].confidence >= defs.ACCEPT_CONFIDENCE["personnummer"]
    assert out[PNR[0]] == rs[PNR[0]]  # accepted as read: its own confidence stands


def test_copies_that_all_read_mostly_invalid_strings_stay_held(form3059):
    """A wrong check digit written on every page: each copy's only valid candidate is a
    one-digit repair, unsure; together they are no surer."""
    rs = {f: _r(f, A, 0.005) for f in PNR}
    assert agree(form3059, rs) == rs
    # one sure copy beside one mostly-invalid copy is not enough either
    rs = {PNR[0]: _r(PNR[0], A, 0.97), PNR[1]: _r(PNR[1], A, 0.0001)}
    assert agree(form3059, rs) == rs


def test_a_value_a_copy_left_out_weighs_less_than_those_it_listed():
    """Two copies each read at 0.998 (under the hand phone threshold), each with a long list
    of 0.0001 alternatives the other did not list: together they are surer than either (bench
    seed 8011: a 3066's two copies of the provider's number joined at 0.9979 and stayed held)."""
    v = "031554724"
    a = {v: 0.998, **{f"03155472{d}": 0.0001 for d in "0123568"}, **{f"0{d}1554724": 0.0001 for d in "02456789"}}
    b = {v: 0.998, **{f"0315547{d}4": 0.0001 for d in "0135689"}, **{f"031{d}54724": 0.0001 for d in "02346789"}}
    c = consensus([a, b])
    assert c.value == v and c.share > 0.9995
    # a copy that lists nothing else leaves COPIES_FLOOR for what it did not list; one that
    # lists values below the stored records' resolution, COPIES_FLOOR_MIN
    assert floor({v: 0.9}) == defs.COPIES_FLOOR
    assert floor({v: 0.9, "031554725": 0.0005}) == 0.0005
    assert floor({v: 0.9, "031554725": 1e-7}) == defs.COPIES_FLOOR_MIN
