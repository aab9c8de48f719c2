"""One exception hierarchy for blankett.

Every failure a user can meet has a class, a clear message and an exit code, as in
OCRmyPDF's ``exceptions.py``. Messages say what the user can do about it.
"""

from __future__ import annotations


class BlankettError(Exception):
    """Base class of every error blankett raises on purpose."""

    exit_code = 1


class TemplateError(BlankettError):
    """A form template file is missing or invalid. Fix the YAML file named in the message."""

    exit_code = 3

    def __init__(self, file: str, problems: list[str]):
        self.file = file
        self.problems = problems
        lines = "\n".join(f"  - {p}" for p in problems)
        super().__init__(f"invalid form template {file}:\n{lines}")


class UnknownFormError(BlankettError):
    """No template exists for the form or layout version asked for."""

    exit_code = 4


class InputFileError(BlankettError):
    """An input file cannot be read (damaged, encrypted, unsupported). It is quarantined."""

    exit_code = 5


class MissingDependencyError(BlankettError):
    """A system program or data file blankett needs is not installed. Run `make demo` or `make test`."""

    exit_code = 6


class SettingError(BlankettError):
    """A setting (an environment variable or a command's option) has a value blankett cannot
    use. The message names it and what is expected."""

    exit_code = 2


class StoreUnavailableError(BlankettError):
    """The store (the database) could not be reached in the middle of a run. Nothing was
    committed for the file being processed and nothing was moved to the archive: it stays in
    ``processing/`` and the next run takes it again. Bring the database back and rerun."""

    exit_code = 7


# SQLAlchemy's errors for a database that went away or cannot be reached (refused connection,
# server shut down, connection closed mid-statement); not errors of a statement or its data.
_STORE_OUTAGE_ERRORS = ("OperationalError", "InterfaceError", "DisconnectionError")


def is_store_outage(exc: BaseException | None) -> bool:
    """True when ``exc`` (or an exception it was raised from) says the database is not
    reachable: a fault of the infrastructure, never of the file being processed."""
    seen: set[int] = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        if isinstance(exc, StoreUnavailableError):
            return True
        if type(exc).__module__.startswith("sqlalchemy") and type(exc).__name__ in _STORE_OUTAGE_ERRORS:
            return True
        exc = exc.__cause__ or exc.__context__
    return False
