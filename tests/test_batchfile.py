"""Round trips of the batch-file writers: what a scanner delivers must read back as written."""

from __future__ import annotations

import io
from pathlib import Path

import cv2
import numpy as np
import pypdf
import pytest
from pdf2image import convert_from_path
from PIL import Image

from pipeline.synth.batchfile import write_batch, write_images, write_pdf, write_tiff
from pipeline.synth.scan import ScanProfile, ScanResult, simulate_scan

MM_PER_INCH = 25.4
# Two JPEG decoders (Pillow's / poppler's libjpeg and OpenCV's) may round the inverse DCT
# differently; the same stream must still decode to within this many grey levels.
JPEG_DECODER_TOLERANCE = 2


def test_page(dpi: int, seed: int) -> np.ndarray:
    """A small form-like A4 page (boxes and text), different for each seed."""
    s = dpi / MM_PER_INCH
    page = np.full((int(round(297 * s)), int(round(210 * s))), 255, np.uint8)
    rng = np.random.default_rng(seed)
    for i in range(8):
        y = int((30 + 25 * i + rng.uniform(0, 5)) * s)
        cv2.rectangle(page, (int(15 * s), y), (int(195 * s), y + int(15 * s)), 0, 2)
        cv2.putText(page, f"Falt {seed}-{i}", (int(20 * s), y + int(10 * s)), cv2.FONT_HERSHEY_SIMPLEX, s / 10, 30, 2)
    return page


test_page.__test__ = False  # a helper, not a test


def scan(dpi: int, bitonal: bool, seed: int, jpeg_quality: int | None = 70) -> ScanResult:
    profile = ScanProfile(
        dpi=dpi,
        bitonal=bitonal,
        rotation_deg=0.8,
        blur_sigma_px=0.6,
        speckle_per_dm2=10.0,
        jpeg_quality=None if bitonal else jpeg_quality,
        paper_grey=242,
        ink_grey=25,
        noise_sigma=2.5,
    )
    return simulate_scan(test_page(dpi, seed), dpi, profile, np.random.default_rng(seed))


@pytest.fixture(scope="module")
def bitonal_pages() -> list[ScanResult]:
    return [scan(200, True, seed) for seed in (1, 2, 3)]


@pytest.fixture(scope="module")
def grey_pages() -> list[ScanResult]:
    return [scan(200, False, 4), scan(200, False, 5, jpeg_quality=None)]


def poppler_pages(pdf: Path, dpi: int, *, cairo: bool = True, last_page: int | None = None) -> list[np.ndarray]:
    """The PDF's pages rasterised by poppler at ``dpi``.

    pdftocairo draws a full-page image at 1:1 pixel for pixel. pdftoppm (Splash) does not:
    it resamples images bilinearly even at 1:1 (measured: ~2 % of a bitonal page's pixels
    come out grey, 0.1 % flip after thresholding), so exact checks use cairo.
    """
    images = convert_from_path(str(pdf), dpi=dpi, grayscale=True, use_pdftocairo=cairo, last_page=last_page)
    return [np.asarray(im.convert("L")) for im in images]


def check_pdftoppm(pdf: Path, dpi: int, pages: list[ScanResult]) -> None:
    """pdftoppm gives the same page count and sizes, and nearly the same pixels."""
    got = poppler_pages(pdf, dpi, cairo=False)
    assert [g.shape for g in got] == [p.image.shape for p in pages]
    for g, p in zip(got, pages):
        assert np.abs(g.astype(int) - p.image).mean() < 3.0


# --- TIFF ---------------------------------------------------------------------------------


def test_tiff_bitonal_is_group4_and_exact(tmp_path, bitonal_pages):
    path = write_tiff(bitonal_pages, tmp_path / "b.tif", 200)
    with Image.open(path) as im:
        assert im.n_frames == 3
        for i, page in enumerate(bitonal_pages):
            im.seek(i)
            assert im.mode == "1"
            assert im.info["compression"] == "group4"
            assert im.info["dpi"] == pytest.approx((200, 200))
            assert len(im.tag_v2[273]) == 1  # one strip, as scanners write G4
            assert np.array_equal(np.asarray(im.convert("L")), page.image)


@pytest.mark.parametrize("compression,pil_name", [("lzw", "tiff_lzw"), ("jpeg", "jpeg")])
def test_tiff_grey(tmp_path, grey_pages, compression, pil_name):
    path = write_tiff(grey_pages, tmp_path / "g.tif", 200, grey_compression=compression)
    with Image.open(path) as im:
        assert im.n_frames == 2
        for i, page in enumerate(grey_pages):
            im.seek(i)
            assert im.mode == "L" and im.info["compression"] == pil_name
            assert im.info["dpi"] == pytest.approx((200, 200))
            got = np.asarray(im).astype(int)
            if compression == "lzw":
                assert np.array_equal(got, page.image)
            else:  # a second JPEG generation: close, not equal
                assert np.abs(got - page.image).mean() < 2.0


def test_tiff_mixed_batch_keeps_each_frames_compression(tmp_path, bitonal_pages, grey_pages):
    pages = [bitonal_pages[0], grey_pages[0], bitonal_pages[1]]
    path = write_tiff(pages, tmp_path / "m.tif", 200)
    with Image.open(path) as im:
        got = []
        for i in range(im.n_frames):
            im.seek(i)
            got.append((im.mode, im.info["compression"]))
            assert np.array_equal(np.asarray(im.convert("L")), pages[i].image)
    assert got == [("1", "group4"), ("L", "tiff_lzw"), ("1", "group4")]


# --- PDF ----------------------------------------------------------------------------------


def _xobjects(reader: pypdf.PdfReader):
    for page in reader.pages:
        xobj = page["/Resources"]["/XObject"]
        (name,) = list(xobj.keys())
        yield page, xobj[name].get_object()


def test_pdf_bitonal_pages_are_ccitt_g4_and_exact(tmp_path, bitonal_pages):
    path = write_pdf(bitonal_pages, tmp_path / "b.pdf", 200)
    reader = pypdf.PdfReader(path)
    assert len(reader.pages) == 3
    for (page, xo), scanned in zip(_xobjects(reader), bitonal_pages):
        h, w = scanned.image.shape
        assert xo["/Filter"] in ("/CCITTFaxDecode", ["/CCITTFaxDecode"])
        assert xo["/BitsPerComponent"] == 1 and (xo["/Width"], xo["/Height"]) == (w, h)
        # Page size = image size at the scan dpi (points).
        assert float(page.mediabox.width) == pytest.approx(w / 200 * 72, abs=0.01)
        assert float(page.mediabox.height) == pytest.approx(h / 200 * 72, abs=0.01)
        (stored,) = page.images
        assert np.array_equal(np.asarray(stored.image.convert("L")), scanned.image)
    got = poppler_pages(path, 200)
    assert len(got) == 3
    for g, scanned in zip(got, bitonal_pages):
        assert g.shape == scanned.image.shape
        assert np.array_equal(g, scanned.image)
    check_pdftoppm(path, 200, bitonal_pages)


def test_pdf_grey_pages_are_the_scanners_jpeg(tmp_path, grey_pages):
    path = write_pdf(grey_pages, tmp_path / "g.pdf", 200)
    reader = pypdf.PdfReader(path)
    assert len(reader.pages) == 2
    for (page, xo), scanned in zip(_xobjects(reader), grey_pages):
        assert xo["/Filter"] in ("/DCTDecode", ["/DCTDecode"])
        assert xo["/ColorSpace"] == "/DeviceGray"
        h, w = scanned.image.shape
        assert float(page.mediabox.width) == pytest.approx(w / 200 * 72, abs=0.01)
        stream = xo.get_data()  # DCT data is passed through undecoded
        decoded = np.asarray(Image.open(io.BytesIO(stream))).astype(int)
        assert decoded.shape == scanned.image.shape
        if scanned.jpeg_bytes is not None:
            # The scanner's own JPEG, stored without a second lossy generation; only the
            # JFIF density bytes (offsets 13..17) differ.
            assert len(stream) == len(scanned.jpeg_bytes)
            assert stream[18:] == scanned.jpeg_bytes[18:]
            assert np.abs(decoded - scanned.image).max() <= JPEG_DECODER_TOLERANCE
        else:  # a lossless scan compressed once to JPEG for the PDF
            assert np.abs(decoded - scanned.image).mean() < 3.0  # mostly the sensor noise it smooths
        # pypdf's page.images re-saves a JPEG (quality "keep") before opening it: close only.
        (stored,) = page.images
        got = np.asarray(stored.image.convert("L")).astype(int)
        assert got.shape == scanned.image.shape
        assert np.abs(got - decoded).mean() < 1.0
    # Poppler: same page count and sizes, nearly the same pixels (pdftocairo would be exact
    # but takes ~7 s for a noisy 200 dpi grey page; the stream is already proven identical).
    check_pdftoppm(path, 200, grey_pages)


def test_pdf_mixed_batch_and_300_dpi(tmp_path):
    pages = [scan(300, True, 7), scan(300, False, 8)]
    path = write_pdf(pages, tmp_path / "m.pdf", 300)
    xobjects = list(_xobjects(pypdf.PdfReader(path)))
    filters = [str(xo["/Filter"]) for _, xo in xobjects]
    assert "CCITTFaxDecode" in filters[0] and "DCTDecode" in filters[1]
    for page, xo in xobjects:  # A4 at 300 dpi, page size 595.2 x 841.92 pt
        assert (xo["/Width"], xo["/Height"]) == (2480, 3508)
        assert float(page.mediabox.width) == pytest.approx(595.2, abs=0.01)
        assert float(page.mediabox.height) == pytest.approx(841.92, abs=0.01)
    (got,) = poppler_pages(path, 300, last_page=1)  # rasterising both 300 dpi pages is slow
    assert np.array_equal(got, pages[0].image)


def test_pdf_is_reproducible(tmp_path, bitonal_pages):
    a = write_pdf(bitonal_pages[:1], tmp_path / "a.pdf", 200).read_bytes()
    b = write_pdf(bitonal_pages[:1], tmp_path / "b.pdf", 200).read_bytes()
    assert a == b


# --- image files ----------------------------------------------------------------------------


def test_png_files_are_exact_with_dpi(tmp_path, bitonal_pages, grey_pages):
    pages = [bitonal_pages[0], grey_pages[0]]
    files = write_images(pages, tmp_path / "out", "batch-0007", "png", 200)
    assert [f.name for f in files] == ["batch-0007-001.png", "batch-0007-002.png"]
    for f, page in zip(files, pages):
        with Image.open(f) as im:
            assert im.mode == ("1" if page.bitonal else "L")
            assert im.info["dpi"] == pytest.approx((200, 200), abs=0.01)  # PNG stores px per metre
            assert np.array_equal(np.asarray(im.convert("L")), page.image)


def test_jpeg_files_keep_the_scanners_stream(tmp_path, grey_pages, bitonal_pages):
    files = write_images([grey_pages[0], bitonal_pages[0]], tmp_path, "s", "jpeg", 200)
    assert [f.name for f in files] == ["s-001.jpg", "s-002.jpg"]
    with Image.open(files[0]) as im:
        assert im.format == "JPEG" and im.mode == "L"
        assert im.info["dpi"] == (200, 200)
        assert np.abs(np.asarray(im).astype(int) - grey_pages[0].image).max() <= JPEG_DECODER_TOLERANCE
    assert files[0].read_bytes()[18:] == grey_pages[0].jpeg_bytes[18:]
    with Image.open(files[1]) as im:
        assert im.info["dpi"] == (200, 200)
        assert np.abs(np.asarray(im).astype(int) - bitonal_pages[0].image).mean() < 3.0


# --- dispatch and input checks ---------------------------------------------------------------


@pytest.mark.parametrize("fmt,suffixes", [("pdf", [".pdf"]), ("tiff", [".tif"]), ("png", [".png"] * 3), ("jpeg", [".jpg"] * 3)])
def test_write_batch_dispatches(tmp_path, bitonal_pages, fmt, suffixes):
    target = tmp_path / "batches" / ("b1.pdf" if fmt == "pdf" else "b1.tif" if fmt == "tiff" else "b1")
    files = write_batch(bitonal_pages, target, fmt, 200)
    assert [f.suffix for f in files] == suffixes
    assert all(f.is_file() and f.parent == tmp_path / "batches" for f in files)
    if fmt in ("png", "jpeg"):
        assert [f.stem for f in files] == ["b1-001", "b1-002", "b1-003"]


def test_bare_arrays_are_accepted(tmp_path):
    black_white = np.zeros((300, 200), np.uint8)
    black_white[:, 100:] = 255
    grey = np.full((300, 200), 200, np.uint8)
    path = write_pdf([black_white, grey], tmp_path / "a.pdf", 200)
    filters = [str(xo["/Filter"]) for _, xo in _xobjects(pypdf.PdfReader(path))]
    assert "CCITTFaxDecode" in filters[0] and "DCTDecode" in filters[1]
    assert np.array_equal(poppler_pages(path, 200)[0], black_white)


def test_bad_input_is_refused(tmp_path, bitonal_pages):
    with pytest.raises(ValueError, match="at least one page"):
        write_tiff([], tmp_path / "x.tif", 200)
    with pytest.raises(ValueError, match="scanned at 200 dpi"):
        write_pdf(bitonal_pages, tmp_path / "x.pdf", 300)
    with pytest.raises(ValueError, match="batch format"):
        write_batch(bitonal_pages, tmp_path / "x.gif", "gif", 200)
    with pytest.raises(ValueError, match="2-D uint8"):
        write_pdf([np.zeros((10, 10, 3), np.uint8)], tmp_path / "x.pdf", 200)
