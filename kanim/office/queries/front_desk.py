"""The front desk's reading: today's appointments by slot, the day's quota, and search."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date

from sqlalchemy import func, or_, select

from kanim.bootstrap import Office
from kanim.domain.application import Application, Stage
from kanim.domain.booking import slot_capacity
from kanim.office.common import today
from kanim.store import tables as t

SEARCH_LIMIT = 25


@dataclass(frozen=True)
class Appointment:
    """What the day's table shows of an application: read as these columns, not as whole
    applications (400 of them with their 50 columns took 12 ms to load; these take 2)."""

    id: str
    number: str
    full_name: str
    nik: str
    stage: Stage
    queue_ticket: str | None


@dataclass(frozen=True)
class Slot:
    time: str
    capacity: int
    taken: int
    applications: list[Appointment]

    @property
    def left(self) -> int:
        return max(0, self.capacity - self.taken)


@dataclass(frozen=True)
class Day:
    day: date
    quota: int
    slots: list[Slot]
    walk_ins: list[Appointment]

    @property
    def booked(self) -> int:
        return sum(s.taken for s in self.slots)

    @property
    def left(self) -> int:
        return max(0, self.quota - self.booked)


def office_day(office: Office, day: date | None = None) -> Day:
    """A day's appointments by slot (cancelled ones left out) and its walk-ins, with the quota."""
    a, b = t.application.c, t.booking.c
    shown = (a.id, a.number, a.full_name, a.nik, a.stage, a.queue_ticket)
    with office.uow(readonly=True) as uow:
        day = day or today(office, uow)
        rows = uow.session.execute(
            select(*shown, b.slot).join(t.booking, a.booking_id == b.id)
            .where(b.appointment_on == day, a.stage != Stage.CANCELLED).order_by(b.slot, a.number)).all()
        walk_ins = [Appointment(*r) for r in uow.session.execute(
            select(*shown).where(a.booking_id.is_(None), a.appointment_on == day).order_by(a.number))]
    capacity = slot_capacity(office.settings.daily_quota, office.settings.slot_times)
    by_slot: dict[str, list[Appointment]] = {s.strftime("%H:%M"): [] for s in office.settings.slot_times}
    for *app, slot in rows:
        by_slot.setdefault(slot, []).append(Appointment(*app))
    slots = [Slot(time, capacity, len(apps), apps) for time, apps in by_slot.items()]
    return Day(day, office.settings.daily_quota, slots, walk_ins)


def search(office: Office, text: str) -> list[Application]:
    """By application number (or its start), booking id, NIK (16 digits), or name (every word
    of the query appears in the name, in any case)."""
    text = " ".join(text.split())
    if not text:
        return []
    a = t.application.c
    # Newest first, by an index the search walks until it has its 25 (bench/desk_pages.py:
    # 100,000 applications): numbers and ids by their own, names by (created_at, full_name),
    # whose names are checked in the index without reading the rows.
    with office.uow(readonly=True) as uow:
        sqlite = uow.session.get_bind().dialect.name == "sqlite"
        q, order = select(Application), a.created_at.desc()
        if re.fullmatch(r"[0-9]{16}", text):
            q = q.where(a.nik == text)
        elif re.fullmatch(r"[A-Za-z0-9]{2,8}-[0-9-]*", text):
            q, order = q.where(_starts(a.number, text.upper(), sqlite)), a.number.desc()
        elif re.fullmatch(r"[0-9a-fA-F-]{8,36}", text):
            q = q.where(or_(_starts(a.booking_id, text.lower(), sqlite), _starts(a.id, text.lower(), sqlite)))
        else:
            for word in text.split()[:5]:
                q = q.where(_has_word(a.full_name, word, sqlite))
        return list(uow.session.scalars(q.order_by(order).limit(SEARCH_LIMIT)))


def _starts(column, prefix: str, sqlite: bool):  # noqa: ANN001, ANN202
    """SQLite's LIKE ignores case, so no index can answer it; its GLOB does not, and its prefix
    is an index range (a number's day, a booking code). The callers' patterns hold no GLOB
    wildcards: only letters, digits and '-' get here."""
    return column.op("GLOB")(prefix + "*") if sqlite else column.startswith(prefix, autoescape=True)


def _has_word(column, word: str, sqlite: bool):  # noqa: ANN001, ANN202
    """SQLite's LIKE ignores ASCII case by itself (as its lower() changes only ASCII): without
    lower() around the column, the index's names are compared as they are, three times faster."""
    if sqlite:
        return column.like("%" + re.sub(r"([%_/])", r"/\1", word) + "%", escape="/")
    return func.lower(column).contains(word.lower(), autoescape=True)
