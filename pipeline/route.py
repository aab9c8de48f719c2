"""Stage 4c, route: every document goes to exactly one place.

- **validation**: complete, confident, and the rules pass or raise only flags;
- **review**: some field needs an operator's eye (a reading below its kind's acceptance
  threshold, ink that could not be read, a page problem), or a rule failed on a reading
  that is not certain — the operator confirms it first, then the document is routed again;
- **completion**: something only the sender can supply (a signature, a mandatory answer, a
  value unreadable even for the operator), resting on certain readings.

The sentences come from ``forms/messages.yaml``, filled with the template's field names.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Iterable, Mapping

import yaml

from pipeline.forms import FORMS_DIR, FormTemplate
from pipeline.record import Reason
from pipeline.rules import ROUTE_RANK, Finding, Route
from pipeline.split import Problem

MESSAGES = FORMS_DIR / "messages.yaml"
CERTAIN_STATUSES = frozenset({"ok", "empty", "confirmed", "corrected"})  # the reading can be acted on
REVIEW_STATUSES = frozenset({"low_confidence", "unreadable"})
SENDER_STATUSES = {"unreadable_confirmed": "unreadable_confirmed", "missing_confirmed": "missing_confirmed"}


@lru_cache(maxsize=4)
def messages(path: Path = MESSAGES) -> dict:
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def holds(record: Mapping) -> list[str]:
    """The flags of a record that hold it back from export (``hold: true`` in
    forms/messages.yaml): a 3057 whose point 2 still waits for its time reports' review."""
    msgs = messages()
    return [f["code"] for f in record.get("flags") or [] if msgs.get(f["code"], {}).get("hold")]


class _Blank(dict):
    def __missing__(self, key: str) -> str:
        return "?"


def _field_name(template: FormTemplate | None, fid: str, lang: str) -> str:
    if template is None:
        return fid
    f = template.fields_by_id.get(fid)
    if f is not None:
        name = f.name_sv if lang == "sv" else f.name_en
        return name or f.label or fid
    for g, _ in template.groups():
        if g.id == fid:
            return (g.name_sv if lang == "sv" else g.name_en) or fid
    return fid


def reason_of(f: Finding, template: FormTemplate | None, *, certain: bool = True) -> Reason:
    """A finding in words (Swedish and English), ready for the record and the letter. An
    uncertain one is worded for the operator who must confirm the reading first."""
    msgs = messages()
    if f.code not in msgs:
        raise KeyError(f"no message for reason code {f.code!r} in {MESSAGES}")
    about = f.params.get("group") or (f.fields[0] if f.fields else "")
    kind = msgs.get("kinds", {}).get(f.params.get("kind"), {})
    text = {}
    for lang in ("sv", "en"):
        p = _Blank(f.params, field=_field_name(template, about, lang), page=f.page if f.page is not None else "?")
        if kind:
            p[f"kind_{lang}"] = kind[lang]
            p[f"Kind_{lang}"] = kind[lang][:1].upper() + kind[lang][1:]
        text[lang] = msgs[f.code][lang].format_map(p)
        if not certain:
            p[f"reason_{lang}"] = text[lang].rstrip(".")
            text[lang] = msgs["uncertain"][lang].format_map(p)
    return Reason(code=f.code, to=msgs[f.code]["to"] if certain else "operator", certain=certain,
                  fields=list(f.fields), page=f.page, sv=text["sv"], en=text["en"])


def reading_findings(statuses: Mapping[str, str], pages: Mapping[str, int]) -> list[Finding]:
    """Fields an operator must look at (or that an operator already sent to the sender)."""
    out = []
    for fid, st in statuses.items():
        if st in REVIEW_STATUSES:
            out.append(Finding(st, "review", (fid,), pages.get(fid)))
        elif st in SENDER_STATUSES:
            out.append(Finding(SENDER_STATUSES[st], "completion", (fid,), pages.get(fid)))
    return out


def problem_findings(problems: Iterable[Problem], *, unknown_pages: bool) -> list[Finding]:
    """The splitter's page problems. A missing page is the sender's, unless the document
    came with pages that could not be identified (the page may be one of them)."""
    out = []
    for p in problems:
        if p.code == "missing_page" and not unknown_pages:
            out.append(Finding("missing_page", "completion", (), p.page))
        else:
            out.append(Finding("page_problem", "review", (), p.page,
                               {"text_sv": p.text_sv, "text_en": p.text_en, "problem": p.code}))
    return out


@dataclass
class Decision:
    route: Route
    reasons: list[Reason] = field(default_factory=list)
    flags: list[Reason] = field(default_factory=list)


def is_certain(f: Finding, statuses: Mapping[str, str]) -> bool:
    """A finding is certain when every field it rests on was read (or decided) surely; a
    field never read (its page missing or unregistered) is not."""
    return all(statuses.get(fid) in CERTAIN_STATUSES or statuses.get(fid) in SENDER_STATUSES
               for fid in f.fields)


def decide(template: FormTemplate | None, findings: Iterable[Finding], statuses: Mapping[str, str]) -> Decision:
    """The route of one document from its findings and the statuses of its readings."""
    route: Route = "validation"
    reasons: list[Reason] = []
    flags: list[Reason] = []
    seen: set[tuple] = set()
    for f in findings:
        key = (f.code, f.fields, f.page, tuple(sorted(f.params.items())))
        if key in seen:
            continue
        seen.add(key)
        if f.route is None:
            flags.append(reason_of(f, template))
            continue
        certain = f.route != "completion" or (f.certain if f.certain is not None else is_certain(f, statuses))
        r: Route = f.route if certain else "review"
        reasons.append(reason_of(f, template, certain=certain))
        if ROUTE_RANK[r] > ROUTE_RANK[route]:
            route = r
    return Decision(route, reasons, flags)

