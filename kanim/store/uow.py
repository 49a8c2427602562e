"""The unit of work: one transaction per request.

On commit it hands the domain events to its subscribers, in the same transaction as the change
(kanim/store/fanout.py: the outbox for the central, each other consumer's queue), and writes one
audit row per event or explicit audit entry. It rolls back unless
told to commit (cosmicpython), so an exception anywhere leaves nothing half-written.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from contextvars import ContextVar
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from kanim.clock import Clock
from kanim.domain.events import Event
from kanim.security import audit
from kanim.store import fanout
from kanim.store.db import READONLY
from kanim.store.repositories import ApplicationRepository, BookletRepository

# Something that must commit together with this request's next change: today the claim of its
# Idempotency-Key (kanim/store/idempotency.py), which says "this change happened" in the change's
# own transaction. A context variable, because the use cases open their own units of work; it is
# set per request by kanim/web/idempotency.py and is None everywhere else (CLI, relay, tests).
joining: ContextVar[Callable[[Session], None] | None] = ContextVar("kanim_uow_joining", default=None)


class UnitOfWork:
    def __init__(self, session_factory: Callable[[], Session], clock: Clock, *, readonly: bool = False,
                 subscribers: Sequence[fanout.Subscriber] = ()) -> None:
        self.session_factory = session_factory
        self.clock = clock
        self.readonly = readonly
        self.subscribers = subscribers

    def __enter__(self) -> UnitOfWork:
        self.session = self.session_factory()
        if self.readonly:
            # A read-only unit of work does not take SQLite's write lock (see store/db.py), so
            # lookups never queue behind the desks' writes.
            self.session.connection(execution_options={READONLY: True})
        self.applications = ApplicationRepository(self.session)
        self.booklets = BookletRepository(self.session)
        self._events: list[Event] = []
        self._audit: list[audit.AuditEntry] = []
        return self

    def __exit__(self, *exc: object) -> None:
        # close() rolls back whatever was not committed; unlike rollback() it leaves the loaded
        # objects readable (detached) for the caller to render.
        self.session.close()

    def now(self) -> datetime:
        return self.clock.now()

    def record(self, event: Event) -> None:
        """An event that belongs to no loaded aggregate (booklet movements, user actions)."""
        self._events.append(event)

    def audit(self, *, actor: str, action: str, subject: str, detail: dict[str, Any] | None = None) -> None:
        """An audit row with no event: reads of biometric data, logins, account changes."""
        self._audit.append(audit.AuditEntry(self.now(), actor, action, subject, detail or {}))

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

    def commit(self) -> None:
        if self.readonly:
            raise RuntimeError("a read-only unit of work cannot commit")
        events = self._take_events()
        fanout.publish(self, self.subscribers, events)
        entries = [audit.AuditEntry(e.at, e.actor, e.name, e.subject, e.payload()) for e in events]
        audit.append(self.session, entries + self._audit)
        self._audit.clear()
        if (join := joining.get()) is not None:
            join(self.session)
        self.session.commit()

    def rollback(self) -> None:
        self.session.rollback()

    def _take_events(self) -> list[Event]:
        events = list(self._events)
        self._events.clear()
        for app in self.applications.seen:
            events.extend(app.events)
            app.events.clear()
        return sorted(events, key=lambda e: e.at)
