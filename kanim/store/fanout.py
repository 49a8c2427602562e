"""Domain events fan out, durably, to every consumer that needs them (docs/events.md).

A domain event has several consumers: the relay to the central, the notifications, and next
the public status page and the complaint desk. cosmicpython hands events to handlers in memory
after the commit, where a crash between the two loses them; kanim makes each consumer's share of
an event a row, written by the unit of work in the event's own transaction:

- a *subscriber* writes its rows at commit (`stage`). The relay's subscriber writes the outbox
  (kanim/link/outbox.py), whose rows carry the link's own state (priority, dead letters);
- a `QueuedConsumer` is a subscriber whose rows go to `event_queue`, one per wanted event. Its
  handler later takes them in order, and a row leaves the queue in the same transaction as the
  handler's work: a crash before that commit undoes both (the work is done again, once), a crash
  after it leaves neither. So a consumer's database work happens exactly once per event.

Each consumer has its own rows, so a slow one (a channel that is down) holds back nobody else.
Per subject (an application) a consumer sees events in order: a row waits while an earlier row
of its subject is still queued, and a row whose handler keeps failing becomes `dead` after
`MAX_ATTEMPTS`, holding its subject's later rows until staff look (`kanim notify status`).
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Protocol

from sqlalchemy import Integer, and_, delete, exists, func, or_, select, update
from sqlalchemy.orm import aliased

from kanim.domain.events import Event
from kanim.store import tables as t

if TYPE_CHECKING:
    from kanim.store.uow import UnitOfWork

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 8
BACKOFF_SECONDS = (1, 5, 30, 60, 300, 900, 1800)  # then dead


class Subscriber(Protocol):
    name: str

    def stage(self, uow: UnitOfWork, events: Sequence[Event], ids: Sequence[str]) -> None:
        """Write this consumer's share of `events` in the unit of work's transaction. `ids[i]`
        is the id of `events[i]`, the same for every consumer."""


@dataclass(frozen=True)
class QueuedEvent:
    """An event as a consumer's handler receives it from the queue."""

    seq: int
    id: str
    name: str
    subject: str
    at: datetime
    actor: str
    payload: dict[str, Any]
    attempts: int


@dataclass(frozen=True)
class QueuedConsumer:
    """A consumer that works after the commit, from its own queue of the events it `wants`."""

    name: str
    wants: frozenset[str]

    def stage(self, uow: UnitOfWork, events: Sequence[Event], ids: Sequence[str]) -> None:
        rows = [dict(consumer=self.name, event_id=i, name=e.name, subject=e.subject, at=e.at, actor=e.actor,
                     payload=e.payload(), attempts=0, dead=False)
                for e, i in zip(events, ids, strict=True) if e.name in self.wants]
        if rows:
            uow.session.execute(t.event_queue.insert(), rows)


Handler = Callable[["UnitOfWork", QueuedEvent], None]


def publish(uow: UnitOfWork, subscribers: Iterable[Subscriber], events: Sequence[Event]) -> None:
    """Give every subscriber its share of `events`, in the caller's transaction."""
    if not events:
        return
    ids = [str(uuid.uuid4()) for _ in events]
    for s in subscribers:
        s.stage(uow, events, ids)


def take(uow_factory: Callable[[], UnitOfWork], consumer: str, handler: Handler, *, limit: int = 200) -> int:
    """Hand up to `limit` of `consumer`'s queued events to `handler`, in order, in one
    transaction; each handled row leaves the queue in it. A handler that raises has its work
    rolled back (a savepoint) and its row retried later with backoff. Returns how many rows
    were taken (handled or failed), 0 when nothing is due."""
    with uow_factory() as uow:
        rows = due(uow, consumer, limit)
        if not rows:
            return 0
        failed_subjects: set[str] = set()
        for row in rows:
            if row.subject in failed_subjects:
                continue  # its subject's earlier event failed in this round: keep the order
            if not _handle(uow, consumer, handler, row):
                failed_subjects.add(row.subject)
        uow.commit()
        return len(rows)


def due(uow: UnitOfWork, consumer: str, limit: int) -> list[QueuedEvent]:
    """The consumer's next rows in order: due, not dead, none behind an earlier row of its subject."""
    q, earlier = t.event_queue.c, aliased(t.event_queue)
    now = uow.now()
    held = exists().where(earlier.c.consumer == consumer, earlier.c.subject == q.subject, earlier.c.seq < q.seq)
    stmt = (select(q.seq, q.event_id, q.name, q.subject, q.at, q.actor, q.payload, q.attempts)
            .where(q.consumer == consumer, q.dead.is_(False),
                   or_(q.next_attempt_at.is_(None), q.next_attempt_at <= now), ~held)
            .order_by(q.seq).limit(limit))
    return [QueuedEvent(*r) for r in uow.session.execute(stmt)]


def _handle(uow: UnitOfWork, consumer: str, handler: Handler, row: QueuedEvent) -> bool:
    mark = uow.checkpoint()
    savepoint = uow.session.begin_nested()
    try:
        handler(uow, row)
        savepoint.commit()
    except Exception as exc:  # noqa: BLE001 - any failure of one event is that event's, never the round's
        savepoint.rollback()
        uow.rewind(mark)
        _failed(uow, consumer, row, exc)
        return False
    uow.session.execute(delete(t.event_queue).where(t.event_queue.c.seq == row.seq))
    return True


def _failed(uow: UnitOfWork, consumer: str, row: QueuedEvent, exc: Exception) -> None:
    attempts = row.attempts + 1
    dead = attempts >= MAX_ATTEMPTS
    wait = BACKOFF_SECONDS[min(attempts, len(BACKOFF_SECONDS)) - 1]
    # The type and the problem code only: an exception's message may quote personal data.
    why = type(exc).__name__ + (f":{code}" if (code := getattr(exc, "code", None)) else "")
    log.warning("consumer %s: event %s (%s) failed, attempt %d%s: %s", consumer, row.seq, row.name, attempts,
                " (dead)" if dead else "", why)
    uow.session.execute(update(t.event_queue).where(t.event_queue.c.seq == row.seq).values(
        attempts=attempts, last_error=why[:200], dead=dead,
        next_attempt_at=None if dead else uow.now() + timedelta(seconds=wait)))


@dataclass(frozen=True)
class QueueStatus:
    queued: int
    dead: int
    oldest_at: datetime | None


def status(uow: UnitOfWork, consumer: str) -> QueueStatus:
    q = t.event_queue.c
    queued, dead, oldest = uow.session.execute(
        select(func.count(), func.coalesce(func.sum(q.dead.cast(Integer)), 0), func.min(q.at))
        .where(q.consumer == consumer)).one()
    return QueueStatus(queued=queued, dead=int(dead), oldest_at=oldest)


def retry_dead(uow: UnitOfWork, consumer: str) -> int:
    """Put a consumer's dead rows back in its queue (after the cause is fixed)."""
    q = t.event_queue.c
    return uow.session.execute(update(t.event_queue).where(and_(q.consumer == consumer, q.dead.is_(True)))
                               .values(dead=False, attempts=0, next_attempt_at=None)).rowcount
