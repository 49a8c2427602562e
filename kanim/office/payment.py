"""Cashier: issue a billing code for the fee, record the paid receipt."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from kanim.bootstrap import Office
from kanim.domain.application import Application
from kanim.domain.billing import check_billing_code, new_billing_code
from kanim.domain.passport import FeeQuote, fee_for, validity_years
from kanim.office.common import fee_schedule, today, retry_on_concurrent_change
from kanim.store import tables as t
from kanim.store.uow import UnitOfWork


def quote(office: Office, uow: UnitOfWork, app: Application) -> FeeQuote:
    years = validity_years(app.birth_date, today(office, uow))
    return fee_for(fee_schedule(uow), kind=app.passport_kind, validity_years=years, app_type=app.app_type)


@retry_on_concurrent_change
def issue_billing(office: Office, *, application_id: str, actor: str) -> tuple[Application, FeeQuote]:
    with office.uow() as uow:
        app = uow.applications.get(application_id)
        q = quote(office, uow, app)
        app.issue_billing(code=_unused_code(uow), amount=q.total, at=uow.now(), actor=actor,
                          valid_for=timedelta(minutes=office.settings.billing_validity_minutes))
        uow.commit()
    return app, q


@retry_on_concurrent_change
def record_payment(office: Office, *, billing_code: str, receipt_ref: str, actor: str) -> Application:
    code = check_billing_code(billing_code)
    with office.uow() as uow:
        app = uow.applications.by_billing_code(code)
        app.record_payment(code=code, receipt_ref=receipt_ref, at=uow.now(), actor=actor)
        uow.commit()
    return app


def _unused_code(uow: UnitOfWork) -> str:
    while True:  # 10^13 codes: a collision is rare, but the column is unique, so check
        code = new_billing_code()
        if uow.session.execute(select(t.application.c.id).where(t.application.c.billing_code == code)).first() is None:
            return code
