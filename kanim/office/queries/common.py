"""Reading one application, for any desk."""

from __future__ import annotations

from kanim.bootstrap import Office
from kanim.domain.application import Application


def application(office: Office, application_id: str) -> Application:
    """By id or number; NotFound (404 application-not-found) otherwise."""
    with office.uow(readonly=True) as uow:
        return uow.applications.get(application_id)
