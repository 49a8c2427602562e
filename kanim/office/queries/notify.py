"""What staff read of the notifications: the queue by state and channel, the failures, each
message's history, the rules, and the events still waiting for the rules (`kanim notify status`,
the console's notifications desk). Contact data only masked; message bodies never."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, or_, select

from kanim.bootstrap import Office
from kanim.domain.contact import masked
from kanim.domain.errors import NotFound
from kanim.link.lease import relay_holder
from kanim.notify.purposes import Purpose, State
from kanim.notify import alerts
from kanim.notify.worker import LEASE, in_quiet_hours
from kanim.office.notify import CONSUMER
from kanim.store import fanout
from kanim.store import tables as t
from kanim.store.uow import UnitOfWork

FAILED = (State.PERMANENT_FAILURE.value, State.TECHNICAL_FAILURE.value, State.TEMPORARY_FAILURE.value)


@dataclass(frozen=True)
class Failure:
    """A message that failed on its channel, newest first: what the console links to a history."""

    id: str
    application_id: str | None
    number: str | None
    purpose: str
    channel: str
    to: str  # masked
    state: str
    reason: str | None
    at: datetime

    def as_dict(self) -> dict[str, Any]:
        return {"id": self.id, "number": self.number, "purpose": self.purpose, "channel": self.channel,
                "to": self.to, "state": self.state, "reason": self.reason, "at": _iso(self.at)}


@dataclass(frozen=True)
class NotifyStatus:
    by_state: dict[str, int]
    by_channel_state: dict[tuple[str, str], int]
    events_queued: int
    events_dead: int
    oldest_event_at: datetime | None
    oldest_waiting_at: datetime | None
    worker: str | None
    failed: list[Failure]
    waits: dict[str, int]  # why the waiting wait: quiet_hours, reminder (its moment), retry (backoff)
    quiet_now: bool  # the office's quiet hours: only urgent notices go out
    quiet_hours: str  # "21:00-07:00" in the office's zone
    alerts: list[dict[str, Any]]  # the newest alerts to the office's staff

    @property
    def waiting(self) -> int:
        return sum(n for s, n in self.by_state.items() if State(s).waiting)

    @property
    def failures(self) -> list[dict[str, Any]]:
        """The failures as the API and the CLI give them (times as ISO text)."""
        return [f.as_dict() for f in self.failed]

    def as_dict(self) -> dict[str, Any]:
        return {"by_state": self.by_state,
                "by_channel": [{"channel": c, "state": s, "count": n} for (c, s), n in sorted(self.by_channel_state.items())],
                "waiting": self.waiting, "events_queued": self.events_queued, "events_dead": self.events_dead,
                "oldest_event_at": _iso(self.oldest_event_at), "oldest_waiting_at": _iso(self.oldest_waiting_at),
                "worker": self.worker, "failures": self.failures, "waits": self.waits, "quiet_now": self.quiet_now,
                "quiet_hours": self.quiet_hours,
                "alerts": [{**a, "created_at": _iso(a["created_at"]), "sent_at": _iso(a["sent_at"])} for a in self.alerts]}


def status(office: Office, *, failures: int = 20) -> NotifyStatus:
    m = t.notify_message.c
    with office.uow(readonly=True) as uow:
        rows = uow.session.execute(select(m.channel, m.state, func.count()).group_by(m.channel, m.state)).all()
        by_state: dict[str, int] = {}
        for _, state, n in rows:
            by_state[state] = by_state.get(state, 0) + n
        queue = fanout.status(uow, CONSUMER.name)
        oldest = uow.session.scalar(select(func.min(m.created_at)).where(
            m.state.in_((State.CREATED.value, State.TEMPORARY_FAILURE.value, State.SENDING.value))))
        failed = _failures(uow, failures)
        now = uow.now()
        worker = relay_holder(uow, now, LEASE)
        quiet = in_quiet_hours(office.settings, now)
        waits = _waits(uow, now, quiet)
        recent_alerts = [_alert(a) for a in alerts.recent(uow)]
    s = office.settings
    return NotifyStatus(
        by_state=by_state, by_channel_state={(c, s): n for c, s, n in rows},
        events_queued=queue.queued, events_dead=queue.dead, oldest_event_at=queue.oldest_at,
        oldest_waiting_at=oldest, worker=worker, failed=failed, waits=waits, quiet_now=quiet,
        quiet_hours=f"{s.notify_quiet_start:%H:%M}-{s.notify_quiet_end:%H:%M}", alerts=recent_alerts)


def _waits(uow: UnitOfWork, now: datetime, quiet: bool) -> dict[str, int]:
    """Why the waiting messages wait, so that staff can tell a queue held by quiet hours or
    reminders not yet due from one that is stuck."""
    m = t.notify_message.c
    waiting = m.state.in_((State.CREATED.value, State.TEMPORARY_FAILURE.value))
    later = uow.session.scalar(select(func.count()).where(waiting, m.not_before > now)) or 0
    retry = uow.session.scalar(select(func.count()).where(waiting, m.next_attempt_at > now)) or 0
    held = 0
    if quiet:
        held = uow.session.scalar(select(func.count()).where(
            waiting, m.urgent.is_(False), or_(m.not_before.is_(None), m.not_before <= now),
            or_(m.next_attempt_at.is_(None), m.next_attempt_at <= now))) or 0
    return {"quiet_hours": held, "reminder": later, "retry": retry}


def _alert(row: Any) -> dict[str, Any]:
    params = row.params or {}
    # a backup alert's subject is a key (kanim/backup/watch.py); what staff read is the target
    target = params.get("channel") if row.kind == "backup_warning" else None
    return {"kind": row.kind, "channel": row.subject, "target": target, "reason": params.get("reason") or row.reason,
            "state": row.state, "send_reason": row.reason, "created_at": row.created_at, "sent_at": row.sent_at}


def _failures(uow: UnitOfWork, limit: int) -> list[Failure]:
    m = t.notify_message.c
    rows = uow.session.execute(
        select(m.id, m.application_id, m.purpose, m.channel, m.address, m.state, m.reason, m.updated_at,
               t.application.c.number)
        .select_from(t.notify_message.outerjoin(t.application, t.application.c.id == m.application_id))
        .where(m.state.in_(FAILED)).order_by(m.updated_at.desc()).limit(limit)).all()
    return [Failure(id=f.id, application_id=f.application_id, number=f.number, purpose=f.purpose, channel=f.channel,
                    to=masked(f.address), state=f.state, reason=f.reason, at=f.updated_at) for f in rows]


# -- one applicant's messages --------------------------------------------------------------------

@dataclass(frozen=True)
class Attempt:
    channel: str
    at: datetime | None
    outcome: str  # accepted | temporary | permanent | technical | interrupted | receipt:<status>
    reason: str | None


@dataclass(frozen=True)
class Message:
    id: str
    purpose: str
    channel: str
    to: str  # masked
    state: str
    reason: str | None
    template: str | None  # set once rendered
    version: int | None
    language: str
    created_at: datetime | None
    sent_at: datetime | None
    delivered_at: datetime | None
    read_at: datetime | None
    not_before: datetime | None
    attempts: list[Attempt]

    def as_dict(self) -> dict[str, Any]:
        out = asdict(self)
        for key in ("created_at", "sent_at", "delivered_at", "read_at", "not_before"):
            out[key] = _iso(out[key])
        out["attempts"] = [{**a, "at": _iso(a["at"])} for a in out["attempts"]]
        return out


@dataclass(frozen=True)
class History:
    """Every message to one application's applicant, oldest first."""

    application_id: str
    number: str
    messages: list[Message]


def history(office: Office, *, application_id: str) -> list[dict[str, Any]]:
    """Every message to one application's applicant, each with its attempts, oldest first."""
    with office.uow(readonly=True) as uow:
        return [x.as_dict() for x in _messages(uow, application_id)]


def history_of(office: Office, application: str) -> History:
    """The history of the application with this number (or id); NotFound otherwise."""
    a = t.application.c
    with office.uow(readonly=True) as uow:
        found = uow.session.execute(select(a.id, a.number).where(or_(a.number == application, a.id == application))
                                    ).first()
        if found is None:
            raise NotFound(f"no application {application} at this office", code="application-not-found")
        return History(found.id, found.number, _messages(uow, found.id))


def _messages(uow: UnitOfWork, application_id: str) -> list[Message]:
    m = t.notify_message.c
    rows = uow.session.execute(select(m.id, m.purpose, m.channel, m.address, m.state, m.reason, m.template, m.version,
                                      m.language, m.created_at, m.sent_at, m.delivered_at, m.read_at, m.not_before)
                               .where(m.application_id == application_id).order_by(m.seq)).all()
    tries = _attempts(uow, [x.id for x in rows])
    return [Message(id=x.id, purpose=x.purpose, channel=x.channel, to=masked(x.address), state=x.state,
                    reason=x.reason, template=x.template, version=x.version, language=x.language,
                    created_at=x.created_at, sent_at=x.sent_at, delivered_at=x.delivered_at, read_at=x.read_at,
                    not_before=x.not_before, attempts=tries[x.id]) for x in rows]


def _attempts(uow: UnitOfWork, ids: list[str]) -> dict[str, list[Attempt]]:
    a = t.notify_attempt.c
    tries: dict[str, list[Attempt]] = {i: [] for i in ids}
    if ids:
        for r in uow.session.execute(select(a.message_id, a.channel, a.at, a.outcome, a.reason)
                                     .where(a.message_id.in_(ids)).order_by(a.id)):
            tries[r.message_id].append(Attempt(r.channel, r.at, r.outcome, r.reason))
    return tries


# -- the rules -----------------------------------------------------------------------------------

@dataclass(frozen=True)
class Rule:
    purpose: Purpose
    enabled: bool
    updated_by: str | None  # None: never switched, on by default
    updated_at: datetime | None


def rules(office: Office) -> list[Rule]:
    """Every purpose's rule in the order of an application's life, with who last switched it."""
    r = t.notify_rule.c
    with office.uow(readonly=True) as uow:
        stored = {row.purpose: row for row in uow.session.execute(select(r.purpose, r.enabled, r.updated_by,
                                                                          r.updated_at))}
    return [Rule(p, bool(stored[p.value].enabled), stored[p.value].updated_by, stored[p.value].updated_at)
            if p.value in stored else Rule(p, True, None, None) for p in Purpose]


def _iso(at: datetime | None) -> str | None:
    return at.isoformat() if at else None
