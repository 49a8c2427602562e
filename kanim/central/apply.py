"""Applying one office's pushed batch at the central: every operation gets its own answer.

- Each operation is checked against the wire contract (kanim.protocol.schemas) before it is
  applied: a malformed one, or one of a type this central does not know, is that operation's
  permanent refusal (a dead letter at the office), never the batch's.
- Idempotency is per (office, operation id). An operation applied before is answered as before
  and changes nothing; the same id with another body is refused and says so. A refusal is
  recorded but not final: a dead letter retried at the office after the cause was fixed at the
  central (say, the booklet range allocated) is evaluated again.
- An application's operations are applied in the office's sequence order whatever their order
  in the batch, and never after an earlier one of the same application failed.
- The usual path applies the whole batch in one transaction with no savepoint per operation
  (handlers check before they write). If the database refuses something anyway, the batch is
  rolled back and applied again with a savepoint per operation, so the failure is the one
  operation's answer. Only a transient database failure (connection lost, deadlock) fails the
  batch, and the office simply retries it.
- One office's pushes are serialised (a transaction-scoped advisory lock on PostgreSQL; SQLite
  has one writer anyway): two relays of one office running by mistake cannot race each other
  into duplicate keys.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select, text, update
from sqlalchemy.exc import DBAPIError, DisconnectionError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlalchemy.orm import Session

from kanim.central import tables as ct
from kanim.central.biometrics import Keyring
from kanim.central.checks import CentralChecks
from kanim.central.hub import HANDLERS, Context, NotYet, Rejected
from kanim.domain.errors import DomainError
from kanim.protocol import schemas as contract
from kanim.protocol.wire import Operation, OperationResult

log = logging.getLogger("kanim.central")
PUSH_LOCK = 0x6B6E7075  # "knpu": the namespace of the per-office push lock
TRANSIENT = (OperationalError, InterfaceError, DisconnectionError, PoolTimeout)


class BatchInvalid(Exception):
    """The batch cannot be answered per operation (an operation without a usable id)."""


@dataclass(frozen=True)
class Pushed:
    """One operation of the batch, as far as it could be read."""

    index: int
    op: Operation | None  # None: the envelope itself is invalid
    error: str | None = None  # why the envelope or the payload does not match the contract
    digest: str | None = None


def apply_batch(session: Session, *, office_code: str, operations: Sequence[Any], now: datetime,
                checks: CentralChecks, keys: Keyring | None = None) -> list[OperationResult]:
    """Answer every operation of `operations` (raw JSON objects, or Operation) in their order."""
    pushed = [_read(i, raw, office_code) for i, raw in enumerate(operations)]
    try:
        return _attempt(session, Context(session, office_code, now, checks, keys), pushed, isolated=False)
    except TRANSIENT:
        raise
    except Exception:  # noqa: BLE001 - the database refused something: find which operation
        session.rollback()
        log.warning("central: a batch of office %s failed as a whole; applying it operation by operation",
                    office_code)
        return _attempt(session, Context(session, office_code, now, checks, keys), pushed, isolated=True)


def _read(index: int, raw: Any, office_code: str) -> Pushed:
    if isinstance(raw, Operation):
        raw = raw.document()
    try:
        env = contract.envelope(raw)
    except contract.OperationInvalid as e:
        op_id = contract.usable_id(raw)
        if op_id is None:
            raise BatchInvalid(f"operation {index} has no usable id: {e.reason}") from None
        return Pushed(index, Operation(op_id, 0, "", "", {}, office_code), f"not a valid operation: {e.reason}")
    digest = contract.body_digest(env.seq, env.subject, env.op, env.payload)
    try:
        model = contract.payload(env.op, env.payload)
    except contract.OperationInvalid as e:
        return Pushed(index, Operation(env.id, env.seq, env.subject, env.op, env.payload, office_code), e.reason, digest)
    # The handlers read the payload as the contract checked it, never the raw values.
    op = Operation(env.id, env.seq, env.subject, env.op, contract.normalized(env.payload, model), office_code)
    return Pushed(index, op, None, digest)


def _attempt(session: Session, ctx: Context, pushed: list[Pushed], *, isolated: bool) -> list[OperationResult]:
    office_code = ctx.office_code
    _lock_office(session, office_code)
    ids = [p.op.id for p in pushed if p.op is not None]
    stored = _stored(session, office_code, ids)
    ctx.apps = _applications(session, {p.op.subject for p in pushed if p.op is not None and p.op.subject})
    ctx.load_rebuild_state()
    results: dict[int, OperationResult] = {}
    answered: dict[str, OperationResult] = {}  # the same id twice in one batch is answered once
    held: set[str] = set()  # applications whose earlier operation in this batch did not apply
    digests: dict[str, str | None] = {}
    for p in _in_order(pushed):
        op = p.op
        if op.id in answered:
            # The same id twice in one batch: the same body gets the same answer; another body
            # is refused as a reused id (the first one's answer stands).
            results[p.index] = answered[op.id] if digests[op.id] == p.digest else OperationResult(
                op.id, ok=False, permanent=True,
                error=f"operation id {op.id} appears twice in this batch with different bodies: refused")
            continue
        digests[op.id] = p.digest
        result = _answer(ctx, p, stored, held, isolated=isolated)
        if not result.ok and op.subject:
            held.add(op.subject)
        answered[op.id] = result
        results[p.index] = result
    ctx.flush()
    _record(session, ctx.applied, stored)
    ctx.publish()
    return [results[p.index] for p in pushed]


def _in_order(pushed: list[Pushed]) -> list[Pushed]:
    """The batch's order, except that each application's operations take its places in the
    batch in sequence order. Across applications the office's order stands: it sends urgent
    work first (an AllocationHeld before the re-sent prints that need it)."""
    by_subject: dict[str, list[Pushed]] = {}
    for p in pushed:
        by_subject.setdefault(p.op.subject, []).append(p)
    queues = {s: iter(sorted(ps, key=lambda p: (p.op.seq, p.index))) for s, ps in by_subject.items()}
    return [next(queues[p.op.subject]) for p in pushed]


def _answer(ctx: Context, p: Pushed, stored: dict[str, Any], held: set[str], *, isolated: bool) -> OperationResult:
    op = p.op
    before = stored.get(op.id)
    if before is not None and before.body_sha256 not in (None, p.digest):
        return OperationResult(op.id, ok=False, permanent=True,
                               error=f"operation id {op.id} was already used by office {ctx.office_code} "
                                     "with a different body: refused")
    if before is not None and before.ok:
        return OperationResult(op.id, ok=True)  # applied before: the same answer, nothing changes
    if p.error is not None:
        return _refuse(ctx, p, p.error)
    if op.subject in held:
        # Never apply an application's operations out of order: this one waits for the earlier
        # one, whatever becomes of it (unless it can never apply at all).
        owner = ctx.owner(op.subject)
        if owner is not None and owner != ctx.office_code:
            return _refuse(ctx, p, f"application {op.subject} belongs to office {owner}")
        return OperationResult(op.id, ok=False, permanent=False,
                               error="waiting for an earlier operation of the same application")
    if not isolated:
        return _apply(ctx, p)
    return _apply_isolated(ctx, p, stored)


def _apply(ctx: Context, p: Pushed) -> OperationResult:
    op = p.op
    try:
        HANDLERS[op.op](ctx, op)
    except NotYet as e:
        return OperationResult(op.id, ok=False, permanent=False, error=str(e))  # not remembered
    except (Rejected, DomainError) as e:
        return _refuse(ctx, p, str(e))
    ctx.applied.append(_row(ctx, p, ok=True, error=None))
    return OperationResult(op.id, ok=True)


def _apply_isolated(ctx: Context, p: Pushed, stored: dict[str, Any]) -> OperationResult:
    """One operation in its own savepoint: whatever the database refuses is this operation's."""
    session = ctx.session
    _record(session, ctx.applied, stored)  # earlier answers, outside this operation's savepoint
    ctx.applied.clear()
    events_before = len(ctx.events)
    try:
        with session.begin_nested():
            result = _apply(ctx, p)
            ctx.flush()
            _record(session, ctx.applied, stored)
            ctx.applied.clear()
            # The events too, inside the savepoint: whatever the database refuses is this
            # operation's. (This path runs only after a batch failed as a whole; it takes the
            # feed's lock early, which the fast path avoids.)
            ctx.publish()
        return result
    except TRANSIENT:
        raise
    except Exception as e:  # noqa: BLE001 - the database or a handler failed on this operation alone
        ctx.forget(events_from=events_before)
        return _refuse(ctx, p, _failure(e, ctx.office_code, p.op))


def _failure(e: Exception, office_code: str, op: Operation) -> str:
    """A reason for the office and a log line for the operator, neither with the data: database
    errors quote the failing row (NIKs, names) and exceptions may quote the input."""
    error_id = uuid.uuid4().hex[:12]
    orig = getattr(e, "orig", None)
    sqlstate = getattr(orig, "sqlstate", None) or getattr(getattr(orig, "diag", None), "sqlstate", None)
    constraint = getattr(getattr(orig, "diag", None), "constraint_name", None)
    log.error("central: operation %s (%s) of office %s could not be applied: %s%s%s [error id %s]", op.id, op.op,
              office_code, type(e).__name__, f" SQLSTATE {sqlstate}" if sqlstate else "",
              f" constraint {constraint}" if constraint else "", error_id)
    kind = "the database refused it" if isinstance(e, DBAPIError) else "it failed"
    return f"the central could not apply it: {kind} ({type(e).__name__}; error id {error_id})"


def _refuse(ctx: Context, p: Pushed, error: str) -> OperationResult:
    ctx.applied.append(_row(ctx, p, ok=False, error=error))
    return OperationResult(p.op.id, ok=False, permanent=True, error=error)


def _row(ctx: Context, p: Pushed, *, ok: bool, error: str | None) -> dict[str, Any]:
    op = p.op
    items = op.payload.get("biometrics", ()) if p.error is None else ()
    return dict(id=op.id, office_code=ctx.office_code, subject=op.subject[:64], op=op.op[:48], office_seq=op.seq,
                received_at=ctx.now, ok=ok, error=error, body_sha256=p.digest,
                size_bytes=sum(int(b.get("size_bytes", 0)) for b in items),
                payload=kept_payload(op.payload) if ok else None)


def kept_payload(payload: dict[str, Any]) -> dict[str, Any]:
    """What the central keeps of an applied operation for the office's history: all of it but
    the images, which the registry already holds sealed (kanim/central/biometrics.py) and the
    history puts back when it is read (kanim/central/service.py `history`)."""
    if "biometrics" not in payload:
        return payload
    return {**payload, "biometrics": [{k: v for k, v in b.items() if k != "data"} for b in payload["biometrics"]]}


def _record(session: Session, rows: list[dict[str, Any]], stored: dict[str, Any]) -> None:
    """Insert the answers given; a refusal given before is updated with the new answer."""
    new = [r for r in rows if r["id"] not in stored]
    if new:
        session.execute(ct.central_operation.insert(), new)
    c = ct.central_operation.c
    for r in rows:
        if r["id"] in stored:
            session.execute(update(ct.central_operation).where(c.office_code == r["office_code"], c.id == r["id"])
                            .values(ok=r["ok"], error=r["error"], received_at=r["received_at"],
                                    size_bytes=r["size_bytes"], payload=r["payload"], office_seq=r["office_seq"],
                                    subject=r["subject"], op=r["op"], body_sha256=r["body_sha256"]))


def _stored(session: Session, office_code: str, ids: list[str]) -> dict[str, Any]:
    c = ct.central_operation.c
    found = {}
    for chunk in range(0, len(ids), 1000):
        found.update({r.id: r for r in session.execute(select(c.id, c.ok, c.error, c.body_sha256).where(
            c.office_code == office_code, c.id.in_(ids[chunk:chunk + 1000])))})
    return found


def _applications(session: Session, ids: set[str]) -> dict[str, dict[str, Any]]:
    rows = session.execute(select(ct.registry_application).where(ct.registry_application.c.id.in_(ids)))
    return {r.id: dict(r._mapping) for r in rows}


def _lock_office(session: Session, office_code: str) -> None:
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(:ns, hashtext(:office))"),
                        {"ns": PUSH_LOCK, "office": office_code})
