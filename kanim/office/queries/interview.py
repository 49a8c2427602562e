"""The interview desk's reading: who waits for an interview (photo and fingers captured)."""

from __future__ import annotations

from sqlalchemy import func, select

from kanim.bootstrap import Office
from kanim.domain.application import Application, Stage
from kanim.office.queries.biometrics import QUEUE_LIMIT, Queue
from kanim.store import tables as t


def interview_queue(office: Office, *, limit: int = QUEUE_LIMIT) -> Queue:
    """Captured applications in the order they were made (the applicants' order of arrival)."""
    a = t.application.c
    waiting = a.stage == Stage.CAPTURED
    with office.uow(readonly=True) as uow:
        apps = list(uow.session.scalars(
            select(Application).where(waiting).order_by(a.number).limit(limit)))
        total = uow.session.execute(select(func.count()).where(waiting)).scalar_one()
    return Queue(apps, total)
