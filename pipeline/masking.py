"""Personnummer out of everything that leaves the data directory's store: logs, progress
output and Prefect artifacts.

The records in the store keep full personnummer (FK needs them); a log line, a progress bar
or a flow run's artifact on a Prefect server that more people read must not. Anything in
such text that looks like a personnummer or samordningsnummer — 12 digits ``YYYYMMDDNNNN``
or 10 ``YYMMDD-NNNN`` / ``YYMMDDNNNN``, with a month and a day (or day + 60) that can be a
birth date, a ``-``, ``+`` or space before the last four allowed — is shown as
``19850312-****`` (:func:`pipeline.ids.mask_personnummer`). No check digit is required: a
misread number is still somebody's, and masking a phone number that happens to look like one
costs nothing.

:func:`mask_text` for text we write ourselves (artifacts, command output);
:func:`install_log_masking` puts :class:`MaskingFilter` on every handler of the logging
tree, which covers messages, arguments and tracebacks of our own and Prefect's loggers.
"""

from __future__ import annotations

import logging
import re

from pipeline.ids import mask_personnummer

_MONTH = r"(?:0[1-9]|1[0-2])"
_DAY = r"(?:0[1-9]|[12]\d|3[01]|6[1-9]|[78]\d|9[01])"  # samordningsnummer: day + 60
PERSONNUMMER_IN_TEXT = re.compile(rf"(?<!\d)(?:(?:18|19|20)\d\d|\d\d){_MONTH}{_DAY}[-+ ]?\d{{4}}(?!\d)", re.ASCII)


def mask_text(text: str) -> str:
    """``text`` with every personnummer-like number masked: ``19850312-****``."""
    if not text:
        return text
    return PERSONNUMMER_IN_TEXT.sub(lambda m: mask_personnummer(m.group()), text)


def mask_value(value):
    """Strings masked, lists and dicts masked inside; anything else as it is."""
    if isinstance(value, str):
        return mask_text(value)
    if isinstance(value, dict):
        return {k: mask_value(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(mask_value(v) for v in value)
    return value


class MaskingFilter(logging.Filter):
    """Masks a record's message (after its arguments are merged in) and its traceback."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # noqa: BLE001 - a broken format string: leave it to the handler
            return True
        masked = mask_text(message)
        if masked != message:
            record.msg, record.args = masked, ()
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = mask_text(record.exc_text)
        if record.stack_info:
            record.stack_info = mask_text(record.stack_info)
        return True


_FILTER = MaskingFilter()


def install_log_masking() -> int:
    """Put the masking filter on every handler of every logger that exists now (idempotent;
    call it again after something adds handlers). Returns how many handlers got it."""
    loggers = [logging.getLogger()] + [lg for lg in logging.root.manager.loggerDict.values()
                                       if isinstance(lg, logging.Logger)]
    added = 0
    for lg in loggers:
        for h in lg.handlers:
            if _FILTER not in h.filters:
                h.addFilter(_FILTER)
                added += 1
    return added
