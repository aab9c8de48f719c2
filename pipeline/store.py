"""Stage 5, store: batches, files, pages, documents, fields, routes, queues and the audit log.

SQLAlchemy 2.0 over SQLite under the data directory by default (WAL, so the review UI reads
while a batch writes), or any database by URL: ``BLANKETT_DATABASE_URL`` (PostgreSQL:
``postgresql+psycopg://user@host/db``). The flow's main thread is the only writer of a run.

Idempotency: a file is known by its content hash; a file stored as ``done`` yields nothing
new when seen again, and a document is keyed by its file hash and first page, so a run that
died half-way is resumed by the next without duplicates (stored documents are skipped,
the others read) and without losses (a file is ``done`` only after its last document).

The record of a document (``pipeline.record``) is kept whole as JSON; the tables beside it
(fields, review tasks, completion items) are what queues and the review UI query.
"""

from __future__ import annotations

import os
from contextlib import contextmanager
from datetime import date, datetime, timezone
from typing import Any, Iterable, Iterator

from sqlalchemy import (
    JSON,
    Boolean,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Integer,
    String,
    Text,
    UniqueConstraint,
    create_engine,
    event,
    func,
    select,
)
from sqlalchemy.engine import Engine
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column, relationship, sessionmaker

from pipeline.config import DataDir
from pipeline.record import flatten
from pipeline.route import holds

DATABASE_URL_ENV = "BLANKETT_DATABASE_URL"
# SQLite waits this long (ms) for another connection's write lock (the review UI and a batch
# run write at the same time only briefly).
SQLITE_BUSY_TIMEOUT_MS = 30_000


def now() -> datetime:
    return datetime.now(timezone.utc)


class Base(DeclarativeBase):
    type_annotation_map = {dict[str, Any]: JSON, list[Any]: JSON}


class Batch(Base):
    __tablename__ = "batches"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    received_date: Mapped[date | None] = mapped_column(Date)
    started_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=now)
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    summary: Mapped[dict[str, Any] | None] = mapped_column(JSON)


class File(Base):
    __tablename__ = "files"
    id: Mapped[int] = mapped_column(primary_key=True)
    sha256: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(500))
    batch_id: Mapped[int] = mapped_column(ForeignKey("batches.id"))
    received_date: Mapped[date | None] = mapped_column(Date)
    status: Mapped[str] = mapped_column(String(20))  # processing | done | refused
    reason: Mapped[str | None] = mapped_column(Text)  # why refused
    pages: Mapped[int] = mapped_column(Integer, default=0)
    documents: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=now)
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class Page(Base):
    __tablename__ = "pages"
    __table_args__ = (UniqueConstraint("file_id", "index"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    file_id: Mapped[int] = mapped_column(ForeignKey("files.id"))
    index: Mapped[int] = mapped_column(Integer)  # 0-based in the file
    document_id: Mapped[str | None] = mapped_column(ForeignKey("documents.id"))
    kind: Mapped[str] = mapped_column(String(20))  # form | blank | other | unreadable
    form: Mapped[str | None] = mapped_column(String(4))
    version: Mapped[str | None] = mapped_column(String(10))
    page_number: Mapped[int | None] = mapped_column(Integer)
    problem: Mapped[str | None] = mapped_column(Text)


class Document(Base):
    __tablename__ = "documents"
    id: Mapped[str] = mapped_column(String(40), primary_key=True)  # <file sha256[:16]>-<first page>
    file_id: Mapped[int] = mapped_column(ForeignKey("files.id"))
    form: Mapped[str | None] = mapped_column(String(4), index=True)
    version: Mapped[str | None] = mapped_column(String(10))
    month: Mapped[str | None] = mapped_column(String(7))  # YYYY-MM of the assistance
    person_personnummer: Mapped[str | None] = mapped_column(String(12), index=True)
    assistent_personnummer: Mapped[str | None] = mapped_column(String(12), index=True)
    route: Mapped[str] = mapped_column(String(20), index=True)
    record: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=now)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=now)
    exported_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    export_name: Mapped[str | None] = mapped_column(String(200))
    fields: Mapped[list["FieldRow"]] = relationship(back_populates="document", cascade="all, delete-orphan")


class FieldRow(Base):
    __tablename__ = "fields"
    __table_args__ = (UniqueConstraint("document_id", "field_id"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    document_id: Mapped[str] = mapped_column(ForeignKey("documents.id"))
    field_id: Mapped[str] = mapped_column(String(100))
    kind: Mapped[str] = mapped_column(String(30))
    page: Mapped[int] = mapped_column(Integer)
    value: Mapped[str | None] = mapped_column(Text)  # canonical reading as text ("true"/"false" for marks)
    confidence: Mapped[float] = mapped_column(Float)
    status: Mapped[str] = mapped_column(String(30))
    crop: Mapped[str | None] = mapped_column(String(300))
    document: Mapped[Document] = relationship(back_populates="fields")


class RouteRow(Base):
    """Every routing decision of a document, oldest first (the last one is current)."""

    __tablename__ = "routes"
    id: Mapped[int] = mapped_column(primary_key=True)
    document_id: Mapped[str] = mapped_column(ForeignKey("documents.id"), index=True)
    route: Mapped[str] = mapped_column(String(20))
    reasons: Mapped[list[Any]] = mapped_column(JSON)
    decided_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=now)
    decided_by: Mapped[str] = mapped_column(String(100))  # "pipeline" or an operator


class ReviewTask(Base):
    __tablename__ = "review_tasks"
    id: Mapped[int] = mapped_column(primary_key=True)
    document_id: Mapped[str] = mapped_column(ForeignKey("documents.id"), index=True)
    field_id: Mapped[str | None] = mapped_column(String(100))  # None: a page or document problem
    kind: Mapped[str | None] = mapped_column(String(30))
    reason: Mapped[str] = mapped_column(String(50))
    open: Mapped[bool] = mapped_column(Boolean, default=True, index=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=now)
    decided_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    decided_by: Mapped[str | None] = mapped_column(String(100))
    decision: Mapped[str | None] = mapped_column(String(30))  # accepted | corrected | unreadable | missing


class CompletionItem(Base):
    __tablename__ = "completion_items"
    id: Mapped[int] = mapped_column(primary_key=True)
    document_id: Mapped[str] = mapped_column(ForeignKey("documents.id"), index=True)
    code: Mapped[str] = mapped_column(String(50))
    field_id: Mapped[str | None] = mapped_column(String(100))
    page: Mapped[int | None] = mapped_column(Integer)
    text_sv: Mapped[str] = mapped_column(Text)
    text_en: Mapped[str] = mapped_column(Text)
    open: Mapped[bool] = mapped_column(Boolean, default=True, index=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=now)


class AuditEntry(Base):
    __tablename__ = "audit_log"
    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=now)
    actor: Mapped[str] = mapped_column(String(100))
    action: Mapped[str] = mapped_column(String(50))
    document_id: Mapped[str | None] = mapped_column(String(40), index=True)
    field_id: Mapped[str | None] = mapped_column(String(100))
    before: Mapped[str | None] = mapped_column(Text)
    after: Mapped[str | None] = mapped_column(Text)


# === review UI: operators, sessions, queues and decisions (pipeline/review) ====================
# Tables and queries of the operators' web UI. The decision logic (what a decision does to a
# record, re-validation) is in pipeline/review/decide.py; here only what touches the database.


class User(Base):
    """An operator of the review UI (``blankett user add``)."""

    __tablename__ = "users"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    password_hash: Mapped[str] = mapped_column(String(300))  # scrypt$N$r$p$salt$key (pipeline.review.auth)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=now)


class OperatorSession(Base):
    """A logged-in browser: the SHA-256 of its cookie token (never the token), its CSRF token."""

    __tablename__ = "operator_sessions"
    id: Mapped[int] = mapped_column(primary_key=True)
    token_sha256: Mapped[str] = mapped_column(String(64), unique=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    csrf: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=now)
    last_seen: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=now)
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


def _aware(t: datetime | None) -> datetime | None:
    """SQLite returns naive datetimes for timezone-aware columns: they are UTC."""
    return t.replace(tzinfo=timezone.utc) if t is not None and t.tzinfo is None else t


class ReviewQueries:
    """The review UI's part of :class:`Store` (a mixin: ``self.session()`` is the store's)."""

    # --- users and sessions -------------------------------------------------------------------

    def add_user(self, name: str, password_hash: str) -> bool:
        """A new operator; False if the name is taken."""
        with self.session() as s:
            if s.scalar(select(User.id).where(User.name == name)) is not None:
                return False
            s.add(User(name=name, password_hash=password_hash))
            s.add(AuditEntry(actor="admin", action="user_added", after=name))
            return True

    def _change_user(self, name: str, action: str, change) -> bool:
        """``change(user)`` on an operator, their sessions ended, audited; False: no such operator."""
        with self.session() as s:
            u = s.scalar(select(User).where(User.name == name))
            if u is None:
                return False
            change(u)
            s.execute(OperatorSession.__table__.delete().where(OperatorSession.user_id == u.id))
            s.add(AuditEntry(actor="admin", action=action, after=name))
            return True

    def set_password(self, name: str, password_hash: str) -> bool:
        return self._change_user(name, "password_set", lambda u: setattr(u, "password_hash", password_hash))

    def set_user_active(self, name: str, active: bool) -> bool:
        """Enable or disable an operator (their sessions end either way)."""
        return self._change_user(name, "user_enabled" if active else "user_disabled",
                                 lambda u: setattr(u, "active", active))

    def users(self) -> list[dict]:
        with self.session() as s:
            return [{"name": u.name, "active": u.active, "created_at": _aware(u.created_at)}
                    for u in s.scalars(select(User).order_by(User.name))]

    def password_hash(self, name: str) -> str | None:
        """The stored hash of an active operator (None: no such operator, or disabled)."""
        with self.session() as s:
            return s.scalar(select(User.password_hash).where(User.name == name, User.active))

    def create_session(self, name: str, token_sha256: str, csrf: str, expires_at: datetime) -> None:
        with self.session() as s:
            uid = s.scalar(select(User.id).where(User.name == name))
            s.execute(OperatorSession.__table__.delete().where(OperatorSession.expires_at < now()))
            s.add(OperatorSession(token_sha256=token_sha256, user_id=uid, csrf=csrf, expires_at=expires_at))
            s.add(AuditEntry(actor=name, action="logged_in"))

    def session_user(self, token_sha256: str, idle_s: float) -> tuple[str, str] | None:
        """(operator, CSRF token) of a live session, its last use set to now; None when the
        session is unknown, expired, idle for longer than ``idle_s`` or its operator disabled."""
        with self.session() as s:
            row = s.execute(select(OperatorSession, User).join(User, User.id == OperatorSession.user_id)
                            .where(OperatorSession.token_sha256 == token_sha256)).first()
            if row is None:
                return None
            sess, user = row
            t = now()
            if not user.active or _aware(sess.expires_at) <= t or (t - _aware(sess.last_seen)).total_seconds() > idle_s:
                s.delete(sess)
                return None
            sess.last_seen = t
            return user.name, sess.csrf

    def end_session(self, token_sha256: str) -> None:
        with self.session() as s:
            s.execute(OperatorSession.__table__.delete().where(OperatorSession.token_sha256 == token_sha256))

    # --- queues --------------------------------------------------------------------------------

    @staticmethod
    def _task_query(batch: int | None = None, form: str | None = None, kind: str | None = None,
                    open_only: bool = True):
        q = (select(ReviewTask, Document.form, Batch.id, Batch.name)
             .join(Document, Document.id == ReviewTask.document_id)
             .join(File, File.id == Document.file_id).join(Batch, Batch.id == File.batch_id))
        if open_only:
            q = q.where(ReviewTask.open)
        if batch is not None:
            q = q.where(Batch.id == batch)
        if form:
            q = q.where(Document.form == form)
        if kind:
            q = q.where(ReviewTask.kind == kind) if kind != "document" else q.where(ReviewTask.field_id.is_(None))
        return q.order_by(ReviewTask.created_at, ReviewTask.id)

    @staticmethod
    def _task_dict(t: ReviewTask, form: str | None, batch_id: int, batch_name: str) -> dict:
        return {"id": t.id, "document_id": t.document_id, "field_id": t.field_id,
                "kind": t.kind if t.field_id else "document", "reason": t.reason, "form": form,
                "batch_id": batch_id, "batch": batch_name, "created_at": _aware(t.created_at)}

    def review_queue(self) -> list[dict]:
        """Open review tasks by batch, form and field kind (``document`` for page and document
        problems): count and oldest task, the batch with the oldest task first."""
        groups: dict[tuple, dict] = {}
        with self.session() as s:
            for row in s.execute(self._task_query()):
                t = self._task_dict(*row)
                g = groups.setdefault((t["batch_id"], t["form"], t["kind"]), {
                    "batch_id": t["batch_id"], "batch": t["batch"], "form": t["form"], "kind": t["kind"],
                    "count": 0, "oldest": t["created_at"]})
                g["count"] += 1
        return list(groups.values())  # in order of each group's oldest task

    def review_tasks(self, *, batch: int | None = None, form: str | None = None, kind: str | None = None,
                     after: int | None = None, limit: int | None = None) -> list[dict]:
        """Open tasks, oldest first; ``after``: only those after that task in this order (a
        task skipped with Tab), wrapping round to the oldest when none is left after it."""
        with self.session() as s:
            tasks = [self._task_dict(*row) for row in s.execute(self._task_query(batch, form, kind))]
        if after is not None:
            at = next((i for i, t in enumerate(tasks) if t["id"] == after), None)
            if at is not None:
                tasks = tasks[at + 1:] + tasks[:at]
        return tasks[:limit] if limit else tasks

    def review_task(self, task_id: int) -> dict | None:
        """One task, open or decided, with its decision columns."""
        with self.session() as s:
            row = s.execute(self._task_query(open_only=False).where(ReviewTask.id == task_id)).first()
            if row is None:
                return None
            t = row[0]
            return self._task_dict(*row) | {"open": t.open, "decision": t.decision, "decided_by": t.decided_by,
                                            "decided_at": _aware(t.decided_at)}

    def field_rows(self, document_id: str) -> dict[str, dict]:
        """A document's fields by id: the row id (for its crop), kind, page and status."""
        with self.session() as s:
            return {f.field_id: {"id": f.id, "kind": f.kind, "page": f.page, "status": f.status,
                                 "has_crop": f.crop is not None}
                    for f in s.scalars(select(FieldRow).where(FieldRow.document_id == document_id))}

    def field_crop(self, field_row_id: int) -> tuple[str, str] | None:
        """(document id, crop path relative to the data directory) of a field row."""
        with self.session() as s:
            f = s.get(FieldRow, field_row_id)
            return None if f is None or f.crop is None else (f.document_id, f.crop)

    # --- decisions -----------------------------------------------------------------------------

    def decide_task(self, task_id: int, actor: str, apply) -> dict | None:
        """Decide an open task in one transaction: ``apply(record, task)`` changes the record
        (the document row locked) and returns ``{"decision", "field_id", "before", "after"}``
        (before/after as they go to the audit log). Every open task of that field (of the
        document, for a document-level task) is closed with the decision. Returns that dict
        with ``document_id`` and ``open_left`` (the document's tasks still open), or None when
        the task was already decided."""
        with self.session() as s:
            task = s.get(ReviewTask, task_id)
            if task is None or not task.open:
                return None
            doc = s.scalar(select(Document).where(Document.id == task.document_id).with_for_update())
            s.refresh(task)
            if not task.open:
                return None
            record = json_copy(doc.record)
            change = apply(record, {"id": task.id, "field_id": task.field_id, "reason": task.reason,
                                    "kind": task.kind})
            flat = flatten(record.get("fields", {}))
            for k, v in _document_columns(record, flat).items():
                setattr(doc, k, v)
            doc.updated_at = now()
            fid = change["field_id"]
            if fid is not None:
                row = s.scalar(select(FieldRow).where(FieldRow.document_id == doc.id, FieldRow.field_id == fid))
                fv = flat[fid]
                row.value, row.confidence, row.status = _text(fv.get("read")), fv["confidence"], fv["status"]
            t = now()
            for other in s.scalars(select(ReviewTask).where(ReviewTask.document_id == doc.id, ReviewTask.open)):
                if other.id == task.id or (fid is not None and other.field_id == fid):
                    other.open, other.decided_at, other.decided_by, other.decision = False, t, actor, change["decision"]
            s.add(AuditEntry(actor=actor, action=f"field_{change['decision']}", document_id=doc.id, field_id=fid,
                             before=change["before"], after=change["after"]))
            s.flush()
            left = s.scalar(select(func.count()).select_from(ReviewTask).where(
                ReviewTask.document_id == doc.id, ReviewTask.open))
            return change | {"document_id": doc.id, "open_left": left}

    def review_documents_without_tasks(self) -> list[str]:
        """Documents routed to review with no open task left (a decision whose re-validation
        did not finish): re-validated when the review UI starts."""
        with self.session() as s:
            has_open = select(ReviewTask.id).where(ReviewTask.document_id == Document.id, ReviewTask.open).exists()
            return list(s.scalars(select(Document.id).where(Document.route == "review", ~has_open)
                                  .order_by(Document.id)))

    def decisions_since(self, since: datetime) -> list[tuple[str, datetime]]:
        """(operator, time) of every field decided since then."""
        with self.session() as s:
            return [(a, _aware(t)) for a, t in s.execute(
                select(ReviewTask.decided_by, ReviewTask.decided_at)
                .where(ReviewTask.decided_at >= since, ReviewTask.decided_by.is_not(None))
                .order_by(ReviewTask.decided_at))]

    def open_task_times(self) -> list[datetime]:
        """When each open review task was created (for the queue's age)."""
        with self.session() as s:
            return [_aware(t) for t in s.scalars(select(ReviewTask.created_at).where(ReviewTask.open))]


def json_copy(value: Any) -> Any:
    """A deep copy of a JSON value (a record), so that changing it never touches the ORM's."""
    import json

    return json.loads(json.dumps(value))


def _sqlite_pragmas(dbapi_conn, _record) -> None:
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
    cur.close()


def database_url(data: DataDir | None = None) -> str:
    """``BLANKETT_DATABASE_URL``, else SQLite in the data directory."""
    url = os.environ.get(DATABASE_URL_ENV)
    if url:
        return url
    data = data or DataDir.resolve()
    return f"sqlite:///{data.database}"


def redact_url(url: str) -> str:
    """A database URL without its password, for logs."""
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)


class Store(ReviewQueries):
    """The store of one data directory (or database URL)."""

    def __init__(self, url: str):
        self.url = url
        self.engine: Engine = create_engine(url, future=True)
        if self.engine.dialect.name == "sqlite":
            event.listen(self.engine, "connect", _sqlite_pragmas)
        Base.metadata.create_all(self.engine)
        self._session = sessionmaker(self.engine, expire_on_commit=False)

    @classmethod
    def open(cls, data: DataDir | None = None, url: str | None = None) -> "Store":
        return cls(url or database_url(data))

    def close(self) -> None:
        self.engine.dispose()

    @contextmanager
    def session(self) -> Iterator[Session]:
        with self._session.begin() as s:
            yield s

    # --- batches and files ------------------------------------------------------------------

    def begin_batch(self, name: str, received: date | None) -> int:
        with self.session() as s:
            b = Batch(name=name, received_date=received)
            s.add(b)
            s.flush()
            return b.id

    def finish_batch(self, batch_id: int, summary: dict) -> None:
        with self.session() as s:
            b = s.get(Batch, batch_id)
            b.finished_at, b.summary = now(), summary

    def file_status(self, sha256: str) -> str | None:
        with self.session() as s:
            return s.scalar(select(File.status).where(File.sha256 == sha256))

    def refusal(self, sha256: str) -> str | None:
        """Why a file was refused (None: it was not, or is not known)."""
        with self.session() as s:
            return s.scalar(select(File.reason).where(File.sha256 == sha256, File.status == "refused"))

    def begin_file(self, batch_id: int, name: str, sha256: str, received: date | None) -> str:
        """Register a file; returns its status before this call (None: new)."""
        with self.session() as s:
            f = s.scalar(select(File).where(File.sha256 == sha256))
            if f is not None:
                return f.status
            s.add(File(sha256=sha256, name=name, batch_id=batch_id, received_date=received, status="processing"))
            return None

    def finish_file(self, sha256: str, *, pages: int, documents: int, refused: str | None = None) -> None:
        with self.session() as s:
            f = s.scalar(select(File).where(File.sha256 == sha256))
            f.status = "refused" if refused else "done"
            f.reason, f.pages, f.documents, f.finished_at = refused, pages, documents, now()

    def add_pages(self, sha256: str, pages: list[dict], document_id: str | None) -> None:
        """Pages of a file (``index``, ``kind``, ``form``, ``version``, ``page_number``,
        ``problem``); a page already stored is left as it is."""
        with self.session() as s:
            file_id = s.scalar(select(File.id).where(File.sha256 == sha256))
            have = set(s.scalars(select(Page.index).where(Page.file_id == file_id)))
            for p in pages:
                if p["index"] not in have:
                    s.add(Page(file_id=file_id, document_id=document_id, **p))

    # --- documents --------------------------------------------------------------------------

    def has_document(self, document_id: str) -> bool:
        with self.session() as s:
            return s.get(Document, document_id) is not None

    def save_document(self, sha256: str, record: dict, *, actor: str = "pipeline") -> bool:
        """Store a new document with its record (``pipeline.record`` dumped as JSON), fields,
        route, review tasks, completion items and an audit entry. False if it was stored
        already (nothing changes)."""
        with self.session() as s:
            if s.get(Document, record["document_id"]) is not None:
                return False
            file_id = s.scalar(select(File.id).where(File.sha256 == sha256))
            flat = flatten(record.get("fields", {}))
            doc = Document(id=record["document_id"], file_id=file_id, **_document_columns(record, flat))
            s.add(doc)
            for fid, fv in flat.items():
                s.add(FieldRow(document=doc, field_id=fid, kind=fv["kind"], page=fv["page"],
                               value=_text(fv.get("read")), confidence=fv["confidence"], status=fv["status"],
                               crop=fv.get("crop")))
            s.flush()
            self._route(s, doc, record, flat, actor)
            return True

    def update_record(self, record: dict, *, actor: str, action: str) -> tuple[str, str]:
        """Replace a stored document's record (after re-validation); the route is recorded
        again when it changed. Returns (route before, route after)."""
        with self.session() as s:
            doc = s.get(Document, record["document_id"])
            before = doc.route
            flat = flatten(record.get("fields", {}))
            for k, v in _document_columns(record, flat).items():
                setattr(doc, k, v)
            doc.updated_at = now()
            rows = {f.field_id: f for f in doc.fields}
            for fid, fv in flat.items():
                row = rows.get(fid)
                if row is None:
                    continue
                row.value, row.confidence, row.status = _text(fv.get("read")), fv["confidence"], fv["status"]
            if before != doc.route or action != "revalidated":
                self._route(s, doc, record, flat, actor, reopen=True)
            s.add(AuditEntry(actor=actor, action=action, document_id=doc.id, before=before, after=doc.route))
            return before, doc.route

    def _route(self, s: Session, doc: Document, record: dict, flat: dict[str, dict], actor: str,
               reopen: bool = False) -> None:
        reasons = record.get("reasons", [])
        s.add(RouteRow(document_id=doc.id, route=doc.route, reasons=reasons, decided_by=actor))
        if reopen:  # a new decision replaces the open items of the old one
            for t in s.scalars(select(ReviewTask).where(ReviewTask.document_id == doc.id, ReviewTask.open)):
                t.open = False
            for c in s.scalars(select(CompletionItem).where(CompletionItem.document_id == doc.id,
                                                            CompletionItem.open)):
                c.open = False
        if doc.route == "review":
            for r in reasons:
                if r["to"] != "operator":
                    continue
                for fid in r["fields"] or [None]:
                    kind = flat[fid]["kind"] if fid in flat else None
                    s.add(ReviewTask(document_id=doc.id, field_id=fid, kind=kind,
                                     reason=r["code"]))
        elif doc.route == "completion":
            for r in reasons:
                if r["to"] == "sender":
                    s.add(CompletionItem(document_id=doc.id, code=r["code"],
                                         field_id=r["fields"][0] if r["fields"] else None,
                                         page=r["page"], text_sv=r["sv"], text_en=r["en"]))
        s.add(AuditEntry(actor=actor, action="routed", document_id=doc.id, after=doc.route))

    def record(self, document_id: str) -> dict | None:
        with self.session() as s:
            doc = s.get(Document, document_id)
            return None if doc is None else doc.record

    def records(self, *, form: str | None = None, route: str | None = None) -> list[dict]:
        with self.session() as s:
            q = select(Document.record).order_by(Document.created_at, Document.id)
            if form:
                q = q.where(Document.form == form)
            if route:
                q = q.where(Document.route == route)
            return list(s.scalars(q))

    def batch_documents(self, document_id: str) -> list[str]:
        """The ids of the documents stored from the same batch as this one (itself included)."""
        return self._batch(document_id, Document.id)

    def batch_records(self, document_id: str) -> list[dict]:
        """The records of the documents stored from the same batch as this one (itself
        included), in one query."""
        return self._batch(document_id, Document.record)

    def _batch(self, document_id: str, column) -> list:
        with self.session() as s:
            batch = s.scalar(select(File.batch_id).join(Document, Document.file_id == File.id)
                             .where(Document.id == document_id))
            if batch is None:
                return []
            return list(s.scalars(select(column).join(File, File.id == Document.file_id)
                                  .where(File.batch_id == batch).order_by(Document.id)))

    def records_of(self, *, person: Iterable[str] = (), assistent: Iterable[str] = (),
                   exclude: Iterable[str] = (), limit: int) -> list[dict]:
        """The stored records of these persons and assistants (by personnummer as read): each
        one's newest ``limit``, the documents ``exclude`` names left out, each record once."""
        exclude = sorted(set(exclude))
        keys = [(Document.person_personnummer, p) for p in sorted(set(person))]
        keys += [(Document.assistent_personnummer, a) for a in sorted(set(assistent))]
        out: dict[str, dict] = {}
        with self.session() as s:
            for column, value in keys:
                q = (select(Document.id, Document.record).where(column == value, Document.id.not_in(exclude))
                     .order_by(Document.created_at.desc(), Document.id).limit(limit))
                for doc_id, record in s.execute(q):
                    out.setdefault(doc_id, record)
        return list(out.values())

    def time_reports(self, person_personnummer: str, month: str) -> list[dict]:
        """The stored 3059 records of a person's month."""
        with self.session() as s:
            return list(s.scalars(select(Document.record).where(
                Document.form == "3059", Document.person_personnummer == person_personnummer,
                Document.month == month).order_by(Document.id)))

    def invoices(self, person_personnummer: str, month: str) -> list[dict]:
        """The stored 3057 records of a person's month."""
        with self.session() as s:
            return list(s.scalars(select(Document.record).where(
                Document.form == "3057", Document.person_personnummer == person_personnummer,
                Document.month == month).order_by(Document.id)))

    # --- queues and export ------------------------------------------------------------------

    def queue_counts(self) -> dict:
        with self.session() as s:
            routes = dict(s.execute(select(Document.route, func.count()).group_by(Document.route)).all())
            return {
                "documents": sum(routes.values()),
                "routes": {r: routes.get(r, 0) for r in ("validation", "review", "completion")},
                "review_tasks_open": s.scalar(select(func.count()).select_from(ReviewTask).where(ReviewTask.open)),
                "completion_items_open": s.scalar(
                    select(func.count()).select_from(CompletionItem).where(CompletionItem.open)),
                "validation_not_exported": s.scalar(select(func.count()).select_from(Document).where(
                    Document.route == "validation", Document.exported_at.is_(None))),
                "validation_held": sum(1 for r in self.pending_export() if holds(r)),
                "files": dict(s.execute(select(File.status, func.count()).group_by(File.status)).all()),
            }

    def pending_export(self) -> list[dict]:
        with self.session() as s:
            return list(s.scalars(select(Document.record).where(
                Document.route == "validation", Document.exported_at.is_(None)).order_by(Document.id)))

    def mark_exported(self, document_ids: list[str], export_name: str) -> None:
        with self.session() as s:
            for d in s.scalars(select(Document).where(Document.id.in_(document_ids))):
                d.exported_at, d.export_name = now(), export_name
                s.add(AuditEntry(actor="pipeline", action="exported", document_id=d.id, after=export_name))

    def export_names(self) -> list[str]:
        with self.session() as s:
            return list(s.scalars(select(Document.export_name).where(Document.export_name.is_not(None))
                                  .distinct().order_by(Document.export_name)))

    def exported_records(self, export_name: str) -> list[dict]:
        with self.session() as s:
            return list(s.scalars(select(Document.record).where(Document.export_name == export_name)
                                  .order_by(Document.id)))

    def audit(self, actor: str, action: str, document_id: str | None = None, field_id: str | None = None,
              before: str | None = None, after: str | None = None) -> None:
        with self.session() as s:
            s.add(AuditEntry(actor=actor, action=action, document_id=document_id, field_id=field_id,
                             before=before, after=after))

    def audit_log(self, document_id: str | None = None) -> list[dict]:
        with self.session() as s:
            q = select(AuditEntry).order_by(AuditEntry.id)
            if document_id:
                q = q.where(AuditEntry.document_id == document_id)
            return [{"actor": a.actor, "action": a.action, "document_id": a.document_id, "field_id": a.field_id,
                     "before": a.before, "after": a.after, "at": a.at} for a in s.scalars(q)]

    def open_review_tasks(self, document_id: str | None = None) -> list[dict]:
        with self.session() as s:
            q = select(ReviewTask).where(ReviewTask.open).order_by(ReviewTask.created_at, ReviewTask.id)
            if document_id:
                q = q.where(ReviewTask.document_id == document_id)
            return [{"id": t.id, "document_id": t.document_id, "field_id": t.field_id, "kind": t.kind,
                     "reason": t.reason} for t in s.scalars(q)]

    def open_completion_items(self, document_id: str | None = None) -> list[dict]:
        with self.session() as s:
            q = select(CompletionItem).where(CompletionItem.open).order_by(CompletionItem.id)
            if document_id:
                q = q.where(CompletionItem.document_id == document_id)
            return [{"document_id": c.document_id, "code": c.code, "field_id": c.field_id, "page": c.page,
                     "sv": c.text_sv, "en": c.text_en} for c in s.scalars(q)]


def _text(v: Any) -> str | None:
    if v is None:
        return None
    if isinstance(v, bool):
        return "true" if v else "false"
    return str(v)


def _read(flat: dict[str, dict], fid: str) -> str | None:
    v = flat.get(fid, {}).get("read")
    return v if isinstance(v, str) else None


def _document_columns(record: dict, flat: dict[str, dict]) -> dict:
    """The columns a document is queried by, from its record (``flat``: its fields flattened)."""
    return {
        "form": record.get("form"), "version": record.get("version"), "route": record["route"], "record": record,
        "month": _read(flat, "header.year_month"),
        "person_personnummer": _read(flat, "person.personnummer"),
        "assistent_personnummer": _read(flat, "assistent.personnummer"),
    }


def finished_documents(store: Store, changed_before: datetime) -> list[str]:
    """Ids of the finished documents — exported to FK, or sent back to the sender
    (``completion``), with no open review task — whose last change (routing, an operator's
    decision, the export) is before ``changed_before``. Used by :mod:`pipeline.retention`."""
    from sqlalchemy import exists, or_

    open_task = exists().where(ReviewTask.document_id == Document.id, ReviewTask.open)
    with store.session() as s:
        return list(s.scalars(select(Document.id).where(
            or_(Document.exported_at.is_not(None), Document.route == "completion"),
            Document.route != "review", ~open_task,
            Document.updated_at < changed_before, Document.created_at < changed_before,
            or_(Document.exported_at.is_(None), Document.exported_at < changed_before),
        ).order_by(Document.id)))
