"""Retention: the images of finished documents are deleted after a number of days.

Every read document leaves, under ``<data>/crops/<document id>/``, a crop of each field with
ink and a 72 dpi image of each page: personal data in pictures, needed while an operator may
still look at the document. Once a document is *finished* — exported to FK, or sent back to
the sender for completion, with no review task open — and has not changed for
:data:`pipeline.defs.RETENTION_DAYS` days (``BLANKETT_RETENTION_DAYS``, ``blankett retention
--days N``), its crop folder is deleted and the deletion written to the store's audit log.
The record keeps every value; documents in review and validated documents not yet exported
keep their images. The nightly sweep applies it after each sweep.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone

from pipeline import defs
from pipeline.config import DataDir
from pipeline.errors import SettingError
from pipeline.store import Store, finished_documents

RETENTION_ENV = "BLANKETT_RETENTION_DAYS"


def retention_days(value: int | str | None = None) -> int:
    """The retention in days: ``value`` (the command's ``--days``), else
    ``$BLANKETT_RETENTION_DAYS``, else :data:`pipeline.defs.RETENTION_DAYS`."""
    raw = value if value is not None else os.environ.get(RETENTION_ENV) or defs.RETENTION_DAYS
    try:
        days = int(str(raw).strip())
    except ValueError:
        days = -1
    if days < 0:
        raise SettingError(f"retention {raw!r} (--days or {RETENTION_ENV}): expected a whole number "
                           "of days, 0 or more")
    return days


@dataclass
class RetentionReport:
    days: int
    cutoff: datetime  # documents finished and unchanged since before this lost their images
    deleted: list[str] = field(default_factory=list)  # document ids whose crops were deleted
    files: int = 0
    bytes: int = 0


def apply_retention(store: Store, data: DataDir, days: int, now: datetime | None = None) -> RetentionReport:
    """Delete the crop folders of documents finished more than ``days`` days before ``now``."""
    now = now or datetime.now(timezone.utc)
    report = RetentionReport(days, now - timedelta(days=days))
    crops = data.crops.resolve()
    for doc_id in finished_documents(store, report.cutoff):
        folder = data.crops / doc_id
        if not folder.is_dir() or folder.is_symlink() or folder.resolve().parent != crops:
            continue  # nothing left to delete, or an id that is not a plain folder name here
        files = [p for p in folder.rglob("*") if p.is_file()]
        size = sum(p.stat().st_size for p in files)
        shutil.rmtree(folder)
        report.deleted.append(doc_id)
        report.files += len(files)
        report.bytes += size
        store.audit("retention", "crops_deleted", document_id=doc_id,
                    after=f"{len(files)} image(s) older than {days} days")
    return report
