"""The pickup desk's reading: the passports ready to hand over, the ones printed but still
waiting (for their quality check or for the central's confirmations, so the desk can tell an
applicant why), and a handover as its receipt shows it."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func, select

from kanim.bootstrap import Office
from kanim.domain.application import Application, Stage
from kanim.domain.clearances import ClearanceKind, ClearanceState
from kanim.store import tables as t

LIST_LIMIT = 50
WAITING = (Stage.PRINTED, Stage.QC_PASSED)


@dataclass(frozen=True)
class Waiting:
    app: Application
    unconfirmed: list[tuple[ClearanceKind, ClearanceState]]  # what the central has not yet confirmed

    @property
    def needs_quality_check(self) -> bool:
        return self.app.stage is Stage.PRINTED


@dataclass(frozen=True)
class PickupDesk:
    q: str
    ready: list[Application]
    ready_count: int
    waiting: list[Waiting]
    waiting_count: int


@dataclass(frozen=True)
class HandedOver:
    app: Application
    by: str | None  # the desk officer, from the audit log


def pickup_desk(office: Office, q: str = "") -> PickupDesk:
    """Ready and waiting passports, oldest first; `q` narrows both to an application number
    (or its start) or every word of a name."""
    q = " ".join(q.split())
    c = t.application.c
    with office.uow(readonly=True) as uow:
        ready = list(uow.session.scalars(_narrowed(select(Application).where(c.stage == Stage.READY), q)
                                         .order_by(c.updated_at, c.number).limit(LIST_LIMIT)))
        waiting = list(uow.session.scalars(_narrowed(select(Application).where(c.stage.in_(WAITING)), q)
                                           .order_by(c.printed_at, c.number).limit(LIST_LIMIT)))
        ready_count = _count(uow, _narrowed(select(func.count()).where(c.stage == Stage.READY), q))
        waiting_count = _count(uow, _narrowed(select(func.count()).where(c.stage.in_(WAITING)), q))
    return PickupDesk(q, ready, ready_count, [Waiting(a, _unconfirmed(a)) for a in waiting], waiting_count)


def application(office: Office, application_id: str) -> Application:
    with office.uow(readonly=True) as uow:
        return uow.applications.get(application_id)


def handed_over(office: Office, application_id: str) -> HandedOver:
    with office.uow(readonly=True) as uow:
        app = uow.applications.get(application_id)
        a = t.audit_event.c
        by = uow.session.execute(select(a.actor).where(a.subject == app.id, a.action == "PassportHandedOver")
                                 .order_by(a.seq.desc()).limit(1)).scalar()
    return HandedOver(app, by)


def _narrowed(q, text: str):  # noqa: ANN001, ANN202
    c = t.application.c
    if not text:
        return q
    if any(ch.isdigit() for ch in text):
        return q.where(c.number.startswith(text.upper(), autoescape=True))
    for word in text.split()[:5]:
        q = q.where(func.lower(c.full_name).contains(word.lower(), autoescape=True))
    return q


def _count(uow, q) -> int:  # noqa: ANN001
    return int(uow.session.execute(q).scalar_one())


def _unconfirmed(app: Application) -> list[tuple[ClearanceKind, ClearanceState]]:
    return [(k, app.clearances.state(k)) for k in ClearanceKind
            if app.clearances.state(k) is not ClearanceState.CONFIRMED]

