"""The relay's share of every domain event: one outbox row, written in the event's transaction
by the fan-out (kanim/store/fanout.py). The outbox is the relay's queue, with the link's own
state beside each row: its drain priority, attempts, dead letters (docs/link.md)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from sqlalchemy import update

from kanim.domain import events as ev
from kanim.domain.application import drain_priority
from kanim.domain.events import Event
from kanim.protocol.operations import Op
from kanim.store import tables as t

if TYPE_CHECKING:
    from kanim.store.uow import UnitOfWork


# The operation each domain event is pushed as. Declared, not derived from the class name: a
# domain event renamed in the office's code must not rename what the central receives.
# tests/unit/test_protocol.py checks that every domain event is here.
OPERATION_OF: dict[type[Event], Op] = {
    ev.ApplicationBooked: Op.APPLICATION_BOOKED,
    ev.ApplicantCheckedIn: Op.APPLICANT_CHECKED_IN,
    ev.IntakeCompleted: Op.INTAKE_COMPLETED,
    ev.BillingIssued: Op.BILLING_ISSUED,
    ev.PaymentRecorded: Op.PAYMENT_RECORDED,
    ev.BiometricsCaptured: Op.BIOMETRICS_CAPTURED,
    ev.InterviewRecorded: Op.INTERVIEW_RECORDED,
    ev.ApplicationApproved: Op.APPLICATION_APPROVED,
    ev.ApplicationRejected: Op.APPLICATION_REJECTED,
    ev.ApplicationCancelled: Op.APPLICATION_CANCELLED,
    ev.PassportPrinted: Op.PASSPORT_PRINTED,
    ev.QualityCheckPassed: Op.QUALITY_CHECK_PASSED,
    ev.QualityCheckFailed: Op.QUALITY_CHECK_FAILED,
    ev.PassportReady: Op.PASSPORT_READY,
    ev.PassportHandedOver: Op.PASSPORT_HANDED_OVER,
    ev.ClearanceChanged: Op.CLEARANCE_CHANGED,
    ev.ApplicationPutOnHold: Op.APPLICATION_PUT_ON_HOLD,
    ev.HoldReleased: Op.HOLD_RELEASED,
    ev.BookletsReceived: Op.BOOKLETS_RECEIVED,
    ev.BookletSpoiled: Op.BOOKLET_SPOILED,
    ev.AllocationHeld: Op.ALLOCATION_HELD,
    ev.ChipPersonalised: Op.CHIP_PERSONALISED,
}


def operation_of(event: Event) -> Op:
    return OPERATION_OF[type(event)]


class CentralOutbox:
    """Every event goes to the central: the law ties the register to it."""

    name = "central"

    def stage(self, uow: UnitOfWork, events: Sequence[Event], ids: Sequence[str]) -> None:
        now = uow.now()
        today = now.date()
        priorities = {a.id: drain_priority(a.priority, a.travel_date, today) for a in uow.applications.seen}
        # An application's priority can only grow (its travel date nears); its earlier unsent
        # rows are raised with it, or the relay would pick later rows it may not send yet.
        c = t.outbox.c
        for subject, p in priorities.items():
            if p == 0:
                continue  # nothing ranks below the lowest priority: no statement on the usual path
            uow.session.execute(update(t.outbox).where(c.subject == subject, c.status != "sent", c.priority < p)
                                .values(priority=p))
        uow.session.execute(
            t.outbox.insert(),
            [
                dict(id=i, subject=e.order_key, op=operation_of(e).value,
                     payload={"subject": e.subject, "at": e.at.isoformat(), "actor": e.actor, **e.payload()},
                     priority=max(priorities.get(e.order_key, 0), e.link_priority), created_at=now, queued_at=now,
                     status="pending", attempts=0)
                for e, i in zip(events, ids, strict=True)
            ],
        )
