"""Prefect flows: real flow runs (Prefect's temporary server, started once for the module)
over slices of the committed sample batches, on the default thread runner and on a local
Dask cluster; the inbox sweep flow and the commands that run them."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from click.testing import CliRunner
from PIL import Image

from pipeline.cli import cli
from pipeline.config import DATA_ENV, DataDir

ROOT = Path(__file__).resolve().parents[1]
SAMPLE_TIF = ROOT / "samples" / "batch-2026-002.tif"  # 3066, 3066, 3057, 3059 (9 pages)


def tiff_pages(dest: Path, pages: range) -> Path:
    """Some pages of a committed sample batch as a new batch file (1-bit, CCITT G4)."""
    im = Image.open(SAMPLE_TIF)
    frames = []
    for i in pages:
        im.seek(i)
        frames.append(im.copy())
    frames[0].save(dest, save_all=True, append_images=frames[1:], compression="group4", dpi=(200, 200))
    return dest


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    """One data directory, hence one Prefect home and one temporary server, for the module."""
    data = DataDir.resolve(tmp_path_factory.mktemp("flows") / "data").ensure()
    before = os.environ.get(DATA_ENV)
    os.environ[DATA_ENV] = str(data.root)
    import flows

    flows.prefect_environment(data)
    yield flows, data
    if before is None:
        os.environ.pop(DATA_ENV, None)
    else:
        os.environ[DATA_ENV] = before


@pytest.fixture(scope="module")
def two_documents(tmp_path_factory) -> Path:
    return tiff_pages(tmp_path_factory.mktemp("src") / "two-3066.tif", range(0, 4))


@pytest.fixture(scope="module")
def one_document(tmp_path_factory) -> Path:
    return tiff_pages(tmp_path_factory.mktemp("src1") / "one-3066.tif", range(0, 2))


@pytest.fixture(scope="module")
def default_run(env, two_documents, tmp_path_factory):
    flows, data = env
    batch = tmp_path_factory.mktemp("batch")
    shutil.copy(two_documents, batch / "a-two-3066.tif")
    (batch / "b-broken.pdf").write_bytes(b"%PDF-1.4\nthis is not really a PDF\n")
    t0 = time.perf_counter()
    run = flows.run_batch(batch, data, workers=2)
    return run, batch, time.perf_counter() - t0


def fields_of(registry, key: str) -> int:
    t = registry.get(*key.split("/"))
    return sum(1 for _ in t.expanded_fields())


def readings(run) -> list:
    return [(d.key, sorted(d.pages), sorted((fid, r.value, r.status, round(r.confidence, 6))
                                              for fid, r in d.readings.items()))
            for d in run.documents]


def test_process_batch_flow(env, default_run, registry):
    flows, data = env
    run, batch, wall = default_run
    s = run.summary
    assert s["pages"] == 4 and s["documents"] == 2
    assert s["documents_per_form"] == {"3066/004F005": 2}
    # every field of both documents was read and has a status
    assert sum(s["readings"].values()) == 2 * fields_of(registry, "3066/004F005")
    assert s["readings"]["ok"] > 0 and sum(s["routes"].values()) == 2
    assert [d.key for d in run.documents] == ["3066/004F005"] * 2
    # the broken file: refused with its reason, moved to quarantine with a reason file
    refused = [f for f in s["files"] if f["refused"]]
    assert [f["file"] for f in refused] == ["b-broken.pdf"] and not (batch / "b-broken.pdf").exists()
    q = data.quarantine / refused[0]["quarantined_as"]
    assert q.exists() and json.loads(q.with_name(q.name + ".reason.json").read_text())["reason"] == refused[0]["refused"]
    assert s["concurrency"] == {"workers": 2, "threads": 1, "runner": "threads"}
    print(f"\nprocess_batch, 4 pages / 2 documents: {wall:.1f} s wall (flow), "
          f"page stage {s['timings']['page_stage_s']} s, reading {s['timings']['read_s']} s")

    # the run and its artifacts are on the Prefect server
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterKey

    with get_client(sync_client=True) as client:
        arts = client.read_artifacts(artifact_filter=ArtifactFilter(key=ArtifactFilterKey(any_=["batch-summary"])))
        # other tests' runs may share this server: take this batch's summary
        md = next(a.data for a in reversed(arts) if f"# Batch {batch}" in a.data)
        assert "| 3066/004F005 | 2 |" in md and "b-broken.pdf" in md and "| route | documents |" in md
        tables = client.read_artifacts(artifact_filter=ArtifactFilter(key=ArtifactFilterKey(any_=["batch-documents"])))
        assert tables and tables[-1].type == "table"
        runs = client.read_flow_runs()
        assert any(r.name.startswith("batch-") and r.state.is_completed() for r in runs)


def test_every_document_is_stored_once(env, default_run, registry):
    """The records of the run are in the store, routed; the same file again yields nothing
    new; a run that died after storing one document reads only the other one."""
    from pipeline.store import Store

    flows, data = env
    run, batch, _ = default_run
    store = Store.open(data)
    records = {r["document_id"]: r for r in store.records()}
    ids = run.summary["document_ids"]
    assert len(ids) == 2 and set(ids) <= set(records)
    assert {records[i]["route"] for i in ids} <= {"validation", "review", "completion"}
    before = store.queue_counts()["documents"]
    again = flows.run_batch(batch / "a-two-3066.tif", data, workers=1)
    assert again.documents == [] and "seen before" in again.summary["files"][0]["skipped"]
    assert store.queue_counts()["documents"] == before
    store.close()

    # a run that died: the file registered, its first document stored, then nothing
    fresh = DataDir.resolve(data.root.parent / "died").ensure()
    src = batch / "a-two-3066.tif"
    from pipeline.ingest import file_sha256

    died = Store.open(fresh)
    bid = died.begin_batch("died", None)
    died.begin_file(bid, src.name, file_sha256(src), None)
    died.save_document(file_sha256(src), records[ids[0]])
    resumed = flows.run_batch(src, fresh, workers=1)
    assert [d.index for d in resumed.documents] == [1]  # only the second document was read
    assert sorted(r["document_id"] for r in died.records()) == sorted(ids)
    assert died.file_status(file_sha256(src)) == "done"
    died.close()


def test_a_refused_file_stays_refused_when_run_again(env, tmp_path):
    """The sweep's processor refuses a file and the inbox quarantines it; a sweep killed in
    between runs the file again, seen before: it is still refused (and so quarantined), not
    archived as a file that yielded nothing."""
    flows, _ = env
    data = DataDir.resolve(tmp_path / "refused").ensure()
    bad = tmp_path / "c.pdf"
    bad.write_bytes(b"%PDF-1.4\nnot really a PDF\n")
    first = flows.run_batch(bad, data, workers=1, quarantine_unusable=False)
    reason = first.summary["files"][0]["refused"]
    assert reason
    again = flows.run_batch(bad, data, workers=1, quarantine_unusable=False)
    assert again.summary["files"][0]["refused"] == reason and "seen before" in again.summary["files"][0]["skipped"]


def test_dask_cluster_gives_the_same_results(env, default_run, two_documents, tmp_path):
    """process_batch on a local Dask cluster with two worker processes reads exactly what the
    default thread runner read (into a data directory of its own: the file is new there)."""
    flows, data = env
    run, _, _ = default_run
    t0 = time.perf_counter()
    dask_run = flows.run_batch(two_documents, DataDir.resolve(tmp_path / "dask").ensure(), workers=2, dask="local")
    print(f"\nDask, 2 workers: {time.perf_counter() - t0:.1f} s (cluster start included)")
    assert dask_run.summary["concurrency"]["runner"] == "dask:local"
    assert readings(dask_run) == readings(run)


def test_direct_run_does_the_same_work_without_prefect(env, default_run, two_documents, tmp_path):
    """The benchmark's yardstick for the orchestration's cost, process_batch_direct, reads
    and routes exactly what the flow did, with every stage timed."""
    flows, _ = env
    run, _, _ = default_run
    data = DataDir.resolve(tmp_path / "direct").ensure()
    direct = flows.process_batch_direct(two_documents, data, workers=2)
    assert direct.summary["concurrency"]["runner"] == "direct"
    assert readings(direct) == readings(run)
    assert direct.summary["routes"] == {k: v for k, v in run.summary["routes"].items()}
    stages = direct.summary["timings"]["stage_ms_per_page"]
    assert list(stages) == list(flows.STAGES) and all(ms > 0 for ms in stages.values())


def test_concurrency_never_oversubscribes_the_cores():
    import flows

    for cores in (1, 2, 3, 8, 16):
        for workers in (None, 1, 2, 3, 5, 40):
            w, t = flows.plan_concurrency(workers, cores)
            assert w >= 1 and t >= 1 and w * t <= cores
    assert flows.plan_concurrency(None, 8) == (8, 1) and flows.plan_concurrency(2, 8) == (2, 4)


def test_blankett_process_command(env, one_document):
    flows, data = env
    r = CliRunner().invoke(cli, ["--data", str(data.root), "process", str(one_document), "--workers", "1"],
                           catch_exceptions=False)
    assert r.exit_code == 0, r.output
    assert "2 pages, 1 documents in 1 file(s)" in r.output and "| 3066/004F005 | 1 |" in r.output
    assert one_document.exists()  # a good file stays where it is


def test_sweep_command_runs_the_inbox_flow(env, one_document):
    flows, data = env
    old = time.time() - 3600
    tiff_pages(data.inbox / "scan-1.tif", range(2, 4))  # a file this data directory has not seen
    (data.inbox / "scan-2.pdf").write_bytes(b"not a scan at all")
    for name in ("scan-1.tif", "scan-2.pdf"):
        os.utime(data.inbox / name, (old, old))
    (data.inbox / "scan-3.tif").write_bytes(one_document.read_bytes()[:1000])  # the scanner is writing it
    r = CliRunner().invoke(cli, ["--data", str(data.root), "sweep", "--min-age", "30", "--settle", "0.2"], catch_exceptions=False)
    assert r.exit_code == 0, r.output
    assert "scan-1.tif: archived" in r.output and "1 documents" in r.output
    assert "scan-2.pdf: quarantined" in r.output and "scan-3.tif: waiting" in r.output
    a, = [p for p in data.archive.glob("*/*-scan-1.tif")]
    result = json.loads(a.with_name(a.name + ".result.json").read_text())
    assert result["summary"]["documents_per_form"] == {"3066/004F005": 1}
    q, = data.quarantine.glob("*-scan-2.pdf")
    assert "not a PDF, TIFF, PNG or JPEG" in json.loads(q.with_name(q.name + ".reason.json").read_text())["reason"]
    assert [p.name for p in data.inbox.iterdir()] == ["scan-3.tif"]
    assert [p.name for p in data.processing.iterdir() if not p.name.startswith(".")] == []


def test_page_timeout_sends_the_document_to_review(env, one_document):
    """Run last in this module: the abandoned reading thread finishes in the background."""
    flows, data = env
    run = flows.run_batch(one_document, DataDir.resolve(data.root.parent / "timeout").ensure(), workers=1,
                          page_timeout_s=0.01)
    d, = run.documents
    assert not d.readings
    assert [(p.code, p.page) for p in d.problems] == [("read_timeout", 1), ("read_timeout", 2)]
    assert run.summary["page_problems"] == {"read_timeout": 2}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _post(url: str, body: dict) -> list:
    req = urllib.request.Request(url, json.dumps(body).encode(), {"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=10) as r:
        return json.loads(r.read())


def test_serve_starts_a_server_and_schedules_the_nightly_sweep(tmp_path):
    """`blankett serve` with no PREFECT_API_URL: a local server (SQLite under the data
    directory), the two deployments, and scheduled runs of the nightly sweep at 02:00
    Stockholm time — which the temporary server would never create."""
    data = tmp_path / "data"
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
    env.update({DATA_ENV: str(data), "PREFECT_SERVER_SERVICES_SCHEDULER_LOOP_SECONDS": "1",
                "PYTHONPATH": str(ROOT)})
    p = subprocess.Popen([sys.executable, "-m", "pipeline.cli", "--data", str(data), "serve", "--port", str(port)],
                         cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    api = f"http://127.0.0.1:{port}/api"
    try:
        deadline = time.monotonic() + 150
        deps, runs = [], []
        while time.monotonic() < deadline:
            assert p.poll() is None, "blankett serve exited"
            try:
                deps = _post(f"{api}/deployments/filter", {})
                nightly = [d for d in deps if d["name"] == "nightly-inbox"]
                if nightly:
                    runs = _post(f"{api}/flow_runs/filter",
                                 {"deployments": {"id": {"any_": [nightly[0]["id"]]}}})
                    if runs and len(deps) > 1:  # on a loaded machine the second may come a moment later
                        break
            except OSError:
                pass
            time.sleep(1)
        assert sorted(d["name"] for d in deps) == ["nightly-inbox", "process-batch"]
        sched = nightly[0]["schedules"][0]["schedule"]
        assert sched["cron"] == "0 2 * * *" and sched["timezone"] == "Europe/Stockholm"
        assert runs and all(r["state_type"] == "SCHEDULED" for r in runs)
        from datetime import datetime
        from zoneinfo import ZoneInfo

        when = datetime.fromisoformat(runs[0]["next_scheduled_start_time"]).astimezone(ZoneInfo("Europe/Stockholm"))
        assert (when.hour, when.minute) == (2, 0)
        assert (data / "prefect" / "prefect.db").exists()  # the server's state is in the data directory
    finally:
        p.send_signal(signal.SIGINT)
        try:
            p.wait(120)
        except subprocess.TimeoutExpired:
            p.kill()  # the server still gets SIGTERM: it dies with its parent (setpriv --pdeathsig)
    # the server was stopped with it (given a moment: a loaded machine stops it slowly)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(f"{api}/health", timeout=2).close()
        except OSError:
            break
        time.sleep(1)
    else:
        pytest.fail("the Prefect server outlived blankett serve")
