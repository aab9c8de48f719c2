"""Where a run keeps its state: one data directory.

Chosen by ``--data DIR``, else ``BLANKETT_DATA``, else ``./data``. Everything a run writes
(inbox, processing, archive, quarantine, outbox, crops, the SQLite store, Prefect's home)
lives below it, so personal data never leaves it. Created owner-only (0700).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

DATA_ENV = "BLANKETT_DATA"
DEFAULT_DATA_DIR = "./data"
SUBDIRS = ("inbox", "processing", "archive", "quarantine", "outbox", "crops")


@dataclass(frozen=True)
class DataDir:
    root: Path

    @classmethod
    def resolve(cls, cli_value: str | os.PathLike | None = None) -> "DataDir":
        value = cli_value or os.environ.get(DATA_ENV) or DEFAULT_DATA_DIR
        return cls(Path(value).expanduser().resolve())

    def ensure(self) -> "DataDir":
        """Create the directory tree, owner-only."""
        self.root.mkdir(parents=True, exist_ok=True)
        os.chmod(self.root, 0o700)
        for name in SUBDIRS:
            (self.root / name).mkdir(mode=0o700, exist_ok=True)
        return self

    def __getattr__(self, name: str) -> Path:
        if name in SUBDIRS:
            return self.root / name
        raise AttributeError(name)

    @property
    def database(self) -> Path:
        return self.root / "blankett.sqlite"
