"""Counting rows by time bucket inside the database, the same on SQLite and PostgreSQL.

The dashboard's and the national view's charts count, per minute or per hour, the operations
that entered the queue, left it or arrived: `GROUP BY time_bucket(...)` returns one row per
bucket instead of one per operation, so a chart over a fortnight's outage reads a few hundred
numbers, not a hundred thousand timestamps.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Integer, bindparam
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.elements import ColumnElement
from sqlalchemy.sql.functions import FunctionElement

from kanim.store.types import UTCDateTime


class _TimeBucket(FunctionElement[int]):
    """floor((column - start) / width seconds): 0 for [start, start + width), 1 for the next."""

    type = Integer()
    inherit_cache = True
    name = "time_bucket"


def time_bucket(column: ColumnElement[Any], start: datetime, width_seconds: float) -> ColumnElement[int]:
    """The bucket `column` falls in; meaningful for values at or after `start`."""
    return _TimeBucket(column, bindparam(None, start, type_=UTCDateTime()),
                       bindparam(None, float(width_seconds)))


@compiles(_TimeBucket)
def _sqlite(element: _TimeBucket, compiler: Any, **kw: Any) -> str:
    # SQLite keeps these columns as text, 'YYYY-MM-DD HH:MM:SS.ffffff' (UTC): whole seconds from
    # strftime('%s') and the microseconds from the text itself, so that a time on a bucket's edge
    # falls in the bucket it starts (julianday() arithmetic is off by some microseconds and would
    # put it in the one before). CAST truncates: floor, for the values at or after start.
    column, start, width = (compiler.process(c, **kw) for c in element.clauses)
    seconds = (f"((strftime('%s', {column}) - strftime('%s', {start})) + "
               f"(CAST(substr({column}, 21, 6) AS INTEGER) - CAST(substr({start}, 21, 6) AS INTEGER)) / 1000000.0)")
    return f"CAST({seconds} / {width} AS INTEGER)"


@compiles(_TimeBucket, "postgresql")
def _postgresql(element: _TimeBucket, compiler: Any, **kw: Any) -> str:
    column, start, width = (compiler.process(c, **kw) for c in element.clauses)
    return f"CAST(floor(EXTRACT(EPOCH FROM ({column} - {start})) / {width}) AS INTEGER)"
