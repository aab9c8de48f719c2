"""What a reader returns for one field: a value with its confidence, status and geometry.

Readers never return bare strings (as docTR's element tree): every reading says where it
came from (page, box in mm), how sure it is, what else it might be, and whether the field
was empty, readable, uncertain or ink that could not be read at all.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from pipeline.forms import FieldKind

Status = Literal["ok", "low_confidence", "unreadable", "empty"]
Value = str | bool | None


@dataclass(frozen=True)
class Reading:
    field_id: str
    kind: FieldKind
    page: int
    box_mm: tuple[float, float, float, float]
    value: Value  # canonical, as in the truth files (personnummer 12 digits, "HH.MM", bool …)
    confidence: float  # 0..1: the reader's estimate that value is right
    status: Status
    ink: bool  # was there any of the filler's ink in the field?
    alternatives: tuple[tuple[Value, float], ...] = ()  # other candidate values, best first
    raw: str | None = None  # what was read before normalising (OCR text, digit string)
    detail: dict = field(default_factory=dict)  # reader-specific measurements
