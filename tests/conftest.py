"""Shared fixtures and per-template parametrization.

A test that takes a ``template`` argument runs once per form template of the registry; one
that takes ``template_page`` runs once per (template, page number). Their ids are
``3059/016F003`` and ``3059/016F003-p1`` so that a failure names the layout and page.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import pytest

from pipeline.errors import TemplateError
from pipeline.forms import TemplateRegistry

SHARED_DIR = Path(__file__).resolve().parents[1].parent / "shared"

# Lines that tests add to the end-of-run summary (e.g. the largest geometry deviation of each
# template against FK's reference PDF), so they show even in a quiet run.
SUMMARY_LINES: list[str] = []


@lru_cache(maxsize=1)
def _registry() -> TemplateRegistry:
    return TemplateRegistry.load()


@pytest.fixture(scope="session")
def registry() -> TemplateRegistry:
    """Every template under forms/, validated."""
    return _registry()


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    """The project's sibling ``shared`` directory (reference data, never committed)."""
    if not SHARED_DIR.is_dir():
        pytest.skip(f"{SHARED_DIR} not present: reference-form checks skipped")
    return SHARED_DIR


@pytest.fixture(scope="session")
def summary_lines() -> list[str]:
    """Append a line here to have it printed in the end-of-run summary."""
    return SUMMARY_LINES


@pytest.fixture
def template(request, registry):
    """One template (parametrized by key over the registry, see pytest_generate_tests)."""
    form, version = request.param.split("/")
    return registry.get(form, version)


@pytest.fixture
def template_page(request, registry):
    """(template, page number), parametrized over every page of every template."""
    key, page = request.param
    form, version = key.split("/")
    return registry.get(form, version), page


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    for name in ("template", "template_page"):
        if name not in metafunc.fixturenames:
            continue
        try:
            templates = _registry().templates
        except TemplateError:
            # Collect the test anyway, as one case whose registry fixture fails with the
            # loader's message, so that the other tests of the module still run.
            metafunc.parametrize(name, [("registry/error", 0) if name == "template_page" else "registry/error"],
                                 ids=["registry-error"], indirect=True)
            continue
        if name == "template":
            metafunc.parametrize(name, [t.key for t in templates], ids=[t.key for t in templates], indirect=True)
        else:
            pairs = [(t.key, p.number) for t in templates for p in t.pages]
            metafunc.parametrize(name, pairs, ids=[f"{k}-p{n}" for k, n in pairs], indirect=True)


def pytest_terminal_summary(terminalreporter, exitstatus, config) -> None:
    if SUMMARY_LINES:
        terminalreporter.section("geometry")
        for line in SUMMARY_LINES:
            terminalreporter.write_line(line)
