"""An office restored from a backup rejoins the central: its application numbers continue after
the highest the central holds for it, so a number the central acknowledged after the snapshot is
never handed out again (the central would refuse it: kanim/central/hub.py).

Work taken after the snapshot that never reached the central is gone, but its numbers may be on
receipts in applicants' hands: on the days that work could fall on (today and the newest day
the central knows), numbers also skip a `gap`, so none of them is given to someone else."""

from __future__ import annotations

from datetime import date

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from kanim.bootstrap import Office
from kanim.store import tables as t

COUNTER = "application"  # kanim/office/booking.py's per-day counter of application numbers


DEFAULT_GAP = 50  # more applications than a busy office takes between two minute snapshots


def floors(highest: dict[str, int], *, today: date, gap: int) -> dict[date, int]:
    """The lowest counter each day may have after a restore. Pure."""
    days = {date.fromisoformat(iso): n for iso, n in highest.items()}
    recent = {today, *([max(days)] if days else [])}
    return {d: days.get(d, 0) + (gap if d in recent else 0) for d in sorted(set(days) | recent)}


def continue_numbers(office: Office, highest: dict[str, int], *, gap: int = DEFAULT_GAP) -> dict[date, tuple[int, int]]:
    """Raise each day's counter to at least its floor (the central's highest, plus the gap on
    recent days); returns the days moved (day → (the counter before, after)). Never lowers one."""
    from kanim.clock import local_date

    today = local_date(office.clock.now(), office.settings.timezone)
    with office.uow() as uow:
        moved = raise_counters(uow.session, floors(highest, today=today, gap=gap))
        uow.audit(actor="cli", action="NumbersContinued", subject=office.settings.office_code,
                  detail={"days": len(moved)})
        uow.commit()
    return moved


def raise_counters(session: Session, lowest: dict[date, int]) -> dict[date, tuple[int, int]]:
    """Each day's application counter raised to at least `lowest[day]`, never lowered; returns
    the days moved (day → (before, after))."""
    moved = {}
    c = t.daily_counter.c
    for day, n in lowest.items():
        have = session.execute(select(c.value).where(c.day == day, c.name == COUNTER)).scalar()
        if (have or 0) >= n:
            continue
        if have is None:
            session.execute(t.daily_counter.insert().values(day=day, name=COUNTER, value=n))
        else:
            session.execute(update(t.daily_counter).where(c.day == day, c.name == COUNTER).values(value=n))
        moved[day] = (have or 0, n)
    return moved
