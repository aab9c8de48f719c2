"""The inbox sweep without Prefect: stable files only, atomic moves, exactly once across crashes.

The processor here checks each file's content (every file the writer makes ends with a
trailer line, so a file taken half-written is caught) and keeps a log of what it processed;
the page pipeline itself is exercised through the flows in test_flows.py.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from pipeline import inbox
from pipeline.config import DataDir

ROOT = Path(__file__).resolve().parents[1]
TRAILER = b"\nEND-OF-FILE\n"


def content(i: int) -> bytes:
    return f"scan {i}\n".encode() + os.urandom(3000 + 97 * i) + TRAILER


def check_processor(log: Path):
    """Archive complete files, quarantine anything else; log every call (name, sha256)."""
    def process(c: inbox.Claim) -> inbox.Verdict:
        data = c.path.read_bytes()
        with log.open("a") as f:
            f.write(f"{c.original} {c.sha256}\n")
        if not data.endswith(TRAILER):
            return inbox.Verdict("incomplete file", {"bytes": len(data)})
        return inbox.Verdict(None, {"bytes": len(data)})
    return process


def calls(log: Path) -> list[tuple[str, str]]:
    return [tuple(line.split()) for line in log.read_text().splitlines()] if log.exists() else []


def put(path: Path, data: bytes, age_s: float = 600.0) -> Path:
    path.write_bytes(data)
    t = time.time() - age_s
    os.utime(path, (t, t))
    return path


def archived(data: DataDir) -> list[Path]:
    return sorted(p for p in data.archive.glob("*/*") if not p.name.endswith(".json"))


def quarantined(data: DataDir) -> list[Path]:
    return sorted(p for p in data.quarantine.iterdir() if not p.name.endswith(".json"))


def leftovers(data: DataDir) -> list[str]:
    return sorted(p.name for p in data.processing.iterdir() if p.name != inbox.LOCK)


@pytest.fixture
def data(tmp_path) -> DataDir:
    return DataDir.resolve(tmp_path / "data").ensure()


def test_only_stable_files_are_taken(data, tmp_path):
    put(data.inbox / "old.pdf", content(1))
    put(data.inbox / "young.pdf", content(2), age_s=0.0)
    put(data.inbox / "batch.pdf.part", content(3))
    put(data.inbox / ".hidden.tif", content(4))
    growing = put(data.inbox / "growing.tif", content(5))

    def grow():  # a writer that is still appending while the sweep looks
        for _ in range(10):
            with growing.open("ab") as f:
                f.write(b"more")
            time.sleep(0.02)

    t = threading.Thread(target=grow)
    t.start()
    ready, waiting = inbox.stable_files(data.inbox, min_age_s=5.0, settle_s=0.1)
    t.join()
    assert [p.name for p, _ in ready] == ["old.pdf"]
    why = dict(waiting)
    assert set(why) == {"young.pdf", "growing.tif"}
    assert "still being written" in why["growing.tif"] and "ago" in why["young.pdf"]


def test_sweep_archives_quarantines_and_records(data, tmp_path):
    log = tmp_path / "calls.log"
    body = content(1)
    put(data.inbox / "a.pdf", body)
    put(data.inbox / "b.tif", content(2)[:-3])  # cut short: the processor refuses it
    report = inbox.sweep(data, check_processor(log), min_age_s=1.0, settle_s=0.05)
    assert [f.original for f in report.archived] == ["a.pdf"]
    assert [(f.original, f.reason) for f in report.quarantined] == [("b.tif", "incomplete file")]
    a, = archived(data)
    assert a.read_bytes() == body and a.name.endswith("-a.pdf")
    assert a.parent.parent == data.archive and len(a.parent.name) == 10  # archive/<YYYY-MM-DD>/
    result = json.loads(a.with_name(a.name + ".result.json").read_text())
    assert result["reason"] is None and result["summary"]["bytes"] == len(a.read_bytes())
    q, = quarantined(data)
    reason = json.loads(q.with_name(q.name + ".reason.json").read_text())
    assert reason["reason"] == "incomplete file" and reason["file"] == "b.tif" and reason["sha256"]
    assert not list(data.inbox.iterdir()) and leftovers(data) == []
    assert len(inbox.read_ledger(data)) == 2 and len(calls(log)) == 2


def test_same_bytes_again_are_a_duplicate(data, tmp_path):
    log = tmp_path / "calls.log"
    body = content(7)
    put(data.inbox / "x.pdf", body)
    inbox.sweep(data, check_processor(log), min_age_s=1.0, settle_s=0.05)
    put(data.inbox / "x-copy.pdf", body)  # the copy job ran twice
    report = inbox.sweep(data, check_processor(log), min_age_s=1.0, settle_s=0.05)
    f, = report.finished
    assert f.quarantined and f.reason.startswith("duplicate") and "x.pdf" in f.reason
    assert len(calls(log)) == 1


def test_crash_after_the_commit_is_not_processed_again(data, tmp_path):
    """Moved in, processed, outcome committed — then the process died before the move out."""
    log = tmp_path / "calls.log"
    body = content(3)
    src = put(data.inbox / "c.pdf", body)
    c = inbox.claim(src, src.stat(), data)
    inbox.process_claim(data, c, check_processor(log), inbox.read_ledger(data))
    assert leftovers(data) == sorted([c.name, f".{c.name}.claim.json", f".{c.name}.done.json"])

    report = inbox.sweep(data, check_processor(log), min_age_s=1.0, settle_s=0.05)
    f, = report.finished
    assert f.recovered and not f.quarantined and f.destination.read_bytes() == body
    assert len(calls(log)) == 1  # not processed a second time
    assert leftovers(data) == [] and len(inbox.read_ledger(data)) == 1


def test_crash_right_after_the_claim_is_processed_once(data, tmp_path):
    log = tmp_path / "calls.log"
    src = put(data.inbox / "d.pdf", content(4))
    c = inbox.claim(src, src.stat(), data)
    inbox._journal(data.processing, c.name, "claim").unlink()  # died between move 1 and the journal
    report = inbox.sweep(data, check_processor(log), min_age_s=1.0, settle_s=0.05)
    f, = report.finished
    assert f.recovered and f.original == "d.pdf" and not f.quarantined
    assert calls(log) == [("d.pdf", c.sha256)] and leftovers(data) == []


def test_a_file_that_keeps_killing_the_process_is_quarantined(data, tmp_path):
    src = put(data.inbox / "e.pdf", content(5))
    c = inbox.claim(src, src.stat(), data)

    def dies(claim):
        raise KeyboardInterrupt  # the process is interrupted while on this file

    for _ in range(inbox.MAX_ATTEMPTS):
        with pytest.raises(KeyboardInterrupt):
            inbox.process_claim(data, c, dies, {})
    log = tmp_path / "calls.log"
    report = inbox.sweep(data, check_processor(log), min_age_s=1.0, settle_s=0.05)
    f, = report.finished
    assert f.quarantined and "interrupted 3 times" in f.reason and calls(log) == []


def test_a_second_sweep_waits_for_the_first(data, tmp_path):
    put(data.inbox / "f.pdf", content(6))
    with inbox._Lock(data.processing / inbox.LOCK) as got:
        assert got
        report = inbox.sweep(data, check_processor(tmp_path / "calls.log"), min_age_s=1.0, settle_s=0.05)
    assert report.busy and not report.finished and (data.inbox / "f.pdf").exists()


SWEEPER = """
import sys, time
sys.path.insert(0, {root!r})
from pathlib import Path
from pipeline import inbox
from pipeline.config import DataDir
TRAILER = {trailer!r}
log = Path({log!r})

def process(c):
    data = c.path.read_bytes()
    with log.open("a") as f:
        f.write(f"{{c.original}} {{c.sha256}}\\n")
    time.sleep(0.15)  # the reading takes a while: a crash can land in it
    return inbox.Verdict(None if data.endswith(TRAILER) else "incomplete file", {{"bytes": len(data)}})

inbox.sweep(DataDir.resolve({data!r}), process, min_age_s={min_age}, settle_s=0.05)
"""


def test_writer_during_sweeps_and_a_crash_between_two_moves(data, tmp_path):
    """A scanner writes 14 files (slowly, in chunks; some under a .part name renamed when
    complete) while sweeps run; the first sweep is killed (SIGKILL) while a file sits in
    processing/, between its move in and its move out. After the writer stops and a last
    sweep, every file is in the archive exactly once, complete, processed to its outcome
    exactly once, and nothing is left behind."""
    n_files, min_age = 14, 0.4
    log = tmp_path / "calls.log"
    written: dict[str, bytes] = {}

    def writer():
        for i in range(n_files):
            name = f"scan-{i:02d}.tif"
            body = content(i)
            tmp = data.inbox / (name + ".part" if i % 3 == 0 else name)
            with tmp.open("wb") as f:
                for k in range(0, len(body), 1024):
                    f.write(body[k:k + 1024])
                    f.flush()
                    time.sleep(0.01)
            if tmp.name != name:
                os.rename(tmp, data.inbox / name)
            written[name] = body
            time.sleep(0.05)

    def sweeper() -> subprocess.Popen:
        code = SWEEPER.format(root=str(ROOT), trailer=TRAILER, log=str(log), data=str(data.root), min_age=min_age)
        return subprocess.Popen([sys.executable, "-c", code])

    w = threading.Thread(target=writer)
    w.start()
    time.sleep(1.0)  # a few files are complete and old enough
    p = sweeper()
    deadline = time.monotonic() + 60
    while not any(not q.name.startswith(".") for q in data.processing.iterdir()):
        assert p.poll() is None and time.monotonic() < deadline, "the sweep never claimed a file"
        time.sleep(0.002)
    p.send_signal(signal.SIGKILL)  # the crash: a file moved in, not yet moved out
    assert p.wait(10) == -signal.SIGKILL
    stranded = [q.name for q in data.processing.iterdir() if not q.name.startswith(".")]
    assert stranded

    p = sweeper()  # the next run, while the scanner is still writing
    assert p.wait(60) == 0
    w.join()
    time.sleep(min_age + 0.1)
    report = inbox.sweep(data, check_processor(log), min_age_s=min_age, settle_s=0.05)
    assert not report.waiting

    # every file accounted for exactly once
    assert len(written) == n_files
    got = {}
    for a in archived(data):
        original = a.name.split("-", 1)[1]
        assert original not in got, f"{original} archived twice"
        got[original] = a.read_bytes()
        assert json.loads(a.with_name(a.name + ".result.json").read_text())["reason"] is None
    assert got == written  # all there, complete, nothing extra
    assert quarantined(data) == [] and list(data.inbox.iterdir()) == [] and leftovers(data) == []
    ledger = [json.loads(line) for line in (data.archive / inbox.LEDGER).read_text().splitlines()]
    assert sorted(e["original"] for e in ledger) == sorted(written)  # one outcome per file
    # processed once each, except that the file the crash interrupted was started once more
    seen = [name for name, _ in calls(log)]
    extra = [name for name in set(seen) if seen.count(name) > 1]
    assert sorted(set(seen)) == sorted(written)
    assert set(extra) <= {s.split("-", 1)[1] for s in stranded} and len(extra) <= 1
