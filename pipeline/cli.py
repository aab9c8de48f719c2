"""The ``blankett`` command.

Each subcommand is a thin shell over a module: the work is done in ``pipeline/``.
"""

from __future__ import annotations

import sys
from pathlib import Path

import click

from pipeline.config import DataDir
from pipeline.errors import BlankettError


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--data", "data_dir", type=click.Path(file_okay=False), default=None,
              help="Data directory for all state of a run (default: $BLANKETT_DATA or ./data).")
@click.pass_context
def cli(ctx: click.Context, data_dir: str | None) -> None:
    """blankett: scanned FK assistansersättning forms in, checked records out."""
    ctx.obj = DataDir.resolve(data_dir)


@cli.command()
@click.argument("form")
@click.option("--version", "version", default=None, help="Layout version, e.g. 016F003 (default: newest).")
@click.option("--out", type=click.Path(dir_okay=False), required=True, help="PDF file to write.")
def blank(form: str, version: str | None, out: str) -> None:
    """Draw a blank replica of FORM (3059, 3057, 3066, 3080) as a PDF."""
    from pipeline.forms import TemplateRegistry
    from pipeline.synth.render import render_blank_pdf

    t = TemplateRegistry.load().get(form, version)
    render_blank_pdf(t, out)
    click.echo(f"{out}: {t.form} {t.version_label} ({len(t.pages)} pages){' — provisional layout' if t.provisional else ''}")


@cli.command()
def templates() -> None:
    """List the form templates and their pages."""
    from pipeline.forms import TemplateRegistry

    for t in TemplateRegistry.load():
        fields = sum(1 for _ in t.expanded_fields())
        flag = " (provisional)" if t.provisional else ""
        ids = ", ".join(p.skanningsid for p in t.pages)
        click.echo(f"{t.form} {t.version_label}{flag}: {t.title}; {len(t.pages)} pages [{ids}], {fields} fields")


@cli.command()
@click.option("--out", type=click.Path(file_okay=False), required=True, help="Folder for the batches and truth files.")
@click.option("--count", type=int, default=10, show_default=True, help="About this many documents.")
@click.option("--seed", type=int, default=1, show_default=True, help="Everything follows from the seed.")
@click.option("--real-forms", is_flag=True, help="Fill FK's real blank forms (../shared/reference) instead of the replicas.")
@click.option("--small", is_flag=True, help="Small files (the committed sample set): 200 dpi, mostly 1-bit.")
def samples(out: str, count: int, seed: int, real_forms: bool, small: bool) -> None:
    """Generate scanned batches with ground truth."""
    from pipeline.synth.batch import SampleOptions, generate_samples

    opts = SampleOptions(count=count, seed=seed, real_forms=real_forms, small=small)
    for b in generate_samples(Path(out), opts):
        click.echo(f"{b.file}: {b.pages} pages, {b.documents} documents ({b.describe})")


@cli.command()
@click.argument("file", type=click.Path(exists=True, dir_okay=False))
@click.option("--out", type=click.Path(file_okay=False), required=True, help="Folder for one PNG per page.")
def inspect(file: str, out: str) -> None:
    """Draw the registered template over every page of FILE, to check registration by eye."""
    from pipeline.inspect import inspect_file

    inspect_file(Path(file), Path(out), echo=click.echo)


@cli.command()
@click.argument("folder", type=click.Path(exists=True, file_okay=False))
@click.pass_obj
def demo(data: DataDir, folder: str) -> None:
    """Run the main job on a folder of sample batches and say where each document went."""
    from pipeline.demo import run_demo

    run_demo(Path(folder), data, _flows(data), echo=click.echo)


# --- orchestration: Prefect flows (flows.py) ------------------------------------------------------

# `blankett serve` starts a Prefect server on this port unless PREFECT_API_URL names one, and
# waits this long (s) for it to answer: 10 s to healthy was measured on a 2-core machine.
SERVER_PORT = 4200
SERVER_START_TIMEOUT_S = 120.0


def _flows(data: DataDir, verbose: bool = False):
    """The flows module with Prefect's home under the data directory (set before Prefect is
    first imported: it reads its home then)."""
    import os

    from pipeline.config import DATA_ENV

    data.ensure()
    os.environ[DATA_ENV] = str(data.root)
    if not verbose:
        os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")
    import flows

    flows.prefect_environment(data)
    return flows


_workers_option = click.option("--workers", type=int, default=None,
                               help="Documents read in parallel (default: one per core; reading threads "
                                    "per document = cores // workers).")
_dask_option = click.option("--dask", default=None, metavar="ADDRESS",
                            help="Read documents on a Dask cluster: a scheduler address (tcp://host:8786), "
                                 "or 'local' for a local cluster of --workers processes.")


@cli.command()
@click.argument("path", type=click.Path(exists=True))
@_workers_option
@_dask_option
@click.option("--page-timeout", type=float, default=None, metavar="S",
              help="Seconds per page before a document is sent to review unread (default: 120).")
@click.option("--received", type=click.DateTime(formats=["%Y-%m-%d"]), default=None,
              help="The day FK received the post (YYYY-MM-DD; default: the day each file was written).")
@click.option("-v", "--verbose", is_flag=True, help="Show Prefect's log.")
@click.pass_obj
def process(data: DataDir, path: str, workers: int | None, dask: str | None, page_timeout: float | None,
            received, verbose: bool) -> None:
    """Process one batch file or folder now (Prefect's embedded mode: nothing to start)."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    from pipeline.intake import batch_paths
    from pipeline.masking import mask_text

    flows = _flows(data, verbose)
    files = batch_paths(Path(path))
    seen = {"files": 0, "pages": 0, "documents": 0}
    with Progress(SpinnerColumn(), TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                  TextColumn("{task.fields[status]}"), TimeElapsedColumn()) as bar:
        t = bar.add_task(mask_text(Path(path).name), total=len(files), status="starting Prefect")

        def update(event: str, value) -> None:
            if event == "file":
                seen["files"] += 1
                bar.update(t, completed=seen["files"] - 1, description=mask_text(value.name))
            elif event == "pages":
                seen["pages"] += value
            elif event == "document":
                seen["documents"] += 1
            bar.update(t, status=f"{seen['pages']} pages, {seen['documents']} documents read")

        with flows.progress(update):
            run = flows.run_batch(path, data, workers, dask,
                                  page_timeout if page_timeout is not None else flows.PAGE_TIMEOUT_S,
                                  received=received.date().isoformat() if received else None)
        bar.update(t, completed=len(files))
    click.echo(flows.summary_markdown(run.summary))


@cli.command()
@_workers_option
@_dask_option
@click.option("--min-age", type=float, default=None, metavar="S",
              help="Take only files untouched for this long (default: 60 s).")
@click.option("--settle", type=float, default=None, metavar="S",
              help="Look at each file's size twice this far apart (default: 2 s).")
@click.option("-v", "--verbose", is_flag=True, help="Show Prefect's log.")
@click.pass_obj
def sweep(data: DataDir, workers: int | None, dask: str | None, min_age: float | None, settle: float | None,
          verbose: bool) -> None:
    """Sweep the inbox once now: every stable file processed, then archived or quarantined."""
    flows = _flows(data, verbose)
    kw = {} if min_age is None else {"min_age_s": min_age}
    if settle is not None:
        kw["settle_s"] = settle
    result = flows.nightly_inbox(str(data.root), workers, dask, **kw)
    if result["busy"]:
        click.echo("another sweep is running: nothing done")
    for f in result["files"]:
        click.echo(f"{f['file']}: {f['outcome']} → {f['destination']}"
                   + (f" ({f['reason']})" if f["reason"] else f", {f['documents']} documents"))
    for name, why in result["waiting"]:
        click.echo(f"{name}: waiting ({why})")
    if not result["files"] and not result["waiting"] and not result["busy"]:
        click.echo(f"inbox empty: {data.inbox}")


@cli.command()
@_workers_option
@_dask_option
@click.option("--port", type=int, default=SERVER_PORT, show_default=True,
              help="Port of the local Prefect server started when PREFECT_API_URL is not set.")
@click.option("-v", "--verbose", is_flag=True, help="Show Prefect's log.")
@click.pass_obj
def serve(data: DataDir, workers: int | None, dask: str | None, port: int, verbose: bool) -> None:
    """Serve the deployments: the nightly inbox sweep (02:00 Europe/Stockholm) and process-batch.

    Schedules need a real Prefect server (the temporary one runs no schedules): the one named
    by PREFECT_API_URL, else a local one started here, its SQLite database under the data
    directory, stopped on exit."""
    import os

    flows = _flows(data, verbose=True)
    server = None
    if not os.environ.get("PREFECT_API_URL"):
        log = data.root / "prefect" / "server.log"
        try:
            server, api = start_prefect_server(port, log, os.environ.copy())
        except RuntimeError as e:
            raise click.ClickException(str(e)) from None
        os.environ["PREFECT_API_URL"] = api
        click.echo(f"Prefect server on {api[:-4]} (database under {data.root / 'prefect'}; log {log})")
    try:
        flows.serve(data, workers, dask)
    finally:
        if server is not None:
            _stop(server)


@cli.command()
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_obj
def status(data: DataDir, as_json: bool) -> None:
    """Queue counts: documents per route, open review tasks and completion items, exports."""
    import json

    from pipeline.store import Store, database_url, redact_url

    store = Store.open(data.ensure())
    counts = store.queue_counts()
    store.close()
    if as_json:
        click.echo(json.dumps(counts, indent=1))
        return
    click.echo(f"store: {redact_url(database_url(data))}")
    click.echo(f"documents: {counts['documents']}")
    for route, n in counts["routes"].items():
        click.echo(f"  {route:<11} {n}")
    click.echo(f"open review tasks: {counts['review_tasks_open']}")
    click.echo(f"open completion items: {counts['completion_items_open']}")
    click.echo(f"validated, not yet exported: {counts['validation_not_exported']} "
               f"(held until their time reports are decided: {counts['validation_held']})")
    click.echo("files: " + (", ".join(f"{k} {v}" for k, v in sorted(counts["files"].items())) or "none"))


@cli.command()
@click.pass_obj
def export(data: DataDir) -> None:
    """Write the validated records not yet exported to the outbox (JSON lines; ELT XML per 3059)."""
    from pipeline.export.outbox import export as write_outbox
    from pipeline.store import Store

    store = Store.open(data.ensure())
    result = write_outbox(store, data)
    store.close()
    click.echo(f"{result.records} record(s) exported, {result.elt} ELT time report(s); "
               f"{result.held} held until their time reports are decided")
    for f in result.files:
        click.echo(f"  {f}")
    for doc_id, why in result.elt_errors.items():
        click.echo(f"  no ELT for {doc_id}: {why}")


@cli.command()
@click.option("--days", type=int, default=None, metavar="N",
              help="Delete the images of documents finished more than N days ago "
                   "(default: $BLANKETT_RETENTION_DAYS, else 90).")
@click.pass_obj
def retention(data: DataDir, days: int | None) -> None:
    """Delete the field crops and page images of finished documents (exported, or sent back
    for completion) after the retention period; records and the audit log keep the rest."""
    from pipeline.retention import apply_retention, retention_days
    from pipeline.store import Store

    store = Store.open(data.ensure())
    try:
        r = apply_retention(store, data, retention_days(days))
    finally:
        store.close()
    click.echo(f"{len(r.deleted)} finished document(s) older than {r.days} days: "
               f"{r.files} image(s), {r.bytes / 1e6:.1f} MB deleted")


@cli.command()
@click.option("--out", type=click.Path(file_okay=False), default="docs/records", show_default=True)
def schema(out: str) -> None:
    """Write the JSON Schema of each form's record (docs/records/<form>.schema.json)."""
    import json

    from pipeline import record

    d = Path(out)
    d.mkdir(parents=True, exist_ok=True)
    for form in record.forms():
        path = d / f"{form}.schema.json"
        path.write_text(json.dumps(record.json_schema(form), ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
        click.echo(path)


@cli.command()
@click.option("--work", type=click.Path(file_okay=False), default="/tmp/blankett-bench", show_default=True,
              help="Scratch folder for the set and the runs' data (emptied first).")
@click.option("--scale", type=float, default=1.0, show_default=True, help="Shrink the set (a trial run).")
@click.option("--no-ocrmypdf", is_flag=True, help="Leave out the OCRmyPDF baseline.")
@click.option("--out", type=click.Path(dir_okay=False), default="docs/benchmarks.md", show_default=True,
              help="Report (its generated section is replaced); the JSON goes beside it.")
def bench(work: str, scale: float, no_ocrmypdf: bool, out: str) -> None:
    """The benchmark: speed, accuracy and OCRmyPDF side by side on a seeded set (issue 8)."""
    from pipeline import bench as benchmark

    md = Path(out)
    r = benchmark.run(Path(work), md.with_suffix(".json"), md, scale, not no_ocrmypdf, echo=click.echo)
    v = r["verdict"]
    click.echo(f"{v['pages_per_s']:.2f} pages/s (300 dpi 1-bit, 2 workers), peak RSS {v['peak_rss_mb']:.0f} MB, "
               f"routes right {r['accuracy']['routes_right']:.1%}; report in {md}")


def start_prefect_server(port: int, log: Path, env: dict[str, str],
                         timeout_s: float = SERVER_START_TIMEOUT_S):
    """``prefect server start`` on 127.0.0.1:``port`` in a process group of its own (stopped
    whole by :func:`_stop`), its output appended to ``log``; returns (process, API URL) once
    it answers its health check. Raises RuntimeError, the server stopped, when it exits or
    does not answer within ``timeout_s``.

    The server gets SIGTERM when this process dies, however it dies (util-linux's
    ``setpriv --pdeathsig``, where present): a ``blankett serve`` killed before its own
    clean-up leaves no server holding the port."""
    import shutil
    import subprocess
    import time
    import urllib.request

    api = f"http://127.0.0.1:{port}/api"
    exe = Path(sys.executable).with_name("prefect")
    cmd = [str(exe)] if exe.exists() else [sys.executable, "-m", "prefect"]
    setpriv = shutil.which("setpriv")
    if setpriv:
        cmd = [setpriv, "--pdeathsig", "TERM", "--", *cmd]
    with log.open("ab") as out:
        server = subprocess.Popen(cmd + ["server", "start", "--host", "127.0.0.1", "--port", str(port)],
                                  stdout=out, stderr=subprocess.STDOUT, env=env, start_new_session=True)
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            with urllib.request.urlopen(f"{api}/health", timeout=2) as r:
                if r.status == 200:
                    return server, api
        except OSError:
            pass
        if server.poll() is not None or time.monotonic() > deadline:
            _stop(server)
            raise RuntimeError(f"the Prefect server did not start; see {log}")
        time.sleep(0.5)


def _stop(proc) -> None:
    """Stop a process we started, and its children (its own process group)."""
    import os
    import signal
    import subprocess

    for sig, wait in ((signal.SIGTERM, 30), (signal.SIGKILL, 10)):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            return
        try:
            proc.wait(wait)
            return
        except subprocess.TimeoutExpired:
            continue


# --- review UI (pipeline/review) ------------------------------------------------------------------

def _data_option(f):
    return click.option("--data", "data_dir", type=click.Path(file_okay=False), default=None,
                        help="Data directory (overrides blankett --data).")(f)


@cli.command()
@_data_option
@click.option("--host", default=None, help="Address to listen on (default: 127.0.0.1, this machine only).")
@click.option("--port", type=int, default=None, help="Port (default: 8059).")
@click.pass_obj
def review(data: DataDir, data_dir: str | None, host: str | None, port: int | None) -> None:
    """Serve the operators' review UI (log in with a user made by `blankett user add`)."""
    import uvicorn

    from pipeline import defs
    from pipeline.review.app import create_app

    data = DataDir.resolve(data_dir) if data_dir else data
    app = create_app(data.ensure())
    host, port = host or defs.REVIEW_HOST, port or defs.REVIEW_PORT
    click.echo(f"review UI on http://{host}:{port}/ (data {data.root})")
    uvicorn.run(app, host=host, port=port, log_level="warning", server_header=False)


@cli.group()
def user() -> None:
    """Operators of the review UI."""


def _read_password(stdin: bool) -> str:
    if stdin:
        return sys.stdin.readline().rstrip("\n")
    return click.prompt("password", hide_input=True, confirmation_prompt=True)


def _on_store(data: DataDir, data_dir: str | None, act):
    """``act(store)`` on the store of ``--data`` (after the command) or ``blankett --data``."""
    from pipeline.store import Store

    store = Store.open((DataDir.resolve(data_dir) if data_dir else data).ensure())
    try:
        return act(store)
    finally:
        store.close()


_password_stdin = click.option("--password-stdin", is_flag=True,
                               help="Read the password from the first line of standard input.")


@user.command("add")
@click.argument("name")
@_data_option
@_password_stdin
@click.pass_obj
def user_add(data: DataDir, name: str, data_dir: str | None, password_stdin: bool) -> None:
    """Add an operator NAME (the password is asked for, twice)."""
    from pipeline.review.auth import hash_password

    hashed = hash_password(_read_password(password_stdin))
    if not _on_store(data, data_dir, lambda s: s.add_user(name, hashed)):
        raise click.ClickException(f"an operator named {name!r} exists already")
    click.echo(f"operator {name} added")


@user.command("password")
@click.argument("name")
@_data_option
@_password_stdin
@click.pass_obj
def user_password(data: DataDir, name: str, data_dir: str | None, password_stdin: bool) -> None:
    """Set a new password for NAME (their sessions end)."""
    from pipeline.review.auth import hash_password

    hashed = hash_password(_read_password(password_stdin))
    if not _on_store(data, data_dir, lambda s: s.set_password(name, hashed)):
        raise click.ClickException(f"no operator named {name!r}")
    click.echo(f"password of {name} set")


@user.command("disable")
@click.argument("name")
@_data_option
@click.option("--enable", is_flag=True, help="Enable the operator again instead.")
@click.pass_obj
def user_disable(data: DataDir, name: str, data_dir: str | None, enable: bool) -> None:
    """Disable the operator NAME (their sessions end at once)."""
    if not _on_store(data, data_dir, lambda s: s.set_user_active(name, enable)):
        raise click.ClickException(f"no operator named {name!r}")
    click.echo(f"operator {name} {'enabled' if enable else 'disabled'}")


@user.command("list")
@_data_option
@click.pass_obj
def user_list(data: DataDir, data_dir: str | None) -> None:
    """List the operators."""
    for u in _on_store(data, data_dir, lambda s: s.users()):
        click.echo(f"{u['name']}{'' if u['active'] else ' (disabled)'}")


def main() -> None:
    try:
        cli(standalone_mode=False)
    except click.exceptions.Abort:
        sys.exit(130)
    except click.ClickException as e:
        e.show()
        sys.exit(e.exit_code)
    except BlankettError as e:
        click.echo(f"blankett: {e}", err=True)
        sys.exit(e.exit_code)
    except Exception as e:
        from pipeline.errors import StoreUnavailableError, is_store_outage
        from pipeline.masking import mask_text

        if not is_store_outage(e):
            raise
        click.echo(f"blankett: the store cannot be reached ({mask_text(type(e).__name__)}): nothing of the "
                   "file being read was committed; bring the database back and run again", err=True)
        sys.exit(StoreUnavailableError.exit_code)


if __name__ == "__main__":
    main()
