"""The single entry point for clearance decisions from the central."""

from __future__ import annotations

from kanim.domain.booklet import SpoilReason
from kanim.domain.errors import NotFound
from kanim.domain.events import ApplicationPutOnHold, BookletSpoiled
from kanim.protocol.wire import ClearanceDecision
from kanim.store.uow import UnitOfWork

CENTRAL_ACTOR = "central"


def apply_decision(uow: UnitOfWork, d: ClearanceDecision) -> str:
    """Apply one decision inside the caller's transaction (the inbox records it as applied in
    the same one). A flag that voids a printed booklet spoils the booklet here too."""
    try:
        app = uow.applications.get(d.application_id)
    except NotFound:
        return "unknown_subject"
    seen = len(app.events)  # events of earlier decisions in this batch are already handled
    changed = app.apply_clearance(d.kind, d.state, reason=d.reason, source="central", at=uow.now(),
                                  actor=CENTRAL_ACTOR, lifts_flag=d.lifts_flag, decision=d.id)
    for event in app.events[seen:]:
        if isinstance(event, ApplicationPutOnHold) and event.booklet_to_void:
            _void_booklet(uow, event.booklet_to_void, app.id, d.reason)
    return "applied" if changed else "no_change"


def _void_booklet(uow: UnitOfWork, serial: str, application_id: str, reason: str) -> None:
    booklet = uow.booklets.get(serial)
    booklet.spoil(reason=SpoilReason.VOIDED_AFTER_FLAG, note=reason, at=uow.now())
    uow.record(BookletSpoiled(serial, uow.now(), CENTRAL_ACTOR, reason=SpoilReason.VOIDED_AFTER_FLAG.value,
                              application_id=application_id))
