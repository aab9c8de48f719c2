"""Stage 3, read: every field of a registered page becomes a :class:`Reading`.

Dispatch by field kind: checkboxes to mark detection, signatures to ink analysis, numbers
(days, clock times, dates, personnummer, amounts …) to the digit recogniser, whose
candidate strings are parsed with the kind's rules (Luhn, ranges) — the printed-text OCR
adds its reading for typed values —, and text (names, addresses) to Tesseract. Each
reading gets a status: ``empty`` (no ink), ``unreadable`` (ink, but no valid reading),
``low_confidence`` (a valid reading below the kind's acceptance threshold) or ``ok``.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from pipeline import defs
from pipeline.forms import ExpandedField, FieldKind
from pipeline.read.parse import normalise, parse
from pipeline.read.text import read_text
from pipeline.read.types import Reading
from pipeline.register import RegisteredPage

DIGIT_KINDS = {
    FieldKind.personnummer, FieldKind.organisationsnummer, FieldKind.date, FieldKind.year_month,
    FieldKind.clock_time, FieldKind.day, FieldKind.hours, FieldKind.minutes, FieldKind.amount, FieldKind.phone,
}


def _reading(f: ExpandedField, value, confidence: float, status: str, ink: bool, **kw) -> Reading:
    return Reading(field_id=f.id, kind=f.kind, page=f.page, box_mm=f.box, value=value,
                   confidence=float(confidence), status=status, ink=ink, **kw)


def _status(kind: FieldKind, value, confidence: float) -> str:
    if value is None:
        return "unreadable"
    return "ok" if confidence >= defs.ACCEPT_CONFIDENCE.get(kind.value, defs.ACCEPT_CONFIDENCE_DEFAULT) else "low_confidence"


def read_number(page: RegisteredPage, f: ExpandedField, month: str | None = None) -> Reading:
    from pipeline.read.digits import read_digit_string

    ds = read_digit_string(page, f)
    if not ds.ink:
        return _reading(f, None, 1.0, "empty", False)
    cands = ds.candidates(defs.DIGIT_BEAM)
    typed = read_text(page, f)
    if typed is not None and typed[1] >= defs.TYPED_MIN_CONFIDENCE and normalise(f.kind, typed[0], month=month):
        # a confident printed reading counts as one more candidate, weighted by its confidence
        cands = cands + [(typed[0], typed[1] * defs.TYPED_WEIGHT)]
    p = parse(f.kind, cands, month=month)
    raw = cands[0][0] if cands else None
    return _reading(f, p.value, p.probability, _status(f.kind, p.value, p.probability), True,
                    alternatives=p.alternatives, raw=raw,
                    detail={"reason": p.reason} if p.reason else {})


def read_words(page: RegisteredPage, f: ExpandedField) -> Reading:
    r = read_text(page, f)
    if r is None:
        return _reading(f, None, 1.0, "empty", False)
    text, conf = r
    value = normalise(FieldKind.text, text)
    return _reading(f, value, conf if value else 0.0, _status(f.kind, value, conf), True, raw=text)


def read_field(page: RegisteredPage, f: ExpandedField, month: str | None = None) -> Reading:
    if f.kind == FieldKind.checkbox:
        from pipeline.read.marks import read_checkbox

        return read_checkbox(page, f)
    if f.kind == FieldKind.signature:
        from pipeline.read.signature import read_signature

        return read_signature(page, f)
    if f.kind in DIGIT_KINDS:
        return read_number(page, f, month)
    return read_words(page, f)


def read_page(page: RegisteredPage, month: str | None = None, threads: int = 1,
              skip: set[str] | None = None) -> list[Reading]:
    """Every field of a registered page (but those in ``skip``, already read), in template
    order. ``month`` (YYYY-MM) lets days be checked against the month; ``threads`` > 1 reads
    fields in parallel (Tesseract and the numpy recogniser release the GIL)."""
    fields = [f for f in page.template.expanded_fields(page.page_number) if not skip or f.id not in skip]
    if threads <= 1:
        return [read_field(page, f, month) for f in fields]
    with ThreadPoolExecutor(max_workers=threads) as pool:
        return list(pool.map(lambda f: read_field(page, f, month), fields))
