"""A time report's days read down its rows together (pipeline/read/order.py)."""

from __future__ import annotations

from pipeline import defs
from pipeline.forms import FieldKind
from pipeline.read.order import in_order
from pipeline.read.types import Reading

DAY_OK = defs.ACCEPT_CONFIDENCE["day"]


def day(n: int, value: str | None, confidence: float = 0.999, *alternatives, status: str | None = None) -> Reading:
    fid = f"rows.{n}.dag"
    if value is None:
        return Reading(fid, FieldKind.day, 2, (0, 0, 1, 1), None, 1.0, status or "empty", status is not None)
    return Reading(fid, FieldKind.day, 2, (0, 0, 1, 1), value, confidence,
                   status or ("ok" if confidence >= DAY_OK else "low_confidence"), True, tuple(alternatives))


def rows(*readings: Reading) -> dict[str, Reading]:
    return {r.field_id: r for r in readings}


def test_a_day_that_breaks_the_order_takes_its_candidate_that_keeps_it():
    """A 2 read as a 7: "17" between 11 and 13, with "12" among its candidates."""
    got = in_order(rows(day(1, "11"), day(2, "17", 0.95, ("12", 0.045)), day(3, "13")))
    r = got["rows.2.dag"]
    assert r.value == "12" and r.detail["order"] == "corrected" and r.detail["read_as"] == "17"
    assert r.alternatives[0][0] == "17"
    assert got["rows.1.dag"].value == "11" and got["rows.3.dag"].value == "13"
    # a reading 50 times surer than its in-order rival (defs.DAY_ORDER_BACK) is not overturned
    sure = in_order(rows(day(1, "11"), day(2, "17", 0.992, ("12", 0.007)), day(3, "13")))["rows.2.dag"]
    assert sure.value == "17" and sure.status == "low_confidence"


def test_a_day_out_of_order_without_a_better_candidate_goes_to_an_operator():
    """Nothing else to read it as: the value stays, but below the threshold (it may be a day
    the writer added out of order, or a misreading none of the readers listed)."""
    got = in_order(rows(day(1, "11"), day(2, "4", 0.99), day(3, "13")))
    r = got["rows.2.dag"]
    assert r.value == "4" and r.confidence < DAY_OK and r.status == "low_confidence"


def test_a_rival_that_breaks_the_order_makes_the_reading_surer():
    got = in_order(rows(day(1, "11"), day(2, "12", 0.9, ("17", 0.09)), day(3, "13")))
    r = got["rows.2.dag"]
    assert r.value == "12" and r.confidence > DAY_OK and r.status == "ok" and r.detail["order"] == "confirmed"


def test_where_the_order_tells_nothing_the_readings_stay():
    """Candidates that all fit between their neighbours, two shifts on one day, empty rows
    and a row without a valid day between them."""
    readings = rows(day(1, "3"), day(2, "5", 0.9, ("6", 0.08)), day(3, "8"), day(4, "8"), day(5, None),
                    day(6, None, status="unreadable"), day(7, "9", 0.95, ("8", 0.04)), day(8, "30"))
    assert in_order(readings) == readings


def test_rows_are_taken_in_their_number_order_across_pages():
    """rows.10 comes after rows.9 (not after rows.1), and a page 3's rows after page 2's."""
    readings = rows(day(9, "20"), day(10, "27", 0.95, ("21", 0.045)), day(41, "22"))
    got = in_order(readings)
    assert got["rows.10.dag"].value == "21"
    readings = rows(day(1, "2"), day(9, "20"), day(10, "21", 0.95, ("12", 0.045)))
    assert in_order(readings)["rows.10.dag"].value == "21"  # 21 after 20: in order, stays
