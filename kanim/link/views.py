"""What staff see of the link: its state (up, degraded, down, or stalled when work is queued
but not moving, with the reason), the queue, dead letters, incidents."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import func, or_, select, update

from kanim.bootstrap import Office
from kanim.link import inbox
from kanim.link.lease import relay_holder
from kanim.link.selection import blocked_by
from kanim.store import tables as t
from kanim.store.uow import UnitOfWork

NO_RELAY_AFTER = timedelta(minutes=2)  # sendable work this old with no relay holding the link: stalled


def status(office: Office, *, count_sent: bool = True) -> dict[str, Any]:
    """The link as staff need to see it: the breaker's state, or `stalled` when work is queued
    but not moving (held back behind dead letters or retries, no relay running, the central's
    feed waiting on an event that does not verify), with the counts and the reason.

    Every figure but `sent` costs in proportion to what is queued, not to the office's history;
    `sent` counts every operation ever sent (1.2 million rows after a year: 40 ms on SQLite), so
    the recovery dashboard, which asks every second, leaves it out (count_sent=False: None)."""
    with office.uow(readonly=True) as uow:
        s, c, now = uow.session, t.outbox.c, uow.now()
        unsent = c.status.in_(("pending", "dead"))
        counts = dict(s.execute(select(c.status, func.count()).where(unsent).group_by(c.status)).all())
        if count_sent:
            counts["sent"] = s.execute(select(func.count()).where(c.status == "sent")).scalar_one()
        oldest = s.execute(select(func.min(c.created_at)).where(unsent)).scalar()
        # Only a sent row has a sent_at (a rebuild that queues it again clears it): the index on
        # sent_at alone finds the last minute's, where one on status would read every sent row.
        recent = s.execute(select(func.count()).where(c.sent_at >= now - timedelta(seconds=60))).scalar_one()
        i = t.link_incident.c
        incident = s.execute(select(t.link_incident).where(i.ended_at.is_(None)).order_by(i.id.desc()).limit(1)).first()
        held = _held_back(uow, now)
        relay = relay_holder(uow, datetime.now(UTC))
        feed = inbox.feed_blocked(uow)
        watchlist_problem = inbox.get_state(uow, inbox.WATCHLIST_PROBLEM) or None
        snapshot_at = s.execute(select(func.max(t.watchlist_snapshot.c.taken_at))).scalar()
    pending = counts.get("pending", 0)
    rate = recent / 60.0
    state, since, reason = _state(office, incident, pending, held, relay, feed, now)
    return {
        "state": state,
        "since": since,
        "reason": reason,
        "queue_depth": pending,
        "sendable": held["sendable"],
        "held_back": {"behind_dead_letters": held["behind_dead"], "waiting_for_retry": held["retrying"],
                      "applications": held["applications"]},
        "dead_letters": counts.get("dead", 0),
        "sent": counts.get("sent", 0) if count_sent else None,
        "oldest_unsent_at": oldest,
        "drain_rate_per_s": round(rate, 2),
        "eta_seconds": round(held["sendable"] / rate) if rate > 0 else None,
        "relay": relay,
        "feed_blocked": feed,
        "watchlist_snapshot_at": snapshot_at,
        "watchlist_problem": watchlist_problem,
    }


def _state(office: Office, incident: Any, pending: int, held: dict[str, Any], relay: str | None,
           feed: dict[str, Any] | None, now: datetime) -> tuple[str, datetime | None, str | None]:
    if office.central is None:
        return "unlinked", None, "no central configured (KANIM_CENTRAL_URL is not set): work queues until one is"
    if incident is not None:
        return incident.state, incident.started_at, incident.reason
    why = []
    if feed is not None:  # the root cause of whatever else waits: said first
        why.append(f"the central's feed waits at event {feed['event']}: {feed['why']}")
    if pending and not held["sendable"]:
        if held["behind_dead"]:
            apps = held["applications"]
            why.append(f"{held['behind_dead']} operations of {apps} application{'s' if apps != 1 else ''} wait "
                       "behind dead letters (see dead-letters; retry once the cause is fixed)")
        if held["retrying"]:
            why.append(f"{held['retrying']} operations wait for a retry (the central answered: "
                       f"{held['retry_error'] or 'not yet'})")
    elif held["sendable"] and relay is None and held["oldest_sendable"] and \
            now - held["oldest_sendable"] > NO_RELAY_AFTER:
        why.append("no relay is running for this office: `kanim serve` runs one unless --no-relay, "
                   "or run `kanim worker`")
    if why:
        return "stalled", feed.get("since") if feed else None, "; ".join(why)
    return "up", None, None


def _held_back(uow: UnitOfWork, now: datetime) -> dict[str, Any]:
    """Pending rows by why they can or cannot go now."""
    s, c = uow.session, t.outbox.c
    e = t.outbox.alias("earlier")
    behind_dead = select(e.c.seq).where(e.c.subject == c.subject, e.c.seq < c.seq, e.c.status == "dead").exists()
    pending = c.status == "pending"
    dead_n, dead_apps = s.execute(select(func.count(), func.count(func.distinct(c.subject)))
                                  .where(pending, behind_dead)).one()
    due = or_(c.next_attempt_at.is_(None), c.next_attempt_at <= now)
    sendable, oldest = s.execute(select(func.count(), func.min(c.queued_at))
                                 .where(pending, due, ~blocked_by(c, now))).one()
    pending_n = s.execute(select(func.count()).where(pending)).scalar_one()
    retry_error = s.execute(select(c.last_error).where(pending, c.next_attempt_at > now)
                            .order_by(c.seq).limit(1)).scalar()
    return {"behind_dead": dead_n, "applications": dead_apps, "sendable": sendable,
            "retrying": max(0, pending_n - sendable - dead_n), "retry_error": retry_error, "oldest_sendable": oldest}


def dead_letters(office: Office, *, limit: int | None = None) -> list[dict[str, Any]]:
    """Dead letters in queue order; the first `limit` of them when a page shows them."""
    with office.uow() as uow:
        c = t.outbox.c
        q = select(t.outbox).where(c.status == "dead").order_by(c.seq)
        return [dict(id=r.id, seq=r.seq, subject=r.subject, op=r.op, attempts=r.attempts, error=r.last_error,
                     created_at=r.created_at)
                for r in uow.session.execute(q if limit is None else q.limit(limit))]


def retry_dead_letter(office: Office, op_id: str, *, actor: str) -> bool:
    """Put a dead letter back in the queue (after the cause was fixed at the central). If the
    central then takes it, the application's `recorded_centrally` flag that the refusal raised is
    lifted (kanim.link.relay.mark)."""
    return retry_dead_letters(office, [op_id], actor=actor) == 1


def retry_dead_letters(office: Office, op_ids: list[str] | None = None, *, actor: str) -> int:
    """Put dead letters back in the queue: these, or every one (`kanim link retry --all`)."""
    c = t.outbox.c
    with office.uow() as uow:
        where = [c.status == "dead"] + ([c.id.in_(op_ids)] if op_ids is not None else [])
        ids = [r.id for r in uow.session.execute(select(c.id).where(*where))]
        if ids:
            uow.session.execute(update(t.outbox).where(c.id.in_(ids)).values(
                status="pending", next_attempt_at=None, queued_at=uow.now(), retried_at=uow.now()))
        for op_id in ids:
            uow.audit(actor=actor, action="DeadLetterRetried", subject=op_id)
        uow.commit()
    return len(ids)


def incidents(office: Office, limit: int = 50) -> list[dict[str, Any]]:
    with office.uow() as uow:
        i = t.link_incident.c
        return [dict(r._mapping) for r in uow.session.execute(
            select(t.link_incident).order_by(i.id.desc()).limit(limit))]
