"""The append-only audit log: every transition and every read of biometric data.

Rows are hash-chained: each row's hash covers its own content and the previous row's hash, so
editing a row breaks its hash, deleting one breaks the next row's link, and deleting the newest
rows no longer matches `audit_head`. `verify_chain` walks the chain (`kanim audit verify`).
Personal data (NIK, names, contact data) never goes into the audit detail: ids are enough.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from kanim.store import tables as t

GENESIS = "0" * 64
PERSONAL_FIELDS = frozenset(
    {"nik", "full_name", "birth_date", "kk_number", "recipient_name", "contact_phone",
     "contact_email", "post_address", "id_checked"}
)


@dataclass(frozen=True)
class AuditEntry:
    at: datetime
    actor: str
    action: str
    subject: str
    detail: dict[str, Any]


def redact(detail: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in detail.items() if k not in PERSONAL_FIELDS}


def row_hash(prev_hash: str, seq: int, at: datetime, actor: str, action: str, subject: str,
             detail: dict[str, Any]) -> str:
    body = json.dumps(
        [prev_hash, seq, at.astimezone(UTC).isoformat(timespec="microseconds"), actor, action,
         subject, detail],
        sort_keys=True, separators=(",", ":"), default=str,
    )
    return hashlib.sha256(body.encode()).hexdigest()


def append(session: Session, entries: Iterable[AuditEntry]) -> None:
    entries = list(entries)
    if not entries:
        return
    head = _lock_head(session)
    seq, prev = head
    rows = []
    for e in entries:
        seq += 1
        detail = redact(e.detail)
        h = row_hash(prev, seq, e.at, e.actor, e.action, e.subject, detail)
        rows.append(dict(seq=seq, at=e.at, actor=e.actor, action=e.action, subject=e.subject,
                         detail=detail, prev_hash=prev, hash=h))
        prev = h
    session.execute(t.audit_event.insert(), rows)
    session.execute(update(t.audit_head).where(t.audit_head.c.id == 1).values(seq=seq, hash=prev))


def _lock_head(session: Session) -> tuple[int, str]:
    # FOR UPDATE serialises appends on PostgreSQL; SQLite already holds the write lock
    # (BEGIN IMMEDIATE) and ignores the clause.
    row = session.execute(
        select(t.audit_head.c.seq, t.audit_head.c.hash).where(t.audit_head.c.id == 1).with_for_update()
    ).first()
    if row is None:
        session.execute(t.audit_head.insert().values(id=1, seq=0, hash=GENESIS))
        return 0, GENESIS
    return row.seq, row.hash


@dataclass(frozen=True)
class ChainReport:
    rows: int
    problems: list[str]

    @property
    def ok(self) -> bool:
        return not self.problems


def verify_chain(session: Session, *, batch: int = 5000) -> ChainReport:
    problems: list[str] = []
    expected_seq, prev, count = 1, GENESIS, 0
    for r in _rows(session, batch):
        count += 1
        if r.seq != expected_seq:
            problems.append(f"row {expected_seq}..{r.seq - 1} missing (deleted?)")
        if r.prev_hash != prev:
            problems.append(f"row {r.seq}: link to the previous row is broken")
        if row_hash(r.prev_hash, r.seq, r.at, r.actor, r.action, r.subject, r.detail) != r.hash:
            problems.append(f"row {r.seq}: content does not match its hash (edited?)")
        prev, expected_seq = r.hash, r.seq + 1
    head = session.execute(select(t.audit_head)).first()
    last_seq = expected_seq - 1
    if head is not None and (head.seq != last_seq or head.hash != prev):
        problems.append(f"the chain ends at row {last_seq} but the head says row {head.seq} (rows deleted?)")
    return ChainReport(rows=count, problems=problems)


def _rows(session: Session, batch: int) -> Iterator[Any]:
    after = 0
    while True:
        chunk = session.execute(
            select(t.audit_event).where(t.audit_event.c.seq > after).order_by(t.audit_event.c.seq).limit(batch)
        ).all()
        if not chunk:
            return
        yield from chunk
        after = chunk[-1].seq
