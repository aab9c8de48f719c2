"""Swedish identity numbers: known examples and properties over generated numbers."""

from __future__ import annotations

from datetime import date

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from pipeline.ids import (
    Organisationsnummer,
    Personnummer,
    corrupt_check_digit,
    is_valid_organisationsnummer,
    is_valid_personnummer,
    luhn_digit,
    luhn_ok,
    mask_personnummer,
    random_organisationsnummer,
    random_personnummer,
)

REF = date(2025, 6, 1)
seeds = st.integers(min_value=0, max_value=2**32 - 1)


# --- known examples -------------------------------------------------------------------------

def test_luhn_known_values():
    # Skatteverket's test number 121212-1212: check digit 2 over 121212121.
    assert luhn_digit("121212121") == 2
    assert luhn_digit("811228987") == 4
    assert luhn_ok("1212121212")
    assert luhn_ok("8112289874")
    assert not luhn_ok("8112289875")
    assert not luhn_ok("")
    assert not luhn_ok("12a")
    # Volvo AB's and Försäkringskassan's organisationsnummer.
    assert luhn_ok("5560125790")
    assert luhn_ok("2021005521")


@pytest.mark.parametrize("text", ["19121212-1212", "191212121212", "121212+1212", "19121212 1212"])
def test_skatteverket_test_number_in_every_form(text):
    p = Personnummer.parse(text, reference=REF)
    assert p.digits == "191212121212"
    assert p.birth_date == date(1912, 12, 12)
    assert not p.is_samordningsnummer
    assert p.formatted == "19121212-1212"


def test_ten_digit_century_from_separator_and_reference():
    assert Personnummer.parse("811228-9874", reference=REF).digits == "198112289874"
    # 1912 is more than 100 years before 2025: without "+" the number means 2012.
    assert Personnummer.parse("121212-1212", reference=date(2011, 1, 1)).birth_date.year == 1912
    assert Personnummer.parse("121212+1212", reference=REF).birth_date.year == 1912
    assert Personnummer.parse("1212121212", reference=REF).birth_date.year == 2012


def test_samordningsnummer():
    body = "7010632" + "39"  # born 1970-10-03, day + 60
    number = "19" + body + str(luhn_digit(body))
    p = Personnummer.parse(number)
    assert p.is_samordningsnummer
    assert p.birth_date == date(1970, 10, 3)
    assert p.digits == number


@pytest.mark.parametrize(
    "text, reason",
    [
        ("19121212-1213", "check digit"),
        ("19121312-1212", "month 13"),
        ("19210230-0000", "not a date"),
        ("19121292-1212", "samordningsnummer"),
        ("19121212121", "expected 12 digits"),
        ("19121212+1212", "10-digit form"),
        ("abc", "expected"),
        ("", "expected"),
    ],
)
def test_invalid_personnummer_names_the_reason(text, reason):
    with pytest.raises(ValueError, match=reason):
        Personnummer.parse(text, reference=REF)
    assert not is_valid_personnummer(text)


def test_personnummer_is_a_living_persons():
    # a century digit misread ("17" or "18" for "19") leaves the last ten digits and their
    # check digit valid: the birth year tells it is not a living person's number
    body = "810212347"
    number = body + str(luhn_digit(body))
    assert Personnummer.parse("19" + number, reference=REF).birth_date == date(1981, 2, 12)
    assert Personnummer.parse("1912121212" + "12", reference=REF).birth_date.year == 1912  # 113 years
    for century in ("17", "18"):
        with pytest.raises(ValueError, match="more than 125 years"):
            Personnummer.parse(century + number, reference=REF)
    with pytest.raises(ValueError, match="after 2025"):
        Personnummer.parse("20" + number, reference=REF)  # born 2081
    assert Personnummer.parse("20" + number, reference=date(2081, 2, 12)).birth_date.year == 2081


def test_mask_personnummer():
    assert mask_personnummer("198503121234") == "19850312-****"
    assert mask_personnummer("19850312-1234") == "19850312-****"
    assert mask_personnummer("850312-1234") == "850312-****"
    assert Personnummer.parse("191212121212").masked == "19121212-****"


def test_organisationsnummer():
    o = Organisationsnummer.parse("556012-5790")
    assert o.digits == "5560125790" and o.is_legal_person and o.group == "aktiebolag"
    assert Organisationsnummer.parse("165560125790").digits == "5560125790"
    assert Organisationsnummer.parse("202100-5521").group.startswith("stat")
    with pytest.raises(ValueError, match="check digit"):
        Organisationsnummer.parse("556012-5791")
    with pytest.raises(ValueError, match="personnummer"):
        Organisationsnummer.parse("811228-9874")
    assert Organisationsnummer.parse("811228-9874", allow_sole_trader=True).digits == "8112289874"
    with pytest.raises(ValueError, match="10 digits"):
        Organisationsnummer.parse("55601257")


# --- properties -----------------------------------------------------------------------------

@settings(max_examples=300, deadline=None)
@given(seeds, st.integers(1901, 1995), st.integers(0, 30), st.booleans())
def test_random_personnummer_is_valid(seed, first, span, samordning):
    rng = np.random.default_rng(seed)
    number = random_personnummer(rng, born_between=(first, first + span), samordning=samordning)
    assert len(number) == 12 and number.isdigit()
    p = Personnummer.parse(number, reference=date(2026, 1, 1))  # born 1901-2025: a living person
    assert p.digits == number
    assert p.is_samordningsnummer == samordning
    assert first <= p.birth_date.year <= first + span
    # The 10-digit form with the right separator reads back to the same number.
    sep = "+" if p.birth_date.year <= REF.year - 100 else "-"
    if (REF - p.birth_date).days > 0 and not (REF.year - p.birth_date.year == 100):
        assert Personnummer.parse(number[2:8] + sep + number[8:], reference=REF).digits == number


@settings(max_examples=300, deadline=None)
@given(seeds)
def test_random_organisationsnummer_is_valid(seed):
    number = random_organisationsnummer(np.random.default_rng(seed))
    assert len(number) == 10 and number.isdigit()
    assert Organisationsnummer.parse(number).is_legal_person
    assert not is_valid_personnummer(number)  # third digit ≥ 2: never a month


@settings(max_examples=300, deadline=None)
@given(seeds, st.booleans())
def test_corrupted_check_digit_never_validates(seed, org):
    rng = np.random.default_rng(seed)
    good = random_organisationsnummer(rng) if org else random_personnummer(rng)
    bad = corrupt_check_digit(good, rng)
    assert bad[:-1] == good[:-1] and bad[-1] != good[-1]
    assert not luhn_ok(bad[-10:])
    assert not (is_valid_organisationsnummer(bad) if org else is_valid_personnummer(bad))
    assert corrupt_check_digit("19121212-1212")[:-1] == "19121212-121"


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet="0123456789", min_size=1, max_size=15))
def test_luhn_digit_makes_luhn_ok_and_is_unique(payload):
    d = luhn_digit(payload)
    assert luhn_ok(payload + str(d))
    assert sum(luhn_ok(payload + str(k)) for k in range(10)) == 1
