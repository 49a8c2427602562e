"""Logging that keeps personal data out of every log kanim writes, on both roles.

What reached logs before: database errors quote the failing row and, unless hidden, the SQL
parameters (a central's log once held NIKs and base64 faces); exceptions quote their input
(`Invalid isoformat string: '…'`); access logs carry query strings. So:

- engines are made with `hide_parameters=True` (kanim.store.db);
- tracebacks keep their frames (file, line, code) but every exception's message is withheld,
  except the SQLSTATE and constraint name of a database error, which say what went wrong
  without saying with whose data;
- access log lines show the path without its query string.

Messages kanim logs itself name operations, offices and counts, never people.
"""

from __future__ import annotations

import logging
import logging.config
import traceback
from copy import copy
from typing import Any

from uvicorn.logging import AccessFormatter, DefaultFormatter

WITHHELD = "(message withheld: it may hold personal data)"


def safe_message(exc: BaseException) -> str:
    orig = getattr(exc, "orig", None)
    if orig is not None:  # a SQLAlchemy DBAPIError around the driver's error
        diag = getattr(orig, "diag", None)
        parts = [f"SQLSTATE {s}" for s in [getattr(orig, "sqlstate", None)] if s]
        parts += [f"constraint {c}" for c in [getattr(diag, "constraint_name", None)] if c]
        parts += [f"table {t}" for t in [getattr(diag, "table_name", None)] if t]
        return f"{type(orig).__name__} {' '.join(parts)} {WITHHELD}".replace("  ", " ")
    return WITHHELD


CAUSE = "\nThe above exception was the direct cause of the following exception:\n\n"
CONTEXT = "\nDuring handling of the above exception, another exception occurred:\n\n"


def format_exception_safely(exc: BaseException) -> str:
    """A traceback as Python prints it (causes and contexts first), with messages withheld."""
    chain: list[tuple[BaseException, str]] = []  # (exception, what links it to the one before it)
    seen: set[int] = set()
    current: BaseException | None = exc
    link = ""
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        chain.append((current, link))
        if current.__cause__ is not None:
            current, link = current.__cause__, CAUSE
        elif current.__context__ is not None and not current.__suppress_context__:
            current, link = current.__context__, CONTEXT
        else:
            current = None
    out = []
    for e, link in reversed(chain):  # the first cause first, as Python prints
        out.append("Traceback (most recent call last):\n")
        out.extend(traceback.format_tb(e.__traceback__))
        out.append(f"{type(e).__module__}.{type(e).__qualname__}: {safe_message(e)}\n")
        out.append(link)
    return "".join(out).rstrip("\n")


class SafeFormatter(DefaultFormatter):
    def formatException(self, ei: Any) -> str:  # noqa: N802 - logging's name
        return format_exception_safely(ei[1]) if ei and ei[1] is not None else ""

    def formatStack(self, stack_info: str) -> str:  # noqa: N802
        return stack_info  # frames only: no values


class SafeAccessFormatter(AccessFormatter):
    def formatMessage(self, record: logging.LogRecord) -> str:  # noqa: N802
        if isinstance(record.args, tuple) and len(record.args) == 5:
            record = copy(record)
            client, method, path, version, status = record.args
            record.args = (client, method, str(path).split("?", 1)[0], version, status)
        return super().formatMessage(record)

    def formatException(self, ei: Any) -> str:  # noqa: N802
        return format_exception_safely(ei[1]) if ei and ei[1] is not None else ""


def config(level: str = "INFO") -> dict[str, Any]:
    """The logging configuration of a kanim process (uvicorn's `log_config`, or `configure`)."""
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {
            "default": {"()": "kanim.logs.SafeFormatter", "fmt": "%(levelprefix)s %(name)s: %(message)s",
                        "use_colors": False},
            "access": {"()": "kanim.logs.SafeAccessFormatter",
                       "fmt": '%(levelprefix)s %(client_addr)s - "%(request_line)s" %(status_code)s',
                       "use_colors": False},
        },
        "handlers": {
            "default": {"formatter": "default", "class": "logging.StreamHandler", "stream": "ext://sys.stderr"},
            "access": {"formatter": "access", "class": "logging.StreamHandler", "stream": "ext://sys.stdout"},
        },
        "loggers": {
            "uvicorn": {"handlers": ["default"], "level": level, "propagate": False},
            "uvicorn.error": {"level": level},
            "uvicorn.access": {"handlers": ["access"], "level": level, "propagate": False},
            "kanim": {"handlers": ["default"], "level": level, "propagate": False},
            # Anything else (SQLAlchemy, httpx, libraries) reaches the root through the same formatter.
            "": {"handlers": ["default"], "level": "WARNING"},
        },
    }


def configure(level: str = "INFO") -> None:
    """For processes uvicorn does not start (`kanim worker`, the CLI)."""
    logging.config.dictConfig(config(level))
