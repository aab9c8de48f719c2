"""``make demo``: the main job on the bundled samples, with embedded defaults.

The samples are copied into the data directory's inbox and run through the Prefect batch
flow (``flows.run_batch``, Prefect's temporary local server: nothing to start), exactly as
``blankett process`` does. The demo then says, per document, what the pipeline made of it:
form and pages, page problems, and how its fields read (ok / low confidence / unreadable /
empty) — next to the route the batch's ground truth expects. Routing itself (validation,
review, completion) comes with records and FK's rules.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Callable

from pipeline.config import DataDir


def run_demo(folder: Path, data: DataDir, flows, echo: Callable[[str], None] = print) -> None:
    """``flows`` is the flows module, imported with Prefect's home under ``data``."""
    truths = sorted(folder.glob("*.truth.json"))
    if not truths:
        echo(f"no batches in {folder} (make samples writes them)")
        return
    echo(f"data directory: {data.root}")
    for tf in truths:
        truth = json.loads(tf.read_text(encoding="utf-8"))
        batch = data.inbox / truth["batch"]
        batch.mkdir(parents=True, exist_ok=True)
        for name in truth["files"]:
            shutil.copy2(folder / name, batch / name)
        run = flows.run_batch(batch, data)
        s = run.summary
        echo(f"\n{truth['batch']}: {s['pages']} pages, {s['documents']} documents, "
             f"{s['timings']['wall_s']} s")
        expected = truth["documents"]
        for row in s["table"]:
            i = row["document"] - 1
            exp = expected[i] if i < len(expected) else None
            want = ""
            if exp is not None and exp["form"] == row["form"].split("/")[0]:
                want = f" — expected route {exp['expected_route']}" + (f" ({', '.join(exp['reasons'])})" if exp["reasons"] else "")
            problems = f"; problems: {', '.join(row['problems'])}" if row["problems"] else ""
            echo(f"  document {row['document']}: {row['form']} pages {row['pages']}; fields ok {row['ok']}, "
                 f"low confidence {row['low_confidence']}, unreadable {row['unreadable']}, empty {row['empty']}"
                 f"{problems}{want}")
    echo("\nRouting to validation / review / completion comes with records and FK's rules (next issue); "
         "the expected routes above are the ground truth it will be measured against.")
