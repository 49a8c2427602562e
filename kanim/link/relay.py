"""One round of the link: push pending outbox rows, then pull and apply central decisions.

This is the minimal relay the office node needs to be whole; retries with backoff, the
breaker, drain ordering and the dead-letter view grow here in the central-hub issue.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select, update

from kanim.office.clearances import apply_decisions
from kanim.office.ports import Central, CentralUnavailable, Operation
from kanim.store import tables as t
from kanim.store.uow import UnitOfWork

CURSOR_NAME = "central_inbox"


@dataclass
class SyncResult:
    pushed: int = 0
    rejected: int = 0
    decisions: int = 0
    error: str | None = None


def pending_operations(uow: UnitOfWork, *, office_code: str, limit: int) -> list[Operation]:
    c = t.outbox.c
    rows = uow.session.execute(
        select(t.outbox).where(c.status == "pending").order_by(c.seq).limit(limit)
    ).all()
    return [Operation(r.id, r.seq, r.subject, r.op, r.payload, office_code) for r in rows]


def sync_once(uow: UnitOfWork, central: Central, *, office_code: str, batch: int = 200) -> SyncResult:
    result = SyncResult()
    with uow:
        ops = pending_operations(uow, office_code=office_code, limit=batch)
    try:
        if ops:
            outcomes = central.push(ops)
            result.pushed, result.rejected = _mark(uow, outcomes)
        decisions, cursor = central.pull(office_code=office_code, cursor=_cursor(uow))
    except CentralUnavailable as e:
        result.error = str(e)
        return result
    if decisions:
        apply_decisions(uow, decisions)
        result.decisions = len(decisions)
    _save_cursor(uow, cursor)
    return result


def _mark(uow: UnitOfWork, outcomes) -> tuple[int, int]:  # noqa: ANN001
    sent = dead = 0
    with uow:
        now = uow.now()
        for o in outcomes:
            values = dict(status="sent", sent_at=now, attempts=t.outbox.c.attempts + 1, last_error=None)
            if not o.ok:
                values = dict(status="dead" if o.permanent else "pending",
                              attempts=t.outbox.c.attempts + 1, last_error=o.error)
            uow.session.execute(update(t.outbox).where(t.outbox.c.id == o.id).values(**values))
            sent += o.ok
            dead += (not o.ok) and o.permanent
        uow.commit()
    return sent, dead


def _cursor(uow: UnitOfWork) -> str | None:
    with uow:
        row = uow.session.execute(
            select(t.link_cursor.c.value).where(t.link_cursor.c.name == CURSOR_NAME)
        ).first()
        return row.value if row else None


def _save_cursor(uow: UnitOfWork, cursor: str | None) -> None:
    if cursor is None:
        return
    with uow:
        s = uow.session
        if s.execute(select(t.link_cursor).where(t.link_cursor.c.name == CURSOR_NAME)).first():
            s.execute(update(t.link_cursor).where(t.link_cursor.c.name == CURSOR_NAME).values(value=cursor))
        else:
            s.execute(t.link_cursor.insert().values(name=CURSOR_NAME, value=cursor))
        uow.commit()
