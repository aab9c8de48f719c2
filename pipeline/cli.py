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

    data.ensure()
    run_demo(Path(folder), data, echo=click.echo)


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
