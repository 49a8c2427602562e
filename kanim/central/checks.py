"""What the central decides, behind adapter interfaces: the civil registry (Dukcapil) for NIK
verification, the treasury for payments, plus the watch-list, duplicates and allocations that
the central holds itself."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Protocol

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from kanim.central import tables as ct
from kanim.domain.application import TERMINAL
from kanim.domain.booklet import SerialPattern
from kanim.domain.clearances import ClearanceState
from kanim.domain.mrz import transliterate

Decision = tuple[ClearanceState, str]
OPEN_STAGES_EXCLUDED = tuple(sorted(TERMINAL))  # an application in these is no longer open
C, F = ClearanceState.CONFIRMED, ClearanceState.FLAGGED


@dataclass(frozen=True)
class CivilRecord:
    nik: str
    full_name: str
    birth_date: date
    sex: str


class CivilRegistry(Protocol):
    """Dukcapil's answer for a NIK; None when the NIK is unknown."""

    def lookup(self, session: Session, nik: str) -> CivilRecord | None: ...


class TableCivilRegistry:
    """The built-in adapter: a table an operator loads from CSV (`kanim central registry load`)."""

    def lookup(self, session: Session, nik: str) -> CivilRecord | None:
        row = session.execute(select(ct.civil_registry).where(ct.civil_registry.c.nik == nik)).first()
        return None if row is None else CivilRecord(row.nik, row.full_name, row.birth_date, row.sex)


@dataclass(frozen=True)
class TreasuryPayment:
    billing_code: str
    amount: int
    paid_at: datetime
    reference: str


class Treasury(Protocol):
    """The state treasury's word on a billing code (SIMPONI); None while it has not said."""

    def lookup(self, session: Session, billing_code: str) -> TreasuryPayment | None: ...


class TableTreasury:
    """Payments imported from the bank's CSV (`kanim central payments import`)."""

    def lookup(self, session: Session, billing_code: str) -> TreasuryPayment | None:
        row = session.execute(select(ct.treasury_payment).where(
            ct.treasury_payment.c.billing_code == billing_code)).first()
        if row is None:
            return None
        return TreasuryPayment(row.billing_code, row.amount, row.paid_at, row.reference)


class TrustingTreasury:
    """For demos and drills only: takes the office's receipt as the treasury's confirmation."""

    def lookup(self, session: Session, billing_code: str) -> TreasuryPayment | None:
        row = session.execute(select(ct.central_payment).where(ct.central_payment.c.billing_code == billing_code)).first()
        if row is None or row.office_paid_at is None:
            return None
        return TreasuryPayment(billing_code, row.amount, row.office_paid_at, row.office_receipt_ref or "")


@dataclass
class CentralChecks:
    civil: CivilRegistry = field(default_factory=TableCivilRegistry)
    treasury: Treasury = field(default_factory=TableTreasury)
    serials: SerialPattern = field(default_factory=SerialPattern)

    def verify_nik(self, session: Session, nik: str, name: str, birth: date | None, sex: str) -> Decision:
        rec = self.civil.lookup(session, nik)
        if rec is None:
            return F, f"NIK {nik[:6]}… is not in the civil registry"
        problems = []
        if _name_key(rec.full_name) != _name_key(name):
            problems.append("name differs from the civil registry")
        if birth is not None and rec.birth_date != birth:
            problems.append("birth date differs from the civil registry")
        if sex and rec.sex != sex:
            problems.append("sex differs from the civil registry")
        return (F, "; ".join(problems)) if problems else (C, "civil registry agrees")

    def watchlist(self, session: Session, nik: str, now: datetime) -> Decision:
        day = now.date()
        w = ct.watchlist_order.c
        hit = session.execute(select(ct.watchlist_order).where(
            w.subject_kind == "nik", w.subject_value == nik, w.starts_on <= day, w.ends_on >= day,
            w.revoked_at.is_(None))).first()
        if hit is None:
            return C, "no watch-list order"
        return F, f"{hit.order_kind} order by {hit.agency} until {hit.ends_on.isoformat()}: {hit.reason}"

    def duplicate(self, session: Session, nik: str, application_id: str, app_type: str, now: datetime) -> Decision:
        a = ct.registry_application.c
        other = session.execute(select(a.number, a.office_code, a.stage).where(
            a.nik == nik, a.id != application_id, a.stage.not_in(OPEN_STAGES_EXCLUDED)).limit(1)).first()
        if other is not None:
            return F, f"open application {other.number} at office {other.office_code} ({other.stage})"
        if app_type == "new":
            p = ct.registry_passport.c
            valid = session.execute(select(p.serial, p.expires_on).where(
                p.nik == nik, p.status == "issued", p.expires_on > now.date()).limit(1)).first()
            if valid is not None:
                return F, f"holds valid passport {valid.serial} until {valid.expires_on.isoformat()}"
        return C, "no duplicate in any office"

    def allocated(self, session: Session, office_code: str, serial: str) -> bool:
        a = ct.booklet_allocation.c
        return any(self.serials.contains(r.first_serial, r.last_serial, serial)
                   for r in session.execute(select(a.first_serial, a.last_serial).where(a.office_code == office_code)))

    # -- payments --------------------------------------------------------------------------

    def billing_issued(self, session: Session, code: str, application_id: str, office_code: str,
                       amount: int, now: datetime) -> None:
        exists = session.execute(select(ct.central_payment.c.billing_code)
                                 .where(ct.central_payment.c.billing_code == code)).first()
        if exists is None:
            session.execute(ct.central_payment.insert().values(
                billing_code=code, application_id=application_id, office_code=office_code, amount=amount,
                issued_at=now))
            # A bank payment that arrived before the code was known is no longer unknown; if its
            # amount is wrong, that is now a mismatch for a supervisor.
            session.execute(update(ct.payment_issue).where(
                ct.payment_issue.c.billing_code == code, ct.payment_issue.c.kind == "unknown_code",
                ct.payment_issue.c.resolved_at.is_(None)).values(resolved_at=now, resolved_by="billing arrived"))
            paid = self.treasury.lookup(session, code)
            if paid is not None and paid.amount != amount:
                session.execute(ct.payment_issue.insert().values(
                    billing_code=code, kind="amount", detail=f"billed Rp{amount}, paid Rp{paid.amount}",
                    created_at=now))

    def payment_recorded(self, session: Session, code: str, receipt_ref: str, now: datetime) -> Decision | None:
        """The office recorded a receipt. A code the office saw paid never expires while the
        treasury's confirmation is late: it stays waiting here until the bank's file arrives."""
        session.execute(update(ct.central_payment).where(ct.central_payment.c.billing_code == code)
                        .values(office_receipt_ref=receipt_ref, office_paid_at=now))
        return self.payment_decision(session, code, now)

    def payment_decision(self, session: Session, code: str, now: datetime) -> Decision | None:
        row = session.execute(select(ct.central_payment).where(ct.central_payment.c.billing_code == code)).first()
        if row is None or row.office_paid_at is None or row.confirmed_at is not None:
            return None
        paid = self.treasury.lookup(session, code)
        if paid is None:
            return None
        if paid.amount != row.amount:
            return None  # an amount mismatch waits for a supervisor (payment_issue)
        session.execute(update(ct.central_payment).where(ct.central_payment.c.billing_code == code)
                        .values(confirmed_at=now))
        return C, f"treasury confirmed payment {paid.reference or code}"


def _name_key(name: str) -> str:
    """Names compare as the MRZ writes them: case, accents and punctuation do not matter."""
    return transliterate(name or "").replace("<", "")


