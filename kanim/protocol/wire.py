"""The values both roles exchange over the link: an operation pushed and its answer, an event of
the central's feed, a page of the feed, and a clearance decision read from an event."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from kanim.domain.clearances import ClearanceKind, ClearanceState


@dataclass(frozen=True)
class Operation:
    """One outbox row on its way to the central; `id` makes applying it idempotent."""

    id: str
    seq: int
    subject: str
    op: str  # a kanim.protocol.operations.Op as sent (an unknown name is refused per operation)
    payload: dict[str, Any]
    office_code: str

    def document(self) -> dict[str, Any]:
        """The operation as pushed (the office code travels in the signed request, not here)."""
        return {"id": self.id, "seq": self.seq, "subject": self.subject, "op": str(self.op), "payload": self.payload}


@dataclass(frozen=True)
class OperationResult:
    id: str
    ok: bool
    permanent: bool = False  # a rejection that no retry can fix: goes to the dead-letter list
    error: str | None = None


@dataclass(frozen=True)
class ClearanceDecision:
    """The central's verdict on one clearance of one application."""

    id: str  # unique per decision: applied exactly once
    application_id: str
    kind: ClearanceKind
    state: ClearanceState  # confirmed or flagged
    reason: str
    decided_at: datetime
    lifts_flag: bool = False  # a reviewed decision that may lift a flag (see can_move)
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class CentralEvent:
    """One item of the central's feed: a clearance decision, a watch-list delta, a booklet
    allocation, a revocation list or a rebuild request (kanim.protocol.operations.EventKind).
    Applied at the office exactly once, by `id`."""

    id: str
    kind: str
    subject: str
    payload: dict[str, Any]
    seq: int | None = None  # its place in the central's feed (where the cursor may stop)


@dataclass(frozen=True)
class InboxPage:
    events: list[CentralEvent]
    next_cursor: int
    central_id: str | None = None  # changes when the central was rebuilt from nothing
    last_seq: int | None = None


def decision_of(event: CentralEvent) -> ClearanceDecision:
    p = event.payload
    return ClearanceDecision(id=event.id, application_id=event.subject, kind=ClearanceKind(p["kind"]),
                             state=ClearanceState(p["state"]), reason=p.get("reason", ""),
                             decided_at=datetime.fromisoformat(p["decided_at"]),
                             lifts_flag=bool(p.get("lifts_flag", False)))
