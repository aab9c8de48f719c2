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
