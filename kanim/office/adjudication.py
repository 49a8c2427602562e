"""Interview and adjudication: the interviewer's notes, the supervisor's decision, holds."""

from __future__ import annotations

from kanim.bootstrap import Office
from kanim.domain.application import Application
from kanim.domain.calendar import ready_date
from kanim.office.common import holidays, today, transition


def record_interview(office: Office, *, application_id: str, notes: str, actor: str) -> Application:
    return transition(office, application_id, lambda app, uow: app.record_interview(
        notes=notes, ready_by=ready_date(today(office, uow), holidays(uow)), at=uow.now(), actor=actor))


def approve(office: Office, *, application_id: str, actor: str) -> Application:
    return transition(office, application_id, lambda app, uow: app.approve(at=uow.now(), actor=actor))


def reject(office: Office, *, application_id: str, reason: str, actor: str) -> Application:
    return transition(office, application_id,
                      lambda app, uow: app.reject(reason=reason, at=uow.now(), actor=actor))


def cancel(office: Office, *, application_id: str, reason: str, actor: str) -> Application:
    return transition(office, application_id,
                      lambda app, uow: app.cancel(reason=reason, at=uow.now(), actor=actor))


def release_hold(office: Office, *, application_id: str, actor: str) -> Application:
    return transition(office, application_id, lambda app, uow: app.release_hold(at=uow.now(), actor=actor))
