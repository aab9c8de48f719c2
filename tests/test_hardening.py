"""Hardening: bad input, property-based tests of the loaders and of value parsing, a bounded
fuzz run of ingest, masking of personnummer, and retention of crops.

The cases of issue #9 that other modules already test: zero-byte, truncated and encrypted
PDFs, a 144 Mpx G4 TIFF and a PNG behind a ``.pdf`` name (test_ingest.py); blank and
letter pages, quarter turns, missing / duplicated / misordered pages one stage at a time
(test_page_pipeline.py); a crash between the inbox's moves (test_inbox.py). Here: what they
leave out, and the page faults all in one real batch file.
"""

from __future__ import annotations

import io
import json
import re
import signal
import struct
import tempfile
import time
import zipfile
import zlib
from contextlib import contextmanager
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from PIL import Image

from pipeline import defs, ingest
from pipeline.config import DataDir
from pipeline.errors import InputFileError
from pipeline.forms import FieldKind, TemplateRegistry
from pipeline.ids import Organisationsnummer, Personnummer, luhn_ok, random_personnummer
from pipeline.masking import mask_text
from pipeline.read import parse
from pipeline.record import typed_value

ROOT = Path(__file__).resolve().parents[1]
SAMPLE_TIF = ROOT / "samples" / "batch-2026-002.tif"  # 3066, 3066, 3057, 3059 (9 pages)

# Hypothesis: no example database in the tree, no deadline (a shared 2-core machine), the
# bounded run size named per test.
FUZZ = settings(deadline=None, database=None, suppress_health_check=list(HealthCheck), derandomize=True)


def fuzz(examples: int) -> settings:
    return settings(FUZZ, max_examples=examples)
# A single file must load (or be refused) within this long (s); longer is a hang.
LOAD_LIMIT_S = 20


@contextmanager
def time_limit(seconds: int):
    """Fail with TimeoutError instead of hanging (SIGALRM; main thread, Linux)."""
    def ring(signum, frame):
        raise TimeoutError(f"still loading after {seconds} s")

    old = signal.signal(signal.SIGALRM, ring)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)


def sample_frames(indexes) -> list[Image.Image]:
    im = Image.open(SAMPLE_TIF)
    out = []
    for i in indexes:
        im.seek(i)
        out.append(im.copy().convert("L"))
    return out


def g4_tiff(frames: list[Image.Image], dest: Path) -> Path:
    bw = [f.convert("1") for f in frames]
    bw[0].save(dest, save_all=True, append_images=bw[1:], compression="group4", dpi=(200, 200))
    return dest


def load(path: Path) -> list[ingest.PageImage]:
    with time_limit(LOAD_LIMIT_S):
        return list(ingest.pages(path))


# --- crafted bad files ---------------------------------------------------------------------------

def pdf_with(kind: str) -> bytes:
    """A one-page PDF carrying active content of one kind."""
    from pypdf import PdfWriter
    from pypdf.generic import ArrayObject, DictionaryObject, NameObject, TextStringObject

    w = PdfWriter()
    w.add_blank_page(595, 842)
    if kind == "javascript":  # document-level JavaScript, run by a viewer on opening
        js = w._add_object(DictionaryObject({NameObject("/S"): NameObject("/JavaScript"),
                                             NameObject("/JS"): TextStringObject("app.alert('hej');")}))
        w._root_object[NameObject("/Names")] = DictionaryObject({NameObject("/JavaScript"): DictionaryObject(
            {NameObject("/Names"): ArrayObject([TextStringObject("hej"), js])})})
    elif kind == "launch":
        w._root_object[NameObject("/OpenAction")] = DictionaryObject(
            {NameObject("/S"): NameObject("/Launch"), NameObject("/F"): TextStringObject("cmd.exe")})
    elif kind == "attachment":
        w.add_attachment("faktura.exe", b"MZ\x90\x00")
    b = io.BytesIO()
    w.write(b)
    return b.getvalue()


def pdf_pages(n: int) -> bytes:
    from pypdf import PdfWriter

    w = PdfWriter()
    for _ in range(n):
        w.add_blank_page(595, 842)
    b = io.BytesIO()
    w.write(b)
    return b.getvalue()


def tiff_claiming(width: int, height: int) -> bytes:
    """A 1-bit G4 TIFF whose header claims ``width`` × ``height`` pixels, with a few bytes of data."""
    entries = [(256, 4, width), (257, 4, height), (258, 3, 1), (259, 3, 4), (262, 3, 0),
               (273, 4, 8 + 2 + 12 * 9 + 4), (277, 3, 1), (278, 4, height), (279, 4, 16)]
    ifd = struct.pack("<H", len(entries))
    for tag, typ, value in entries:
        ifd += struct.pack("<HHI", tag, typ, 1) + (struct.pack("<HH", value, 0) if typ == 3 else struct.pack("<I", value))
    return b"II*\x00" + struct.pack("<I", 8) + ifd + struct.pack("<I", 0) + b"\x00" * 16


def png_claiming(width: int, height: int) -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    ihdr = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\x00" * 64)) + chunk(b"IEND", b"")


def zip_bytes() -> bytes:
    b = io.BytesIO()
    with zipfile.ZipFile(b, "w") as z:
        z.writestr("word/document.xml", "<w:document/>")
    return b.getvalue()


def gif_bytes() -> bytes:
    b = io.BytesIO()
    Image.new("L", (40, 40), 255).save(b, format="GIF")
    return b.getvalue()


BAD_FILES = {
    "javascript": (lambda: pdf_with("javascript"), "active content (/JavaScript"),
    "launch-action": (lambda: pdf_with("launch"), "active content (/Launch action)"),
    "embedded-file": (lambda: pdf_with("attachment"), "active content (/EmbeddedFile"),
    "too-many-pages": (lambda: pdf_pages(defs.MAX_PAGES_PER_FILE + 1), f"over the limit of {defs.MAX_PAGES_PER_FILE}"),
    "tiff-100000x100000": (lambda: tiff_claiming(100_000, 100_000), "too large"),
    "tiff-1x2000000000": (lambda: tiff_claiming(1, 2_000_000_000), "too large"),
    "png-60000x60000": (lambda: png_claiming(60_000, 60_000), "too large"),
    "zip-behind-pdf": (zip_bytes, "not a PDF, TIFF, PNG or JPEG"),
    "gif-behind-pdf": (gif_bytes, "not a PDF, TIFF, PNG or JPEG"),
    "html-behind-pdf": (lambda: b"<!DOCTYPE html><html><body>%PDF? no</body></html>", "not a PDF, TIFF, PNG or JPEG"),
}


@pytest.mark.parametrize("case", list(BAD_FILES))
def test_bad_file_is_refused_with_its_reason(tmp_path, case):
    make, reason = BAD_FILES[case]
    p = tmp_path / f"{case}.pdf"
    p.write_bytes(make())
    t0 = time.perf_counter()
    with pytest.raises(InputFileError, match=re.escape(reason)) as e:
        load(p)
    assert str(e.value).startswith(p.name)  # the message names the file
    assert time.perf_counter() - t0 < 10  # refused from the header, never decoded


def test_pdf_open_for_reading_but_encrypted_with_owner_password_only_is_read(tmp_path):
    """Encryption with an empty user password (printing restricted, say) hides nothing: read it."""
    from pypdf import PdfWriter
    from reportlab.pdfgen import canvas

    b = io.BytesIO()
    c = canvas.Canvas(b, pagesize=(595, 842))
    c.rect(100, 100, 300, 200, fill=1)
    c.showPage()
    c.save()
    w = PdfWriter(clone_from=io.BytesIO(b.getvalue()))
    w.encrypt(user_password="", owner_password="ägare", algorithm="AES-256")
    p = tmp_path / "owner-only.pdf"
    with p.open("wb") as f:
        w.write(f)
    (g,) = load(p)
    assert g.error is None and g.image.min() < 50


@pytest.mark.filterwarnings("ignore::PIL.Image.DecompressionBombWarning")  # img2pdf making the bomb
def test_oversized_pages_inside_a_pdf_fail_alone(tmp_path):
    """A vector page of 200 × 200 inches and an embedded 144 Mpx image: each page says why it
    was not decoded (before poppler or PIL allocates it), the good page between them is read."""
    img2pdf = pytest.importorskip("img2pdf")
    from pypdf import PdfReader, PdfWriter
    from reportlab.pdfgen import canvas

    b = io.BytesIO()
    c = canvas.Canvas(b, pagesize=(14_400, 14_400))  # the largest page PDF allows
    c.rect(100, 100, 3000, 3000)
    c.showPage()
    c.save()
    bomb = io.BytesIO()
    Image.new("1", (12_000, 12_000), 1).save(bomb, format="TIFF", compression="group4", dpi=(200, 200))
    good = io.BytesIO()
    sample_frames([0])[0].convert("1").save(good, format="TIFF", compression="group4", dpi=(200, 200))
    w = PdfWriter()
    for data in (b.getvalue(), img2pdf.convert(good.getvalue()), img2pdf.convert(bomb.getvalue())):
        for page in PdfReader(io.BytesIO(data)).pages:
            w.add_page(page)
    p = tmp_path / "mixed.pdf"
    with p.open("wb") as f:
        w.write(f)
    t0 = time.perf_counter()
    huge, ok, embedded = load(p)
    assert time.perf_counter() - t0 < 15
    assert huge.image is None and "page 1" in huge.error and "200 × 200 inches is too large" in huge.error
    assert ok.error is None and ok.origin == "embedded" and ok.image.shape == (2339, 1654)
    assert embedded.image is None and "page 3" in embedded.error and "12000×12000 pixels is too large" in embedded.error


def test_a_huge_frame_inside_a_tiff_fails_alone(tmp_path):
    frames = sample_frames([0]) + [Image.new("L", (12_000, 12_000), 255)] + sample_frames([1])
    p = g4_tiff(frames, tmp_path / "frames.tif")
    first, huge, last = load(p)
    assert first.error is None and last.error is None
    assert huge.image is None and "page 2" in huge.error and "too large" in huge.error


def test_bad_files_are_quarantined_and_the_rest_of_the_batch_is_processed(tmp_path, registry):
    from pipeline.intake import process_batch

    batch = tmp_path / "batch"
    batch.mkdir()
    g4_tiff(sample_frames([0, 1]), batch / "a-good.tif")  # one 3066
    for name, case in (("b-script.pdf", "javascript"), ("c-huge.pdf", "too-many-pages"),
                       ("d-docx.pdf", "zip-behind-pdf"), ("e-bomb.tif", "tiff-100000x100000")):
        (batch / name).write_bytes(BAD_FILES[case][0]())
    data = DataDir(tmp_path / "data")
    outcomes = {o.path.name: o for o in process_batch(batch, registry, data)}
    assert [d.key for d in outcomes["a-good.tif"].documents] == ["3066/004F005"]
    assert outcomes["a-good.tif"].quarantined is None
    for name, case in (("b-script.pdf", "javascript"), ("c-huge.pdf", "too-many-pages"),
                       ("d-docx.pdf", "zip-behind-pdf"), ("e-bomb.tif", "tiff-100000x100000")):
        q = outcomes[name].quarantined
        assert q is not None and q.file.exists() and BAD_FILES[case][1] in q.reason, (name, q)
        info = json.loads(q.file.with_name(q.file.name + ".reason.json").read_text())
        assert info["file"] == name and info["reason"] == q.reason and len(info["sha256"]) == 64
    assert sorted(p.name for p in batch.iterdir()) == ["a-good.tif"]


def test_a_store_outage_is_not_the_files_fault(tmp_path):
    """The database cannot be reached while a claimed file is processed: the sweep stops with
    StoreUnavailableError, no outcome, nothing moved, and the attempt does not count."""
    from sqlalchemy import create_engine, text

    from pipeline import inbox
    from pipeline.errors import StoreUnavailableError

    data = DataDir.resolve(tmp_path / "data").ensure()
    src = data.inbox / "scan 191212121212.tif"
    src.write_bytes(b"II*\x00scan")

    def processor(c):  # a real SQLAlchemy error of an unreachable database
        with create_engine(f"sqlite:///{tmp_path / 'gone' / 'blankett.sqlite'}").connect() as conn:
            conn.execute(text("SELECT 1"))

    c = inbox.claim(src, src.stat(), data)
    with pytest.raises(StoreUnavailableError, match="could not be reached while processing scan 19121212-") as e:
        inbox.process_claim(data, c, processor, {})
    assert "191212121212" not in str(e.value)
    assert sorted(p.name for p in data.processing.iterdir()) == [f".{c.name}.claim.json", c.name]
    assert json.loads((data.processing / f".{c.name}.claim.json").read_text())["attempts"] == 0
    assert list(data.archive.iterdir()) == [] and list(data.quarantine.iterdir()) == []


# --- page faults in one real batch file ------------------------------------------------------------

def test_page_faults_in_a_batch_are_kept_and_reported(tmp_path, registry):
    """A 3059 fed with its page 2 turned 90° and then again, a black page, page 3 upside down,
    a letter, then a 3066 whose page 2 is missing and a blank page: two documents, every page
    in exactly one of them, with what was wrong said on each."""
    from pipeline.pages import process_file
    from pipeline.synth.batch import _letter_page

    p1, p2, p3, q1 = sample_frames([6, 7, 8, 2])  # 3059 pages 1–3, a 3066's page 1
    black = Image.new("L", p1.size, 0)
    blank = Image.new("L", p1.size, 255)
    letter = Image.fromarray(_letter_page(np.random.default_rng(1), 200))
    seq = [p1, p2.transpose(Image.Transpose.ROTATE_90), p2, black, p3.transpose(Image.Transpose.ROTATE_180),
           letter, q1, blank]
    path = g4_tiff(seq, tmp_path / "faults.tif")
    docs = list(process_file(path, registry))
    assert [d.key for d in docs] == ["3059/016F003", "3066/004F005"]
    a, b = docs
    assert {n: (p.index, p.rotation) for n, p in a.pages.items()} == {1: (0, 0), 2: (1, 90), 3: (4, 180)}
    assert [(x.code, x.page) for x in a.problems] == [("duplicate_page", 2)]
    kinds = {x.index: x.ident.kind for x in a.attachments}
    assert kinds == {2: "form", 3: "other", 5: "other"}  # the second page 2, the black page, the letter
    assert all(x.ident.reason for x in a.attachments if x.ident.kind != "form")
    assert {n: p.index for n, p in b.pages.items()} == {1: 6}
    assert [(x.code, x.page) for x in b.problems] == [("missing_page", 2)]
    assert [(x.index, x.ident.kind) for x in b.attachments] == [(7, "blank")]
    every = sorted([p.index for d in docs for p in d.pages.values()] + [x.index for d in docs for x in d.attachments])
    assert every == list(range(len(seq)))  # each page exactly once


def test_a_form_of_an_unknown_layout_version_is_not_read_with_another_template(registry):
    """FK prints the same skanningsID on a new layout version. With 3059 015 F 001 unknown, a
    page of it whose footer names its version legibly must not pass for 016 F 003: it is kept
    as unreadable with the reason (its document then lacks a page: review). A page whose
    footer cannot be read at all still passes on its skanningsID or ruling: the limit of
    this check (docs/architecture.md)."""
    from pipeline.ingest import PageImage
    from pipeline.pages import process_page
    from pipeline.synth import render, scan

    known = TemplateRegistry([t for t in registry.templates if t.key != "3059/015F001"])
    t = registry.get("3059", "015F001")
    refused = 0
    for seed in range(8):
        rng = np.random.default_rng(seed)
        for n in (1, 2):
            s = scan.simulate_scan(render.render_blank_image(t, n, 200), 200,
                                   scan.ScanProfile.random(rng, 200, True), rng)
            r = process_page(PageImage(None, 0, s.image, 200.0, True, "tiff"), known)
            if "015" in (r.ident.footer or ""):
                assert r.ident.kind == "unreadable" and "version 015F001" in r.ident.reason
                refused += 1
    assert refused >= 2
    # the known layout of the same skanningsID still passes, its footer kept
    t2 = registry.get("3059", "016F003")
    rng = np.random.default_rng(9)
    s2 = scan.simulate_scan(render.render_blank_image(t2, 2, 200), 200, scan.ScanProfile.random(rng, 200, True), rng)
    r2 = process_page(PageImage(None, 1, s2.image, 200.0, True, "tiff"), known)
    assert r2.ident.key == "3059/016F003/2" and "016" in (r2.ident.footer or "")


# --- property-based: loaders -----------------------------------------------------------------------

def _outcome(data: bytes, suffix: str) -> str:
    """Load ``data`` as a batch file: 'refused' (InputFileError with a reason naming the file)
    or 'loaded' (every page an image or a reason). Anything else raises: a crash."""
    with tempfile.TemporaryDirectory() as d:
        p = Path(d) / f"fuzz{suffix}"
        p.write_bytes(data)
        try:
            got = load(p)
        except InputFileError as e:
            assert str(e).startswith(p.name) and len(str(e)) > len(p.name) + 5
            return "refused"
    for i, g in enumerate(got):
        assert g.index == i
        if g.image is None:
            assert g.error
        else:
            assert g.image.ndim == 2 and g.image.dtype == np.uint8 and g.image.size > 0 and g.dpi > 0
    return "loaded"


@fuzz(300)
@given(data=st.binary(max_size=2048), suffix=st.sampled_from([".pdf", ".tif", ".png", ".jpg", ""]))
@example(data=b"%PDF-", suffix=".pdf")
@example(data=b"II*\x00", suffix=".tif")
@example(data=b"\x89PNG\r\n\x1a\n", suffix=".png")
@example(data=b"\xff\xd8\xff", suffix=".jpg")
def test_any_bytes_load_or_are_refused(data, suffix):
    _outcome(data, suffix)


def _seed_files() -> dict[str, bytes]:
    """Small valid batch files of each format (a 300 × 424 px page of a real sample)."""
    import img2pdf

    page = sample_frames([0])[0].resize((300, 424)).convert("1")
    tif, png, jpg = io.BytesIO(), io.BytesIO(), io.BytesIO()
    page.save(tif, format="TIFF", compression="group4", dpi=(100, 100), save_all=True, append_images=[page])
    page.save(png, format="PNG", dpi=(100, 100))
    page.convert("L").save(jpg, format="JPEG", quality=60, dpi=(100, 100))
    g4 = io.BytesIO()
    page.save(g4, format="TIFF", compression="group4", dpi=(100, 100))
    return {".pdf": img2pdf.convert(g4.getvalue()), ".tif": tif.getvalue(), ".png": png.getvalue(), ".jpg": jpg.getvalue()}


SEEDS = _seed_files()


@st.composite
def mutated(draw, seed: bytes) -> bytes:
    """``seed`` with a few bytes overwritten, a stretch cut out or repeated, or cut short."""
    b = bytearray(seed)
    for _ in range(draw(st.integers(0, 8))):
        b[draw(st.integers(0, len(b) - 1))] = draw(st.integers(0, 255))
    if draw(st.booleans()):
        i = draw(st.integers(0, len(b)))
        j = draw(st.integers(i, min(len(b), i + 512)))
        b[i:j] = b[i:j] * draw(st.integers(0, 3))
    if draw(st.booleans()):
        b = b[:draw(st.integers(1, len(b)))]
    return bytes(b)


@pytest.mark.parametrize("suffix", list(SEEDS))
def test_fuzzed_batch_files_load_or_are_refused(suffix):
    """A bounded fuzz run (fixed seed): mutations of a small valid file of each format."""
    assert _outcome(SEEDS[suffix], suffix) == "loaded"  # the unmutated seed is a good file
    seen: dict[str, int] = {}

    @fuzz(300)
    @given(data=mutated(SEEDS[suffix]))
    def run(data):
        o = _outcome(data, suffix)
        seen[o] = seen.get(o, 0) + 1

    t0 = time.perf_counter()
    run()
    assert sum(seen.values()) >= 100 and time.perf_counter() - t0 < 120
    print(f"\nfuzz {suffix}: {seen} in {time.perf_counter() - t0:.1f} s")


# --- property-based: value parsing ------------------------------------------------------------------

PARSED_KINDS = [FieldKind.personnummer, FieldKind.organisationsnummer, FieldKind.clock_time, FieldKind.date,
                FieldKind.year_month, FieldKind.day, FieldKind.hours, FieldKind.minutes, FieldKind.amount,
                FieldKind.phone, FieldKind.text]
TYPES = {FieldKind.clock_time: "time", FieldKind.date: "date", FieldKind.amount: Decimal, FieldKind.day: int,
         FieldKind.hours: int, FieldKind.minutes: int, FieldKind.personnummer: str,
         FieldKind.organisationsnummer: str, FieldKind.year_month: str, FieldKind.phone: str, FieldKind.text: str,
         FieldKind.checkbox: bool, FieldKind.signature: bool}
# What readers hand over: digits, the separators people write, OCR's stray marks, letters.
READ_CHARS = st.sampled_from(list("0123456789") * 4 + list(" -+.,:/()|'\u00a0\u202fOlIoSBZ"))
READ_TEXT = st.lists(READ_CHARS, max_size=18).map("".join)


def _is_type(v, kind: FieldKind) -> bool:
    from datetime import time as clock

    want = {"time": clock, "date": date}.get(TYPES[kind], TYPES[kind])
    return isinstance(v, want) and not (want is int and isinstance(v, bool))


@fuzz(1500)
@given(kind=st.sampled_from(PARSED_KINDS), s=st.one_of(st.text(max_size=30), READ_TEXT),
       month=st.sampled_from([None, "2026-02", "2024-02", "2025-12"]))
def test_normalise_is_total_and_its_values_are_canonical_and_typed(kind, s, month):
    """Whatever a reader hands over: no exception; a value, when there is one, is its own
    canonical form and the record gives it its type."""
    v = parse.normalise(kind, s, month=month, reference=date(2026, 11, 23))
    if v is None:
        return
    assert parse.normalise(kind, v, month=month, reference=date(2026, 11, 23)) == v
    typed = typed_value(kind, v)
    assert typed is not None and _is_type(typed, kind), (kind, s, v, typed)


@fuzz(1500)
@given(kind=st.sampled_from(list(TYPES)), s=st.one_of(st.none(), st.booleans(), st.text(max_size=30), READ_TEXT))
def test_typed_value_is_total(kind, s):
    v = typed_value(kind, s)
    assert v is None or _is_type(v, kind), (kind, s, v)


@fuzz(300)  # dates of the years a form's date can have (defs.DATE_YEAR_MIN/MAX)
@given(h=st.integers(0, 23), m=st.integers(0, 59), d=st.dates(date(1900, 1, 1), date(2099, 12, 31)),
       kr=st.integers(0, 999_999_999), ore=st.integers(0, 99))
def test_canonical_values_round_trip(h, m, d, kr, ore):
    from datetime import time as clock

    assert typed_value(FieldKind.clock_time, parse.normalise(FieldKind.clock_time, f"{h}:{m:02d}")) == clock(h, m)
    assert typed_value(FieldKind.date, parse.normalise(FieldKind.date, d.strftime("%Y%m%d"))) == d
    written = f"{kr:,}".replace(",", " ") + f",{ore:02d}"  # 1 234 567,89 as Swedish writes it
    assert typed_value(FieldKind.amount, parse.normalise(FieldKind.amount, written)) == Decimal(f"{kr}.{ore:02d}")


def test_an_amount_is_a_finite_number():
    assert typed_value(FieldKind.amount, "NaN") is None
    assert typed_value(FieldKind.amount, "Infinity") is None


def test_only_ascii_digits_make_values():
    """Arabic-Indic or full-width digits (``\\d`` in Python matches them) make no value."""
    assert parse.phone("\u0663" + "04519226") != "\u0663" + "04519226"
    assert all(c in "0123456789" for c in (parse.phone("\u0663" + "04519226") or ""))
    assert parse.normalise(FieldKind.clock_time, "\uff11\uff12:30") in (None, "12:30")


# --- property-based: identity numbers and masking ---------------------------------------------------

@fuzz(1000)
@given(s=st.one_of(st.text(max_size=20), READ_TEXT))
def test_identity_number_parsers_accept_only_valid_numbers(s):
    try:
        p = Personnummer.parse(s, reference=date(2026, 11, 23))
    except ValueError as e:
        assert str(e)
    else:
        assert re.fullmatch(r"\d{12}", p.digits) and luhn_ok(p.digits[2:])
        assert Personnummer.parse(p.digits).digits == p.digits
    try:
        o = Organisationsnummer.parse(s)
    except ValueError as e:
        assert str(e)
    else:
        assert re.fullmatch(r"\d{10}", o.digits) and luhn_ok(o.digits) and o.is_legal_person


NO_DIGITS = st.text(st.characters(blacklist_categories=("Nd",)), max_size=20)


@fuzz(500)
@given(seed=st.integers(0, 2**32 - 1), samordning=st.booleans(), style=st.integers(0, 4),
       before=NO_DIGITS, after=NO_DIGITS)
def test_mask_text_hides_every_personnummer(seed, samordning, style, before, after):
    pnr = random_personnummer(np.random.default_rng(seed), born_between=(1920, 2025), samordning=samordning)
    shown = [pnr, f"{pnr[:8]}-{pnr[8:]}", f"{pnr[2:8]}-{pnr[8:]}", pnr[2:], f"{pnr[2:8]} {pnr[8:]}"][style]
    masked = mask_text(before + shown + after)
    assert pnr[2:] not in re.sub(r"\D", "", masked), masked
    assert mask_text(masked) == masked
    assert (f"{pnr[:8]}-****" if style < 2 else f"{pnr[2:8]}-****") in masked


@fuzz(500)
@given(s=st.text(max_size=60))
def test_mask_text_changes_nothing_else(s):
    m = mask_text(s)
    assert mask_text(m) == m
    if not re.search(r"\d{10}|\d{6}[-+ ]\d{4}", s):
        assert m == s


# --- retention ----------------------------------------------------------------------------------------

@pytest.fixture
def finished_store(tmp_path, registry):
    """A store with four documents — exported, sent for completion, in review, validated and
    not yet exported — each with a crop folder."""
    from pipeline.assess import record_from_values, validate
    from pipeline.store import Store
    from pipeline.synth.content import generate_documents

    data = DataDir.resolve(tmp_path / "data").ensure()
    store = Store.open(data)
    bid = store.begin_batch("b", date(2026, 11, 2))
    store.begin_file(bid, "b.pdf", "cd" * 32, date(2026, 11, 2))
    docs = generate_documents(registry, np.random.default_rng(11), 4, fault_rate=0.0, styles=("typed",))
    recs = {}
    for name, route, d in zip(("exported", "completion", "review", "validated"),
                              ("validation", "completion", "review", "validation"), docs):
        rec = validate(record_from_values(registry.get(d.form, d.version), d.values, document=name,
                                          received=date.fromisoformat(d.received_date)))
        rec["route"] = route
        rec["reasons"] = [] if route == "validation" else [
            {"code": "x", "to": "operator" if route == "review" else "sender", "certain": True, "fields": [],
             "page": 1, "sv": "x", "en": "x"}]
        store.save_document("cd" * 32, rec)
        recs[name] = rec
        folder = data.crops / name
        folder.mkdir()
        Image.new("L", (30, 20), 128).save(folder / "page-1.png")
        Image.new("L", (10, 10), 0).save(folder / "person.personnummer.png")
    store.mark_exported(["exported"], "records-test.jsonl")
    yield store, data
    store.close()


def test_retention_deletes_only_the_crops_of_finished_documents(finished_store):
    from pipeline.retention import apply_retention

    store, data = finished_store
    assert apply_retention(store, data, 90).deleted == []  # all of them are new
    later = datetime.now(timezone.utc) + timedelta(days=91)
    r = apply_retention(store, data, 90, now=later)
    assert r.deleted == ["completion", "exported"] and r.files == 4 and r.bytes > 0
    assert sorted(p.name for p in data.crops.iterdir()) == ["review", "validated"]
    assert store.record("exported") is not None  # the record stays
    audit = [(a["document_id"], a["action"]) for a in store.audit_log() if a["actor"] == "retention"]
    assert audit == [("completion", "crops_deleted"), ("exported", "crops_deleted")]
    assert apply_retention(store, data, 90, now=later).deleted == []  # nothing twice
    assert apply_retention(store, data, 200, now=later).deleted == []


def test_retention_setting_and_command(finished_store, monkeypatch):
    from click.testing import CliRunner

    from pipeline.cli import cli
    from pipeline.errors import SettingError
    from pipeline.retention import RETENTION_ENV, retention_days

    _, data = finished_store
    monkeypatch.delenv(RETENTION_ENV, raising=False)
    assert retention_days() == defs.RETENTION_DAYS and retention_days(7) == 7
    monkeypatch.setenv(RETENTION_ENV, "30")
    assert retention_days() == 30 and retention_days(0) == 0
    for bad in ("-1", "ninety", "1.5"):
        monkeypatch.setenv(RETENTION_ENV, bad)
        with pytest.raises(SettingError, match=RETENTION_ENV):
            retention_days()
    monkeypatch.delenv(RETENTION_ENV)
    r = CliRunner().invoke(cli, ["--data", str(data.root), "retention"], catch_exceptions=False)
    assert r.exit_code == 0 and r.output.startswith("0 finished document(s) older than 90 days"), r.output
    time.sleep(0.01)  # --days 0: everything finished before now
    r = CliRunner().invoke(cli, ["--data", str(data.root), "retention", "--days", "0"], catch_exceptions=False)
    assert r.exit_code == 0 and r.output.startswith("2 finished document(s) older than 0 days: 4 image(s)"), r.output
    assert sorted(p.name for p in data.crops.iterdir()) == ["review", "validated"]
