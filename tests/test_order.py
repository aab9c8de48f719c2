"""A time report's days read down its rows together, and dates that run in order
(pipeline/read/order.py)."""

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


DATE_OK = defs.ACCEPT_CONFIDENCE["date"]
PERIODS = [f"berakningsperiod.{i}.{e}" for i in (1, 2) for e in ("from", "tom")]


def date(fid: str, value: str, confidence: float = 0.9999, *alternatives) -> Reading:
    return Reading(fid, FieldKind.date, 1, (0, 0, 1, 1), value, confidence,
                   "ok" if confidence >= DATE_OK else "low_confidence", True, tuple(alternatives))


def test_a_period_that_ends_before_it_starts_takes_the_candidate_that_keeps_the_order():
    """Seed 106: a 3 read as a 1, "2023-03-05" as "2023-01-05", the end of a period that
    began on 2023-02-06."""
    readings = {r.field_id: r for r in (
        date(PERIODS[0], "2023-01-09"), date(PERIODS[1], "2023-02-05"), date(PERIODS[2], "2023-02-06"),
        date(PERIODS[3], "2023-01-05", 0.605, ("2023-03-05", 0.375)))}
    got = in_order(readings, [PERIODS])
    r = got[PERIODS[3]]
    assert r.value == "2023-03-05" and r.detail["order"] == "period corrected" and r.detail["read_as"] == "2023-01-05"
    assert r.status == "low_confidence"  # changed by the order, for an operator at these odds
    assert in_order(readings) == readings  # not listed in the template's order: as read


def test_a_date_read_surely_out_of_order_stays_for_an_operator():
    """A year the reader is 200 to 1 sure of, before the period's start: a sender's slip
    as likely as a misreading, so it stays (defs.DATE_ORDER_BACK), below the threshold."""
    readings = {PERIODS[0]: date(PERIODS[0], "2023-06-25"),
                PERIODS[1]: date(PERIODS[1], "2022-07-22", 0.995, ("2023-07-22", 0.005))}
    r = in_order(readings, [PERIODS])[PERIODS[1]]
    assert r.value == "2022-07-22" and r.status == "low_confidence" and r.confidence < 0.9


def test_dates_in_order_stay_and_months_compare_as_the_calendar():
    readings = {"forskott.from": Reading("forskott.from", FieldKind.year_month, 2, (0, 0, 1, 1), "2023-11", 0.9999,
                                         "ok", True),
                "forskott.tom": Reading("forskott.tom", FieldKind.year_month, 2, (0, 0, 1, 1), "2024-02", 0.9999,
                                        "ok", True)}
    got = in_order(readings, [["forskott.from", "forskott.tom"]])
    assert {f: r.value for f, r in got.items()} == {"forskott.from": "2023-11", "forskott.tom": "2024-02"}
    assert all(r.status == "ok" for r in got.values())
