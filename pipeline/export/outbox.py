"""The outbox: records that reached validation, as JSON lines, and each 3059 also as ELT XML.

``<data>/outbox/records-<UTC time>.jsonl`` holds one record per line (the JSON of
:mod:`pipeline.record`); ``<data>/outbox/elt/<document id>.xml`` is FK's ``Tidredovisning``
of a 3059 (:mod:`pipeline.export.elt`). Exactly once: the records are first marked in the
store with the export's name, then the file is written (a temporary name, then renamed); an
export that died between the two is rewritten by the next one from the records marked with
its name, so no record is lost or written twice. A validated record that carries a holding
flag (:func:`pipeline.route.holds`: a 3057 whose time reports are still in review) waits
until a re-check clears the flag.
"""

from __future__ import annotations

import json
import os
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from pipeline.config import DataDir
from pipeline.route import holds
from pipeline.store import Store

ELT_DIR = "elt"
# A stable namespace for the ELT document ids: the same record always gets the same UUID.
ELT_UUID_NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, "https://github.com/blankett/blankett/elt")


@dataclass
class ExportResult:
    files: list[Path] = field(default_factory=list)
    records: int = 0
    elt: int = 0
    elt_errors: dict[str, str] = field(default_factory=dict)  # document id → why no XML
    held: int = 0  # validated records held back by a flag (pipeline.route.holds)


def _write_atomic(path: Path, data: bytes) -> None:
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def _write_elt(data: DataDir, record: dict, result: ExportResult) -> None:
    from pipeline.assess import values_of
    from pipeline.export.elt import tidredovisning_xml

    out = data.outbox / ELT_DIR
    out.mkdir(mode=0o700, exist_ok=True)
    doc_id = record["document_id"]
    try:
        xml = tidredovisning_xml(values_of(record)[0], doc_id=uuid.uuid5(ELT_UUID_NAMESPACE, doc_id))
    except ValueError as e:  # a row FK's schema cannot hold: the JSON record still goes out
        result.elt_errors[doc_id] = str(e)
        return
    _write_atomic(out / f"{doc_id}.xml", xml)
    result.elt += 1


def _write(data: DataDir, name: str, records: list[dict], result: ExportResult) -> None:
    lines = "".join(json.dumps(r, ensure_ascii=False, sort_keys=True) + "\n" for r in records)
    path = data.outbox / f"{name}.jsonl"
    _write_atomic(path, lines.encode("utf-8"))
    result.files.append(path)
    result.records += len(records)
    for r in records:
        if r.get("form") == "3059":
            _write_elt(data, r, result)


def export(store: Store, data: DataDir) -> ExportResult:
    """Write every validated record not yet exported and not held (and finish an export that
    died)."""
    data.outbox.mkdir(mode=0o700, parents=True, exist_ok=True)
    result = ExportResult()
    for name in store.export_names():
        if not (data.outbox / f"{name}.jsonl").exists():
            _write(data, name, store.exported_records(name), result)
    waiting = store.pending_export()
    pending = [r for r in waiting if not holds(r)]
    result.held = len(waiting) - len(pending)
    if pending:
        name = "records-" + datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S%fZ")
        store.mark_exported([r["document_id"] for r in pending], name)
        _write(data, name, pending, result)
    return result
