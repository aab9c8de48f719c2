"""Score the pipeline against generated ground truth (``<batch>.truth.json``).

Page stages today: identification, orientation, skew, registration error at the field
boxes, and document splitting. The benchmark and the tests on generated batches use this;
later stages add their own scores here.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import numpy as np

from pipeline import ingest
from pipeline.forms import TemplateRegistry
from pipeline.pages import PageResult, field_errors_mm, page_counts, process_page, read_identity
from pipeline.split import Splitter


@dataclass
class PageScores:
    pages: int = 0
    form_pages: int = 0
    identified: int = 0  # pages whose kind (and for forms: form, version, page) is right
    oriented: int = 0  # form pages turned the right way up
    split_right: int = 0  # truth documents reproduced exactly (same form pages)
    documents: int = 0
    skew_errors: list[float] = field(default_factory=list)  # degrees, per form page
    reg_errors: list[np.ndarray] = field(default_factory=list)  # mm, per field box
    registered_ok: int = 0
    mistakes: list[str] = field(default_factory=list)
    ms: dict[str, list[float]] = field(default_factory=dict)

    def add(self, other: "PageScores") -> None:
        for k in ("pages", "form_pages", "identified", "oriented", "split_right", "documents", "registered_ok"):
            setattr(self, k, getattr(self, k) + getattr(other, k))
        self.skew_errors += other.skew_errors
        self.reg_errors += other.reg_errors
        self.mistakes += other.mistakes
        for k, v in other.ms.items():
            self.ms.setdefault(k, []).extend(v)

    def summary(self) -> dict:
        reg = np.concatenate(self.reg_errors) if self.reg_errors else np.zeros(0)
        sk = np.asarray(self.skew_errors)
        share = lambda a, b: a / b if b else 1.0  # noqa: E731
        return {
            "pages": self.pages,
            "identification": share(self.identified, self.pages),
            "orientation": share(self.oriented, self.form_pages),
            "registered": share(self.registered_ok, self.form_pages),
            "skew_error_deg": {"median": float(np.median(sk)) if len(sk) else 0.0, "max": float(sk.max()) if len(sk) else 0.0},
            "registration_error_mm": {"median": float(np.median(reg)) if len(reg) else 0.0,
                                      "p99": float(np.percentile(reg, 99)) if len(reg) else 0.0,
                                      "max": float(reg.max()) if len(reg) else 0.0},
            "document_split": share(self.split_right, self.documents),
            "ms_per_page": {k: float(np.mean(v)) for k, v in self.ms.items()},
        }


def _angle(m: np.ndarray) -> float:
    return float(np.degrees(np.arctan2(m[1, 0], m[0, 0])))


def batch_files(truth_path: Path) -> list[Path]:
    truth = json.loads(truth_path.read_text(encoding="utf-8"))
    return [truth_path.parent / f for f in truth["files"]]


def score_batch(truth_path: Path, registry: TemplateRegistry) -> PageScores:
    truth = json.loads(truth_path.read_text(encoding="utf-8"))
    sc = PageScores()
    results: list[PageResult] = []
    splitter: Splitter[int] = Splitter(page_counts(registry))
    docs = []
    i = 0
    for f in batch_files(truth_path):
        for page in ingest.pages(f):
            r = process_page(page, registry, received=batch_received(truth))
            t = truth["pages"][i]
            results.append(r)
            docs += splitter.add(i, r.ident, r.identity)
            for k, v in r.timings_ms.items():
                sc.ms.setdefault(k, []).append(v)
            sc.pages += 1
            where = f"{truth['batch']} page {i + 1}"
            if t["kind"] == "form":
                sc.form_pages += 1
                want = f"{t['form']}/{t['version']}/{t['page']}"
                if r.ident.key == want:
                    sc.identified += 1
                else:
                    sc.mistakes.append(f"{where}: identified as {r.ident.key or r.ident.kind}, is {want}")
                if r.registered is not None:
                    upright = (r.rotation % 360) == t["orientation"]
                    sc.oriented += upright
                    if not upright:
                        sc.mistakes.append(f"{where}: turned {r.rotation}, scanned at {t['orientation']}")
                    truth_m = np.asarray(t["mm_to_px"], dtype=np.float64)
                    d = _angle(r.registered.mm_to_px) - _angle(truth_m)
                    sc.skew_errors.append(abs((d + 180) % 360 - 180))
                    errs = field_errors_mm(r.registered, t)  # full truth: affine and warp
                    sc.reg_errors.append(errs)
                    sc.registered_ok += r.registered.ok
                    if not r.registered.ok or errs.max() > 1.0:
                        sc.mistakes.append(f"{where}: registration {r.registered.reason or ''} max error {errs.max():.2f} mm")
            elif r.ident.kind == t["kind"]:
                sc.identified += 1
            else:
                sc.mistakes.append(f"{where}: identified as {r.ident.key or r.ident.kind}, is {t['kind']}")
            i += 1
    docs += splitter.finish()
    got = sorted(sorted(d.order) for d in docs if d.form)
    for td in truth["documents"]:
        sc.documents += 1
        if sorted(td["pages"]) in got:
            sc.split_right += 1
        else:
            sc.mistakes.append(f"{truth['batch']}: document {td['doc_id']} (pages {td['pages']}) not split as one")
    if i != len(truth["pages"]):
        sc.mistakes.append(f"{truth['batch']}: {i} pages read, truth has {len(truth['pages'])}")
    return sc


def score_folder(folder: Path, registry: TemplateRegistry | None = None) -> PageScores:
    registry = registry or TemplateRegistry.load()
    total = PageScores()
    for tp in sorted(folder.glob("*.truth.json")):
        total.add(score_batch(tp, registry))
    return total


@dataclass
class FieldSample:
    """One field of a generated document as the pipeline sees it, with its truth."""

    batch: str
    doc_id: str
    style: str  # typed | hand | mixed (of the document)
    handwritten: bool  # was this field written by hand (see content.is_handwritten)
    field: object  # ExpandedField
    truth: object  # canonical value (None when left empty)
    written: str | None  # the exact string drawn, "<illegible>" for a scrawl
    illegible: bool
    page: object  # RegisteredPage: .crop(field, pad_mm), .ink_crop(field, pad_mm), .dpi
    received: date | None = None  # the batch's received day (the latest of its documents')


def batch_received(truth: dict) -> date | None:
    """A generated batch's received day, as the mailroom gives one per batch: the latest of
    its documents' (``bench`` runs the pipeline with the same)."""
    days = [d["received_date"] for d in truth["documents"] if d.get("received_date")]
    return date.fromisoformat(max(days)) if days else None


def iter_field_samples(folder: Path, registry: TemplateRegistry | None = None):
    """Every field of every correctly identified and registered form page in a folder of
    generated batches, with its truth. The source of training checks and accuracy figures
    for the readers; pages that were misidentified are skipped (scored by score_folder)."""
    from pipeline.synth.content import is_handwritten

    registry = registry or TemplateRegistry.load()
    for tp in sorted(folder.glob("*.truth.json")):
        truth = json.loads(tp.read_text(encoding="utf-8"))
        docs = {d["doc_id"]: d for d in truth["documents"]}
        received = batch_received(truth)
        i = 0
        for f in batch_files(tp):
            for page in ingest.pages(f):
                t = truth["pages"][i]
                i += 1
                if t["kind"] != "form":
                    continue
                r = process_page(page, registry, received=received)
                if r.ident.key != f"{t['form']}/{t['version']}/{t['page']}" or r.registered is None or not r.registered.ok:
                    continue
                d = docs[t["document"]]
                for fld in r.registered.template.expanded_fields(t["page"]):
                    yield FieldSample(
                        batch=truth["batch"], doc_id=d["doc_id"], style=d["style"],
                        handwritten=is_handwritten(d["style"], fld.id, fld.kind),
                        field=fld, truth=d["values"].get(fld.id), written=t["written"].get(fld.id),
                        illegible=fld.id in d["illegible"], page=r.registered, received=received,
                    )


# --- field readers --------------------------------------------------------------------------

@dataclass
class FieldOutcome:
    kind: str
    handwritten: bool
    truth: object
    value: object
    status: str
    confidence: float
    illegible: bool
    invalid: bool = False  # the value on paper is itself invalid (a deliberate wrong Luhn digit)
    printed: bool = False  # read on the printed path (Tesseract led: a printed-looking number)

    @property
    def right(self) -> bool:
        """The reading says what is on the paper: the value for written fields, 'empty' for
        empty ones, not 'ok' for an illegible scrawl."""
        if self.illegible or self.invalid:
            return self.status in ("unreadable", "low_confidence")
        if self.kind in ("checkbox", "signature"):
            return self.value == bool(self.truth)
        if self.truth in (None, ""):
            return self.status == "empty"
        if self.kind == "text" and isinstance(self.value, str) and isinstance(self.truth, str):
            return self.value.casefold() == self.truth.casefold()  # a name written in capitals, read so
        return self.value == self.truth

    @property
    def auto_accepted(self) -> bool:
        return self.status in ("ok", "empty")


def _truth_value(kind: str, truth):
    if kind in ("checkbox", "signature"):
        return bool(truth)
    if kind == "text" and isinstance(truth, str):
        return " ".join(truth.split())
    if kind == "phone" and isinstance(truth, str):
        from pipeline.read.parse import phone

        return phone(truth)
    return truth


def field_outcomes(folder: Path, registry: TemplateRegistry | None = None) -> list[FieldOutcome]:
    """Read every field of a folder of generated batches and set it against the truth, as
    the pipeline reads them: a page's identity fields (the month) with the page, then its
    other fields at once, and at the end of a document its rows' days in order, its sums (a
    cost report's amounts, a time report's rows against their totals) and the copies of its
    running header together."""
    from itertools import groupby

    from pipeline.document import read_together
    from pipeline.read.fields import read_page
    from pipeline.read.parse import normalise

    out: list[FieldOutcome] = []
    for _, group in groupby(iter_field_samples(folder, registry), key=lambda s: (s.batch, s.doc_id)):
        samples = list(group)
        readings: dict = {}
        month = None  # the month last read on the document's pages (bounds its days, dates)
        pages = [s.page for i, s in enumerate(samples) if i == 0 or s.page is not samples[i - 1].page]
        for page in pages:  # the document's pages, in batch order
            page_readings, _ = read_identity(page, samples[0].received)
            ym = page_readings.get("header.year_month")
            if ym is not None and isinstance(ym.value, str):
                month = ym.value
            readings |= page_readings | {r.field_id: r for r in read_page(page, month=month, skip=set(page_readings),
                                                                          received=samples[0].received)}
        template = samples[0].page.template
        readings = read_together(template, readings)
        for s in samples:
            r = readings[s.field.id]
            kind = s.field.kind.value
            invalid = (kind in ("personnummer", "organisationsnummer") and isinstance(s.truth, str)
                       and normalise(s.field.kind, s.truth) is None)
            out.append(FieldOutcome(kind, s.handwritten, _truth_value(kind, s.truth), r.value, r.status,
                                    r.confidence, s.illegible, invalid, bool(r.detail.get("printed"))))
    return out


def field_summary(outcomes: list[FieldOutcome]) -> dict:
    """Accuracy per kind and fill style, and the silent error rate (auto-accepted and wrong)."""
    table: dict[str, dict] = {}
    for o in outcomes:
        key = f"{o.kind}/{'hand' if o.handwritten else 'typed'}"
        t = table.setdefault(key, {"fields": 0, "right": 0, "filled": 0, "filled_right": 0, "auto": 0, "auto_wrong": 0})
        t["fields"] += 1
        t["right"] += o.right
        if o.truth not in (None, "", False) or o.illegible:
            t["filled"] += 1
            t["filled_right"] += o.right
        if o.auto_accepted:
            t["auto"] += 1
            t["auto_wrong"] += not o.right
    for t in table.values():
        t["accuracy"] = t["right"] / t["fields"] if t["fields"] else 1.0
        t["filled_accuracy"] = t["filled_right"] / t["filled"] if t["filled"] else 1.0
    auto = sum(t["auto"] for t in table.values())
    wrong = sum(t["auto_wrong"] for t in table.values())
    return {"by_kind": dict(sorted(table.items())), "auto_accepted": auto,
            "silent_error_rate": wrong / auto if auto else 0.0,
            "straight_through_fields": auto / max(1, len(outcomes))}


def calibrate(outcomes: list[FieldOutcome], max_error: float = 0.002, min_readings: int = 0,
              default: float = 0.0) -> dict[str, float]:
    """Per kind: the lowest confidence from which accepted readings are wrong in at most
    ``max_error`` of cases (on the given outcomes). A kind with fewer than ``min_readings``
    readings takes the stricter of that and ``default``: a few dozen readings say little
    about a tail of 0.2 %. A kind whose readings are all within ``max_error`` down to the
    least sure of them has no floor in the data: the lowest confidence it happened to show
    says nothing of the readings below it, and the threshold is the looser of it and
    ``default`` (typed organisationsnummer, all read right, the least sure at 0.99995, would
    otherwise hold one read at 0.9999)."""
    out = {}
    kinds = sorted({o.kind for o in outcomes if o.kind not in ("checkbox", "signature")})
    for k in kinds:
        xs = sorted((o for o in outcomes if o.kind == k and o.value is not None), key=lambda o: -o.confidence)
        best = 1.0
        wrong = 0
        for i, o in enumerate(xs, start=1):
            wrong += not o.right
            # a threshold accepts every reading at its confidence: cut only between two
            # confidences, never inside a tie (Tesseract's text confidences come in steps
            # of 0.01, many readings to a step, the right and the wrong ones)
            if (i == len(xs) or xs[i].confidence < o.confidence) and wrong / i <= max_error:
                best = o.confidence
        if len(xs) < min_readings:
            best = max(best, default)
        elif xs and best == xs[-1].confidence:  # within the budget down to the last reading
            best = min(best, default)
        # rounded down, finely: rounding to 4 places could put the threshold above the very
        # reading it was calibrated at (0.99986 → 0.9999), or round down onto a wrong one
        out[k] = math.floor(best * 1e6) / 1e6
    return out


# --- whole documents: stored records against the truth ---------------------------------------

@dataclass
class DocumentOutcome:
    doc_id: str
    form: str
    style: str
    expected: str  # the truth's route
    route: str | None  # the stored record's route (None: no record holds the document's pages)
    fields: list[FieldOutcome]
    faults: list[str]  # planted by the generator (content.FAULTS)
    held: tuple[str, ...] = ()  # the record's flags that hold it back from export (route.holds)


def record_outcomes(folder: Path, records: list[dict]) -> list[DocumentOutcome]:
    """Every generated document of a folder set against the record the pipeline stored for
    it (matched by file and first page). A field the record leaves out counts as read empty
    when its page is in the record (empty table rows are left out), else as not read."""
    from pipeline.read.parse import normalise
    from pipeline.record import flatten
    from pipeline.route import holds
    from pipeline.synth.content import is_handwritten

    registry = TemplateRegistry.load()
    by_first_page = records_by_first_page(records)
    out = []
    for tp in sorted(folder.glob("*.truth.json")):
        truth = json.loads(tp.read_text(encoding="utf-8"))
        starts = _page_files(truth)
        for d in truth["documents"]:
            rec = by_first_page.get(starts[min(d["pages"])])
            template = registry.get(d["form"], d["version"])
            flat = flatten(rec["fields"]) if rec else {}
            read_pages = {p["page"] for p in rec["source"]["pages"]} if rec else set()
            fields = []
            for p in template.pages:
                for fld in template.expanded_fields(p.number):
                    kind = fld.kind.value
                    truth_value = d["values"].get(fld.id)
                    fv = flat.get(fld.id)
                    if fv is not None:
                        value, status, conf = fv.get("read"), fv["status"], fv["confidence"]
                        if kind in ("checkbox", "signature") and value is None and status == "empty":
                            value = False  # an empty box: the record leaves out the reading
                    elif p.number in read_pages:
                        value, status, conf = (False if kind in ("checkbox", "signature") else None), "empty", 1.0
                    else:
                        value, status, conf = None, "not_read", 0.0
                    invalid = (kind in ("personnummer", "organisationsnummer") and isinstance(truth_value, str)
                               and normalise(fld.kind, truth_value) is None)
                    if kind in ("text", "phone") and isinstance(value, str):
                        value = _truth_value(kind, value)  # the same canonical form as the truth
                    fields.append(FieldOutcome(kind, is_handwritten(d["style"], fld.id, fld.kind),
                                               _truth_value(kind, truth_value), value, status, conf,
                                               fld.id in d["illegible"], invalid))
            out.append(DocumentOutcome(d["doc_id"], d["form"], d["style"], d["expected_route"],
                                       rec["route"] if rec else None, fields, d["faults"],
                                       tuple(holds(rec)) if rec else ()))
    return out


def records_by_first_page(records: list[dict]) -> dict[tuple[str, int], dict]:
    """Stored records by their first page (file, index in file): how a generated document
    (its truth's first page, :func:`_page_files`) finds its record."""
    out = {}
    for rec in records:
        pages = rec["source"]["pages"]
        if pages:
            first = min(pages, key=lambda p: (p["file"], p["index"]))
            out[(first["file"], first["index"])] = rec
    return out


def _page_files(truth: dict) -> list[tuple[str, int]]:
    """(file, index in file) of each page of a generated batch, in batch order."""
    if len(truth["files"]) == 1:
        return [(truth["files"][0], i) for i in range(len(truth["pages"]))]
    return [(f, 0) for f in truth["files"]]  # one image file per page


def confusion(outcomes: list[FieldOutcome], kind: str) -> dict[str, dict[str, int]]:
    """Checkbox or signature readings: truth (marked/empty) × reading (marked/empty/unsure)."""
    table = {t: {"marked": 0, "empty": 0, "unsure": 0} for t in ("marked", "empty")}
    for o in outcomes:
        if o.kind != kind:
            continue
        read = "unsure" if o.status not in ("ok", "empty") else ("marked" if o.value else "empty")
        table["marked" if o.truth else "empty"][read] += 1
    return table
