"""The office's one door to the central hub.

Every clearance decision enters the office through `Central.pull` and
`kanim.office.clearances.apply_decisions`; every change leaves through the outbox and
`Central.push`. The link (outbox relay, inbox, breaker: the central-hub issue) implements this
port over HTTP; until then `SimulatedCentral` implements it in-process for the demo and tests.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from kanim.domain.clearances import ClearanceKind, ClearanceState


@dataclass(frozen=True)
class Operation:
    """One outbox row on its way to the central; `id` makes applying it idempotent."""

    id: str
    seq: int
    subject: str
    op: str
    payload: dict[str, Any]
    office_code: str


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
    allocation, or a rebuild request. Applied at the office exactly once, by `id`."""

    id: str
    kind: str  # clearance | watchlist | allocation | rebuild
    subject: str
    payload: dict[str, Any]
    seq: int | None = None  # its place in the central's feed (where the cursor may stop)


@dataclass(frozen=True)
class InboxPage:
    events: list[CentralEvent]
    next_cursor: int
    central_id: str | None = None  # changes when the central was rebuilt from nothing
    last_seq: int | None = None


class CentralUnavailable(Exception):
    """The central could not be reached or answered with a transient failure: retry later."""


class BatchRefused(CentralUnavailable):
    """The central (or a proxy before it) refused the whole batch as sent (too large, malformed):
    resending it unchanged can never work, so the relay splits it."""


class Central(Protocol):
    def push(self, operations: Sequence[Operation]) -> Sequence[OperationResult]: ...

    def pull(self, *, after: int, limit: int = 1000) -> InboxPage: ...

    def watchlist(self) -> dict[str, Any] | None:
        """The signed watch-list snapshot, or None if this central does not issue one."""
        ...


def decision_of(event: CentralEvent) -> ClearanceDecision:
    p = event.payload
    return ClearanceDecision(id=event.id, application_id=event.subject, kind=ClearanceKind(p["kind"]),
                             state=ClearanceState(p["state"]), reason=p.get("reason", ""),
                             decided_at=datetime.fromisoformat(p["decided_at"]),
                             lifts_flag=bool(p.get("lifts_flag", False)))
