"""The unit of work: one transaction per request.

On commit it hands the domain events to its subscribers, in the same transaction as the change
(kanim/store/fanout.py: the outbox for the central, each other consumer's queue), and writes one
audit row per event or explicit audit entry. It rolls back unless
told to commit (cosmicpython), so an exception anywhere leaves nothing half-written.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from sqlalchemy.orm import Session

from kanim.clock import Clock
from kanim.domain.events import Event
from kanim.security import audit
from kanim.store import fanout
from kanim.store.repositories import ApplicationRepository, BookletRepository
from kanim.store.transaction import Transaction, joining

__all__ = ["UnitOfWork", "joining"]  # `joining` lives in kanim/store/transaction.py, shared with the central


class UnitOfWork(Transaction):
    """The office's transaction: its repositories, and its domain events fanned out at commit."""

    def __init__(self, session_factory: Callable[[], Session], clock: Clock, *, readonly: bool = False,
                 subscribers: Sequence[fanout.Subscriber] = ()) -> None:
        super().__init__(session_factory, clock, readonly=readonly)
        self.subscribers = subscribers

    def __enter__(self) -> UnitOfWork:
        super().__enter__()
        self.applications = ApplicationRepository(self.session)
        self.booklets = BookletRepository(self.session)
        self._events: list[Event] = []
        return self

    def record(self, event: Event) -> None:
        """An event that belongs to no loaded aggregate (booklet movements, user actions)."""
        self._events.append(event)

    def checkpoint(self) -> tuple[dict[int, int], int, int]:
        """What this unit of work holds in memory now (domain events, audit entries), so that
        `rewind` can take back what a rolled-back savepoint recorded: its rows are gone, and its
        events must not reach the subscribers at commit."""
        return ({id(a): len(a.events) for a in self.applications.seen}, len(self._events), len(self._audit))

    def rewind(self, mark: tuple[dict[int, int], int, int]) -> None:
        events, recorded, audited = mark
        for app in self.applications.seen:
            del app.events[events.get(id(app), 0):]
        del self._events[recorded:]
        del self._audit[audited:]

    def _audit_entries(self) -> list[audit.AuditEntry]:
        # The events reach their consumers (the outbox first) in the commit's own transaction.
        events = self._take_events()
        fanout.publish(self, self.subscribers, events)
        return [audit.AuditEntry(e.at, e.actor, e.name, e.subject, e.payload()) for e in events] + self._audit

    def _take_events(self) -> list[Event]:
        events = list(self._events)
        self._events.clear()
        for app in self.applications.seen:
            events.extend(app.events)
            app.events.clear()
        return sorted(events, key=lambda e: e.at)
