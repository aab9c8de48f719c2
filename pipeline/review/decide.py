"""What an operator's decision does: plain functions over records and the store, testable
without a browser.

A review task is one field an operator must decide (or a page problem to acknowledge). The
decisions, and the field status each leaves on the record (``pipeline.record``):

- **accept** the reading as it is → ``confirmed``;
- **correct** it with a typed value (parsed as the pipeline parses readings, so the record
  holds the same canonical form) → ``corrected``;
- **unreadable**: the writing cannot be read even by a person → ``unreadable_confirmed``;
- **missing**: nothing was written where something should be → ``missing_confirmed``;
  both send the document to the completion queue with that reason for the letter;
- **acknowledge** a page problem (the pages are fine as they are): the problem leaves the
  record (the audit log keeps it).

Every decision is written to the audit log (operator, time, before, after; a personnummer
masked). When a document's last open task is decided, it is re-validated and routed at once
(:func:`finish_document`); a 3059's invoices of the same person and month are re-checked,
and a 3057 is checked against its month's time reports. A phone number the case's documents
share, or a name, once accepted or corrected, decides the batch's other held copies of it
(:func:`pipeline.across.agree_batch`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import date
from typing import Iterable

from pipeline import defs
from pipeline.across import agree_batch
from pipeline.assess import assess, report_key, revalidate_invoices, template_of, validate
from pipeline.errors import BlankettError
from pipeline.forms import FieldKind
from pipeline.ids import mask_personnummer
from pipeline.read.parse import normalise
from pipeline.record import flatten, typed_value
from pipeline.route import _field_name
from pipeline.store import Store

ACTIONS = ("accept", "correct", "unreadable", "missing", "acknowledge")
# A task's decision as stored (review_tasks.decision) and logged (audit action field_<decision>).
DECISIONS = {"accept": "accepted", "correct": "corrected", "unreadable": "unreadable", "missing": "missing",
             "acknowledge": "acknowledged"}
STATUS_AFTER = {"accept": "confirmed", "correct": "corrected", "unreadable": "unreadable_confirmed",
                "missing": "missing_confirmed"}
# Numbers an operator may confirm as written although the rules refuse them (a wrong check
# digit on the paper): the document then goes to the sender for the right one
# (rules.identity_findings).
IDENTITY_KINDS = frozenset({FieldKind.personnummer.value, FieldKind.organisationsnummer.value})
MARK_KINDS = frozenset({FieldKind.checkbox.value, FieldKind.signature.value})
# What an operator types for a box or a signature: marked / present, or not.
MARK_YES = frozenset({"x", "1", "j", "ja", "y", "yes", "true", "sant"})
MARK_NO = frozenset({"", "0", "-", "n", "nej", "no", "false", "falskt"})


class DecisionRefused(BlankettError):
    """An operator's decision that cannot be taken; ``code`` names the UI message."""

    def __init__(self, code: str, **params):
        self.code, self.params = code, params
        super().__init__(code)


def shown_value(kind: str, read) -> str:
    """A reading as the operator sees and types it."""
    if kind in MARK_KINDS:
        return "x" if read is True else "" if read is False else ""
    return "" if read is None else str(read)


def audit_text(kind: str, status: str, read) -> str:
    """A field as the audit log keeps it: status and reading, a personnummer masked."""
    v = shown_value(kind, read) if kind in MARK_KINDS else ("" if read is None else str(read))
    if kind == FieldKind.personnummer.value and v:
        v = mask_personnummer(v)
    return f"{status}: {v}" if v else status


def operator_value(kind: str, text: str, *, month: str | None = None, received: date | None = None):
    """The canonical value of what an operator typed, or :class:`DecisionRefused`."""
    t = text.strip()
    if kind in MARK_KINDS:
        if t.lower() in MARK_YES:
            return True
        if t.lower() in MARK_NO:
            return False
        raise DecisionRefused("invalid_mark")
    if not t:
        raise DecisionRefused("empty_value")
    # a date as the paper has it, however far from the month (a sender's slip is the rules'
    # business); the month's window only keeps the readers from misread years
    v = normalise(FieldKind(kind), t, month=None if kind == FieldKind.date.value else month, reference=received)
    if v is None:
        raise DecisionRefused("invalid_value", kind=kind)
    return v


def _month(flat: dict[str, dict]) -> str | None:
    v = flat.get("header.year_month", {}).get("read")
    return v if isinstance(v, str) else None


def apply_decision(record: dict, task: dict, action: str, text: str = "") -> dict:
    """Apply one decision to a record (in place, re-validated through its model). Returns
    ``{"decision", "field_id", "before", "after"}`` for the task and the audit log."""
    if action not in ACTIONS:
        raise DecisionRefused("unknown_action")
    fid = task["field_id"]
    if fid is None:
        return _document_decision(record, task, action)
    flat = flatten(record.get("fields", {}))
    fv = flat.get(fid)
    if fv is None or action == "acknowledge":
        raise DecisionRefused("not_decidable")
    kind = fv["kind"]
    before = audit_text(kind, fv["status"], fv.get("read"))
    if action == "correct":
        received = date.fromisoformat(record["received_date"]) if record.get("received_date") else None
        new = operator_value(kind, text, month=_month(flat), received=received)
        if new == fv.get("read") and fv["status"] not in ("unreadable", "empty"):
            action = "accept"  # typed what was read: the reading is confirmed
        else:
            fv.update(read=new, value=typed_value(FieldKind(kind), new), confidence=1.0)
    if action == "accept":
        read = fv.get("read")
        if (read is not None and kind not in MARK_KINDS and typed_value(FieldKind(kind), read) is None
                and not (kind in IDENTITY_KINDS and str(read).isdigit())):
            raise DecisionRefused("accept_invalid")
        if read is None and fv["status"] != "empty":
            raise DecisionRefused("nothing_to_accept")
    if action == "missing":
        fv.update(read=None, value=None)
    elif action == "unreadable":
        fv["value"] = None
    fv["status"] = STATUS_AFTER[action]
    record.update(validate(record))
    return {"decision": DECISIONS[action], "field_id": fid, "before": before,
            "after": audit_text(kind, fv["status"], fv.get("read"))}


def _document_decision(record: dict, task: dict, action: str) -> dict:
    """A page problem acknowledged: the problems an operator was asked about leave the record."""
    if task["reason"] != "page_problem" or action != "acknowledge":
        raise DecisionRefused("not_decidable")
    source = record["source"]
    sender_only = source.get("unknown_pages", 0) == 0
    kept, dropped = [], []
    for p in source.get("problems", []):
        (kept if p["code"] == "missing_page" and sender_only else dropped).append(p)
    source["problems"] = kept
    return {"decision": "acknowledged", "field_id": None,
            "before": "; ".join(f"{p['code']} (page {p.get('page')})" for p in dropped) or None, "after": None}


@dataclass
class Outcome:
    document_id: str
    decision: str
    route: str | None  # where the document went, when this was its last open task


def decide(store: Store, task_id: int, operator: str, action: str, text: str = "") -> Outcome | None:
    """Decide one task as ``operator``; None when it was already decided (by someone else).
    The document is re-validated and routed when no task of it is left open."""
    keys: set[tuple[str, str]] = set()

    def apply(record: dict, task: dict) -> dict:
        if record.get("form") == "3059" and (k := report_key(record)):
            keys.add(k)  # its invoices are re-checked, also under the key it had before
        return apply_decision(record, task, action, text)

    change = store.decide_task(task_id, operator, apply)
    if change is None:
        return None
    route = finish_document(store, change["document_id"], operator, keys) if change["open_left"] == 0 else None
    if action in ("accept", "correct") and _shared(store.record(change["document_id"]), change["field_id"]):
        # the case's other copies follow; the time reports among them, their invoices too
        agreed = agree_batch(store, store.batch_documents(change["document_id"]))
        revalidate_invoices(store, {k for r in agreed if r["form"] == "3059" and (k := report_key(r))})
        route = store.record(change["document_id"])["route"] if route is not None else None
    return Outcome(change["document_id"], change["decision"], route)


def _shared(record: dict | None, field_id: str | None) -> bool:
    """Is this a field the case's other documents carry too (``shared`` or ``names`` in the
    template)?"""
    template = template_of(record) if record else None
    return template is not None and (field_id in template.shared or field_id in template.names)


def finish_document(store: Store, document_id: str, actor: str,
                    keys: Iterable[tuple[str, str]] = ()) -> str:
    """Re-validate a document whose review is done and store its new route; then re-check
    the invoices its time report belongs to. Returns the route."""
    record = store.record(document_id)
    key = report_key(record) if record.get("form") in ("3057", "3059") else None
    reports = store.time_reports(*key) if key and record["form"] == "3057" else None
    new = validate(assess(dict(record), reports))
    _, route = store.update_record(new, actor=actor, action="reviewed")
    if record.get("form") == "3059":
        revalidate_invoices(store, set(keys) | ({key} if key else set()))
    return route


def finish_stranded(store: Store) -> list[str]:
    """Documents in review with no open task (a re-validation that did not finish): routed now."""
    return [d for d in store.review_documents_without_tasks() if finish_document(store, d, "pipeline")]


# --- what a task page shows ----------------------------------------------------------------------

def field_name(record: dict, field_id: str, lang: str) -> str:
    return _field_name(template_of(record), field_id, lang)


def neighbours(record: dict, field_id: str, n: int) -> list[tuple[str, dict]]:
    """The ``n`` fields of the same page nearest to a field (box centres, vertical distance
    weighted by ``defs.REVIEW_NEIGHBOUR_Y_WEIGHT``), nearest first."""
    flat = flatten(record.get("fields", {}))
    me = flat.get(field_id)
    if me is None:
        return []

    def centre(fv: dict) -> tuple[float, float]:
        x, y, w, h = fv["box_mm"]
        return x + w / 2, y + h / 2

    cx, cy = centre(me)
    w = defs.REVIEW_NEIGHBOUR_Y_WEIGHT
    near = [(math.hypot(centre(fv)[0] - cx, w * (centre(fv)[1] - cy)), fid, fv) for fid, fv in flat.items()
            if fid != field_id and fv["page"] == me["page"]]
    return [(fid, fv) for _, fid, fv in sorted(near, key=lambda t: (t[0], t[1]))[:n]]
