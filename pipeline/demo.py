"""``make demo``: the main job on the bundled samples.

The pipeline grows issue by issue; the demo runs the stages that exist and says where each
document went. Today: ingest, identify, orient, register and split each batch into
documents, then report every document with its pages, page problems and registration
quality, next to what the batch's ground truth says the route should be once the field
readers and FK's rules are in place.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Callable

from pipeline.config import DataDir
from pipeline.errors import InputFileError
from pipeline.evaluate import batch_files
from pipeline.forms import TemplateRegistry
from pipeline.pages import process_file


def run_demo(folder: Path, data: DataDir, echo: Callable[[str], None] = print) -> None:
    registry = TemplateRegistry.load()
    echo(f"templates: {', '.join(f'{t.form} {t.version_label}' for t in registry)}")
    echo(f"data directory: {data.root}")
    truths = sorted(folder.glob("*.truth.json"))
    if not truths:
        echo(f"no batches in {folder} (make samples writes them)")
        return
    for tf in truths:
        truth = json.loads(tf.read_text(encoding="utf-8"))
        expected = {tuple(sorted(d["pages"])): d for d in truth["documents"]}
        echo(f"\n{truth['batch']} ({', '.join(truth['files'])})")
        offset = 0
        for f in batch_files(tf):
            try:
                docs = list(process_file(f, registry))
            except InputFileError as e:
                echo(f"  {f.name}: refused: {e}")
                continue
            for d in docs:
                pages = [offset + r.index for r in d.pages.values()]
                problems = [p.text_en for p in d.problems]
                problems += [f"page {n}: {r.problem}" for n, r in sorted(d.pages.items()) if r.problem]
                regs = [r.registered.quality.rms_mm for r in d.pages.values() if r.registered is not None]
                reg = f"registered, RMS ≤ {max(regs):.2f} mm" if regs else "not registered"
                extra = f", {len(d.attachments)} attached page(s)" if d.attachments else ""
                exp = expected.get(tuple(sorted(pages)))
                want = f" — expected route {exp['expected_route']}" + (f" ({', '.join(exp['reasons'])})" if exp["reasons"] else "") if exp else ""
                echo(f"  document {d.index + 1}: {d.key}, pages {sorted(d.pages)}{extra}; {reg}"
                     + (f"; problems: {'; '.join(problems)}" if problems else "") + want)
            offset += sum(len(d.pages) + len(d.attachments) for d in docs)
    echo("\nStages run: ingest, identify, orient, register, split. Field reading, FK's rules and "
         "routing come next; the expected routes above are the ground truth they will be measured against.")
