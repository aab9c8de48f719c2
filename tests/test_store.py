"""The store on SQLite and on a real PostgreSQL server (``database_url``), and the outbox:
records, queues, re-routing, idempotency and exactly-once export."""

from __future__ import annotations

import json
from datetime import date

import numpy as np
import pytest
from lxml import etree

from pipeline.assess import assess, record_from_values, validate
from pipeline.config import DataDir
from pipeline.export import outbox
from pipeline.store import Store
from pipeline.synth.content import generate_documents

SHA = "ab" * 32


@pytest.fixture(scope="module")
def case(registry):
    """One monthly case (a 3057 and its 3059s), fault-free, as records."""
    docs = generate_documents(registry, np.random.default_rng(11), 12, fault_rate=0.0, styles=("typed",))
    case_id = next(d.case_id for d in docs if d.form == "3057")
    out = []
    for d in docs:
        if d.case_id == case_id:
            rec = record_from_values(registry.get(d.form, d.version), d.values, document=d.doc_id,
                                     received=date.fromisoformat(d.received_date))
            out.append(validate(rec))
    return out


@pytest.fixture
def store(database_url):
    s = Store(database_url)
    bid = s.begin_batch("b1", date(2025, 10, 3))
    assert s.begin_file(bid, "b1.pdf", SHA, date(2025, 10, 3)) is None
    yield s
    s.close()


def test_documents_are_stored_once_with_their_queues(store, case):
    inv = next(r for r in case if r["form"] == "3057")
    assert store.save_document(SHA, inv) is True
    assert store.save_document(SHA, inv) is False  # the same document again: nothing new
    assert store.has_document(inv["document_id"]) and store.record(inv["document_id"]) == inv
    counts = store.queue_counts()
    assert counts["documents"] == 1 and counts["routes"][inv["route"]] == 1
    # a 3059 missing the assistant's signature: one completion item with the sentence for the letter
    rep = json.loads(json.dumps(next(r for r in case if r["form"] == "3059")))
    rep["document_id"] = "missing-signature"
    rep["fields"]["assistent_underskrift"]["signatur"] |= {"read": False, "value": False}
    rep = validate(assess(rep))
    assert rep["route"] == "completion"
    store.save_document(SHA, rep)
    item, = store.open_completion_items("missing-signature")
    assert item["code"] == "missing_signature" and item["sv"] == "Assistentens underskrift saknas på sidan 3."
    assert store.queue_counts()["completion_items_open"] == 1


def test_review_tasks_and_rerouting(store, case):
    rep = json.loads(json.dumps(next(r for r in case if r["form"] == "3059")))
    fv = rep["fields"]["assistent"]["personnummer"]
    fv |= {"status": "low_confidence", "confidence": 0.5}
    rep = validate(assess(rep))
    assert rep["route"] == "review"
    store.save_document(SHA, rep)
    task, = store.open_review_tasks(rep["document_id"])
    assert task["field_id"] == "assistent.personnummer" and task["kind"] == "personnummer"
    # an operator confirms the reading: re-validated, routed to validation, the task closed
    rep["fields"]["assistent"]["personnummer"]["status"] = "confirmed"
    new = validate(assess(rep))
    assert store.update_record(new, actor="operator-1", action="field_confirmed") == ("review", "validation")
    assert store.open_review_tasks(rep["document_id"]) == []
    log = store.audit_log(rep["document_id"])
    assert [(a["actor"], a["action"]) for a in log] == [("pipeline", "routed"), ("operator-1", "routed"),
                                                        ("operator-1", "field_confirmed")]
    assert store.queue_counts()["routes"]["validation"] == 1


def test_time_reports_of_a_month_and_the_invoice_check(store, case):
    inv = next(r for r in case if r["form"] == "3057")
    reports = [r for r in case if r["form"] == "3059"]
    for r in reports:
        store.save_document(SHA, r)
    person = inv["fields"]["person"]["personnummer"]["read"]
    month = inv["fields"]["header"]["year_month"]["read"]
    stored = store.time_reports(person, month)
    assert sorted(r["document_id"] for r in stored) == sorted(r["document_id"] for r in reports)
    checked = validate(assess(json.loads(json.dumps(inv)), stored))
    assert checked["route"] == "validation" and checked["computed"]["time_reports"] == len(reports)
    assert not [f for f in checked["flags"] if f["code"] == "time_reports_missing"]
    # one report short: point 2 no longer adds up → the sender completes the invoice (with
    # no report at all, it waits for them with a flag)
    short = validate(assess(json.loads(json.dumps(inv)), stored[:-1]))
    if len(stored) > 1:
        assert short["route"] == "completion" and short["reasons"][0]["code"] == "totals_mismatch"
    else:
        assert [f["code"] for f in short["flags"]] == ["time_reports_missing"]


def test_export_is_exactly_once(store, case, tmp_path, shared_dir):
    data = DataDir.resolve(tmp_path / "data").ensure()
    for r in case:
        store.save_document(SHA, r)
    validated = [r for r in case if r["route"] == "validation"]
    assert validated
    first = outbox.export(store, data)
    assert first.records == len(validated) and len(first.files) == 1
    lines = first.files[0].read_text(encoding="utf-8").splitlines()
    assert sorted(json.loads(x)["document_id"] for x in lines) == sorted(r["document_id"] for r in validated)
    n3059 = sum(1 for r in validated if r["form"] == "3059")
    assert first.elt + len(first.elt_errors) == n3059
    schema = etree.XMLSchema(etree.parse(str(shared_dir / "reference" / "elt" / "tidredovisning_extern_v1.xsd")))
    for xml in (data.outbox / outbox.ELT_DIR).glob("*.xml"):
        schema.assertValid(etree.parse(str(xml)))
    # nothing new: nothing written
    assert outbox.export(store, data).records == 0
    # an export that died after marking its records but before writing its file is rewritten
    first.files[0].unlink()
    again = outbox.export(store, data)
    assert again.records == len(validated) and again.files[0].name == first.files[0].name
    assert store.queue_counts()["validation_not_exported"] == 0
