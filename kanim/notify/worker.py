"""The notification worker: takes the `notify` consumer's events through the rules, gives ready
passports their pickup slots, and sends the messages that are due (docs/notifications.md).

One worker per office (a lease, as the relay has), in a thread of `kanim serve` or on its own
(`kanim notify run`). A round:

1. the rules run on the queued events (kanim/office/notify.py), each event exactly once;
2. ready passports without a pickup slot get one (kanim/office/pickup_slots.py), and their
   "ready" messages are written with it;
3. due messages are sent, oldest first: each is claimed (`sending`) and committed before its
   send, and its outcome is committed as soon as the channel answers.

Where at-least-once remains: a worker killed after a channel accepted a message and before the
outcome's commit leaves it `sending`; the next worker to take the lease sends it again. At most
`notify_concurrency` messages are in flight, so a kill duplicates at most that many, and each of
them at most once per kill. (Email carries a Message-ID derived from the message, so a mail
client shows the copy as one message.)

Delivery rules kept here, because Apprise does not: retries with backoff while the provider
answers "later" (5xx, 429), for `notify_retry_minutes`; a channel that cannot be reached at all
(the office has no internet) is paused and its messages wait, in order, without using up their
retries; per-channel rate and daily cap; a per-recipient hourly cap; quiet hours in the office's
zone except for urgent notices; fallback to the applicant's next channel when one fails for good.
"""

from __future__ import annotations

import logging
import threading
import time as _time
from collections import deque
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor
from concurrent.futures import wait as futures_wait
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import and_, bindparam, func, or_, select, update

from kanim.bootstrap import Office
from kanim.clock import local_date
from kanim.domain.contact import Channel
from kanim.domain.errors import InvalidInput
from kanim.link.lease import Lease
from kanim.notify import alerts
from kanim.notify.purposes import Purpose, State
from kanim.office import notify
from kanim.store import fanout
from kanim.store import tables as t
from kanim.store.uow import UnitOfWork

log = logging.getLogger(__name__)

LEASE = "notify_lease"
BATCH = 200
RETRY_STEPS = (30, 60, 120, 300)  # seconds; then every 5 minutes, as GOV.UK Notify does
PAUSE_MAX = 300.0  # an unreachable channel is tried again at least this often
UNREACHABLE_PROBE = 5.0  # the first look again at a channel not reached at all (costs nothing to try)
# Transport reasons that mean the channel itself was not reached (no internet, gateway off):
# nothing is wrong with the message, so waiting costs it none of its retries.
UNREACHABLE = ("unreachable", "timeout", "connection", "dns")
# "Later" about one recipient, not the channel: too many messages to that one number, or Meta
# holding back that one message. Only that message waits; the channel goes on for the others.
ONE_RECIPIENT = ("whatsapp-131056-", "whatsapp-131049-")


@dataclass
class RoundResult:
    events: int = 0
    scheduled: int = 0
    sent: int = 0
    failed: int = 0
    cancelled: int = 0
    alerts: int = 0  # alerts to the office's staff, sent or settled

    @property
    def busy(self) -> bool:
        return bool(self.events or self.scheduled or self.sent or self.failed or self.cancelled or self.alerts)


@dataclass
class _Limits:
    """The worker's counters, in memory: rebuilt from the database when a worker starts."""

    tokens: dict[str, float] = field(default_factory=dict)
    refilled: dict[str, float] = field(default_factory=dict)
    today: dict[tuple[str, str], int] = field(default_factory=dict)
    recent: dict[str, deque[datetime]] = field(default_factory=dict)
    paused: dict[str, tuple[datetime, float]] = field(default_factory=dict)  # channel -> (until, last wait)
    unreachable_since: dict[str, datetime] = field(default_factory=dict)  # channel -> its first miss


def transport_for(office: Office):  # noqa: ANN201 - a kanim.notify.transport.Transport
    from kanim.notify.transport import AppriseTransport

    s = office.settings
    urls = {Channel.WHATSAPP: s.notify_whatsapp_url, Channel.SMS: s.notify_sms_url, Channel.EMAIL: s.notify_email_url,
            Channel.TELEGRAM: s.notify_telegram_url}
    return AppriseTransport({c: u for c, u in urls.items() if u}, office_url=s.notify_office_url,
                            social_urls=s.social_urls, timeout=s.notify_timeout)


class Worker:
    def __init__(self, office: Office, transport: Any = None, *, holder: str | None = None,
                 schedule: Callable[[Office], int] | None = None) -> None:
        self.office = office
        self.settings = office.settings
        self.transport = transport if transport is not None else transport_for(office)
        self.handle = notify.handler(office.settings)
        self.lease = Lease(office, holder, name=LEASE)
        self.limits = _Limits()
        self.schedule = schedule if schedule is not None else _default_schedule
        self.pool = ThreadPoolExecutor(office.settings.notify_concurrency, thread_name_prefix="kanim-notify-send")

    # -- the loop ------------------------------------------------------------------------------

    def run_forever(self, stop: threading.Event) -> None:
        self.lease.keep(stop)
        try:
            while not stop.is_set():
                other = self.lease.hold()
                if other is not None:
                    stop.wait(min(self.settings.notify_interval * 5, 10))
                    continue
                try:
                    r = self.run_once()
                except Exception:  # noqa: BLE001 - a round's failure (the database away) is retried
                    log.exception("notification round failed")
                    r = RoundResult()
                if not r.busy:
                    stop.wait(self.settings.notify_interval)
        finally:
            self.pool.shutdown(wait=True)
            self.lease.release()

    def run_once(self) -> RoundResult:
        # Only the lease's holder sends, so a message `sending` under another name was left by a
        # worker that stopped holding it (killed, or it lost the lease): back in line, every round.
        stale, idle = self._look()
        if stale:
            recover_interrupted(self.office, self.lease.holder)
        r = RoundResult()
        if idle and not stale:
            return r
        # Each step on its own: a fault in one (a pickup bug, say) holds back none of the others,
        # above all not the messages already written.
        r.events = self._step("rules", lambda: fanout.take(self.office.uow, notify.CONSUMER.name, self.handle), 0)
        r.scheduled = self._step("pickup schedule", lambda: self.schedule(self.office), 0)
        self._step("sending", lambda: self._send_due(r), None)
        self._step("office alerts", lambda: self._send_alerts(r), None)
        return r

    def _step(self, name: str, step: Callable[[], Any], failed: Any) -> Any:
        try:
            return step()
        except Exception:  # noqa: BLE001 - logged with its traceback (codes and ids only), retried next round
            log.exception("notification round: the %s step failed", name)
            return failed

    def drain(self, *, rounds: int = 10_000) -> RoundResult:
        """Rounds until nothing is due (tests, the demo's scenario, the bench)."""
        total = RoundResult()
        for _ in range(rounds):
            r = self.run_once()
            for k in ("events", "scheduled", "sent", "failed", "cancelled", "alerts"):
                setattr(total, k, getattr(total, k) + getattr(r, k))
            if not r.busy:
                break
        return total

    def _look(self) -> tuple[bool, bool]:
        """(messages left `sending` by another worker, nothing for any step), in one read
        without SQLite's write lock: an idle office's worker takes that lock not at all."""
        from kanim.office.pickup_slots import anything_to_place

        m = t.notify_message.c
        with self.office.uow(readonly=True) as uow:
            now = uow.now()
            stale = uow.session.execute(select(m.seq).where(
                m.state == State.SENDING.value, or_(m.claimed_by.is_(None), m.claimed_by != self.lease.holder))
                .limit(1)).first() is not None
            events = fanout.due(uow, notify.CONSUMER.name, 1)
            due = uow.session.execute(self._due_stmt(now).limit(1)).first()
            alert = uow.session.execute(alerts.due_stmt(now).limit(1)).first()
            return stale, not events and due is None and alert is None and not anything_to_place(self.office, uow)

    # -- sending -------------------------------------------------------------------------------

    def _send_due(self, r: RoundResult) -> None:
        """Settle what can be settled without a send (cancelled, deferred, unrenderable) in one
        transaction; then send the rest through a window of `notify_concurrency` sends: each
        claimed just before its send and recorded as soon as its channel answers, so that a
        kill finds at most that many messages `sending`. One message per address is in flight
        at a time, and a channel that answers "later" sends nothing more this round: nothing
        overtakes a message that waits."""
        with self.office.uow() as uow:
            now = uow.now()
            rows = self._due(uow, now)
            known = _Known.read(uow, rows)
            jobs = [job for row in rows if (job := self._prepare(uow, row, now, r, known)) is not None]
            uow.commit()
        window = self.settings.notify_concurrency
        in_flight: dict[Future, dict[str, Any]] = {}
        busy_addresses: set[str] = set()
        held_channels: set[str] = set()
        queue = list(jobs)
        finished: list[tuple[dict[str, Any], Any]] = []
        while True:
            batch = self._next(queue, window - len(in_flight), busy_addresses, held_channels)
            # One transaction records what answered and claims what goes next: the claims are
            # committed before their sends, as before, with half the commits.
            for job in self._record_and_claim(finished, batch, r):
                self._take_token(job["channel"])
                busy_addresses.add(job["address"])
                in_flight[self.pool.submit(self._send, job)] = job
            if not in_flight:
                break  # what is left waits behind a held channel or a busy address: next round
            finished = self._settle(in_flight, busy_addresses, held_channels)

    def _next(self, queue: list[dict[str, Any]], room: int, busy: set[str], held: set[str]) -> list[dict[str, Any]]:
        """Up to `room` jobs off the front of the queue that may go now, in order; a job on a
        held channel, or to an address that reached its hourly cap in this round, is dropped
        for this round (it stays `created`, first in line next time; the next round defers it
        to its moment), one for an address already in flight waits for it."""
        batch: list[dict[str, Any]] = []
        cap = self.settings.notify_recipient_hourly_cap
        i = 0
        while i < len(queue) and len(batch) < room:
            job = queue[i]
            if job["channel"] in held or len(self.limits.recent.get(job["address"], ())) >= cap:
                queue.pop(i)
            elif job["address"] in busy or any(j["address"] == job["address"] for j in batch):
                i += 1
            else:
                batch.append(queue.pop(i))
        return batch

    def _settle(self, in_flight: dict[Future, dict[str, Any]], busy: set[str], held: set[str]) -> list[tuple[dict[str, Any], Any]]:
        """The sends that have answered, as soon as one has."""
        from kanim.notify.transport import Outcome

        done, _ = futures_wait(list(in_flight), return_when=FIRST_COMPLETED)
        finished = []
        for fut in done:
            job = in_flight.pop(fut)
            result = fut.result()
            busy.discard(job["address"])
            if result.outcome is Outcome.TEMPORARY and not result.reason.startswith(ONE_RECIPIENT):
                held.add(job["channel"])
            finished.append((job, result))
        return finished

    def _record_and_claim(self, finished: list[tuple[dict[str, Any], Any]], jobs: list[dict[str, Any]],
                          r: RoundResult) -> list[dict[str, Any]]:
        """The outcomes of `finished`, and `jobs` made `sending`, in one transaction committed
        before the sends: the messages a kill may leave behind (never more than the window)."""
        if not (finished or jobs):
            return []
        with self.office.uow() as uow:
            now = uow.now()
            if finished:
                self._record_into(uow, finished, now, r)
            claimed = self._claim_into(uow, jobs, now) if jobs else []
            uow.session.commit()  # bookkeeping of sends: each message's own history is its audit
        for job in claimed:
            self._count(job["channel"], job["address"], now, +1)
        return claimed

    def _claim_into(self, uow: UnitOfWork, jobs: list[dict[str, Any]], now: datetime) -> list[dict[str, Any]]:
        m = t.notify_message.c
        # No IN (...) here: an executemany cannot expand one.
        waiting = or_(m.state == State.CREATED.value, m.state == State.TEMPORARY_FAILURE.value)
        claimed = uow.session.execute(
            update(t.notify_message)
            .where(m.id == bindparam("b_id"), waiting)
            .values(state=State.SENDING.value, claimed_by=self.lease.holder, template=bindparam("b_template"),
                    version=bindparam("b_version"), updated_at=now)
            .execution_options(synchronize_session=False),
            [{"b_id": j["id"], "b_template": j["rendered"].template, "b_version": j["rendered"].version} for j in jobs]
        ).rowcount
        if claimed == len(jobs):
            return jobs
        # Some changed since they were read (an opt-out cancelled one): only those now ours go.
        ours = set(uow.session.scalars(select(m.id).where(m.id.in_([j["id"] for j in jobs]),
                                                          m.state == State.SENDING.value,
                                                          m.claimed_by == self.lease.holder)))
        return [j for j in jobs if j["id"] in ours]

    def _due(self, uow: UnitOfWork, now: datetime) -> list[Any]:
        return list(uow.session.execute(self._due_stmt(now).limit(BATCH)))

    def _due_stmt(self, now: datetime):  # noqa: ANN202 - a Select
        """The messages a round may send now, oldest first: due, on a channel not paused, and
        in quiet hours only the urgent ones."""
        m = t.notify_message.c
        stmt = (select(m.id, m.purpose, m.application_id, m.channel, m.address, m.fallbacks, m.language, m.params,
                       m.attempts, m.urgent, m.first_failed_at)
                .where(m.state.in_((State.CREATED.value, State.TEMPORARY_FAILURE.value)),
                       or_(m.not_before.is_(None), m.not_before <= now),
                       or_(m.next_attempt_at.is_(None), m.next_attempt_at <= now))
                .order_by(m.seq))
        paused = [c for c, (until, _) in self.limits.paused.items() if until > now]
        if paused:
            stmt = stmt.where(m.channel.not_in(paused))
        if in_quiet_hours(self.settings, now):
            stmt = stmt.where(m.urgent.is_(True))
        return stmt

    def _prepare(self, uow: UnitOfWork, row: Any, now: datetime, r: RoundResult, known: _Known) -> dict[str, Any] | None:
        """Render one due message for sending, or settle it here: cancelled (no longer true,
        opted out), deferred (a cap), or moved to its next channel (it cannot be rendered)."""
        purpose = Purpose(row.purpose)
        why = None
        if row.application_id is not None:
            why = notify.why_not(purpose, known.facts.get(row.application_id), known.slots.get(row.application_id),
                                 row.params)
        if why is None and row.address in known.opted_out:
            why = "opted-out"
        if why is not None:
            _set(uow, row.id, now, state=State.CANCELLED.value, reason=why)
            r.cancelled += 1
            return None
        if (until := self._capped(uow, row.channel, row.address, now)) is not None:
            _set(uow, row.id, now, next_attempt_at=until)
            return None
        try:
            rendered = _render(purpose, row.channel, row.language, row.params)
        except (ValueError, KeyError, InvalidInput) as exc:  # too long for two SMS, a setting missing
            why = getattr(exc, "code", None) or type(exc).__name__
            self._give_up(uow, row, now, State.TECHNICAL_FAILURE, f"render-{why}"[:120], r)
            return None
        return {"id": row.id, "channel": row.channel, "address": row.address, "rendered": rendered, "row": row}

    def _send(self, job: dict[str, Any]) -> Any:
        from kanim.notify.transport import Outcome, SendResult

        try:
            return self.transport.send(Channel(job["channel"]), job["address"], job["rendered"], message_id=job["id"])
        except Exception as exc:  # noqa: BLE001 - a transport that raises is a technical failure, not a crash
            return SendResult(Outcome.TECHNICAL, None, f"transport-{type(exc).__name__}")

    def _record_into(self, uow: UnitOfWork, finished: list[tuple[dict[str, Any], Any]], now: datetime,
                     r: RoundResult) -> None:
        """Every attempt, and the accepted ones (nearly all of a drain) in one statement each."""
        from kanim.notify.transport import Outcome

        uow.session.execute(t.notify_attempt.insert(), [
            {"message_id": job["id"], "channel": job["channel"], "at": now, "outcome": result.outcome.value,
             "reason": result.reason or "", "provider_ref": result.provider_ref} for job, result in finished])
        accepted = [(job["row"], result) for job, result in finished if result.outcome is Outcome.ACCEPTED]
        if accepted:
            m = t.notify_message.c
            uow.session.execute(
                update(t.notify_message).where(m.id == bindparam("b_id"))
                .values(state=State.SENT.value, sent_at=now, provider_ref=bindparam("b_ref"),
                        attempts=bindparam("b_attempts"), claimed_by=None, reason=None, updated_at=now)
                .execution_options(synchronize_session=False),
                [{"b_id": row.id, "b_ref": res.provider_ref, "b_attempts": row.attempts + 1} for row, res in accepted])
            self._accepted(uow, accepted, r)
        for job, result in finished:
            if result.outcome is not Outcome.ACCEPTED:
                self._outcome(uow, job["row"], result, now, r)

    def _accepted(self, uow: UnitOfWork, accepted: list[tuple[Any, Any]], r: RoundResult) -> None:
        refs = [res.provider_ref for _, res in accepted if res.provider_ref]
        e = t.notify_receipt_early.c
        early = set(uow.session.scalars(select(e.provider_ref).where(e.provider_ref.in_(refs)))) if refs else set()
        for ref in early:  # receipts that outran this commit (rare): applied now
            notify.apply_early_receipts(uow, ref)
        for channel in {row.channel for row, _ in accepted}:
            self._resume(channel)
            if self.limits.unreachable_since.pop(channel, None) is not None:
                alerts.raise_back(uow, channel)
        r.sent += len(accepted)

    def _outcome(self, uow: UnitOfWork, row: Any, result: Any, now: datetime, r: RoundResult) -> None:
        """A send the channel did not accept (its attempt is written by `_record_into`)."""
        from kanim.notify.transport import Outcome

        self._count(row.channel, row.address, now, -1)
        if result.outcome is Outcome.TEMPORARY:
            self._retry(uow, row, now, result.reason, r)
        else:
            final = State.PERMANENT_FAILURE if result.outcome is Outcome.PERMANENT else State.TECHNICAL_FAILURE
            self._give_up(uow, row, now, final, result.reason, r)

    def _retry(self, uow: UnitOfWork, row: Any, now: datetime, reason: str, r: RoundResult) -> None:
        unreachable = reason.startswith(UNREACHABLE)
        attempts = row.attempts if unreachable else row.attempts + 1
        wait = UNREACHABLE_PROBE if unreachable else RETRY_STEPS[min(attempts, len(RETRY_STEPS)) - 1]
        # The retry window measures how long the provider kept saying "later"; time without any
        # connection is not its answer, and counts for nothing.
        first = row.first_failed_at if unreachable else (row.first_failed_at or now)
        if not unreachable and now - first >= timedelta(minutes=self.settings.notify_retry_minutes):
            self._give_up(uow, row, now, State.TECHNICAL_FAILURE, f"retries-exhausted:{reason}"[:120], r)
            return
        if reason.startswith(ONE_RECIPIENT):
            until = now + timedelta(seconds=wait)  # this message alone waits
        else:
            until = self._pause(row.channel, now, float(wait))
        if unreachable:
            self._unreachable(uow, row.channel, reason, now)
        _set(uow, row.id, now, state=State.TEMPORARY_FAILURE.value, attempts=attempts, reason=reason,
             first_failed_at=first, next_attempt_at=until, claimed_by=None)
        r.failed += 1

    def _give_up(self, uow: UnitOfWork, row: Any, now: datetime, final: State, reason: str, r: RoundResult) -> None:
        """This channel is done with the message: on to the applicant's next channel, or final."""
        r.failed += 1
        if final is State.TECHNICAL_FAILURE:  # the office's setup, not the applicant's address: staff must act
            kind = alerts.Kind.TEMPLATE_FAILED if reason.startswith("render-") else alerts.Kind.CHANNEL_REFUSED
            alerts.raise_alert(uow, kind, row.channel, {"channel": row.channel, "reason": reason})
        if row.fallbacks:
            (channel, address), rest = row.fallbacks[0], row.fallbacks[1:]
            if notify.opted_out(uow, address):
                rest = []
            _set(uow, row.id, now, state=State.CREATED.value, channel=channel, address=address, fallbacks=rest,
                 attempts=0, first_failed_at=None, next_attempt_at=None, claimed_by=None,
                 reason=f"fallback-from-{row.channel}:{reason}"[:120])
            return
        _set(uow, row.id, now, state=final.value, reason=reason, claimed_by=None)

    def _unreachable(self, uow: UnitOfWork, channel: str, reason: str, now: datetime) -> None:
        """Staff hear of a channel not reached for a couple of minutes (a blip is not news)."""
        since = self.limits.unreachable_since.setdefault(channel, now)
        if now - since >= alerts.UNREACHABLE_ALERT_AFTER:
            local = since.astimezone(ZoneInfo(self.settings.timezone))
            alerts.raise_alert(uow, alerts.Kind.CHANNEL_UNREACHABLE, channel,
                               {"channel": channel, "reason": reason, "since": f"{local:%H:%M} ({local:%d-%m-%Y})"})

    # -- the office's own alerts ----------------------------------------------------------------

    def _send_alerts(self, r: RoundResult) -> None:
        """Alerts to the office's staff, one at a time (a handful a day), each recorded as it is
        answered; without an office URL each is settled `not-configured` (the console lists it)."""
        with self.office.uow(readonly=True) as uow:
            due = list(uow.session.execute(alerts.due_stmt(uow.now()).limit(20)))
        for row in due:
            text = alerts.text(row.kind, row.params, self.settings.office_name)
            send_office = getattr(self.transport, "send_office", None)
            if row.kind == alerts.Kind.SOCIAL_POST:  # the same sender, to the social channel the row names
                social = getattr(self.transport, "send_social", None)
                n = int(row.subject.partition(":")[2] or 0)
                send_office = (lambda title, body, *, message_id: social(n, title, body, message_id=message_id)
                               ) if social else None
            try:
                result = send_office(text.title, text.body, message_id=row.id) if send_office else None
            except Exception as exc:  # noqa: BLE001 - a transport that raises is a technical failure
                result = None
                reason = f"transport-{type(exc).__name__}"
            else:
                reason = result.reason if result is not None else "not-configured"
            outcome = result.outcome.value if result is not None else "technical"
            with self.office.uow() as uow:
                alerts.record(uow, row.id, attempts=row.attempts, created_at=row.created_at, outcome=outcome,
                              reason=reason)
                uow.session.commit()  # bookkeeping of a send, as the applicants' messages
            r.alerts += 1

    # -- limits --------------------------------------------------------------------------------

    def _pause(self, channel: str, now: datetime, wait: float) -> datetime:
        """Pause a channel that said "later" (or did not answer): doubling per round it keeps
        failing, up to PAUSE_MAX; several failures of one round pause it once."""
        until, last = self.limits.paused.get(channel, (now, 0.0))
        if until > now:
            return until
        wait = min(max(wait, last * 2 if last else wait), PAUSE_MAX)
        until = now + timedelta(seconds=wait)
        self.limits.paused[channel] = (until, wait)
        return until

    def _resume(self, channel: str) -> None:
        self.limits.paused.pop(channel, None)

    def _capped(self, uow: UnitOfWork, channel: str, address: str, now: datetime) -> datetime | None:
        """When the message may go at the earliest, if a cap stops it now."""
        day = local_date(now, self.settings.timezone).isoformat()
        if (channel, day) not in self.limits.today:
            self.limits.today[(channel, day)] = _sent_since(uow, channel, _local_midnight(now, self.settings.timezone))
        if self.limits.today[(channel, day)] >= self.settings.notify_daily_cap:
            return _local_midnight(now, self.settings.timezone) + timedelta(days=1)
        recent = self.limits.recent.get(address)
        if recent is None:
            recent = self.limits.recent[address] = deque(sorted(_sent_to_since(uow, address, now - timedelta(hours=1))))
        while recent and recent[0] <= now - timedelta(hours=1):
            recent.popleft()
        if len(recent) >= self.settings.notify_recipient_hourly_cap:
            return recent[0] + timedelta(hours=1)
        return None

    def _count(self, channel: str, address: str, now: datetime, step: int) -> None:
        """The caps count what was sent: a claim counts at once (sends in flight are not
        over-booked), a send the channel did not accept is taken back."""
        day = local_date(now, self.settings.timezone).isoformat()
        self.limits.today[(channel, day)] = self.limits.today.get((channel, day), 0) + step
        recent = self.limits.recent.setdefault(address, deque())
        if step > 0:
            recent.append(now)
        elif recent:
            recent.pop()

    def _take_token(self, channel: str) -> None:
        """Per-channel rate: a token bucket of one second's worth; waits when it is empty."""
        rate = self.settings.notify_rate_per_second
        while True:
            clock = _time.monotonic()
            tokens = min(rate, self.limits.tokens.get(channel, rate) + (clock - self.limits.refilled.get(channel, clock)) * rate)
            self.limits.refilled[channel] = clock
            if tokens >= 1:
                self.limits.tokens[channel] = tokens - 1
                return
            self.limits.tokens[channel] = tokens
            _time.sleep((1 - tokens) / rate)


def in_quiet_hours(settings: Any, now: datetime) -> bool:
    """The office's quiet hours, in its own zone (start == end: never quiet)."""
    local = now.astimezone(ZoneInfo(settings.timezone)).time()
    start, end = settings.notify_quiet_start, settings.notify_quiet_end
    return (start <= local or local < end) if start > end else (start <= local < end)


@dataclass
class _Known:
    """What a round's `_prepare` reads of its messages' applications, once for all of them."""

    facts: dict[str, Any]
    slots: dict[str, tuple[str, str]]
    opted_out: set[str]

    @classmethod
    def read(cls, uow: UnitOfWork, rows: list[Any]) -> _Known:
        ids = sorted({row.application_id for row in rows if row.application_id is not None})
        with_slots = sorted({row.application_id for row in rows
                             if row.application_id is not None and Purpose(row.purpose) in notify.SLOT_PURPOSES})
        return cls(facts=notify.load_facts_many(uow, ids), slots=notify.pickup_slots_of(uow, with_slots),
                   opted_out=notify.opted_out_among(uow, {row.address for row in rows}))


def _default_schedule(office: Office) -> int:
    from kanim.office import pickup_slots

    return pickup_slots.schedule(office)


def _render(purpose: Purpose, channel: str, language: str, params: dict[str, Any]) -> Any:
    """The message as its channel carries it. An SMS that its links make longer than two
    segments goes without them: the applicant can still reply, or call the office."""
    from kanim.notify.render import LINKS, MessageTooLong, render

    values = notify.decode_params(params)
    try:
        return render(purpose, Channel(channel), language, values)
    except MessageTooLong:
        links = [k for k in LINKS if values.get(k)]
        if not links:
            raise
        return render(purpose, Channel(channel), language, {**values, **dict.fromkeys(links)})


def _set(uow: UnitOfWork, message_id: str, now: datetime, **values: Any) -> None:
    uow.session.execute(update(t.notify_message).where(t.notify_message.c.id == message_id)
                        .values(updated_at=now, **values))


def _attempt(uow: UnitOfWork, message_id: str, channel: str, at: datetime, outcome: str, reason: str,
             provider_ref: str | None) -> None:
    uow.session.execute(t.notify_attempt.insert().values(message_id=message_id, channel=channel, at=at,
                                                         outcome=outcome, reason=reason or "",
                                                         provider_ref=provider_ref))


def _local_midnight(now: datetime, tz: str) -> datetime:
    local = now.astimezone(ZoneInfo(tz))
    return local.replace(hour=0, minute=0, second=0, microsecond=0)


def _sent_since(uow: UnitOfWork, channel: str, since: datetime) -> int:
    a = t.notify_attempt.c
    return uow.session.scalar(select(func.count()).where(a.channel == channel, a.at >= since,
                                                         a.outcome == "accepted")) or 0


def _sent_to_since(uow: UnitOfWork, address: str, since: datetime) -> list[datetime]:
    m = t.notify_message.c
    return list(uow.session.scalars(select(m.sent_at).where(m.address == address, m.sent_at >= since)))


def recover_interrupted(office: Office, holder: str) -> int:
    """Messages a previous worker claimed and never settled (it was killed mid-send) go back
    in line: the one place where a message may reach its applicant twice (see the docstring)."""
    m = t.notify_message.c
    with office.uow() as uow:
        now = uow.now()
        rows = uow.session.execute(select(m.id, m.channel).where(
            m.state == State.SENDING.value, or_(m.claimed_by.is_(None), m.claimed_by != holder))).all()
        ids = [r.id for r in rows]
        for r in rows:
            _attempt(uow, r.id, r.channel, now, "interrupted", "worker-stopped-mid-send", None)
        if ids:
            uow.session.execute(update(t.notify_message).where(and_(m.id.in_(ids)))
                                .values(state=State.CREATED.value, claimed_by=None, updated_at=now))
        uow.session.commit()
    if ids:
        log.warning("notification worker: %d message(s) interrupted mid-send go out again", len(ids))
    return len(ids)
