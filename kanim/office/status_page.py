"""The office's public status page: what it reads from the node, and what staff write.

The read (`page`) gathers the node's facts (the link's state, the guardrails on provisional
printing, dead letters, how far ahead pickup slots are given), the open incidents and the
maintenance in progress, and the staff overrides, and leaves the levels to the pure rules of
kanim/domain/status_page.py. Staff writes (`open_incident`, `add_update`, `set_override`,
`clear_override`) are one transaction each, audited; their words are public, in both languages.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, func, or_, select, update

from kanim.bootstrap import Office
from kanim.domain.errors import Conflict, InvalidInput, NotFound
from kanim.domain.status_page import (
    Component,
    ComponentStatus,
    Impact,
    IncidentState,
    Level,
    NodeFacts,
    Override,
    derive,
    next_states,
    overall,
)
from kanim.link import views
from kanim.office.common import today
from kanim.office.printing import guardrail_stops
from kanim.store import tables as t
from kanim.store.uow import UnitOfWork

HISTORY_DAYS = 90
INCIDENT, MAINTENANCE = "incident", "maintenance"


@dataclass(frozen=True)
class Update:
    state: IncidentState
    body: dict[str, str]
    at: datetime


@dataclass(frozen=True)
class Incident:
    id: str
    kind: str
    title: dict[str, str]
    components: list[Component]
    impact: Level
    state: IncidentState
    starts_at: datetime
    ends_at: datetime | None
    updates: list[Update] = field(default_factory=list)  # newest first

    def in_progress(self, now: datetime) -> bool:
        """An incident until resolved; maintenance within its window, unless completed early."""
        if self.state is IncidentState.RESOLVED:
            return False
        if self.kind == MAINTENANCE:
            return self.starts_at <= now and (self.ends_at is None or now < self.ends_at)
        return True

    def upcoming(self, now: datetime) -> bool:
        return self.kind == MAINTENANCE and self.state is not IncidentState.RESOLVED and now < self.starts_at


@dataclass(frozen=True)
class Outage:
    """A run of the link's incidents (kanim.link.views): the central was not reachable."""

    state: str  # the worst: down | degraded
    started_at: datetime
    ended_at: datetime | None


@dataclass(frozen=True)
class StatusPage:
    now: datetime
    components: list[ComponentStatus]
    overall: Level
    active: list[Incident]  # incidents open, maintenance in progress
    upcoming: list[Incident]  # maintenance announced
    history: list[Incident]  # the last 90 days, newest first (resolved, or maintenance done)
    outages: list[Outage]  # the link's, the last 90 days, newest first
    overrides: list[Override]


# -- reading ------------------------------------------------------------------------------------

def page(office: Office) -> StatusPage:
    link = views.status(office, count_sent=False)  # its own read-only unit of work
    with office.uow(readonly=True) as uow:
        now = uow.now()
        facts = NodeFacts(link_state=link["state"], guardrails_closed=len(guardrail_stops(office, uow)),
                          dead_letters=link["dead_letters"], pickup_days_ahead=_pickup_days_ahead(office, uow))
        incidents = _incidents(uow, since=now - timedelta(days=HISTORY_DAYS))
        overrides = _overrides(uow, now)
        outages = _outages(uow, since=now - timedelta(days=HISTORY_DAYS))
    active = [i for i in incidents if i.in_progress(now)]
    impacts = [Impact(frozenset(i.components), i.impact, i.kind == MAINTENANCE) for i in active]
    components = derive(facts, impacts, overrides, now)
    return StatusPage(now, components, overall(components), active, [i for i in incidents if i.upcoming(now)],
                      [i for i in incidents if not i.in_progress(now) and not i.upcoming(now)], outages, overrides)


def _pickup_days_ahead(office: Office, uow: UnitOfWork) -> int | None:
    p = t.pickup_assignment.c
    latest = uow.session.scalar(select(func.max(p.day)).where(p.state != "collected"))
    return None if latest is None else max((latest - today(office, uow)).days, 0)


def _incidents(uow: UnitOfWork, *, since: datetime) -> list[Incident]:
    i, u = t.status_incident.c, t.status_update.c
    # Open ones whatever their age, and the rest of the last 90 days.
    rows = uow.session.execute(select(t.status_incident).where(
        or_(i.state != IncidentState.RESOLVED, i.starts_at >= since, i.ends_at >= since))
        .order_by(i.starts_at.desc()).limit(200)).all()
    ids = [r.id for r in rows]
    updates: dict[str, list[Update]] = {k: [] for k in ids}
    if ids:
        for r in uow.session.execute(select(t.status_update).where(u.incident_id.in_(ids))
                                     .order_by(u.at.desc(), u.id.desc())):
            updates[r.incident_id].append(Update(r.state, {"id": r.body_id, "en": r.body_en}, r.at))
    return [Incident(r.id, r.kind, {"id": r.title_id, "en": r.title_en}, [Component(c) for c in r.components],
                     r.impact, r.state, r.starts_at, r.ends_at, updates[r.id]) for r in rows]


def _overrides(uow: UnitOfWork, now: datetime) -> list[Override]:
    o = t.status_override.c
    rows = uow.session.execute(select(t.status_override).where(or_(o.until.is_(None), o.until > now))).all()
    return [Override(Component(r.component), r.level, {"id": r.reason_id, "en": r.reason_en}, r.until) for r in rows]


def _outages(uow: UnitOfWork, *, since: datetime) -> list[Outage]:
    """The link's incidents joined into outages (one that starts as the last ended continues it)."""
    li = t.link_incident.c
    rows = uow.session.execute(select(li.state, li.started_at, li.ended_at)
                               .where(or_(li.ended_at.is_(None), li.ended_at >= since))
                               .order_by(li.started_at).limit(2000)).all()
    found: list[list[Any]] = []
    for r in rows:
        last = found[-1] if found else None
        if last is not None and last[2] is not None and abs(last[2] - r.started_at) <= timedelta(seconds=1):
            last[0] = "down" if "down" in (last[0], r.state) else last[0]
            last[2] = r.ended_at
        else:
            found.append([r.state, r.started_at, r.ended_at])
    return [Outage(*f) for f in reversed(found)]


# -- writing ------------------------------------------------------------------------------------

def open_incident(office: Office, *, kind: str, title_id: str, title_en: str, body_id: str, body_en: str,
                  components: list[Component], impact: Level, actor: str, starts_at: datetime | None = None,
                  ends_at: datetime | None = None, tell: bool = True, social: bool = False) -> str:
    """An incident (investigating, from now) or a maintenance window (from `starts_at` to
    `ends_at`), with its first update. `tell`: every active subscriber gets it (one message
    each, kanim/office/subscriptions.py); `social`: it is posted to the office's social
    channels too. Both are written in this transaction."""
    _check_words(title_id, title_en, body_id, body_en)
    if not components:
        raise InvalidInput("name at least one service this concerns", code="status-components-missing",
                           field="components")
    with office.uow() as uow:
        now = uow.now()
        start, end = _window(kind, starts_at, ends_at, now)
        state = IncidentState.INVESTIGATING if kind == INCIDENT else IncidentState.IDENTIFIED
        incident_id = str(uuid.uuid4())
        uow.session.execute(t.status_incident.insert().values(
            id=incident_id, kind=kind, title_id=title_id.strip(), title_en=title_en.strip(),
            components=sorted({c.value for c in components}), impact=impact, state=state, starts_at=start,
            ends_at=end, created_at=now, created_by=actor))
        update_id = _write_update(uow, incident_id, state, body_id, body_en, actor)
        told = _publish(office, uow, Published(update_id, incident_id, kind, state, {"id": title_id, "en": title_en},
                                               {"id": body_id, "en": body_en}), tell=tell, social=social)
        uow.audit(actor=actor, action="StatusIncidentOpened", subject=incident_id,
                  detail={"kind": kind, "impact": impact.value, "components": sorted(c.value for c in components),
                          **told})
        uow.commit()
    return incident_id


def _window(kind: str, starts_at: datetime | None, ends_at: datetime | None,
            now: datetime) -> tuple[datetime, datetime | None]:
    if kind == INCIDENT:
        return now, None
    if kind != MAINTENANCE:
        raise InvalidInput(f"an announcement is an incident or maintenance, not {kind!r}", code="status-kind",
                           field="kind")
    if starts_at is None or ends_at is None or ends_at <= starts_at:
        raise InvalidInput("maintenance needs a start and an end after it", code="status-window", field="ends_at")
    if ends_at <= now:
        raise InvalidInput("this maintenance window is already over", code="status-window", field="ends_at")
    return starts_at, ends_at


def add_update(office: Office, *, incident_id: str, state: IncidentState, body_id: str, body_en: str,
               actor: str, tell: bool = True, social: bool = False) -> None:
    """An update moves the incident on (or adds a note in its state); resolving ends it. `tell`
    and `social` as for `open_incident`."""
    _check_words(body_id, body_en)
    with office.uow() as uow:
        i = t.status_incident.c
        row = uow.session.execute(select(t.status_incident).where(i.id == incident_id)).one_or_none()
        if row is None:
            raise NotFound("no such incident", code="status-incident-unknown")
        if state not in next_states(row.state):
            raise Conflict(f"an incident that is {row.state.value} cannot become {state.value}",
                           code="status-update-order", field="state")
        values: dict[str, Any] = {"state": state}
        if state is IncidentState.RESOLVED and (row.kind == INCIDENT or row.ends_at > uow.now()):
            values["ends_at"] = uow.now()  # a maintenance completed early ends now
        uow.session.execute(update(t.status_incident).where(i.id == incident_id).values(**values))
        update_id = _write_update(uow, incident_id, state, body_id, body_en, actor)
        told = _publish(office, uow, Published(update_id, incident_id, row.kind, state,
                                               {"id": row.title_id, "en": row.title_en},
                                               {"id": body_id, "en": body_en}), tell=tell, social=social)
        uow.audit(actor=actor, action="StatusIncidentUpdated", subject=incident_id,
                  detail={"state": state.value, **told})
        uow.commit()


def _write_update(uow: UnitOfWork, incident_id: str, state: IncidentState, body_id: str, body_en: str,
                  actor: str) -> int:
    return uow.session.execute(t.status_update.insert().values(incident_id=incident_id, state=state,
                                                               body_id=body_id.strip(), body_en=body_en.strip(),
                                                               at=uow.now(), by=actor)).inserted_primary_key[0]


@dataclass(frozen=True)
class Published:
    """An update as it goes out: to subscribers and to the social channels."""

    update_id: int
    incident_id: str
    kind: str
    state: IncidentState
    title: dict[str, str]
    body: dict[str, str]


def _publish(office: Office, uow: UnitOfWork, p: Published, *, tell: bool, social: bool) -> dict[str, int]:
    """Subscribers' messages and social posts of one update, in its transaction (the worker
    sends them: the pipeline's caps, retries and quiet hours apply)."""
    from kanim.notify import alerts
    from kanim.office import subscriptions

    notice = subscriptions.Notice(f"status:{p.update_id}", p.kind, p.state.value, p.title, p.body)
    told = subscriptions.tell_subscribers(uow, office.settings, notice) if tell else 0
    posts = 0
    if social and office.settings.social_urls:
        (tid, bid), (ten, ben) = subscriptions.notice_words(notice, "id"), subscriptions.notice_words(notice, "en")
        page = subscriptions.status_url(office.settings)
        # Both languages in one post: the office's followers read either.
        body = f"{tid}\n{bid}\n\n{ten}\n{ben}" + (f"\n\n{page}" if page else "")
        posts = len(alerts.post_social(uow, office.settings.social_urls, title=tid, body=body, source=p.incident_id))
    return {"subscribers_told": told, "social_posts": posts}


def set_override(office: Office, *, component: Component, level: Level, reason_id: str, reason_en: str,
                 until: datetime | None, actor: str) -> None:
    """Staff's level for one component until `until` (None: until cleared), with the reason."""
    _check_words(reason_id, reason_en)
    with office.uow() as uow:
        if until is not None and until <= uow.now():
            raise InvalidInput("the override would end before it starts", code="status-until-past", field="until")
        o = t.status_override.c
        uow.session.execute(delete(t.status_override).where(o.component == component.value))
        uow.session.execute(t.status_override.insert().values(
            component=component.value, level=level, reason_id=reason_id.strip(), reason_en=reason_en.strip(),
            until=until, set_at=uow.now(), set_by=actor))
        uow.audit(actor=actor, action="StatusOverrideSet", subject=component.value,
                  detail={"level": level.value, "until": until.isoformat() if until else None})
        uow.commit()


def clear_override(office: Office, *, component: Component, actor: str) -> bool:
    with office.uow() as uow:
        o = t.status_override.c
        gone = uow.session.execute(delete(t.status_override).where(o.component == component.value)).rowcount
        if gone:
            uow.audit(actor=actor, action="StatusOverrideCleared", subject=component.value)
        uow.commit()
    return bool(gone)


def _check_words(*texts: str) -> None:
    """Public words in both languages: a page half in one language helps nobody."""
    if any(not (s or "").strip() for s in texts):
        raise InvalidInput("write it in both languages (Indonesian and English)", code="status-words-missing")



# -- what the desk shows of the outreach ------------------------------------------------------------

def outreach(office: Office) -> dict[str, Any]:
    """The status desk's view of its subscribers (masked) and social posts."""
    from kanim.notify import alerts
    from kanim.office import subscriptions

    with office.uow(readonly=True) as uow:
        counts = subscriptions.counts(uow)
        latest = subscriptions.latest(uow)
        posts = [{"channel": f"#{int(p.subject.partition(':')[2] or 0) + 1}", "title": p.params.get("title", ""),
                  "state": p.state, "reason": p.reason, "created_at": p.created_at}
                 for p in alerts.social_posts(uow)]
    return {"subscribers": {"counts": counts, "latest": latest, "total_active": sum(counts.get("active", {}).values())},
            "social_posts": posts, "social_configured": bool(office.settings.social_urls)}


def last_told(office: Office, incident_id: str) -> dict[str, int] | None:
    """What the incident's latest publication wrote: its audit row's counts."""
    a = t.audit_event.c
    with office.uow(readonly=True) as uow:
        detail = uow.session.scalar(select(a.detail).where(
            a.subject == incident_id, a.action.in_(("StatusIncidentOpened", "StatusIncidentUpdated")))
            .order_by(a.seq.desc()).limit(1))
    if not detail or "subscribers_told" not in detail:
        return None
    return {"subscribers_told": detail["subscribers_told"], "social_posts": detail.get("social_posts", 0)}
