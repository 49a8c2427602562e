"""The outbox relay: pushes the office's operations to the central and pulls its events.

- Batches go out most urgent first (medical, hajj/umrah, travel), then oldest, and never out of
  order within one application: a row is sent only with every earlier unsent row of its
  application, so a row waiting for a retry or parked as a dead letter holds back its own
  application and no other.
- The central answers per operation: ok → sent; permanent → dead letter (visible, retryable
  after a fix); transient → retried later with backoff and jitter.
- Connection trouble feeds the breaker (up/degraded/down), whose every change is recorded as a
  link incident; a 429 from the central is obeyed, not counted as a failure.
- A relay killed mid-batch leaves its rows pending: the next one resends them and the central,
  idempotent by operation id, answers the same again.
- One relay per office (kanim.link.lease); batch selection is kanim.link.selection; what staff
  see of the link is kanim.link.views.
- While the central applies a batch, the next one is read and its images decrypted in a thread
  of the relay (`link_prepare_ahead`): it leaves out every application with a row in the batch
  on its way (their later rows wait for its answer, as ever), and before it is sent its rows
  are checked to be still pending, or it is read again. A backlog's drain then costs the
  office's reading and decrypting only where the central is faster than them.
"""

from __future__ import annotations

import logging
import threading
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm.exc import StaleDataError

from kanim.bootstrap import Office
from kanim.domain.application import is_urgent
from kanim.domain.errors import DomainError
from kanim.link import inbox
from kanim.link.breaker import Breaker, LinkState, retry_delay
from kanim.link.lease import LEASE_SECONDS, Lease
from kanim.link.selection import biometric_files, estimated_size, select_batch, to_operation
from kanim.domain.clearances import ClearanceKind, ClearanceState
from kanim.office.clearances import apply_decision
from kanim.office.ports import BatchRefused, Central, CentralUnavailable
from kanim.protocol.operations import Op
from kanim.protocol.wire import ClearanceDecision, InboxPage, Operation, OperationResult
from kanim.security.vault import VaultError
from kanim.store import tables as t
from kanim.store.uow import UnitOfWork

log = logging.getLogger("kanim.link")


@dataclass
class RoundResult:
    pushed: int = 0
    dead: int = 0
    retrying: int = 0
    pulled: int = 0
    more: bool = False  # a full batch went out: there is probably more to send now
    error: str | None = None
    throttled: float = 0.0


@dataclass(frozen=True)
class _Batch:
    limit: int  # the batch size it was read for
    rows: list[Any]
    ops: list[Operation]
    files: dict[str, list[Any]]


# -- the relay ---------------------------------------------------------------------------------

@dataclass
class Relay:
    office: Office
    central: Central
    breaker: Breaker = field(default_factory=Breaker)
    # Shrinks when the central (or a proxy before it) refuses a whole batch, so that the one
    # operation it cannot take ends up alone and parked, instead of blocking every round.
    batch_limit: int | None = None
    checked_incidents: bool = False  # whether this relay has looked for an incident left open
    _ahead: ThreadPoolExecutor | None = field(default=None, repr=False)
    _next: Future | None = field(default=None, repr=False)  # the next batch, read while the last was applied

    def push_round(self) -> RoundResult:
        result = RoundResult()
        limit = self.batch_limit or self.office.settings.link_batch
        batch = self._prepared(limit) or self._prepare(limit)
        if not batch.rows:
            return result
        if not batch.ops:
            return RoundResult(dead=1, more=True)
        if self.office.settings.link_prepare_ahead and self.batch_limit is None:  # not while splitting a refusal
            self._read_ahead(limit, {r.seq for r in batch.rows})
        going = {o.id for o in batch.ops}
        try:
            outcomes = self.central.push(batch.ops, urgent=any(is_urgent(r.priority) for r in batch.rows
                                                               if r.id in going))
        except BatchRefused as e:
            self._drop_next()  # read for a batch size that no longer holds
            if len(batch.ops) == 1:
                park(self.office, batch.ops[0].id, f"the central refused it: {e}")
                self.batch_limit = None
                return RoundResult(dead=1, more=True)
            self.batch_limit = max(1, len(batch.ops) // 2)
            return RoundResult(more=True, error=str(e))
        except BaseException:
            self._drop_next()  # not sent: the next round reads the queue as it then is
            raise
        self.batch_limit = None
        # Recorded once the central answered: a push it told to wait (429) transmitted nothing.
        self._audit_biometrics(batch.ops, batch.files, "BiometricTransmitted")
        result.pushed, result.dead, result.retrying = mark(self.office, outcomes)
        result.more = len(batch.ops) >= limit or len(batch.ops) < len(batch.rows) or self._next is not None
        return result

    def _prepare(self, limit: int, in_flight: frozenset[int] = frozenset()) -> _Batch:
        """The next batch, read in a read-only transaction and decrypted outside any: the desks'
        writes never wait for the relay's disk and crypto work. Rows `in_flight` (the batch the
        central is applying) are not taken, nor anything after them in their applications."""
        with self.office.uow(readonly=True) as uow:
            rows = select_batch(uow, limit=limit, now=uow.now(), in_flight=in_flight)
            files = biometric_files(uow, {r.subject for r in rows if r.op == Op.BIOMETRICS_CAPTURED})
        ops = self._operations(rows, files) if rows else []
        # Every read of biometric data is audited, also one whose push waits or fails.
        self._audit_biometrics(ops, files, "BiometricRead")
        return _Batch(limit, rows, ops, files)

    def _read_ahead(self, limit: int, in_flight: set[int]) -> None:
        if self._ahead is None:
            self._ahead = ThreadPoolExecutor(max_workers=1, thread_name_prefix="kanim-relay-ahead")
        self._next = self._ahead.submit(self._prepare, limit, frozenset(in_flight))

    def _drop_next(self) -> None:
        """Forget the batch read ahead, once its read has finished: two reads never run at once,
        and none goes on after its relay has moved on or stopped."""
        future, self._next = self._next, None
        if future is not None:
            try:
                future.result()
            except Exception:  # noqa: BLE001, S110 - its result is not wanted; the log has its failure
                log.debug("link: a batch read ahead and dropped had failed", exc_info=True)

    def close(self) -> None:
        """Wait for a read ahead and stop its thread (the relay's loop ends, a one-off round)."""
        self._drop_next()
        if self._ahead is not None:
            self._ahead.shutdown(wait=True)
            self._ahead = None

    def _prepared(self, limit: int) -> _Batch | None:
        """The batch read ahead, if it is for this batch size and still what the queue allows:
        every row pending, and no unsent row before one of them in its application that it
        lacks (a dead letter retried meanwhile, say). Otherwise the round reads it again."""
        future, self._next = self._next, None
        if future is None:
            return None
        try:
            batch = future.result()
        except Exception:  # noqa: BLE001 - reading ahead is an optimisation: read it again now
            log.warning("link: reading the next batch ahead failed; reading it again", exc_info=True)
            return None
        if batch.limit != limit or not batch.rows:
            return None
        return batch if _still_sendable(self.office, batch.rows) else None

    def _operations(self, rows: list[Any], files: dict[str, list[Any]]) -> list[Operation]:
        """Rows as operations, within the byte budget of one request; a row that cannot be read
        (a vault file lost or tampered with) is parked with its reason and holds back only its
        own application."""
        budget = self.office.settings.link_max_body_bytes // 2
        ops, left_out, broken, size = [], set(), set(), 0
        for r in rows:
            if r.subject in left_out or r.subject in broken:
                continue  # an earlier row of its application is not in this batch
            n = estimated_size(self.office, r, files)
            if ops and size + n > budget:
                left_out.add(r.subject)  # the next batch takes it (images are decrypted only then)
                continue
            try:
                ops.append(to_operation(self.office, r, files))
            except VaultError as e:
                park(self.office, r.id, f"cannot be sent: {e}")
                broken.add(r.subject)
                continue
            size += n
        return [o for o in ops if o.subject not in broken]

    def _audit_biometrics(self, ops: list[Operation], files: dict[str, list[Any]], action: str) -> None:
        """One audit row per application whose captures these operations carry."""
        carried = {o.subject for o in ops if o.op == Op.BIOMETRICS_CAPTURED}
        if not carried:
            return
        with self.office.uow() as uow:
            for application_id in sorted(carried & set(files)):
                uow.audit(actor="link", action=action, subject=application_id,
                          detail={"items": len(files[application_id]), "purpose": "central registry"})
            uow.commit()

    def pull_round(self) -> int:
        total = 0
        while True:
            page = self.central.pull(after=inbox.cursor(self.office))
            counts = self._apply(page)
            if counts is None:
                return total  # kept colliding with the desks: the next round reads the page again
            total += sum(n for k, n in counts.items() if k not in ("blocked", "central_changed"))
            if "central_changed" in counts:
                continue
            if "blocked" in counts:
                return total  # the cursor waits on an event that does not verify (link status says why)
            if len(page.events) == 0 or page.last_seq is None or page.next_cursor >= page.last_seq:
                return total

    def _apply(self, page: InboxPage) -> dict[str, int] | None:
        """Apply a page; a desk may change one of its applications at the same moment (on
        PostgreSQL both transactions run at once and the later commit finds the version
        moved): the page is applied again on the fresh state, idempotent by event id."""
        for _ in range(3):
            try:
                return inbox.apply_page(self.office, page)
            except StaleDataError:
                continue
        log.warning("link: a page of the central's feed met concurrent desk changes three times; retried next round")
        return None

    def refresh_watchlist(self) -> None:
        """Fetch the signed snapshot when ours is older than the refresh interval."""
        s = self.office.settings
        with self.office.uow() as uow:
            last = inbox.get_state(uow, inbox.WATCHLIST_REFRESHED)
            now = uow.now()
        if last and now - datetime.fromisoformat(last) < timedelta(minutes=s.watchlist_refresh_minutes):
            return
        signed = self.central.watchlist()
        if signed is None:
            return
        try:
            inbox.load_signed_snapshot(self.office, signed)
            problem = ""
        except DomainError as e:  # refused: said in the log, the audit and `kanim link status`
            log.warning("watch-list snapshot refused: %s", e)
            problem = e.message
        with self.office.uow() as uow:
            inbox.set_state(uow, inbox.WATCHLIST_REFRESHED, now.isoformat())
            inbox.set_state(uow, inbox.WATCHLIST_PROBLEM, problem)
            if problem:
                uow.audit(actor="link", action="WatchlistSnapshotRefused", subject="watchlist", detail={"why": problem})
            uow.commit()

    def run_once(self) -> RoundResult:
        try:
            result = self.push_round()
            result.pulled = self.pull_round()
            if self.office.settings.central_public_key:
                self.refresh_watchlist()
        except CentralUnavailable as e:
            retry_after = getattr(e, "retry_after", None)
            if retry_after is not None:  # back-pressure: obey, it is not a failure of the link
                return RoundResult(throttled=float(retry_after), error=str(e))
            self._health(ok=False, reason=str(e))
            return RoundResult(error=str(e))
        self._health(ok=True, reason="")
        return result

    def next_wait(self, r: RoundResult) -> float:
        if r.throttled:
            return r.throttled
        if r.error:
            return max(0.2, self.breaker.delay())
        return 0.0 if r.more else self.office.settings.link_interval

    def run_forever(self, stop: threading.Event) -> None:
        """Run rounds until stopped, while this relay holds the office's relay lease: a second
        relay started by mistake (a `kanim worker` beside a server that runs one) stands by
        instead of racing the first, and takes over if the first one stops or dies."""
        lease = Lease(self.office)
        lease.keep(stop)
        standing_by = False
        try:
            while not stop.is_set():
                other = lease.hold()
                if other is not None:
                    if not standing_by:
                        log.info("another relay holds this office's link (%s); standing by", other)
                    standing_by = True
                    stop.wait(min(LEASE_SECONDS / 3, max(self.office.settings.link_interval, 1.0)))
                    continue
                if standing_by:
                    log.info("this relay now holds the office's link")
                standing_by = False
                try:
                    r = self.run_once()
                except Exception:  # a bug in one round must not stop the link; the outbox keeps the work
                    log.exception("link round failed")
                    r = RoundResult(error="internal error")
                if r.error:
                    log.warning("link %s: %s", self.breaker.state.value, r.error)
                stop.wait(self.next_wait(r))
        finally:
            self.close()  # no read of this relay goes on once another may hold the lease
            lease.release()

    def _health(self, *, ok: bool, reason: str) -> None:
        changed = self.breaker.success() if ok else self.breaker.failure()
        if hasattr(self.central, "link_state"):
            self.central.link_state = self.breaker.state.value  # type: ignore[attr-defined]
        if changed is not None:
            record_state_change(self.office, changed, reason)
        elif ok and not self.checked_incidents:
            # A new relay's breaker starts up: an incident a previous process left open (it was
            # stopped or killed while the link was down) is closed by the first round that works.
            close_open_incidents(self.office)
        self.checked_incidents = True


def _still_sendable(office: Office, rows: list[Any]) -> bool:
    c = t.outbox.c
    chosen = {r.seq for r in rows}
    last = {}
    for r in rows:
        last[r.subject] = max(last.get(r.subject, r.seq), r.seq)
    with office.uow(readonly=True) as uow:
        unsent = uow.session.execute(select(c.subject, c.seq, c.status)
                                     .where(c.subject.in_(sorted(last)), c.status != "sent")).all()
    pending = {u.seq for u in unsent if u.status == "pending"}
    return chosen <= pending and all(u.seq in chosen for u in unsent if u.seq <= last[u.subject])


def mark(office: Office, outcomes: list[OperationResult]) -> tuple[int, int, int]:
    sent = dead = retrying = 0
    with office.uow() as uow:
        now = uow.now()
        c = t.outbox.c
        ok_ids = [o.id for o in outcomes if o.ok]
        retried = {r.id: r.subject for r in uow.session.execute(
            select(c.id, c.subject).where(c.id.in_(ok_ids), c.retried_at.is_not(None)))} if ok_ids else {}
        for chunk in range(0, len(ok_ids), 500):  # one statement for the usual case: all went through
            sent += uow.session.execute(
                update(t.outbox).where(c.id.in_(ok_ids[chunk:chunk + 500]), c.status == "pending")
                .values(status="sent", sent_at=now, last_error=None, attempts=c.attempts + 1)).rowcount
        for op_id, subject in retried.items():
            _central_took_it_after_all(uow, op_id, subject)
        for o in outcomes:
            if o.ok:
                continue
            if o.permanent:
                values = dict(status="dead", last_error=o.error)
                dead += 1
                _central_refused(uow, o)
            else:
                attempts = uow.session.execute(select(c.attempts).where(c.id == o.id)).scalar() or 0
                values = dict(last_error=o.error, next_attempt_at=now + timedelta(seconds=retry_delay(attempts + 1)))
                retrying += 1
            uow.session.execute(update(t.outbox).where(c.id == o.id, c.status == "pending")
                                .values(attempts=c.attempts + 1, **values))
        uow.commit()
    return sent, dead, retrying


def park(office: Office, op_id: str, reason: str) -> None:
    """Make one row a dead letter, holding its application (as a refusal by the central does)."""
    with office.uow() as uow:
        uow.session.execute(update(t.outbox).where(t.outbox.c.id == op_id, t.outbox.c.status == "pending")
                            .values(status="dead", last_error=reason, attempts=t.outbox.c.attempts + 1))
        _central_refused(uow, OperationResult(op_id, ok=False, permanent=True, error=reason))
        uow.commit()


def _central_refused(uow: UnitOfWork, o: OperationResult) -> None:
    """The central refused an application's operation for good: the national registry does not
    hold what the office did, so the application must not reach the applicant. Its
    `recorded_centrally` clearance is flagged (on hold, a printed booklet voided), in the same
    transaction that parks the dead letter."""
    subject = uow.session.execute(select(t.outbox.c.subject).where(t.outbox.c.id == o.id)).scalar()
    if subject is None:
        return
    refusal = ClearanceDecision(id=o.id, application_id=subject, kind=ClearanceKind.RECORDED_CENTRALLY,
                                state=ClearanceState.FLAGGED, reason=f"not recorded centrally: {o.error}",
                                decided_at=uow.now())
    apply_decision(uow, refusal)  # "unknown_subject" for operations that are not an application's


def _central_took_it_after_all(uow: UnitOfWork, op_id: str, subject: str) -> None:
    """A dead letter staff retried was taken: the refusal that flagged `recorded_centrally` is
    void, so that flag is lifted (a supervisor still releases the hold: kanim.office.adjudication)."""
    lift = ClearanceDecision(id=f"{op_id}:taken", application_id=subject, kind=ClearanceKind.RECORDED_CENTRALLY,
                             state=ClearanceState.CONFIRMED, reason="the central took the retried operation",
                             decided_at=uow.now(), lifts_flag=True)
    apply_decision(uow, lift)


def record_state_change(office: Office, state: LinkState, reason: str) -> None:
    """Close the open incident; open a new one unless the link is up again."""
    with office.uow() as uow:
        now = uow.now()
        i = t.link_incident.c
        uow.session.execute(update(t.link_incident).where(i.ended_at.is_(None)).values(ended_at=now))
        if state is not LinkState.UP:
            uow.session.execute(t.link_incident.insert().values(state=state.value, reason=reason[:500], started_at=now))
        uow.audit(actor="link", action="LinkStateChanged", subject=state.value, detail={"reason": reason[:200]})
        uow.commit()


def close_open_incidents(office: Office) -> None:
    with office.uow() as uow:
        i = t.link_incident.c
        n = uow.session.execute(update(t.link_incident).where(i.ended_at.is_(None)).values(ended_at=uow.now())).rowcount
        if n:
            uow.audit(actor="link", action="LinkStateChanged", subject=LinkState.UP.value,
                      detail={"reason": "the link works again (an incident of an earlier relay is closed)"})
        uow.commit()


def sync_once(office: Office, central: Central) -> RoundResult:
    """One push-and-pull round with a fresh breaker (tests, the seed)."""
    relay = Relay(office, central)
    try:
        return relay.run_once()
    finally:
        relay.close()
