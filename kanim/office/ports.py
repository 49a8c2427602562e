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
    extra: dict[str, Any] = field(default_factory=dict)


class CentralUnavailable(Exception):
    """The central could not be reached or answered with a transient failure: retry later."""


class Central(Protocol):
    def push(self, operations: Sequence[Operation]) -> Sequence[OperationResult]: ...

    def pull(self, *, office_code: str, cursor: str | None) -> tuple[list[ClearanceDecision], str | None]: ...
