"""``make demo``: the main job on the bundled samples, with embedded defaults.

The samples are copied into the data directory's inbox and run through the Prefect batch
flow (``flows.run_batch``, Prefect's temporary local server: nothing to start), exactly as
``blankett process`` does, with the day the post was received taken from the batch's truth
file (as a mailroom would type it). The demo then says, per document, where the pipeline
routed it (validation / review / completion) and why, next to the route the ground truth
expects; then the queues and the outbox. Run again, it finds every file already processed
(by content hash) and shows the stored records.
"""

from __future__ import annotations

import json
import shutil
from collections import Counter
from pathlib import Path
from typing import Callable

from pipeline.config import DataDir


def _why(record: dict) -> str:
    parts = [r["code"] + ("?" if not r["certain"] else "") for r in record.get("reasons", [])]
    counts = Counter(parts)
    text = ", ".join(f"{c} ×{n}" if n > 1 else c for c, n in counts.items())
    flags = ", ".join(f["code"] for f in record.get("flags", []))
    return (f" ({text})" if text else "") + (f" [flags: {flags}]" if flags else "")


def run_demo(folder: Path, data: DataDir, flows, echo: Callable[[str], None] = print) -> None:
    """``flows`` is the flows module, imported with Prefect's home under ``data``."""
    from pipeline.assess import document_id
    from pipeline.ingest import file_sha256
    from pipeline.store import Store

    truths = sorted(folder.glob("*.truth.json"))
    if not truths:
        echo(f"no batches in {folder} (make samples writes them)")
        return
    echo(f"data directory: {data.root}")
    agree = total = 0
    for tf in truths:
        truth = json.loads(tf.read_text(encoding="utf-8"))
        batch = data.inbox / truth["batch"]
        batch.mkdir(parents=True, exist_ok=True)
        for name in truth["files"]:
            shutil.copy2(folder / name, batch / name)
        received = max(d["received_date"] for d in truth["documents"])
        run = flows.run_batch(batch, data, received=received)
        s = run.summary
        skipped = [f for f in s["files"] if f.get("skipped")]
        echo(f"\n{truth['batch']}: {s['pages']} pages, {s['documents']} documents read, "
             f"{s['timings']['wall_s']} s" + (" (already processed: stored records below)" if skipped else ""))
        store = Store.open(data)
        sha = file_sha256(batch / truth["files"][0])
        for i, exp in enumerate(truth["documents"]):
            rec = store.record(document_id(sha, i))
            if rec is None:
                echo(f"  document {i + 1}: not stored")
                continue
            total += 1
            agree += rec["route"] == exp["expected_route"]
            pages = [p["page"] for p in rec["source"]["pages"]]
            echo(f"  document {i + 1}: {rec['form']}/{rec['version']} pages {pages} → {rec['route']}{_why(rec)}; "
                 f"expected {exp['expected_route']}" + (f" ({', '.join(exp['reasons'])})" if exp["reasons"] else ""))
        store.close()
    store = Store.open(data)
    counts = store.queue_counts()
    store.close()
    echo(f"\nRoutes equal to the expected route: {agree} of {total}. A document goes to review when any "
         "field's reading is below its kind's acceptance threshold, so the hand-written samples mostly do "
         "(docs/benchmarks.md).")
    echo(f"Queues: {counts['routes']}; open review tasks {counts['review_tasks_open']}, open completion items "
         f"{counts['completion_items_open']}. Outbox: {data.outbox}")
