"""Print room: booklet stock, personalisation (MRZ), the data-page preview, quality check.

Every booklet is accountable: the booklet's status changes in the same transaction as the
application's stage, so the report can never drift from what happened."""

from __future__ import annotations

import uuid
from datetime import timedelta

from sqlalchemy import func, select

from kanim.bootstrap import Office
from kanim.domain.application import Application
from kanim.domain.booklet import AccountabilityReport, Booklet, SerialPattern, SpoilReason
from kanim.domain.errors import Conflict, GateClosed, InvalidInput, NotFound
from kanim.domain.guardrails import Guardrail, Guardrails, provisional_print_stops
from kanim.domain.events import BookletSpoiled, BookletsReceived
from kanim.domain.mrz import MrzInput, SingleNameStyle, split_name, td3
from kanim.domain.names import printable_name
from kanim.domain.passport import PassportKind, expiry_date, validity_years
from kanim.office import chip
from kanim.office.common import today, retry_on_concurrent_change
from kanim.store import tables as t
from kanim.store.uow import UnitOfWork

PATTERN = SerialPattern()


def receive_booklets(office: Office, *, first: str, last: str, actor: str) -> dict:
    serials = PATTERN.expand(first, last)
    with office.uow() as uow:
        _check_allocated(uow, serials)
        taken = uow.session.scalars(
            select(t.booklet.c.serial).where(t.booklet.c.serial.in_(serials)).limit(5)).all()
        if taken:
            raise Conflict("booklets already received: " + ", ".join(taken), code="booklet-already-received")
        now, batch_id = uow.now(), str(uuid.uuid4())
        uow.session.execute(t.booklet_batch.insert().values(
            id=batch_id, first_serial=serials[0], last_serial=serials[-1], count=len(serials),
            received_at=now, received_by=actor))
        uow.session.execute(t.booklet.insert(), [
            dict(serial=s, batch_id=batch_id, status="in_stock", received_at=now) for s in serials])
        uow.record(BookletsReceived(batch_id, now, actor, first=serials[0], last=serials[-1], count=len(serials)))
        uow.commit()
    return {"batch_id": batch_id, "first": serials[0], "last": serials[-1], "count": len(serials)}


def _check_allocated(uow: UnitOfWork, serials: list[str]) -> None:
    """Once the central allocates serial ranges to this office, only booklets inside them may be
    received: a booklet the office was not allocated is not the office's to personalise."""
    ranges = [(r.first_serial, r.last_serial) for r in uow.session.execute(select(t.allocated_range))]
    if not ranges:
        return  # an office not (yet) linked to a central keeps its own stock
    outside = [s for s in serials if not any(PATTERN.contains(a, b, s) for a, b in ranges)]
    if outside:
        raise Conflict(f"{len(outside)} booklets were never allocated to this office by the central, "
                       f"e.g. {outside[0]}", code="booklet-not-allocated")


@retry_on_concurrent_change
def print_passport(office: Office, *, application_id: str, actor: str, serial: str | None = None) -> Application:
    with office.uow() as uow:
        app = uow.applications.get(application_id)
        if not app.clearances_confirmed(office.print_policy.required):
            check_guardrails(office, uow)
        # An electronic passport needs a usable Document Signer before a booklet is taken;
        # an ordinary one never asks (docs/chip.md).
        signer = (chip.require_signer(uow, required=office.settings.chip_required)
                  if app.passport_kind is PassportKind.ELECTRONIC else None)
        booklet = _pick_booklet(uow, serial)
        issued_on = today(office, uow)
        expires_on = expiry_date(issued_on, validity_years(app.birth_date, issued_on))
        mrz = mrz_for(office, app, serial=booklet.serial, expires_on=expires_on)
        app.print_booklet(serial=booklet.serial, mrz=mrz, issued_on=issued_on, expires_on=expires_on,
                          policy=office.print_policy, at=uow.now(), actor=actor)
        booklet.issue(application_id=app.id, at=uow.now())
        if signer is None:
            uow.commit()
            return app
        job = chip.personalise(office, uow, app, state=signer, actor=actor)
        with office.vault.staged(job) as ref:  # the job's file goes if the transaction fails
            chip.record_job(uow, app, job, ref, actor=actor)
            uow.commit()
    return app


def guardrail_blockers(office: Office, uow: UnitOfWork) -> list[str]:
    return [g.reason for g in guardrail_stops(office, uow)]


def guardrail_stops(office: Office, uow: UnitOfWork) -> list[Guardrail]:
    """Why provisional printing is stopped now, with the ages and limits (a desk's words)."""
    s = office.settings
    rails = Guardrails(watchlist_max_age=timedelta(days=s.watchlist_max_age_days),
                       unsynced_max_age=timedelta(days=s.unsynced_max_days))
    snapshot = uow.session.execute(select(func.max(t.watchlist_snapshot.c.taken_at))).scalar()
    # Work waiting in the queue, since it (last) entered it: a dead letter is shown on its own
    # and holds its application; a history re-sent for a rebuild is not old work.
    c = t.outbox.c
    oldest = uow.session.execute(select(func.min(func.coalesce(c.queued_at, c.created_at)))
                                 .where(c.status == "pending")).scalar()
    return provisional_print_stops(now=uow.now(), snapshot_taken_at=snapshot, oldest_unsynced_at=oldest, rails=rails)


def check_guardrails(office: Office, uow: UnitOfWork) -> None:
    if reasons := guardrail_blockers(office, uow):
        raise GateClosed("provisional printing is stopped: " + "; ".join(reasons), reasons=reasons,
                         code="guardrail")


def mrz_for(office: Office, app: Application, *, serial: str, expires_on) -> tuple[str, str]:  # noqa: ANN001
    # The name was checked when it was booked; checked again because a row written before that
    # rule existed must not print a data page and an MRZ that disagree.
    name = printable_name(app.full_name)
    primary, secondary = split_name(name, SingleNameStyle(office.settings.mrz_single_name))
    return td3(MrzInput(document_number=serial, surname=primary, given_names=secondary,
                        birth_date=app.birth_date, sex=app.sex, expiry_date=expires_on))


@retry_on_concurrent_change
def quality_check(office: Office, *, application_id: str, passed: bool, actor: str, reason: str = "") -> Application:
    chip_failure = None
    with office.uow() as uow:
        app = uow.applications.get(application_id)
        if passed and app.passport_kind is PassportKind.ELECTRONIC and app.booklet_serial:
            # A chip that fails Passive Authentication or disagrees with the print fails QC.
            if chip_failure := chip.chip_qc(office, uow, app, actor=actor):
                passed, reason = False, chip_failure
        if passed:
            app.pass_quality_check(at=uow.now(), actor=actor)
        else:
            serial = app.fail_quality_check(reason=reason, at=uow.now(), actor=actor)
            _spoil(uow, uow.booklets.get(serial), SpoilReason.QC_FAILURE, reason, actor, app.id)
        uow.commit()
    if chip_failure:
        raise Conflict(f"the booklet failed its quality check and is spoiled: {chip_failure}",
                       code="chip-qc-failed")
    return app


def spoil_booklet(office: Office, *, serial: str, reason: str, note: str, actor: str) -> Booklet:
    """Spoil a booklet from stock (damaged, misprinted on a test run). A booklet personalised
    for an application is spoiled through its quality check, so the application follows."""
    try:
        why = SpoilReason(reason)
    except ValueError:
        raise InvalidInput(f"unknown spoil reason {reason!r}", code="spoil-reason") from None
    with office.uow() as uow:
        booklet = uow.booklets.get(PATTERN.normalize(serial))
        if booklet.application_id is not None:
            raise Conflict(f"booklet {serial} belongs to an application: fail its quality check instead",
                           code="booklet-issued")
        _spoil(uow, booklet, why, note, actor, None)
        uow.commit()
    return booklet


def accountability(office: Office) -> AccountabilityReport:
    with office.uow(readonly=True) as uow:
        return accountability_in(uow)


def accountability_in(uow: UnitOfWork) -> AccountabilityReport:
    """The report inside the caller's unit of work, so that a page can show it beside the
    batches and spoiled booklets it counts, all read at one moment."""
    received = uow.session.execute(select(func.coalesce(func.sum(t.booklet_batch.c["count"]), 0))).scalar_one()
    by_status = dict(uow.session.execute(
        select(t.booklet.c.status, func.count()).group_by(t.booklet.c.status)).all())
    by_reason = dict(uow.session.execute(
        select(t.booklet.c.spoil_reason, func.count()).where(t.booklet.c.spoil_reason.is_not(None))
        .group_by(t.booklet.c.spoil_reason)).all())
    return AccountabilityReport.from_counts(
        received=int(received), by_status={k.value: v for k, v in by_status.items()},
        by_reason={k.value: v for k, v in by_reason.items()})


def _pick_booklet(uow: UnitOfWork, serial: str | None) -> Booklet:
    if serial is None:
        booklet = uow.booklets.next_in_stock()
        if booklet is None:
            raise Conflict("no blank booklets in stock", code="booklet-stock-empty")
        return booklet
    try:
        return uow.booklets.get(PATTERN.normalize(serial))
    except NotFound:
        raise Conflict(f"booklet {serial} is not in this office's allocated stock",
                       code="booklet-out-of-range") from None


def _spoil(uow: UnitOfWork, booklet: Booklet, why: SpoilReason, note: str, actor: str,
           application_id: str | None) -> None:
    booklet.spoil(reason=why, note=note, at=uow.now())
    uow.record(BookletSpoiled(booklet.serial, uow.now(), actor, reason=why.value, application_id=application_id))
