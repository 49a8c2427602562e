"""What staff read of the notifications: the queue by state and channel, the failures, each
message's history, and the events still waiting for the rules (`kanim notify status`, the
console's notifications page). Contact data only masked; message bodies never."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, select

from kanim.bootstrap import Office
from kanim.domain.contact import masked
from kanim.link.lease import relay_holder
from kanim.notify.purposes import State
from kanim.notify.worker import LEASE
from kanim.office.notify import CONSUMER
from kanim.store import fanout
from kanim.store import tables as t


@dataclass(frozen=True)
class NotifyStatus:
    by_state: dict[str, int]
    by_channel_state: dict[tuple[str, str], int]
    events_queued: int
    events_dead: int
    oldest_event_at: datetime | None
    oldest_waiting_at: datetime | None
    worker: str | None
    failures: list[dict[str, Any]]

    @property
    def waiting(self) -> int:
        return sum(n for s, n in self.by_state.items() if State(s).waiting)

    def as_dict(self) -> dict[str, Any]:
        return {"by_state": self.by_state,
                "by_channel": [{"channel": c, "state": s, "count": n} for (c, s), n in sorted(self.by_channel_state.items())],
                "waiting": self.waiting, "events_queued": self.events_queued, "events_dead": self.events_dead,
                "oldest_event_at": _iso(self.oldest_event_at), "oldest_waiting_at": _iso(self.oldest_waiting_at),
                "worker": self.worker, "failures": self.failures}


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
        failed = uow.session.execute(
            select(m.id, m.purpose, m.channel, m.address, m.state, m.reason, m.updated_at, t.application.c.number)
            .select_from(t.notify_message.outerjoin(t.application, t.application.c.id == m.application_id))
            .where(m.state.in_((State.PERMANENT_FAILURE.value, State.TECHNICAL_FAILURE.value,
                                State.TEMPORARY_FAILURE.value)))
            .order_by(m.updated_at.desc()).limit(failures)).all()
        worker = relay_holder(uow, uow.now(), LEASE)
    return NotifyStatus(
        by_state=by_state, by_channel_state={(c, s): n for c, s, n in rows},
        events_queued=queue.queued, events_dead=queue.dead, oldest_event_at=queue.oldest_at,
        oldest_waiting_at=oldest, worker=worker,
        failures=[{"id": f.id, "number": f.number, "purpose": f.purpose, "channel": f.channel, "to": masked(f.address),
                   "state": f.state, "reason": f.reason, "at": _iso(f.updated_at)} for f in failed])


def history(office: Office, *, application_id: str) -> list[dict[str, Any]]:
    """Every message to one application's applicant, each with its attempts, oldest first."""
    m, a = t.notify_message.c, t.notify_attempt.c
    with office.uow(readonly=True) as uow:
        msgs = uow.session.execute(select(m.id, m.purpose, m.channel, m.address, m.state, m.reason, m.template,
                                          m.version, m.language, m.created_at, m.sent_at, m.delivered_at, m.read_at,
                                          m.not_before)
                                   .where(m.application_id == application_id).order_by(m.seq)).all()
        ids = [x.id for x in msgs]
        tries: dict[str, list[dict[str, Any]]] = {i: [] for i in ids}
        if ids:
            for r in uow.session.execute(select(a.message_id, a.channel, a.at, a.outcome, a.reason)
                                         .where(a.message_id.in_(ids)).order_by(a.id)):
                tries[r.message_id].append({"channel": r.channel, "at": _iso(r.at), "outcome": r.outcome,
                                            "reason": r.reason})
    return [{"id": x.id, "purpose": x.purpose, "channel": x.channel, "to": masked(x.address), "state": x.state,
             "reason": x.reason, "template": x.template, "version": x.version, "language": x.language,
             "created_at": _iso(x.created_at), "sent_at": _iso(x.sent_at), "delivered_at": _iso(x.delivered_at),
             "read_at": _iso(x.read_at), "not_before": _iso(x.not_before), "attempts": tries[x.id]} for x in msgs]


def _iso(at: datetime | None) -> str | None:
    return at.isoformat() if at else None
