"""The complaint desk's rules (pengaduan): a ticket's states, where it came from, and its SLA
clocks on the office's working calendar.

States: `new` (nobody has touched it) -> `open` (a staff member took it or answered) ->
`waiting` (the office asked the applicant something: the clocks stop) -> `open` again when they
answer -> `resolved` (the office's answer is given) -> `closed` (nothing came back for a while, or
staff closed it). A resolved ticket reopens when the applicant writes again; a closed one does
not (a new message makes a new ticket). `resolved` and `closed` are apart because LAPOR! counts a
complaint as finished when the answer is given (`resolved`), while the applicant may still
reply that it did not help: the ticket stays theirs until it is closed.

SLA clocks (SP4N-LAPOR!'s standards, Permenpan-RB 62/2018, the defaults): a first response
within 3 working days and a resolution within 5, both counted from the day the ticket was
opened (that day itself does not count, as `kanim.domain.calendar` counts), skipping weekends,
the office's holidays and cuti bersama, and every day the ticket waited for the applicant.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Set
from dataclasses import dataclass
from datetime import date, timedelta
from enum import StrEnum

from kanim.domain.calendar import is_working_day
from kanim.domain.errors import Conflict

FIRST_RESPONSE_DAYS = 3  # LAPOR!: the first answer (tindak lanjut awal) within 3 working days
RESOLVE_DAYS = 5  # LAPOR!: a complaint finished within 5 working days
_ONE_DAY = timedelta(days=1)


class Source(StrEnum):
    COUNTER = "counter"  # at the information desk
    HOTLINE = "hotline"  # a call, logged by staff
    WHATSAPP = "whatsapp"  # an inbound WhatsApp message (the Cloud API webhook)
    SMS = "sms"  # an inbound SMS (the SMSEagle gateway's callback)
    TELEGRAM = "telegram"  # a message to the office's Telegram bot (its webhook)
    EMAIL = "email"  # an email, logged or forwarded by staff
    LAPOR = "lapor"  # SP4N-LAPOR!, the national complaint channel, by its reference number


class TicketState(StrEnum):
    NEW = "new"
    OPEN = "open"
    WAITING = "waiting"  # for the applicant: the SLA clocks are paused
    RESOLVED = "resolved"
    CLOSED = "closed"

    @property
    def active(self) -> bool:
        return self in (TicketState.NEW, TicketState.OPEN, TicketState.WAITING)


S = TicketState
MOVES: dict[TicketState, frozenset[TicketState]] = {
    S.NEW: frozenset({S.OPEN, S.WAITING, S.RESOLVED, S.CLOSED}),
    S.OPEN: frozenset({S.WAITING, S.RESOLVED, S.CLOSED}),
    S.WAITING: frozenset({S.OPEN, S.RESOLVED, S.CLOSED}),
    S.RESOLVED: frozenset({S.OPEN, S.CLOSED}),
    S.CLOSED: frozenset(),
}


class TicketMoveRefused(Conflict):
    code = "ticket-state-conflict"


def check_move(current: TicketState, wanted: TicketState) -> None:
    if wanted not in MOVES[current]:
        raise TicketMoveRefused(f"a {current.value} ticket cannot become {wanted.value}",
                                current=current.value, wanted=wanted.value)


def after_inbound(current: TicketState) -> TicketState:
    """The applicant wrote: a ticket waiting for them, or resolved, is open again."""
    return S.OPEN if current in (S.WAITING, S.RESOLVED) else current


# -- the number an applicant writes -----------------------------------------------------------------

_APPLICATION_NUMBER = re.compile(r"\b[A-Z][A-Z0-9]{1,9}-\d{8}-\d{4}\b")


def numbers_in(text: str) -> list[str]:
    """Application numbers (MDO-20261201-0042) written in a message, in order, once each."""
    return list(dict.fromkeys(_APPLICATION_NUMBER.findall(text.upper())))


_LONG_NUMBER = re.compile(r"\+?\d{10,}")


def masked_numbers(text: str) -> str:
    """A phone number or a NIK written in a message, masked for the queue's subject line
    (3171•••••••••001): the queue is a list, and a list shows contact data masked."""
    return _LONG_NUMBER.sub(lambda m: m[0][:4] + "•" * (len(m[0]) - 7) + m[0][-3:], text)


# -- SLA clocks ---------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Pause:
    """Days the ticket waited for the applicant: from `start` (the day the office asked) up to
    the day before `end` (the day they answered); `end` None while it still waits."""

    start: date
    end: date | None = None

    def holds(self, day: date) -> bool:
        return self.start <= day and (self.end is None or day < self.end)


@dataclass(frozen=True)
class Standard:
    first_response_days: int = FIRST_RESPONSE_DAYS
    resolve_days: int = RESOLVE_DAYS


def counts(day: date, pauses: Iterable[Pause], holidays: Set[date]) -> bool:
    return is_working_day(day, holidays) and not any(p.holds(day) for p in pauses)


def due_date(opened_on: date, days: int, pauses: Iterable[Pause] = (), holidays: Set[date] = frozenset()) -> date | None:
    """The last day within `days` counted working days after `opened_on`; None while an open
    pause stops the clock before it runs out (the day is not known until the applicant answers)."""
    pauses = tuple(pauses)
    day, remaining = opened_on, days
    while remaining:
        day += _ONE_DAY
        if any(p.end is None and p.start <= day for p in pauses):
            return None
        if counts(day, pauses, holidays):
            remaining -= 1
    return day


def days_used(opened_on: date, until: date, pauses: Iterable[Pause] = (), holidays: Set[date] = frozenset()) -> int:
    """Counted working days after `opened_on` up to and including `until`."""
    pauses = tuple(pauses)
    n, day = 0, opened_on
    while day < until:
        day += _ONE_DAY
        n += counts(day, pauses, holidays)
    return n


@dataclass(frozen=True)
class Clock:
    """One SLA clock of a ticket on a given day."""

    due: date | None  # None: paused
    met: bool  # its answer was given (on time or late)
    late: bool  # past due: still unmet after its day, or met after it

    @property
    def overdue(self) -> bool:
        return self.late and not self.met


def clock(opened_on: date, days: int, *, met_on: date | None, today: date, pauses: Iterable[Pause] = (),
          holidays: Set[date] = frozenset()) -> Clock:
    due = due_date(opened_on, days, pauses, holidays)
    if met_on is not None:
        return Clock(due, True, due is not None and met_on > due)
    return Clock(due, False, due is not None and today > due)


@dataclass(frozen=True)
class Clocks:
    first_response: Clock
    resolution: Clock

    @property
    def overdue(self) -> bool:
        return self.first_response.overdue or self.resolution.overdue


def clocks(opened_on: date, *, responded_on: date | None, resolved_on: date | None, today: date,
           pauses: Iterable[Pause] = (), holidays: Set[date] = frozenset(), standard: Standard = Standard()) -> Clocks:
    pauses = tuple(pauses)
    return Clocks(
        clock(opened_on, standard.first_response_days, met_on=responded_on, today=today, pauses=pauses, holidays=holidays),
        clock(opened_on, standard.resolve_days, met_on=resolved_on, today=today, pauses=pauses, holidays=holidays))
