"""Choosing the relay's next batch and turning outbox rows into operations.

Most urgent first (the priority the unit of work gave each row), then oldest; never a row
before an earlier unsent row of its application; rows held back behind a dead letter or a
retry are skipped by the query itself. Images are read from the vault only for rows that go.
"""

from __future__ import annotations

import hashlib
from datetime import datetime
from typing import Any

from sqlalchemy import or_, select

from kanim.bootstrap import Office
from kanim.protocol.operations import Op
from kanim.protocol.wire import Operation
from kanim.store import tables as t
from kanim.store.uow import UnitOfWork


def blocked_by(c: Any, now: datetime) -> Any:
    """An earlier unsent row of the same application that cannot go now (a dead letter, or a
    row waiting for its retry): the row it is asked about must wait behind it."""
    e = t.outbox.alias("earlier")
    return select(e.c.seq).where(e.c.subject == c.subject, e.c.seq < c.seq, e.c.status != "sent",
                                 or_(e.c.status == "dead", e.c.next_attempt_at > now)).exists()


def select_batch(uow: UnitOfWork, *, limit: int, now: datetime,
                 in_flight: frozenset[int] = frozenset()) -> list[Any]:
    """The next batch: urgent first, never a row before an earlier unsent one of its
    application. Rows held back (behind a dead letter or a retry) are skipped in the query
    itself, so however many there are they never fill the window and stall the rest. Rows
    `in_flight` (sent, not yet answered) are not taken, and since they are unsent, nothing
    after them in their applications is either."""
    c = t.outbox.c
    due = or_(c.next_attempt_at.is_(None), c.next_attempt_at <= now)
    query = select(t.outbox).where(c.status == "pending", due, ~blocked_by(c, now))
    if in_flight:
        query = query.where(c.seq.not_in(sorted(in_flight)))
    rows = uow.session.execute(query.order_by(c.priority.desc(), c.seq).limit(limit)).all()
    if not rows:
        return []
    subjects = {r.subject for r in rows}
    chosen = {r.seq for r in rows}
    # Every unsent row of these applications, in order: a row may go only if all earlier unsent
    # rows of its application go in this batch too (the window may have cut an application).
    unsent: dict[str, list[int]] = {}
    for subject, seq in uow.session.execute(
            select(c.subject, c.seq).where(c.subject.in_(subjects), c.status != "sent").order_by(c.seq)):
        unsent.setdefault(subject, []).append(seq)
    allowed: set[int] = set()
    for subject, seqs in unsent.items():
        for seq in seqs:
            if seq not in chosen:
                break
            allowed.add(seq)
    return [r for r in rows if r.seq in allowed]


def biometric_files(uow: UnitOfWork, subjects: set[str]) -> dict[str, list[Any]]:
    if not subjects:
        return {}
    b = t.biometric.c
    found: dict[str, list[Any]] = {}
    for r in uow.session.execute(select(b.application_id, b.position, b.exception, b.file_ref)
                                 .where(b.application_id.in_(subjects)).order_by(b.position)):
        found.setdefault(r.application_id, []).append(r)
    return found


def to_operation(office: Office, row: Any, files: dict[str, list[Any]]) -> Operation:
    payload = dict(row.payload)
    if row.op == Op.BIOMETRICS_CAPTURED:
        payload["biometrics"] = [_biometric_item(office, f) for f in files.get(row.subject, [])]
    return Operation(row.id, row.seq, row.subject, row.op, payload, office.settings.office_code)


OPERATION_OVERHEAD = 2_000  # bytes of JSON around an operation's own fields, generously


def estimated_size(office: Office, row: Any, files: dict[str, list[Any]]) -> int:
    """Bytes the operation adds to a push, from the vault's file sizes (before decrypting)."""
    if row.op != Op.BIOMETRICS_CAPTURED:
        return OPERATION_OVERHEAD
    images = sum(office.vault.plain_size(f.file_ref) for f in files.get(row.subject, []) if f.file_ref)
    # base64 in a JSON push (protocol versions 1-2): an upper bound for a binary batch as well.
    return OPERATION_OVERHEAD + images * 4 // 3 + 400


def _biometric_item(office: Office, f: Any) -> dict[str, Any]:
    """The face and fingerprints travel with the capture operation (the central's registry
    needs them for duplicate checks and the e-passport chip), decrypted only here."""
    data = office.vault.get(f.file_ref) if f.file_ref else None
    return {"position": f.position, "exception": f.exception.value if f.exception else None,
            "sha256": hashlib.sha256(data).hexdigest() if data else None,
            "size_bytes": len(data) if data else 0,
            "data": data or None}  # bytes: base64 in a JSON push, as they are in a binary batch (kanim.protocol.batch)
