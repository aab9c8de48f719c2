"""Why documents whose truth route is validation went elsewhere: the fields that held them.

    .venv/bin/python tools/held.py SET DATA [SET DATA ...] [--list]

SET is a folder of generated batches (``*.truth.json``), DATA the data directory a run of
``blankett process`` (or ``make bench``: /tmp/blankett-bench/set/<name> and
/tmp/blankett-bench/data/<run>) stored its records in. Prints, for the documents the truth
sends to validation but the pipeline did not, the fields held for an operator (status
``low_confidence`` or ``unreadable``) by kind and hand/print, how many documents a single
kind holds, and whether the held readings were right; ``--list`` prints every held field.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from pipeline.config import DataDir  # noqa: E402
from pipeline.evaluate import _page_files, _truth_value, records_by_first_page  # noqa: E402
from pipeline.forms import TemplateRegistry  # noqa: E402
from pipeline.record import flatten  # noqa: E402
from pipeline.route import REVIEW_STATUSES  # noqa: E402
from pipeline.store import Store  # noqa: E402
from pipeline.synth.content import is_handwritten  # noqa: E402


def held_documents(folder: Path, data: Path) -> list[dict]:
    """Per document of the folder whose truth route is validation: its route and held fields."""
    registry = TemplateRegistry.load()
    store = Store.open(DataDir(data), url=f"sqlite:///{data / 'blankett.sqlite'}")
    records = store.records()
    store.close()
    by_first_page = records_by_first_page(records)
    out = []
    for tp in sorted(folder.glob("*.truth.json")):
        truth = json.loads(tp.read_text(encoding="utf-8"))
        starts = _page_files(truth)
        for d in truth["documents"]:
            if d["expected_route"] != "validation":
                continue
            rec = by_first_page.get(starts[min(d["pages"])])
            template = registry.get(d["form"], d["version"])
            held = []
            for fid, fv in (flatten(rec["fields"]) if rec else {}).items():
                if fv["status"] not in REVIEW_STATUSES:
                    continue
                f = template.fields_by_id.get(fid)
                kind = fv["kind"]
                hand = is_handwritten(d["style"], fid, f.kind) if f is not None else None
                right = _truth_value(kind, d["values"].get(fid))
                read = _truth_value(kind, fv.get("read")) if isinstance(fv.get("read"), str) else fv.get("read")
                held.append({"field": fid, "kind": kind, "hand": hand, "status": fv["status"],
                             "confidence": fv["confidence"], "read": read, "truth": right,
                             "right": read == right})
            out.append({"batch": truth["batch"], "doc": d["doc_id"], "form": d["form"], "style": d["style"],
                        "route": rec["route"] if rec else None, "held": held})
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("pairs", nargs="+", type=Path, help="SET DATA [SET DATA ...]")
    ap.add_argument("--list", action="store_true", help="print every held field")
    args = ap.parse_args(argv)
    if len(args.pairs) % 2:
        ap.error("give SET DATA pairs")
    docs = []
    for folder, data in zip(args.pairs[::2], args.pairs[1::2]):
        docs += held_documents(folder, data)
    missed = [d for d in docs if d["route"] != "validation"]
    print(f"{len(docs)} documents with truth route validation, {len(docs) - len(missed)} routed there; "
          f"elsewhere: {dict(Counter(str(d['route']) for d in missed))}")
    label = lambda h: f"{h['kind']}/{'hand' if h['hand'] else 'print'}"  # noqa: E731
    by_kind = Counter(k for d in missed for k in {label(h) for h in d["held"]})
    single = Counter(next(iter({label(h) for h in d["held"]})) for d in missed
                     if len({label(h) for h in d["held"]}) == 1)
    fields = Counter(label(h) for d in missed for h in d["held"])
    right = Counter(label(h) for d in missed for h in d["held"] if h["right"])
    print(f"{'kind':24} {'docs':>5} {'alone':>6} {'fields':>7} {'right':>6}")
    for k, n in by_kind.most_common():
        print(f"{k:24} {n:5d} {single.get(k, 0):6d} {fields[k]:7d} {right.get(k, 0):6d}")
    print(f"no field held: {sum(1 for d in missed if not d['held'])}")
    if args.list:
        for d in missed:
            for h in d["held"]:
                print(f"{d['batch']} {d['doc']} {d['form']} {d['style']:6} {h['field']:32} {h['status']:15} "
                      f"{h['confidence']:.4f} read={h['read']!r} truth={h['truth']!r}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
