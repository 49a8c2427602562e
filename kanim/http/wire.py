"""How values look on the wire, where pydantic's lax parsing would accept more than the OpenAPI
document says: a date is an ISO 8601 string (pydantic also takes 0 for 1970-01-01), a moment is
an ISO 8601 string with its time zone (a naive one cannot be stored: kanim/store/types.py), and
an integer fits the store's 64 bits."""

from __future__ import annotations

import re
from datetime import date
from typing import Annotated, Any

from pydantic import AwareDatetime, BeforeValidator

# The largest integer SQLite and PostgreSQL (BIGINT) hold: a larger one is refused as input
# instead of overflowing in the driver.
INT64_MAX = 2**63 - 1


EXAMPLES = {"date": "2026-12-01", "moment": "2026-12-01T09:30:00+07:00"}


def _iso(kind: str, shape: str):  # noqa: ANN202
    def check(value: Any) -> Any:  # noqa: ANN401
        if isinstance(value, str) and re.match(shape, value):
            return value
        raise ValueError(f"a {kind} is written as an ISO 8601 string, e.g. {EXAMPLES[kind]}")

    return check


# pydantic alone reads "0" or 0 as 1970-01-01 (a Unix time).
IsoDate = Annotated[date, BeforeValidator(_iso("date", r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$"))]
IsoMoment = Annotated[AwareDatetime, BeforeValidator(_iso("moment", r"^[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt ]"))]


# Documented for clients, checked by the domain (which refuses others with its own code, e.g.
# `booklet-serial-format`, `billing-code-format`): booklet serials are case- and space-tolerant.
SERIAL = {"pattern": r"^\s*[A-Za-z]{1,2}[0-9]{7}\s*$"}
BILLING_CODE = {"pattern": r"^\s*[0-9]{15}\s*$"}


def _number(value: Any) -> Any:  # noqa: ANN401
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError("a JSON number is expected")
    return value


# A JSON integer: 3 or 3.0 (JSON Schema's integers), not "3" or true, which pydantic alone takes.
JsonInt = Annotated[int, BeforeValidator(_number)]
