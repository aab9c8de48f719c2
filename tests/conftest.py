"""Shared fixtures and per-template parametrization.

A test that takes a ``template`` argument runs once per form template of the registry; one
that takes ``template_page`` runs once per (template, page number). Their ids are
``3059/016F003`` and ``3059/016F003-p1`` so that a failure names the layout and page.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from functools import lru_cache
from pathlib import Path

import pytest

from pipeline.errors import TemplateError
from pipeline.forms import TemplateRegistry

SHARED_DIR = Path(__file__).resolve().parents[1].parent / "shared"

# The PostgreSQL server the store tests use, as a SQLAlchemy URL of a database on it that the
# tests may connect to (each test gets its own fresh database there). `make test` starts a
# throwaway server (scripts/test-postgres.sh) and sets it; unset, the PostgreSQL half is skipped.
DATABASE_URL_ENV = "BLANKETT_TEST_DATABASE_URL"

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


@pytest.fixture(params=["sqlite", "postgresql"], ids=["sqlite", "postgresql"])
def database_url(request, tmp_path) -> Iterator[str]:
    """A SQLAlchemy URL of an empty database, once on SQLite and once on PostgreSQL.

    sqlite: a file in the test's tmp_path. postgresql: a database of its own, created on the
    server named by $BLANKETT_TEST_DATABASE_URL and dropped after the test (skipped when the
    variable is unset; a server that is set but cannot be reached fails the test).
    """
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'blankett.db'}"
        return
    server = os.environ.get(DATABASE_URL_ENV)
    if not server:
        pytest.skip(f"{DATABASE_URL_ENV} is not set: PostgreSQL tests skipped "
                    "(`make test` starts a server; or: export "
                    f"{DATABASE_URL_ENV}=$(bash scripts/test-postgres.sh start))")
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    base = make_url(server)
    name = f"blankett_t_{uuid.uuid4().hex[:16]}"  # unique per test; lower case ASCII
    admin = create_engine(base, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}" ENCODING \'UTF8\' TEMPLATE template0'))
    except Exception:
        admin.dispose()
        raise
    try:
        yield base.set(database=name).render_as_string(hide_password=False)
    finally:
        try:
            with admin.connect() as conn:
                # WITH (FORCE) (PostgreSQL 13+): a connection the test left open does not block it.
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        finally:
            admin.dispose()


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
