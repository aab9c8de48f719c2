"""Stage 4, build → check → route: a read document becomes a routed record.

:func:`build_record` turns a :class:`~pipeline.document.DocumentResult` into the JSON of its
form's record model (:mod:`pipeline.record`); :func:`assess` checks a record against FK's
rules (:mod:`pipeline.rules`) and routes it (:mod:`pipeline.route`). ``assess`` works on the
record alone (plus, for a 3057, the month's time reports), so the same function routes a
document when it is read, when an operator has decided its fields, and when a 3057's time
reports arrive later.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date
from functools import lru_cache
from typing import Iterable, Mapping

from pipeline.document import DocumentResult
from pipeline.forms import FormTemplate, TemplateRegistry
from pipeline.record import PageProblem, field_value, flatten, nest, reading_value, record_model
from pipeline.route import decide, problem_findings, reading_findings
from pipeline.rules import (
    TIME_KINDS,
    Finding,
    Value,
    check_document,
    check_invoice_totals,
    merge_rows,
    municipality_weeks,
    rows_totals_from_values,
    stated_minutes,
)
from pipeline.split import Problem

UNREADABLE = "?"  # stands for ink that was not read: the field is filled, its value unknown


@dataclass(frozen=True)
class Origin:
    """Where a document came from."""

    batch: str
    file: str
    file_sha256: str
    received: date | None


def document_id(file_sha256: str, index: int) -> str:
    """A document's key: its file's content hash and its place in the file (stable across
    re-runs of the same file, so a resumed run finds what it stored before)."""
    return f"{file_sha256[:16]}-{index + 1:03d}"


@lru_cache(maxsize=1)
def _registry() -> TemplateRegistry:
    return TemplateRegistry.load()


def template_of(record: Mapping) -> FormTemplate | None:
    try:
        return _registry().get(record["form"], record["version"])
    except Exception:  # noqa: BLE001 - unidentified documents have no template
        return None


def build_record(result: DocumentResult, origin: Origin) -> dict:
    """The record of a read document (JSON), routed."""
    return route_record(draft_record(result, origin))


def route_record(record: dict) -> dict:
    """A record checked against the rules and routed (the flow times this apart from
    :func:`draft_record`)."""
    return validate(assess(record))


def draft_record(result: DocumentResult, origin: Origin) -> dict:
    """The record of a read document (JSON), not yet checked: routed to review."""
    doc_id = document_id(origin.file_sha256, result.index)
    template = _registry().get(result.form, result.version) if result.form else None
    flat: dict[str, dict] = {}
    for fid, r in result.readings.items():
        if r.status == "empty" and template is not None and template.fields_by_id[fid].table is not None:
            continue  # empty table rows are left out of the record
        crop = result.crops.get(fid)
        flat[fid] = reading_value(r, f"crops/{doc_id}/{crop}" if crop else None)
    problems = [PageProblem(code=p.code, page=p.page, sv=p.text_sv, en=p.text_en) for p in result.problems]
    for n, p in sorted(result.pages.items()):
        if p.problem:
            problems.append(PageProblem(code="unregistered_page", page=n,
                                        sv=f"Sidan {n} kunde inte passas mot blanketten ({p.problem}).",
                                        en=f"Page {n} could not be registered to the form ({p.problem})."))
    form = result.form or "unknown"
    record = {
        "document_id": doc_id, "form": form, "version": result.version or "unknown",
        "received_date": origin.received.isoformat() if origin.received else None,
        "source": {
            "batch": origin.batch, "file": origin.file, "file_sha256": origin.file_sha256,
            "pages": [{"page": n, "file": p.source.name, "index": p.index, "skanningsid": p.ident.skanningsid}
                      for n, p in sorted(result.pages.items())],
            "attachments": result.attachments, "unknown_pages": result.unknown_pages,
            "problems": [p.model_dump() for p in problems],
        },
        "route": "review",
        "fields": nest(flat, form),
    }
    return record


def values_of(record: Mapping) -> tuple[dict[str, Value], dict[str, str], dict[str, int]]:
    """(canonical values, statuses, pages) of a record's fields, as the rules see them."""
    values: dict[str, Value] = {}
    statuses: dict[str, str] = {}
    pages: dict[str, int] = {}
    for fid, fv in flatten(record.get("fields", {})).items():
        statuses[fid], pages[fid] = fv["status"], fv["page"]
        if fv["status"] in ("unreadable", "unreadable_confirmed"):
            values[fid] = UNREADABLE
        elif fv.get("read") is not None and fv["status"] not in ("empty", "missing_confirmed"):
            values[fid] = fv["read"]
    return values, statuses, pages


def report_key(record: Mapping) -> tuple[str, str] | None:
    """(person's personnummer, month) of a 3057 or 3059: the key that ties them together."""
    values, _, _ = values_of(record)
    p, m = values.get("person.personnummer"), values.get("header.year_month")
    return (p, m) if isinstance(p, str) and isinstance(m, str) and UNREADABLE not in (p, m) else None


def assess(record: dict, reports: Iterable[Mapping] | None = None) -> dict:
    """Check a record against FK's rules and route it (in place, and returned). For a 3057,
    ``reports`` are the month's 3059 records of the same person (None: not looked up)."""
    template = template_of(record)
    values, statuses, pages = values_of(record)
    received = date.fromisoformat(record["received_date"]) if record.get("received_date") else None
    source = record["source"]
    problems = [Problem(p["code"], p.get("page"), p["sv"], p["en"]) for p in source.get("problems", [])]
    findings: list[Finding] = problem_findings(problems, unknown_pages=source.get("unknown_pages", 0) > 0)
    computed: dict = {}
    if template is None:
        findings.append(Finding("unidentified", "review"))
    else:
        decided = frozenset(f for f, st in statuses.items() if st in ("confirmed", "corrected"))
        findings += check_document(template, values, received, decided)
        findings += reading_findings(statuses, pages)
        if template.form == "3059":
            computed["minutes_from_rows"] = rows_totals_from_values(values)
            computed["minutes_stated"] = stated_minutes(values, "summa")
            computed["municipality_weeks"] = municipality_weeks(values)
        elif template.form == "3057":
            computed["minutes_stated"] = stated_minutes(values, "tid")
            if reports is not None:
                reports = list(reports)
                findings += _invoice_findings(values, reports, record)
                computed["time_reports"] = len(reports)
                computed["municipality_weeks"] = municipality_weeks(
                    merge_rows(values_of(r)[0] for r in reports)) if reports else None
    d = decide(template, findings, statuses)
    record.update(route=d.route, reasons=[r.model_dump() for r in d.reasons],
                  flags=[r.model_dump() for r in d.flags], computed=computed)
    return record


def _pending(report: Mapping, statuses: Mapping[str, str]) -> bool:
    """A time report whose rows are not all known yet: it waits for an operator, or a row
    value could not be read (the sender must complete it)."""
    return report.get("route") == "review" or any(
        fid.startswith("rows.") and st not in ("ok", "empty", "confirmed", "corrected") for fid, st in statuses.items())


def _invoice_findings(values: Mapping[str, Value], reports: list[Mapping], record: Mapping) -> list[Finding]:
    """3057 point 2 against its time reports. While a report's rows are not all known, the
    sum is not known either: the invoice carries a flag and is checked again when that report
    is decided (its own queue holds it meanwhile). ``record``: the invoice, for what its
    readers also saw where point 2 differs (:func:`_maybe_misread`)."""
    read = [(r, *values_of(r)[:2]) for r in reports]
    if any(_pending(r, statuses) for r, _, statuses in read):
        return [Finding("time_reports_pending", None, ("header.year_month", "person.personnummer"), 1,
                        {"reports": str(len(reports))})]
    summed = {k: 0 for k in TIME_KINDS}
    for _, rv, _ in read:
        for k, v in rows_totals_from_values(rv).items():
            summed[k] += v
    found = check_invoice_totals(values, summed if reports else None, len(reports))
    if not any(f.code == "totals_mismatch" for f in found):
        return found
    fields = flatten(record.get("fields", {}))
    return [_maybe_misread(f, summed, fields) if f.code == "totals_mismatch" else f for f in found]


def _maybe_misread(f: Finding, reported: Mapping[str, int], fields: Mapping[str, Mapping]) -> Finding:
    """A point-2 time that differs from its time reports' sum, read surely, but which one of
    its readers' alternatives (of the hours or of the minutes) would make equal to it: the
    difference may be a misreading, so an operator confirms the reading before the sender is
    asked to correct the invoice (297 hours read 247 at 0.9987, seed 303). A reading an
    operator decided stays certain."""
    hours, minutes = (fields.get(fid) or {} for fid in f.fields)
    if any(x.get("status") in ("confirmed", "corrected") for x in (hours, minutes)):
        return f

    def options(x: Mapping) -> tuple[int, list[int]]:
        read = int(x["read"]) if str(x.get("read") or "").isdigit() else 0
        return read, [int(v) for v, _ in x.get("alternatives") or () if str(v).isdigit()]

    (h, h_alts), (m, m_alts) = options(hours), options(minutes)
    want = reported.get(f.params["kind"], 0)
    if want in [a * 60 + m for a in h_alts] + [h * 60 + a for a in m_alts]:
        return replace(f, certain=False)
    return f


def validate(record: dict) -> dict:
    """The record through its form's pydantic model (types, ranges, personnummer), as JSON."""
    model = record_model(record["form"])
    return model.model_validate(record).model_dump(mode="json", by_alias=True, exclude_none=True)


def record_from_values(template: FormTemplate, values: Mapping[str, Value], *, document: str,
                       received: date | None = None, unreadable: Iterable[str] = (),
                       origin: Origin | None = None) -> dict:
    """A record from known values (a truth file, an electronic report, a test) as if every
    field were read surely; ``unreadable`` fields as ink that could not be read."""
    unreadable = set(unreadable)
    flat = {}
    for f in template.expanded_fields():
        v = values.get(f.id)
        status = "unreadable" if f.id in unreadable else ("empty" if v is None or v is False and
                                                          f.kind.value == "checkbox" else "ok")
        if status == "empty" and f.table is not None:
            continue
        flat[f.id] = field_value(f.kind, None if status == "unreadable" else v, 1.0, status, f.page, f.box)
    o = origin or Origin("values", "values", "0" * 64, received)
    record = {"document_id": document, "form": template.form, "version": template.version,
              "received_date": received.isoformat() if received else None,
              "source": {"batch": o.batch, "file": o.file, "file_sha256": o.file_sha256, "pages": []},
              "route": "review", "fields": nest(flat, template.form)}
    return assess(record)


def revalidate_invoices(store, keys: Iterable[tuple[str, str]]) -> None:
    """Check every stored 3057 of these (personnummer, month) against all the month's time
    reports now stored (``store``: a :class:`pipeline.store.Store`), and store the new route
    where it changed: at the end of a batch, and when an operator has decided a 3059."""
    for person, month in sorted(keys):
        reports = store.time_reports(person, month)
        for invoice in store.invoices(person, month):
            new = validate(assess(dict(invoice), reports))
            if (new["route"], new["reasons"], new["flags"], new.get("computed")) != \
                    (invoice["route"], invoice.get("reasons"), invoice.get("flags"), invoice.get("computed")):
                store.update_record(new, actor="pipeline", action="revalidated")
