"""The blankett command: each subcommand on real inputs, and where a run keeps its state."""

from __future__ import annotations

import os
import shutil
import stat
from pathlib import Path

from click.testing import CliRunner
from pypdf import PdfReader

from pipeline.cli import cli
from pipeline.config import DataDir

SAMPLES = Path(__file__).resolve().parents[1] / "samples"


def _run(*args, env=None):
    r = CliRunner().invoke(cli, list(args), env=env, catch_exceptions=False)
    assert r.exit_code == 0, r.output
    return r.output


def test_blank_replica(tmp_path):
    out = tmp_path / "3059.pdf"
    text = _run("blank", "3059", "--out", str(out))
    assert "016 F 003" in text and "3 pages" in text
    pdf = PdfReader(str(out))
    assert len(pdf.pages) == 3
    assert abs(float(pdf.pages[0].mediabox.width) / 72 * 25.4 - 210) < 0.2
    text = _run("blank", "3059", "--version", "015F001", "--out", str(tmp_path / "old.pdf"))
    assert "015 F 001" in text
    assert "provisional" in _run("blank", "3080", "--out", str(tmp_path / "3080.pdf"))


def test_unknown_form_is_a_clear_error(tmp_path):
    r = CliRunner().invoke(cli, ["blank", "9999", "--out", str(tmp_path / "x.pdf")])
    assert r.exit_code != 0 and "no template for form 9999" in str(r.exception)


def test_templates_listing():
    text = _run("templates")
    for key in ("3059 016 F 003", "3059 015 F 001", "3057 016 F 002", "3066 004 F 005", "3080 001 P 001 (provisional)"):
        assert key in text


def test_samples_and_inspect(tmp_path):
    text = _run("samples", "--out", str(tmp_path / "s"), "--count", "2", "--seed", "3", "--small")
    assert "documents" in text
    batch = sorted(p for p in (tmp_path / "s").iterdir() if not p.name.endswith(".json"))[0]
    text = _run("inspect", str(batch), "--out", str(tmp_path / "insp"))
    assert "RMS" in text and list((tmp_path / "insp").glob("*.png"))


def test_demo_on_the_committed_samples(tmp_path):
    """make demo's job: the samples through the Prefect flow, every document routed and
    reported beside its expected route; run again, nothing is processed twice."""
    import re

    shutil.copytree(SAMPLES, tmp_path / "samples")
    data = tmp_path / "data"
    text = _run("--data", str(data), "demo", str(tmp_path / "samples"))
    routed = re.findall(r"  document \d+: \S+ pages \[[\d, ]+\] → (validation|review|completion)", text)
    assert len(routed) == 12 and text.count("; expected ") == 12
    status = _run("--data", str(data), "status")
    assert "documents: 12" in status
    again = _run("--data", str(data), "demo", str(tmp_path / "samples"))
    assert again.count("already processed") == 3 and again.count(" → ") == 12
    assert "documents: 12" in _run("--data", str(data), "status")
    assert not list((tmp_path / "samples").glob("*.pdf.*"))  # the samples themselves untouched
    assert (data / "prefect").is_dir()  # Prefect's state under the data directory


def test_data_dir_choice_and_permissions(tmp_path, monkeypatch):
    monkeypatch.delenv("BLANKETT_DATA", raising=False)
    assert DataDir.resolve(None).root == Path("./data").resolve()
    monkeypatch.setenv("BLANKETT_DATA", str(tmp_path / "env"))
    assert DataDir.resolve(None).root == tmp_path / "env"
    assert DataDir.resolve(tmp_path / "cli").root == tmp_path / "cli"  # --data wins
    d = DataDir.resolve(tmp_path / "cli").ensure()
    for sub in ("inbox", "processing", "archive", "quarantine", "outbox", "crops"):
        assert (d.root / sub).is_dir()
    assert stat.S_IMODE(os.stat(d.root).st_mode) == 0o700
