"""Booking rules: a daily quota per office split over its slots, at most 5 applicants per
booking (one online account books for a family), no booking in the past or on a closed day."""

from __future__ import annotations

import math
from collections.abc import Sequence, Set
from datetime import date, time

from kanim.domain.calendar import is_working_day
from kanim.domain.errors import Conflict, InvalidInput

MAX_APPLICANTS = 5


def slot_capacity(daily_quota: int, slots: Sequence[time]) -> int:
    """Each slot takes an equal share of the day, rounded up so the whole quota can be used."""
    return math.ceil(daily_quota / max(1, len(slots)))


def parse_slot(value: str, slots: Sequence[time]) -> time:
    try:
        t = time.fromisoformat(value)
    except ValueError:
        raise InvalidInput(f"slot {value!r} is not a time like 08:00", code="slot-format") from None
    if t not in slots:
        offered = ", ".join(s.strftime("%H:%M") for s in slots)
        raise InvalidInput(f"slot {value} is not offered; slots are {offered}", code="slot-unknown")
    return t


def check_booking(
    *,
    day: date,
    today: date,
    applicants: int,
    booked_that_day: int,
    booked_in_slot: int,
    daily_quota: int,
    slot_cap: int,
    holidays: Set[date],
    max_applicants: int = MAX_APPLICANTS,
) -> None:
    if not 1 <= applicants <= max_applicants:
        raise InvalidInput(f"a booking holds 1 to {max_applicants} applicants, not {applicants}",
                           code="booking-size")
    if day < today:
        raise InvalidInput(f"{day.isoformat()} is in the past", code="booking-in-past")
    if not is_working_day(day, holidays):
        raise InvalidInput(f"the office is closed on {day.isoformat()}", code="office-closed")
    if booked_that_day + applicants > daily_quota:
        left = max(0, daily_quota - booked_that_day)
        raise Conflict(f"the daily quota for {day.isoformat()} is full ({left} places left)",
                       code="quota-full", left=left)
    if booked_in_slot + applicants > slot_cap:
        left = max(0, slot_cap - booked_in_slot)
        raise Conflict(f"this slot is full ({left} places left); try another slot",
                       code="slot-full", left=left)
