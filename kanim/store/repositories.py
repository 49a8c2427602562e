"""Repositories: how use cases load and find aggregates. They never commit."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date

from sqlalchemy import func, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from kanim.domain.application import TERMINAL, Application, Stage
from kanim.domain.booklet import Booklet
from kanim.domain.errors import NotFound
from kanim.store import tables as t


class ApplicationRepository:
    def __init__(self, session: Session) -> None:
        self.session = session
        self.seen: set[Application] = set()

    def add(self, app: Application) -> None:
        self.session.add(app)
        self.seen.add(app)

    def get(self, application_id: str) -> Application:
        app = self.session.get(Application, application_id)
        if app is None:
            app = self.session.scalars(select(Application).where(t.application.c.number == application_id)).first()
        if app is None:
            raise NotFound(f"no application {application_id}", code="application-not-found")
        self.seen.add(app)
        return app

    def by_billing_code(self, code: str) -> Application:
        app = self.session.scalars(select(Application).where(t.application.c.billing_code == code)).first()
        if app is None:
            raise NotFound(f"no application has billing code {code}", code="billing-code-unknown")
        self.seen.add(app)
        return app

    def list(self, *, stage: Stage | None = None, day: date | None = None, limit: int = 100,
             offset: int = 0) -> Sequence[Application]:
        q = select(Application).order_by(t.application.c.created_at, t.application.c.number)
        if stage is not None:
            q = q.where(t.application.c.stage == stage)
        if day is not None:
            q = q.where(t.application.c.appointment_on == day)
        return self.session.scalars(q.limit(limit).offset(offset)).all()

    def open_for_nik(self, nik: str, *, excluding: str, today: date) -> Application | None:
        """Another application for the same person that is still in progress, or a passport
        handed over that has not expired: the office's own duplicate check."""
        c = t.application.c
        q = select(Application).where(c.nik == nik, c.id != excluding)
        for other in self.session.scalars(q):
            if other.stage not in TERMINAL:
                return other
            if other.stage is Stage.HANDED_OVER and other.expires_on and other.expires_on > today:
                return other
        return None

    def count_by_stage(self) -> dict[str, int]:
        c = t.application.c
        rows = self.session.execute(select(c.stage, func.count()).group_by(c.stage)).all()
        return {stage.value: n for stage, n in rows}


class BookletRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def get(self, serial: str) -> Booklet:
        # Locked (PostgreSQL): two print desks naming the same serial must not both issue it.
        b = self.session.get(Booklet, serial, with_for_update=True)
        if b is None:
            raise NotFound(f"booklet {serial} was never received at this office", code="booklet-unknown")
        return b

    def next_in_stock(self) -> Booklet | None:
        q = select(Booklet).where(t.booklet.c.status == "in_stock").order_by(t.booklet.c.serial).limit(1)
        return self.session.scalars(q.with_for_update(skip_locked=True)).first()


def next_counter(session: Session, *, day: date, name: str) -> int:
    """Atomically take the next number of a per-day counter (application numbers, tickets)."""
    insert = pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
    stmt = insert(t.daily_counter).values(day=day, name=name, value=1)
    stmt = stmt.on_conflict_do_update(
        index_elements=["day", "name"], set_={"value": t.daily_counter.c.value + 1}
    ).returning(t.daily_counter.c.value)
    return session.execute(stmt).scalar_one()
