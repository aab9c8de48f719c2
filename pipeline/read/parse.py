"""From what was read to a canonical value, per field kind, using the form's redundancy.

A reader hands over candidate strings with probabilities (the digit recogniser's beam, or
Tesseract's text); :func:`parse` keeps the candidates that are valid for the field's kind —
a personnummer whose Luhn digit checks, a clock time with minutes ≤ 59, a day within the
month — and returns the most probable valid one with its renormalised probability. The
canonical formats are those of the truth files (see ``pipeline.synth.content``).
"""

from __future__ import annotations

import re
from calendar import monthrange
from dataclasses import dataclass
from datetime import date

import numpy as np

from pipeline import defs
from pipeline.forms import FieldKind
from pipeline.ids import Organisationsnummer, Personnummer


@dataclass(frozen=True)
class Parsed:
    value: str | None
    probability: float  # of the chosen candidate among all candidates offered
    alternatives: tuple[tuple[str, float], ...]  # other valid values, best first
    reason: str | None = None  # why nothing valid was found


def _digits(s: str) -> str:
    return re.sub(r"[^0-9]", "", s)


def personnummer(s: str, reference: date | None = None) -> str | None:
    d = _digits(s)
    if len(d) not in (10, 12):
        return None
    try:
        return Personnummer.parse(s if len(d) == 10 and ("+" in s) else d, reference=reference).digits
    except ValueError:
        return None


def organisationsnummer(s: str) -> str | None:
    d = _digits(s)
    if len(d) == 12 and d.startswith("16"):
        d = d[2:]
    if len(d) != 10:
        return None
    try:
        return Organisationsnummer.parse(d).digits
    except ValueError:
        return None


def clock_time(s: str) -> str | None:
    """``7.00``, ``07.00``, ``07:00``, ``0700``, ``7,00`` → ``07.00``; 24.00 allowed (end of day)."""
    t = s.strip().replace(" ", "")
    m = re.fullmatch(r"(\d{1,2})[.:,](\d{2})", t, re.ASCII) or re.fullmatch(r"(\d{1,2})(\d{2})", t, re.ASCII)
    if not m:
        return None
    h, mi = int(m.group(1)), int(m.group(2))
    if mi > 59 or h > 24 or (h == 24 and mi != 0):
        return None
    return f"{h:02d}.{mi:02d}"


def clock_shaped(s: str) -> bool:
    """Whether a string is written as a clock time could be: at most four digits, minutes
    (the last two of three or four) 00–59, an hour below 30. "7", "25.00" and "24.30" are
    written by senders (an hour alone, a night shift counted on); "07.301", "7.65" are not."""
    d = _digits(s)
    if len(d) > 4:
        return False
    return len(d) < 3 or (int(d[-2:]) <= 59 and int(d[:-2]) < 30)


def _years(month: str | None) -> tuple[int, int]:
    """The years a date of the form can lie in (DATE_YEAR_MIN/MAX; with the ``month`` a form
    reports, DATE_YEARS_BEFORE/AFTER_MONTH around its year)."""
    if month:  # the form reports this month: its dates lie around it
        return int(month[:4]) - defs.DATE_YEARS_BEFORE_MONTH, int(month[:4]) + defs.DATE_YEARS_AFTER_MONTH
    return defs.DATE_YEAR_MIN, defs.DATE_YEAR_MAX


def _date_parts(s: str, reference: date | None = None, month: str | None = None) -> tuple[int, int, int] | None:
    """Year, month and day as written (8 digits, or 6 with the century that puts the date
    nearest the reference), unchecked; None for another number of digits."""
    ref = reference or (date(int(month[:4]), int(month[5:7]), 1) if month else date.today())
    d = _digits(s)
    if len(d) == 8:
        return int(d[:4]), int(d[4:6]), int(d[6:])
    if len(d) == 6:  # YYMMDD
        y = int(d[:2])
        year = min((c * 100 + y for c in (ref.year // 100 - 1, ref.year // 100)), key=lambda c: abs(c - ref.year))
        return year, int(d[2:4]), int(d[4:])
    return None


def date_value(s: str, reference: date | None = None, month: str | None = None) -> str | None:
    """``2026-09-03``, ``20260903``, ``26-09-03``, ``260903`` → ``2026-09-03``; None for no
    date, or a year no date of the form can have (:func:`_years`)."""
    parts = _date_parts(s, reference, month)
    if parts is None:
        return None
    lo, hi = _years(month)
    if not lo <= parts[0] <= hi:
        return None
    try:
        return date(*parts).isoformat()
    except ValueError:
        return None


def date_shaped(s: str, reference: date | None = None, month: str | None = None) -> bool:
    """Whether a string is written as a date of the form could be: 6 or 8 digits, a month
    1–12, a day 1–31, a year the form's dates can lie in. A 31 April or a date after the post
    was received is date-shaped: a sender can write one; "2623-06-05", "2024-101-21" or
    month 63 no sender writes (:func:`misreading`)."""
    parts = _date_parts(s, reference, month)
    if parts is None:
        return False
    (lo, hi), (y, m, d) = _years(month), parts
    return lo <= y <= hi and 1 <= m <= 12 and 1 <= d <= 31


def year_month(s: str) -> str | None:
    d = _digits(s)
    if len(d) == 6 and 1 <= int(d[4:]) <= 12 and 1990 <= int(d[:4]) <= 2100:
        return f"{d[:4]}-{d[4:]}"
    return None


def day(s: str, month: str | None = None) -> str | None:
    d = _digits(s)
    if not d or len(d) > 2:
        return None
    n = int(d)
    last = monthrange(int(month[:4]), int(month[5:7]))[1] if month else 31
    return str(n) if 1 <= n <= last else None


def hours(s: str) -> str | None:
    d = _digits(s)
    return str(int(d)) if d and len(d) <= 4 else None


def minutes(s: str) -> str | None:
    d = _digits(s)
    return str(int(d)) if d and len(d) <= 2 and int(d) <= 59 else None


# Thousands separators people and programs put in amounts: a space, a no-break space, a
# narrow no-break space (how Swedish locales format 12 345), a thin space.
_THOUSANDS = " \u00a0\u202f\u2009"


def amount(s: str) -> str | None:
    """``1 234,50`` / ``1234.50`` / ``1 234`` / ``1234:-`` → ``1234.50``.

    A space inside the kronor is a thousands separator and nothing else: it must split them
    into groups of three digits from the right (``12 345``, ``1 234 567``). ``2631 70`` is
    no amount but a misread ``263,70`` whose comma was lost, and ``12 34`` no number at all;
    taking them for 263170.00 and 1234.00 would put a confident wrong value on the record.
    OCR may set a space after the decimal comma (``330, 44``); it is read as the comma."""
    t = s.strip().rstrip(":-").rstrip(_THOUSANDS)
    m = re.fullmatch(rf"(\d{{1,3}}(?:[{_THOUSANDS}]\d{{3}})+|\d{{1,9}})(?:[.,][{_THOUSANDS}]?(\d{{1,2}}))?", t, re.ASCII)
    if not m:
        return None
    kronor = re.sub(rf"[{_THOUSANDS}]", "", m.group(1))
    if len(kronor) > 9:
        return None
    ore = (m.group(2) or "0").ljust(2, "0")
    return f"{int(kronor)}.{ore}"


def phone(s: str) -> str | None:
    """A phone number's digits (a leading + kept): spacing and dashes are how people group
    them, not part of the number. The forms ask for the number with its area code
    ("Telefon, även riktnummer"): a Swedish number in national format is a trunk 0, an area
    code that does not start with 0, and the subscriber's number, 7–10 digits in all
    (Stockholm's 08 with five digits up to ten); a mobile number (07x) has exactly 10 (the
    Swedish numbering plan, PTS). An international number (a leading + or 00) has 9–15
    digits with its country code."""
    t = s.strip()
    d = _digits(t)
    if not re.fullmatch(r"[0-9\s\-+()/]+", t):
        return None
    if t.startswith("+") or d.startswith("00"):
        return ("+" if t.startswith("+") else "") + d if 9 <= len(d) <= 15 else None
    if not re.fullmatch(r"0[1-9][0-9]{5,8}", d) or (d.startswith("07") and len(d) != 10):
        return None
    return d


def phone_prior(value: str, month: str | None = None, from_month: bool = False) -> float:
    """The relative prior of a valid phone number (``phone``'s digits): 1 for a mobile number
    (070, 072, 073, 076, 079 and seven digits), ``1 / defs.PHONE_MOBILE_ODDS`` for any other.
    (``month``, ``from_month``: the priors' common signature; a phone number depends on
    neither.)"""
    return 1.0 if re.fullmatch(r"07[02369][0-9]{7}", value) else 1.0 / defs.PHONE_MOBILE_ODDS


def date_prior(value: str, month: str | None = None, from_month: bool = False) -> float:
    """The relative prior of a date on a form about ``month`` (YYYY-MM): 1 within
    ``defs.DATE_NEAR_MONTHS`` calendar months of it, ``1 / defs.DATE_FAR_ODDS`` further off,
    and so before the month's first day for a date ``from_month`` (a field of
    ``after_month_start`` in the template: a signature under the month's hours); 1 without a
    month."""
    if not month:
        return 1.0
    off = abs((int(value[:4]) - int(month[:4])) * 12 + int(value[5:7]) - int(month[5:7]))
    early = from_month and value[:7] < month
    return 1.0 if off <= defs.DATE_NEAR_MONTHS and not early else 1.0 / defs.DATE_FAR_ODDS


# The prior of a kind's values where one is known beside what the readers see (and the
# month the form is about).
PRIORS = {FieldKind.phone: phone_prior, FieldKind.date: date_prior}


# Marks OCR makes of a box edge or a speck at either end of a line of writing; no name or
# address starts or ends with them.
_EDGE_JUNK = "|:;_~`'\"!"


def text(s: str) -> str | None:
    t = " ".join(s.split()).strip(_EDGE_JUNK + " ")
    return t or None


def by_received(kind: FieldKind, value: str, received: date) -> bool:
    """A month or date that lies on or before ``received``, the day FK received the post (a
    field of ``before_received`` in the template: the month a report is for, a signature's
    date). Other kinds have no such bound."""
    if kind == FieldKind.year_month:
        return value <= received.isoformat()[:7]
    if kind == FieldKind.date:
        return value <= received.isoformat()
    return True


def normalise(kind: FieldKind, s: str, *, month: str | None = None, reference: date | None = None,
              received: date | None = None) -> str | None:
    """The canonical value of one candidate string, or None when it is not valid for the kind
    (with ``received``, a month or date after the post was received is not)."""
    v = _normalise(kind, s, month=month, reference=reference)
    if v is not None and received is not None and not by_received(kind, v, received):
        return None
    return v


def _normalise(kind: FieldKind, s: str, *, month: str | None = None, reference: date | None = None) -> str | None:
    if kind == FieldKind.personnummer:
        return personnummer(s, reference)
    if kind == FieldKind.organisationsnummer:
        return organisationsnummer(s)
    if kind == FieldKind.clock_time:
        return clock_time(s)
    if kind == FieldKind.date:
        return date_value(s, reference, month)
    if kind == FieldKind.year_month:
        return year_month(s)
    if kind == FieldKind.day:
        return day(s, month)
    if kind == FieldKind.hours:
        return hours(s)
    if kind == FieldKind.minutes:
        return minutes(s)
    if kind == FieldKind.amount:
        return amount(s)
    if kind == FieldKind.phone:
        return phone(s)
    if kind == FieldKind.text:
        return text(s)
    raise ValueError(f"no parser for {kind.value} fields")


def pooled(kind: FieldKind, candidates: list[tuple[str, float]], *, month: str | None = None,
           reference: date | None = None, received: date | None = None) -> dict[str, float]:
    """The valid values among a reader's candidate strings, each with the summed probability
    of the strings that normalise to it (``7.00`` and ``07.00`` are one reading)."""
    out: dict[str, float] = {}
    for s, p in candidates:
        v = normalise(kind, s, month=month, reference=reference, received=received)
        if v is not None:
            out[v] = out.get(v, 0.0) + p
    return out


def parse(kind: FieldKind, candidates: list[tuple[str, float]], *, month: str | None = None,
          reference: date | None = None, received: date | None = None) -> Parsed:
    """The most probable candidate that is valid for ``kind``, its probability among all
    the candidates offered."""
    total = sum(p for _, p in candidates) or 1.0
    pool = pooled(kind, candidates, month=month, reference=reference, received=received)
    if not pool:
        best = candidates[0][0] if candidates else ""
        return Parsed(None, 0.0, (), f"no valid {kind.value} among the readings (best: {best!r})")
    ranked = sorted(pool.items(), key=lambda kv: kv[1], reverse=True)
    (value, p), rest = ranked[0], ranked[1:]
    return Parsed(value, p / total, tuple((v, q / total) for v, q in rest))


def misreading(kind: FieldKind, s: str, *, month: str | None = None, reference: date | None = None) -> bool:
    """Whether a reader's candidate string is one no sender writes in a field of ``kind``
    (``defs.COMBINE_CONDITIONED_KINDS``): a phone number off the numbering plan, a string
    not shaped as a date, a month that is no year and month, a clock time with five digits or
    minute 65. Such a string is the reader's misreading, not a doubt about what was written.
    A personnummer with a wrong check digit, a 25th hour, a 31 April, a month after the post
    was received are written, so they stay doubts."""
    if kind.value not in defs.COMBINE_CONDITIONED_KINDS:
        return False
    if kind == FieldKind.phone:
        return phone(s) is None
    if kind == FieldKind.year_month:
        return year_month(s) is None
    if kind == FieldKind.clock_time:
        return not clock_shaped(s)
    if kind == FieldKind.date:
        return not date_shaped(s, reference, month)
    raise ValueError(f"no shape for {kind.value} fields (defs.COMBINE_CONDITIONED_KINDS)")


def combine(kind: FieldKind, readers: list[list[tuple[str, float]]], *, floor: float,
            weights: tuple[float, ...] | None = None, month: str | None = None,
            reference: date | None = None, received: date | None = None, from_month: bool = False) -> Parsed:
    """Two or more independent readings of one field (their candidate strings with
    probabilities, each reader's summing to at most 1) as one: a product of experts.

    Each reader gives each valid value the probability of its strings, and the rest of its
    mass (invalid strings, strings it did not list; not the strings no sender writes,
    :func:`misreading`) to "none of these"; a value a reader did
    not list gets ``floor`` from it. A value's score is the product over the readers, and its
    probability its share of all scores, "none of these" included: readers that agree make a
    sure value, readers that disagree, or that both put their mass on invalid strings, a
    doubtful one. ``weights``: each reader's exponent (how far its probabilities are
    trusted; 1 each by default). A kind with a prior (``PRIORS``: phone numbers, dates) has the
    valid values' share of the mass divided among them in proportion to score × prior
    (``from_month``: a date that should not precede the month, see :func:`date_prior`)."""
    w = weights or (1.0,) * len(readers)
    pools = [pooled(kind, c, month=month, reference=reference, received=received) for c in readers]
    totals = [max(1.0, sum(p for _, p in c)) for c in readers]  # a beam's shares may round over 1
    # a kind whose shape is a fact of the world (a phone number follows the numbering plan,
    # a date has a month 1–12) is conditioned on it: a listed string no sender writes is a
    # misreading, not a doubt about the value, and leaves "none of these"; the strings no
    # reader listed, and invalid ones a sender can write, stay in it
    kept = [sum(pool.values()) + sum(p for s, p in c if misreading(kind, s, month=month, reference=reference))
            for pool, c in zip(pools, readers)]
    values = {v for pool in pools for v in pool}
    if not values:
        best = next((c[0][0] for c in readers if c), "")
        return Parsed(None, 0.0, (), f"no valid {kind.value} among the readings (best: {best!r})")
    score = {v: float(np.prod([(pool.get(v, 0.0) / t + floor) ** e for pool, t, e in zip(pools, totals, w)]))
             for v in values}
    prior = PRIORS.get(kind)
    if prior is not None and len(score) > 1:
        # the valid readings' mass shared out among them by the prior; "none of these" keeps its own
        weighted = {v: s * prior(v, month, from_month) for v, s in score.items()}
        scale = sum(score.values()) / sum(weighted.values())
        score = {v: s * scale for v, s in weighted.items()}
    other = float(np.prod([(max(0.0, 1.0 - k / t) + floor) ** e for k, t, e in zip(kept, totals, w)]))
    z = sum(score.values()) + other
    ranked = sorted(score.items(), key=lambda kv: kv[1], reverse=True)
    (value, p), rest = ranked[0], ranked[1:]
    return Parsed(value, p / z, tuple((v, q / z) for v, q in rest))
