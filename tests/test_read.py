"""The field readers together on generated batches: every field read and set against truth.

Targets of issue 4 that are met are asserted as such; where a target is not met yet (hand-
printed digit fields), the assertion guards the level reached and docs/benchmarks.md says
how far from the target it is."""

from __future__ import annotations

import numpy as np
import pytest

from pipeline.evaluate import field_outcomes, field_summary
from pipeline.synth.batch import SampleOptions, generate_samples


@pytest.fixture(scope="module")
def outcomes(tmp_path_factory, registry):
    out = tmp_path_factory.mktemp("read")
    list(generate_samples(out, SampleOptions(count=8, seed=88)))
    return field_outcomes(out, registry)


def _share(xs, pred):
    xs = list(xs)
    return sum(1 for x in xs if pred(x)) / len(xs) if xs else 1.0


def test_checkboxes_and_signatures(outcomes):
    boxes = [o for o in outcomes if o.kind == "checkbox"]
    assert len(boxes) > 500 and _share(boxes, lambda o: o.right) >= 0.998
    sigs = [o for o in outcomes if o.kind == "signature"]
    assert sigs and not any(o.value is True and not o.truth for o in sigs)  # never signed when unsigned
    signed = [o for o in sigs if o.truth]
    assert _share(signed, lambda o: o.value is not True) <= 0.02


def test_typed_values(outcomes):
    typed = [o for o in outcomes if not o.handwritten and o.kind not in ("checkbox", "signature")]
    filled = [o for o in typed if o.truth not in (None, "")]
    assert len(filled) > 50
    assert _share(filled, lambda o: o.right or o.status != "ok") == 1.0  # never accepted wrong
    # printed values are read by Tesseract (digit fields that look printed, names with
    # swe+Latin data): 160 of 160 right on this batch; the target is 99.5 %
    assert _share(filled, lambda o: o.right) >= 0.99
    print(f"typed filled fields accepted: {_share(filled, lambda o: o.auto_accepted):.3f} of {len(filled)}")
    # 97.5 % here, since typed text is told from hand by its baseline and accepted on its
    # own threshold (session 5, one text threshold for both: 84 %; docs/benchmarks.md)
    assert _share(filled, lambda o: o.auto_accepted) >= 0.95


def test_nothing_silently_wrong_on_typed_and_nothing_illegible_accepted(outcomes):
    assert not [o for o in outcomes if not o.handwritten and o.auto_accepted and not o.right]
    assert all(o.status != "ok" for o in outcomes if o.illegible)


def test_empty_fields_read_empty(outcomes):
    empty = [o for o in outcomes if o.truth in (None, "") and o.kind not in ("checkbox", "signature") and not o.illegible]
    assert len(empty) > 200 and _share(empty, lambda o: o.status == "empty") >= 0.99


def test_hand_printed_digit_fields_level(outcomes):
    digits = [o for o in outcomes if o.handwritten and o.kind in ("day", "clock_time", "date", "hours", "minutes", "amount")
              and o.truth not in (None, "") and not o.illegible]
    assert len(digits) > 50
    acc = _share(digits, lambda o: o.right)
    print(f"hand-printed digit fields right: {acc:.3f} of {len(digits)}; {field_summary(outcomes)['silent_error_rate']:.4f} silent")
    # guard below the level reached (96.2 % of 106: the line reader, and a date's year near
    # the month; 85 % guarded before the line reader); the target is 0.98 (docs/benchmarks.md)
    assert acc >= 0.94


# --- the printed path, unit by unit ------------------------------------------------------------

# Fonts a provider's software may print with that the sample generator never writes in
# (it uses DejaVu Sans and Liberation Sans / Mono): serif and monospaced faces.
OTHER_FONTS = ("DejaVuSerif.ttf", "LiberationSerif-Regular.ttf", "DejaVuSansMono.ttf")


def _printed(text: str, font_file: str, dpi: int, pt: float = 10.0, above: str | None = None):
    """A field's ink as a 1-bit scan gives it: ``text`` printed at ``pt`` points, optionally with
    a scrap of a label line (``above``, smaller, 1.5 mm higher) as a missed print mask leaves."""
    import numpy as np
    from PIL import Image, ImageDraw, ImageFont

    from pipeline.synth.fill import available_fonts

    path = available_fonts([font_file])
    if not path:
        pytest.skip(f"font {font_file} not installed")
    px = round(pt * dpi / 72)
    font = ImageFont.truetype(path[0], px)
    mm = dpi / 25.4
    im = Image.new("L", (int(90 * mm), int(9 * mm)), 255)
    d = ImageDraw.Draw(im)
    d.text((int(2 * mm), int(8 * mm)), text, font=font, fill=0, anchor="ls")
    if above:
        d.text((int(2 * mm), int(2.5 * mm)), above, font=ImageFont.truetype(path[0], int(px * 0.7)), fill=0, anchor="ls")
    return np.where(np.asarray(im) < 128, 0, 255).astype(np.uint8)


@pytest.mark.parametrize("font", OTHER_FONTS)
@pytest.mark.parametrize("dpi", [200, 300])
def test_printed_numbers_in_other_fonts(font, dpi):
    from pipeline import ocr
    from pipeline.forms import FieldKind as K
    from pipeline.read.parse import normalise
    from pipeline.read.text import config_for, ocr_image

    cases = [(K.amount, "225 458,31", "225458.31"), (K.amount, "26,30", "26.30"), (K.amount, "4 562", "4562.00"),
             (K.personnummer, "19121212-1212", "191212121212"), (K.clock_time, "07.30", "07.30"),
             (K.date, "2026-09-03", "2026-09-03"), (K.phone, "070-123 45 67", "0701234567")]
    for kind, written, canonical in cases:
        r = ocr.read(ocr_image(_printed(written, font, dpi), dpi), config_for(kind))
        assert normalise(kind, r.text) == canonical, (written, r.text)
        assert r.string_confidence > 0.5, (written, r.symbols)


def test_a_label_scrap_above_the_writing_is_not_read():
    from pipeline import ocr
    from pipeline.forms import FieldKind as K
    from pipeline.read.text import config_for, main_line, ocr_image

    ink = _printed("Malin Olsson", "DejaVuSansMono.ttf", 200, above="och e")
    assert (main_line(ink, 200)[: int(4 * 200 / 25.4)] == 255).all()  # the scrap is whitened
    assert ocr.read(ocr_image(ink, 200), config_for(K.text)).text == "Malin Olsson"
    # the dots of an Ö are not a line of their own
    ink = _printed("Mohammed Öberg", "DejaVuSerif.ttf", 200)
    assert ocr.read(ocr_image(ink, 200), config_for(K.text)).text == "Mohammed Öberg"


def test_despeckle_drops_dust_but_not_a_faint_stroke():
    """Dust (a dark speck on its own) goes; the dark spots of a faint stroke, each as small
    as dust, stay with the stroke they lie in."""
    from pipeline.register import despeckle

    dpi = 300.0
    img = np.full((120, 200), 245, np.uint8)
    img[60:63, 20:180] = 185  # a faint stroke, 13.5 mm long: lighter than the ink cut
    spots = [(61, x) for x in range(30, 180, 30)]
    for y, x in spots:  # darker spots along it, each 4 px (0.03 mm²)
        img[y: y + 2, x: x + 2] = 120
    img[20:22, 100:102] = 40  # a dust speck (4 px), 3 mm from the stroke
    out = despeckle(img, dpi)
    assert (out[20:22, 100:102] == 255).all()
    assert all((out[y: y + 2, x: x + 2] == 120).all() for y, x in spots)


def test_what_the_dropout_leaves_of_a_label_is_not_writing(registry):
    """A sliver of a field's printed label that the print dropout missed (FK's face runs a
    little longer than the replica's, or the sheet was not flat), or of a tick printed in its
    box, is not ink in the field; a stroke that starts there and runs down into the box is."""
    from pipeline.ingest import PageImage
    from pipeline.pages import process_page
    from pipeline.read.fields import read_field
    from pipeline.synth.render import label_box, render_blank_image

    t = registry.get("3059", "016F003")
    f = next(f for f in t.expanded_fields(1) if f.id == "berakningsperiod.2.tom")
    res = process_page(PageImage(None, 0, render_blank_image(t, 1, 300), 300.0, False, "png"), registry)
    rp = res.registered
    assert read_field(rp, f).status == "empty"
    k = rp.px_per_mm
    x0, y0, x1, y1 = label_box(t, f)
    x, top, bottom = int((x1 + 0.4) * k), int((y0 + 0.3) * k), int((y1 - 0.2) * k)
    rp.image[top:bottom, x:x + 3] = 0  # 0.25 mm x 1.9 mm, just past the label's end
    assert read_field(rp, f).status == "empty"
    rp.image[bottom:bottom + int(3.5 * k), x:x + 3] = 0  # the same stroke, on into the box
    assert read_field(rp, f).status != "empty"
    # the tick printed at the right edge of "Från och med" (167.51 mm, 163.07-165.31), 0.5 mm
    # off the replica's where the sheet did not lie flat
    f = next(f for f in t.expanded_fields(1) if f.id == "berakningsperiod.3.from")
    rp = process_page(PageImage(None, 0, render_blank_image(t, 1, 300), 300.0, False, "png"), registry).registered
    rp.image[int(163.1 * k):int(165.3 * k), int(167.01 * k):int(167.01 * k) + 3] = 0
    assert read_field(rp, f).status == "empty"


def test_string_confidence_is_the_product_of_the_characters():
    from pipeline.ocr import OcrResult

    r = OcrResult("12 34", 0.2, (("1", 0.9), ("2", 0.9), ("3", 1.0), ("4", 0.5)))
    assert r.string_confidence == pytest.approx(0.405)
    assert OcrResult("12", 0.8).string_confidence == 0.8  # no characters (fallback engine): the word's


def test_digit_alignment_tells_print_from_hand():
    from pipeline import defs
    from pipeline.read.digits import DigitString, Token
    from pipeline.read.fields import digit_alignment

    def ds(boxes):
        return DigitString([Token("digit", "1", (("1", 1.0),), b) for b in boxes], True)

    printed = ds([(0, 10, 8, 40), (10, 10, 18, 40), (20, 11, 28, 40), (30, 10, 38, 41), (40, 10, 52, 44)])  # 5th: a 0 fused with its comma
    hand = ds([(0, 8, 8, 40), (10, 14, 18, 44), (20, 10, 28, 38)])
    assert digit_alignment(printed) <= defs.TYPED_ALIGN_MAX < digit_alignment(hand)
    assert digit_alignment(ds([(0, 10, 8, 40)])) is None  # one digit says nothing


def _wandering(text: str, dpi: int, wander: float, seed: int = 0):
    """``text`` drawn letter by letter, each letter's baseline moved up or down by up to
    ``wander`` of the letter height, as a hand writes."""
    from PIL import Image, ImageDraw, ImageFont

    from pipeline.synth.fill import available_fonts

    rng = np.random.default_rng(seed)
    font = ImageFont.truetype(available_fonts(["DejaVuSans.ttf"])[0], round(10 * dpi / 72))
    mm = dpi / 25.4
    im = Image.new("L", (int(90 * mm), int(12 * mm)), 255)
    d = ImageDraw.Draw(im)
    x, h = 2 * mm, 10 * dpi / 72 * 0.73
    for ch in text:
        d.text((x, 9 * mm + rng.uniform(-wander, wander) * h), ch, font=font, fill=0, anchor="ls")
        x += font.getlength(ch)
    return np.where(np.asarray(im) < 128, 0, 255).astype(np.uint8)


@pytest.mark.parametrize("dpi", [200, 300])
def test_a_printed_baseline_tells_typed_text_from_hand(dpi):
    import cv2

    from pipeline import defs, ocr
    from pipeline.forms import FieldKind as K
    from pipeline.read.text import baseline_share, config_for, ocr_image

    def share(ink):
        return baseline_share(ocr.read(ocr_image(ink, dpi), config_for(K.text)))

    for font in OTHER_FONTS + ("DejaVuSans.ttf",):
        assert share(_printed("Birgitta Lindqvist", font, dpi)) >= defs.TEXT_PRINTED_SHARE, font
    # a page registered a quarter degree off: the baseline is straight, not level
    ink = _printed("Personlig Assistans i Lund AB", "DejaVuSerif.ttf", dpi)
    h, w = ink.shape
    turned = cv2.warpAffine(ink, cv2.getRotationMatrix2D((w / 2, h / 2), 0.25, 1.0), (w, h), borderValue=255)
    assert share(turned) >= defs.TEXT_PRINTED_SHARE
    # letters that wander by up to a fifth of their height, as a hand's do: not print
    for seed in range(3):
        assert share(_wandering("Birgitta Lindqvist", dpi, 0.2, seed)) < defs.TEXT_PRINTED_SHARE
    assert baseline_share(ocr.OcrResult("Ida", 0.9, (("I", 0.9), ("d", 0.9), ("a", 0.9)), ((0, 0, 5, 9),) * 3)) is None


BLANK_SCANS = [(300, True, 31), (200, False, 32)]


@pytest.mark.parametrize("dpi,bitonal,seed", BLANK_SCANS, ids=[f"{d}dpi-{'1bit' if b else 'grey'}" for d, b, _ in BLANK_SCANS])
def test_fk_real_blank_forms_read_empty(registry, shared_dir, dpi, bitonal, seed):
    """Every field of every page of FK's own blank forms, printed and scanned, reads empty:
    nothing of FK's print (labels, rules, ticks) survives the print dropout as ink. (The 015
    layout's labels are Arial 7.53 pt; drawn at the replica's 8 pt, the end of a long label
    outran the dropout and read as a "1" in the beräkningsperiod dates; 3057's and 3066's
    labels sat 0.2 mm right of FK's.) Flat sheets: this checks the templates' print, not the
    registration of curled paper (see docs/benchmarks.md on unruled page headers)."""
    from dataclasses import replace

    from pipeline import defs
    from pipeline.ingest import PageImage
    from pipeline.pages import process_page
    from pipeline.read.fields import read_page
    from pipeline.synth import scan
    from pipeline.synth.reference import render_reference_page

    inked = []
    pages = 0
    for t in registry:
        pdf = defs.reference_pdf(t.form, t.version)
        if not pdf.exists():
            continue
        for p in t.pages:
            rng = np.random.default_rng(seed)
            img = render_reference_page(pdf, p.number, dpi).copy()
            prof = replace(scan.ScanProfile.random(rng, dpi, bitonal), speckle_per_dm2=20.0, warp=())
            s = scan.simulate_scan(img, dpi, prof, rng)
            res = process_page(PageImage(None, 0, s.image, float(s.dpi), s.bitonal, "png"), registry)
            assert res.registered is not None and res.registered.ok, (t.key, p.number, res.ident)
            pages += 1
            inked += [f"{t.key} p{p.number} {r.field_id}: {r.status} {r.raw or r.detail.get('state', '')}"
                      for r in read_page(res.registered, threads=2) if r.status != "empty"]
    assert pages >= 7
    assert not inked, "\n".join(inked)


def test_calibrated_threshold_keeps_the_reading_it_was_calibrated_at():
    from pipeline.evaluate import FieldOutcome, calibrate

    right = [FieldOutcome("date", False, "2025-01-01", "2025-01-01", "ok", c, False) for c in (0.99999, 0.99986)]
    wrong = [FieldOutcome("date", False, "2025-01-01", "2025-07-01", "ok", 0.9998, False)]
    t = calibrate(right + wrong, max_error=0.002)["date"]
    assert t <= 0.99986  # the right reading at 0.99986 is accepted …
    assert t > 0.9998  # … the wrong one below it is not
    assert calibrate(right + wrong, min_readings=10, default=0.99999)["date"] == 0.99999  # few readings: the default


def test_a_name_written_in_capitals_and_read_so_is_right():
    from pipeline.evaluate import FieldOutcome

    def right(value, truth="Aisha Kovačević", kind="text"):
        return FieldOutcome(kind, True, truth, value, "low_confidence", 0.8, False).right

    assert right("AISHA KOVAČEVIĆ") and right("aisha kovačević") and right("Aisha Kovačević")
    assert not right("AISHA KOVACEVIC") and not right("Aiha Kovačević")
    assert not right("0701234567", "070123456", kind="phone")


def test_a_kind_read_right_throughout_falls_back_to_the_default_below_its_least_sure_reading():
    """Nothing says a reading below the least sure one seen would be wrong: the default
    (the prior strictness) decides there, unless the readings seen went lower still."""
    from pipeline.evaluate import FieldOutcome, calibrate

    right = [FieldOutcome("organisationsnummer", False, "5566886825", "5566886825", "ok", c, False)
             for c in (1.0, 0.99999, 0.99995)]
    assert calibrate(right, min_readings=3, default=0.99)["organisationsnummer"] == 0.99
    assert calibrate(right, min_readings=4, default=0.99)["organisationsnummer"] == 0.99995  # too few: stricter
    lower = right + [FieldOutcome("organisationsnummer", False, "5566886825", "5566886825", "ok", 0.9, False)]
    assert calibrate(lower, min_readings=3, default=0.99)["organisationsnummer"] == 0.9
    wrong = right + [FieldOutcome("organisationsnummer", False, "5566886825", "5566886826", "ok", 0.9, False)]
    assert calibrate(wrong, min_readings=3, default=0.99)["organisationsnummer"] == 0.99995  # a floor in the data


def test_a_calibrated_threshold_never_cuts_a_tie():
    """Readings at one confidence are accepted or held together: a wrong one among right
    ones at the top confidence holds them all (Tesseract's text confidences come in steps)."""
    from pipeline.evaluate import FieldOutcome, calibrate

    def o(value, c):
        return FieldOutcome("text", True, "Ida Berg", value, "ok", c, False)

    tied = [o("Ida Berg", 0.96), o("Ida Berg", 0.96), o("Ida Borg", 0.96), o("Ida Berg", 0.95)]
    assert calibrate(tied, max_error=0.002)["text"] == 1.0  # for whatever order the sort leaves them in
    assert calibrate(list(reversed(tied)), max_error=0.002)["text"] == 1.0
    clean = [o("Ida Berg", 0.96)] * 3 + [o("Ida Borg", 0.95), o("Ida Berg", 0.95)]
    assert calibrate(clean, max_error=0.002)["text"] == 0.96


def test_tesseract_engines_outlive_their_threads():
    """A reading thread per document or page takes an idle engine instead of loading the
    models again; threads reading at once each get their own, and read right."""
    import threading
    from concurrent.futures import ThreadPoolExecutor

    from pipeline import ocr
    from pipeline.read.text import ocr_image

    eng = ocr.engine()
    if not hasattr(eng, "engines"):
        pytest.skip("tesserocr is not installed: the tesseract program has no engines to keep")
    cfg = ocr.OcrConfig(lang="eng", psm=13, whitelist="0123456789")  # raw line: a mode the pipeline never uses
    image = ocr_image(_printed("4562", "DejaVuSans.ttf", 300), 300)
    before = eng.engines()
    texts = []
    for _ in range(4):  # four threads, one after another
        t = threading.Thread(target=lambda: texts.append(ocr.read(image, cfg).text))
        t.start()
        t.join()
    assert texts == ["4562"] * 4 and eng.engines() == before + 1
    barrier = threading.Barrier(3)

    def together(_):
        barrier.wait()  # three threads read at once
        return ocr.read(image, cfg).text

    with ThreadPoolExecutor(3) as pool:
        assert list(pool.map(together, range(3))) == ["4562"] * 3
    assert before + 1 <= eng.engines() <= before + 3
    texts.clear()
    with ThreadPoolExecutor(2) as pool:  # and they are used again
        pool.map(lambda _: texts.append(ocr.read(image, cfg).text), range(6))
    assert texts == ["4562"] * 6 and eng.engines() <= before + 3


def test_tesseract_looks_again_when_it_disagrees_with_the_digit_readers(registry):
    """A typed "26,27" of a generated 3057 (seed 305; the field's ink as the page pipeline
    cut it, tests/data) that Tesseract, reading a line, read "26727" and was sure of: when
    its reading is not the digit readers', it reads the number again as one word."""
    from pathlib import Path

    import cv2

    from pipeline import ocr
    from pipeline.forms import FieldKind
    from pipeline.ingest import PageImage
    from pipeline.pages import process_page
    from pipeline.read.fields import read_field
    from pipeline.read.text import config_for, ocr_image
    from pipeline.synth.render import render_blank_image

    ink = cv2.imread(str(Path(__file__).with_name("data") / "typed_amount_26_27.png"), cv2.IMREAD_GRAYSCALE)
    line = ocr.read(ocr_image(ink, 300), config_for(FieldKind.amount)).text
    t = registry.get("3057", "016F002")
    f = next(f for f in t.expanded_fields(2) if f.id == "kostnad.administration.per_timme")
    rp = process_page(PageImage(None, 0, render_blank_image(t, 2, 300), 300.0, False, "png"), registry).registered
    k = rp.px_per_mm
    y, x = int(round(f.box[1] * k)), int(round(f.box[0] * k))
    region = rp.image[y:y + ink.shape[0], x:x + ink.shape[1]]
    region[:] = np.minimum(region, ink)
    r = read_field(rp, f)
    assert r.value == "26.27", (line, r.value, r.detail)
    if line != "26,27":  # the misreading this is about (this Tesseract build reads it so)
        assert r.raw == "26,27" and r.detail["printed"]


def test_tesseract_places_the_separators_it_read_not_those_it_lost():
    from pipeline.read.fields import same_digits_placed

    assert same_digits_placed("252,99", "25299")  # the CNN lost the comma: Tesseract places it
    assert same_digits_placed("3,37", "3.37") and same_digits_placed("07.30", "07.30")
    assert not same_digits_placed("337", "3.37")  # Tesseract lost it: not the same reading
    assert not same_digits_placed("12,50", "13,50")


def test_the_digit_readers_veto_tesseract_when_surer_of_another_value():
    from pipeline.read.fields import tesseract_leads
    from pipeline.read.parse import Parsed

    cnn = Parsed("16.45", 0.838, (("16.47", 0.05),))
    assert not tesseract_leads("16.47", cnn, False, 0.744)  # seed 106: Tesseract less sure
    assert tesseract_leads("16.47", cnn, False, 0.97)  # a sure Tesseract leads below the veto
    assert not tesseract_leads("16.47", Parsed("16.45", 0.95, ()), False, 0.99)  # the veto
    assert tesseract_leads("16.45", cnn, False, 0.5)  # the same value
    assert tesseract_leads("1645", Parsed("16.45", 0.99, ()), True, 0.5)  # the same digits, placed
    assert tesseract_leads("16.47", Parsed(None, 0.0, (), "no valid clock_time"), False, 0.3)
