"""Stage 1, ingest: a batch file → its pages as greyscale images, one at a time.

PDF (scanned: the stored page image is taken as it is, no re-rendering; vector or mixed
pages are rendered by poppler), multi-page TIFF (1-bit CCITT G4 included), PNG, JPEG.
The format is decided by the file's first bytes, never by its name. Pages are streamed: a
500-page batch is never held in memory at once.

A file that cannot be opened at all raises :class:`InputFileError` (the caller quarantines
it with the reason). A single page that cannot be decoded comes out as a page with
``error`` set, so the rest of the batch goes on.
"""

from __future__ import annotations

import hashlib
import io
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import numpy as np
from PIL import Image

from pipeline import defs
from pipeline.errors import InputFileError

# PIL refuses images above twice this many pixels outright; we refuse above it.
Image.MAX_IMAGE_PIXELS = defs.MAX_PAGE_PIXELS


@dataclass(frozen=True)
class PageImage:
    """One page of a batch file: the image as scanned (uint8 greyscale, 1-bit pages as 0/255)."""

    source: Path
    index: int  # 0-based page index within the file
    image: np.ndarray | None
    dpi: float
    bitonal: bool
    origin: str  # "embedded" (image taken from the PDF as stored), "rendered", "tiff", "png", "jpeg"
    error: str | None = None  # why the page could not be decoded (image is None then)


@dataclass(frozen=True)
class BatchFile:
    path: Path
    format: str  # pdf | tiff | png | jpeg
    size: int


_MAGIC = (
    (b"%PDF-", "pdf"),
    (b"II*\x00", "tiff"),
    (b"MM\x00*", "tiff"),
    (b"\x89PNG\r\n\x1a\n", "png"),
    (b"\xff\xd8\xff", "jpeg"),
)


def sniff(path: Path) -> BatchFile:
    """Identify a batch file by content; raise InputFileError for anything unusable."""
    try:
        size = path.stat().st_size
    except OSError as e:
        raise InputFileError(f"{path.name}: cannot read the file ({e.strerror})") from e
    if size == 0:
        raise InputFileError(f"{path.name}: the file is empty (0 bytes) — the scan did not complete")
    if size > defs.MAX_BATCH_FILE_BYTES:
        raise InputFileError(f"{path.name}: {size / 1e6:.0f} MB is over the limit of "
                             f"{defs.MAX_BATCH_FILE_BYTES / 1e6:.0f} MB for one batch file — split the batch")
    with path.open("rb") as f:
        head = f.read(1024)
    fmt = next((name for magic, name in _MAGIC if head.startswith(magic)), None)
    if fmt is None and b"%PDF-" in head:  # some producers put junk before the header
        fmt = "pdf"
    if fmt is None:
        raise InputFileError(f"{path.name}: not a PDF, TIFF, PNG or JPEG file (content starts {head[:8]!r})")
    return BatchFile(path=path, format=fmt, size=size)


def file_sha256(path: Path) -> str:
    """The content hash that identifies a delivered file (duplicates, records, quarantine)."""
    h = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def pages(path: str | Path) -> Iterator[PageImage]:
    """Stream the pages of a batch file."""
    bf = sniff(Path(path))
    if bf.format == "pdf":
        yield from _pdf_pages(bf.path)
    else:
        yield from _image_pages(bf.path, bf.format)


def count_pages(path: str | Path) -> int:
    bf = sniff(Path(path))
    if bf.format == "pdf":
        return len(_open_pdf(bf.path).pages)
    with _open_image(bf.path) as im:
        n = _frame_count(im)
    if n is None:
        raise InputFileError(f"{bf.path.name}: damaged image file (its pages cannot be counted)")
    return n


# --- images ---------------------------------------------------------------------------------

def _open_image(path: Path) -> Image.Image:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            im = Image.open(path)
            _check_pixels(path.name, im.size)
            return im
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as e:
        raise InputFileError(f"{path.name}: image too large to be a scanned page ({e})") from e
    except InputFileError:
        raise
    except Exception as e:  # PIL raises many kinds for damaged files
        raise InputFileError(f"{path.name}: damaged or unsupported image ({e})") from e


def _check_pixels(name: str, size: tuple[int, int]) -> None:
    w, h = size
    if w * h > defs.MAX_PAGE_PIXELS:
        raise InputFileError(f"{name}: {w}×{h} pixels is too large for a scanned page "
                             f"(limit {defs.MAX_PAGE_PIXELS / 1e6:.0f} megapixels)")


def _to_grey(im: Image.Image) -> tuple[np.ndarray, bool]:
    if im.mode == "1":
        return np.where(np.asarray(im), 255, 0).astype(np.uint8), True
    if im.mode in ("RGBA", "LA", "P", "PA"):
        im = im.convert("RGBA")
        bg = Image.new("RGBA", im.size, (255, 255, 255, 255))
        im = Image.alpha_composite(bg, im)
    if im.mode == "I;16" or im.mode == "I":
        arr = np.asarray(im, dtype=np.float64)
        return (arr / max(arr.max(), 1) * 255).astype(np.uint8), False
    return np.asarray(im.convert("L")), False


def _dpi_of(im: Image.Image) -> float:
    dpi = im.info.get("dpi")
    if dpi and dpi[0] and float(dpi[0]) > 30:
        return float(dpi[0])
    # No resolution stored: assume an A4 page (the width decides)
    return round(im.size[0] / (210 / defs.MM_PER_INCH))


def _frame_count(im: Image.Image) -> int | None:
    """Frames of a (multi-page) image; None when a damaged frame chain cannot be counted."""
    try:
        return getattr(im, "n_frames", 1)
    except Exception:  # noqa: BLE001 - PIL walks every IFD to count them, and can fail on any
        return None


def _image_pages(path: Path, fmt: str) -> Iterator[PageImage]:
    im = _open_image(path)
    with im:
        n = _frame_count(im)
        if n is not None and n > defs.MAX_PAGES_PER_FILE:
            raise InputFileError(f"{path.name}: {n} pages is over the limit of {defs.MAX_PAGES_PER_FILE} per file")
        i = 0
        while i < (n if n is not None else defs.MAX_PAGES_PER_FILE):
            try:
                im.seek(i)
            except EOFError:
                if n is None:
                    return  # the damaged chain ended here: every page before it was read
                yield PageImage(path, i, None, 0.0, False, fmt, error=f"page {i + 1} is missing from the file")
                i += 1
                continue
            except Exception as e:
                if n is None:  # uncounted: nothing after a broken link can be found
                    yield PageImage(path, i, None, 0.0, False, fmt,
                                    error=f"page {i + 1} and any after it cannot be decoded: {e}")
                    return
                yield PageImage(path, i, None, 0.0, False, fmt, error=f"page {i + 1} cannot be decoded: {e}")
                i += 1
                continue
            try:
                _check_pixels(f"{path.name} page {i + 1}", im.size)
                arr, bitonal = _to_grey(im)
                yield PageImage(path, i, arr, _dpi_of(im), bitonal, fmt)
            except InputFileError as e:
                yield PageImage(path, i, None, 0.0, False, fmt, error=str(e))
            except Exception as e:
                yield PageImage(path, i, None, 0.0, False, fmt, error=f"page {i + 1} cannot be decoded: {e}")
            i += 1


# --- PDF ------------------------------------------------------------------------------------

def _open_pdf(path: Path):
    from pypdf import PdfReader

    try:
        reader = PdfReader(str(path), strict=False)
        if reader.is_encrypted:
            # Scanners never encrypt; an empty user password still lets us read some files.
            try:
                ok = reader.decrypt("")
            except Exception:
                ok = 0
            if not ok:
                raise InputFileError(f"{path.name}: the PDF is password-protected — ask the sender for an unprotected scan")
        n = len(reader.pages)
        if n == 0:
            raise InputFileError(f"{path.name}: the PDF has no pages")
        if n > defs.MAX_PAGES_PER_FILE:
            raise InputFileError(f"{path.name}: {n} pages is over the limit of {defs.MAX_PAGES_PER_FILE} per file")
        beyond_scan = _beyond_a_scan(reader)
    except InputFileError:
        raise
    except Exception as e:  # noqa: BLE001 - pypdf's many kinds (PdfReadError, LimitReachedError, ValueError,
        # KeyError, RecursionError, ...) all say the same: the file's structure is broken
        raise InputFileError(f"{path.name}: damaged or truncated PDF ({type(e).__name__}: {e})") from e
    if beyond_scan:
        raise InputFileError(f"{path.name}: the PDF contains {beyond_scan}, which no scanner writes — not "
                             "processed; ask the sender for a plain scan")
    return reader


def _beyond_a_scan(reader) -> str | None:
    """What makes a PDF more than pages of images — active content (JavaScript, launch or
    submit actions, embedded files, multimedia) or far more objects than any scan has — found
    by walking its object graph from the catalog (never decoding page contents); None for a
    plain scan."""
    from pypdf.generic import ArrayObject, DictionaryObject, IndirectObject

    stack: list = [reader.trailer.get("/Root")]
    seen: set[tuple[int, int]] = set()
    checked = 0
    while stack:
        obj = stack.pop()
        if isinstance(obj, IndirectObject):
            ref = (obj.idnum, obj.generation)
            if ref in seen:
                continue
            seen.add(ref)
            obj = obj.get_object()
        checked += 1
        if checked > defs.PDF_MAX_OBJECTS_CHECKED:
            return f"more than {defs.PDF_MAX_OBJECTS_CHECKED:,} objects (a 2,000-page scan has about 6,000)"
        if isinstance(obj, DictionaryObject):
            for key, value in obj.items():
                if key in defs.PDF_ACTIVE_KEYS:
                    return f"active content ({key} entry)"
                if key == "/S" and value in defs.PDF_ACTIVE_ACTIONS:
                    return f"active content ({value} action)"
                if key == "/Subtype" and value in defs.PDF_ACTIVE_ANNOTATIONS:
                    return f"active content ({value} annotation)"
                if key not in ("/Parent", "/Contents", "/Resources"):  # up, page content, images/fonts
                    stack.append(value)
        elif isinstance(obj, ArrayObject):
            stack.extend(obj)
    return None


def _pdf_pages(path: Path) -> Iterator[PageImage]:
    reader = _open_pdf(path)
    for i in range(len(reader.pages)):
        try:
            yield _pdf_page(path, i, reader.pages[i])
        except InputFileError as e:  # refused by a limit: the page says why, the batch goes on
            why = str(e) if f"page {i + 1}" in str(e) else f"page {i + 1}: {e}"
            yield PageImage(path, i, None, 0.0, False, "pdf", error=why)
        except Exception as e:  # one bad page never stops the batch
            yield PageImage(path, i, None, 0.0, False, "pdf", error=f"page {i + 1} cannot be decoded: {e}")


def _pdf_page(path: Path, i: int, page) -> PageImage:
    """The page's single stored image when it is a scan, else a poppler rendering."""
    width_in = float(page.mediabox.width) / 72
    rotate = int(page.get("/Rotate", 0) or 0) % 360
    embedded = _single_scan_image(page)
    if embedded is not None:
        _check_pixels(f"{path.name} page {i + 1}", embedded.size)
        arr, bitonal = _to_grey(embedded)
        px_w = arr.shape[1] if rotate in (0, 180) else arr.shape[0]
        dpi = round(px_w / width_in) if width_in > 0 else _dpi_of(embedded)
        if rotate:
            arr = np.ascontiguousarray(np.rot90(arr, k=-rotate // 90))
        return PageImage(path, i, arr, float(dpi), bitonal, "embedded")
    return _render_pdf_page(path, i, page)


def _single_scan_image(page) -> Image.Image | None:
    """A page holding exactly one image and no text is a scan: return that image."""
    try:
        resources = page.get("/Resources") or {}
        xobjects = resources.get("/XObject") or {}
        images = [x for x in xobjects.values() if x.get_object().get("/Subtype") == "/Image"]
        if len(images) != 1 or len(xobjects) != 1 or "/Font" in resources:
            return None
        w, h = int(images[0].get_object()["/Width"]), int(images[0].get_object()["/Height"])
        if w * h > defs.MAX_PAGE_PIXELS:
            raise InputFileError(f"embedded image {w}×{h} pixels is too large for a scanned page "
                                 f"(limit {defs.MAX_PAGE_PIXELS / 1e6:.0f} megapixels)")
        imgs = page.images
        return imgs[0].image if len(imgs) == 1 else None
    except InputFileError:
        raise
    except Exception:
        return None


def _render_pdf_page(path: Path, i: int, page) -> PageImage:
    from pdf2image import convert_from_path
    from pdf2image.exceptions import PDFPopplerTimeoutError

    # The size poppler would render, checked before it allocates it (a vector bomb: a page of
    # 200 × 200 inches, or a small one with a huge /UserUnit)
    unit = abs(float(page.get("/UserUnit", 1) or 1))
    w = abs(float(page.mediabox.width)) * unit / 72 * defs.RENDER_DPI
    h = abs(float(page.mediabox.height)) * unit / 72 * defs.RENDER_DPI
    if not (w * h <= defs.MAX_PAGE_PIXELS):  # also NaN
        raise InputFileError(f"page {i + 1}: {w / defs.RENDER_DPI:.0f} × {h / defs.RENDER_DPI:.0f} inches is too "
                             f"large for a scanned page (limit {defs.MAX_PAGE_PIXELS / 1e6:.0f} megapixels "
                             f"at {defs.RENDER_DPI} dpi)")
    try:
        imgs = convert_from_path(str(path), dpi=defs.RENDER_DPI, first_page=i + 1, last_page=i + 1, grayscale=True,
                                 timeout=defs.RENDER_TIMEOUT_S)
    except PDFPopplerTimeoutError as e:
        raise InputFileError(f"page {i + 1}: not rendered within {defs.RENDER_TIMEOUT_S} s") from e
    if not imgs:
        raise InputFileError(f"page {i + 1}: poppler rendered nothing")
    return PageImage(path, i, np.asarray(imgs[0].convert("L")), float(defs.RENDER_DPI), False, "rendered")


def decode_bytes(data: bytes, name: str = "image") -> np.ndarray:
    """Decode a single image from bytes (used by tests and the review UI)."""
    with Image.open(io.BytesIO(data)) as im:
        return _to_grey(im)[0]
