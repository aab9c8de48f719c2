"""Ingest: every supported format streams its pages; every bad file fails with a clear reason."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from pipeline import ingest
from pipeline.errors import InputFileError


def _page(seed: int, w: int = 400, h: int = 566) -> np.ndarray:
    """A small synthetic 'scan': white paper with a few black bars at seeded places."""
    rng = np.random.default_rng(seed)
    img = np.full((h, w), 255, np.uint8)
    for _ in range(6):
        x, y = int(rng.integers(0, w - 60)), int(rng.integers(0, h - 10))
        img[y:y + 4, x:x + 60] = 0
    return img


@pytest.fixture
def pages3():
    return [_page(i) for i in range(3)]


def test_multipage_g4_tiff(tmp_path, pages3):
    p = tmp_path / "batch.tif"
    ims = [Image.fromarray(a).convert("1") for a in pages3]
    ims[0].save(p, save_all=True, append_images=ims[1:], compression="group4", dpi=(200, 200))
    got = list(ingest.pages(p))
    assert [g.index for g in got] == [0, 1, 2]
    for g, a in zip(got, pages3):
        assert g.error is None and g.bitonal and g.dpi == 200
        assert np.array_equal(g.image, a)


def test_png_and_jpeg(tmp_path, pages3):
    Image.fromarray(pages3[0]).save(tmp_path / "a.png", dpi=(300, 300))
    Image.fromarray(pages3[1]).save(tmp_path / "b.jpg", quality=95, dpi=(300, 300))
    (png,) = ingest.pages(tmp_path / "a.png")
    (jpg,) = ingest.pages(tmp_path / "b.jpg")
    assert np.array_equal(png.image, pages3[0]) and png.origin == "png"
    assert jpg.origin == "jpeg" and np.abs(jpg.image.astype(int) - pages3[1]).mean() < 3


def test_scanned_pdf_takes_the_stored_image(tmp_path, pages3):
    img2pdf = pytest.importorskip("img2pdf")
    tifs = []
    for a in pages3:
        b = io.BytesIO()
        Image.fromarray(a).convert("1").save(b, format="TIFF", compression="group4", dpi=(200, 200))
        tifs.append(b.getvalue())
    p = tmp_path / "scan.pdf"
    p.write_bytes(img2pdf.convert(tifs))
    got = list(ingest.pages(p))
    assert len(got) == 3
    for g, a in zip(got, pages3):
        assert g.origin == "embedded" and g.bitonal and g.dpi == 200
        assert np.array_equal(g.image, a)  # G4 is lossless: the exact scanned pixels


def test_vector_pdf_is_rendered(tmp_path):
    from reportlab.pdfgen import canvas

    p = tmp_path / "vector.pdf"
    c = canvas.Canvas(str(p), pagesize=(595, 842))
    c.rect(100, 100, 300, 200)
    c.drawString(100, 500, "Tidsredovisning")
    c.showPage()
    c.save()
    (g,) = ingest.pages(p)
    assert g.origin == "rendered" and g.dpi == 300
    assert abs(g.image.shape[1] - 595 / 72 * 300) <= 2 and g.image.min() < 100


def test_pdf_rotate_is_applied(tmp_path):
    img2pdf = pytest.importorskip("img2pdf")
    a = _page(7)
    b = io.BytesIO()
    Image.fromarray(a).save(b, format="PNG", dpi=(200, 200))
    p = tmp_path / "rot.pdf"
    p.write_bytes(img2pdf.convert(b.getvalue(), rotation=img2pdf.Rotation.ifvalid))
    from pypdf import PdfReader, PdfWriter

    r = PdfReader(str(p))
    w = PdfWriter()
    w.add_page(r.pages[0])
    w.pages[0].rotate(180)
    w.write(str(p))
    (g,) = ingest.pages(p)
    assert np.array_equal(g.image, a[::-1, ::-1])


@pytest.mark.parametrize("content, reason", [
    (b"", "empty"),
    (b"Hello, this is a letter, not a scan.\n" * 20, "not a PDF, TIFF, PNG or JPEG"),
    (b"%PDF-1.7\n1 0 obj\n<< /Type /Catalog", "damaged or truncated PDF"),
])
def test_bad_files_are_refused_with_a_reason(tmp_path, content, reason):
    p = tmp_path / "bad.pdf"
    p.write_bytes(content)
    with pytest.raises(InputFileError, match=reason):
        list(ingest.pages(p))


def test_truncated_scanned_pdf(tmp_path, pages3):
    img2pdf = pytest.importorskip("img2pdf")
    bufs = []
    for a in pages3:
        b = io.BytesIO()
        Image.fromarray(a).save(b, format="PNG")
        bufs.append(b.getvalue())
    data = img2pdf.convert(bufs)
    p = tmp_path / "cut.pdf"
    p.write_bytes(data[: len(data) // 2])
    try:
        got = list(ingest.pages(p))
    except InputFileError as e:
        assert "PDF" in str(e)
    else:  # pypdf may recover the first pages: then the lost ones must say so, never vanish
        assert len(got) >= 1 and (len(got) < 3 or any(g.error for g in got))


def test_encrypted_pdf(tmp_path):
    from pypdf import PdfWriter

    w = PdfWriter()
    w.add_blank_page(595, 842)
    w.encrypt(user_password="hemligt", owner_password="hemligt")
    p = tmp_path / "enc.pdf"
    with p.open("wb") as f:
        w.write(f)
    with pytest.raises(InputFileError, match="password"):
        list(ingest.pages(p))


def test_decompression_bomb_tiff(tmp_path):
    p = tmp_path / "bomb.tif"
    Image.new("1", (12_000, 12_000), 1).save(p, compression="group4")  # 144 Mpx, a few kB
    assert p.stat().st_size < 100_000
    with pytest.raises(InputFileError, match="too large"):
        list(ingest.pages(p))


def test_wrong_extension_is_read_by_content(tmp_path, pages3):
    p = tmp_path / "actually-a-png.pdf"
    Image.fromarray(pages3[0]).save(p, format="PNG")
    (g,) = ingest.pages(p)
    assert g.origin == "png" and np.array_equal(g.image, pages3[0])


def test_streaming_does_not_decode_ahead(tmp_path, pages3):
    p = tmp_path / "batch.tif"
    ims = [Image.fromarray(a) for a in pages3]
    ims[0].save(p, save_all=True, append_images=ims[1:], compression="tiff_lzw")
    it = ingest.pages(p)
    first = next(it)
    assert first.index == 0  # a generator: the later pages are decoded only when asked for
    assert ingest.count_pages(p) == 3


def test_batch_goes_on_past_bad_files_which_are_quarantined(tmp_path, registry):
    """A batch folder with a good scan, an empty file and an encrypted PDF: the scan is
    processed, both bad files are moved to quarantine/ with a reason file, nothing is lost."""
    import json

    from pypdf import PdfWriter

    from pipeline.config import DataDir
    from pipeline.intake import process_batch
    from pipeline.synth import render, scan

    batch = tmp_path / "batch"
    batch.mkdir()
    t = registry.get("3066", "004F005")
    rng = np.random.default_rng(3)
    pages = [scan.simulate_scan(render.render_blank_image(t, n, 200), 200, scan.ScanProfile.random(rng, 200, True), rng)
             for n in (1, 2)]
    from pipeline.synth.batchfile import write_batch

    write_batch(pages, batch / "b-good.pdf", "pdf", 200)
    (batch / "a-empty.pdf").write_bytes(b"")
    w = PdfWriter()
    w.add_blank_page(595, 842)
    w.encrypt(user_password="x", owner_password="x")
    with (batch / "c-locked.pdf").open("wb") as f:
        w.write(f)
    data = DataDir(tmp_path / "data")
    outcomes = {o.path.name: o for o in process_batch(batch, registry, data)}
    assert set(outcomes) == {"a-empty.pdf", "b-good.pdf", "c-locked.pdf"}
    good = outcomes["b-good.pdf"]
    assert good.quarantined is None and [d.key for d in good.documents] == ["3066/004F005"]
    for name, why in (("a-empty.pdf", "empty"), ("c-locked.pdf", "password")):
        q = outcomes[name].quarantined
        assert q is not None and why in q.reason and q.file.exists() and not (batch / name).exists()
        info = json.loads(q.file.with_name(q.file.name + ".reason.json").read_text())
        assert info["file"] == name and why in info["reason"]
    assert sorted(p.name for p in batch.iterdir()) == ["b-good.pdf"]
