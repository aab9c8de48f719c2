"""The sample generator: scanned batches with ground truth, reproducible from a seed.

content (what is written) → fill (the ink) on a blank page (our replica, or FK's real blank
form) → scan (what the scanner makes of it) → batchfile (the files a scanner delivers),
plus one ``<batch>.truth.json`` per batch file saying what every page and field really is.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Iterator

import numpy as np

from pipeline import defs
from pipeline.forms import FormTemplate, TemplateRegistry
from pipeline.synth import batchfile, content, fill, render, scan
from pipeline.synth.reference import render_reference_page

TRUTH_VERSION = 1

# A mailroom batch is one scanner run: a handful of documents in one file, one resolution
# and mode. Documents of one case (a person's month: the 3057 and its 3059s) travel together.
DOCS_PER_BATCH = (2, 6)
# Share of batches holding a blank page (a duplex back side, a separator sheet).
BLANK_PAGE_RATE = 0.3
# Share of batches holding a page that belongs to no form (a cover letter).
LETTER_PAGE_RATE = 0.2
# JPEG quality of grey pages in the small committed sample set (the repository stays light).
SMALL_JPEG_QUALITY = 45


@dataclass(frozen=True)
class SampleOptions:
    count: int = 10
    seed: int = 1
    real_forms: bool = False  # fill FK's real blank forms instead of our replicas
    small: bool = False  # the committed sample set: 200 dpi, mostly 1-bit, small files
    fault_rate: float = 0.25
    formats: tuple[str, ...] = ("pdf", "tiff", "png", "jpeg")
    use_mnist_digits: bool = True  # hand-printed digits from real handwriting when available
    styles: tuple[str, ...] = ("typed", "hand", "mixed")
    # Fixed scanner settings for every batch (the benchmark's cells); None: drawn per batch.
    dpi: int | None = None
    bitonal: bool | None = None
    format: str | None = None
    # Only documents with a cost report (3057 point 9, the amounts): calibration of amounts,
    # which the ordinary stream has in about one document in 27.
    cost_reports_only: bool = False


@dataclass
class BatchSummary:
    file: str
    pages: int
    documents: int
    describe: str
    files: list[str] = field(default_factory=list)


def _blank_page(template: FormTemplate, page: int, dpi: int, real: bool) -> tuple[np.ndarray, str]:
    if real:
        pdf = defs.reference_pdf(template.form, template.version)
        if pdf.exists():
            return render_reference_page(pdf, page, dpi), "fk-reference"
    return render.render_blank_image(template, page, dpi), "replica"


def _paper_size_px(template: FormTemplate, page: int, dpi: int) -> tuple[int, int]:
    w, h = template.page_size_of(page)
    return round(w / defs.MM_PER_INCH * dpi), round(h / defs.MM_PER_INCH * dpi)


def _letter_page(rng: np.random.Generator, dpi: int) -> np.ndarray:
    """A typed cover letter on A4: no form, must be kept and attached to its neighbour."""
    from PIL import Image, ImageDraw, ImageFont

    w, h = round(210 / 25.4 * dpi), round(297 / 25.4 * dpi)
    img = Image.new("L", (w, h), 255)
    d = ImageDraw.Draw(img)
    font = ImageFont.truetype("DejaVuSans.ttf", size=max(10, dpi // 9))
    px = dpi / 25.4
    lines = ["Hej!", "", "Här kommer tidsredovisningar och räkning för förra månaden.",
             "Hör av er om något saknas.", "", "Med vänlig hälsning"]
    y = 40 * px
    for ln in lines[: 3 + int(rng.integers(0, 4))]:
        d.text((25 * px, y), ln, fill=int(rng.integers(0, 40)), font=font)
        y += 7 * px
    return np.array(img)


def _writers(doc: content.DocumentTruth, rng: np.random.Generator):
    """One typed and one hand writer per document; ``content.is_handwritten`` says which
    writes each field (mixed: the office types names and numbers, the person fills the rows,
    ticks the boxes and signs)."""
    typed = fill.Writer.random(rng, "typed")
    hand = fill.Writer.random(rng, "hand")
    return lambda f: hand if content.is_handwritten(doc.style, f.id, f.kind) else typed


def _profile(rng: np.random.Generator, dpi: int, bitonal: bool, small: bool) -> scan.ScanProfile:
    profile = scan.ScanProfile.random(rng, dpi, bitonal)
    if small and not bitonal:
        # committed samples: a grey page as a modest office scanner stores it (~150 kB)
        profile = replace(profile, jpeg_quality=SMALL_JPEG_QUALITY, noise_sigma=min(profile.noise_sigma, 1.0))
    return profile


def _plan_batches(docs: list[content.DocumentTruth], rng: np.random.Generator) -> list[list[content.DocumentTruth]]:
    """Cut the documents into batches, keeping a case's documents together where possible."""
    batches: list[list[content.DocumentTruth]] = []
    current: list[content.DocumentTruth] = []
    target = int(rng.integers(DOCS_PER_BATCH[0], DOCS_PER_BATCH[1] + 1))
    for i, d in enumerate(docs):
        current.append(d)
        nxt = docs[i + 1] if i + 1 < len(docs) else None
        if len(current) >= target and (nxt is None or nxt.case_id != d.case_id or len(current) >= 2 * target):
            batches.append(current)
            current = []
            target = int(rng.integers(DOCS_PER_BATCH[0], DOCS_PER_BATCH[1] + 1))
    if current:
        batches.append(current)
    return batches


def generate_samples(out: Path, opts: SampleOptions) -> Iterator[BatchSummary]:
    """Write batches and their truth files into ``out``; yield a summary per batch."""
    out.mkdir(parents=True, exist_ok=True)
    registry = TemplateRegistry.load()
    rng = np.random.default_rng(opts.seed)
    digits = None
    if opts.use_mnist_digits and defs.MNIST_NPZ.exists():
        digits = fill.DigitBank.from_npz(defs.MNIST_NPZ, *defs.MNIST_GENERATOR_SLICE)
    docs = content.generate_documents(registry, rng, opts.count, fault_rate=opts.fault_rate, styles=opts.styles)
    if opts.cost_reports_only:
        docs = [d for d in docs if "kostnad.summa.period" in d.values]
        rounds = 0
        while len(docs) < opts.count:
            rounds += 1
            more = content.generate_documents(registry, rng, 4 * opts.count, fault_rate=opts.fault_rate, styles=opts.styles)
            for d in more:
                if "kostnad.summa.period" in d.values:  # case numbers restart with each call
                    d.doc_id, d.case_id = f"r{rounds}{d.doc_id}", f"r{rounds}{d.case_id}"
                    docs.append(d)
        docs = docs[: opts.count]
    for n, batch_docs in enumerate(_plan_batches(docs, rng), start=1):
        yield _write_batch(out, f"batch-{opts.seed}-{n:03d}", batch_docs, registry, rng, opts, digits)


def _write_batch(out, name, docs, registry, rng, opts, digits) -> BatchSummary:
    dpi = 200 if opts.small else int(rng.choice(defs.SCAN_DPIS))
    bitonal = bool(rng.random() < (0.8 if opts.small else 0.6))
    fmt = str(rng.choice(("pdf", "tiff"))) if opts.small else str(rng.choice(opts.formats))
    # the draws above happen either way, so fixing a setting changes nothing else of the set
    dpi = opts.dpi or dpi
    bitonal = bitonal if opts.bitonal is None else opts.bitonal
    fmt = opts.format or fmt
    if fmt in ("png", "jpeg") and bitonal:
        fmt = "png"  # a 1-bit page is never stored as JPEG
    if opts.small and not bitonal:
        fmt = "pdf"  # grey pages as JPEG in a PDF: a grey LZW TIFF is ~1.7 MB a page
    pages: list[np.ndarray] = []
    truth_pages: list[dict] = []
    truth_docs: list[dict] = []

    def add_page(img: np.ndarray, info: dict) -> None:
        info["index"] = len(pages)
        pages.append(img)
        truth_pages.append(info)

    for d in docs:
        t = registry.get(d.form, d.version)
        writers = _writers(d, rng)
        page_indexes = []
        for p in t.pages:
            blank, source = _blank_page(t, p.number, dpi, opts.real_forms)
            filled = fill.fill_page(t, p.number, d.values, writers, rng, dpi,
                                    illegible=frozenset(d.illegible), digits=digits)
            clean = fill.compose(blank, filled.ink)
            profile = _profile(rng, dpi, bitonal, opts.small)
            s = scan.simulate_scan(clean, dpi, profile, rng)
            page_indexes.append(len(pages))
            add_page(s.image, {
                "kind": "form", "form": t.form, "version": t.version, "page": p.number,
                "skanningsid": p.skanningsid, "document": d.doc_id, "blank_source": source,
                "orientation": s.orientation, "skew_deg": round(s.skew_deg, 4),
                "scale": profile.scale, "mm_to_px": s.mm_to_px,
                # paper not flat: the displacement on top of mm_to_px (scan.map_mm_to_px)
                "warp": scan.warp_to_json(s.warp),
                "written": filled.written,
            })
        truth_docs.append({**d.model_dump(mode="json"), "pages": page_indexes})
        if rng.random() < BLANK_PAGE_RATE / max(1, len(docs)):
            w, h = _paper_size_px(t, 1, dpi)
            s = scan.simulate_scan(np.full((h, w), 255, np.uint8), dpi, scan.ScanProfile.random(rng, dpi, bitonal), rng)
            add_page(s.image, {"kind": "blank", "follows": d.doc_id})
        if rng.random() < LETTER_PAGE_RATE / max(1, len(docs)):
            s = scan.simulate_scan(_letter_page(rng, dpi), dpi, scan.ScanProfile.random(rng, dpi, bitonal), rng)
            add_page(s.image, {"kind": "other", "follows": d.doc_id})

    files = batchfile.write_batch(pages, out / f"{name}.{ 'tif' if fmt == 'tiff' else fmt}", fmt, dpi)
    truth = {
        "truth_version": TRUTH_VERSION, "batch": name, "seed": opts.seed,
        "files": [f.name for f in files], "format": fmt, "dpi": dpi, "bitonal": bitonal,
        "real_forms": opts.real_forms, "digit_source": "mnist-heldout" if digits is not None else "font",
        "pages": truth_pages, "documents": truth_docs,
    }
    (out / f"{name}.truth.json").write_text(json.dumps(truth, ensure_ascii=False, indent=1), encoding="utf-8")
    forms = ", ".join(f"{d.form}" for d in docs)
    mode = "1-bit" if bitonal else "grey"
    return BatchSummary(file=files[0].name if len(files) == 1 else f"{name}-*.{fmt}", pages=len(pages),
                        documents=len(docs), describe=f"{fmt}, {dpi} dpi {mode}; forms {forms}",
                        files=[f.name for f in files])
