"""The benchmark's scoring (pipeline/bench.py, pipeline/evaluate.record_outcomes): records set
against the truth of the committed samples, and the report's place in docs/benchmarks.md.
The benchmark itself runs by `make bench`, not here (it takes minutes)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from pipeline import bench
from pipeline.assess import record_from_values, validate
from pipeline.evaluate import FieldOutcome, confusion, field_summary, record_outcomes
from pipeline.forms import TemplateRegistry
from pipeline.record import flatten, nest

SAMPLES = Path(__file__).resolve().parent.parent / "samples"
BATCH = "batch-2026-001"


@pytest.fixture(scope="module")
def truth_records() -> tuple[dict, list[dict]]:
    """Records made from the truth's own values, placed on the truth's pages."""
    registry = TemplateRegistry.load()
    truth = json.loads((SAMPLES / f"{BATCH}.truth.json").read_text(encoding="utf-8"))
    records = []
    for d in truth["documents"]:
        rec = validate(record_from_values(registry.get(d["form"], d["version"]), d["values"],
                                          document=d["doc_id"], unreadable=d["illegible"]))
        rec["source"]["pages"] = [{"page": n + 1, "file": truth["files"][0], "index": i}
                                  for n, i in enumerate(d["pages"])]
        records.append(rec)
    return truth, records


@pytest.fixture()
def folder(tmp_path: Path) -> Path:
    shutil.copy(SAMPLES / f"{BATCH}.truth.json", tmp_path)
    return tmp_path


def test_records_made_from_the_truth_score_right(folder, truth_records):
    truth, records = truth_records
    docs = record_outcomes(folder, records)
    assert len(docs) == len(truth["documents"])
    assert [d.route for d in docs] == [r["route"] for r in records]
    wrong = [(d.doc_id, f.kind, f.truth, f.value) for d in docs for f in d.fields if not f.right]
    assert wrong == []
    s = field_summary([f for d in docs for f in d.fields])
    assert s["silent_error_rate"] == 0.0


def test_a_wrong_accepted_value_is_a_silent_error(folder, truth_records):
    truth, records = truth_records
    rec = json.loads(json.dumps(records[0]))
    flat = flatten(rec["fields"])
    fid = next(k for k, v in flat.items() if v["kind"] == "personnummer" and v["status"] == "ok")
    flat[fid]["read"] = "191212121212"
    rec["fields"] = nest(flat, rec["form"])
    docs = record_outcomes(folder, [rec] + records[1:])
    s = field_summary([f for d in docs for f in d.fields])
    assert s["by_kind"]["personnummer/typed" if docs[0].style == "typed" else "personnummer/hand"]["auto_wrong"] == 1
    assert s["silent_error_rate"] > 0


def test_a_document_without_record_is_counted_unread(folder, truth_records):
    _, records = truth_records
    docs = record_outcomes(folder, records[1:])
    assert docs[0].route is None
    assert {f.status for f in docs[0].fields} == {"not_read"}
    assert all(d.route is not None for d in docs[1:])


def test_checkbox_confusion_separates_misreads(folder, truth_records):
    _, records = truth_records
    rec = json.loads(json.dumps(records[0]))
    flat = flatten(rec["fields"])
    marked = [k for k, v in flat.items() if v["kind"] == "checkbox" and v.get("read") is True]
    assert marked, "the first sample document has a marked box"
    flat[marked[0]]["read"], flat[marked[0]]["status"] = None, "low_confidence"
    rec["fields"] = nest(flat, rec["form"])
    docs = record_outcomes(folder, [rec] + records[1:])
    table = confusion([f for f in docs[0].fields], "checkbox")
    assert table["marked"]["unsure"] == 1
    assert table["empty"]["marked"] == 0


def test_report_replaces_only_its_own_section(tmp_path: Path):
    md = tmp_path / "benchmarks.md"
    md.write_text("# Benchmarks\n\nHand-written notes.\n", encoding="utf-8")
    bench.write_markdown(md, f"{bench.MARK_START}\nfirst\n{bench.MARK_END}")
    bench.write_markdown(md, f"{bench.MARK_START}\nsecond\n{bench.MARK_END}")
    text = md.read_text(encoding="utf-8")
    assert "second" in text and "first" not in text
    assert text.count(bench.MARK_START) == 1 and "Hand-written notes." in text


def test_the_set_covers_issue_8s_axes():
    cells = bench.CELLS
    assert {c.dpi for c in cells} == {200, 300}
    assert {c.bitonal for c in cells} == {True, False}
    assert {"typed", "hand"} <= {s for c in cells for s in c.styles}
    assert any(c.real_forms for c in cells)
    assert all(c.dpi == 300 and c.bitonal for c in cells if c.speed)


def test_a_held_record_is_counted_apart(folder, truth_records):
    """A 3057 in validation that waits for its time reports is held back from export: the
    outcome says so, and an unheld one says nothing."""
    _, records = truth_records
    i = next(i for i, r in enumerate(records) if r["route"] == "validation")
    rec = json.loads(json.dumps(records[i]))
    rec["flags"] = list(rec.get("flags") or []) + [{"code": "time_reports_pending", "to": "handler", "certain": True,
                                                    "fields": [], "page": 1, "sv": "…", "en": "…"}]
    docs = record_outcomes(folder, records[:i] + [rec] + records[i + 1:])
    assert [d.held for d in docs if d.held] == [("time_reports_pending",)]
    assert docs[i].held and not any(d.held for j, d in enumerate(docs) if j != i)


def test_the_bound_on_routes_counts_documents_read_right(folder, truth_records):
    """A document whose fields were all read right counts towards the bound, whatever its
    route; one misread field takes it out (and a misread hand-written name only from the
    first column)."""
    _, records = truth_records
    docs = record_outcomes(folder, records)
    bound = bench.validation_bound(docs)
    valid = [d for d in docs if d.expected == "validation"]
    assert sum(b["documents"] for b in bound.values()) == len(valid)
    assert all(b["all_right"] == b["all_right_but_hand_text"] == b["documents"] for b in bound.values())
    assert sum(b["routed"] for b in bound.values()) == sum(d.route == "validation" for d in valid)

    d = valid[0]
    rec = json.loads(json.dumps(next(r for r in records if r["document_id"] == d.doc_id)))
    flat = flatten(rec["fields"])
    fid = next(k for k, v in flat.items() if v["kind"] == "personnummer" and v.get("read"))
    flat[fid]["read"] = "191212121212"
    rec["fields"] = nest(flat, rec["form"])
    again = bench.validation_bound(record_outcomes(folder, [rec if r["document_id"] == d.doc_id else r
                                                            for r in records]))
    assert again[d.style]["all_right"] == bound[d.style]["all_right"] - 1
    assert again[d.style]["all_right_but_hand_text"] == bound[d.style]["all_right_but_hand_text"] - 1

    name = FieldOutcome("text", True, "Anna Berg", "Amna Berg", "low_confidence", 0.8, False, False)
    d.fields.append(name)  # a hand-written name misread on the first document
    named = bench.validation_bound(docs)
    assert named[d.style]["all_right"] == bound[d.style]["all_right"] - 1
    assert named[d.style]["all_right_but_hand_text"] == bound[d.style]["all_right_but_hand_text"]
