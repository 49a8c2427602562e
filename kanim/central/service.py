"""The central hub's use cases: offices, the link (operations in, events out), the watch-list,
the civil registry, payments, booklet allocation, the national view and rebuild."""

from __future__ import annotations

import csv
import uuid
from zoneinfo import ZoneInfo
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import and_, case, func, or_, select, update

from kanim.central import tables as ct
from kanim.central.apply import apply_batch
from kanim.central.checks import OPEN_STAGES_EXCLUDED
from kanim.central.hub import REBUILD_STATE, emit_event, lock_person
from kanim.central.node import CentralNode
from kanim.domain.errors import Conflict, InvalidInput, NotFound
from kanim.protocol.signing import public_b64, sign_document
from kanim.protocol.operations import EventKind
from kanim.protocol.wire import OperationResult

CENTRAL_ID = "central_id"
PREVENTION_MAX_DAYS, TEMPORARY_MAX_DAYS = 183, 20  # prevention: up to 6 months; temporary: 20 days


# -- offices -----------------------------------------------------------------------------------

def register_office(node: CentralNode, *, code: str, name: str, public_key: str, actor: str) -> None:
    from kanim.protocol.signing import SignatureError, check_public_key

    try:
        check_public_key(public_key)
    except SignatureError:
        raise InvalidInput("the office's public key is not a base64 Ed25519 key (kanim link key prints it)",
                           code="office-key") from None
    with node.uow() as uow:
        s = uow.session
        if s.execute(select(ct.central_office).where(ct.central_office.c.code == code)).first():
            s.execute(update(ct.central_office).where(ct.central_office.c.code == code)
                      .values(name=name, public_key=public_key, active=True))
        else:
            s.execute(ct.central_office.insert().values(code=code, name=name, public_key=public_key, active=True,
                                                        created_at=uow.now()))
        uow.audit(actor=actor, action="OfficeRegistered", subject=code)
        uow.commit()


def office_key(node: CentralNode, code: str) -> str | None:
    with node.uow() as uow:
        row = uow.session.execute(select(ct.central_office.c.public_key).where(
            ct.central_office.c.code == code, ct.central_office.c.active.is_(True))).first()
        return row.public_key if row else None


# -- the link ----------------------------------------------------------------------------------

LINK_STATES = frozenset({"up", "degraded", "down", "stalled"})


def push(node: CentralNode, *, office_code: str, operations: Sequence[Any],
         link_state: str | None) -> list[OperationResult]:
    """Apply a batch (raw operations as pushed, or Operation objects), one answer each."""
    link_state = link_state if link_state in LINK_STATES else None  # a header, not to be trusted
    with node.uow() as uow:
        results = apply_batch(uow.session, office_code=office_code, operations=operations, now=uow.now(),
                              checks=node.checks, keys=node.biometric_keys)
        uow.session.execute(update(ct.central_office).where(ct.central_office.c.code == office_code)
                            .values(last_contact_at=uow.now(), reported_link_state=link_state))
        uow.commit()
    return results


@dataclass(frozen=True)
class EventPage:
    events: list[dict[str, Any]]
    next: int
    central_id: str
    last_seq: int


def events(node: CentralNode, *, office_code: str, after: int, limit: int) -> EventPage:
    with node.uow() as uow:
        e = ct.central_event.c
        rows = uow.session.execute(
            select(ct.central_event).where(e.seq > after, (e.office_code == office_code) | e.office_code.is_(None))
            .order_by(e.seq).limit(limit)).all()
        last = uow.session.execute(select(func.coalesce(func.max(e.seq), 0))).scalar_one()
        cid = central_id(uow)
        o = ct.central_office.c
        # Asking after `after` says the office applied every event up to it (kanim/link/inbox.py).
        uow.session.execute(update(ct.central_office).where(o.code == office_code).values(
            last_contact_at=uow.now(),
            feed_cursor=case((func.coalesce(o.feed_cursor, 0) < after, after), else_=o.feed_cursor)))
        uow.commit()
    return EventPage([dict(id=r.id, seq=r.seq, kind=r.kind, subject=r.subject, payload=r.payload,
                           created_at=r.created_at.isoformat()) for r in rows],
                     rows[-1].seq if rows else after, cid, int(last))


def highest_numbers(node: CentralNode, *, office_code: str) -> dict[str, int]:
    """The highest application serial per day the registry holds for the office (ISO day → n)."""
    from kanim.protocol.numbers import highest_by_day

    with node.uow(readonly=True) as uow:
        r = ct.registry_application.c
        numbers = uow.session.execute(select(r.number).where(r.office_code == office_code)).scalars()
        return {d.isoformat(): n for d, n in sorted(highest_by_day(office_code, numbers).items())}


@dataclass(frozen=True)
class HistoryPage:
    operations: list[dict[str, Any]]
    next: int
    next_id: str
    more: bool
    last_seq: int  # the highest sequence the central holds for the office
    feed_cursor: int  # the feed's events the office had applied (the history carries what they did)
    not_kept: int  # operations applied before the central kept history: they cannot be given back


HISTORY_IMAGE_BYTES = 16 * 1024 * 1024  # a page's images: a few hundred applications', never unbounded


def history(node: CentralNode, *, office_code: str, after: int, after_id: str = "", limit: int,
            challenge: str = "", image_bytes: int = HISTORY_IMAGE_BYTES) -> dict[str, Any]:
    """What the office sent, in its own order after (`after`, `after_id`): every operation the
    central applied, with the images the registry holds put back into the captures (each read
    audited), signed with the central's key. An office that lost its data replays them
    (kanim/backup/rebuild.py). Paged by sequence and id: an office restored before rejoins
    existed may have sent two operations under one sequence number, and neither may be lost
    at a page's edge."""
    o = ct.central_operation.c
    mine = and_(o.office_code == office_code, o.ok.is_(True))
    with node.uow() as uow:
        rows = uow.session.execute(
            select(o.id, o.office_seq, o.subject, o.op, o.payload)
            .where(mine, o.payload.is_not(None),
                   or_(o.office_seq > after, and_(o.office_seq == after, o.id > after_id)))
            .order_by(o.office_seq, o.id).limit(limit + 1)).all()
        more = len(rows) > limit
        operations, size = [], 0
        for r in rows[:limit]:
            payload = dict(r.payload)
            if payload.get("biometrics"):
                # Sized before anything is unsealed: an image is read only for the page it goes in.
                n = sum(int(b.get("size_bytes") or 0) for b in payload["biometrics"])
                if operations and size + n > image_bytes:
                    more = True
                    break
                payload["biometrics"], n = _with_images(uow, node, r.subject, payload["biometrics"])
                size += n
            operations.append(dict(id=r.id, seq=r.office_seq, subject=r.subject, op=r.op, payload=payload))
        last_seq, not_kept = uow.session.execute(select(
            func.coalesce(func.max(o.office_seq), 0),
            func.count().filter(o.payload.is_(None))).where(mine)).one()
        feed_cursor = uow.session.execute(select(ct.central_office.c.feed_cursor).where(
            ct.central_office.c.code == office_code)).scalar()
        # An office ahead of a central restored from an older backup read no event beyond its end.
        feed_cursor = min(int(feed_cursor or 0), int(uow.session.execute(
            select(func.coalesce(func.max(ct.central_event.c.seq), 0))).scalar_one()))
        uow.commit()
    last = operations[-1] if operations else {"seq": after, "id": after_id}
    page = HistoryPage(operations, last["seq"], last["id"], more, int(last_seq), int(feed_cursor or 0), int(not_kept))
    # The office's challenge, signed with the rest: a page recorded on the way cannot be played
    # back to a later request.
    doc = {"office": office_code, "after": after, "after_id": after_id, "challenge": challenge, **page.__dict__}
    return {**doc, "signature": sign_document(node.signing_key, doc)}


def _with_images(uow, node: CentralNode, application_id: str, items: list[dict[str, Any]]) -> tuple[list, int]:  # noqa: ANN001
    """The capture's items with the registry's image where it is still the one captured (a later
    capture replaced it otherwise); the read audited once per application, as every read is."""
    import base64

    from kanim.central.biometrics import aad

    b = ct.registry_biometric.c
    held = {r.position: r for r in uow.session.execute(
        select(b.position, b.sha256, b.sealed).where(b.application_id == application_id))}
    out, size = [], 0
    for item in items:
        row = held.get(item.get("position"))
        if row is not None and row.sealed is not None and row.sha256 == item.get("sha256"):
            image = node.biometric_keys.unseal(row.sealed, aad(application_id, row.position))
            item = {**item, "data": base64.b64encode(image).decode()}
            size += len(image)
        out.append(item)
    if size:
        uow.audit(actor="link", action="BiometricRead", subject=application_id,
                  detail={"items": sum(1 for i in out if "data" in i), "purpose": "office rebuild"})
    return out, size


def central_id(uow) -> str:  # noqa: ANN001
    """A random id made when this central's database was created: an office that sees it change
    knows the central was rebuilt and restarts its event cursor."""
    s = uow.session
    row = s.execute(select(ct.central_state.c.value).where(ct.central_state.c.name == CENTRAL_ID)).first()
    if row:
        return row.value
    value = uuid.uuid4().hex
    s.execute(ct.central_state.insert().values(name=CENTRAL_ID, value=value))
    return value


def emit(uow, *, kind: str, subject: str, payload: dict[str, Any], office_code: str | None) -> None:  # noqa: ANN001
    emit_event(uow.session, kind=kind, subject=subject, payload=payload, office_code=office_code, now=uow.now())


def rebuild(node: CentralNode, *, actor: str) -> str:
    """Ask every office to re-push everything it ever sent (after a restore from nothing)."""
    epoch = uuid.uuid4().hex
    with node.uow() as uow:
        s = uow.session
        s.execute(ct.central_state.delete().where(ct.central_state.c.name == REBUILD_STATE))
        s.execute(ct.central_state.insert().values(name=REBUILD_STATE, value=f"{epoch} {uow.now().isoformat()}"))
        emit(uow, kind=EventKind.REBUILD, subject=epoch, payload={"epoch": epoch}, office_code=None)
        uow.audit(actor=actor, action="RebuildRequested", subject=epoch)
        uow.commit()
    return epoch


def lift_flag(node: CentralNode, *, application_id: str, kind: str, reason: str, actor: str) -> None:
    """A person at the central reviewed a flag and lifts it (an order revoked, a registry record
    corrected): the only decision that may turn a flagged clearance into a confirmed one."""
    from kanim.domain.clearances import ClearanceKind

    try:
        kind_ = ClearanceKind(kind)
    except ValueError:
        raise InvalidInput(f"unknown clearance {kind!r}", code="clearance-kind") from None
    if not reason.strip():
        raise InvalidInput("lifting a flag needs a written reason", code="reason-missing")
    with node.uow() as uow:
        row = uow.session.execute(select(ct.registry_application.c.office_code).where(
            ct.registry_application.c.id == application_id)).first()
        if row is None:
            raise NotFound(f"no application {application_id} in the registry", code="application-not-found")
        emit(uow, kind=EventKind.CLEARANCE, subject=application_id, office_code=row.office_code, payload={
            "kind": kind_.value, "state": "confirmed", "reason": f"flag lifted by {actor}: {reason}",
            "decided_at": uow.now().isoformat(), "lifts_flag": True})
        uow.audit(actor=actor, action="FlagLifted", subject=application_id, detail={"kind": kind_.value})
        uow.commit()


def finish_rebuild(node: CentralNode, *, actor: str) -> bool:
    """Close the rebuild window: offices' allocation reports are refused again, and re-checks
    may flag again. Run once the offices have drained and the registry and orders are back."""
    with node.uow() as uow:
        n = uow.session.execute(ct.central_state.delete().where(ct.central_state.c.name == REBUILD_STATE)).rowcount
        uow.audit(actor=actor, action="RebuildFinished", subject="rebuild")
        uow.commit()
    return bool(n)


# -- watch-list --------------------------------------------------------------------------------

@dataclass(frozen=True)
class Order:
    subject_kind: str
    subject_value: str
    order_kind: str
    agency: str
    starts_on: date
    ends_on: date
    reason: str


def add_watchlist_order(node: CentralNode, order: Order, *, actor: str) -> str:
    _check_order(order)
    with node.uow() as uow:
        if order.subject_kind == "nik":  # before the feed's lock (emit): see hub.PERSON_LOCK
            lock_person(uow.session, order.subject_value)
        oid = str(uuid.uuid4())
        uow.session.execute(ct.watchlist_order.insert().values(id=oid, created_by=actor, created_at=uow.now(),
                                                               **order.__dict__))
        delta = {"op": "add", "id": oid, **_order_doc(order)}
        emit(uow, kind=EventKind.WATCHLIST, subject=oid,
             payload={"delta": delta, "signature": sign_document(node.signing_key, delta)}, office_code=None)
        _flag_open_applications(uow, order)
        uow.audit(actor=actor, action="WatchlistOrderAdded", subject=oid,
                  detail={"agency": order.agency, "order_kind": order.order_kind})
        uow.commit()
    return oid


def _flag_open_applications(uow, order: Order) -> None:  # noqa: ANN001
    """An order issued after intake must still stop the handover: every open application of
    the person is flagged, wherever it is."""
    if order.subject_kind != "nik" or order.starts_on > uow.now().date():
        return
    a = ct.registry_application.c
    for app in uow.session.execute(select(a.id, a.office_code).where(
            a.nik == order.subject_value, a.stage.not_in(OPEN_STAGES_EXCLUDED))):
        emit(uow, kind=EventKind.CLEARANCE, subject=app.id, office_code=app.office_code, payload={
            "kind": "watchlist_clear", "state": "flagged", "decided_at": uow.now().isoformat(),
            "reason": f"{order.order_kind} order by {order.agency} until {order.ends_on.isoformat()}: {order.reason}"})


def revoke_watchlist_order(node: CentralNode, order_id: str, *, actor: str) -> None:
    with node.uow() as uow:
        n = uow.session.execute(update(ct.watchlist_order).where(
            ct.watchlist_order.c.id == order_id, ct.watchlist_order.c.revoked_at.is_(None))
            .values(revoked_at=uow.now())).rowcount
        if not n:
            raise NotFound(f"no active watch-list order {order_id}", code="watchlist-order-not-found")
        delta = {"op": "revoke", "id": order_id}
        emit(uow, kind=EventKind.WATCHLIST, subject=order_id,
             payload={"delta": delta, "signature": sign_document(node.signing_key, delta)}, office_code=None)
        uow.audit(actor=actor, action="WatchlistOrderRevoked", subject=order_id)
        uow.commit()


def watchlist_snapshot(node: CentralNode) -> dict[str, Any]:
    """Every order in force or future, signed with the central's key and dated."""
    with node.uow() as uow:
        now = uow.now()
        w = ct.watchlist_order.c
        rows = uow.session.execute(select(ct.watchlist_order).where(
            w.revoked_at.is_(None), w.ends_on >= now.date()).order_by(w.id)).all()
    doc = {"taken_at": now.isoformat(), "orders": [{"id": r.id, **_order_doc(r)} for r in rows]}
    return {"snapshot": doc, "signature": sign_document(node.signing_key, doc),
            "public_key": public_b64(node.signing_key)}


def _order_doc(o: Any) -> dict[str, Any]:
    return {"subject_kind": o.subject_kind, "subject_value": o.subject_value, "order_kind": o.order_kind,
            "agency": o.agency, "starts_on": o.starts_on.isoformat(), "ends_on": o.ends_on.isoformat(),
            "reason": o.reason}


def _check_order(o: Order) -> None:
    if o.subject_kind not in ("nik", "passport"):
        raise InvalidInput("an order names a nik or a passport", code="watchlist-subject")
    if o.ends_on < o.starts_on:
        raise InvalidInput("the order ends before it starts", code="watchlist-dates")
    limit = {"prevention": PREVENTION_MAX_DAYS, "temporary": TEMPORARY_MAX_DAYS}.get(o.order_kind)
    if limit is not None and (o.ends_on - o.starts_on).days + 1 > limit:  # both days included
        raise InvalidInput(f"a {o.order_kind} order lasts at most {limit} days", code="watchlist-too-long")
    if o.order_kind not in ("prevention", "temporary", "deterrence"):
        raise InvalidInput("order kind is prevention, temporary or deterrence", code="watchlist-kind")


# -- civil registry, payments, booklets ------------------------------------------------------

def load_civil_registry(node: CentralNode, path: Path, *, actor: str = "cli") -> int:
    """CSV with a header: nik,full_name,birth_date,sex[,kk_number]. All or nothing."""
    rows = []
    with open(path, newline="", encoding="utf-8") as f:
        for i, r in enumerate(csv.DictReader(f), start=2):
            try:
                rows.append(dict(nik=r["nik"].strip(), full_name=r["full_name"].strip(),
                                 birth_date=date.fromisoformat(r["birth_date"].strip()), sex=r["sex"].strip(),
                                 kk_number=(r.get("kk_number") or "").strip() or None))
            except KeyError as e:
                raise InvalidInput(f"{path}:{i}: the column {e} is missing", code="csv-row") from None
            except ValueError:  # the message would quote the value: a person's birth date
                raise InvalidInput(f"{path}:{i}: birth_date is not a date as YYYY-MM-DD", code="csv-row") from None
    with node.uow() as uow:
        niks = [r["nik"] for r in rows]
        for chunk in range(0, len(niks), 500):
            uow.session.execute(ct.civil_registry.delete().where(ct.civil_registry.c.nik.in_(niks[chunk:chunk + 500])))
        now = uow.now()
        if rows:
            uow.session.execute(ct.civil_registry.insert(), [dict(r, loaded_at=now) for r in rows])
        uow.audit(actor=actor, action="CivilRegistryLoaded", subject=str(path.name), detail={"rows": len(rows)})
        uow.commit()
    return len(rows)


def import_payments(node: CentralNode, path: Path, *, actor: str) -> dict[str, int]:
    """The bank's CSV: billing_code,amount,paid_at,reference. A paid code confirms the office's
    payment clearance; mismatches go to the supervisor list (`payment_issue`)."""
    counts = {"confirmed": 0, "waiting_for_office": 0, "already_imported": 0, "issues": 0}
    with open(path, newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    with node.uow() as uow:
        s, now = uow.session, uow.now()
        for i, r in enumerate(rows, start=2):
            try:
                code, amount = r["billing_code"].strip(), int(r["amount"])
                paid_at = _bank_time(r["paid_at"].strip(), node.settings.timezone)
            except (KeyError, ValueError, AttributeError) as e:
                raise InvalidInput(f"{path}:{i}: {e}", code="csv-row") from None
            outcome = _apply_bank_row(node, uow, code, amount, paid_at, (r.get("reference") or "").strip(), now)
            counts[outcome] += 1
        uow.audit(actor=actor, action="PaymentsImported", subject=path.name, detail=counts)
        uow.commit()
    return counts


def _apply_bank_row(node: CentralNode, uow, code: str, amount: int, paid_at: datetime, ref: str,  # noqa: ANN001
                    now: datetime) -> str:
    s = uow.session
    earlier = s.execute(select(ct.treasury_payment).where(ct.treasury_payment.c.billing_code == code)).first()
    if earlier is not None:
        if (earlier.amount, earlier.reference) == (amount, ref):
            return "already_imported"  # the same bank file imported again
        _issue(s, code, "paid_twice", f"paid again: Rp{amount} ref {ref}", now)
        return "issues"
    s.execute(ct.treasury_payment.insert().values(billing_code=code, amount=amount, paid_at=paid_at, reference=ref,
                                                  imported_at=now))
    row = s.execute(select(ct.central_payment).where(ct.central_payment.c.billing_code == code)).first()
    if row is None:
        # Kept: the office's billing may still be queued; it is matched when it arrives.
        _issue(s, code, "unknown_code", f"bank paid Rp{amount} on a billing code not (yet) known", now)
        return "issues"
    if amount != row.amount:
        _issue(s, code, "amount", f"billed Rp{row.amount}, paid Rp{amount}", now)
        return "issues"
    decision = node.checks.payment_decision(s, code, now)
    if decision is None:
        return "waiting_for_office"
    state, reason = decision
    emit(uow, kind=EventKind.CLEARANCE, subject=row.application_id, office_code=row.office_code,
         payload={"kind": "payment_confirmed", "state": state.value, "reason": reason, "decided_at": now.isoformat()})
    return "confirmed"


def _bank_time(value: str, tz: str) -> datetime:
    """Bank exports often write local time without a zone: read it in the office's zone (WIB by
    default), never as UTC, so a payment is not seven hours off."""
    at = datetime.fromisoformat(value)
    return at if at.tzinfo else at.replace(tzinfo=ZoneInfo(tz))


def _issue(s, code: str, kind: str, detail: str, now: datetime) -> None:  # noqa: ANN001
    s.execute(ct.payment_issue.insert().values(billing_code=code, kind=kind, detail=detail, created_at=now))


def payment_issues(node: CentralNode) -> list[dict[str, Any]]:
    with node.uow() as uow:
        return [dict(r._mapping) for r in uow.session.execute(
            select(ct.payment_issue).where(ct.payment_issue.c.resolved_at.is_(None)).order_by(ct.payment_issue.c.id))]


def allocate_booklets(node: CentralNode, *, office_code: str, first: str, last: str, actor: str) -> dict[str, Any]:
    serials = node.checks.serials.expand(first, last)
    with node.uow() as uow:
        s = uow.session
        if not s.execute(select(ct.central_office).where(ct.central_office.c.code == office_code)).first():
            raise NotFound(f"no office {office_code}", code="office-unknown")
        for r in s.execute(select(ct.booklet_allocation)):
            if node.checks.serials.overlaps(serials[0], serials[-1], r.first_serial, r.last_serial):
                raise Conflict(f"overlaps allocation {r.first_serial}..{r.last_serial} of {r.office_code}",
                               code="allocation-overlap")
        aid = str(uuid.uuid4())
        s.execute(ct.booklet_allocation.insert().values(id=aid, office_code=office_code, first_serial=serials[0],
                                                        last_serial=serials[-1], count=len(serials),
                                                        allocated_at=uow.now()))
        emit(uow, kind=EventKind.ALLOCATION, subject=aid, office_code=office_code,
             payload={"first": serials[0], "last": serials[-1], "count": len(serials)})
        uow.audit(actor=actor, action="BookletsAllocated", subject=aid,
                  detail={"office": office_code, "first": serials[0], "last": serials[-1]})
        uow.commit()
    return {"id": aid, "office_code": office_code, "first": serials[0], "last": serials[-1], "count": len(serials)}


# -- national view -----------------------------------------------------------------------------

def national_view(node: CentralNode) -> list[dict[str, Any]]:
    with node.uow() as uow:
        s, now = uow.session, uow.now()
        a = ct.registry_application.c
        offices = s.execute(select(ct.central_office).order_by(ct.central_office.c.code)).all()
        stages = s.execute(select(a.office_code, a.stage, func.count()).group_by(a.office_code, a.stage)).all()
        oldest = dict(s.execute(select(a.office_code, func.min(a.updated_at)).where(
            a.stage.not_in(OPEN_STAGES_EXCLUDED)).group_by(a.office_code)).all())
    out = []
    for o in offices:
        silent = (now - o.last_contact_at).total_seconds() if o.last_contact_at else None
        state = "never" if silent is None else "up" if silent < 60 else "degraded" if silent < 600 else "down"
        out.append({"code": o.code, "name": o.name, "link_state": state, "reported_link_state": o.reported_link_state,
                    "last_contact_at": o.last_contact_at,
                    "backlog_by_stage": {st: n for oc, st, n in stages if oc == o.code},
                    "oldest_waiting_since": oldest.get(o.code)})
    return out
