"""An in-process stand-in for the central hub, for the demo and the tests, until the real hub
and its HTTP link exist. It answers like the central would: it confirms what the office
checked provisionally, and flags what it is told to flag.

It is a fake: it keeps everything in memory and decides instantly. It is never used when
`KANIM_CENTRAL` is "none" (an office with no central behaves as during an outage).
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

from kanim.domain.clearances import ClearanceKind, ClearanceState
from kanim.office.ports import CentralUnavailable, ClearanceDecision, Operation, OperationResult

INTAKE_CLEARANCES = (ClearanceKind.NIK_VERIFIED, ClearanceKind.WATCHLIST_CLEAR, ClearanceKind.NOT_DUPLICATE)


@dataclass
class SimulatedCentral:
    flag_niks: dict[str, str] = field(default_factory=dict)  # NIK → reason to flag watch-list
    down: bool = False
    applied: dict[str, OperationResult] = field(default_factory=dict)
    decisions: list[ClearanceDecision] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def push(self, operations: Sequence[Operation]) -> list[OperationResult]:
        if self.down:
            raise CentralUnavailable("simulated central is down")
        with self.lock:
            return [self._apply(op) for op in operations]

    def pull(self, *, office_code: str, cursor: str | None) -> tuple[list[ClearanceDecision], str | None]:
        if self.down:
            raise CentralUnavailable("simulated central is down")
        start = int(cursor or 0)
        with self.lock:
            batch = self.decisions[start:]
        return batch, str(start + len(batch))

    def _apply(self, op: Operation) -> OperationResult:
        if op.id in self.applied:  # idempotent by operation id
            return self.applied[op.id]
        if op.op == "IntakeCompleted":
            reason = self.flag_niks.get(op.payload.get("nik", ""))
            for kind in INTAKE_CLEARANCES:
                flagged = reason is not None and kind is ClearanceKind.WATCHLIST_CLEAR
                self._decide(op.subject, kind, ClearanceState.FLAGGED if flagged else ClearanceState.CONFIRMED,
                             reason or "simulated central: no finding")
            self._decide(op.subject, ClearanceKind.RECORDED_CENTRALLY, ClearanceState.CONFIRMED, "recorded")
        elif op.op == "PaymentRecorded":
            self._decide(op.subject, ClearanceKind.PAYMENT_CONFIRMED, ClearanceState.CONFIRMED,
                         f"treasury confirmed {op.payload.get('billing_code')}")
        result = OperationResult(op.id, ok=True)
        self.applied[op.id] = result
        return result

    def _decide(self, subject: str, kind: ClearanceKind, state: ClearanceState, reason: str) -> None:
        self.decisions.append(ClearanceDecision(str(uuid.uuid4()), subject, kind, state, reason,
                                                datetime.now(UTC)))
