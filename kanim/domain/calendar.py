"""Working days (hari kerja): Monday to Friday, minus public holidays and cuti bersama.

Cuti bersama are the collective leave days the government adds around holidays such as Idul
Fitri; for an office they are just more closed days, so they belong in `holidays` too. The
holiday list itself is data the office maintains: this module only counts.
"""

from __future__ import annotations

from collections.abc import Set
from datetime import date, timedelta

from kanim.domain.errors import InvalidInput

SERVICE_STANDARD_DAYS = 4  # at most 4 working days from interview to ready passport

_ONE_DAY = timedelta(days=1)


def is_working_day(day: date, holidays: Set[date] = frozenset()) -> bool:
    """True for Monday-Friday that are not in `holidays`."""
    return day.weekday() < 5 and day not in holidays


def add_working_days(start: date, days: int, holidays: Set[date] = frozenset()) -> date:
    """The date `days` working days after `start`; `start` itself never counts.

    `days=0` returns `start` unchanged, even on a weekend. Negative counts are refused rather
    than counted backwards: nothing in the office needs them and a sign slip should be loud.
    """
    if days < 0:
        raise InvalidInput(f"Cannot add {days} working days; the count must be 0 or more.",
                           code="calendar-negative-days")
    day = start
    remaining = days
    while remaining:
        day += _ONE_DAY
        if is_working_day(day, holidays):
            remaining -= 1
    return day


def working_days_between(start: date, end: date, holidays: Set[date] = frozenset()) -> int:
    """How many working days lie after `start` up to and including `end` (0 if end <= start).

    The inverse of `add_working_days`: working_days_between(d, add_working_days(d, n)) == n.
    Useful to tell how far past the service standard an application is.
    """
    count = 0
    day = start
    while day < end:
        day += _ONE_DAY
        if is_working_day(day, holidays):
            count += 1
    return count


def ready_date(
    interviewed_on: date,
    holidays: Set[date] = frozenset(),
    service_days: int = SERVICE_STANDARD_DAYS,
) -> date:
    """The latest date the passport should be ready: `service_days` working days after the
    interview. The interview day does not count, even when it is a working day; an interview
    held on a weekend or holiday (e.g. a Saturday catch-up service) starts counting from the
    next working day all the same.
    """
    return add_working_days(interviewed_on, service_days, holidays)
