"""Applying the central's feed at the office, exactly once per event, cursor and effects in one
transaction: a crash between the two can neither lose an event nor apply it twice."""

from __future__ import annotations

import json
import uuid
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.exc import IntegrityError

from kanim.bootstrap import Office
from kanim.domain.errors import DomainError, InvalidInput
from kanim.domain.events import AllocationHeld
from kanim.protocol.feed import verify_event
from kanim.protocol.operations import EventKind
from kanim.protocol.signing import SignatureError, verify_document
from kanim.office.clearances import apply_decision
from kanim.protocol.wire import CentralEvent, InboxPage, decision_of
from kanim.store import tables as t
from kanim.store.uow import UnitOfWork

# Names of the link's small state, rows of `link_cursor`.
CURSOR = "central_inbox"
CENTRAL_ID = "central_id"
FEED_BLOCKED = "feed_blocked"  # the event the cursor waits on, and why (JSON)
WATCHLIST_REFRESHED = "watchlist_refreshed_at"
WATCHLIST_PROBLEM = "watchlist_problem"
_SKEW = timedelta(minutes=5)  # clocks of office and central may differ a little


def get_state(uow: UnitOfWork, name: str) -> str | None:
    row = uow.session.execute(select(t.link_cursor.c.value).where(t.link_cursor.c.name == name)).first()
    return row.value if row else None


def set_state(uow: UnitOfWork, name: str, value: str) -> None:
    s = uow.session
    if s.execute(select(t.link_cursor.c.name).where(t.link_cursor.c.name == name)).first():
        s.execute(update(t.link_cursor).where(t.link_cursor.c.name == name).values(value=value))
    else:
        s.execute(t.link_cursor.insert().values(name=name, value=value))


def cursor(office: Office) -> int:
    with office.uow() as uow:
        return int(get_state(uow, CURSOR) or 0)


def apply_page(office: Office, page: InboxPage) -> dict[str, int]:
    """Apply a page of the feed in order. An event that does not verify is never skipped: the
    cursor stops before it (and says why in `kanim link status`) until it verifies — after the
    central's new key is installed, say — so a rebuild request or a decision is never lost."""
    counts: dict[str, int] = {}
    with office.uow() as uow:
        if page.central_id and get_state(uow, CENTRAL_ID) not in (None, page.central_id):
            # A different central (rebuilt from nothing): its feed starts again from 1.
            set_state(uow, CURSOR, "0")
            set_state(uow, CENTRAL_ID, page.central_id)
            uow.commit()
            return {"central_changed": 1}
        held = int(get_state(uow, CURSOR) or 0)
        if page.last_seq is not None and held > page.last_seq:
            # The central was restored from a backup older than our cursor: read its feed again
            # from the start (events already applied are skipped by id).
            set_state(uow, CURSOR, "0")
            uow.commit()
            return {"central_changed": 1}
        if page.central_id:
            set_state(uow, CENTRAL_ID, page.central_id)
        position = held
        for event in page.events:
            outcome, why = _apply_isolated(office, uow, event)
            if outcome == "refused":
                _block(uow, event, why)
                set_state(uow, CURSOR, str(position))
                uow.commit()
                return {**counts, "blocked": 1}
            counts[outcome] = counts.get(outcome, 0) + 1
            position = event.seq if event.seq is not None else position
        if get_state(uow, FEED_BLOCKED):
            _unblock(uow)
        set_state(uow, CURSOR, str(page.next_cursor))
        uow.commit()
    return counts


def feed_blocked(uow: UnitOfWork) -> dict[str, Any] | None:
    """The event the feed waits on, why, and since when; None while the feed flows."""
    value = get_state(uow, FEED_BLOCKED)
    return json.loads(value) if value else None


def _block(uow: UnitOfWork, e: CentralEvent, why: str) -> None:
    before = feed_blocked(uow)
    if before is not None and before.get("event") == e.id:
        return  # still the same event: said and audited once, not every round
    set_state(uow, FEED_BLOCKED, json.dumps({"event": e.id, "seq": e.seq, "kind": e.kind, "why": why,
                                             "since": uow.now().isoformat()}))
    uow.audit(actor="central", action="CentralEventRefused", subject=e.id[:64], detail={"why": why, "kind": e.kind})


def _unblock(uow: UnitOfWork) -> None:
    before = feed_blocked(uow) or {}
    uow.session.execute(delete(t.link_cursor).where(t.link_cursor.c.name == FEED_BLOCKED))
    uow.audit(actor="central", action="CentralFeedResumed", subject=str(before.get("event", ""))[:64])


UNAPPLIABLE = (ValueError, KeyError, TypeError, AttributeError, IntegrityError, DomainError)


def _apply_isolated(office: Office, uow: UnitOfWork, e: CentralEvent) -> tuple[str, str]:
    """Apply one event in a savepoint. One the office cannot apply — signed by the central, but
    of a kind or shape this release does not know (a newer central), or refused by the
    database — is waited on like one that does not verify: the cursor stays before it and
    `kanim link status` says why, instead of failing every round without a word."""
    mark = uow.checkpoint()
    try:
        with uow.session.begin_nested():
            return _apply_once(office, uow, e)
    except UNAPPLIABLE as err:
        uow.rewind(mark)  # the savepoint took the rows back; the events recorded in memory go too
        return "refused", (f"this office cannot apply the central's {e.kind!r} event ({type(err).__name__}): "
                           "is the office a release behind the central?")


def _apply_once(office: Office, uow: UnitOfWork, e: CentralEvent) -> tuple[str, str]:
    if uow.session.execute(select(t.inbox_event.c.id).where(t.inbox_event.c.id == e.id)).first():
        return "duplicate", ""
    if (why := _unverified(office, e)) is not None:
        return "refused", why  # not recorded as received: the cursor waits for it to verify
    handler = {EventKind.CLEARANCE: _clearance, EventKind.WATCHLIST: _watchlist_delta,
               EventKind.ALLOCATION: _allocation, EventKind.REBUILD: _rebuild, EventKind.CRL: _crl}.get(e.kind)
    outcome = handler(office, uow, e) if handler else "ignored"
    if outcome == "refused":
        return outcome, "the watch-list delta's signature does not verify"
    uow.session.execute(t.inbox_event.insert().values(id=e.id, kind=e.kind, subject=e.subject[:64],
                                                      received_at=uow.now(), outcome=outcome))
    return outcome, ""


def _unverified(office: Office, e: CentralEvent) -> str | None:
    """Why the event cannot be trusted, or None. On a real link every event must carry the
    central's signature, checked with the key the office was given (KANIM_CENTRAL_PUBLIC_KEY);
    only the in-process stand-in of the tests signs nothing."""
    key = office.settings.central_public_key
    if not key:
        if office.settings.link_mode == "http":
            return ("KANIM_CENTRAL_PUBLIC_KEY is not set: the central's events cannot be verified "
                    "(the central's operator prints it with `kanim central key`)")
        return None
    try:
        verify_event(key, e.id, e.kind, e.subject, e.payload)
    except SignatureError:
        return ("the event's signature does not verify with KANIM_CENTRAL_PUBLIC_KEY (was the central's key "
                "changed? its operator prints the new one with `kanim central key`)")
    return None


def _clearance(office: Office, uow: UnitOfWork, e: CentralEvent) -> str:
    return apply_decision(uow, decision_of(e))


def _allocation(office: Office, uow: UnitOfWork, e: CentralEvent) -> str:
    p = e.payload
    uow.session.execute(t.allocated_range.insert().values(id=e.subject, first_serial=p["first"], last_serial=p["last"],
                                                          count=p["count"], allocated_at=uow.now()))
    uow.audit(actor="central", action="BookletsAllocated", subject=e.subject, detail=p)
    return "applied"


def _crl(office: Office, uow: UnitOfWork, e: CentralEvent) -> str:
    """A CSCA's revocation list: a revoked Document Signer stops chip personalisation."""
    import base64
    import binascii

    from kanim.office.chip import CrlRefused, record_crl
    try:
        record_crl(uow, base64.b64decode(e.payload["der"], validate=True))
    except (CrlRefused, binascii.Error) as err:
        # Refused and audited, and the feed goes on: waiting on a list that will never verify
        # would hold back every watch-list delta and allocation after it. A revoked Document
        # Signer is still caught by the next good list the CSCA signs.
        uow.audit(actor="central", action="CrlRefused", subject=e.subject[:64], detail={"why": str(err)})
        return "crl_refused"
    uow.audit(actor="central", action="CrlReceived", subject=e.subject[:64])
    return "applied"


def _rebuild(office: Office, uow: UnitOfWork, e: CentralEvent) -> str:
    """The central lost its data: send everything again, in the original order. The outbox is
    the office's complete history of operations, so re-pushing it rebuilds the central."""
    n = uow.session.execute(update(t.outbox).where(t.outbox.c.status == "sent").values(
        status="pending", attempts=0, next_attempt_at=None, sent_at=None, queued_at=uow.now())).rowcount
    for r in uow.session.execute(select(t.allocated_range)):
        uow.record(AllocationHeld(r.id, uow.now(), "link", first=r.first_serial, last=r.last_serial, count=r.count))
    uow.audit(actor="central", action="RebuildRequested", subject=e.subject, detail={"requeued": n})
    return "applied"


def _watchlist_delta(office: Office, uow: UnitOfWork, e: CentralEvent) -> str:
    key = office.settings.central_public_key
    delta, sig = e.payload.get("delta", {}), e.payload.get("signature", "")
    try:
        if not key:
            raise SignatureError("no central public key configured (KANIM_CENTRAL_PUBLIC_KEY)")
        verify_document(key, delta, sig)
    except SignatureError as err:
        uow.audit(actor="central", action="WatchlistDeltaRefused", subject=e.subject, detail={"why": str(err)})
        return "refused"
    snap = latest_snapshot_id(uow)
    if snap is None:
        return "no_snapshot"  # the next full snapshot will carry it
    w = t.watchlist_entry.c
    if delta.get("op") == "revoke":
        uow.session.execute(delete(t.watchlist_entry).where(w.snapshot_id == snap, w.order_id == delta["id"]))
    else:
        uow.session.execute(t.watchlist_entry.insert().values(snapshot_id=snap, **_entry(delta)))
    return "applied"


def latest_snapshot_id(uow: UnitOfWork) -> str | None:
    s = t.watchlist_snapshot.c
    row = uow.session.execute(select(s.id).order_by(s.taken_at.desc(), s.loaded_at.desc()).limit(1)).first()
    return row.id if row else None


def _entry(o: dict) -> dict:
    return dict(order_id=o["id"], subject_kind=o["subject_kind"], subject_value=o["subject_value"],
                order_kind=o["order_kind"], agency=o["agency"], starts_on=date.fromisoformat(o["starts_on"]),
                ends_on=date.fromisoformat(o["ends_on"]), reason=o["reason"])


def load_signed_snapshot(office: Office, signed: dict) -> str:
    """Verify and load the central's full snapshot. Refused, and said so, when the signature or
    the date does not verify (a snapshot from the future, or older than the one we hold)."""
    key = office.settings.central_public_key
    if not key:
        raise InvalidInput("cannot verify the watch-list snapshot: KANIM_CENTRAL_PUBLIC_KEY is not set",
                           code="watchlist-unverifiable")
    doc, sig = signed.get("snapshot", {}), signed.get("signature", "")
    try:
        verify_document(key, doc, sig)
    except SignatureError:
        raise InvalidInput("the watch-list snapshot's signature does not verify: refused",
                           code="watchlist-signature") from None
    taken = datetime.fromisoformat(doc["taken_at"])
    with office.uow() as uow:
        if taken > uow.now() + _SKEW:
            raise InvalidInput(f"the watch-list snapshot is dated in the future ({taken.isoformat()}): refused",
                               code="watchlist-date")
        newest = uow.session.execute(select(t.watchlist_snapshot.c.taken_at)
                                     .order_by(t.watchlist_snapshot.c.taken_at.desc()).limit(1)).scalar()
        if newest is not None and taken < newest:
            raise InvalidInput("the watch-list snapshot is older than the one held: refused", code="watchlist-date")
        sid = str(uuid.uuid4())
        uow.session.execute(t.watchlist_snapshot.insert().values(
            id=sid, taken_at=taken, loaded_at=uow.now(), source="central", entry_count=len(doc["orders"]),
            signature=sig))
        if doc["orders"]:
            uow.session.execute(t.watchlist_entry.insert(), [dict(snapshot_id=sid, **_entry(o)) for o in doc["orders"]])
        # Older snapshots are superseded: keep their header rows for the record, drop entries.
        uow.session.execute(delete(t.watchlist_entry).where(t.watchlist_entry.c.snapshot_id != sid))
        uow.audit(actor="central", action="WatchlistSnapshotLoaded", subject=sid,
                  detail={"entries": len(doc["orders"]), "taken_at": taken.isoformat()})
        uow.commit()
    return sid


