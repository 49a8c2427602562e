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
class Slot:
    time: str
    capacity: int
    taken: int
    applications: list[Application]

    @property
    def left(self) -> int:
        return max(0, self.capacity - self.taken)


@dataclass(frozen=True)
class Day:
    day: date
    quota: int
    slots: list[Slot]
    walk_ins: list[Application]

    @property
    def booked(self) -> int:
        return sum(s.taken for s in self.slots)

    @property
    def left(self) -> int:
        return max(0, self.quota - self.booked)


def office_day(office: Office, day: date | None = None) -> Day:
    """A day's appointments by slot (cancelled ones left out) and its walk-ins, with the quota."""
    with office.uow(readonly=True) as uow:
        day = day or today(office, uow)
        a, b = t.application.c, t.booking.c
        rows = uow.session.execute(
            select(Application, b.slot).join(t.booking, a.booking_id == b.id)
            .where(b.appointment_on == day, a.stage != Stage.CANCELLED).order_by(b.slot, a.number)).all()
        walk_ins = list(uow.session.scalars(
            select(Application).where(a.booking_id.is_(None), a.appointment_on == day).order_by(a.number)))
    capacity = slot_capacity(office.settings.daily_quota, office.settings.slot_times)
    by_slot: dict[str, list[Application]] = {s.strftime("%H:%M"): [] for s in office.settings.slot_times}
    for app, slot in rows:
        by_slot.setdefault(slot, []).append(app)
    slots = [Slot(time, capacity, len(apps), apps) for time, apps in by_slot.items()]
    return Day(day, office.settings.daily_quota, slots, walk_ins)


def search(office: Office, text: str) -> list[Application]:
    """By application number (or its start), booking id, NIK (16 digits), or name (every word
    of the query appears in the name, in any case)."""
    text = " ".join(text.split())
    if not text:
        return []
    a = t.application.c
    # Newest first, by an index that the search walks until it has its 25 (bench/desk_pages.py:
    # 100,000 applications): numbers by the number's own (it starts with the day), names by
    # (created_at, full_name), whose names are checked without reading the rows.
    with office.uow(readonly=True) as uow:
        q, order = select(Application), a.created_at.desc()
        if re.fullmatch(r"[0-9]{16}", text):
            q = q.where(a.nik == text)
        elif re.fullmatch(r"[A-Za-z0-9]{2,8}-[0-9-]*", text):
            q, order = q.where(a.number.startswith(text.upper(), autoescape=True)), a.number.desc()
        elif re.fullmatch(r"[0-9a-fA-F-]{8,36}", text):
            q = q.where(or_(a.booking_id.startswith(text.lower()), a.id.startswith(text.lower())))
        else:
            for word in text.split()[:5]:
                q = q.where(func.lower(a.full_name).contains(word.lower(), autoescape=True))
        return list(uow.session.scalars(q.order_by(order).limit(SEARCH_LIMIT)))
