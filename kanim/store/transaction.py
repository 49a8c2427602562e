"""A transaction, as both roles open one: a session, the clock, explicit audit rows, and the
rule that nothing is kept unless told to commit (cosmicpython).

It knows nothing of either role's tables: the office's unit of work (kanim/store/uow.py) adds
its repositories and the fan-out of domain events; the central's (kanim/central/uow.py) adds the
key that signs its feed. The audit chain is shared by both roles (kanim/security/audit.py).
"""

from __future__ import annotations

from collections.abc import Callable
from contextvars import ContextVar
from datetime import datetime
from typing import Any, Self

from sqlalchemy.orm import Session

from kanim.clock import Clock
from kanim.security import audit
from kanim.store.db import READONLY

# Something that must commit together with this request's next change: today the claim of its
# Idempotency-Key (kanim/store/idempotency.py), which says "this change happened" in the change's
# own transaction. A context variable, because the use cases open their own units of work; it is
# set per request by kanim/web/idempotency.py and is None everywhere else (CLI, relay, tests).
joining: ContextVar[Callable[[Session], None] | None] = ContextVar("kanim_uow_joining", default=None)


class Transaction:
    def __init__(self, session_factory: Callable[[], Session], clock: Clock, *, readonly: bool = False) -> None:
        self.session_factory = session_factory
        self.clock = clock
        self.readonly = readonly

    def __enter__(self) -> Self:
        self.session = self.session_factory()
        if self.readonly:
            # A read-only unit of work does not take SQLite's write lock (see store/db.py), so
            # lookups never queue behind the desks' writes.
            self.session.connection(execution_options={READONLY: True})
        self._audit: list[audit.AuditEntry] = []
        return self

    def __exit__(self, *exc: object) -> None:
        # close() rolls back whatever was not committed; unlike rollback() it leaves the loaded
        # objects readable (detached) for the caller to render.
        self.session.close()

    def now(self) -> datetime:
        return self.clock.now()

    def audit(self, *, actor: str, action: str, subject: str, detail: dict[str, Any] | None = None) -> None:
        """An audit row with no event: reads of biometric data, logins, account changes."""
        self._audit.append(audit.AuditEntry(self.now(), actor, action, subject, detail or {}))

    def commit(self) -> None:
        if self.readonly:
            raise RuntimeError("a read-only unit of work cannot commit")
        audit.append(self.session, self._audit_entries())
        self._audit.clear()
        if (join := joining.get()) is not None:
            join(self.session)
        self.session.commit()

    def rollback(self) -> None:
        self.session.rollback()

    def _audit_entries(self) -> list[audit.AuditEntry]:
        """Everything to append to the audit chain at commit (a subclass adds its own first)."""
        return list(self._audit)
