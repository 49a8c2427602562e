"""What each operation of an office does to the central's registry (the handlers), the batch
context they share, and the central's signed feed.

kanim.central.apply drives a batch: validation against the wire contract, idempotency, order,
and isolation of a failing operation. The handlers here check everything that could refuse an
operation before they write anything, so a refused operation leaves no trace and the usual
batch needs no savepoint. An operation that can never succeed (another office's application, a
serial never allocated to the office) raises `Rejected` and the office parks it in its
dead-letter list; one that may succeed later (its application is not known yet) raises `NotYet`
and the office retries it.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime
from types import SimpleNamespace
from typing import Any

from sqlalchemy import bindparam, select, text, tuple_, update
from sqlalchemy.orm import Session

from kanim.central import tables as ct
from kanim.central.biometrics import Keyring, aad
from kanim.central.checks import CentralChecks
from kanim.central.uow import FEED_KEY
from kanim.domain.application import Stage
from kanim.domain.clearances import ClearanceKind, ClearanceState
from kanim.protocol.feed import sign_event
from kanim.protocol.operations import STOCK_OPS, EventKind, Op
from kanim.protocol.schemas import BiometricItem
from kanim.protocol.wire import Operation


class Rejected(Exception):
    """The operation can never be applied as sent: the office must fix it (dead letter)."""


class NotYet(Exception):
    """The operation depends on something the central has not seen yet: retry later."""


@dataclass
class Context:
    session: Session
    office_code: str
    now: datetime
    checks: CentralChecks
    keys: Keyring | None = None  # seals biometrics (the central node's keyring)
    # The batch's applications, read once and kept current by the handlers: most operations
    # only need to know whose application it is.
    apps: dict[str, dict[str, Any]] = field(default_factory=dict)
    applied: list[dict[str, Any]] = field(default_factory=list)  # central_operation rows to insert
    touched: dict[str, dict[str, Any]] = field(default_factory=dict)  # registry updates, one per application
    booked: dict[str, dict[str, Any]] = field(default_factory=dict)  # new registry applications, by id
    images: dict[tuple[str, int], dict[str, Any]] = field(default_factory=dict)  # registry_biometric rows to write
    events: list[dict[str, Any]] = field(default_factory=list)  # feed rows, inserted together
    rebuild_since: datetime | None = None  # when an open rebuild was requested, read once a batch

    def flush(self) -> None:
        """Write what the batch has gathered, a statement per kind rather than per operation:
        the new applications (one multi-row INSERT), the registry updates (one executemany per
        set of columns: an application touched by several operations is written once), the
        captured images (one DELETE of the positions replaced, one multi-row INSERT). Called at
        the end, and before any query that must see the registry as the batch has changed it
        (the duplicate check)."""
        new = set(self.booked)
        if self.booked:
            # The rows are the dicts `apps` holds, so every later touch of the batch is in them.
            self.session.execute(ct.registry_application.insert(), list(self.booked.values()))
            self.booked.clear()
        groups: dict[tuple[str, ...], list[dict[str, Any]]] = {}
        for app_id, values in self.touched.items():
            if app_id not in new:
                groups.setdefault(tuple(sorted(values)), []).append(
                    {"_id": app_id, **{f"_{k}": v for k, v in values.items()}})
        self.touched.clear()
        a = ct.registry_application.c
        for columns, rows in groups.items():
            self.session.execute(update(ct.registry_application).where(a.id == bindparam("_id"))
                                 .values({k: bindparam(f"_{k}") for k in columns}), rows)
        if self.images:
            b = ct.registry_biometric.c
            self.session.execute(ct.registry_biometric.delete().where(
                tuple_(b.application_id, b.position).in_(list(self.images))))
            self.session.execute(ct.registry_biometric.insert(), list(self.images.values()))
            self.images.clear()

    def publish(self) -> None:
        """Write the batch's feed events: the last write before the commit, because the feed's
        lock (below) is held from here to the commit and every office's batch waits for it.
        Written at the first duplicate check instead, it serialised whole batches of intakes
        (bench/national.py: 11% of the central's samples waited on it)."""
        if self.events:
            lock_feed(self.session)
            self.session.execute(ct.central_event.insert(), [signed(self.session, e) for e in self.events])
            self.events.clear()

    def emit(self, kind: str, subject: str, payload: dict[str, Any], *, office_code: str | None) -> None:
        self.events.append(dict(id=str(uuid.uuid4()), office_code=office_code, kind=EventKind(kind).value, subject=subject,
                                payload=payload, created_at=self.now))

    def load_rebuild_state(self) -> None:
        self.rebuild_since = _rebuild_since(self.session)

    def owner(self, application_id: str) -> str | None:
        return _owner(self, application_id)

    def forget(self, *, events_from: int = 0) -> None:
        """Drop what the batch gathered and cached: an operation's savepoint was rolled back.
        Events wait for `publish`, so only the failed operation's (from `events_from`) go."""
        self.apps.clear()
        self.applied.clear()
        self.touched.clear()
        self.booked.clear()
        self.images.clear()
        del self.events[events_from:]

    def decide(self, application_id: str, kind: ClearanceKind, state: ClearanceState, reason: str,
               *, replayed: bool = False) -> None:
        if replayed and state is ClearanceState.FLAGGED:
            # A rebuilt central re-checks history with data it may not have yet (the registry
            # extract, the orders): it may confirm, but never newly flag, what offices re-send.
            # Orders re-entered later flag open applications themselves.
            return
        self.emit(EventKind.CLEARANCE, application_id,
                  {"kind": kind.value, "state": state.value, "reason": reason, "decided_at": self.now.isoformat()},
                  office_code=self.office_code)


# Offices read the feed by `seq > cursor`. On PostgreSQL a sequence number is taken at insert but
# seen at commit, so two writers could commit out of order and a reader would skip the lower one
# for good. Writers of the feed therefore take one transaction-scoped lock: seq order is commit
# order. (SQLite has a single writer anyway.)
FEED_LOCK = 0x6B616E696D  # "kanim"
REBUILD_STATE = "rebuild_epoch"


def lock_feed(session: Session) -> None:
    session.connection()  # begin the transaction now, so that it can be told apart below
    tx = session.get_transaction()
    if session.get_bind().dialect.name == "postgresql" and session.info.get("feed_locked") is not tx:
        session.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": FEED_LOCK})
        session.info["feed_locked"] = session.get_transaction()


# The national checks of one person (watch-list, duplicates) and a new watch-list order's flags
# read what the other has written: without a lock on the person, an intake checked while an order
# on the same NIK (or another office's intake of it) is being written, neither committed, would
# see neither and confirm both. Taken before the person's rows are read, and always before the
# feed's lock (a batch's events are written last; an order takes this one before emitting), so
# the two locks are never taken in the other order.
PERSON_LOCK = 0x6B70  # "kp", the two-key advisory lock space (the feed's lock is a one-key lock)


def lock_person(session: Session, nik: str) -> None:
    if nik and session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(:ns, hashtext(:nik))"), {"ns": PERSON_LOCK, "nik": nik})


def emit_event(session: Session, *, kind: str, subject: str, payload: dict[str, Any], office_code: str | None,
               now: datetime) -> None:
    lock_feed(session)
    session.execute(ct.central_event.insert().values(**signed(session, dict(
        id=str(uuid.uuid4()), office_code=office_code, kind=EventKind(kind).value, subject=subject, payload=payload,
        created_at=now))))


def signed(session: Session, row: dict[str, Any]) -> dict[str, Any]:
    """Every event of the feed is signed with the central's key: a decision that opens the
    handover gate must come from the central, whatever proxy stands between it and the office."""
    key = session.info.get(FEED_KEY)
    if key is None:
        return row
    return {**row, "payload": sign_event(key, row["id"], row["kind"], row["subject"], row["payload"])}


# -- handlers ----------------------------------------------------------------------------------

def _app(ctx: Context, application_id: str) -> dict[str, Any] | None:
    if application_id not in ctx.apps:
        row = ctx.session.execute(
            select(ct.registry_application).where(ct.registry_application.c.id == application_id)).first()
        if row is None:
            return None
        ctx.apps[application_id] = dict(row._mapping)
    return ctx.apps[application_id]


def _owner(ctx: Context, application_id: str) -> str | None:
    app = _app(ctx, application_id)
    return app["office_code"] if app else None


def _owned(ctx: Context, application_id: str, op: Operation | None = None) -> SimpleNamespace:
    app = _app(ctx, application_id)
    if app is None:
        raise NotYet(f"application {application_id} is not known to the central yet")
    if app["office_code"] != ctx.office_code:
        raise Rejected(f"application {application_id} belongs to office {app['office_code']}")
    if op is not None and op.subject == application_id and op.seq <= app["last_office_seq"]:
        # The office sends an application's operations in order; one older than what the
        # registry already holds would move the application backwards.
        raise Rejected(f"out of order: operation {op.seq} of application {application_id} arrived after "
                       f"operation {app['last_office_seq']}")
    return SimpleNamespace(**app)


def _touch(ctx: Context, op: Operation, **values: Any) -> None:
    values = dict(values, updated_at=ctx.now, last_office_seq=op.seq)
    ctx.touched.setdefault(op.subject, {}).update(values)  # written once per batch (Context.flush)
    if op.subject in ctx.apps:
        ctx.apps[op.subject].update(values)


def _booked(ctx: Context, op: Operation) -> None:
    owner = _owner(ctx, op.subject)
    if owner is not None:
        if owner != ctx.office_code:
            raise Rejected(f"application {op.subject} belongs to office {owner}")
        return
    p = op.payload
    _refuse_reused_number(ctx, p.get("number", ""))
    row = dict(id=op.subject, office_code=ctx.office_code, number=p.get("number", ""), app_type=p.get("app_type", ""),
               passport_kind=p.get("passport_kind", ""), stage=Stage.BOOKED, created_at=ctx.now, updated_at=ctx.now,
               last_office_seq=op.seq, nik=None, full_name=None, birth_date=None, sex=None, booklet_serial=None)
    ctx.booked[op.subject] = ctx.apps[op.subject] = row  # inserted with the batch's others (Context.flush)


def _refuse_reused_number(ctx: Context, number: str) -> None:
    """An office never reuses a number: one restored from an old backup that does is told so,
    instead of the registry holding two applications under one number (docs/backup.md). Only
    numbers in the office's own format (`MND-20261201-0042`) are kanim's to vouch for."""
    from kanim.protocol.numbers import NUMBER

    if not (m := NUMBER.match(number or "")) or m["office"] != ctx.office_code:
        return
    a = ct.registry_application.c
    held = any(row["number"] == number for row in ctx.booked.values()) or ctx.session.execute(
        select(a.id).where(a.office_code == ctx.office_code, a.number == number).limit(1)).scalar() is not None
    if held:
        raise Rejected(f"application number {number} is already held by another application of office "
                       f"{ctx.office_code}; a restored office continues its numbers with `kanim backup rejoin`")


def _stage(stage: Stage) -> Callable[[Context, Operation], None]:
    def handler(ctx: Context, op: Operation) -> None:
        _owned(ctx, op.subject, op)
        _touch(ctx, op, stage=stage)
    return handler


def _intake(ctx: Context, op: Operation) -> None:
    app = _owned(ctx, op.subject, op)
    p = op.payload
    birth = date.fromisoformat(p["birth_date"]) if p.get("birth_date") else None
    _touch(ctx, op, stage=Stage.INTAKE_DONE, nik=p.get("nik"), full_name=p.get("full_name"),
           birth_date=birth, sex=p.get("sex"))
    nik, name, sex = p.get("nik", ""), p.get("full_name", ""), p.get("sex", "")
    lock_person(ctx.session, nik)  # before the checks read the orders and the other applications
    ctx.flush()  # the duplicate check reads the registry as this batch has changed it
    old = _replayed(ctx, op)
    ctx.decide(op.subject, ClearanceKind.NIK_VERIFIED, *ctx.checks.verify_nik(ctx.session, nik, name, birth, sex),
               replayed=old)
    ctx.decide(op.subject, ClearanceKind.WATCHLIST_CLEAR, *ctx.checks.watchlist(ctx.session, nik, ctx.now),
               replayed=old)
    ctx.decide(op.subject, ClearanceKind.NOT_DUPLICATE,
               *ctx.checks.duplicate(ctx.session, nik, op.subject, app.app_type, ctx.now), replayed=old)
    ctx.decide(op.subject, ClearanceKind.RECORDED_CENTRALLY, ClearanceState.CONFIRMED,
               f"recorded in the national registry as {app.number}")


def _payment_row(ctx: Context, code: str, application_id: str) -> Any:
    row = ctx.session.execute(select(ct.central_payment).where(ct.central_payment.c.billing_code == code)).first()
    if row is not None and (row.application_id != application_id or row.office_code != ctx.office_code):
        raise Rejected(f"billing code {code} belongs to another application")
    return row


def _rebuild_since(session: Session) -> datetime | None:
    state = session.execute(select(ct.central_state.c.value).where(ct.central_state.c.name == REBUILD_STATE)).scalar()
    return datetime.fromisoformat(state.split(" ", 1)[1]) if state and " " in state else None


def _replayed(ctx: Context, op: Operation) -> bool:
    """An operation made before a rebuild was requested: the office re-sends its history."""
    if ctx.rebuild_since is None or not op.payload.get("at"):
        return False
    return datetime.fromisoformat(op.payload["at"]) < ctx.rebuild_since


def _billing(ctx: Context, op: Operation) -> None:
    _owned(ctx, op.subject, op)
    _payment_row(ctx, op.payload["billing_code"], op.subject)
    ctx.checks.billing_issued(ctx.session, op.payload["billing_code"], op.subject, ctx.office_code,
                              int(op.payload.get("amount", 0)), ctx.now)


def _paid(ctx: Context, op: Operation) -> None:
    _owned(ctx, op.subject, op)
    if _payment_row(ctx, op.payload["billing_code"], op.subject) is None:
        raise NotYet(f"billing code {op.payload['billing_code']} is not known to the central yet")
    decision = ctx.checks.payment_recorded(ctx.session, op.payload["billing_code"], op.payload.get("receipt_ref", ""),
                                           ctx.now)
    if decision is not None:
        ctx.decide(op.subject, ClearanceKind.PAYMENT_CONFIRMED, *decision)


def _captured(ctx: Context, op: Operation) -> None:
    _owned(ctx, op.subject, op)
    # The payload was checked against the contract (each image's size and digest) before any
    # handler runs (kanim.central.apply): read as it is, not decoded and hashed a second time.
    items = [BiometricItem.model_construct(**i) for i in op.payload.get("biometrics", [])]
    if items and ctx.keys is None:
        raise RuntimeError("the central has no biometric key to seal images with")
    _touch(ctx, op, stage=Stage.CAPTURED)
    for i in items:  # written with the batch's other images (Context.flush)
        image = i.image()
        ctx.images[(op.subject, i.position)] = dict(
            application_id=op.subject, position=i.position, office_code=ctx.office_code, exception=i.exception,
            sha256=i.sha256, size_bytes=i.size_bytes, data=None,
            sealed=ctx.keys.seal(image, aad(op.subject, i.position)) if image is not None else None)


def _printed(ctx: Context, op: Operation) -> None:
    app = _owned(ctx, op.subject, op)
    serial = op.payload["booklet_serial"]
    if not ctx.checks.allocated(ctx.session, ctx.office_code, serial):
        raise Rejected(f"booklet {serial} was never allocated to office {ctx.office_code}")
    existing = ctx.session.execute(select(ct.registry_passport).where(ct.registry_passport.c.serial == serial)).first()
    if existing is not None and existing.application_id != op.subject:
        raise Rejected(f"booklet {serial} is already recorded for another application")
    if existing is None:
        ctx.session.execute(ct.registry_passport.insert().values(
            serial=serial, application_id=op.subject, office_code=ctx.office_code, nik=app.nik,
            issued_on=date.fromisoformat(op.payload["issued_on"]),
            expires_on=date.fromisoformat(op.payload["expires_on"]), status="printed", updated_at=ctx.now))
    _touch(ctx, op, stage=Stage.PRINTED, booklet_serial=serial)


def _chip(ctx: Context, op: Operation) -> None:
    """The registry keeps which Document Signer signed a chip and its SOD's hash, so a chip
    shown at a border can later be matched to the passport the office recorded."""
    from kanim.store.chip_tables import registry_chip
    serial = op.payload["booklet_serial"]
    if _passport(ctx, serial, op.subject) is None:
        raise NotYet(f"booklet {serial} is not recorded as printed yet")
    ctx.session.execute(registry_chip.delete().where(registry_chip.c.serial == serial))
    ctx.session.execute(registry_chip.insert().values(
        serial=serial, application_id=op.subject, office_code=ctx.office_code,
        ds_fingerprint=op.payload["ds_fingerprint"], sod_sha256=op.payload["sod_sha256"], recorded_at=ctx.now))


def _passport(ctx: Context, serial: str, application_id: str | None = None) -> Any:
    """The registry's passport on this serial, if it is this office's (and application's)."""
    row = ctx.session.execute(select(ct.registry_passport).where(ct.registry_passport.c.serial == serial)).first()
    if row is not None and row.office_code != ctx.office_code:
        raise Rejected(f"booklet {serial} belongs to office {row.office_code}")
    if row is not None and application_id is not None and row.application_id != application_id:
        raise Rejected(f"booklet {serial} was printed for another application")
    return row


def _handed_over(ctx: Context, op: Operation) -> None:
    _owned(ctx, op.subject, op)
    serial = op.payload["booklet_serial"]
    if _passport(ctx, serial, op.subject) is None:
        raise NotYet(f"booklet {serial} is not recorded as printed yet")
    _touch(ctx, op, stage=Stage.HANDED_OVER)
    ctx.session.execute(update(ct.registry_passport).where(ct.registry_passport.c.serial == serial)
                        .values(status="issued", updated_at=ctx.now))


def _spoiled(ctx: Context, op: Operation) -> None:
    serial = op.payload.get("subject", op.subject)
    if op.payload.get("application_id"):
        _owned(ctx, op.payload["application_id"])
    if _passport(ctx, serial) is None:
        if not ctx.checks.allocated(ctx.session, ctx.office_code, serial):
            raise Rejected(f"booklet {serial} was never allocated to office {ctx.office_code}")
        return  # a blank spoiled in stock: nothing in the registry to void
    ctx.session.execute(update(ct.registry_passport).where(ct.registry_passport.c.serial == serial)
                        .values(status="voided", updated_at=ctx.now))


def _released(ctx: Context, op: Operation) -> None:
    _owned(ctx, op.subject, op)
    back = op.payload.get("back_to", "")
    if back not in RELEASE_STAGES:
        raise Rejected(f"a hold cannot be released to {back!r}")
    _touch(ctx, op, stage=Stage(back))


RELEASE_STAGES = frozenset({Stage.BOOKED, Stage.CHECKED_IN, Stage.INTAKE_DONE, Stage.CAPTURED, Stage.INTERVIEWED,
                            Stage.APPROVED})


def _allocation_held(ctx: Context, op: Operation) -> None:
    """An office's own record of a range it was allocated, accepted only while a rebuild is on:
    the rebuilt central has no allocations of its own, and the offices' records are the truth."""
    if not ctx.session.execute(select(ct.central_state).where(ct.central_state.c.name == REBUILD_STATE)).first():
        raise Rejected("allocations are made by the central, not reported by offices")
    a = ct.booklet_allocation.c
    mine = ctx.session.execute(select(ct.booklet_allocation).where(a.id == op.subject)).first()
    if mine is not None:
        if mine.office_code != ctx.office_code:
            raise Rejected(f"allocation {op.subject} belongs to office {mine.office_code}")
        return
    p = op.payload
    for r in ctx.session.execute(select(ct.booklet_allocation)):
        serials = ctx.checks.serials
        if serials.overlaps(p["first"], p["last"], r.first_serial, r.last_serial):
            if r.office_code == ctx.office_code and serials.contains(r.first_serial, r.last_serial, p["first"]) \
                    and serials.contains(r.first_serial, r.last_serial, p["last"]):
                return  # the operator already allocated it again
            raise Rejected(f"range {p['first']}..{p['last']} overlaps {r.first_serial}..{r.last_serial} "
                           f"of office {r.office_code}")
    ctx.session.execute(ct.booklet_allocation.insert().values(
        id=op.subject, office_code=ctx.office_code, first_serial=p["first"], last_serial=p["last"],
        count=int(p["count"]), allocated_at=ctx.now))


def _record_only(ctx: Context, op: Operation) -> None:
    """Operations the registry only needs to have seen (check-in, clearance changes)."""
    if op.op not in STOCK_OPS:
        _owned(ctx, op.subject, op)


# One handler per operation (kanim/protocol/operations.py); a test checks that none is missing.
HANDLERS: dict[Op, Callable[[Context, Operation], None]] = {
    Op.APPLICATION_BOOKED: _booked,
    Op.APPLICANT_CHECKED_IN: _stage(Stage.CHECKED_IN),
    Op.INTAKE_COMPLETED: _intake,
    Op.BILLING_ISSUED: _billing,
    Op.PAYMENT_RECORDED: _paid,
    Op.BIOMETRICS_CAPTURED: _captured,
    Op.INTERVIEW_RECORDED: _stage(Stage.INTERVIEWED),
    Op.APPLICATION_APPROVED: _stage(Stage.APPROVED),
    Op.APPLICATION_REJECTED: _stage(Stage.REJECTED),
    Op.APPLICATION_CANCELLED: _stage(Stage.CANCELLED),
    Op.PASSPORT_PRINTED: _printed,
    Op.QUALITY_CHECK_PASSED: _stage(Stage.QC_PASSED),
    Op.QUALITY_CHECK_FAILED: _stage(Stage.APPROVED),
    Op.PASSPORT_READY: _stage(Stage.READY),
    Op.PASSPORT_HANDED_OVER: _handed_over,
    Op.APPLICATION_PUT_ON_HOLD: _stage(Stage.ON_HOLD),
    Op.HOLD_RELEASED: _released,
    Op.BOOKLET_SPOILED: _spoiled,
    Op.ALLOCATION_HELD: _allocation_held,
    Op.CLEARANCE_CHANGED: _record_only,
    Op.BOOKLETS_RECEIVED: _record_only,
    Op.CHIP_PERSONALISED: _chip,
}
