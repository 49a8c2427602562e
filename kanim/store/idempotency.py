"""Idempotency-Key claims in the database, so they hold across `kanim serve --workers N` and
restarts (the HTTP side is kanim/web/idempotency.py).

A claim moves through three states:

- `in_flight`: a request holds the key and has not changed anything yet;
- `applied`: its change committed. This mark is written by the change's own transaction (the
  unit of work calls `Claim.join` just before it commits), so "the effect happened" and "the key
  says so" can never disagree, whatever dies when;
- `done`: its answer (status, headers, body) is stored; a retry gets that answer again.

The answer is rendered after the use case returns, so it is stored in a second, tiny
transaction. If the process dies between the two, the claim stays `applied` with no answer:
the key then answers 409 `idempotency-answer-lost` and never runs the request again. That is
the choice: a desk told "it happened, look it up" can recover; a second walk-in, payment or
booklet cannot be taken back. A claim still `in_flight` when its lease ends belonged to a
request that died before changing anything; the next request with that key takes it over, and
if the first one was only slow after all, its commit fails (the claim is no longer its own).

The transactions here use plain sessions, not a UnitOfWork: they must not join themselves.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from sqlalchemy import delete, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from kanim.domain.errors import Conflict
from kanim.store import tables as t

LEASE = timedelta(seconds=60)  # longer than any request (a writer waits at most 30 s for SQLite)
KEY = t.idempotency_key.c


class Found(StrEnum):
    CLAIMED = "claimed"  # the key is this request's: go ahead
    REPLAY = "replay"  # answered before: send that answer again
    REUSED = "reused"  # the key came with another request before
    IN_FLIGHT = "in_flight"  # another request holds it right now
    LOST = "lost"  # the first request took effect; its answer was never stored


@dataclass
class Claim:
    username: str
    key: str
    owner: str = field(default_factory=lambda: uuid.uuid4().hex)
    applied: bool = False

    def join(self, session: Session) -> None:
        """Mark the claim applied inside the transaction of the change it guards (once)."""
        if self.applied:
            return
        done = session.execute(update(t.idempotency_key).where(*self._mine(), KEY.state == "in_flight")
                               .values(state="applied"))
        if done.rowcount != 1:  # taken over after our lease ran out: the change must not happen twice
            raise Conflict("this Idempotency-Key was taken over by a later request; nothing was changed",
                           code="idempotency-key-in-flight")
        self.applied = True

    def _mine(self) -> tuple:
        return KEY.username == self.username, KEY.key == self.key, KEY.owner == self.owner


@dataclass(frozen=True)
class Answer:
    status: int
    headers: dict[str, str]
    body: bytes


def claim(sessions: sessionmaker[Session], *, username: str, key: str, fingerprint: str, now: datetime,
          keep: timedelta) -> tuple[Found, Claim | Answer | None]:
    """Claim `key` for this request, or say why not. Two requests racing for a new key both try
    the INSERT; the primary key lets one win (SQLite serialises writers anyway), and the loser
    reads the winner's row."""
    for _ in range(2):
        try:
            with sessions.begin() as s:
                return _claim(s, username=username, key=key, fingerprint=fingerprint, now=now, keep=keep)
        except IntegrityError:
            continue
    return Found.IN_FLIGHT, None


def _claim(s: Session, *, username: str, key: str, fingerprint: str, now: datetime,
           keep: timedelta) -> tuple[Found, Claim | Answer | None]:
    s.execute(delete(t.idempotency_key).where(KEY.created_at < now - keep))  # forget keys past their time
    row = s.execute(select(t.idempotency_key).where(KEY.username == username, KEY.key == key)).first()
    mine = Claim(username, key)
    if row is None:
        s.execute(insert(t.idempotency_key).values(username=username, key=key, fingerprint=fingerprint,
                                                   state="in_flight", owner=mine.owner, created_at=now,
                                                   claimed_at=now))
        return Found.CLAIMED, mine
    if row.fingerprint != fingerprint:
        return Found.REUSED, None
    if row.state == "done":
        return Found.REPLAY, Answer(row.status, dict(row.headers or {}), row.body or b"")
    if now - row.claimed_at < LEASE:
        return Found.IN_FLIGHT, None
    if row.state == "applied":
        return Found.LOST, None
    # An abandoned in-flight claim: its request died before changing anything. Compare-and-set
    # on the old owner, so that of two requests taking it over only one succeeds.
    took = s.execute(update(t.idempotency_key).where(KEY.username == username, KEY.key == key,
                                                     KEY.owner == row.owner)
                     .values(owner=mine.owner, claimed_at=now))
    return (Found.CLAIMED, mine) if took.rowcount == 1 else (Found.IN_FLIGHT, None)


def store_answer(sessions: sessionmaker[Session], mine: Claim, answer: Answer) -> None:
    with sessions.begin() as s:
        s.execute(update(t.idempotency_key).where(*mine._mine())
                  .values(state="done", status=answer.status, headers=answer.headers, body=answer.body))


def release(sessions: sessionmaker[Session], mine: Claim) -> None:
    """The request changed nothing (it was refused): forget the claim, so that the key can be
    used again, for this request corrected or for another."""
    with sessions.begin() as s:
        s.execute(delete(t.idempotency_key).where(*mine._mine(), KEY.state == "in_flight"))


def stored(sessions: sessionmaker[Session], *, username: str, key: str) -> dict[str, Any] | None:
    """The claim's row (for tests and support)."""
    with sessions() as s:
        row = s.execute(select(t.idempotency_key).where(KEY.username == username, KEY.key == key)).first()
        return dict(row._mapping) if row else None
