"""The page pipeline of one batch file: ingest → identify → register → split.

Each page goes through the stages on its own (a bad page never stops the batch); documents
come out as soon as they are complete, so a long batch is never held in memory at once.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Iterator

import numpy as np

from pipeline import ingest
from pipeline.forms import TemplateRegistry
from pipeline.identify import Identification, identify
from pipeline.register import RegisteredPage, register
from pipeline.split import Document, Splitter


@dataclass
class PageResult:
    source: Path
    index: int  # 0-based page index within its file
    ident: Identification
    registered: RegisteredPage | None
    rotation: int = 0  # clockwise quarter turns applied to make the page upright
    skew_deg: float = 0.0  # skew measured on the page (clockwise positive)
    timings_ms: dict[str, float] = field(default_factory=dict)
    readings: dict = field(default_factory=dict)  # field id → Reading, read with the page
    identity: dict[str, str] = field(default_factory=dict)  # confidently read identity fields
    received: date | None = None  # the day FK received the post (its file's)

    @property
    def ok(self) -> bool:
        return self.ident.kind != "form" or (self.registered is not None and self.registered.ok)

    @property
    def problem(self) -> str | None:
        if self.ident.kind == "unreadable":
            return self.ident.reason
        if self.registered is not None and not self.registered.ok:
            return self.registered.reason
        return None


def process_page(page: ingest.PageImage, registry: TemplateRegistry, ingest_ms: float = 0.0,
                 received: date | None = None) -> PageResult:
    t0 = time.perf_counter()
    ip = identify(page, registry)
    t1 = time.perf_counter()
    rp = register(ip, registry) if ip.ident.kind == "form" else None
    t2 = time.perf_counter()
    rotation = ip.oriented.rotation if ip.oriented is not None else 0
    skew = rp.skew_deg if rp is not None else (ip.oriented.skew_deg if ip.oriented is not None else 0.0)
    readings, identity = read_identity(rp, received) if rp is not None and rp.ok else ({}, {})
    t3 = time.perf_counter()
    return PageResult(page.source, page.index, ip.ident, rp, rotation, skew,
                      {"ingest": ingest_ms, "identify": (t1 - t0) * 1e3, "register": (t2 - t1) * 1e3,
                       "identity": (t3 - t2) * 1e3}, readings, identity, received)


def read_identity(rp: RegisteredPage, received: date | None = None) -> tuple[dict, dict[str, str]]:
    """Read the page's identity fields (month, personnummer); keep the confident values.
    ``received``: the day FK received the post (a month reported cannot lie after it)."""
    from pipeline.read.fields import read_field

    fields = rp.template.fields_by_id
    readings, identity = {}, {}
    for key, fid in rp.template.page(rp.page_number).identity.items():
        r = read_field(rp, fields[fid], received=received)
        readings[fid] = r
        if r.status == "ok" and isinstance(r.value, str):
            identity[key] = r.value
    return readings, identity


def page_counts(registry: TemplateRegistry) -> dict[str, int]:
    return {t.key: len(t.pages) for t in registry}


def process_file(path: str | Path, registry: TemplateRegistry,
                 received: date | None = None) -> Iterator[Document[PageResult]]:
    """Documents of one batch file, in feed order; ``received`` is the day FK received its
    post. Raises InputFileError when the file cannot be opened at all (the caller
    quarantines it)."""
    splitter: Splitter[PageResult] = Splitter(page_counts(registry))
    pages = ingest.pages(path)
    while True:
        t0 = time.perf_counter()
        try:
            page = next(pages)
        except StopIteration:
            break
        result = process_page(page, registry, (time.perf_counter() - t0) * 1e3, received)
        yield from splitter.add(result, result.ident, result.identity)
    yield from splitter.finish()


def field_errors_mm(rp: RegisteredPage, truth) -> np.ndarray:
    """Registration error at the centre of every field box (mm): the page's full estimated
    mapping (``rp.to_px``: affine and local warp) against the true one. ``truth`` is the
    true mapping: a ScanResult (anything with ``to_px`` and ``mm_to_px``), a truth file's
    page entry (a dict with ``mm_to_px`` and, for paper that was not flat, ``warp``), or a
    bare 2×3 affine (a flat sheet)."""
    from pipeline.synth.scan import map_mm_to_px

    t = rp.template
    pts = np.array([[f.box[0] + f.box[2] / 2, f.box[1] + f.box[3] / 2] for f in t.expanded_fields(rp.page_number)])
    if hasattr(truth, "to_px") and hasattr(truth, "mm_to_px"):
        affine, a = np.asarray(truth.mm_to_px, dtype=np.float64), truth.to_px(pts)
    elif isinstance(truth, dict):
        affine = np.asarray(truth["mm_to_px"], dtype=np.float64)
        a = map_mm_to_px(affine, truth.get("warp") or (), pts)
    else:
        affine = np.asarray(truth, dtype=np.float64)
        a = map_mm_to_px(affine, (), pts)
    b = rp.to_px(pts)
    scale = float(np.sqrt(abs(np.linalg.det(affine[:, :2]))))  # px per mm in the scan
    return np.linalg.norm(a - b, axis=1) / scale
