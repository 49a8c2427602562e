"""Staged pickup at the office: ready passports get pickup slots within the desk's capacity
(the rules are kanim/domain/pickup.py), and each applicant is told their own slot.

`schedule` runs in every round of the notification worker: it places the ready passports that
have no slot yet, moves the no-shows of past days to the next free slot, and writes each
applicant's message ("ready, come on ... at ...", or "you missed ..., your new slot is ...")
and the reminder for the day before, in the same transaction as the slot. An applicant answers
by reply (YA confirms, GANTI asks for another slot) or by the link in the message; a supervisor
opens extra service (a Saturday) and the waiting queue fills it in the next round.
"""

from __future__ import annotations

import base64
import math
import secrets
from collections import Counter, defaultdict
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import and_, exists, func, select, text, update

from kanim.bootstrap import Office
from kanim.domain.application import Stage
from kanim.domain.calendar import is_working_day
from kanim.domain.errors import Conflict, InvalidInput
from kanim.domain.pickup import Capacity, Slot, Waiting, assign, next_free_seats, pickup_calendar
from kanim.notify.purposes import Purpose
from kanim.office import notify
from kanim.office.common import holidays, today
from kanim.store import tables as t
from kanim.store.uow import UnitOfWork

HORIZON_MIN_DAYS = 20  # working days always opened ahead, beyond what the backlog needs


def schedule(office: Office) -> int:
    """Place what waits for a slot; returns how many applications got one (new or moved)."""
    with office.uow() as uow:
        lock(uow)
        waiting = _waiting(uow)
        missed = _no_shows(office, uow)
        if not waiting and not missed:
            return 0
        calendar = _calendar(office, uow, len(waiting) + len(missed))
        placed = _place(office, uow, waiting, calendar)
        moved = _move_no_shows(office, uow, missed, calendar)
        uow.commit()
    return placed + moved


def anything_to_place(office: Office, uow: UnitOfWork) -> bool:
    """A ready passport without a slot, or a slot of a past day still uncollected."""
    a, p = t.application.c, t.pickup_assignment.c
    unplaced = uow.session.scalar(select(a.id).where(a.stage == Stage.READY, ~exists().where(p.application_id == a.id))
                                  .limit(1))
    missed = uow.session.scalar(select(p.application_id).where(p.day < today(office, uow),
                                                                p.state.in_(("offered", "confirmed"))).limit(1))
    return unplaced is not None or (missed is not None and bool(_no_shows(office, uow)))


def _waiting(uow: UnitOfWork) -> list[Waiting]:
    a, p = t.application.c, t.pickup_assignment.c
    rows = uow.session.execute(
        select(a.id, a.booking_id, a.updated_at, a.priority, a.travel_date, a.created_at)
        .where(a.stage == Stage.READY, ~exists().where(p.application_id == a.id))).all()
    return [Waiting(r.id, r.booking_id, r.updated_at or r.created_at, r.priority, r.travel_date) for r in rows]


def _first_day(office: Office, uow: UnitOfWork) -> date:
    """The first day an applicant can still be told about: the next working day (today's
    desk is already busy with those who came)."""
    day, closed = today(office, uow) + timedelta(days=1), holidays(uow)
    while not is_working_day(day, closed) and not _extra_on(uow, day):
        day += timedelta(days=1)
    return day


def _extra_on(uow: UnitOfWork, day: date) -> bool:
    return uow.session.scalar(select(t.pickup_extra.c.day).where(t.pickup_extra.c.day == day)) is not None


def _calendar(office: Office, uow: UnitOfWork, needed: int) -> list[Capacity]:
    s = office.settings
    start = _first_day(office, uow)
    per_day = max(1, len(s.pickup_slot_times) * s.pickup_seats_per_slot)
    days = HORIZON_MIN_DAYS + math.ceil((needed + _taken_total(uow, start)) / per_day)
    e = t.pickup_extra.c
    extra = {r.day: (r.slots, r.seats) for r in uow.session.execute(select(e.day, e.slots, e.seats).where(e.day >= start))}
    return pickup_calendar(start, days, slot_times=[x.strftime("%H:%M") for x in s.pickup_slot_times],
                           seats_per_slot=s.pickup_seats_per_slot, holidays=holidays(uow), extra=extra,
                           taken=_taken(uow, start))


def _taken(uow: UnitOfWork, start: date) -> dict[Slot, int]:
    p = t.pickup_assignment.c
    rows = uow.session.execute(select(p.day, p.slot, func.count()).where(p.day >= start).group_by(p.day, p.slot))
    return {Slot(d, s): n for d, s, n in rows}


def _taken_total(uow: UnitOfWork, start: date) -> int:
    p = t.pickup_assignment.c
    return uow.session.scalar(select(func.count()).where(p.day >= start)) or 0


def _place(office: Office, uow: UnitOfWork, waiting: list[Waiting], calendar: list[Capacity]) -> int:
    if not waiting:
        return 0
    plan = assign(waiting, calendar, today=today(office, uow))
    now = uow.now()
    rows = [{"application_id": a.application_id, "booking_id": a.booking_id, "day": a.slot.day, "slot": a.slot.time,
             "state": "offered", "assigned_at": now, "moves": 0, "code": new_code(), "needs_call": a.needs_call}
            for a in plan.assignments]
    if rows:
        uow.session.execute(t.pickup_assignment.insert(), rows)  # one statement for a whole backlog
    facts = notify.load_facts_many(uow, [a.application_id for a in plan.assignments])
    wanted = []
    for a, row in zip(plan.assignments, rows, strict=True):
        if (f := facts.get(a.application_id)) is not None:
            wanted += _wanted(office, uow, f, Purpose.READY, a.slot, code=row["code"])
    notify.create_many(uow, office.settings, wanted)
    _consume(calendar, plan.seats_taken())
    return len(plan.assignments)


def _consume(calendar: list[Capacity], used: dict[Slot, int]) -> None:
    """The seats just given are no longer free for the no-shows moved in the same round."""
    for i, c in enumerate(calendar):
        if used.get(c.slot):
            calendar[i] = Capacity(c.slot, max(0, c.seats - used[c.slot]))


def _tell(office: Office, uow: UnitOfWork, application_id: str, purpose: Purpose, slot: Slot) -> None:
    facts = notify.load_facts(uow, application_id)
    if facts is None:
        return
    notify.create_many(uow, office.settings, _wanted(office, uow, facts, purpose, slot))


def _wanted(office: Office, uow: UnitOfWork, facts: notify.AppFacts, purpose: Purpose, slot: Slot, *,
            code: str | None = None) -> list[notify.Wanted]:
    """The notice of a slot (ready, rescheduled, no-show) and its reminder the day before."""
    scope = f"{facts.id}:{slot.day}:{slot.time}"
    params = {"pickup_day": slot.day, "pickup_slot": slot.time, **links(office, uow, facts.id, code=code)}
    return [notify.Wanted(facts, purpose, scope, params),
            notify.Wanted(facts, Purpose.PICKUP_REMINDER, scope, params, not_before=max(_eve(office, slot.day), uow.now()))]


def _eve(office: Office, day: date) -> datetime:
    """The reminder's moment: the afternoon before the pickup day, in the office's zone."""
    zone = ZoneInfo(office.settings.timezone)
    return datetime.combine(day - timedelta(days=1), time(office.settings.pickup_reminder_hour), tzinfo=zone)


def links(office: Office, uow: UnitOfWork, application_id: str, *, code: str | None = None) -> dict[str, Any]:
    """The confirm / change links of a message, when the office has public pages; else None
    and the applicant replies (YA / GANTI) instead. Short, for an SMS: `<public url>/p/<code>`."""
    base = office.settings.public_url
    if code is None:
        code = uow.session.scalar(select(t.pickup_assignment.c.code)
                                  .where(t.pickup_assignment.c.application_id == application_id))
    if not base or not code or not base.startswith("https://") or len(base) > 100:
        # Applicants are told never to trust a link that is not the office's https address
        # (the directorate's warning about WhatsApp scams): without one they reply instead.
        return {"confirm_url": None, "change_url": None}
    return {"confirm_url": f"{base.rstrip('/')}/p/{code}", "change_url": f"{base.rstrip('/')}/p/{code}/g"}


def new_code() -> str:
    """10 characters of base32 (50 random bits): not guessable, and readable over a phone."""
    return base64.b32encode(secrets.token_bytes(10)).decode()[:10].lower()


def application_of(uow: UnitOfWork, code: str) -> str | None:
    """The application a link's code was given to, or None."""
    if not code or len(code) > 12:
        return None
    p = t.pickup_assignment.c
    return uow.session.scalar(select(p.application_id).where(p.code == code.lower()))


# -- no-shows and answers ------------------------------------------------------------------------

def _no_shows(office: Office, uow: UnitOfWork) -> list[Any]:
    """Slots of past days whose passport is still at the desk."""
    a, p = t.application.c, t.pickup_assignment.c
    return list(uow.session.execute(
        select(p.application_id, p.booking_id, p.day, p.slot)
        .select_from(t.pickup_assignment.join(t.application, a.id == p.application_id))
        .where(p.day < today(office, uow), p.state.in_(("offered", "confirmed")), a.stage == Stage.READY)
        .order_by(p.day, p.slot)))


def _move_no_shows(office: Office, uow: UnitOfWork, missed: list[Any], calendar: list[Capacity]) -> int:
    after = Slot(_first_day(office, uow) - timedelta(days=1), "23:59")
    return sum(_move(office, uow, ids, calendar, after=after, purpose=Purpose.NO_SHOW)
               for ids in _families(missed).values())


def _families(rows: list[Any]) -> dict[tuple[str, date], list[Any]]:
    """Rows of one booking on one day move together, whichever of the day's adjacent slots
    each member had: a family is never split."""
    groups: dict[tuple[str, date], list[Any]] = defaultdict(list)
    for r in rows:
        groups[(r.booking_id or r.application_id, r.day)].append(r)
    return groups


def _move(office: Office, uow: UnitOfWork, family: list[Any], calendar: list[Capacity], *, after: Slot,
          purpose: Purpose) -> int:
    """Move a family to the first seats after `after` that hold them all, as they were placed
    (one slot, or adjacent ones on one day); returns how many moved (0 when none is open yet:
    they keep theirs, and the next round tries again)."""
    seats = next_free_seats(calendar, after, len(family))
    if seats is None:
        return 0
    p = t.pickup_assignment.c
    for member, slot in zip(family, seats, strict=True):
        uow.session.execute(update(t.pickup_assignment).where(p.application_id == member.application_id).values(
            day=slot.day, slot=slot.time, state="offered", confirmed_at=None, assigned_at=uow.now(),
            moves=p.moves + 1))
        _tell(office, uow, member.application_id, purpose, slot)
    _consume(calendar, Counter(seats))
    return len(family)


def lock(uow: UnitOfWork) -> None:
    """One writer of pickup slots at a time: the worker's round, an applicant's answer and a
    supervisor's extra day all count free seats before they take one. SQLite's write lock
    already serialises them; PostgreSQL's READ COMMITTED would not."""
    if uow.session.get_bind().dialect.name == "postgresql":
        uow.session.execute(text("SELECT pg_advisory_xact_lock(hashtext('kanim.pickup'))"))


def answer(office: Office, uow: UnitOfWork, *, address: str | None = None, application_id: str | None = None,
           intent: str) -> int:
    """An applicant's answer to their slot: 'confirm' it, or 'change' it for the next free
    one. By the contact that replied (every open slot of that contact) or by a link (one
    application, with its family in the same slot). Returns how many slots it touched."""
    if intent not in ("confirm", "change"):
        raise InvalidInput(f"unknown answer {intent!r}: confirm or change", code="pickup-answer-unknown")
    lock(uow)
    p, b, a = t.pickup_assignment.c, t.booking.c, t.application.c
    # Only passports still at the desk: one collected a moment ago keeps its slot (its
    # `collected` mark comes with the rules' next round).
    stmt = (select(p.application_id, p.booking_id, p.day, p.slot)
            .select_from(t.pickup_assignment.join(t.application, a.id == p.application_id))
            .where(p.state.in_(("offered", "confirmed")), a.stage == Stage.READY))
    if application_id is not None:
        mine = uow.session.execute(select(p.booking_id, p.day, p.slot).where(p.application_id == application_id)).one_or_none()
        if mine is None:
            return 0
        same = (p.booking_id == mine.booking_id) if mine.booking_id else (p.application_id == application_id)
        stmt = stmt.where(same, p.day == mine.day)
    elif address is not None:
        stmt = stmt.join(t.booking, b.id == p.booking_id).where(
            (b.contact_phone == address) | (b.contact_email == address) | (b.contact_telegram == address))
    else:
        raise InvalidInput("an answer needs the application or the contact that sent it", code="pickup-answer-whom")
    rows = uow.session.execute(stmt.order_by(p.day, p.slot)).all()
    if intent == "confirm":
        uow.session.execute(update(t.pickup_assignment).where(p.application_id.in_([r.application_id for r in rows]))
                            .values(state="confirmed", confirmed_at=uow.now()))
        return len(rows)
    calendar = _calendar(office, uow, len(rows))
    return sum(_move(office, uow, family, calendar, after=max(Slot(r.day, r.slot) for r in family),
                     purpose=Purpose.RESCHEDULED)
               for family in _families(rows).values())


def slot_of(office: Office, code: str) -> dict[str, Any] | None:
    """What an applicant's link shows: the application number, the slot, its state and the
    booking's language; None for a code that is not one of this office's."""
    a, p, b = t.application.c, t.pickup_assignment.c, t.booking.c
    if not code or len(code) > 12:
        return None
    with office.uow(readonly=True) as uow:
        row = uow.session.execute(
            select(a.number, p.day, p.slot, p.state, b.language)
            .select_from(t.pickup_assignment.join(t.application, a.id == p.application_id)
                         .outerjoin(t.booking, b.id == a.booking_id))
            .where(p.code == code.lower())).one_or_none()
    return None if row is None else {"number": row.number, "day": row.day, "slot": row.slot, "state": row.state,
                                     "language": row.language or "id"}


def open_extra(office: Office, *, day: date, slots: list[str], seats: int, actor: str) -> None:
    """A supervisor opens extra pickup service (a Saturday): the waiting queue fills it."""
    if seats < 1 or not slots:
        raise InvalidInput("extra service needs at least one slot and one seat", code="pickup-extra-empty")
    for s in slots:
        Slot(day, s)  # the format check
    if len(set(slots)) != len(slots):
        raise InvalidInput("each slot time once: a time given twice would make the day unreadable",
                           code="pickup-slot-repeated")
    with office.uow() as uow:
        lock(uow)
        if day <= today(office, uow):
            raise InvalidInput("extra service opens on a later day", code="pickup-extra-past")
        if _extra_on(uow, day):
            raise Conflict(f"extra service is already open on {day}", code="pickup-extra-exists")
        uow.session.execute(t.pickup_extra.insert().values(day=day, slots=sorted(slots), seats=seats, opened_by=actor,
                                                           opened_at=uow.now()))
        uow.audit(actor=actor, action="pickup_extra_opened", subject=day.isoformat(),
                  detail={"slots": sorted(slots), "seats": seats})
        # Those placed later than the new day could come sooner: only the still waiting fill
        # it (moving people who were told a day already would confuse more than it helps).
        uow.commit()


def day_view(office: Office, day: date) -> list[dict[str, Any]]:
    """The pickup desk's day by slot: who comes, and who confirmed."""
    with office.uow(readonly=True) as uow:
        slots = _people(uow, day)
    return [{"slot": s, "people": people} for s, people in sorted(slots.items())]


def _people(uow: UnitOfWork, day: date) -> dict[str, list[dict[str, Any]]]:
    a, p = t.application.c, t.pickup_assignment.c
    rows = uow.session.execute(
        select(p.slot, p.state, p.application_id, p.needs_call, a.number, a.full_name, a.stage)
        .select_from(t.pickup_assignment.join(t.application, a.id == p.application_id))
        .where(and_(p.day == day)).order_by(p.slot, a.number)).all()
    slots: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for r in rows:
        slots[r.slot].append({"application_id": r.application_id, "number": r.number, "name": r.full_name,
                              "state": r.state, "collected": r.stage == Stage.HANDED_OVER, "needs_call": r.needs_call})
    return slots


# -- what the console reads ----------------------------------------------------------------------

PICKUP_STATES = ("offered", "confirmed", "collected")


def shown_state(person: dict[str, Any]) -> str:
    """offered | confirmed | collected: a passport handed over counts as collected even before
    the rules have marked its slot (they run on the handover's event, a moment later)."""
    return "collected" if person["collected"] else person["state"]


@dataclass(frozen=True)
class SlotDay:
    slot: str  # "HH:MM", office time
    seats: int  # the slot's seats that day (the office's own plus extra service); 0 if it is not open
    people: list[dict[str, Any]]  # as day_view gives them

    @property
    def counts(self) -> dict[str, int]:
        shown = [shown_state(p) for p in self.people]
        return {state: shown.count(state) for state in PICKUP_STATES}


@dataclass(frozen=True)
class PickupDay:
    day: date
    today: date
    open: bool  # a working day, or a day of extra service
    slots: list[SlotDay]  # every open slot, and any slot someone holds outside them
    next_day: date | None  # the first later day anyone is placed on (the desk looks ahead)

    @property
    def counts(self) -> dict[str, int]:
        return {state: sum(s.counts[state] for s in self.slots) for state in PICKUP_STATES}


def pickup_day(office: Office, day: date | None = None) -> PickupDay:
    """The pickup desk's day (today when none is given) by slot, with each slot's seats."""
    with office.uow(readonly=True) as uow:
        now = today(office, uow)
        day = day or now
        seats = _seats_on(office, uow, day)
        people = _people(uow, day)
        later = uow.session.scalar(select(func.min(t.pickup_assignment.c.day)).where(t.pickup_assignment.c.day > day))
    times = sorted(seats.keys() | people.keys())
    return PickupDay(day, now, bool(seats), [SlotDay(s, seats.get(s, 0), people.get(s, [])) for s in times], later)


def _seats_on(office: Office, uow: UnitOfWork, day: date) -> dict[str, int]:
    """The seats of each slot on `day`, by the same calendar the scheduler fills."""
    s, e, closed = office.settings, t.pickup_extra.c, holidays(uow)
    rows = uow.session.execute(select(e.day, e.slots, e.seats).where(e.day == day))
    extra = {r.day: (r.slots, r.seats) for r in rows}
    calendar = pickup_calendar(day, 1 if is_working_day(day, closed) else 0,
                               slot_times=[x.strftime("%H:%M") for x in s.pickup_slot_times],
                               seats_per_slot=s.pickup_seats_per_slot, holidays=closed, extra=extra)
    return {c.slot.time: c.seats for c in calendar}


@dataclass(frozen=True)
class ExtraDay:
    day: date
    slots: list[str]
    seats: int  # per slot
    taken: int  # applicants placed on it so far
    opened_by: str
    opened_at: datetime


@dataclass(frozen=True)
class ExtraService:
    """What a supervisor weighs before opening a Saturday."""

    waiting: int  # ready passports with no pickup slot yet (the next round places them)
    furthest: date | None  # the latest pickup day anyone has been given
    days: list[ExtraDay]  # extra service from today on


def extra_service(office: Office) -> ExtraService:
    a, p, e = t.application.c, t.pickup_assignment.c, t.pickup_extra.c
    with office.uow(readonly=True) as uow:
        start = today(office, uow)
        waiting = uow.session.scalar(select(func.count()).select_from(t.application).where(
            a.stage == Stage.READY, ~exists().where(p.application_id == a.id))) or 0
        furthest = uow.session.scalar(select(func.max(p.day)).where(p.day >= start))
        taken = dict(uow.session.execute(select(p.day, func.count()).join(t.pickup_extra, e.day == p.day)
                                         .where(p.day >= start).group_by(p.day)).all())
        rows = uow.session.execute(select(e.day, e.slots, e.seats, e.opened_by, e.opened_at)
                                   .where(e.day >= start).order_by(e.day)).all()
    return ExtraService(waiting, furthest, [ExtraDay(r.day, list(r.slots), r.seats, taken.get(r.day, 0), r.opened_by,
                                                     r.opened_at) for r in rows])
