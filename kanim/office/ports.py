"""The office's one door to the central hub.

Every clearance decision enters the office through `Central.pull` and
`kanim.office.clearances.apply_decisions`; every change leaves through the outbox and
`Central.push`. `kanim.link.http.HttpCentral` implements this port over the signed link;
`SimulatedCentral` implements it in-process for the tests and the office-day bench.

What travels (operations, answers, feed events) is the protocol's (kanim/protocol/wire.py),
shared with the central; this module keeps only the office's side of the door.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

from kanim.protocol.wire import InboxPage, Operation, OperationResult


class CentralUnavailable(Exception):
    """The central could not be reached or answered with a transient failure: retry later."""


class BatchRefused(CentralUnavailable):
    """The central (or a proxy before it) refused the whole batch as sent (too large, malformed):
    resending it unchanged can never work, so the relay splits it."""


class Central(Protocol):
    def push(self, operations: Sequence[Operation], *, urgent: bool = False) -> Sequence[OperationResult]:
        """Apply `operations`; `urgent` says the batch carries urgent work (its admission first)."""
        ...

    def pull(self, *, after: int, limit: int = 1000) -> InboxPage: ...

    def watchlist(self) -> dict[str, Any] | None:
        """The signed watch-list snapshot, or None if this central does not issue one."""
        ...
