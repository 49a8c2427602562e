"""What a supervisor or admin keeps up to date: the fee table, the office's holidays and the
watch-list snapshot."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import delete, select

from kanim.bootstrap import Office
from kanim.domain.errors import InvalidInput
from kanim.domain.passport import FEE_MAX, ApplicationType, PassportKind
from kanim.office.common import fee_schedule
from kanim.store import tables as t


# Every fee the office can set: one per passport kind and validity, one surcharge per application type.
FEE_CODES = [f"passport.{k.value}.{y}y" for k in PassportKind for y in (5, 10)] + \
            [f"surcharge.{t.value}" for t in ApplicationType]


def fee_table(office: Office) -> list[dict]:
    with office.uow() as uow:
        s = fee_schedule(uow)
    rows = [{"code": f"passport.{k.value}.{y}y", "amount": a} for (k, y), a in sorted(s.passport.items())]
    rows += [{"code": f"surcharge.{k.value}", "amount": a} for k, a in sorted(s.surcharge.items())]
    return rows


def set_fee(office: Office, *, code: str, amount: int, description: str, actor: str) -> dict:
    _check_fee_code(code)
    if not 0 <= amount <= FEE_MAX:
        raise InvalidInput(f"a fee is 0 to {FEE_MAX} rupiah", code="fee-invalid")
    with office.uow() as uow:
        uow.session.execute(delete(t.fee_item).where(t.fee_item.c.code == code))
        uow.session.execute(t.fee_item.insert().values(code=code, amount=amount, description=description,
                                                       updated_at=uow.now()))
        uow.audit(actor=actor, action="FeeChanged", subject=code, detail={"amount": amount})
        uow.commit()
    return {"code": code, "amount": amount}


def _check_fee_code(code: str) -> None:
    if code in FEE_CODES:
        return
    raise InvalidInput(f"fee code {code!r} is not passport.<kind>.<5y|10y> or surcharge.<type>",
                       code="fee-code")


def holidays(office: Office) -> list[dict]:
    with office.uow() as uow:
        return [dict(r._mapping) for r in uow.session.execute(select(t.holiday).order_by(t.holiday.c.day))]


def add_holiday(office: Office, *, day: date, name: str, actor: str) -> None:
    with office.uow() as uow:
        uow.session.execute(delete(t.holiday).where(t.holiday.c.day == day))
        uow.session.execute(t.holiday.insert().values(day=day, name=name))
        uow.audit(actor=actor, action="HolidayAdded", subject=day.isoformat(), detail={"name": name})
        uow.commit()


@dataclass(frozen=True)
class WatchlistOrder:
    subject_kind: str  # nik | passport
    subject_value: str
    order_kind: str  # prevention | temporary | deterrence
    agency: str
    starts_on: date
    ends_on: date
    reason: str


def load_watchlist_snapshot(office: Office, *, taken_at: datetime, source: str,
                            orders: list[WatchlistOrder], actor: str, signature: str | None = None) -> str:
    """Replace the office's snapshot. (Signature verification arrives with the central hub.)"""
    for o in orders:
        if o.subject_kind not in ("nik", "passport"):
            raise InvalidInput(f"watch-list subject must be nik or passport, not {o.subject_kind!r}",
                               code="watchlist-subject")
        if o.ends_on < o.starts_on:
            raise InvalidInput("a watch-list order ends before it starts", code="watchlist-dates")
    with office.uow() as uow:
        snap_id = str(uuid.uuid4())
        uow.session.execute(t.watchlist_snapshot.insert().values(
            id=snap_id, taken_at=taken_at, loaded_at=uow.now(), source=source,
            entry_count=len(orders), signature=signature))
        if orders:
            uow.session.execute(t.watchlist_entry.insert(), [dict(snapshot_id=snap_id, **o.__dict__) for o in orders])
        uow.audit(actor=actor, action="WatchlistLoaded", subject=snap_id,
                  detail={"entries": len(orders), "taken_at": taken_at.isoformat(), "source": source})
        uow.commit()
    return snap_id
