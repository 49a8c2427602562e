"""Small helpers shared by the desks: the office's local day, holidays, fees."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from functools import wraps
from typing import ParamSpec, TypeVar

from sqlalchemy import select
from sqlalchemy.orm.exc import StaleDataError

from kanim.bootstrap import Office
from kanim.clock import local_date
from kanim.domain.application import Application
from kanim.domain.passport import DEFAULT_FEES, ApplicationType, FeeSchedule, PassportKind
from kanim.store import tables as t
from kanim.store.uow import UnitOfWork

P = ParamSpec("P")
R = TypeVar("R")


def today(office: Office, uow: UnitOfWork) -> date:
    return local_date(uow.now(), office.settings.timezone)


def holidays(uow: UnitOfWork) -> frozenset[date]:
    return frozenset(uow.session.scalars(select(t.holiday.c.day)))


def fee_schedule(uow: UnitOfWork) -> FeeSchedule:
    """The office's fee table; PP 45/2024 defaults until a row is stored.

    Codes: `passport.<kind>.<years>y` and `surcharge.<application type>`."""
    passport = {(k, y): a for (k, y), a in DEFAULT_FEES.passport.items()}
    surcharge = dict(DEFAULT_FEES.surcharge)
    for code, amount in uow.session.execute(select(t.fee_item.c.code, t.fee_item.c.amount)):
        parts = code.split(".")
        if parts[0] == "passport" and len(parts) == 3:
            passport[(PassportKind(parts[1]), int(parts[2].rstrip("y")))] = int(amount)
        elif parts[0] == "surcharge" and len(parts) == 2:
            surcharge[ApplicationType(parts[1])] = int(amount)
    return FeeSchedule(passport=passport, surcharge=surcharge)


CONCURRENT_ATTEMPTS = 3


def retry_on_concurrent_change(fn: Callable[P, R]) -> Callable[P, R]:
    """Run a desk action again, from a fresh load, when another transaction changed the same
    application between its read and its commit (StaleDataError: the version moved). Usually
    that other transaction is the link applying a central decision a moment earlier; the
    action's own rules are checked again on the new state, so a retry can still refuse it, and
    only its words say why. The action must be one transaction with no effect outside it (a
    staged vault file is removed when its transaction fails)."""

    @wraps(fn)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        for attempt in range(CONCURRENT_ATTEMPTS):
            try:
                return fn(*args, **kwargs)
            except StaleDataError:
                if attempt == CONCURRENT_ATTEMPTS - 1:
                    raise
        raise AssertionError("unreachable")

    return wrapper


@retry_on_concurrent_change
def transition(office: Office, application_id: str,
               change: Callable[[Application, UnitOfWork], object]) -> Application:
    """Load one application, apply one change, commit: the shape of most desk actions."""
    with office.uow() as uow:
        app = uow.applications.get(application_id)
        change(app, uow)
        uow.commit()
    return app
