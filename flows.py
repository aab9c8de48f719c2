"""Prefect flows: the orchestration of blankett, thin over ``pipeline/``.

- :func:`process_batch` — one batch file or folder. The page stage (ingest → identify →
  register → split, :func:`pipeline.pages.process_file`) streams in the flow; every
  document it hands over becomes **one task** (:func:`read_document`, never one per field:
  a server must not drown in task runs) that reads all its fields on threads
  (:func:`pipeline.document.process_document`). Retries are for I/O errors only; a page
  that takes too long to read sends its document to review instead of failing the batch.
  The run ends with a markdown and a table artifact summarising the batch.
- :func:`nightly_inbox` — one sweep of the data directory's inbox (:mod:`pipeline.inbox`:
  stable files only, atomic moves, exactly once across crashes), each file through
  :func:`process_batch`. Served as a deployment on a cron schedule by :func:`serve`.

Prefect's state lives under the data directory (``PREFECT_HOME=<data>/prefect``) and
analytics are off. Prefect reads its home when it is first used, so set ``BLANKETT_DATA``
before importing this module, or call :func:`prefect_environment` before the first flow
runs (the ``blankett`` command does the former). Without ``PREFECT_API_URL`` a flow starts
Prefect's temporary local server in process (nothing to run beforehand).

Each read document becomes a routed record (:mod:`pipeline.assess`) stored at once
(:mod:`pipeline.store`); a file seen before (by content hash) is skipped, and a document
stored by a run that died is not read again. When the batch is read, every 3057 whose
person and month got time reports is checked against them again, and the records that
reached validation go to the outbox (:mod:`pipeline.export.outbox`).
"""

from __future__ import annotations

import logging
import os
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FuturesTimeout
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import date
from pathlib import Path
from typing import Any, Callable, Iterator

from pipeline.config import DATA_ENV, DataDir

# --- Prefect's environment: before Prefect is imported ------------------------------------------

# The temporary server's first start on a new PREFECT_HOME took 13–25 s on a busy 2-core machine;
# Prefect's default wait is 20 s.
EPHEMERAL_STARTUP_TIMEOUT_S = 120


def prefect_environment(data: DataDir) -> dict[str, str]:
    """Point Prefect at ``<data>/prefect`` and switch analytics off (both needed: without the
    latter the temporary server logs a "database is locked" traceback)."""
    home = data.root / "prefect"
    home.mkdir(mode=0o700, parents=True, exist_ok=True)
    env = {
        "PREFECT_HOME": str(home),
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": str(EPHEMERAL_STARTUP_TIMEOUT_S),
    }
    os.environ.update(env)
    return env


if os.environ.get(DATA_ENV):
    prefect_environment(DataDir.resolve().ensure())

from prefect import flow, get_run_logger, task  # noqa: E402
from prefect.artifacts import create_markdown_artifact, create_table_artifact  # noqa: E402
from prefect.cache_policies import NO_CACHE  # noqa: E402
from prefect.task_runners import ThreadPoolTaskRunner  # noqa: E402

from pipeline import inbox  # noqa: E402
from pipeline.across import agree_batch  # noqa: E402
from pipeline.assess import (Origin, build_record, document_id, draft_record, report_key,  # noqa: E402
                             revalidate_invoices, route_record)  # noqa: E402
from pipeline.document import DocumentResult, process_document  # noqa: E402
from pipeline.export.outbox import export  # noqa: E402
from pipeline.errors import InputFileError  # noqa: E402
from pipeline.forms import TemplateRegistry  # noqa: E402
from pipeline.identify import IdentifiedPage  # noqa: E402
from pipeline.ingest import file_sha256  # noqa: E402
from pipeline.intake import batch_paths, quarantine, received_date  # noqa: E402
from pipeline.masking import install_log_masking, mask_text, mask_value  # noqa: E402
from pipeline.pages import PageResult, process_file  # noqa: E402
from pipeline.retention import apply_retention, retention_days  # noqa: E402
from pipeline.split import Document, Problem  # noqa: E402
from pipeline.store import Store  # noqa: E402

install_log_masking()  # Prefect's handlers exist now: personnummer never reach a log

# --- constants ----------------------------------------------------------------------------------

# A page's fields read in about 1–5 s on one core; a page still unread after this long (s) is
# stuck on something (a pathological scan, a hung OCR call): its document goes to review.
PAGE_TIMEOUT_S = 120.0
# I/O errors (a network share that hiccups) are retried this often, this far apart (s); any
# other error is a property of the file or a bug, and retrying would only repeat it.
IO_RETRIES = 2
IO_RETRY_DELAY_S = 5.0
# Documents waiting for a reader, per worker: enough to keep workers busy while the page
# stage produces the next one; more would only hold page images in memory.
QUEUE_PER_WORKER = 2
# The nightly sweep: 02:00 in Stockholm (after the scanning centre's evening runs).
NIGHTLY_CRON = "0 2 * * *"
NIGHTLY_TIMEZONE = "Europe/Stockholm"


def available_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def plan_concurrency(workers: int | None = None, cores: int | None = None) -> tuple[int, int]:
    """(document workers, reading threads per document) with workers × threads ≤ cores.
    By default one worker per core and one thread each: documents in parallel scale better
    than fields of one page (no waiting for a page's slowest field)."""
    cores = cores or available_cores()
    workers = max(1, min(workers or cores, cores))
    return workers, max(1, cores // workers)


# --- progress hooks (the command's progress bar) -------------------------------------------------

_progress: list[Callable[[str, Any], None]] = []


@contextmanager
def progress(callback: Callable[[str, Any], None]) -> Iterator[None]:
    """Call ``callback(event, value)`` while flows run in this process: ``("file", Path)``
    when a file starts, ``("pages", n)`` per page, ``("document", DocumentResult)``."""
    _progress.append(callback)
    try:
        yield
    finally:
        _progress.remove(callback)


def _emit(event: str, value: Any) -> None:
    for cb in list(_progress):
        cb(event, value)


# --- the document task ---------------------------------------------------------------------------

def _is_io_error(exc: BaseException | None) -> bool:
    """A system I/O error (with an errno), directly or as the cause of a refused file; not a
    decoder's complaint about the content (PIL raises OSError without an errno)."""
    while exc is not None:
        if isinstance(exc, OSError) and exc.errno is not None:
            return True
        exc = exc.__cause__
    return False


def _retry_io_only(task, task_run, state) -> bool:
    try:
        state.result()
    except BaseException as e:  # noqa: BLE001 - the state's own exception
        return _is_io_error(e)
    return False


def _readable_pages(doc: Document[PageResult]) -> list[int]:
    return [n for n, p in sorted(doc.pages.items()) if p.registered is not None and p.registered.ok]


def _timed_out(doc: Document[PageResult], pages: list[int], budget_s: float) -> DocumentResult:
    problems = list(doc.problems) + [
        Problem("read_timeout", n,
                f"Sidan {n} hann inte läsas inom {budget_s:.0f} s; dokumentet granskas manuellt.",
                f"Page {n} was not read within {budget_s:.0f} s; the document goes to review.")
        for n in pages]
    return DocumentResult(doc.index, doc.form, doc.version, dict(doc.pages), len(doc.attachments),
                          problems, {}, {"read": budget_s * 1e3})


def _task_run_name(parameters: dict) -> str:
    doc = parameters["doc"]
    return f"read-{doc.key}-{doc.index + 1}"


def _failed(doc: Document[PageResult], exc: BaseException) -> DocumentResult:
    problems = list(doc.problems) + [
        Problem("read_failed", None, f"Dokumentet kunde inte läsas ({type(exc).__name__}); det granskas manuellt.",
                f"The document could not be read ({type(exc).__name__}: {exc}); it goes to review.")]
    return DocumentResult(doc.index, doc.form, doc.version, dict(doc.pages), len(doc.attachments), problems, {}, {})


@task(name="read-document", task_run_name=_task_run_name, cache_policy=NO_CACHE,
      retries=IO_RETRIES, retry_delay_seconds=IO_RETRY_DELAY_S, retry_condition_fn=_retry_io_only)
def read_document(doc: Document[PageResult], threads: int = 1, page_timeout_s: float = PAGE_TIMEOUT_S,
                  crop_dir: Path | None = None) -> DocumentResult:
    """Every field of one document, on ``threads`` threads, within ``page_timeout_s`` per
    readable page. Past that the document is reported with a ``read_timeout`` problem per page
    (to review) and the batch goes on; the reading thread is left to finish on its own, since
    Python cannot stop it."""
    pages = _readable_pages(doc)
    if not pages:
        return process_document(doc, threads, crop_dir)
    budget = page_timeout_s * len(pages)
    pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="read-document")
    future = pool.submit(process_document, doc, threads, crop_dir)
    pool.shutdown(wait=False)
    try:
        return future.result(timeout=budget)
    except FuturesTimeout:
        return _timed_out(doc, pages, budget)


# --- the batch flow ------------------------------------------------------------------------------

@dataclass
class BatchRun:
    summary: dict  # JSON-able, see summarise()
    documents: list[DocumentResult] = field(default_factory=list)


def _file_documents(path: Path, registry: TemplateRegistry, received: date,
                    logger: logging.Logger | logging.LoggerAdapter) -> Iterator[Document[PageResult]]:
    """The documents of one file, whose post FK received on ``received``, re-opening it after
    an I/O error (documents already handed over are skipped); other errors propagate."""
    handed, attempt = 0, 0
    while True:
        try:
            for i, doc in enumerate(process_file(path, registry, received)):
                if i >= handed:
                    handed += 1
                    yield doc
            return
        except Exception as e:
            attempt += 1
            if not _is_io_error(e) or attempt > IO_RETRIES:
                raise
            logger.warning("%s: I/O error (%s), retry %d of %d in %.0f s",
                                     path.name, e, attempt, IO_RETRIES, IO_RETRY_DELAY_S)
            time.sleep(IO_RETRY_DELAY_S)


def _lean(doc: Document[PageResult]) -> Document[PageResult]:
    """A copy of a document without what readers never look at — the scan and the upright
    scan behind each registered page (7.7 MB a page at 200 dpi, 17 MB at 300) — to keep
    waiting documents small, and to send them to other processes. The registered page
    itself (and its ink, if removed already) stays."""
    pages = {}
    for n, p in doc.pages.items():
        rp = p.registered
        if rp is not None:
            rp = replace(rp, identified=IdentifiedPage(None, rp.identified.ident))
        pages[n] = replace(p, registered=rp)
    return replace(doc, pages=pages)


STATUSES = ("ok", "low_confidence", "unreadable", "empty")


def document_row(file: str, r: DocumentResult, route: str | None = None) -> dict:
    problems = [p.code + (f"@{p.page}" if p.page else "") for p in r.problems]
    problems += [f"page {n}: {p.problem}" for n, p in sorted(r.pages.items()) if p.problem]
    return {"file": file, "document": r.index + 1, "form": r.key, "pages": sorted(r.pages),
            "attachments": r.attachments, "problems": problems,
            **{s: r.count(s) for s in STATUSES},
            "read_s": round(r.timings_ms.get("read", 0.0) / 1e3, 2),
            "route": route}


# The stages of a batch, in order, as timed: page stages per page (PageResult.timings_ms:
# "identity" is the reading of a page's identity fields that splitting needs), reading per
# document, then the record, its routing (incl. the 3057s checked again at the end) and the
# store (incl. the export).
PAGE_STAGES = ("ingest", "identify", "register", "identity")
STAGES = PAGE_STAGES + ("read", "record", "route", "store")


def summarise(batch: str, files: list[dict], rows: list[dict], wall_s: float, stage_ms: Counter[str],
              workers: int, threads: int, runner: str) -> dict:
    routes = Counter(r["route"] for r in rows if r["route"])
    pages = sum(f["pages"] for f in files)
    page_s = sum(stage_ms[k] for k in PAGE_STAGES) / 1e3
    return {
        "batch": batch,
        "files": files,
        "pages": pages,
        "documents": len(rows),
        "documents_per_form": dict(sorted(Counter(r["form"] for r in rows).items())),
        "page_problems": dict(sorted(Counter(p.split("@")[0] if not p.startswith("page ") else "page"
                                             for r in rows for p in r["problems"]).items())),
        "readings": {s: sum(r[s] for r in rows) for s in STATUSES},
        "refused_files": sum(1 for f in files if f["refused"]),
        "routes": {k: routes.get(k, 0) for k in ("validation", "review", "completion")},
        "timings": {"wall_s": round(wall_s, 2), "page_stage_s": round(page_s, 2),
                    "read_s": round(stage_ms["read"] / 1e3, 2),
                    "s_per_page": round(wall_s / pages, 2) if pages else None,
                    "stage_ms_per_page": {k: round(stage_ms[k] / pages, 1) if pages else None for k in STAGES}},
        "concurrency": {"workers": workers, "threads": threads, "runner": runner},
        "table": rows,
    }


def summary_markdown(s: dict) -> str:
    t = s["timings"]
    lines = [f"# Batch {s['batch']}", "",
             f"{s['pages']} pages, {s['documents']} documents in {len(s['files'])} file(s); "
             f"{s['refused_files']} file(s) refused.", "",
             f"Wall {t['wall_s']} s ({t['s_per_page']} s/page); page stage {t['page_stage_s']} s, "
             f"reading {t['read_s']} s summed over {s['concurrency']['workers']} worker(s) × "
             f"{s['concurrency']['threads']} thread(s) ({s['concurrency']['runner']}).", "",
             "| form | documents |", "|---|---|"]
    lines += [f"| {k} | {n} |" for k, n in s["documents_per_form"].items()]
    lines += ["", "| reading status | fields |", "|---|---|"]
    lines += [f"| {k} | {n} |" for k, n in s["readings"].items()]
    if s["page_problems"]:
        lines += ["", "| page problem | count |", "|---|---|"]
        lines += [f"| {k} | {n} |" for k, n in s["page_problems"].items()]
    refused = [f for f in s["files"] if f["refused"]]
    if refused:
        lines += ["", "Refused files:"] + [f"- {f['file']}: {f['refused']}" for f in refused]
    lines += ["", "| route | documents |", "|---|---|"]
    lines += [f"| {k} | {n} |" for k, n in s["routes"].items()]
    skipped = [f for f in s["files"] if f.get("skipped")]
    if skipped:
        lines += ["", "Skipped files:"] + [f"- {f['file']}: {f['skipped']}" for f in skipped]
    return mask_text("\n".join(lines))  # an artifact and command output: no personnummer


# A read submitted: returns the document read, or the exception its reading raised.
Pending = Callable[[], "DocumentResult | BaseException"]
Submit = Callable[..., Pending]


def _batch_run_name() -> str:
    """``batch-<path>``, masked: a scanner's file name can hold a personnummer, and run names
    are shown wherever the Prefect server is."""
    from prefect.runtime import flow_run

    return mask_text(f"batch-{flow_run.parameters.get('path')}")


@flow(name="process-batch", flow_run_name=_batch_run_name, task_runner=ThreadPoolTaskRunner(),
      validate_parameters=False)
def process_batch(path: str, data_dir: str | None = None, workers: int | None = None,
                  page_timeout_s: float = PAGE_TIMEOUT_S, quarantine_unusable: bool = True,
                  runner: str = "threads", received: str | None = None) -> BatchRun:
    """One batch (a file, or a folder of files in name order): page stage in the flow, one
    read task per document, each read document routed and stored as it comes. ``received``
    (YYYY-MM-DD): when FK received the post (default: the day each file was written).
    ``quarantine_unusable``: move files that cannot be opened to quarantine/ (off when the
    inbox sweep does the moving)."""
    install_log_masking()

    def submit(*args) -> Pending:
        future = read_document.submit(*args)
        return lambda: future.result(raise_on_failure=False)

    run = batch_work(path, data_dir, workers, page_timeout_s, quarantine_unusable, runner, received,
                     submit, get_run_logger())
    summary = run.summary
    create_markdown_artifact(summary_markdown(summary), key="batch-summary",
                             description=mask_text(f"Batch {Path(path).name}"))
    if summary["table"]:
        create_table_artifact([mask_value({k: (", ".join(map(str, v)) if isinstance(v, list) else v)
                                           for k, v in r.items()}) for r in summary["table"]],
                              key="batch-documents", description=mask_text(f"Documents of {Path(path).name}"))
    return run


def process_batch_direct(path: str | Path, data: DataDir, workers: int | None = None,
                         received: str | None = None) -> BatchRun:
    """The same work as :func:`process_batch` without Prefect: reads on a plain thread pool,
    no task runs, no artifacts. The benchmark's yardstick for the orchestration's cost."""
    w, _ = plan_concurrency(workers)
    with ThreadPoolExecutor(max_workers=w, thread_name_prefix="read") as pool:
        def submit(*args) -> Pending:
            future = pool.submit(read_document.fn, *args)

            def result() -> DocumentResult | BaseException:
                try:
                    return future.result()
                except Exception as e:  # noqa: BLE001 - handed on like Prefect's failed state
                    return e
            return result

        return batch_work(str(path), str(data.root), workers, PAGE_TIMEOUT_S, True, "direct", received,
                          submit, logging.getLogger("blankett.batch"))


def batch_work(path: str, data_dir: str | None, workers: int | None, page_timeout_s: float,
               quarantine_unusable: bool, runner: str, received: str | None, submit: Submit,
               logger: logging.Logger | logging.LoggerAdapter) -> BatchRun:
    """The body of :func:`process_batch`; ``submit(doc, threads, timeout, crop_dir)`` starts
    reading one document."""
    t0 = time.perf_counter()
    data = DataDir.resolve(data_dir)
    registry = TemplateRegistry.load()
    workers, threads = plan_concurrency(workers)
    limit = workers * QUEUE_PER_WORKER
    store = Store.open(data)
    batch_received = date.fromisoformat(received) if received else None
    batch_id = store.begin_batch(Path(path).name, batch_received)
    files: list[dict] = []
    pending: list[tuple[Origin, Document, Pending]] = []  # in batch order
    done: list[tuple[str, DocumentResult, str]] = []  # (file name, result, document id)
    stored_before: list[str] = []  # documents of this batch a run that died had stored
    touched: set[tuple[str, str]] = set()  # (personnummer, month) of the 3057s and 3059s stored
    stage_ms: Counter[str] = Counter()  # summed over pages (page stages) or documents

    def timed(stage: str, fn: Callable, *args):
        t = time.perf_counter()
        try:
            return fn(*args)
        finally:
            stage_ms[stage] += (time.perf_counter() - t) * 1e3

    def collect(until: int) -> None:
        while len(pending) > until:
            origin, doc, result = pending.pop(0)
            r = result()
            if isinstance(r, BaseException):  # a reader's bug must not stop the batch either
                logger.error("%s, document %d: reading failed: %r", origin.file, doc.index + 1, r)
                r = _failed(doc, r)
            stage_ms["read"] += r.timings_ms.get("read", 0.0)
            try:
                record = timed("record", draft_record, r, origin)
                record = timed("route", route_record, record)
            except Exception as e:  # noqa: BLE001 - a record that cannot be built goes to review whole
                logger.error("%s, document %d: record failed: %r", origin.file, doc.index + 1, e)
                r = _failed(doc, e)
                record = build_record(r, origin)
            key = report_key(record) if record["form"] in ("3057", "3059") else None
            if key is not None:
                touched.add(key)
            timed("store", store.save_document, origin.file_sha256, record)
            done.append((origin.file, r, record["document_id"]))
            _emit("document", r)

    for f in batch_paths(Path(path)):
        _emit("file", f)
        info = {"file": f.name, "pages": 0, "documents": 0, "refused": None, "skipped": None}
        files.append(info)
        sha = file_sha256(f)
        origin = Origin(Path(path).name, f.name, sha, batch_received or received_date(f))
        before = store.begin_file(batch_id, f.name, sha, origin.received)
        if before in ("done", "refused"):
            info["skipped"] = f"seen before ({before}): file {sha[:12]}… yields no new records"
            logger.info("%s: %s", f.name, info["skipped"])
            # still refused: a run that died between refusing the file and quarantining it
            # must not have the inbox archive it now
            info["refused"] = store.refusal(sha) if before == "refused" else None
            continue
        try:
            for doc in _file_documents(f, registry, origin.received, logger):
                n = len(doc.pages) + len(doc.attachments)
                info["pages"] += n
                info["documents"] += 1
                for p in list(doc.pages.values()) + list(doc.attachments):
                    stage_ms.update(p.timings_ms)
                _emit("pages", n)
                doc_id = document_id(sha, doc.index)
                if store.has_document(doc_id):  # stored by a run that died: not read again
                    stored_before.append(doc_id)
                    continue
                collect(limit - 1)
                doc = _lean(doc)  # waiting documents hold only what readers use
                pending.append((origin, doc, submit(doc, threads, page_timeout_s, data.crops / doc_id)))
        except InputFileError as e:
            info["refused"] = str(e)
            logger.warning("refused %s: %s", f.name, e)
            if quarantine_unusable:
                q = quarantine(f, data, str(e))
                info["quarantined_as"] = q.file.name
        collect(0)
        store.finish_file(sha, pages=info["pages"], documents=info["documents"], refused=info["refused"])
    # values shared by a case's documents, those of a resumed run's first part included
    timed("route", agree_batch, store, stored_before + [doc_id for _, _, doc_id in done])
    timed("route", revalidate_invoices, store, touched)
    exported = timed("store", export, store, data)
    routes = {doc_id: (store.record(doc_id) or {}).get("route") for _, _, doc_id in done}
    wall = time.perf_counter() - t0
    rows = [document_row(name, r, routes.get(doc_id)) for name, r, doc_id in done]
    summary = summarise(str(path), files, rows, wall, stage_ms, workers, threads, runner)
    summary["exported"] = {"records": exported.records, "elt": exported.elt,
                           "files": [p.name for p in exported.files]}
    summary["document_ids"] = [doc_id for _, _, doc_id in done]
    store.finish_batch(batch_id, {k: v for k, v in summary.items() if k != "table"})
    store.close()
    logger.info("%s: %d pages, %d documents in %.1f s", Path(path).name, summary["pages"], len(rows), wall)
    return BatchRun(summary, [r for _, r, _ in done])


def api_url() -> str:
    """The Prefect API this process talks to: PREFECT_API_URL, else the temporary local
    server (started now if it is not running yet)."""
    from prefect.client.orchestration import get_client

    with get_client(sync_client=True) as client:
        return str(client.api_url)


def batch_flow(workers: int | None = None, dask: str | None = None):
    """:func:`process_batch` with its task runner: threads in this process (default), or a
    Dask cluster — ``dask="local"`` starts one here (``workers`` processes), anything else is
    a scheduler address (``tcp://host:8786``)."""
    w, _ = plan_concurrency(workers)
    if dask is None:
        return process_batch.with_options(task_runner=ThreadPoolTaskRunner(max_workers=w))
    from prefect_dask import DaskTaskRunner

    if dask == "local":
        # The workers report their task runs to this process's Prefect API; without its
        # address each worker would start a temporary server of its own (10 s or more each,
        # on the same SQLite database).
        runner = DaskTaskRunner(cluster_kwargs={"n_workers": w, "threads_per_worker": 1, "processes": True,
                                                "dashboard_address": ":0",
                                                "env": {"PREFECT_API_URL": api_url()}})
    else:
        runner = DaskTaskRunner(address=dask)
    return process_batch.with_options(task_runner=runner)


def run_batch(path: str | Path, data: DataDir, workers: int | None = None, dask: str | None = None,
              page_timeout_s: float = PAGE_TIMEOUT_S, quarantine_unusable: bool = True,
              received: str | None = None) -> BatchRun:
    return batch_flow(workers, dask)(str(path), str(data.root), workers, page_timeout_s, quarantine_unusable,
                                     "threads" if dask is None else f"dask:{dask}", received)


# --- the inbox sweep -----------------------------------------------------------------------------

@flow(name="nightly-inbox", validate_parameters=False)
def nightly_inbox(data_dir: str | None = None, workers: int | None = None, dask: str | None = None,
                  min_age_s: float = inbox.MIN_AGE_S, settle_s: float = inbox.SETTLE_S,
                  retention: int | None = None) -> dict:
    """One sweep of the inbox: every stable file through :func:`process_batch`, then archived
    or quarantined (see :mod:`pipeline.inbox`); then the images of documents finished more
    than ``retention`` days ago are deleted (default :func:`pipeline.retention.retention_days`)."""
    install_log_masking()
    logger = get_run_logger()
    data = DataDir.resolve(data_dir).ensure()

    def processor(c: inbox.Claim) -> inbox.Verdict:
        run = run_batch(c.path, data, workers, dask, quarantine_unusable=False)
        refused = [f["refused"] for f in run.summary["files"] if f["refused"]]
        summary = {k: v for k, v in run.summary.items()}
        summary["claim"] = {"original": c.original, "sha256": c.sha256}
        return inbox.Verdict(refused[0] if refused else None, summary)

    report = inbox.sweep(data, processor, min_age_s, settle_s)
    if report.busy:
        logger.warning("another sweep is running on %s: nothing done", data.root)
    rows = [mask_value({"file": f.original, "outcome": "quarantined" if f.quarantined else "archived",
                        "destination": str(f.destination.relative_to(data.root)), "reason": f.reason or "",
                        "documents": f.summary.get("documents", 0), "recovered": f.recovered})
            for f in report.finished]
    md = [f"# Inbox sweep of {data.root}", "",
          f"{len(report.archived)} archived, {len(report.quarantined)} quarantined, "
          f"{len(report.waiting)} waiting (still being written or too new)."]
    md += [f"- waiting: {n} ({why})" for n, why in report.waiting]
    kept = retention_days(retention)
    store = Store.open(data)
    try:
        deleted = apply_retention(store, data, kept).deleted
    finally:
        store.close()
    md += ["", f"Retention: the images of {len(deleted)} document(s) finished over {kept} days ago deleted."]
    create_markdown_artifact(mask_text("\n".join(md)), key="inbox-sweep", description="Nightly inbox sweep")
    if rows:
        create_table_artifact(rows, key="inbox-files", description="Files of the sweep")
    logger.info("sweep: %d archived, %d quarantined, %d waiting", len(report.archived),
                len(report.quarantined), len(report.waiting))
    return {"busy": report.busy, "files": rows, "waiting": mask_value(report.waiting), "retention": deleted}


# --- serving the deployments ---------------------------------------------------------------------

def deployments(data: DataDir, workers: int | None = None, dask: str | None = None) -> list:
    from prefect.schedules import Cron

    params = {"data_dir": str(data.root), "workers": workers, "dask": dask}
    return [
        nightly_inbox.to_deployment(name="nightly-inbox", parameters=params,
                                    schedules=[Cron(NIGHTLY_CRON, timezone=NIGHTLY_TIMEZONE)],
                                    description="Sweep the inbox every night at 02:00 Stockholm time."),
        process_batch.to_deployment(name="process-batch", parameters={"data_dir": str(data.root), "workers": workers},
                                    description="One batch file or folder, on demand."),
    ]


def serve(data: DataDir, workers: int | None = None, dask: str | None = None) -> None:
    """Serve the deployments until interrupted (needs a real server: see ``blankett serve``)."""
    from prefect import serve as prefect_serve

    prefect_serve(*deployments(data, workers, dask), limit=1)
