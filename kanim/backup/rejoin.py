"""An office restored from a backup rejoins the central: its application numbers continue after
the highest the central holds for it, so a number the central acknowledged after the snapshot is
never handed out again (the central would refuse it: kanim/central/hub.py)."""

from __future__ import annotations

from datetime import date

from sqlalchemy import select, update

from kanim.bootstrap import Office
from kanim.store import tables as t

COUNTER = "application"  # kanim/office/booking.py's per-day counter of application numbers


def continue_numbers(office: Office, highest: dict[str, int]) -> dict[date, tuple[int, int]]:
    """Raise each day's counter to at least the central's highest; returns the days moved
    (day → (the counter before, after)). Never lowers a counter."""
    moved = {}
    c = t.daily_counter.c
    with office.uow() as uow:
        for iso, n in highest.items():
            day = date.fromisoformat(iso)
            have = uow.session.execute(select(c.value).where(c.day == day, c.name == COUNTER)).scalar()
            if have is None:
                uow.session.execute(t.daily_counter.insert().values(day=day, name=COUNTER, value=n))
            elif have < n:
                uow.session.execute(update(t.daily_counter).where(c.day == day, c.name == COUNTER).values(value=n))
            else:
                continue
            moved[day] = (have or 0, n)
        uow.audit(actor="cli", action="NumbersContinued", subject=office.settings.office_code,
                  detail={"days": len(moved)})
        uow.commit()
    return moved
