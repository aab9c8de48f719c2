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

    flows = _flows(data, verbose)
    files = batch_paths(Path(path))
    seen = {"files": 0, "pages": 0, "documents": 0}
    with Progress(SpinnerColumn(), TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                  TextColumn("{task.fields[status]}"), TimeElapsedColumn()) as bar:
        t = bar.add_task(Path(path).name, total=len(files), status="starting Prefect")

        def update(event: str, value) -> None:
            if event == "file":
                seen["files"] += 1
                bar.update(t, completed=seen["files"] - 1, description=value.name)
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
    import subprocess
    import time
    import urllib.request

    flows = _flows(data, verbose=True)
    server = None
    if not os.environ.get("PREFECT_API_URL"):
        api = f"http://127.0.0.1:{port}/api"
        exe = Path(sys.executable).with_name("prefect")
        cmd = [str(exe)] if exe.exists() else [sys.executable, "-m", "prefect"]
        log = (data.root / "prefect" / "server.log").open("ab")
        server = subprocess.Popen(cmd + ["server", "start", "--host", "127.0.0.1", "--port", str(port)],
                                  stdout=log, stderr=subprocess.STDOUT, env=os.environ.copy(),
                                  start_new_session=True)  # its own process group: stopped whole
        deadline = time.monotonic() + SERVER_START_TIMEOUT_S
        while True:
            try:
                with urllib.request.urlopen(f"{api}/health", timeout=2) as r:
                    if r.status == 200:
                        break
            except OSError:
                pass
            if server.poll() is not None or time.monotonic() > deadline:
                _stop(server)
                raise click.ClickException(f"the Prefect server did not start; see {log.name}")
            time.sleep(0.5)
        os.environ["PREFECT_API_URL"] = api
        click.echo(f"Prefect server on {api[:-4]} (database under {data.root / 'prefect'}; log {log.name})")
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
    click.echo(f"validated, not yet exported: {counts['validation_not_exported']}")
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
    click.echo(f"{result.records} record(s) exported, {result.elt} ELT time report(s)")
    for f in result.files:
        click.echo(f"  {f}")
    for doc_id, why in result.elt_errors.items():
        click.echo(f"  no ELT for {doc_id}: {why}")


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


if __name__ == "__main__":
    main()
