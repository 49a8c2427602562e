"""The recovery dashboard's reading: what is stuck, since when, and when it will have drained.

The picture that was missing in June 2024, for the head of office, IT and the supervisors: the
link's state and since when, its incidents as outages, the queue by priority, the oldest unsent
operation, the drain's rate and ETA, the open applications by stage, the passports printed on
provisional clearances that still wait for the central, the guardrails on provisional printing,
and the backlog over time across the last outage.

`live` is what the page re-reads every second; it costs in proportion to what is queued and
open, never to the office's history (bench/desk_pages.py measures it at a year's size).
`burn_down` derives the backlog's history from the outbox's own timestamps rather than from
samples: the outbox is the truth, and a history derived from it has no gaps when no one watched.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, or_, select

from kanim.bootstrap import Office
from kanim.domain.application import TERMINAL, Priority, Stage, priority_group
from kanim.domain.clearances import ClearanceKind, ClearanceState
from kanim.link import views
from kanim.office.printing import guardrail_blockers
from kanim.store import tables as t
from kanim.store.buckets import time_bucket
from kanim.store.uow import UnitOfWork

OPEN_STAGES = [s for s in Stage if s not in TERMINAL]
WAITING_STAGES = (Stage.PRINTED, Stage.QC_PASSED)  # a booklet printed; not yet ready for its holder
WAITING_LIMIT = 8
PRIORITIES = (Priority.MEDICAL, Priority.HAJJ_UMRAH, Priority.TRAVEL, Priority.NONE)


@dataclass(frozen=True)
class QueuedItem:
    """The oldest operation not yet sent: what it is, whose, since when and why it waits."""

    seq: int
    op: str
    number: str | None  # the application's number; None for the link's own operations
    queued_at: datetime
    status: str  # pending | dead
    attempts: int
    last_error: str | None


@dataclass(frozen=True)
class WaitingPrint:
    """A passport printed on provisional clearances: it may not be handed over until the
    central has confirmed every one."""

    number: str
    stage: Stage
    printed_at: datetime | None
    waiting_for: list[ClearanceKind]


@dataclass(frozen=True)
class Guardrail:
    """One guardrail on provisional printing: how old its measure is against its limit."""

    name: str  # watchlist_snapshot | unsent_work
    age: timedelta | None  # None: no snapshot at all / nothing unsent
    limit: timedelta
    closed: bool  # provisional printing stopped by it


@dataclass(frozen=True)
class Live:
    now: datetime
    link: dict[str, Any]  # kanim.link.views.status, without the count of everything ever sent
    by_priority: list[tuple[Priority | None, int]]  # queued operations; None: the link's own
    oldest: QueuedItem | None
    backlog_by_stage: list[tuple[Stage, int]]
    waiting_count: int
    waiting: list[WaitingPrint]
    guardrails: list[Guardrail]
    blockers: list[str]  # kanim.office.printing.guardrail_blockers: the reasons, as the print desk sees them

    @property
    def queued(self) -> int:
        return sum(n for _, n in self.by_priority)


@dataclass(frozen=True)
class Phase:
    state: str  # degraded | down
    started_at: datetime
    ended_at: datetime | None
    reason: str


@dataclass(frozen=True)
class Outage:
    """Link incidents that follow one another without the link coming back in between
    (degraded, then down, ...): one outage as staff lived it."""

    phases: list[Phase] = field(default_factory=list)

    @property
    def started_at(self) -> datetime:
        return self.phases[0].started_at

    @property
    def ended_at(self) -> datetime | None:
        return self.phases[-1].ended_at

    @property
    def worst(self) -> str:
        return "down" if any(p.state == "down" for p in self.phases) else self.phases[0].state

    def duration(self, now: datetime) -> timedelta:
        return (self.ended_at or now) - self.started_at

    @property
    def states(self) -> list[Phase]:
        """The first phase of each state it went through, in order (degraded, then down): what
        a person reads, without the repeats a restart of the server records."""
        seen: dict[str, Phase] = {}
        for p in self.phases:
            seen.setdefault(p.state, p)
        return list(seen.values())


@dataclass(frozen=True)
class BurnDown:
    """Queued operations at the start of each bucket from `start` to `end` (the last point is
    `end` itself), and the outage it shows."""

    start: datetime
    end: datetime
    points: list[tuple[datetime, int]]
    outage: Outage | None


def live(office: Office) -> Live:
    link = views.status(office, count_sent=False)
    with office.uow(readonly=True) as uow:
        return Live(now=uow.now(), link=link, by_priority=_by_priority(uow), oldest=_oldest(uow),
                    backlog_by_stage=_backlog(uow), waiting_count=_waiting_count(uow), waiting=_waiting(uow),
                    guardrails=_guardrails(office, uow), blockers=guardrail_blockers(office, uow))


def _by_priority(uow: UnitOfWork) -> list[tuple[Priority | None, int]]:
    """The queue (pending operations) by the group of its drain rank: the index on
    (status, priority, seq) answers it without reading a row."""
    c = t.outbox.c
    counts: dict[Priority | None, int] = dict.fromkeys(PRIORITIES, 0)
    for rank, n in uow.session.execute(select(c.priority, func.count()).where(c.status == "pending")
                                       .group_by(c.priority)):
        group = priority_group(rank)
        counts[group] = counts.get(group, 0) + n
    return [(p, n) for p, n in counts.items() if p is not None or n]


def _oldest(uow: UnitOfWork) -> QueuedItem | None:
    """The first operation made that is still unsent (pending or a dead letter)."""
    c, a = t.outbox.c, t.application.c
    seq = uow.session.execute(select(func.min(c.seq)).where(c.status.in_(("pending", "dead")))).scalar()
    if seq is None:
        return None
    row = uow.session.execute(select(c.seq, c.op, c.status, c.attempts, c.last_error,
                                     func.coalesce(c.queued_at, c.created_at).label("queued_at"), a.number)
                              .outerjoin(t.application, a.id == c.subject).where(c.seq == seq)).one()
    return QueuedItem(row.seq, row.op, row.number, row.queued_at, row.status, row.attempts, row.last_error)


def _backlog(uow: UnitOfWork) -> list[tuple[Stage, int]]:
    """Open applications by stage (the index on stage: the year's finished ones are not read)."""
    a = t.application.c
    counts = dict(uow.session.execute(select(a.stage, func.count()).where(a.stage.in_(OPEN_STAGES))
                                      .group_by(a.stage)).all())
    return [(s, counts.get(s, 0)) for s in OPEN_STAGES]


def _not_all_confirmed() -> Any:
    a = t.application.c
    return or_(*[a[k.value] != ClearanceState.CONFIRMED for k in ClearanceKind])


def _waiting_count(uow: UnitOfWork) -> int:
    a = t.application.c
    return uow.session.execute(select(func.count()).where(a.stage.in_(WAITING_STAGES),
                                                          _not_all_confirmed())).scalar_one()


def _waiting(uow: UnitOfWork) -> list[WaitingPrint]:
    """The passports printed longest ago that still wait for the central, oldest first."""
    a = t.application.c
    kinds = list(ClearanceKind)
    rows = uow.session.execute(select(a.number, a.stage, a.printed_at, *[a[k.value] for k in kinds])
                               .where(a.stage.in_(WAITING_STAGES), _not_all_confirmed())
                               .order_by(a.printed_at, a.number).limit(WAITING_LIMIT)).all()
    return [WaitingPrint(r.number, Stage(r.stage), r.printed_at,
                         [k for k in kinds if getattr(r, k.value) != ClearanceState.CONFIRMED]) for r in rows]


def _guardrails(office: Office, uow: UnitOfWork) -> list[Guardrail]:
    """The two measures guardrail_blockers judges, with their limits (kanim.domain.guardrails)."""
    s, now, c = office.settings, uow.now(), t.outbox.c
    snapshot = uow.session.execute(select(func.max(t.watchlist_snapshot.c.taken_at))).scalar()
    oldest = uow.session.execute(select(func.min(func.coalesce(c.queued_at, c.created_at)))
                                 .where(c.status == "pending")).scalar()
    snapshot_limit, unsent_limit = timedelta(days=s.watchlist_max_age_days), timedelta(days=s.unsynced_max_days)
    snapshot_age = now - snapshot if snapshot else None
    unsent_age = now - oldest if oldest else None
    return [Guardrail("watchlist_snapshot", snapshot_age, snapshot_limit,
                      snapshot_age is None or snapshot_age > snapshot_limit),
            Guardrail("unsent_work", unsent_age, unsent_limit, unsent_age is not None and unsent_age > unsent_limit)]


# -- incidents -----------------------------------------------------------------------------------

def outages(office: Office, *, limit: int = 20, scan: int = 500) -> list[Outage]:
    """The last `limit` outages, newest first, from the link's newest `scan` incidents (its
    breaker's every change): an incident that starts when the one before it ended belongs to
    the same outage. A restart of the server during an outage adds two (its fresh breaker goes
    degraded, then down again), so an outage is many incidents, and `scan` is generous."""
    i = t.link_incident.c
    with office.uow(readonly=True) as uow:
        rows = uow.session.execute(select(t.link_incident).order_by(i.id.desc()).limit(scan)).all()
    found: list[Outage] = []
    for r in reversed(rows):  # oldest first
        phase = Phase(r.state, r.started_at, r.ended_at, r.reason)
        last = found[-1].phases[-1] if found else None
        if last is not None and last.ended_at is not None and abs(last.ended_at - r.started_at) <= timedelta(seconds=1):
            found[-1].phases.append(phase)
        else:
            found.append(Outage([phase]))
    return list(reversed(found))[:limit]


# -- the backlog over time ---------------------------------------------------------------------

def burn_down(office: Office, *, buckets: int = 60, quiet_window: timedelta = timedelta(hours=1)) -> BurnDown:
    """Queued operations over time across the last outage: from a little before it began to now
    (the last `quiet_window` when the link never had an incident).

    Derived from the outbox: an operation counts as queued from the moment it (last) entered the
    queue (`queued_at`) until it was sent (`sent_at`); dead letters count as queued, for they are
    not at the central. A dead letter retried counts from its retry only."""
    last = next(iter(outages(office, limit=1)), None)
    with office.uow(readonly=True) as uow:
        now = uow.now()
        start = now - quiet_window
        if last is not None:
            span = max(now - last.started_at, timedelta(minutes=1))
            start = last.started_at - max(span / 20, timedelta(seconds=30))  # the level before, too
        width = max((now - start).total_seconds() / buckets, 1.0)
        base, entered, left = _history(uow, start, width)
    return BurnDown(start, now, _levels(start, now, width, base, entered, left), last)


def _levels(start: datetime, end: datetime, width: float, base: int, entered: dict[int, int],
            left: dict[int, int]) -> list[tuple[datetime, int]]:
    points, level, k = [], base, 0
    while (at := start + timedelta(seconds=k * width)) < end:
        points.append((at, level))
        level += entered.get(k, 0) - left.get(k, 0)
        k += 1
    return [*points, (end, level)]


def _history(uow: UnitOfWork, start: datetime, width: float) -> tuple[int, dict[int, int], dict[int, int]]:
    """Queued at `start`, and per bucket from it the operations that entered and that left the
    queue: three reads of the indexes on status, queued_at and sent_at."""
    s, c = uow.session, t.outbox.c
    # An expression, not the bare column: the planner must take the (small) unsent or
    # recently sent rows by their index and check this on them, not read every row queued
    # before `start` (a year's worth) by the index on queued_at.
    before = func.coalesce(c.queued_at, c.created_at) < start
    base = s.execute(select(func.count()).where(c.status.in_(("pending", "dead")), before)).scalar_one()
    base += s.execute(select(func.count()).where(c.sent_at >= start, before)).scalar_one()
    entered_bucket = time_bucket(c.queued_at, start, width)
    entered = dict(s.execute(select(entered_bucket, func.count()).where(c.queued_at >= start)
                             .group_by(entered_bucket)).all())
    left_bucket = time_bucket(c.sent_at, start, width)
    left = dict(s.execute(select(left_bucket, func.count()).where(c.sent_at >= start)
                          .group_by(left_bucket)).all())
    return base, entered, left
