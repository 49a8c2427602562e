"""The single entry point for clearance decisions from the central."""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import select

from kanim.domain.booklet import SpoilReason
from kanim.domain.errors import NotFound
from kanim.domain.events import ApplicationPutOnHold, BookletSpoiled
from kanim.office.ports import ClearanceDecision
from kanim.store import tables as t
from kanim.store.uow import UnitOfWork

CENTRAL_ACTOR = "central"


def apply_decisions(uow: UnitOfWork, decisions: Iterable[ClearanceDecision]) -> dict[str, int]:
    """Apply each decision exactly once (by its id), in one transaction. A flag that voids a
    printed booklet spoils the booklet in the same transaction."""
    outcomes = {"applied": 0, "no_change": 0, "duplicate": 0, "unknown_subject": 0}
    with uow:
        for d in decisions:
            outcome = _apply_one(uow, d)
            outcomes[outcome] += 1
        uow.commit()
    return outcomes


def _apply_one(uow: UnitOfWork, d: ClearanceDecision) -> str:
    s = uow.session
    if s.execute(select(t.inbox_event.c.id).where(t.inbox_event.c.id == d.id)).first():
        return "duplicate"
    try:
        app = uow.applications.get(d.application_id)
    except NotFound:
        outcome = "unknown_subject"
    else:
        seen = len(app.events)  # events of earlier decisions in this batch are already handled
        changed = app.apply_clearance(d.kind, d.state, reason=d.reason, source="central",
                                      at=uow.now(), actor=CENTRAL_ACTOR)
        outcome = "applied" if changed else "no_change"
        for event in app.events[seen:]:
            if isinstance(event, ApplicationPutOnHold) and event.booklet_to_void:
                _void_booklet(uow, event.booklet_to_void, app.id, d.reason)
    s.execute(t.inbox_event.insert().values(id=d.id, kind=f"clearance:{d.kind.value}",
                                            subject=d.application_id, received_at=uow.now(),
                                            outcome=outcome))
    return outcome


def _void_booklet(uow: UnitOfWork, serial: str, application_id: str, reason: str) -> None:
    booklet = uow.booklets.get(serial)
    booklet.spoil(reason=SpoilReason.VOIDED_AFTER_FLAG, note=reason, at=uow.now())
    uow.record(BookletSpoiled(serial, uow.now(), CENTRAL_ACTOR, reason=SpoilReason.VOIDED_AFTER_FLAG.value,
                              application_id=application_id))
