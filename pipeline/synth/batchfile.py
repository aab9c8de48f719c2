"""Write scanned pages into the files a production scanner delivers.

- TIFF: one multi-page file; bitonal frames 1-bit CCITT Group 4 (one strip, as scanners
  write them), greyscale frames LZW (lossless) or JPEG-in-TIFF.
- PDF: one image per page, page size = image size at the scan dpi; bitonal pages embedded as
  CCITT G4 (/CCITTFaxDecode), greyscale pages as JPEG (/DCTDecode). img2pdf copies both
  streams in without re-encoding, as a scanner's own PDF writer does.
- PNG / JPEG: one file per page, ``stem-001.png`` ...

A page is a :class:`~pipeline.synth.scan.ScanResult` or a bare uint8 greyscale array. A
ScanResult says itself whether it is bitonal and carries the JPEG its scanner wrote, which
is stored unchanged (no second lossy generation). A bare array counts as bitonal when it
holds only 0 and 255; greyscale arrays are JPEG-encoded at GREY_JPEG_QUALITY where a format
needs JPEG. Output files are byte-for-byte reproducible (no timestamps).
"""

from __future__ import annotations

import io
import struct
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import img2pdf
import numpy as np
from PIL import Image

from pipeline.synth.scan import ScanResult

# Quality for greyscale pages that have no JPEG of their own yet (a lossless scan written
# to PDF or JPEG files): 85 is the common "good" preset of scanner drivers.
GREY_JPEG_QUALITY = 85
BATCH_FORMATS = ("pdf", "tiff", "png", "jpeg")
IMAGE_SUFFIX = {"png": ".png", "jpeg": ".jpg"}
TIFF_GREY_COMPRESSIONS = {"lzw": "tiff_lzw", "jpeg": "jpeg"}

PageLike = ScanResult | np.ndarray


@dataclass(frozen=True)
class _Page:
    image: np.ndarray
    bitonal: bool
    jpeg: bytes | None  # the page's own JPEG stream, if it has one


def _pages(pages: Sequence[PageLike], dpi: int) -> list[_Page]:
    if len(pages) == 0:
        raise ValueError("a batch file needs at least one page")
    if dpi <= 0:
        raise ValueError(f"dpi must be positive, got {dpi}")
    out = []
    for i, p in enumerate(pages, start=1):
        if isinstance(p, ScanResult):
            if p.dpi != dpi:
                raise ValueError(f"page {i} was scanned at {p.dpi} dpi, the batch is written at {dpi} dpi")
            img, bitonal, jpeg = p.image, p.bitonal, p.jpeg_bytes
        else:
            img, jpeg = np.asarray(p), None
            if img.dtype == np.bool_:
                img = np.where(img, np.uint8(255), np.uint8(0))
            bitonal = bool(img.dtype == np.uint8 and np.isin(img, (0, 255)).all())
        if img.dtype != np.uint8 or img.ndim != 2:
            raise ValueError(f"page {i}: need a 2-D uint8 greyscale image, got {img.dtype} {img.shape}")
        out.append(_Page(img, bitonal, jpeg))
    return out


def _pil_1bit(img: np.ndarray) -> Image.Image:
    """Mode "1" image, white where img >= 128 (no dithering)."""
    return Image.fromarray(img >= 128)


def _g4_tiff_options(width: int, height: int) -> dict:
    # One strip for the whole page: PDF's CCITTFaxDecode holds a single G4 stream, and
    # scanners write G4 TIFF frames as one strip too.
    return {"compression": "group4", "strip_size": (width + 7) // 8 * height}


def _jfif_with_dpi(data: bytes, dpi: int) -> bytes:
    """The JPEG ``data`` with its JFIF density set to ``dpi`` (the stream is not re-encoded)."""
    # SOI, then APP0 'JFIF\0' version(2) units(1) Xdensity(2) Ydensity(2).
    if data[:4] == b"\xff\xd8\xff\xe0" and data[6:11] == b"JFIF\x00":
        return data[:13] + struct.pack(">BHH", 1, dpi, dpi) + data[18:]
    # No JFIF header (not what OpenCV or Pillow write): decode and re-encode with one.
    img = Image.open(io.BytesIO(data))
    buf = io.BytesIO()
    img.save(buf, format="JPEG", quality=GREY_JPEG_QUALITY, dpi=(dpi, dpi))
    return buf.getvalue()


def _grey_jpeg(page: _Page, dpi: int) -> bytes:
    data = page.jpeg
    if data is None:
        ok, buf = cv2.imencode(".jpg", page.image, [cv2.IMWRITE_JPEG_QUALITY, GREY_JPEG_QUALITY])
        if not ok:  # pragma: no cover - OpenCV without a JPEG codec
            raise RuntimeError("OpenCV could not encode JPEG")
        data = buf.tobytes()
    return _jfif_with_dpi(data, dpi)


def _g4_tiff_bytes(img: np.ndarray, dpi: int) -> bytes:
    im = _pil_1bit(img)
    buf = io.BytesIO()
    im.save(buf, format="TIFF", dpi=(dpi, dpi), **_g4_tiff_options(*im.size))
    return buf.getvalue()


def write_tiff(
    pages: Sequence[PageLike],
    path: str | Path,
    dpi: int,
    *,
    grey_compression: str = "lzw",
) -> Path:
    """Multi-page TIFF: bitonal frames 1-bit CCITT G4; grey frames LZW or JPEG ("lzw"/"jpeg")."""
    if grey_compression not in TIFF_GREY_COMPRESSIONS:
        raise ValueError(f"grey_compression must be one of {sorted(TIFF_GREY_COMPRESSIONS)}, got {grey_compression!r}")
    path = Path(path)
    frames: list[Image.Image] = []
    options: list[dict] = []
    for p in _pages(pages, dpi):
        if p.bitonal:
            im = _pil_1bit(p.image)
            opt = _g4_tiff_options(*im.size)
        else:
            im = Image.fromarray(p.image)
            opt = {"compression": TIFF_GREY_COMPRESSIONS[grey_compression]}
            if grey_compression == "jpeg":
                opt["quality"] = GREY_JPEG_QUALITY
        opt["dpi"] = (dpi, dpi)
        frames.append(im)
        options.append(opt)
    # Pillow merges each appended frame's own ``encoderinfo`` over the save() arguments, so
    # bitonal and greyscale frames can share one file with their own compressions.
    for im, opt in zip(frames[1:], options[1:]):
        im.encoderinfo = opt
    path.parent.mkdir(parents=True, exist_ok=True)
    frames[0].save(path, format="TIFF", save_all=True, append_images=frames[1:], **options[0])
    return path


def write_pdf(pages: Sequence[PageLike], path: str | Path, dpi: int) -> Path:
    """PDF with one full-page image per page: bitonal as CCITT G4, greyscale as JPEG."""
    path = Path(path)
    streams = [_g4_tiff_bytes(p.image, dpi) if p.bitonal else _grey_jpeg(p, dpi) for p in _pages(pages, dpi)]
    pdf = img2pdf.convert(
        streams,
        layout_fun=img2pdf.get_fixed_dpi_layout_fun((dpi, dpi)),
        nodate=True,  # reproducible files: no dates, and img2pdf's own writer (pikepdf's
        engine=img2pdf.Engine.internal,  # gives every file a random /ID)
        producer="blankett sample generator",
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(pdf)
    return path


def write_images(
    pages: Sequence[PageLike],
    folder: str | Path,
    stem: str,
    fmt: str,
    dpi: int,
) -> list[Path]:
    """One file per page, ``<stem>-001.png`` (or ``.jpg``) ...; bitonal PNGs are 1-bit."""
    if fmt not in IMAGE_SUFFIX:
        raise ValueError(f"image format must be one of {sorted(IMAGE_SUFFIX)}, got {fmt!r}")
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    out = []
    for i, p in enumerate(_pages(pages, dpi), start=1):
        target = folder / f"{stem}-{i:03d}{IMAGE_SUFFIX[fmt]}"
        if fmt == "png":
            im = _pil_1bit(p.image) if p.bitonal else Image.fromarray(p.image)
            im.save(target, format="PNG", dpi=(dpi, dpi))
        elif p.bitonal:
            # No scanner writes 1-bit JPEG; a bitonal page becomes a greyscale JPEG of 0/255.
            Image.fromarray(p.image).save(target, format="JPEG", quality=GREY_JPEG_QUALITY, dpi=(dpi, dpi))
        else:
            target.write_bytes(_grey_jpeg(p, dpi))
        out.append(target)
    return out


def write_batch(pages: Sequence[PageLike], path: str | Path, fmt: str, dpi: int) -> list[Path]:
    """Write a batch as ``fmt`` ("pdf", "tiff", "png" or "jpeg") and return the files written.

    For "pdf" and "tiff", ``path`` is the file. For "png" and "jpeg" there is one file per
    page, in ``path``'s folder, named after its stem: ``out/b7.png`` -> ``out/b7-001.png`` ...
    """
    path = Path(path)
    if fmt == "pdf":
        return [write_pdf(pages, path, dpi)]
    if fmt == "tiff":
        return [write_tiff(pages, path, dpi)]
    if fmt in IMAGE_SUFFIX:
        return write_images(pages, path.parent, path.stem, fmt, dpi)
    raise ValueError(f"batch format must be one of {BATCH_FORMATS}, got {fmt!r}")


__all__ = ["BATCH_FORMATS", "GREY_JPEG_QUALITY", "write_batch", "write_images", "write_pdf", "write_tiff"]
