"""The national view's reading, beyond kanim.central.service.national_view: each office's drain
(what the central received from it lately) and the national backlog over time.

Everything here is derived from the central's own timestamps: `central_operation.received_at`
(when each operation arrived) and the registry's `created_at`/`updated_at` (when an application
first arrived, and when it last changed; a finished application does not change again). The
central does not know what an office still holds in its queue: it sees the drain, not the
backlog behind it, so "drain progress" is what arrived and how fast.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import case, func, select

from kanim.central import tables as ct
from kanim.central.node import CentralNode
from kanim.domain.application import TERMINAL, Stage
from kanim.store.buckets import time_bucket

FINISHED = tuple(sorted(TERMINAL))
OPEN = [s for s in Stage if s not in TERMINAL]  # by name: the index on stage answers it
RECENT = timedelta(minutes=10)
WINDOWS_HOURS = (6, 24, 72, 336)  # the history's choices: 6 hours to two weeks


@dataclass(frozen=True)
class Drain:
    """What the central received from one office in the last RECENT, and when it last did."""

    received: int
    refused: int  # answered with an error (the office parks permanent ones as dead letters)
    last_received_at: datetime | None
    seconds: float

    @property
    def rate(self) -> float:
        return self.received / self.seconds


@dataclass(frozen=True)
class History:
    """Per bucket from `start`: open applications at its start (and at `end`, the last point),
    and the operations received during it."""

    start: datetime
    end: datetime
    width: timedelta
    open_points: list[tuple[datetime, int]]
    received: list[tuple[datetime, int]]


def drains(node: CentralNode) -> dict[str, Drain]:
    """Per office code; an office that sent nothing lately is absent."""
    o = ct.central_operation.c
    with node.uow(readonly=True) as uow:
        since = uow.now() - RECENT
        rows = uow.session.execute(
            select(o.office_code, func.count(), func.sum(case((o.ok.is_(False), 1), else_=0)), func.max(o.received_at))
            .where(o.received_at >= since).group_by(o.office_code)).all()
    return {code: Drain(n, int(refused or 0), last, RECENT.total_seconds()) for code, n, refused, last in rows}


def history(node: CentralNode, *, hours: int, buckets: int = 48) -> History:
    """The national backlog (applications not yet finished) over the last `hours`, counted
    back from now: open at a moment = open now - arrived since + finished since."""
    a, o = ct.registry_application.c, ct.central_operation.c
    with node.uow(readonly=True) as uow:
        s, end = uow.session, uow.now()
        start = end - timedelta(hours=hours)
        width = (end - start) / buckets
        seconds = width.total_seconds()
        open_now = s.execute(select(func.count()).where(a.stage.in_(OPEN))).scalar_one()
        arrived = _per_bucket(s, a.created_at, start, seconds)
        finished = _per_bucket(s, a.updated_at, start, seconds, a.stage.in_(FINISHED))
        received = _per_bucket(s, o.received_at, start, seconds)
    level, points = open_now, [(end, open_now)]
    for k in reversed(range(buckets)):
        level += finished.get(k, 0) - arrived.get(k, 0)
        points.append((start + width * k, level))
    return History(start, end, width, list(reversed(points)),
                   [(start + width * k, received.get(k, 0)) for k in range(buckets)])


def _per_bucket(s, column, start: datetime, seconds: float, *where) -> dict[int, int]:  # noqa: ANN001, ANN002
    bucket = time_bucket(column, start, seconds)
    return dict(s.execute(select(bucket, func.count()).where(column >= start, *where).group_by(bucket)).all())
