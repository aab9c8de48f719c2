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

Names are read together by whose they are (``names`` in the template: person.name by the
person's personnummer, the provider's name and its contact person each by its
organisationsnummer). Tesseract reads handwriting too loosely for a hand-written name to be
accepted on its own reading; but one number names one person, so a held name takes the name
accepted for the same number on another document (typed there, or decided by an operator)
when its own reading is close enough to be that name (defs.NAMES_MIN_SIMILARITY), and two
held readings of one person's name that say the same (case and spacing aside) are accepted:
Tesseract's misreadings of two handwritten copies are not alike. Accepted names that differ
decide nothing.

Earlier months count too: the same people send the same forms every month, so the store's
newest records of the batch's persons and assistants (by personnummer, ACROSS_EARLIER_MAX of
each) join their cases as partners — their accepted values (read with
confidence, or decided by an operator) confirm this month's doubtful copy of the same number;
they are never changed themselves. An assistant's own phone number, which no other document of
a month carries, is decided this way once an earlier month's copy of it was accepted.
"""

from __future__ import annotations

import copy
import difflib
import math
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


def _keyed_names(records: list[dict]) -> list[tuple[tuple[str, str, str], int, str, dict]]:
    """The records' name fields (``names`` in the template) whose number is accepted, each
    with whose it is: (the number's kind, its value, the role). A personnummer is one person
    whatever the role; an organisationsnummer's name and its contact person are two names."""
    out = []
    for i, rec in enumerate(records):
        template = template_of(rec)
        if template is None:
            continue
        flat = flatten(rec.get("fields", {}))
        for fid, key_id in template.names.items():
            fv, kv = flat.get(fid), flat.get(key_id)
            if fv is None or kv is None or kv["status"] not in ACCEPTED or kv.get("value") is None:
                continue
            role = "person" if kv["kind"] == FieldKind.personnummer.value else fid.rsplit(".", 1)[-1]
            out.append(((kv["kind"], str(kv["value"]), role), i, fid, fv))
    return out


def _name_groups(records: list[dict]) -> list[list[tuple[int, str, dict]]]:
    """The name fields of one person (or organisation) that more than one record holds."""
    groups: dict[tuple[str, str, str], list[tuple[int, str, dict]]] = {}
    for key, i, fid, fv in _keyed_names(records):
        groups.setdefault(key, []).append((i, fid, fv))
    return [g for g in groups.values() if len(g) > 1]


def _name(s: object) -> str:
    return " ".join(str(s).split()).casefold()


def _decide_names(records: list[dict], n: int) -> dict[tuple[int, str], tuple[str, float, list[str]]]:
    """The held names (of the first ``n`` records) that their group decides (see the
    module): (record, field) → (value, confidence, the fields that decided it)."""
    def ref(j: int, gid: str) -> str:
        return f"{records[j]['document_id']}:{gid}"

    decided = {}
    for members in _name_groups(records):
        for i, fid, fv in members:
            if i >= n or fv["status"] != HELD or not fv.get("read"):
                continue
            others = [(j, gid, gv) for j, gid, gv in members if (j, gid) != (i, fid)]
            anchors = [(j, gid, gv) for j, gid, gv in others if gv["status"] in ACCEPTED and gv.get("value")]
            if anchors:
                if len({_name(gv["value"]) for _, _, gv in anchors}) > 1:
                    continue  # the accepted names differ: an operator's to see
                value = anchors[0][2]["value"]
                if difflib.SequenceMatcher(None, _name(value), _name(fv["read"])).ratio() \
                        >= defs.NAMES_MIN_SIMILARITY:
                    decided[(i, fid)] = (value, min(gv["confidence"] for _, _, gv in anchors),
                                         [ref(j, gid) for j, gid, _ in anchors])
                continue
            same = [(j, gid, gv) for j, gid, gv in others
                    if j < n and gv["status"] == HELD and gv.get("read") and _name(gv["read"]) == _name(fv["read"])]
            if same:  # two readings that agree: both were misread alike, or neither was
                doubt = (1.0 - fv["confidence"]) * math.prod(1.0 - gv["confidence"] for _, _, gv in same)
                decided[(i, fid)] = (fv["read"], 1.0 - doubt, [ref(j, gid) for j, gid, _ in same])
    return decided


def name_readings(records: list[dict], document_id: str, field_id: str) -> list[tuple[str, bool]]:
    """What the other records give as the name ``field_id`` of record ``document_id`` (the same
    person or organisation, by its accepted number): each reading once (case and spacing
    aside), with whether it was accepted, accepted ones first. For an operator deciding it."""
    keyed = _keyed_names(records)
    mine = next((key for key, i, fid, _ in keyed if fid == field_id and records[i]["document_id"] == document_id), None)
    seen, out = set(), []
    for key, i, fid, fv in sorted(keyed, key=lambda k: k[3]["status"] not in ACCEPTED):
        if key != mine or (fid == field_id and records[i]["document_id"] == document_id) or not fv.get("read"):
            continue
        if _name(fv["read"]) not in seen:
            seen.add(_name(fv["read"]))
            out.append((fv["read"], fv["status"] in ACCEPTED))
    return out


def _candidates(fv: Mapping) -> dict:
    if fv["status"] in ("confirmed", "corrected"):  # an operator's decision is certain
        return {fv["read"]: 1.0} if fv.get("read") is not None else {}
    return candidates(fv.get("read"), fv["confidence"], fv.get("alternatives", []))


def agree_records(records: list[dict], earlier: list[dict] = ()) -> list[dict]:
    """Copies of the records whose held shared fields (by the case's other documents) or
    names (by the other documents of the same number) were decided, those fields accepted
    (not yet checked against the rules or routed again). ``earlier``: records of other
    batches (earlier ones, as a rule), partners only (their accepted values; never changed)."""
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
    for (i, fid), (value, confidence, refs) in _decide_names(records, n).items():
        rec = changed.setdefault(i, copy.deepcopy(records[i]))
        fv = flatten(rec["fields"])[fid]
        read = fv["read"]  # kept among the alternatives when the group's name replaces it
        fv.update(read=value, value=value, confidence=round(confidence, 4), status="ok", agreed_with=refs,
                  alternatives=[(read, fv["confidence"])] if read != value else [])
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
    """Agree the shared fields and names of a batch's stored records (``store``: a
    :class:`pipeline.store.Store`), check the changed records again and store their new
    route. Returns the changed records as stored (a 3059 among them: its invoices are for
    the caller to check again)."""
    document_ids = list(document_ids)
    records = [r for r in (store.record(d) for d in document_ids) if r is not None]
    held_names = any(fv["status"] == HELD for _, _, _, fv in _keyed_names(records))
    if not held_names and not any(fv["status"] == HELD for _, _, fv in _shared_fields(records, range(len(records)))):
        return []  # nothing to decide: the store's earlier records are not looked up
    out = []
    for rec in agree_records(records, earlier_records(store, records, exclude=document_ids)):
        key = report_key(rec) if rec["form"] == "3057" else None
        reports = store.time_reports(*key) if key else None
        new = validate(assess(rec, reports))
        store.update_record(new, actor="pipeline", action="agreed")
        out.append(new)
    return out
