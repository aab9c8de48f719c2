"""Stage 3, read: every field of a registered page becomes a :class:`Reading`.

Dispatch by field kind: checkboxes to mark detection, signatures to ink analysis, numbers
(days, clock times, dates, personnummer, amounts …) to two digit readers, the character
reader (segmentation search over a digit CNN) and the line reader (no segmentation: CNN +
BiLSTM with CTC, a page's fields in one batch), whose candidate strings are parsed with the
kind's rules (Luhn, ranges) and combined (readers that agree make a sure value, readers that
disagree a doubtful one), and text (names, addresses) to Tesseract; text whose letters
stand on one straight baseline is print (text.baseline_share) and is accepted on its own
threshold, hand-written text on the stricter one.

A number whose digits stand on one baseline at one height looks printed: Tesseract reads it
too and leads (it reads typed values near perfectly; the digit readers may lose a typed
amount's comma), the digit readers confirming it or, when they are sure of a value with
other digits, overruling it; hand-printed numbers are the digit readers' alone, which saves
Tesseract's time on them (it added nothing there: it is often sure and wrong on
handwriting), unless they find no valid value (then Tesseract's, for review). Each reading
gets a status: ``empty`` (no ink), ``unreadable`` (ink, but no valid reading),
``low_confidence`` (a valid reading below the kind's acceptance threshold) or ``ok``.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import date

import numpy as np

from pipeline import defs, ocr
from pipeline.forms import ExpandedField, FieldKind
from pipeline.read.lines import FieldImage, Strings
from pipeline.read.parse import combine, normalise
from pipeline.read.text import baseline_share, read_text, text_image
from pipeline.read.types import Reading
from pipeline.register import RegisteredPage

DIGIT_KINDS = {
    FieldKind.personnummer, FieldKind.organisationsnummer, FieldKind.date, FieldKind.year_month,
    FieldKind.clock_time, FieldKind.day, FieldKind.hours, FieldKind.minutes, FieldKind.amount, FieldKind.phone,
}


# Letters whose capital is the small letter enlarged: at the start of a line Tesseract has
# nothing to judge their size by and reads "Viktor", "Omtanke" as "viktor", "omtanke". A text
# field (a name, a company, a place, an address) starts with a capital.
_SAME_SHAPE_LOWER = frozenset("cosvwxzöčćšžź")


def _reading(f: ExpandedField, value, confidence: float, status: str, ink: bool, **kw) -> Reading:
    return Reading(field_id=f.id, kind=f.kind, page=f.page, box_mm=f.box, value=value,
                   confidence=float(confidence), status=status, ink=ink, **kw)


def status_for(kind: FieldKind, value, confidence: float, printed: bool = False) -> str:
    """A reading's status from its value and confidence: the kind's acceptance threshold
    (defs.ACCEPT_CONFIDENCE, for print ACCEPT_CONFIDENCE_PRINTED)."""
    if value is None:
        return "unreadable"
    if printed:
        accept = defs.ACCEPT_CONFIDENCE_PRINTED.get(kind.value, defs.ACCEPT_CONFIDENCE_PRINTED_DEFAULT)
    else:
        accept = defs.ACCEPT_CONFIDENCE.get(kind.value, defs.ACCEPT_CONFIDENCE_DEFAULT)
    return "ok" if confidence >= accept else "low_confidence"


def status_of(r: Reading, value, confidence: float) -> str:
    """:func:`status_for` a reading given another value or confidence after it was read (its
    document's other fields told more), on the threshold of the path that read it: print's
    when Tesseract led a printed-looking number."""
    printed = bool(r.detail.get("printed")) and "ocr_confidence" in r.detail
    return status_for(r.kind, value, confidence, printed=printed)


def _digits(s: str) -> str:
    return "".join(c for c in s if c.isdigit())


def _separators(s: str) -> int:
    """How many of a number's marks between digits are written: decimal commas and stops,
    dashes, colons (spaces are not: people's gaps are not reliable enough)."""
    return sum(c in ".,:-" for c in s.strip(".,:- "))


def same_digits_placed(ocr: str, cnn: str) -> bool:
    """Whether Tesseract's reading of a printed-looking number is the character reader's
    digits with Tesseract's separators: the same digits, and at least as many separators
    ("252,99" / CNN "25299", its comma lost: the CNN confirms the digits, Tesseract, which
    reads punctuation, places them). Not when Tesseract has fewer ("3,37" / Tesseract
    "337"): then Tesseract lost the mark, a small hand-written comma most often, and a
    printed-looking hand amount was accepted a hundred times too large."""
    return _digits(ocr) == _digits(cnn) and _separators(ocr) >= _separators(cnn)


def tesseract_leads(tv: str, p, same_digits: bool, ocr_confidence: float) -> bool:
    """Whether Tesseract's valid reading ``tv`` of a printed-looking number leads over the
    digit readers' combined reading ``p`` (a ``parse.Parsed``): unless they read another
    value (other digits) and are sure of it (defs.TYPED_CNN_VETO) or surer of it than
    Tesseract is of its own (a hand "16.45" that looked printed, read "16.47" by Tesseract at
    0.74, by the digit readers 16.45 at 0.84)."""
    if tv == p.value or same_digits or p.value is None:
        return True
    return p.probability < defs.TYPED_CNN_VETO and p.probability <= ocr_confidence


def digit_alignment(ds) -> float | None:
    """How far the digits of a read field stray from one line: the spread of their tops and
    of their bottoms, the larger, as a share of the median digit height (0 for print). Only
    digits of about the median height count (TYPED_HEIGHT_BAND): a digit the segmentation
    fused with a comma or a dash is taller or wider, not misplaced. None with fewer than
    two such digits."""
    boxes = np.array([t.box for t in ds.tokens if t.kind == "digit"], dtype=np.float64)
    if len(boxes) < 2:
        return None
    heights = boxes[:, 3] - boxes[:, 1]
    height = float(np.median(heights))
    if height <= 0:
        return None
    band = defs.TYPED_HEIGHT_BAND
    boxes = boxes[(heights >= band * height) & (heights <= height / band)]
    if len(boxes) < 2:
        return None
    return float(max(np.ptp(boxes[:, 1]), np.ptp(boxes[:, 3])) / height)


def read_number(page: RegisteredPage, f: ExpandedField, month: str | None = None,
                image: FieldImage | None = None, lines: list[Strings] | None = None,
                received: date | None = None, prepared=None) -> Reading:
    """A digit field, read by the character reader and the line reader's networks and all
    combined; ``image`` (its ``digits.field_image``), ``prepared`` (its ink cleaned and
    uprighted, ``digits._Field``, which all readers read) and ``lines`` (each line network's
    strings) when the page's digit fields were prepared in one batch. ``received``: the day FK
    received the post, which a field of ``before_received`` cannot lie after."""
    from pipeline.read.digits import field_image, read_digit_string
    from pipeline.read.lines import read_line

    image = image or field_image(page, f)
    ds = read_digit_string(page, f, image=image, prepared=prepared)
    if not ds.ink:
        return _reading(f, None, 1.0, "empty", False)
    cands = ds.candidates(defs.DIGIT_BEAM)
    if lines is None:
        lines = read_line(page, f, image)
    weights = defs.READER_WEIGHTS_BY_KIND.get(f.kind.value, defs.READER_WEIGHTS)
    received = received if f.before_received else None
    p = combine(f.kind, [cands, *lines], floor=defs.READER_FLOOR, weights=weights, month=month, received=received,
                from_month=f.after_month_start)
    value, confidence, alternatives = p.value, p.probability, p.alternatives
    raw = cands[0][0] if cands else None
    align = digit_alignment(ds)
    detail: dict = {"alignment": align} if align is not None else {}
    if lines and lines[0]:
        detail["line"] = lines[0][0][0]  # the first line network's best string
    printed = align is not None and align <= defs.TYPED_ALIGN_MAX
    led = False
    if printed or p.value is None:
        # printed-looking, or the CNN found nothing valid (a typed value it cut up badly):
        # Tesseract reads it; as the only valid reading it is taken, for review unless printed
        shown = text_image(page, f)  # the field as Tesseract sees it, cut once for both looks
        typed = read_text(page, f, shown) if shown is not None else None
        tv = normalise(f.kind, typed.text, month=month, received=received) if typed is not None else None
        same_digits = bool(tv is not None and cands and same_digits_placed(typed.text, cands[0][0]))
        if tv is not None and p.value is not None and tv != p.value and not same_digits:
            # Tesseract and the digit readers disagree: Tesseract looks again at the number as
            # one word, and its second reading stands when it is the readers' value. As a line
            # it read the comma of a clean typed "26,27" as a 7 ("26727", sure of it), as a
            # word right; on the typed amounts of seed 305 the two modes were each wrong in
            # about 5 % of fields, hardly ever in the same ones.
            second = read_text(page, f, shown, psm=ocr.PSM_SINGLE_WORD)
            if second is not None and normalise(f.kind, second.text, month=month, received=received) == p.value:
                typed, tv = second, p.value
        if tv is not None and tesseract_leads(tv, p, same_digits, typed.string_confidence):
            s = typed.string_confidence
            q = p.probability if tv == p.value or same_digits else dict(p.alternatives).get(tv, 0.0)
            others = ((p.value, p.probability),) + p.alternatives if p.value is not None else p.alternatives
            value, confidence, raw, led = tv, 1.0 - (1.0 - s) * (1.0 - q), typed.text, True
            alternatives = tuple((v, c) for v, c in others if v != tv)
            detail |= {"printed": printed, "ocr_confidence": s, "digits": cands[0][0] if cands else None}
            if not printed:  # Tesseract alone: no calibrated trust, an operator looks
                confidence = min(confidence, defs.OCR_ONLY_CONFIDENCE)
        elif typed is not None:
            detail["ocr"] = typed.text
    if value is None and p.reason:
        detail["reason"] = p.reason
    return _reading(f, value, confidence, status_for(f.kind, value, confidence, printed=led and printed), True,
                    alternatives=alternatives, raw=raw, detail=detail)


def read_words(page: RegisteredPage, f: ExpandedField) -> Reading:
    r = read_text(page, f)
    if r is None:
        return _reading(f, None, 1.0, "empty", False)
    text, conf = r.text, r.confidence
    value = normalise(FieldKind.text, text)
    if value and value[0] in _SAME_SHAPE_LOWER:
        value = value[0].upper() + value[1:]
    share = baseline_share(r)
    printed = share is not None and share >= defs.TEXT_PRINTED_SHARE
    detail = {"printed": printed} | ({"baseline": round(share, 3)} if share is not None else {})
    return _reading(f, value, conf if value else 0.0, status_for(f.kind, value, conf, printed=printed), True,
                    raw=text, detail=detail)


def read_field(page: RegisteredPage, f: ExpandedField, month: str | None = None,
               image: FieldImage | None = None, lines: list[Strings] | None = None,
               received: date | None = None, prepared=None) -> Reading:
    if f.kind == FieldKind.checkbox:
        from pipeline.read.marks import read_checkbox

        return read_checkbox(page, f)
    if f.kind == FieldKind.signature:
        from pipeline.read.signature import read_signature

        return read_signature(page, f)
    if f.kind in DIGIT_KINDS:
        return read_number(page, f, month, image, lines, received, prepared)
    return read_words(page, f)


def read_page(page: RegisteredPage, month: str | None = None, threads: int = 1,
              skip: set[str] | None = None, received: date | None = None) -> list[Reading]:
    """Every field of a registered page (but those in ``skip``, already read), in template
    order. ``month`` (YYYY-MM) lets days be checked against the month, ``received`` (the
    day FK received the post) months and signatures' dates against it; ``threads`` > 1 reads
    fields in parallel (Tesseract and the numpy recogniser release the GIL)."""
    from pipeline.read.digits import _Field, field_image
    from pipeline.read.lines import read_lines

    fields = [f for f in page.template.expanded_fields(page.page_number) if not skip or f.id not in skip]
    # the line reader takes all digit fields of the page in one batch; both digit readers
    # read each field's ink as cleaned and uprighted once (_Field, ~0.65 ms a field)
    numbers = [f for f in fields if f.kind in DIGIT_KINDS]
    images = {f.id: field_image(page, f) for f in numbers}
    prepared = {fid: _Field(img, page.dpi, inner) for fid, (img, inner) in images.items()}
    lines = read_lines(page, numbers, images, prepared=prepared)

    def one(f: ExpandedField) -> Reading:
        return read_field(page, f, month, images.get(f.id), lines.get(f.id), received, prepared.get(f.id))

    if threads <= 1:
        return [one(f) for f in fields]
    with ThreadPoolExecutor(max_workers=threads) as pool:
        return list(pool.map(one, fields))
