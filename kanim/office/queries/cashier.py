"""The cashier's reading: one application's bill (its code, amount, fee lines and expiry), the
applications waiting for billing or payment, and the day's takings."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import func, select

from kanim.bootstrap import Office
from kanim.domain.application import Application, Stage
from kanim.domain.passport import APPLICATION_LABELS, KIND_LABELS, validity_years
from kanim.office.common import today
from kanim.office.payment import quote
from kanim.store import tables as t
from kanim.store.uow import UnitOfWork

LIST_LIMIT = 100
PAID_LIMIT = 50  # the latest payments; the day's totals count them all


@dataclass(frozen=True)
class FeeLine:
    label: str  # a message id: the passport kind or the application type (kanim.domain.passport)
    amount: int
    years: int | None = None  # the booklet's validity, on the passport's line


@dataclass(frozen=True)
class Bill:
    app: Application
    lines: list[FeeLine]  # empty when the fee table changed since the code was issued
    now: datetime

    @property
    def expired(self) -> bool:
        return self.app.billing_expires_at is not None and self.now > self.app.billing_expires_at


@dataclass(frozen=True)
class CashierDay:
    day: date
    now: datetime
    waiting: list[Application]  # today's applicants past intake, not yet paid: oldest first
    waiting_older: int  # applications of earlier days that also wait (opened by number)
    paid: list[Application]  # paid today, latest first (at most PAID_LIMIT)
    paid_count: int
    paid_total: int
    billed_count: int  # codes issued today (the code each application holds now)
    billed_total: int


def bill(office: Office, application_id: str) -> Bill:
    """By id or number; NotFound (404 application-not-found) otherwise."""
    with office.uow(readonly=True) as uow:
        app = uow.applications.get(application_id)
        return Bill(app, fee_lines(office, uow, app), uow.now())


def fee_lines(office: Office, uow: UnitOfWork, app: Application) -> list[FeeLine]:
    """The lines of the fee as the fee table quotes it today. The application keeps only the
    total it was billed, so the lines are shown only while they still add up to that total."""
    if app.fee_total is None:
        return []
    q = quote(office, uow, app)
    if q.total != app.fee_total:
        return []
    years = validity_years(app.birth_date, today(office, uow))
    lines = [FeeLine(KIND_LABELS[app.passport_kind], q.base, years)]
    if q.surcharge:
        lines.append(FeeLine(APPLICATION_LABELS[app.app_type], q.surcharge))
    return lines


def cashier_day(office: Office) -> CashierDay:
    a = t.application.c
    with office.uow(readonly=True) as uow:
        day, now = today(office, uow), uow.now()
        start, end = day_bounds(day, office.settings.timezone)
        unpaid = (a.stage == Stage.INTAKE_DONE, a.paid_at.is_(None))
        waiting = list(uow.session.scalars(
            select(Application).where(*unpaid, a.appointment_on == day)
            .order_by(a.updated_at, a.number).limit(LIST_LIMIT)))
        waiting_older = uow.session.scalar(
            select(func.count()).select_from(t.application).where(*unpaid, a.appointment_on < day))
        paid_today = (a.paid_at >= start, a.paid_at < end)
        paid = list(uow.session.scalars(
            select(Application).where(*paid_today).order_by(a.paid_at.desc()).limit(PAID_LIMIT)))
        paid_count, paid_total = uow.session.execute(
            select(func.count(), func.coalesce(func.sum(a.fee_total), 0)).where(*paid_today)).one()
        # A code is valid for a fixed time from its issue, so its expiry says when it was issued.
        validity = timedelta(minutes=office.settings.billing_validity_minutes)
        billed_count, billed_total = uow.session.execute(
            select(func.count(), func.coalesce(func.sum(a.fee_total), 0))
            .where(a.billing_expires_at >= start + validity, a.billing_expires_at < end + validity)).one()
    return CashierDay(day, now, waiting, waiting_older, paid, paid_count, int(paid_total), billed_count,
                      int(billed_total))


def day_bounds(day: date, tz: str) -> tuple[datetime, datetime]:
    """The office's local day as an instant range [start, end)."""
    zone = ZoneInfo(tz)
    start = datetime.combine(day, time(0), tzinfo=zone)
    return start, datetime.combine(day + timedelta(days=1), time(0), tzinfo=zone)
