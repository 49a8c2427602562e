"""Office-wide resources: payments by billing code, booklet stock, fees, holidays, staff
accounts, the watch-list snapshot, the audit chain, health."""

from __future__ import annotations

from dataclasses import asdict

from typing import Annotated

from fastapi import APIRouter, Path
from sqlalchemy import func, select

from kanim.office import accounts, admin, payment, printing
from kanim.security import audit
from kanim.security.roles import Perm
from kanim.store import tables as t
from kanim.web.contract import Route, errors
from kanim.web.deps import OfficeDep, Staff
from kanim.http.wire import SERIAL
from kanim.web.replies import (
    AuditReportOut,
    BookletBatchOut,
    BookletReportOut,
    FeeOut,
    HealthOut,
    HolidayOut,
    OutboxOut,
    SpoiledBookletOut,
    UserOut,
    WatchlistSnapshotOut,
)
from kanim.web.schemas import (
    ApplicationOut,
    BookletBatchIn,
    FeeIn,
    HolidayIn,
    PaymentIn,
    SpoilIn,
    UserIn,
    WatchlistSnapshotIn,
)

router = APIRouter(route_class=Route)
Serial = Annotated[str, Path(json_schema_extra=SERIAL)]
# Checked by the use case, which refuses others with its own code (`fee-code`).
FeeCode = Annotated[str, Path(description="`passport.<kind>.<5y|10y>` or `surcharge.<application type>`",
                              json_schema_extra={"enum": admin.FEE_CODES})]


@router.post("/payments", response_model=ApplicationOut, tags=["payment"], responses=errors(
    {404: "`billing-code-unknown`", 409: "already paid, or out of order",
     410: "`billing-expired`: the code is past its validity; issue a new one"}))
def record_payment(body: PaymentIn, office: OfficeDep, user: Staff(Perm.BILL)) -> ApplicationOut:
    """The applicant's paid receipt: payment is provisional until the treasury confirms it."""
    return ApplicationOut.of(payment.record_payment(office, billing_code=body.billing_code,
                                                    receipt_ref=body.receipt_ref, actor=user.username))


@router.post("/booklets/batches", status_code=201, tags=["booklets"], response_model=BookletBatchOut,
             responses=errors({409: "`booklet-already-received`, `booklet-not-allocated`"}))
def receive_booklets(body: BookletBatchIn, office: OfficeDep, user: Staff(Perm.MANAGE_BOOKLETS)) -> dict:
    """Receive a delivery of blank booklets, a serial range."""
    return printing.receive_booklets(office, first=body.first, last=body.last, actor=user.username)


@router.post("/booklets/{serial}/spoil", tags=["booklets"], response_model=SpoiledBookletOut,
             responses=errors({404: "`booklet-unknown`", 409: "`booklet-issued`, or already spoiled"}))
def spoil_booklet(serial: Serial, body: SpoilIn, office: OfficeDep, user: Staff(Perm.MANAGE_BOOKLETS)) -> dict:
    b = printing.spoil_booklet(office, serial=serial, reason=body.reason, note=body.note, actor=user.username)
    return {"serial": b.serial, "status": b.status.value, "spoil_reason": b.spoil_reason.value}


@router.get("/booklets/report", tags=["booklets"], response_model=BookletReportOut)
def booklet_report(office: OfficeDep, user: Staff(Perm.MANAGE_BOOKLETS)) -> dict:
    """Accountability: received = issued + spoiled + in stock."""
    r = printing.accountability(office)
    return {**asdict(r), "balanced": r.balanced}


@router.get("/fees", tags=["office settings"], response_model=list[FeeOut])
def fees(office: OfficeDep, user: Staff(Perm.VIEW_SETTINGS)) -> list[dict]:
    return admin.fee_table(office)


@router.put("/fees/{code}", tags=["office settings"], response_model=FeeOut)
def set_fee(code: FeeCode, body: FeeIn, office: OfficeDep, user: Staff(Perm.MANAGE_FEES)) -> dict:
    """Update one fee (rupiah): `passport.<kind>.<5y|10y>` or `surcharge.<application type>`."""
    return admin.set_fee(office, code=code, amount=body.amount, description=body.description, actor=user.username)


@router.get("/holidays", tags=["office settings"], response_model=list[HolidayOut])
def holidays(office: OfficeDep, user: Staff(Perm.VIEW_SETTINGS)) -> list[dict]:
    return admin.holidays(office)


@router.post("/holidays", status_code=201, tags=["office settings"], response_model=HolidayOut)
def add_holiday(body: HolidayIn, office: OfficeDep, user: Staff(Perm.MANAGE_FEES)) -> dict:
    admin.add_holiday(office, day=body.day, name=body.name, actor=user.username)
    return {"day": body.day, "name": body.name}


@router.post("/users", status_code=201, tags=["staff"], response_model=UserOut,
             responses=errors({409: "`user-exists`"}))
def add_user(body: UserIn, office: OfficeDep, user: Staff(Perm.MANAGE_USERS)) -> dict:
    u = accounts.add_user(office, username=body.username, full_name=body.full_name, role=body.role,
                          password=body.password, actor=user.username)
    return {"id": u.id, "username": u.username, "role": u.role.value}


@router.post("/watchlist/snapshots", status_code=201, tags=["watch-list"], response_model=WatchlistSnapshotOut)
def load_watchlist(body: WatchlistSnapshotIn, office: OfficeDep, user: Staff(Perm.MANAGE_WATCHLIST)) -> dict:
    orders = [admin.WatchlistOrder(**o.model_dump()) for o in body.orders]
    snap = admin.load_watchlist_snapshot(office, taken_at=body.taken_at, source=body.source, orders=orders,
                                         actor=user.username)
    return {"id": snap, "entries": len(orders)}


@router.get("/audit/verify", tags=["audit"], response_model=AuditReportOut)
def verify_audit(office: OfficeDep, user: Staff(Perm.VIEW_AUDIT)) -> dict:
    """Walk the hash chain of the audit log."""
    with office.uow() as uow:
        report = audit.verify_chain(uow.session)
    return {"ok": report.ok, "rows": report.rows, "problems": report.problems}


@router.get("/outbox", tags=["link"], response_model=OutboxOut)
def outbox_summary(office: OfficeDep, user: Staff(Perm.VIEW_AUDIT)) -> dict:
    """What waits for the central: rows by status and the oldest pending one."""
    with office.uow() as uow:
        c = t.outbox.c
        counts = dict(uow.session.execute(select(c.status, func.count()).group_by(c.status)).all())
        oldest = uow.session.execute(select(func.min(c.created_at)).where(c.status == "pending")).scalar()
    return {"by_status": counts, "oldest_pending_at": oldest}


@router.get("/health", tags=["health"], response_model=HealthOut)
def health(office: OfficeDep) -> dict:
    with office.uow(readonly=True) as uow:
        uow.session.execute(select(1))
    return {"status": "ok", "office": office.settings.office_code, "central": office.settings.central}
