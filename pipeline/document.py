"""One document through the stages after splitting: read every field of every page.

This is the unit of work an orchestrator runs as one task (a Prefect task per document,
never per field): the field work runs on threads inside it. Records, FK's rules and routing
(the next stages) extend :class:`DocumentResult`.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from pipeline import defs
from pipeline.forms import FormTemplate
from pipeline.identify import IdentifiedPage
from pipeline.pages import PageResult
from pipeline.read.copies import agree
from pipeline.read.fields import read_page
from pipeline.read.order import in_order
from pipeline.read.sums import reconcile
from pipeline.read.types import Reading
from pipeline.split import Document, Problem


@dataclass
class DocumentResult:
    index: int  # position in the batch
    form: str | None
    version: str | None
    pages: dict[int, PageResult]  # page number → page (images dropped once read)
    attachments: int
    problems: list[Problem]
    readings: dict[str, Reading] = field(default_factory=dict)  # field id → reading
    timings_ms: dict[str, float] = field(default_factory=dict)
    unknown_pages: int = 0  # attachments that could not be identified
    crops: dict[str, str] = field(default_factory=dict)  # field id (or "page-N") → file name in crop_dir

    @property
    def key(self) -> str:
        return f"{self.form}/{self.version}" if self.form else "unidentified"

    def count(self, status: str) -> int:
        return sum(1 for r in self.readings.values() if r.status == status)


def _month(readings: dict[str, Reading]) -> str | None:
    r = readings.get("header.year_month")
    return r.value if r is not None and isinstance(r.value, str) else None


def unknown_pages(doc: Document[PageResult]) -> int:
    return sum(1 for p in doc.attachments if p.ident.kind == "unreadable")


def save_crops(doc: Document[PageResult], readings: dict[str, Reading], crop_dir: Path) -> dict[str, str]:
    """The image of every field with ink (what an operator compares a value with) and a small
    image of every page, as PNG files in ``crop_dir`` (under the data directory, owner-only)."""
    crop_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    out: dict[str, str] = {}
    for n, p in sorted(doc.pages.items()):
        rp = p.registered
        if rp is None or not rp.ok:
            continue
        scale = defs.THUMBNAIL_DPI / float(rp.dpi)
        thumb = cv2.resize(rp.image, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
        cv2.imwrite(str(crop_dir / f"page-{n}.png"), thumb)
        out[f"page-{n}"] = f"page-{n}.png"
        fields = {f.id: f for f in rp.template.expanded_fields(n)}
        for fid, r in readings.items():
            if r.page != n or r.status == "empty" or fid not in fields:
                continue
            name = f"{fid}.png"
            cv2.imwrite(str(crop_dir / name), rp.crop(fields[fid], pad_mm=defs.CROP_PAD_MM))
            out[fid] = name
    return out


def read_together(template: FormTemplate, readings: dict[str, Reading]) -> dict[str, Reading]:
    """A document's readings, those that the form ties together read together: its rows'
    days in order (read/order.py), amounts that must add up and rows against their totals
    (read/sums.py), the running header's copies (read/copies.py); dates that run in order
    (the template's ``ordered``) read down their order too."""
    return agree(template, reconcile(template, in_order(readings, template.ordered)))


def process_document(doc: Document[PageResult], threads: int = 1, crop_dir: Path | None = None) -> DocumentResult:
    """Read every registered page of a document. Page 1 first: its month bounds the days.
    With ``crop_dir`` the fields' images are kept there (:func:`save_crops`)."""
    t0 = time.perf_counter()
    readings: dict[str, Reading] = {}
    template = None
    for n in sorted(doc.pages):
        rp = doc.pages[n].registered
        if rp is None or not rp.ok:
            continue
        template = rp.template
        readings.update(doc.pages[n].readings)  # read with the page (identity fields)
        for r in read_page(rp, month=_month(readings), threads=threads, skip=set(readings),
                           received=doc.pages[n].received):
            readings[r.field_id] = r
    if template is not None:
        readings = read_together(template, readings)
    crops = save_crops(doc, readings, crop_dir) if crop_dir is not None else {}
    result = DocumentResult(doc.index, doc.form, doc.version, dict(doc.pages), len(doc.attachments),
                            list(doc.problems), readings, {"read": (time.perf_counter() - t0) * 1e3},
                            unknown_pages(doc), crops)
    for p in result.pages.values():  # the images are no longer needed: keep memory flat
        rp = p.registered
        if rp is not None:  # (an empty view, image[:0, :0], would keep the whole page alive)
            rp.image = np.empty((0, 0), rp.image.dtype)
            rp.identified = IdentifiedPage(None, rp.identified.ident)  # and the upright scan
    return result
