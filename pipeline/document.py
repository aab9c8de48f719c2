"""One document through the stages after splitting: read every field of every page.

This is the unit of work an orchestrator runs as one task (a Prefect task per document,
never per field): the field work runs on threads inside it. Records, FK's rules and routing
(the next stages) extend :class:`DocumentResult`.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from pipeline.pages import PageResult
from pipeline.read.fields import read_page
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

    @property
    def key(self) -> str:
        return f"{self.form}/{self.version}" if self.form else "unidentified"

    def count(self, status: str) -> int:
        return sum(1 for r in self.readings.values() if r.status == status)


def _month(readings: dict[str, Reading]) -> str | None:
    r = readings.get("header.year_month")
    return r.value if r is not None and isinstance(r.value, str) else None


def process_document(doc: Document[PageResult], threads: int = 1) -> DocumentResult:
    """Read every registered page of a document. Page 1 first: its month bounds the days."""
    t0 = time.perf_counter()
    readings: dict[str, Reading] = {}
    for n in sorted(doc.pages):
        rp = doc.pages[n].registered
        if rp is None or not rp.ok:
            continue
        readings.update(doc.pages[n].readings)  # read with the page (identity fields)
        for r in read_page(rp, month=_month(readings), threads=threads, skip=set(readings)):
            readings[r.field_id] = r
    result = DocumentResult(doc.index, doc.form, doc.version, dict(doc.pages), len(doc.attachments),
                            list(doc.problems), readings, {"read": (time.perf_counter() - t0) * 1e3})
    for p in result.pages.values():  # the images are no longer needed: keep memory flat
        if p.registered is not None:
            p.registered.image = p.registered.image[:0, :0]
    return result
