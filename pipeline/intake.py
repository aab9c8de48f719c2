"""A batch: one or more files from the scanner. Each file goes through the page pipeline; a
file that cannot be opened at all is moved to ``quarantine/`` with a reason file next to it,
and the batch goes on with the next file."""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass, field
from datetime import date, datetime, timezone
from pathlib import Path
from typing import Iterator

from pipeline.config import DataDir
from pipeline.errors import InputFileError
from pipeline.forms import TemplateRegistry
from pipeline.ingest import file_sha256
from pipeline.pages import PageResult, process_file
from pipeline.split import Document

# File names a scanner never delivers as pages: our own reason files, truth files, hidden files.
IGNORED_SUFFIXES = (".json", ".txt", ".md")


@dataclass
class Quarantined:
    file: Path  # where it is now
    original: Path
    reason: str


@dataclass
class FileOutcome:
    path: Path
    documents: list[Document[PageResult]] = field(default_factory=list)
    quarantined: Quarantined | None = None


def batch_paths(path: Path) -> list[Path]:
    """The files of a batch: the file itself, or a folder's files in name order."""
    if path.is_dir():
        return sorted(p for p in path.iterdir()
                      if p.is_file() and not p.name.startswith(".") and p.suffix.lower() not in IGNORED_SUFFIXES)
    return [path]


def received_date(path: Path) -> date:
    """When FK received a file's post, when no one says: the day (local time) the scanner
    wrote the file (its modification time; moves within the data directory keep it)."""
    return datetime.fromtimestamp(path.stat().st_mtime).date()


def quarantine(path: Path, data: DataDir, reason: str) -> Quarantined:
    """Move ``path`` into quarantine/ (never overwriting) with ``<name>.reason.json`` beside it."""
    data.ensure()
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S")
    dest = data.quarantine / f"{stamp}-{path.name}"
    n = 1
    while dest.exists():
        dest = data.quarantine / f"{stamp}-{n}-{path.name}"
        n += 1
    try:
        digest = file_sha256(path)
    except OSError:  # unreadable is one of the reasons a file lands here
        digest = None
    info = {"file": path.name, "original": str(path), "reason": reason, "sha256": digest,
            "quarantined_at": datetime.now(timezone.utc).isoformat(timespec="seconds")}
    shutil.move(str(path), dest)  # a rename on the same file system
    dest.with_name(dest.name + ".reason.json").write_text(json.dumps(info, ensure_ascii=False, indent=1), encoding="utf-8")
    return Quarantined(dest, path, reason)


def process_batch(path: Path, registry: TemplateRegistry, data: DataDir) -> Iterator[FileOutcome]:
    """Every file of a batch through the page pipeline; unusable files quarantined."""
    for f in batch_paths(path):
        try:
            docs = list(process_file(f, registry, received_date(f)))
        except InputFileError as e:
            yield FileOutcome(f, quarantined=quarantine(f, data, str(e)))
            continue
        yield FileOutcome(f, docs)
