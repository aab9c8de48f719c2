"""Swedish identity numbers: personnummer, samordningsnummer and organisationsnummer.

Used by the sample generator (valid numbers, and numbers with a deliberately wrong check
digit) and by validation. Rules (Skatteverket SKV 704, Bolagsverket):

* A personnummer is the birth date ``YYMMDD``, a three-digit serial number and a Luhn check
  digit computed over the nine digits before it. FK's forms ask for all 12 digits
  (``YYYYMMDDNNNC``); the 10-digit form writes ``-`` before the serial number, or ``+`` once
  the person has turned 100, which settles the century.
* A samordningsnummer is built the same way with 60 added to the day of birth.
* An organisationsnummer is 10 digits with a Luhn check digit; for a legal person the third
  digit is at least 2 (so it can never be a date), the first digit tells the kind of entity.
  A sole trader (enskild firma) uses the owner's personnummer instead.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date

import numpy as np

SAMORDNING_DAY_OFFSET = 60  # Skatteverket adds 60 to the day of birth of a samordningsnummer
CENTENARIAN_SEPARATOR = "+"  # 10-digit form: the person is 100 years or older
ORGNR_LEGAL_PERSON_MIN_THIRD_DIGIT = 2  # "mittsiffrorna" ≥ 20: cannot be read as a month
# A personnummer is a living person's: born on or before the day it is read against, and at
# most this many years before it (the oldest verified age is 122 years). A misread century
# digit ("17" for "19" in YYYY) otherwise makes a valid-looking number of someone born 1781.
PERSON_MAX_AGE_YEARS = 125

# First digit of an organisationsnummer: the kind of legal person (Bolagsverket).
ORGNR_GROUPS = {
    "1": "dödsbo",
    "2": "stat, region, kommun eller församling",
    "3": "utländskt företag",
    "5": "aktiebolag",
    "6": "enkelt bolag",
    "7": "ekonomisk förening eller bostadsrättsförening",
    "8": "ideell förening eller stiftelse",
    "9": "handelsbolag eller kommanditbolag",
}


# --- Luhn -----------------------------------------------------------------------------------

def _only_digits(digits: str) -> str:
    if not digits or not digits.isascii() or not digits.isdigit():
        raise ValueError(f"{digits!r} is not a string of digits")
    return digits


def luhn_digit(digits: str) -> int:
    """The Luhn check digit to append to ``digits`` (weights 2, 1, 2, … from the left end of a
    9-digit payload, i.e. from the right end counting the check digit's position as 1)."""
    _only_digits(digits)
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch) * (2 if i % 2 == 0 else 1)
        total += d - 9 if d > 9 else d
    return (10 - total % 10) % 10


def luhn_ok(digits: str) -> bool:
    """True if the last digit of ``digits`` is the Luhn check digit of the ones before it."""
    if not isinstance(digits, str) or len(digits) < 2 or not digits.isascii() or not digits.isdigit():
        return False
    return luhn_digit(digits[:-1]) == int(digits[-1])


# --- personnummer ---------------------------------------------------------------------------

_PNR = re.compile(r"^(?P<century>\d{2})?(?P<yymmdd>\d{6})(?P<sep>[-+]?)(?P<serial>\d{3})(?P<check>\d)$")


@dataclass(frozen=True)
class Personnummer:
    """A validated personnummer or samordningsnummer, always with its century (12 digits)."""

    digits: str  # YYYYMMDDNNNC; for a samordningsnummer the day is the day of birth + 60
    is_samordningsnummer: bool
    birth_date: date

    @classmethod
    def parse(cls, text: str, *, reference: date | None = None) -> "Personnummer":
        """Parse ``YYYYMMDDNNNC``, ``YYYYMMDD-NNNC``, ``YYMMDD-NNNC``, ``YYMMDDNNNC`` or
        ``YYMMDD+NNNC`` (spaces ignored). A 10-digit number gets the century that makes the
        person younger than 100 on ``reference`` (default today), or at least 100 with ``+``.
        The person is born on or before ``reference`` and at most PERSON_MAX_AGE_YEARS
        before it. Raises ValueError saying what is wrong."""
        if not isinstance(text, str):
            raise ValueError(f"personnummer must be text, got {type(text).__name__}")
        s = re.sub(r"\s+", "", text)
        m = _PNR.match(s)
        if not m:
            raise ValueError(f"personnummer {text!r}: expected 12 digits (YYYYMMDDNNNN) or 10 (YYMMDD-NNNN)")
        yymmdd, sep, serial, check = m["yymmdd"], m["sep"], m["serial"], m["check"]
        yy, mm, dd = int(yymmdd[:2]), int(yymmdd[2:4]), int(yymmdd[4:6])
        if m["century"] is not None and sep == CENTENARIAN_SEPARATOR:
            raise ValueError(f"personnummer {text!r}: '+' belongs only to the 10-digit form")
        samordning = dd > SAMORDNING_DAY_OFFSET
        day = dd - SAMORDNING_DAY_OFFSET if samordning else dd
        if not 1 <= mm <= 12:
            raise ValueError(f"personnummer {text!r}: month {mm:02d} does not exist")
        ref = reference or date.today()
        if m["century"] is not None:
            year = int(m["century"]) * 100 + yy
        else:
            year = _year_with_century(yy, mm, day, ref, centenarian=sep == CENTENARIAN_SEPARATOR)
        try:
            born = date(year, mm, day)
        except ValueError:
            what = "samordningsnummer day (day + 60)" if samordning else "day"
            raise ValueError(f"personnummer {text!r}: {what} {dd:02d} is not a date in {year}-{mm:02d}") from None
        if born > ref:
            raise ValueError(f"personnummer {text!r}: born {born.isoformat()}, after {ref.isoformat()}")
        if ref.year - born.year > PERSON_MAX_AGE_YEARS:
            raise ValueError(f"personnummer {text!r}: born {born.year}, more than {PERSON_MAX_AGE_YEARS} years before {ref.year}")
        last10 = yymmdd + serial + check
        if not luhn_ok(last10):
            raise ValueError(
                f"personnummer {text!r}: wrong check digit {check}, expected {luhn_digit(last10[:-1])}"
            )
        return cls(digits=f"{year:04d}{yymmdd[2:]}{serial}{check}", is_samordningsnummer=samordning, birth_date=born)

    @property
    def formatted(self) -> str:
        """``YYYYMMDD-NNNC``, as FK prints it."""
        return f"{self.digits[:8]}-{self.digits[8:]}"

    @property
    def masked(self) -> str:
        return mask_personnummer(self.digits)

    def __str__(self) -> str:
        return self.digits


def _year_with_century(yy: int, mm: int, day: int, ref: date, *, centenarian: bool) -> int:
    """The full year for a 10-digit number: the latest year ending in ``yy`` whose birthday is
    not after ``ref``, moved back a century for ``+`` (Skatteverket's rule)."""
    year = ref.year - (ref.year - yy) % 100
    try:
        birthday = date(year, mm, min(day, 28) if mm == 2 else day)
    except ValueError:
        birthday = date(year, mm, 1)
    if birthday > ref:
        year -= 100
    if centenarian:
        year -= 100
    return year


def is_valid_personnummer(text: str) -> bool:
    try:
        Personnummer.parse(text)
    except ValueError:
        return False
    return True


def mask_personnummer(text: str) -> str:
    """Hide the serial and check digits, for logs: ``198503121234`` → ``19850312-****``."""
    s = re.sub(r"[\s+-]", "", text or "")
    if len(s) == 12:
        return f"{s[:8]}-****"
    if len(s) == 10:
        return f"{s[:6]}-****"
    return "*" * len(s)


# --- organisationsnummer --------------------------------------------------------------------

_ORGNR = re.compile(r"^(?:16)?(?P<first6>\d{6})-?(?P<last4>\d{4})$")


@dataclass(frozen=True)
class Organisationsnummer:
    """A validated organisationsnummer (10 digits, no separator)."""

    digits: str

    @classmethod
    def parse(cls, text: str, *, allow_sole_trader: bool = False) -> "Organisationsnummer":
        """Parse ``NNNNNN-NNNN``, 10 digits or ``16`` + 10 digits (spaces ignored). A third digit
        below 2 means a personnummer (a sole trader's id): refused unless ``allow_sole_trader``,
        in which case the personnummer rules apply. Raises ValueError saying what is wrong."""
        if not isinstance(text, str):
            raise ValueError(f"organisationsnummer must be text, got {type(text).__name__}")
        s = re.sub(r"\s+", "", text)
        m = _ORGNR.match(s)
        if not m:
            raise ValueError(f"organisationsnummer {text!r}: expected 10 digits (NNNNNN-NNNN)")
        digits = m["first6"] + m["last4"]
        if int(digits[2]) < ORGNR_LEGAL_PERSON_MIN_THIRD_DIGIT:
            if not allow_sole_trader:
                raise ValueError(
                    f"organisationsnummer {text!r}: third digit {digits[2]} is below "
                    f"{ORGNR_LEGAL_PERSON_MIN_THIRD_DIGIT}, so it is a personnummer, not a legal person's number"
                )
            Personnummer.parse(digits[:6] + "-" + digits[6:])
            return cls(digits=digits)
        if not luhn_ok(digits):
            raise ValueError(
                f"organisationsnummer {text!r}: wrong check digit {digits[-1]}, expected {luhn_digit(digits[:-1])}"
            )
        return cls(digits=digits)

    @property
    def is_legal_person(self) -> bool:
        return int(self.digits[2]) >= ORGNR_LEGAL_PERSON_MIN_THIRD_DIGIT

    @property
    def group(self) -> str | None:
        """The kind of legal person the first digit stands for (Swedish), if known."""
        return ORGNR_GROUPS.get(self.digits[0]) if self.is_legal_person else None

    @property
    def formatted(self) -> str:
        return f"{self.digits[:6]}-{self.digits[6:]}"

    def __str__(self) -> str:
        return self.digits


def is_valid_organisationsnummer(text: str) -> bool:
    try:
        Organisationsnummer.parse(text)
    except ValueError:
        return False
    return True


# --- generators -----------------------------------------------------------------------------

def random_personnummer(
    rng: np.random.Generator, *, born_between: tuple[int, int] = (1940, 2005), samordning: bool = False
) -> str:
    """A valid 12-digit personnummer (or samordningsnummer) of someone born in the given years
    (inclusive)."""
    first, last = born_between
    start, end = date(first, 1, 1).toordinal(), date(last, 12, 31).toordinal()
    born = date.fromordinal(int(rng.integers(start, end + 1)))
    day = born.day + (SAMORDNING_DAY_OFFSET if samordning else 0)
    serial = int(rng.integers(1, 1000))
    body = f"{born.year % 100:02d}{born.month:02d}{day:02d}{serial:03d}"
    return f"{born.year // 100:02d}{body}{luhn_digit(body)}"


# Kinds of organisation that run personal assistance, with how common they are (share).
_ORGNR_FIRST_DIGITS = (("5", 0.75), ("2", 0.12), ("7", 0.05), ("8", 0.05), ("9", 0.03))


def random_organisationsnummer(rng: np.random.Generator) -> str:
    """A valid 10-digit organisationsnummer of a legal person (mostly aktiebolag: 556…/559…)."""
    digits, weights = zip(*_ORGNR_FIRST_DIGITS)
    first = str(rng.choice(list(digits), p=np.array(weights) / sum(weights)))
    if first == "5":
        head = "55" + str(rng.choice(["6", "9"]))
    elif first == "2":
        head = "212"  # kommuner and regioner: 212000-NNNN, 232100-NNNN
    else:
        head = first + str(int(rng.integers(0, 10))) + str(int(rng.integers(ORGNR_LEGAL_PERSON_MIN_THIRD_DIGIT, 10)))
    body = head + "".join(str(int(d)) for d in rng.integers(0, 10, size=6))
    return body + str(luhn_digit(body))


def corrupt_check_digit(number: str, rng: np.random.Generator | None = None) -> str:
    """The same number with a different (hence wrong) last digit, separators kept."""
    if not number or not number[-1].isdigit():
        raise ValueError(f"{number!r} does not end in a check digit")
    old = int(number[-1])
    step = int(rng.integers(1, 10)) if rng is not None else 5
    return number[:-1] + str((old + step) % 10)
