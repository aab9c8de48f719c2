"""The filler: what a person or a computer writes into a form page (pipeline/synth/fill.py).

Most tests use a small template defined here, with every field kind and frame, so that they
do not depend on the real templates' geometry; the full-page test uses the real 3059 page 2.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import numpy as np
import pytest

from pipeline.forms import FieldKind, FormTemplate
from pipeline.synth.fill import (
    ILLEGIBLE, DigitBank, Writer, compose, fill_page, format_value, available_fonts,
    TYPED_FONT_FILES, HAND_FONT_FILES, LABEL_CLEAR_MM, LABEL_BOX_MIN_H_MM, has_glyph,
)

SHARED = Path(__file__).resolve().parents[1].parent / "shared"
MNIST = SHARED / "data" / "mnist-train" / "mnist_train.npz"
DPI = 300
PX = DPI / 25.4
INK = 250  # a pixel darker than this is ink


def _template() -> FormTemplate:
    return FormTemplate.model_validate({
        "form": "9999", "version": "001A001", "title": "Test", "footer": "FK 9999 (001 A 001)",
        "page_size": [210.0, 297.0],
        "pages": [{
            "number": 1, "skanningsid": "99990101", "skanningsid_box": [9, 160, 3, 15],
            "footer_box": [9, 230, 3, 59],
            "fields": [
                {"id": "header.year_month", "kind": "year_month", "box": [108, 22, 33, 6.5], "frame": "comb", "cells": 7},
                {"id": "person.name", "kind": "text", "box": [15, 40, 135, 9]},
                {"id": "person.personnummer", "kind": "personnummer", "box": [150, 40, 45, 9]},
                {"id": "anordnare.orgnr", "kind": "organisationsnummer", "box": [15, 52, 45, 9]},
                {"id": "anordnare.telefon", "kind": "phone", "box": [62, 52, 43, 9]},
                {"id": "underskrift.datum", "kind": "date", "box": [107, 52, 38, 9]},
                {"id": "forskott.from", "kind": "year_month", "box": [147, 52, 30, 9]},
                {"id": "efterskott.kvar_kronor", "kind": "amount", "box": [15, 64, 40, 9]},
                {"id": "tid.aktiv.timmar", "kind": "hours", "box": [60, 64, 20, 9]},
                {"id": "tid.aktiv.minuter", "kind": "minutes", "box": [82, 64, 20, 9]},
                {"id": "kollektivavtal.ja", "kind": "checkbox", "box": [17.5, 80, 4.5, 4.5]},
                {"id": "kollektivavtal.nej", "kind": "checkbox", "box": [37.5, 80, 4.5, 4.5]},
                {"id": "underskrift.signatur", "kind": "signature", "box": [15, 90, 100, 14]},
                {"id": "assistent_underskrift.signatur", "kind": "signature", "box": [120, 90, 75, 14]},
                {"id": "assistent.name", "kind": "text", "box": [15, 110, 135, 9]},
                {"id": "assistent.personnummer", "kind": "personnummer", "box": [150, 110, 45, 6], "frame": "comb", "cells": 12},
                {"id": "foretradare.name", "kind": "text", "box": [15, 121, 90, 6], "frame": "underline"},
            ],
            "tables": [{
                "id": "rows", "origin": [15.0, 135.0], "rows": 16, "row_pitch": 9.04, "block_offsets": [0.0, 92.5],
                "columns": [
                    {"id": "dag", "kind": "day", "box": [0, 0, 7.5, 9.04]},
                    {"id": "from", "kind": "clock_time", "box": [7.5, 0, 16.7, 9.04]},
                    {"id": "tom", "kind": "clock_time", "box": [25.9, 0, 16.7, 9.04]},
                    {"id": "aktiv", "kind": "checkbox", "box": [47.6, 2.0, 4.5, 4.5], "frame": "box"},
                    {"id": "vantetid", "kind": "checkbox", "box": [63.6, 2.0, 4.5, 4.5], "frame": "box"},
                    {"id": "beredskap", "kind": "checkbox", "box": [78.6, 2.0, 4.5, 4.5], "frame": "box"},
                ],
            }],
        }],
    })


TEMPLATE = _template()
FIELDS = {f.id: f for f in TEMPLATE.expanded_fields(1)}


def _values(rng: np.random.Generator, rows: int = 24) -> dict[str, str | bool]:
    v: dict[str, str | bool] = {
        "header.year_month": "2026-09", "person.name": "Åsa Öberg-Lindström",
        "person.personnummer": "198503121234", "anordnare.orgnr": "5566778899",
        "anordnare.telefon": "070-123 45 67", "underskrift.datum": "2026-10-03",
        "forskott.from": "2026-07", "efterskott.kvar_kronor": "12345.50",
        "tid.aktiv.timmar": "162", "tid.aktiv.minuter": "45",
        "kollektivavtal.ja": True, "kollektivavtal.nej": False,
        "underskrift.signatur": True, "assistent_underskrift.signatur": False,
        "assistent.name": "Björn Gustafsson", "assistent.personnummer": "199001019876",
        "foretradare.name": "",  # empty: left blank
    }
    for r in range(1, rows + 1):
        h = int(rng.integers(6, 19))
        m = int(rng.choice([0, 15, 30, 45]))
        v[f"rows.{r}.dag"] = str(int(rng.integers(1, 32)))
        v[f"rows.{r}.from"] = f"{h:02d}.{m:02d}"
        v[f"rows.{r}.tom"] = f"{h + int(rng.integers(1, 5)):02d}.{m:02d}"
        v[f"rows.{r}.{['aktiv', 'vantetid', 'beredskap'][r % 3]}"] = True
    return v


def _filled(values: dict) -> set[str]:
    return {k for k, v in values.items() if k in FIELDS and v not in (None, "", False)}


def _box_px(box, grow_mm: float = 0.0) -> tuple[int, int, int, int]:
    x, y, w, h = box
    return (int(np.floor((x - grow_mm) * PX)), int(np.floor((y - grow_mm) * PX)),
            int(np.ceil((x + w + grow_mm) * PX)), int(np.ceil((y + h + grow_mm) * PX)))


def _crop(img, box, grow_mm=0.0):
    x0, y0, x1, y1 = _box_px(box, grow_mm)
    return img[max(0, y0):y1, max(0, x0):x1]


def _solid_bank() -> DigitBank:
    """A digit bank whose every 'digit' is a full square of ink: unmistakable when drawn."""
    images = np.zeros((20, 28, 28), np.uint8)
    images[:, 4:24, 6:22] = 255
    return DigitBank(images, np.arange(20) % 10)


WRITER_CASES = [("typed", None), ("hand", None), ("hand", "solid")]


# --- where ink goes ---------------------------------------------------------------------------

@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("style,bank", WRITER_CASES)
def test_ink_only_inside_filled_boxes(seed, style, bank):
    rng = np.random.default_rng(seed)
    values = _values(rng)
    writer = Writer.random(rng, style)
    res = fill_page(TEMPLATE, 1, values, writer, rng, DPI, digits=_solid_bank() if bank else None,
                    illegible=frozenset({"assistent.name"}) if seed % 2 else frozenset())
    filled = _filled(values)
    allowed = np.zeros(res.ink.shape, bool)
    for fid in filled:
        x0, y0, x1, y1 = _box_px(FIELDS[fid].box, 1.0)
        allowed[max(0, y0):y1, max(0, x0):x1] = True
    stray = (res.ink < INK) & ~allowed
    assert not stray.any(), f"ink outside the filled boxes at {np.argwhere(stray)[:5].tolist()}"
    for fid, f in FIELDS.items():
        inside = _crop(res.ink, f.box) < INK
        if fid in filled:
            assert inside.any(), f"{fid} is filled but has no ink in its box"
        else:
            # an empty field: no ink well inside its box (neighbours' ink may reach 1 mm in)
            assert not (_crop(res.ink, f.box, -1.0) < INK).any(), f"{fid} is empty but has ink"


@pytest.mark.parametrize("seed", range(4))
def test_text_stays_below_the_label(seed):
    rng = np.random.default_rng(seed)
    res = fill_page(TEMPLATE, 1, _values(rng), Writer.random(rng, "hand"), rng, DPI)
    for fid, (x0, y0, x1, y1) in res.boxes.items():
        f = FIELDS[fid]
        if f.kind in (FieldKind.checkbox,) or f.box[3] < LABEL_BOX_MIN_H_MM:
            continue
        assert y0 >= (f.box[1] + LABEL_CLEAR_MM) * PX - 1, f"{fid}: ink starts at {y0 / PX:.2f} mm"


# --- checkboxes and signatures ------------------------------------------------------------------

@pytest.mark.parametrize("check", ["tick", "cross", "fill"])
def test_checkbox_ink(check):
    for seed in range(8):
        rng = np.random.default_rng(seed)
        w = Writer.random(rng, "hand")
        w = Writer(**{**w.__dict__, "check": check})
        values = {"kollektivavtal.ja": True, "kollektivavtal.nej": False}
        res = fill_page(TEMPLATE, 1, values, w, rng, DPI)
        on = (_crop(res.ink, FIELDS["kollektivavtal.ja"].box) < 128).mean()
        off = (_crop(res.ink, FIELDS["kollektivavtal.nej"].box, 0.5) < INK).mean()
        assert on >= (0.4 if check == "fill" else 0.08), f"{check} seed {seed}: ink share {on:.3f}"
        assert off == 0.0


def test_typed_checkbox_is_an_x():
    rng = np.random.default_rng(1)
    res = fill_page(TEMPLATE, 1, {"kollektivavtal.ja": True}, Writer.random(rng, "typed"), rng, DPI)
    assert (_crop(res.ink, FIELDS["kollektivavtal.ja"].box) < 128).mean() > 0.05


@pytest.mark.parametrize("seed", range(12))
def test_signature_spans_the_box(seed):
    rng = np.random.default_rng(seed)
    values = {"underskrift.signatur": True, "assistent_underskrift.signatur": True}
    res = fill_page(TEMPLATE, 1, values, Writer.random(rng, "hand" if seed % 3 else "typed"), rng, DPI)
    for fid in values:
        crop = _crop(res.ink, FIELDS[fid].box) < 200
        cols = np.flatnonzero(crop.any(0))
        assert len(cols), f"{fid}: no ink"
        span = (cols[-1] - cols[0] + 1) / crop.shape[1]
        assert 0.4 <= span <= 0.95, f"{fid}: signature spans {span:.2f} of the box"
        assert crop.mean() > 0.01
    none = fill_page(TEMPLATE, 1, {"underskrift.signatur": False}, Writer.random(rng, "hand"), rng, DPI)
    assert (none.ink == 255).all()


def test_illegible_field_is_scrawled_and_marked():
    for seed in range(6):
        rng = np.random.default_rng(seed)
        res = fill_page(TEMPLATE, 1, {"person.name": "Anna Berg", "rows.1.from": "07.00"},
                        Writer.random(rng, "hand"), rng, DPI, illegible=frozenset({"person.name"}))
        assert res.written["person.name"] == ILLEGIBLE
        assert res.written["rows.1.from"] in ("07.00", "7.00")
        assert (_crop(res.ink, FIELDS["person.name"].box) < 200).mean() > 0.003


# --- what is written --------------------------------------------------------------------------

def _canonical(kind: FieldKind, s: str) -> str:
    """The reading of a written value back to canonical form (as a reader must do it)."""
    if kind in (FieldKind.personnummer, FieldKind.organisationsnummer):
        return s.replace("-", "")
    if kind == FieldKind.date:
        return s if len(s) == 10 else "20" + s
    if kind == FieldKind.clock_time:
        h, m = s.split(".")
        return f"{int(h):02d}.{m}"
    if kind == FieldKind.amount:
        units, _, cents = s.replace(" ", "").partition(",")
        return f"{units}.{cents or '00'}"
    return s


@pytest.mark.parametrize("seed", range(40))
def test_written_formats_read_back_to_the_value(seed):
    rng = np.random.default_rng(seed)
    w = Writer.random(rng, "hand" if seed % 2 else "typed")
    cases = {
        FieldKind.personnummer: "198503121234", FieldKind.organisationsnummer: "5566778899",
        FieldKind.date: "2026-09-03", FieldKind.clock_time: "07.00", FieldKind.amount: "1234.50",
        FieldKind.year_month: "2026-09", FieldKind.phone: "070-123 45 67", FieldKind.day: "3",
    }
    for kind, value in cases.items():
        written = format_value(kind, value, w)
        assert _canonical(kind, written) == value, (kind, written)
    assert _canonical(FieldKind.amount, format_value(FieldKind.amount, "98765.00", w)) == "98765.00"


def test_comb_year_month_skips_the_printed_dash():
    rng = np.random.default_rng(3)
    f = FIELDS["header.year_month"]
    res = fill_page(TEMPLATE, 1, {f.id: "2026-09"}, Writer.random(rng, "typed"), rng, DPI)
    assert res.written[f.id] == "2026-09"
    x, y, w, h = f.box
    cw = w / 7
    inked = [bool((_crop(res.ink, (x + i * cw + 0.3, y, cw - 0.6, h)) < 128).any()) for i in range(7)]
    assert inked == [True, True, True, True, False, True, True]


def test_fonts_lacking_swedish_letters_fall_back():
    hand = available_fonts(HAND_FONT_FILES)
    assert hand, "no handwriting font installed (fonts-kristi, fonts-breip, …)"
    lacking = [p for p in hand if not has_glyph(p, "å")]
    for p in lacking:
        rng = np.random.default_rng(0)
        w = Writer(**{**Writer.random(rng, "hand").__dict__, "font": p})
        a = fill_page(TEMPLATE, 1, {"person.name": "åäö"}, w, np.random.default_rng(0), DPI)
        assert (_crop(a.ink, FIELDS["person.name"].box) < 128).sum() > 100, p


# --- typed text reads back with Tesseract -----------------------------------------------------

NUMERIC = {FieldKind.personnummer, FieldKind.organisationsnummer, FieldKind.date,
           FieldKind.year_month, FieldKind.clock_time, FieldKind.day, FieldKind.hours,
           FieldKind.minutes, FieldKind.amount, FieldKind.phone}


TESSDATA = Path("/usr/share/tesseract-ocr/5/tessdata")
DIGIT_WHITELIST = "0123456789-.,:"


def _line_reader():
    """A function crop → (numeric?) → text: Tesseract, psm 7 (one line), eng with a digit
    whitelist for numeric kinds, swe (or eng) for names. tesserocr (one reused engine, ~10 ms a
    crop) when installed, else pytesseract (one process a crop)."""
    from PIL import Image

    try:
        import tesserocr
    except ImportError:
        tesserocr = None
    if tesserocr is not None and (TESSDATA / "eng.traineddata").is_file():
        text_lang = "swe" if (TESSDATA / "swe.traineddata").is_file() else "eng"
        num = tesserocr.PyTessBaseAPI(path=str(TESSDATA), lang="eng", psm=tesserocr.PSM.SINGLE_LINE)
        num.SetVariable("tessedit_char_whitelist", DIGIT_WHITELIST)
        txt = tesserocr.PyTessBaseAPI(path=str(TESSDATA), lang=text_lang, psm=tesserocr.PSM.SINGLE_LINE)

        def read(crop: np.ndarray, numeric: bool) -> str:
            api = num if numeric else txt
            api.SetImage(Image.fromarray(crop))
            return api.GetUTF8Text().strip()
        return read
    if shutil.which("tesseract") is None:
        pytest.skip("neither tesserocr with tessdata nor the tesseract binary is installed")
    pytesseract = pytest.importorskip("pytesseract")
    langs = pytesseract.get_languages()

    def read(crop: np.ndarray, numeric: bool) -> str:
        if numeric:
            return pytesseract.image_to_string(Image.fromarray(crop), lang="eng",
                                               config=f"--psm 7 -c tessedit_char_whitelist={DIGIT_WHITELIST}").strip()
        return pytesseract.image_to_string(Image.fromarray(crop), lang="swe" if "swe" in langs else "eng",
                                           config="--psm 7").strip()
    return read


def test_typed_fields_read_back_with_tesseract(monkeypatch):
    monkeypatch.setenv("OMP_THREAD_LIMIT", "1")  # Tesseract's OpenMP oversubscribes 2 cores
    read = _line_reader()
    right, total, wrong = 0, 0, []
    fonts = available_fonts(TYPED_FONT_FILES)
    assert fonts
    for i, font in enumerate(fonts):
        rng = np.random.default_rng(100 + i)
        w = Writer(**{**Writer.random(rng, "typed").__dict__, "font": font})
        values = _values(rng, rows=8)
        res = fill_page(TEMPLATE, 1, values, w, rng, DPI)
        for fid, written in res.written.items():
            f = FIELDS[fid]
            if f.frame == "comb":
                continue
            numeric = f.kind in NUMERIC
            got = read(np.pad(_crop(res.ink, f.box), 20, constant_values=255), numeric)
            # spaces inside numbers ("1 234,50") are layout; Tesseract may drop them
            norm = (lambda s: re.sub(r"\s+", "" if numeric else " ", s))
            total += 1
            if norm(got) == norm(written):
                right += 1
            else:
                wrong.append((Path(font).name, fid, written, got))
    assert total >= 80
    print(f"typed fields read back by Tesseract: {right}/{total}; wrong: {wrong}")
    assert right / total >= 0.95, f"{right}/{total} read back; wrong: {wrong}"


# --- determinism, digits, compose, a full page ----------------------------------------------------

def test_same_seed_same_page():
    def run(seed):
        rng = np.random.default_rng(seed)
        w = Writer.random(rng, "hand")
        return fill_page(TEMPLATE, 1, _values(rng), w, rng, DPI, digits=_solid_bank(),
                         illegible=frozenset({"person.name"}))
    a, b, c = run(5), run(5), run(6)
    assert np.array_equal(a.ink, b.ink) and a.written == b.written and a.boxes == b.boxes
    assert not np.array_equal(a.ink, c.ink)


def test_digit_bank_digits_are_drawn():
    """Solid-square 'digits' leave blobs of ink far wider than any pen stroke (1.3 mm): what is
    left after eroding the ink by that much is there only when the bank's digits are drawn."""
    import cv2

    f = FIELDS["tid.aktiv.timmar"]
    shares = {}
    kernel = np.ones((15, 15), np.uint8)
    for name, bank in (("font", None), ("bank", _solid_bank())):
        rng = np.random.default_rng(9)
        w = Writer.random(rng, "hand")
        res = fill_page(TEMPLATE, 1, {f.id: "888", "person.name": "Anna"}, w, rng, DPI, digits=bank)
        x0, y0, x1, y1 = res.boxes[f.id]
        solid = cv2.erode((res.ink[y0:y1, x0:x1] < 128).astype(np.uint8), kernel)
        shares[name] = int(solid.sum())
        # a text field never takes digits from the bank
        assert "person.name" in res.boxes
    assert shares["bank"] > 200 and shares["font"] == 0, shares


def test_shared_mnist_bank():
    if not MNIST.is_file():
        pytest.skip(f"{MNIST} not present (shared data): MNIST digit bank not tested")
    bank = DigitBank.from_npz(MNIST, 0, 2000)
    assert bank.images.shape == (2000, 28, 28)
    assert set(np.unique(bank.labels)) == set(range(10))  # the file is sorted by class
    assert bank.images[:, 0, :].mean() < 30  # inverted to MNIST's ink-bright convention
    other = DigitBank.from_npz(MNIST, 2000, 4000)
    assert not any(np.array_equal(bank.images[i], other.images[i]) for i in range(50))
    f = FIELDS["rows.1.from"]
    outs = []
    for bk in (None, bank):
        rng = np.random.default_rng(4)
        res = fill_page(TEMPLATE, 1, {f.id: "07.45"}, Writer.random(rng, "hand"), rng, DPI, digits=bk)
        outs.append(res.ink)
        assert (_crop(res.ink, f.box) < 128).sum() > 200
    assert not np.array_equal(*outs)


def test_compose_darkens():
    paper = np.full((10, 10), 240, np.uint8)
    paper[0, 0] = 0
    ink = np.full((10, 11), 255, np.uint8)
    ink[5, 5] = 40
    out = compose(paper, ink)  # one px of rounding difference is absorbed
    assert out.shape == (10, 10) and out[5, 5] == 40 and out[0, 0] == 0 and out[9, 9] == 240
    rgb = compose(np.full((10, 10, 3), 250, np.uint8), ink[:, :10])
    assert rgb.shape == (10, 10, 3) and rgb[5, 5, 0] == 40
    with pytest.raises(ValueError):
        compose(paper, np.full((30, 30), 255, np.uint8))


def test_fill_3059_page_2(registry):
    try:
        t = registry.get("3059", "016F003")
    except Exception as e:  # noqa: BLE001 - the template is written elsewhere
        pytest.skip(f"3059 016F003 template not available: {e}")
    rng = np.random.default_rng(0)
    values: dict[str, str | bool] = {"p2.year_month": "2026-09", "p2.assistent_personnummer": "199001019876",
                                     "p2.person_personnummer": "198503121234"}
    for r in range(1, 41):
        values[f"rows.{r}.dag"] = str((r % 30) + 1)
        values[f"rows.{r}.from"] = "07.00"
        values[f"rows.{r}.tom"] = "16.30"
        values[f"rows.{r}.aktiv"] = True
    w = Writer.random(rng, "hand")
    res = fill_page(t, 2, values, w, rng, DPI)
    assert len(res.written) == 123  # speed is measured by the benchmark, not here
