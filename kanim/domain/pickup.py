"""Staged pickup (pengambilan paspor bertahap): when many passports become ready at once, after
an outage, each applicant is given a pickup slot, day by day, within the pickup desk's capacity.

The rules, in the order they apply:

1. **The calendar** (`pickup_calendar`). The desk opens `slot_times` on working days (Monday to
   Friday, minus holidays and cuti bersama), `seats_per_slot` each, from `start` (the first day
   an applicant can still be told about, usually the next working day). A supervisor may open
   extra capacity (`extra`): on a Saturday or a holiday it opens the day; on a working day it
   adds to the day's own (an evening slot, or more seats at the same time). Extra days before
   `start` are left out: nobody can be told about them any more. Seats already given
   (`taken`) are subtracted, never below zero.
2. **The queue** (`queue_key`). Most urgent first by `drain_priority`: medical, then hajj/umrah,
   then travel (a travel date within 60 days lifts an applicant with no stated priority into the
   travel group), then the rest; within a rank the nearer travel date, then the passport ready
   the longest, then the application id, so the same input always gives the same schedule. A
   travel date already passed stays at the head of its group: it is the most urgent of all.
3. **Families** (the applications of one booking). A family keeps its place in the queue by its
   most urgent member (a medical child brings the parents along), and is placed together:
   on the **earliest day that can hold all of it**; on that day **in one slot** when one slot
   has the seats, otherwise in a **run of adjacent slots** (consecutive slot times, each with a
   free seat), the earliest run that holds them, filled in time order. A family is never split
   across days. Whoever comes after a family in the queue fills the seats it could not use.
4. **Capacity** is never exceeded. Whoever finds no slot (the calendar ran out) is returned in
   `Schedule.unplaced`, in queue order: nobody is dropped silently. Open more days or extra
   capacity and assign them again.
5. **A call, not just a message**: an assignment whose slot is on or after the applicant's
   travel date is flagged `needs_call`; a message alone would arrive too late to help.
6. **Assigning again** is safe: the caller passes only the passports still without a slot (the
   previous run's `unplaced`, plus any newly ready) and a calendar built with
   `taken=schedule.seats_taken()`; nobody already placed is moved. A family member who becomes
   ready after the rest of the family was placed is a family of one in the later run.
7. **Another slot** (`next_free`): for a no-show or an applicant who asks to move, the first
   slot strictly after the one they had, with enough seats (a whole family's, if it moves
   together).

Costs: the queue is one sort, O(n log n); placing is amortised O(n * slots a day + days * family
sizes), because a day too full for a family of k now stays too full for it (seats only ever go
down), so the search for each size resumes where it last stopped.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence, Set
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from kanim.domain.application import Priority, drain_priority
from kanim.domain.calendar import is_working_day
from kanim.domain.errors import InvalidInput

_HH_MM = re.compile(r"(?:[01]\d|2[0-3]):[0-5]\d")
_ONE_DAY = timedelta(days=1)


@dataclass(frozen=True)
class Waiting:
    """A ready passport without a pickup slot."""

    application_id: str
    booking_id: str | None  # the family: a booking's applications are placed together
    ready_at: datetime
    priority: Priority
    travel_date: date | None


@dataclass(frozen=True, order=True)
class Slot:
    """A pickup slot: a day and its start time as "HH:MM" (zero-padded, so slots sort in time)."""

    day: date
    time: str

    def __post_init__(self) -> None:
        if not _HH_MM.fullmatch(self.time):
            raise InvalidInput(f"pickup slot time {self.time!r} is not a time like 08:00",
                               code="pickup-slot-format")


@dataclass(frozen=True)
class Capacity:
    slot: Slot
    seats: int  # seats still free in it


@dataclass(frozen=True)
class Assignment:
    application_id: str
    booking_id: str | None
    slot: Slot
    needs_call: bool  # the slot is on or after the travel date: phone the applicant


@dataclass(frozen=True)
class Schedule:
    assignments: tuple[Assignment, ...]  # in queue order, most urgent first
    unplaced: tuple[Waiting, ...]  # no slot left for them, in queue order

    def seats_taken(self) -> dict[Slot, int]:
        """Seats this schedule uses per slot: the `taken` of the next run's calendar."""
        taken: dict[Slot, int] = {}
        for a in self.assignments:
            taken[a.slot] = taken.get(a.slot, 0) + 1
        return taken

    def needs_call(self) -> tuple[Assignment, ...]:
        return tuple(a for a in self.assignments if a.needs_call)


# -- the calendar --------------------------------------------------------------------------------

def pickup_calendar(
    start: date,
    days: int,
    *,
    slot_times: Sequence[str | time],
    seats_per_slot: int,
    holidays: Set[date] = frozenset(),
    extra: Mapping[date, tuple[Sequence[str | time], int]] = {},  # noqa: B006 (read only)
    taken: Mapping[Slot, int] = {},  # noqa: B006 (read only)
) -> list[Capacity]:
    """The free seats of `days` working days from `start` (itself included when it is one),
    plus every extra service day from `start` on, in slot order."""
    if days < 0:
        raise InvalidInput(f"cannot open {days} pickup days; the count must be 0 or more",
                           code="pickup-negative-days")
    seats: dict[Slot, int] = {}
    for day in _working_days(start, days, holidays):
        _open(seats, day, slot_times, seats_per_slot)
    for day, (times, extra_seats) in extra.items():
        if day >= start:
            _open(seats, day, times, extra_seats)
    return [Capacity(slot, max(0, n - _taken(taken, slot))) for slot, n in sorted(seats.items())]


def _working_days(start: date, count: int, holidays: Set[date]) -> Iterable[date]:
    day = start
    while count:
        if is_working_day(day, holidays):
            yield day
            count -= 1
        day += _ONE_DAY


def _open(seats: dict[Slot, int], day: date, times: Sequence[str | time], per_slot: int) -> None:
    """Adds `per_slot` seats at each of `times` on `day` (extra capacity adds to a day's own)."""
    if per_slot < 0:
        raise InvalidInput(f"a pickup slot cannot have {per_slot} seats", code="pickup-negative-seats")
    normalised = [_slot_time(t) for t in times]
    if len(set(normalised)) != len(normalised):
        raise InvalidInput(f"pickup slot times repeat on {day.isoformat()}: {', '.join(normalised)}",
                           code="pickup-slot-repeated")
    for t in normalised:
        slot = Slot(day, t)
        seats[slot] = seats.get(slot, 0) + per_slot


def _slot_time(value: str | time) -> str:
    """A time of the settings (`Settings.slot_times`) or "8:00", as the "08:00" that sorts."""
    if isinstance(value, time):
        return value.strftime("%H:%M")
    try:
        return time.fromisoformat(value.strip().zfill(5)).strftime("%H:%M")
    except ValueError:
        raise InvalidInput(f"pickup slot time {value!r} is not a time like 08:00",
                           code="pickup-slot-format") from None


def _taken(taken: Mapping[Slot, int], slot: Slot) -> int:
    n = taken.get(slot, 0)
    if n < 0:
        raise InvalidInput(f"{n} seats taken in the {slot.time} slot of {slot.day.isoformat()}",
                           code="pickup-negative-seats")
    return n


# -- the queue -----------------------------------------------------------------------------------

def queue_key(w: Waiting, today: date) -> tuple[int, date, datetime, str]:
    """Sorts the most urgent first: rank, travel date (none last), ready the longest, id."""
    rank = drain_priority(w.priority, w.travel_date, today)
    return (-rank, w.travel_date or date.max, w.ready_at, w.application_id)


def _families(waiting: Sequence[Waiting], today: date) -> list[list[Waiting]]:
    """The waiting grouped by booking, each family's members in queue order, the families
    in the order of their most urgent members."""
    keyed: dict[str, list[tuple[tuple, Waiting]]] = {}
    for w in waiting:
        family = f"b:{w.booking_id}" if w.booking_id is not None else f"a:{w.application_id}"
        keyed.setdefault(family, []).append((queue_key(w, today), w))
    members = [sorted(m, key=lambda kw: kw[0]) for m in keyed.values()]
    members.sort(key=lambda m: m[0][0])
    return [[w for _, w in m] for m in members]


def _check_unique(waiting: Sequence[Waiting]) -> None:
    # A passport listed twice would be given two slots and count twice against capacity.
    twice = sorted(i for i, n in Counter(w.application_id for w in waiting).items() if n > 1)
    if twice:
        raise InvalidInput("applications waiting twice: " + ", ".join(twice[:5]),
                           code="pickup-duplicate-application")


# -- placing -------------------------------------------------------------------------------------

class _Board:
    """The calendar's free seats, day by day, as families take them."""

    def __init__(self, capacity: Sequence[Capacity], today: date) -> None:
        by_day: dict[date, list[Capacity]] = {}
        for c in sorted(capacity, key=lambda c: c.slot):
            _check_capacity(c, today, by_day.get(c.slot.day, []))
            by_day.setdefault(c.slot.day, []).append(c)
        self.slots = [[c.slot for c in cs] for _, cs in sorted(by_day.items())]
        self.free = [[c.seats for c in cs] for _, cs in sorted(by_day.items())]
        self._first: dict[int, int] = {}  # family size -> earliest day index that may hold it

    def place(self, size: int) -> list[Slot] | None:
        """A slot for each of `size` seats on the earliest day that holds them all, or None."""
        day, seats = self._first.get(size, 0), None
        while day < len(self.free):
            if (seats := self._take(day, size)) is not None:
                break
            day += 1
        # A day that could not hold `size` never will (seats only go down): resume after it.
        self._first[size] = day
        return seats

    def _take(self, day: int, size: int) -> list[Slot] | None:
        free = self.free[day]
        first, last = _one_slot(free, size) or _adjacent_run(free, size) or (None, None)
        if first is None:
            return None
        seats: list[Slot] = []
        for i in range(first, last + 1):
            n = min(free[i], size - len(seats))
            free[i] -= n
            seats += [self.slots[day][i]] * n
        return seats


def _check_capacity(c: Capacity, today: date, same_day: list[Capacity]) -> None:
    if c.seats < 0:
        raise InvalidInput(f"a pickup slot cannot have {c.seats} seats", code="pickup-negative-seats")
    if c.slot.day < today:
        raise InvalidInput(f"pickup slot on {c.slot.day.isoformat()} is in the past",
                           code="pickup-slot-in-past")
    if same_day and same_day[-1].slot == c.slot:
        # Two entries for one slot would double its seats.
        raise InvalidInput(f"the {c.slot.time} slot of {c.slot.day.isoformat()} is listed twice",
                           code="pickup-slot-repeated")


def _one_slot(free: list[int], size: int) -> tuple[int, int] | None:
    """The earliest slot of the day with `size` seats free."""
    for i, n in enumerate(free):
        if n >= size:
            return i, i
    return None


def _adjacent_run(free: list[int], size: int) -> tuple[int, int] | None:
    """The earliest run of consecutive slots, each with a seat free, that holds `size`."""
    for first in range(len(free)):
        total = 0
        for last in range(first, len(free)):
            if free[last] == 0:
                break
            total += free[last]
            if total >= size:
                return first, last
    return None


def assign(waiting: Sequence[Waiting], capacity: Sequence[Capacity], *, today: date) -> Schedule:
    """Pickup slots for the waiting, most urgent first, families together (see the module's
    rules); those the capacity cannot hold come back in `unplaced`."""
    _check_unique(waiting)
    board = _Board(capacity, today)
    assignments: list[Assignment] = []
    unplaced: list[Waiting] = []
    for family in _families(waiting, today):
        seats = board.place(len(family))
        if seats is None:
            unplaced += family
            continue
        assignments += [_assignment(w, slot) for w, slot in zip(family, seats, strict=True)]
    return Schedule(tuple(assignments), tuple(unplaced))


def _assignment(w: Waiting, slot: Slot) -> Assignment:
    late = w.travel_date is not None and slot.day >= w.travel_date
    return Assignment(w.application_id, w.booking_id, slot, needs_call=late)


# -- another slot --------------------------------------------------------------------------------

def next_free_seats(capacity: Sequence[Capacity], after: Slot, size: int) -> list[Slot] | None:
    """Seats for a family of `size` moved to later than `after`: in one slot or a run of
    adjacent slots, on the earliest day that holds them all, as `assign` places them (a family
    is never split over days, nor over slots that are not adjacent). None when none is open."""
    if size < 1:
        raise InvalidInput(f"cannot look for {size} seats; 1 or more", code="pickup-seats-needed")
    by_day: dict[date, list[Capacity]] = {}
    for c in sorted(capacity, key=lambda c: c.slot):
        if c.slot > after:
            by_day.setdefault(c.slot.day, []).append(c)
    for _, day in sorted(by_day.items()):
        free = [c.seats for c in day]
        first, last = _one_slot(free, size) or _adjacent_run(free, size) or (None, None)
        if first is None:
            continue
        seats: list[Slot] = []
        for i in range(first, last + 1):
            seats += [day[i].slot] * min(free[i], size - len(seats))
        return seats
    return None


def next_free(capacity: Sequence[Capacity], after: Slot, seats_needed: int = 1) -> Slot | None:
    """The first slot strictly after `after` with `seats_needed` seats free (None: none is).

    For a no-show noticed when the desk closes, pass the day's last slot (or `Slot(day,
    "23:59")`) so that they are moved to another day, not to a later hour of the day gone by.
    """
    if seats_needed < 1:
        raise InvalidInput(f"cannot look for {seats_needed} seats; 1 or more", code="pickup-seats-needed")
    return min((c.slot for c in capacity if c.slot > after and c.seats >= seats_needed), default=None)
