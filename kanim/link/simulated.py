"""An in-process stand-in for the central hub, for unit tests and the office-day bench: it
answers like the central would (confirms what the office checked provisionally, flags NIKs it is
told to flag), instantly and in memory, and starts empty in every process. Integration and
end-to-end tests and `kanim demo` use the real hub (kanim.central)."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

from kanim.domain.clearances import ClearanceKind, ClearanceState
from kanim.office.ports import CentralUnavailable
from kanim.protocol.operations import Op
from kanim.protocol.wire import CentralEvent, InboxPage, Operation, OperationResult

INTAKE_CLEARANCES = (ClearanceKind.NIK_VERIFIED, ClearanceKind.WATCHLIST_CLEAR, ClearanceKind.NOT_DUPLICATE)


@dataclass
class SimulatedCentral:
    flag_niks: dict[str, str] = field(default_factory=dict)  # NIK → reason to flag watch-list
    down: bool = False
    applied: dict[str, OperationResult] = field(default_factory=dict)
    events: list[CentralEvent] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def push(self, operations: Sequence[Operation], *, urgent: bool = False) -> list[OperationResult]:
        self._check_up()
        with self.lock:
            return [self._apply(op) for op in operations]

    def pull(self, *, after: int, limit: int = 1000) -> InboxPage:
        self._check_up()
        with self.lock:
            batch = self.events[after:after + limit]
        return InboxPage(batch, after + len(batch))

    def watchlist(self) -> None:
        return None

    def _check_up(self) -> None:
        if self.down:
            raise CentralUnavailable("simulated central is down")

    def _apply(self, op: Operation) -> OperationResult:
        if op.id in self.applied:  # idempotent by operation id
            return self.applied[op.id]
        if op.op == Op.INTAKE_COMPLETED:
            reason = self.flag_niks.get(op.payload.get("nik", ""))
            for kind in INTAKE_CLEARANCES:
                flagged = reason is not None and kind is ClearanceKind.WATCHLIST_CLEAR
                self._decide(op.subject, kind, ClearanceState.FLAGGED if flagged else ClearanceState.CONFIRMED,
                             reason or "simulated central: no finding")
            self._decide(op.subject, ClearanceKind.RECORDED_CENTRALLY, ClearanceState.CONFIRMED, "recorded")
        elif op.op == Op.PAYMENT_RECORDED:
            self._decide(op.subject, ClearanceKind.PAYMENT_CONFIRMED, ClearanceState.CONFIRMED,
                         f"treasury confirmed {op.payload.get('billing_code')}")
        result = OperationResult(op.id, ok=True)
        self.applied[op.id] = result
        return result

    def _decide(self, subject: str, kind: ClearanceKind, state: ClearanceState, reason: str) -> None:
        self.events.append(CentralEvent(str(uuid.uuid4()), "clearance", subject, {
            "kind": kind.value, "state": state.value, "reason": reason,
            "decided_at": datetime.now(UTC).isoformat()}))
