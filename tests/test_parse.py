"""Kind parsing: candidates become canonical values; invalid ones are refused; the form's
redundancy (Luhn, ranges) picks the right candidate among the recogniser's alternatives."""

from __future__ import annotations

from datetime import date

import pytest
from hypothesis import given, strategies as st

from pipeline.forms import FieldKind as K
from pipeline.ids import corrupt_check_digit, luhn_digit
from pipeline.read.parse import combine, normalise, parse

REF = date(2026, 11, 23)


@pytest.mark.parametrize("kind, written, canonical", [
    (K.clock_time, "7.00", "07.00"), (K.clock_time, "07:30", "07.30"), (K.clock_time, "2215", "22.15"),
    (K.clock_time, "24.00", "24.00"), (K.clock_time, "7.60", None), (K.clock_time, "25.00", None),
    (K.personnummer, "19121212-1212", "191212121212"), (K.personnummer, "121212-1212", "201212121212"),
    (K.personnummer, "19121212-1213", None), (K.personnummer, "1912121212", None),
    (K.organisationsnummer, "556036-0793", "5560360793"), (K.organisationsnummer, "5560360794", None),
    (K.date, "2026-09-03", "2026-09-03"), (K.date, "26-09-03", "2026-09-03"), (K.date, "2026-02-30", None),
    (K.year_month, "202609", "2026-09"), (K.year_month, "2026-13", None),
    (K.day, "31", "31"), (K.day, "0", None), (K.day, "32", None),
    (K.hours, "0163", "163"), (K.minutes, "05", "5"), (K.minutes, "60", None),
    (K.amount, "1 234,50", "1234.50"), (K.amount, "1234", "1234.00"), (K.amount, "12,5", "12.50"), (K.amount, "12,345", None),
    (K.amount, "225 458,31", "225458.31"), (K.amount, "26,30", "26.30"), (K.amount, "1 234 567", "1234567.00"),
    (K.amount, "1\u00a0234,00", "1234.00"), (K.amount, "1\u202f234,00", "1234.00"), (K.amount, "330, 44", "330.44"),
    (K.amount, "1234:-", "1234.00"),
    # a space splits kronor into thousands only: these are misreads (a lost comma), not amounts
    (K.amount, "2631 70", None), (K.amount, "47 2021 04", None), (K.amount, "12 34", None), (K.amount, "1 2345,00", None),
    (K.phone, "070-123 45 67", "0701234567"), (K.phone, "+46 70 123 45 67", "+46701234567"), (K.phone, "12", None),
    # the numbering plan: a trunk 0, an area code not starting with 0, 7–10 digits; a mobile 10
    (K.phone, "08-123 45", "0812345"), (K.phone, "031-12 34 56", "031123456"), (K.phone, "0046 70 123 45 67", "0046701234567"),
    (K.phone, "070-123 45 678", None), (K.phone, "070-123 45 6", None), (K.phone, "6701234567", None),
    (K.phone, "0012345", None), (K.phone, "0031234567", "0031234567"), (K.phone, "00812345", None),
    (K.text, "  Anna   Berg ", "Anna Berg"), (K.text, "   ", None), (K.text, "Emma Nilsson:", "Emma Nilsson"), (K.text, "| Ingrid Holm |", "Ingrid Holm"),
])
def test_normalise(kind, written, canonical):
    assert normalise(kind, written, reference=REF) == canonical


def test_a_date_has_a_year_its_form_can_hold():
    assert normalise(K.date, "7023-01-29", reference=REF) is None  # a 2 read as a 7
    assert normalise(K.date, "1899-12-31", reference=REF) is None
    assert normalise(K.date, "1985-06-01", reference=REF) == "1985-06-01"  # an employment date
    # on a form reporting a month: from the year before it to two years after
    assert normalise(K.date, "2021-12-31", month="2024-11") is None
    assert normalise(K.date, "2023-12-28", month="2024-01") == "2023-12-28"
    assert normalise(K.date, "2026-03-02", month="2024-11") == "2026-03-02"
    assert normalise(K.date, "2027-01-05", month="2024-11") is None
    assert normalise(K.date, "24-12-05", month="2024-11") == "2024-12-05"


def test_a_misread_year_gives_way_to_the_plausible_one():
    beam = [("2021-12-31", 0.6), ("2024-12-31", 0.3)]
    assert parse(K.date, beam, month="2024-12").value == "2024-12-31"
    assert parse(K.date, beam).value == "2021-12-31"  # without the month both can be


def test_a_doubtful_year_leans_to_the_month_reported():
    """Readers torn between a date near the month the form reports and one two years off:
    the near one (defs.DATE_NEAR_MONTHS, at DATE_FAR_ODDS to 1); read clearly, the far one
    stands; without a month neither is favoured."""
    torn = [[("2025-03-05", 0.5), ("2023-03-05", 0.4)], [("2025-03-05", 0.55), ("2023-03-05", 0.4)]]
    near = combine(K.date, torn, floor=0.01, month="2023-02")
    assert near.value == "2023-03-05" and near.probability > 0.8
    assert combine(K.date, torn, floor=0.01).value == "2025-03-05"
    assert combine(K.date, torn, floor=0.01, month="2023-06").value == "2023-03-05"  # 3 months before
    clear = [[("2025-03-05", 0.97), ("2023-03-05", 0.02)], [("2025-03-05", 0.98), ("2023-03-05", 0.01)]]
    assert combine(K.date, clear, floor=0.01, month="2023-02").value == "2025-03-05"


def test_a_signature_leans_to_a_date_from_the_month_on():
    """A signature under a month's hours (``after_month_start``): torn between a date before
    the month began and one in it, the one in it; a date before, read clearly, stands; a
    field without the flag (a hospital stay) favours neither."""
    torn = [[("2023-01-05", 0.5), ("2023-03-05", 0.4)], [("2023-01-05", 0.55), ("2023-03-05", 0.4)]]
    signed = combine(K.date, torn, floor=0.01, month="2023-02", from_month=True)
    assert signed.value == "2023-03-05" and signed.probability > 0.8
    assert combine(K.date, torn, floor=0.01, month="2023-02").value == "2023-01-05"
    assert combine(K.date, torn, floor=0.01, month="2023-01", from_month=True).value == "2023-01-05"  # in it
    clear = [[("2023-01-05", 0.97), ("2023-03-05", 0.02)], [("2023-01-05", 0.98), ("2023-03-05", 0.01)]]
    assert combine(K.date, clear, floor=0.01, month="2023-02", from_month=True).value == "2023-01-05"


def test_a_month_reported_or_a_signature_lies_before_the_post_was_received():
    got = date(2024, 1, 8)  # a December report, received in January
    assert normalise(K.year_month, "2023-12", received=got) == "2023-12"
    assert normalise(K.year_month, "2024-01", received=got) == "2024-01"  # begun: may be sent early
    assert normalise(K.year_month, "2028-12", received=got) is None  # a 3 read as an 8
    assert normalise(K.year_month, "2024-02", received=got) is None
    assert normalise(K.year_month, "2021-12", received=got) == "2021-12"  # late: a flag, not a misreading
    assert normalise(K.date, "2024-01-08", received=got) == "2024-01-08"  # signed the day it came
    assert normalise(K.date, "2024-01-09", received=got) is None
    assert normalise(K.date, "24-01-03", received=got, month="2023-12") == "2024-01-03"
    assert normalise(K.clock_time, "7.00", received=got) == "07.00"  # other kinds: no bound


def test_a_month_after_receipt_is_doubt_not_a_reading():
    """Both readers sure of a month after the post came: held, not read as the next best."""
    got = date(2024, 1, 8)
    readers = [[("202812", 0.96), ("202312", 0.03)], [("202812", 0.97), ("202312", 0.02)]]
    free = combine(K.year_month, readers, floor=0.01)
    assert free.value == "2028-12" and free.probability > 0.99
    bound = combine(K.year_month, readers, floor=0.01, received=got)
    assert bound.value == "2023-12" and bound.probability < 0.5
    # a true month the readers agree on keeps its confidence
    sure = [[("202312", 0.97), ("202812", 0.02)], [("202312", 0.98), ("202812", 0.01)]]
    assert combine(K.year_month, sure, floor=0.01, received=got).probability > 0.99


def test_day_within_the_month():
    assert normalise(K.day, "31", month="2026-09") is None
    assert normalise(K.day, "29", month="2024-02") == "29"
    assert normalise(K.day, "29", month="2026-02") is None


def test_luhn_picks_the_right_candidate():
    body = "198503121" + "23"
    right = body + str(luhn_digit(body[2:]))
    wrong = [right[:10] + d + right[11:] for d in "0123456789" if d != right[10]]
    wrong = [w for w in wrong if normalise(K.personnummer, w, reference=REF) is None]
    # the recogniser prefers a misread digit; only the right reading passes the Luhn check
    cands = [(wrong[0][:8] + "-" + wrong[0][8:], 0.55), (right[:8] + "-" + right[8:], 0.30), (wrong[1], 0.15)]
    p = parse(K.personnummer, cands, reference=REF)
    assert p.value == right and p.probability == pytest.approx(0.30)


def test_nothing_valid_says_why():
    p = parse(K.clock_time, [("7.75", 0.9), ("7.95", 0.1)])
    assert p.value is None and "no valid clock_time" in p.reason


def test_same_value_pools_probability():
    p = parse(K.clock_time, [("7.00", 0.4), ("07.00", 0.35), ("1.00", 0.25)])
    assert p.value == "07.00" and p.probability == pytest.approx(0.75)
    assert p.alternatives == (("01.00", pytest.approx(0.25)),)


@given(st.dates(min_value=date(1930, 1, 1), max_value=date(2008, 12, 31)), st.integers(0, 999))
def test_any_valid_personnummer_round_trips_and_a_wrong_check_digit_never_passes(born, serial):
    body = born.strftime("%Y%m%d") + f"{serial:03d}"
    pnr = body + str(luhn_digit(body[2:]))
    assert normalise(K.personnummer, pnr[:8] + "-" + pnr[8:], reference=REF) == pnr
    assert normalise(K.personnummer, corrupt_check_digit(pnr), reference=REF) is None
