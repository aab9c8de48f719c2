"""Stage 2d, split: consecutive pages of one form instance become one document.

A page joins the document before it when it is of the same form layout and that document
does not have its page number yet; otherwise it starts a new document. So a 3059 fed as
pages 1-2-3, or backwards 3-2-1, is one document, while two 3059s in a row are two.
Pages of no form (blank pages, letters, attachments) and pages that could not be read are
kept with the document they follow (or, at the start of a batch, the one they precede),
never dropped. Missing, duplicated and out-of-order pages are reported on the document.

The running headers of later pages (month, personnummer: each page's ``identity`` fields in
its template) are read with the page: a page whose header contradicts the document so far
starts a new document (two assistants' reports fed one after the other, one missing a page).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Generic, Sequence, TypeVar

from pipeline.identify import Identification

P = TypeVar("P")


@dataclass
class Problem:
    code: str  # missing_page | duplicate_page | page_order | unreadable_page | unregistered_page
    page: int | None
    text_sv: str
    text_en: str


@dataclass
class Document(Generic[P]):
    index: int  # 0-based position in the batch
    form: str | None
    version: str | None
    pages: dict[int, P] = field(default_factory=dict)  # page number → page result
    order: list[int] = field(default_factory=list)  # batch indexes of the form pages, as fed
    attachments: list[P] = field(default_factory=list)  # blank / other / unreadable pages
    problems: list[Problem] = field(default_factory=list)
    identity: dict[str, str] = field(default_factory=dict)  # month, personnummer read so far

    @property
    def key(self) -> str:
        return f"{self.form}/{self.version}" if self.form else "unidentified"


_PNR_KEYS = ("person_personnummer", "assistent_personnummer")


def _compare(doc_identity: dict[str, str], page_identity: dict[str, str]) -> tuple[bool, list[str]]:
    """(another document?, keys that disagree). Personnummer are Luhn-checked, so one that was
    read confidently and differs usually means another person: another document — unless
    another personnummer on the page agrees (a misread can pass Luhn by chance, one in ten
    for a wrong digit). A month that differs is taken for a misread, whether a personnummer
    agrees or none was read surely: a hand-written month is misread and accepted now and then
    (3 of 445 on the calibration check set), and splitting one document in two asks its
    sender for pages they sent (bench, session 6), where keeping the page with the mismatch
    reported has an operator look. Either way the page stays and the mismatch is reported."""
    differ = [k for k, v in page_identity.items() if k in doc_identity and doc_identity[k] != v]
    shared_pnr = [k for k in _PNR_KEYS if k in doc_identity and k in page_identity]
    pnr_agrees = any(k not in differ for k in shared_pnr)
    if any(k in differ for k in _PNR_KEYS) and not pnr_agrees:
        return True, differ
    return False, differ


class Splitter(Generic[P]):
    """Streaming grouping: feed pages in batch order with :meth:`add`; a document is handed
    back as soon as the next document starts (pages of no form that follow it are still
    attached to it), and the last one by :meth:`finish`. Only one document is held."""

    def __init__(self, page_counts: dict[str, int]):
        self.page_counts = page_counts
        self.count = 0
        self.cur: Document[P] | None = None
        self.pending: list[tuple[P, Identification]] = []  # non-form pages before the first document
        self.last_number = 0
        self.position = 0

    def _attach(self, doc: Document[P], page: P, ident: Identification) -> None:
        doc.attachments.append(page)
        if ident.kind == "unreadable":
            doc.problems.append(Problem("unreadable_page", None,
                                        f"En sida kunde inte läsas ({ident.reason}).",
                                        f"A page could not be read ({ident.reason})."))

    def _close(self, doc: Document[P]) -> Document[P]:
        if doc.form is not None:
            for n in range(1, self.page_counts.get(doc.key, 0) + 1):
                if n not in doc.pages:
                    doc.problems.append(Problem("missing_page", n, f"Sidan {n} saknas.", f"Page {n} is missing."))
        return doc

    def add(self, page: P, ident: Identification, identity: dict[str, str] | None = None) -> list[Document[P]]:
        """Feed the next page; ``identity`` holds what its identity fields were confidently
        read as (month, personnummer): a page whose identity contradicts the current
        document's starts a new document, even when its page number is still missing."""
        i, self.position = self.position, self.position + 1
        identity = identity or {}
        if ident.kind != "form":
            if self.cur is not None:
                self._attach(self.cur, page, ident)
            else:
                self.pending.append((page, ident))
            return []
        done: list[Document[P]] = []
        cur, n = self.cur, ident.page_number
        same = cur is not None and cur.form == ident.form and cur.version == ident.version
        clash, mismatch = _compare(cur.identity, identity) if same else (False, [])
        joins = same and n not in cur.pages and not clash
        if not joins:
            if same and not clash and n != 1 and len(cur.pages) < self.page_counts.get(cur.key, 0):
                # the same page again while the document still lacks others: a duplicate
                cur.problems.append(Problem("duplicate_page", n, f"Sidan {n} finns två gånger.",
                                            f"Page {n} appears twice."))
                cur.attachments.append(page)
                return []
            if cur is not None:
                done.append(self._close(cur))
            cur = self.cur = Document(index=self.count, form=ident.form, version=ident.version)
            self.count += 1
            for p, pid in self.pending:
                self._attach(cur, p, pid)
            self.pending.clear()
        elif n < self.last_number and not any(p.code == "page_order" for p in cur.problems):
            cur.problems.append(Problem("page_order", n, "Sidorna kom i fel ordning.",
                                        "The pages arrived out of order."))
        if joins and mismatch:  # compared with the document this page joins, not the one it ends
            cur.problems.append(Problem("header_mismatch", n,
                                        f"Sidan {n}: {', '.join(mismatch)} stämmer inte med resten av blanketten.",
                                        f"Page {n}: {', '.join(mismatch)} does not match the rest of the form."))
        cur.pages[n] = page
        cur.order.append(i)
        for k, v in identity.items():
            cur.identity.setdefault(k, v)
        self.last_number = n
        return done

    def finish(self) -> list[Document[P]]:
        done = []
        if self.cur is not None:
            done.append(self._close(self.cur))
            self.cur = None
        if self.pending:  # a batch with no form page at all: one unidentified document keeps them
            doc: Document[P] = Document(index=self.count, form=None, version=None)
            for p, pid in self.pending:
                self._attach(doc, p, pid)
            self.pending.clear()
            done.append(doc)
        return done


def split(pages: Sequence[P], idents: Sequence[Identification], page_counts: dict[str, int],
          identities: Sequence[dict[str, str]] | None = None) -> list[Document[P]]:
    """Group a whole batch's pages (in feed order) into documents; ``page_counts`` gives the
    number of pages of each layout (``"3059/016F003" → 3``) for the missing-page check."""
    s: Splitter[P] = Splitter(page_counts)
    docs: list[Document[P]] = []
    for i, (page, ident) in enumerate(zip(pages, idents)):
        docs += s.add(page, ident, identities[i] if identities else None)
    return docs + s.finish()
