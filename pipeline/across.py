"""Stage 4b, across documents: a value written on several documents of one case, read together.

A provider's time reports of one month come in one envelope, with the invoice: each carries
the provider's phone number (``shared`` in the form's template: forms/*/*.yaml), written by
hand again each time and read on its own. Documents of a batch that share an accepted
personnummer of the person or organisationsnummer of the provider (``case_keys``) are one
case; within a case, a phone number held for review is read together with the case's other
phone fields that hold one of its candidate values (a product of experts,
:func:`pipeline.read.copies.consensus`, as for the running header's copies within a document)
and is accepted when that joint reading is decisive at the kind's threshold.

What keeps a different number from confirming a misreading: a partner must give the shared
value at least COPIES_MIN_SUPPORT, and the joint reading must reach the acceptance threshold
over all the copies' candidates — a reader's doubt between two digits stays a doubt unless
another copy decides it. Two numbers that truly differ (a direct line beside the switchboard)
leave both fields as read, for an operator. The accepted field names the fields that agreed
(``agreed_with``); the store's audit log records the change.

Runs at the end of a batch, on the batch's stored records, before the invoices are checked
against their time reports (:func:`pipeline.assess.revalidate_invoices`), and again when an
operator has decided a shared field (an operator's value counts as certain), so that the
case's other copies of that number follow it out of review.

Earlier months count too: the same people send the same forms every month, so the store's
newest records of the batch's persons and assistants (by personnummer, ACROSS_EARLIER_MAX of
each) join their cases as partners — their accepted values (read with
confidence, or decided by an operator) confirm this month's doubtful copy of the same number;
they are never changed themselves. An assistant's own phone number, which no other document of
a month carries, is decided this way once an earlier month's copy of it was accepted.
"""

from __future__ import annotations

import copy
from typing import Iterable, Mapping

from pipeline import defs
from pipeline.assess import assess, report_key, template_of, validate
from pipeline.forms import FieldKind
from pipeline.read.copies import candidates, consensus
from pipeline.record import flatten, typed_value

ACCEPTED = ("ok", "confirmed", "corrected")  # a value that can name a case or confirm another
HELD = "low_confidence"  # a value with candidates that an operator would otherwise check


def cases(records: list[Mapping]) -> list[list[int]]:
    """The records (indices) grouped into cases: connected by an accepted value of a case key."""
    parent = list(range(len(records)))

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    owner: dict[tuple[str, str], int] = {}
    for i, rec in enumerate(records):
        template = template_of(rec)
        if template is None:
            continue
        flat = flatten(rec.get("fields", {}))
        for fid in template.case_keys:
            fv = flat.get(fid)
            if fv is None or fv["status"] not in ACCEPTED or fv.get("value") is None:
                continue
            key = (fv["kind"], str(fv["value"]))
            j = owner.setdefault(key, i)
            parent[find(i)] = find(j)
    out: dict[int, list[int]] = {}
    for i in range(len(records)):
        out.setdefault(find(i), []).append(i)
    return list(out.values())


def _shared_fields(records: list[dict], members: Iterable[int]) -> list[tuple[int, str, dict]]:
    out = []
    for i in members:
        template = template_of(records[i])
        if template is None:
            continue
        flat = flatten(records[i].get("fields", {}))
        out += [(i, fid, flat[fid]) for fid in template.shared if fid in flat]
    return out


def _candidates(fv: Mapping) -> dict:
    if fv["status"] in ("confirmed", "corrected"):  # an operator's decision is certain
        return {fv["read"]: 1.0} if fv.get("read") is not None else {}
    return candidates(fv.get("read"), fv["confidence"], fv.get("alternatives", []))


def agree_records(records: list[dict], earlier: list[dict] = ()) -> list[dict]:
    """Copies of the records whose held shared fields the case's other documents decided,
    those fields accepted (not yet checked against the rules or routed again). ``earlier``:
    records of other batches (earlier ones, as a rule), partners only (their accepted values;
    never changed)."""
    n = len(records)
    records = list(records) + list(earlier)
    decided: dict[tuple[int, str], tuple] = {}
    for members in cases(records):
        fields = _shared_fields(records, members)
        for i, fid, fv in fields:
            if i >= n or fv["status"] != HELD:
                continue
            mine = _candidates(fv)
            partners = []
            for j, gid, gv in fields:
                usable = ACCEPTED if j >= n else ACCEPTED + (HELD,)
                if (j, gid) == (i, fid) or gv["kind"] != fv["kind"] or gv["status"] not in usable:
                    continue
                theirs = _candidates(gv)
                if any(p >= defs.COPIES_MIN_SUPPORT and theirs.get(v, 0.0) >= defs.COPIES_MIN_SUPPORT
                       for v, p in mine.items()):
                    partners.append((f"{records[j]['document_id']}:{gid}", theirs))
            if not mine or not partners:
                continue
            c = consensus([mine] + [t for _, t in partners])
            if c is None or c.share < defs.ACCEPT_CONFIDENCE.get(fv["kind"], defs.ACCEPT_CONFIDENCE_DEFAULT):
                continue  # not decisive: as read, for an operator
            decided[(i, fid)] = (c, [ref for ref, _ in partners])
    changed: dict[int, dict] = {}
    for (i, fid), (c, refs) in decided.items():
        rec = changed.setdefault(i, copy.deepcopy(records[i]))
        fv = flatten(rec["fields"])[fid]
        fv.update(read=c.value, value=typed_value(FieldKind(fv["kind"]), c.value), confidence=round(c.share, 4),
                  status="ok", alternatives=[(v, round(p, 4)) for v, p in c.alternatives], agreed_with=refs)
    return [changed[i] for i in sorted(changed)]


def earlier_records(store, records: list[Mapping], exclude: Iterable[str]) -> list[dict]:
    """The store's newest records (ACROSS_EARLIER_MAX of each) of the persons and assistants
    whose personnummer the records hold accepted, those of ``exclude`` left out."""
    keys: dict[str, set[str]] = {"person.personnummer": set(), "assistent.personnummer": set()}
    for rec in records:
        flat = flatten(rec.get("fields", {}))
        for fid, values in keys.items():
            fv = flat.get(fid)
            if fv is not None and fv["status"] in ACCEPTED and isinstance(fv.get("read"), str):
                values.add(fv["read"])
    return store.records_of(person=keys["person.personnummer"], assistent=keys["assistent.personnummer"],
                            exclude=exclude, limit=defs.ACROSS_EARLIER_MAX)


def agree_batch(store, document_ids: Iterable[str]) -> list[dict]:
    """Agree the shared fields of a batch's stored records (``store``: a
    :class:`pipeline.store.Store`), check the changed records again and store their new
    route. Returns the changed records as stored (a 3059 among them: its invoices are for
    the caller to check again)."""
    document_ids = list(document_ids)
    records = [r for r in (store.record(d) for d in document_ids) if r is not None]
    if not any(fv["status"] == HELD for _, _, fv in _shared_fields(records, range(len(records)))):
        return []  # nothing to decide: the store's earlier records are not looked up
    out = []
    for rec in agree_records(records, earlier_records(store, records, exclude=document_ids)):
        key = report_key(rec) if rec["form"] == "3057" else None
        reports = store.time_reports(*key) if key else None
        new = validate(assess(rec, reports))
        store.update_record(new, actor="pipeline", action="agreed")
        out.append(new)
    return out
