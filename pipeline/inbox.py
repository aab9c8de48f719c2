"""The inbox sweep, without an orchestrator: scanner files move ``inbox/`` → ``processing/`` →
``archive/<date>/`` or ``quarantine/``, each by one atomic rename, exactly once.

The scanner (or a copy job) writes into ``inbox/``. A sweep takes a file only when it is
*stable*: its size and modification time did not change over :data:`SETTLE_S` and it is at
least :data:`MIN_AGE_S` old; hidden files and the usual partial-download names are left
alone. A taken file is *claimed* by renaming it into ``processing/`` under a unique claim name
(``<UTC time>-<name>``), so a scanner that writes the same name again never touches it.

Exactly once, across crashes. Each claim ``C`` has, in ``processing/``:

- ``C``               the file itself, from the claim until it is finished;
- ``.C.claim.json``   original name, SHA-256, attempts (rewritten atomically);
- ``.C.done.json``    the outcome — where the file goes, why, and the summary of its
                      processing. Written atomically (temporary file, fsync, rename): this
                      rename is the *commit point* of the file.

Then ``C`` is renamed to its destination, ``.C.done.json`` is renamed beside it
(``<C>.result.json`` in the archive, ``<C>.reason.json`` in quarantine, the same reason file
as :func:`pipeline.intake.quarantine` writes) and the claim journal is removed. A crash at
any point leaves a state the next sweep finishes before it takes anything new
(:func:`recover`): no outcome yet → process again (nothing was committed, so nothing is done
twice); an outcome → only the remaining renames, never processing again. A store (database)
that cannot be reached stops the sweep with :class:`~pipeline.errors.StoreUnavailableError`
before the commit point, so that file too stays in ``processing/`` for the next run. A file whose
processing was interrupted :data:`MAX_ATTEMPTS` times (it crashes the process, say) is
quarantined instead of being retried every night. Whatever the processor writes elsewhere
(the store, next issue) must be keyed by the claim's SHA-256 so that a rerun after a crash
before the commit point replaces rather than duplicates.

A ledger, ``archive/ledger.jsonl``, records the SHA-256 of every finished file: the same bytes
delivered again (a copy job run twice) are quarantined as a duplicate, not processed again.
One sweep at a time: a second sweep while one runs (an overlapping scheduled run) returns
at once (``flock`` on ``processing/.sweep.lock``). Every rename stays inside the data
directory, one file system, so it is atomic; a cross-device layout is an error, not a copy.
"""

from __future__ import annotations

import errno
import fcntl
import json
import os
import time
import traceback
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable, Iterator

from pipeline.config import DataDir
from pipeline.errors import StoreUnavailableError, is_store_outage
from pipeline.ingest import file_sha256
from pipeline.intake import IGNORED_SUFFIXES
from pipeline.masking import mask_text

# A file is taken only when nothing has written to it for this long (s, by its mtime). Scanners
# and copy jobs write a batch file in one go, seconds at most; a minute of quiet is far beyond
# any pause of a working writer and costs nothing for a nightly run.
MIN_AGE_S = 60.0
# ... and its size and mtime, looked at twice this far apart (s), agree: catches a writer that
# resumed after a pause longer than MIN_AGE_S, or a clock that is off.
SETTLE_S = 2.0
# A claim processed this many times without reaching its outcome (the process was killed each
# time, e.g. out of memory on that file) is quarantined instead of tried every night.
MAX_ATTEMPTS = 3
# Names writers use while a file is incomplete.
PARTIAL_SUFFIXES = (".part", ".partial", ".tmp", ".crdownload", ".filepart", "~")
LEDGER = "ledger.jsonl"
LOCK = ".sweep.lock"


@dataclass
class Claim:
    path: Path  # the file, in processing/
    original: str  # its name in inbox/
    sha256: str
    claimed_at: str  # ISO time, UTC
    attempts: int = 0

    @property
    def name(self) -> str:
        return self.path.name


@dataclass
class Verdict:
    """What processing decided for a file: archive it (``reason`` None) or quarantine it."""

    reason: str | None = None
    summary: dict = field(default_factory=dict)  # JSON-able: kept beside the file


@dataclass
class Finished:
    claim: str
    original: str
    sha256: str
    destination: Path
    reason: str | None  # None: archived
    summary: dict
    recovered: bool = False  # finished from a previous, interrupted sweep

    @property
    def quarantined(self) -> bool:
        return self.reason is not None


@dataclass
class SweepReport:
    finished: list[Finished] = field(default_factory=list)
    waiting: list[tuple[str, str]] = field(default_factory=list)  # (name, why not taken yet)
    busy: bool = False  # another sweep held the lock: nothing done

    @property
    def archived(self) -> list[Finished]:
        return [f for f in self.finished if not f.quarantined]

    @property
    def quarantined(self) -> list[Finished]:
        return [f for f in self.finished if f.quarantined]


Processor = Callable[[Claim], Verdict]


# --- small durable file operations ------------------------------------------------------------

def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _write_json_atomic(path: Path, obj: dict) -> None:
    tmp = path.with_name(path.name + ".tmp")
    with tmp.open("w", encoding="utf-8") as f:
        json.dump(obj, f, ensure_ascii=False, indent=1, default=str)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
    _fsync_dir(path.parent)


def _rename(src: Path, dst: Path) -> None:
    """Atomic, never overwriting (destinations are unique claim names; checked anyway)."""
    if dst.exists():
        raise FileExistsError(errno.EEXIST, "refusing to overwrite", str(dst))
    try:
        os.rename(src, dst)
    except OSError as e:
        if e.errno == errno.EXDEV:
            raise OSError(e.errno, f"{src} and {dst} are on different file systems: the data "
                                   "directory must be one file system for atomic moves") from e
        raise
    _fsync_dir(dst.parent)
    if src.parent != dst.parent:
        _fsync_dir(src.parent)


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="microseconds")


def _journal(processing: Path, claim: str, kind: str) -> Path:
    return processing / f".{claim}.{kind}.json"


# --- the ledger of finished files --------------------------------------------------------------

def read_ledger(data: DataDir) -> dict[str, dict]:
    """SHA-256 → ledger entry of every finished file."""
    path = data.archive / LEDGER
    out: dict[str, dict] = {}
    if path.exists():
        for line in path.read_text(encoding="utf-8").splitlines():
            try:
                e = json.loads(line)
            except json.JSONDecodeError:  # a line cut by a crash mid-append
                continue
            out.setdefault(e["sha256"], e)
    return out


def _append_ledger(data: DataDir, entry: dict) -> None:
    path = data.archive / LEDGER
    with path.open("a", encoding="utf-8") as f:
        # a crash can cut the previous line: start on a fresh line so that only that one is lost
        if f.tell() > 0:
            with path.open("rb") as r:
                r.seek(-1, os.SEEK_END)
                if r.read(1) != b"\n":
                    f.write("\n")
        f.write(json.dumps(entry, ensure_ascii=False) + "\n")
        f.flush()
        os.fsync(f.fileno())


# --- taking files from the inbox ---------------------------------------------------------------

def _candidate(p: Path) -> bool:
    n = p.name
    return (not n.startswith(".") and not n.endswith(PARTIAL_SUFFIXES)
            and p.suffix.lower() not in IGNORED_SUFFIXES)


def stable_files(inbox: Path, min_age_s: float = MIN_AGE_S, settle_s: float = SETTLE_S
                 ) -> tuple[list[tuple[Path, os.stat_result]], list[tuple[str, str]]]:
    """Files of the inbox that no one is writing: (path, stat) in name order, and the others
    with the reason they wait."""
    first: dict[Path, os.stat_result] = {}
    for p in sorted(inbox.iterdir()):
        if _candidate(p):
            try:
                st = p.stat()
            except FileNotFoundError:
                continue
            if os.path.isfile(p):
                first[p] = st
    if not first:
        return [], []
    time.sleep(settle_s)
    ready, waiting = [], []
    now = time.time()
    for p, a in first.items():
        try:
            b = p.stat()
        except FileNotFoundError:  # renamed away by its writer
            continue
        if (a.st_size, a.st_mtime_ns) != (b.st_size, b.st_mtime_ns):
            waiting.append((p.name, "still being written"))
        elif now - b.st_mtime < min_age_s:
            waiting.append((p.name, f"written {now - b.st_mtime:.1f} s ago, under {min_age_s:g} s"))
        else:
            ready.append((p, b))
    return ready, waiting


def claim(path: Path, seen: os.stat_result, data: DataDir) -> Claim | None:
    """Move one stable inbox file into processing/ (move 1). None when it changed since it
    was seen (its writer is back): it stays in the inbox for a later sweep."""
    st = path.stat()
    if (st.st_size, st.st_mtime_ns) != (seen.st_size, seen.st_mtime_ns):
        return None
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S%fZ")
    dest = data.processing / f"{stamp}-{path.name}"
    _rename(path, dest)
    st2 = dest.stat()
    if (st2.st_size, st2.st_mtime_ns) != (st.st_size, st.st_mtime_ns) and not path.exists():
        _rename(dest, path)  # written to while we took it: not ours yet
        return None
    return _register_claim(dest, path.name, data)


def _register_claim(path: Path, original: str, data: DataDir, claimed_at: str | None = None) -> Claim:
    c = Claim(path, original, file_sha256(path), claimed_at or _now())
    _write_json_atomic(_journal(data.processing, c.name, "claim"),
                       {"original": c.original, "sha256": c.sha256, "claimed_at": c.claimed_at, "attempts": 0})
    return c


def _original_name(claim_name: str) -> str:
    """``20261123T020000123456Z-batch.pdf`` → ``batch.pdf``."""
    head, sep, rest = claim_name.partition("-")
    return rest if sep and head.endswith("Z") and head[:8].isdigit() else claim_name


# --- processing and finishing one claim --------------------------------------------------------

def _destination(data: DataDir, c: Claim, reason: str | None) -> Path:
    if reason is not None:
        return data.quarantine / c.name
    day = datetime.now().astimezone().date().isoformat()  # the archive is by local date
    return data.archive / day / c.name


def _commit(data: DataDir, c: Claim, verdict: Verdict, ledger: dict[str, dict]) -> dict:
    dest = _destination(data, c, verdict.reason)
    done = {"file": c.original, "original": c.original, "claim": c.name, "sha256": c.sha256,
            "claimed_at": c.claimed_at, "attempts": c.attempts, "done_at": _now(),
            "destination": str(dest.relative_to(data.root)), "reason": verdict.reason,
            "summary": verdict.summary}
    if verdict.reason is not None:
        done["quarantined_at"] = done["done_at"]
    _write_json_atomic(_journal(data.processing, c.name, "done"), done)  # the commit point
    entry = {k: done[k] for k in ("sha256", "original", "claim", "destination", "done_at")}
    _append_ledger(data, entry)
    ledger.setdefault(c.sha256, entry)
    return done


def finish(data: DataDir, claim_name: str, done: dict, recovered: bool) -> Finished:
    """The renames after the commit point (move 2, then the outcome file); idempotent."""
    proc = data.processing
    dest = data.root / done["destination"]
    dest.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    src = proc / claim_name
    if src.exists():
        _rename(src, dest)
    side = dest.with_name(dest.name + (".reason.json" if done["reason"] is not None else ".result.json"))
    jd = _journal(proc, claim_name, "done")
    if jd.exists():
        _rename(jd, side)
    _journal(proc, claim_name, "claim").unlink(missing_ok=True)
    return Finished(claim_name, done["original"], done["sha256"], dest, done["reason"], done["summary"], recovered)


def process_claim(data: DataDir, c: Claim, processor: Processor, ledger: dict[str, dict]) -> dict:
    jc = _journal(data.processing, c.name, "claim")
    c.attempts += 1
    _write_json_atomic(jc, {"original": c.original, "sha256": c.sha256, "claimed_at": c.claimed_at,
                            "attempts": c.attempts})
    earlier = ledger.get(c.sha256)
    if earlier is not None:
        verdict = Verdict(f"duplicate: the same file ({earlier['original']}) was already processed at "
                          f"{earlier['done_at']} ({earlier['destination']})")
    elif c.attempts > MAX_ATTEMPTS:
        verdict = Verdict(f"processing was interrupted {c.attempts - 1} times (the process crashed "
                          "or was killed on this file)")
    else:
        try:
            verdict = processor(c)
        except Exception as e:  # noqa: BLE001 - a bug or a file that breaks a stage: an operator looks at it
            if is_store_outage(e):
                # Not the file's fault: no outcome, no move, and this attempt does not count
                # towards MAX_ATTEMPTS. The sweep stops; the next one takes the claim again.
                c.attempts -= 1
                _write_json_atomic(jc, {"original": c.original, "sha256": c.sha256, "claimed_at": c.claimed_at,
                                        "attempts": c.attempts})
                raise StoreUnavailableError(
                    f"the store could not be reached while processing {mask_text(c.original)} "
                    f"({type(e).__name__}); "
                    f"nothing was moved: the file waits in {c.path.parent.name}/ for the next run") from e
            verdict = Verdict(f"processing failed: {type(e).__name__}: {e}",
                              {"traceback": traceback.format_exc(limit=20)})
    return _commit(data, c, verdict, ledger)


def recover(data: DataDir, ledger: dict[str, dict]) -> tuple[list[Finished], list[Claim]]:
    """What an interrupted sweep left in processing/: claims with an outcome are finished now
    (never processed again); claims without one are returned, to be processed again."""
    proc = data.processing
    names: set[str] = set()
    for p in proc.iterdir():
        n = p.name
        if n == LOCK:
            continue
        if n.endswith(".json.tmp"):  # an atomic write cut short: its rename never happened
            p.unlink(missing_ok=True)
            continue
        if n.startswith(".") and n.endswith((".claim.json", ".done.json")):
            names.add(n[1:].rsplit(".", 2)[0])
        elif not n.startswith("."):
            names.add(n)
    finished, pending = [], []
    for name in sorted(names):
        jd, jc, f = _journal(proc, name, "done"), _journal(proc, name, "claim"), proc / name
        if jd.exists():
            done = json.loads(jd.read_text(encoding="utf-8"))
            if done["sha256"] not in ledger:  # crashed between the commit and the ledger line
                entry = {k: done[k] for k in ("sha256", "original", "claim", "destination", "done_at")}
                _append_ledger(data, entry)
                ledger[done["sha256"]] = entry
            finished.append(finish(data, name, done, recovered=True))
        elif f.exists():
            if jc.exists():
                j = json.loads(jc.read_text(encoding="utf-8"))
                c = Claim(f, j["original"], j["sha256"], j["claimed_at"], j.get("attempts", 0))
            else:  # crashed between move 1 and the claim journal
                c = _register_claim(f, _original_name(name), data)
            pending.append(c)
        else:  # the outcome already beside the file; only the claim journal was left
            jc.unlink(missing_ok=True)
    return finished, pending


# --- the sweep ---------------------------------------------------------------------------------

class _Lock:
    def __init__(self, path: Path):
        self.path = path
        self.fd: int | None = None

    def __enter__(self) -> bool:
        self.fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(self.fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return True
        except BlockingIOError:
            return False

    def __exit__(self, *exc) -> None:
        if self.fd is not None:
            os.close(self.fd)  # releases the lock


def sweep_steps(data: DataDir, processor: Processor, min_age_s: float = MIN_AGE_S,
                settle_s: float = SETTLE_S, report: SweepReport | None = None) -> Iterator[Finished]:
    """The sweep, one finished file at a time: first whatever an interrupted sweep left, then
    every stable inbox file, looking again until a look finds nothing stable (files that
    arrive meanwhile and are still young wait for the next sweep)."""
    data.ensure()
    report = report if report is not None else SweepReport()
    with _Lock(data.processing / LOCK) as got:
        if not got:
            report.busy = True
            return
        ledger = read_ledger(data)
        finished, pending = recover(data, ledger)
        for f in finished:
            report.finished.append(f)
            yield f
        for c in pending:
            f = finish(data, c.name, process_claim(data, c, processor, ledger), recovered=True)
            report.finished.append(f)
            yield f
        while True:
            ready, report.waiting = stable_files(data.inbox, min_age_s, settle_s)
            took = 0
            for path, st in ready:
                try:
                    c = claim(path, st, data)
                except FileNotFoundError:  # its writer renamed or removed it
                    continue
                if c is None:
                    report.waiting.append((path.name, "changed while being taken"))
                    continue
                took += 1
                f = finish(data, c.name, process_claim(data, c, processor, ledger), recovered=False)
                report.finished.append(f)
                yield f
            if not took:
                break


def sweep(data: DataDir, processor: Processor, min_age_s: float = MIN_AGE_S, settle_s: float = SETTLE_S) -> SweepReport:
    """One whole sweep of ``data``'s inbox; see :func:`sweep_steps`."""
    report = SweepReport()
    for _ in sweep_steps(data, processor, min_age_s, settle_s, report):
        pass
    return report
