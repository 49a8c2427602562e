"""Guardrails on provisional printing (after MOSIP's registration client).

Printing on provisional clearances is what keeps an office working through an outage, but not
forever: when the office's watch-list snapshot is too old, or its oldest unsent work is too old,
the office may be printing for someone the central would refuse. Then provisional printing
stops, with the reason shown to staff; printing on confirmed clearances goes on.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum


@dataclass(frozen=True)
class Guardrails:
    watchlist_max_age: timedelta
    unsynced_max_age: timedelta


class Stop(StrEnum):
    """Why provisional printing is stopped."""

    NO_SNAPSHOT = "no_snapshot"  # the central never sent a watch-list snapshot
    SNAPSHOT_OLD = "snapshot_old"  # the snapshot is older than the limit
    UNSENT_OLD = "unsent_old"  # work not yet sent to the central is older than the limit


@dataclass(frozen=True)
class Guardrail:
    """One reason provisional printing is stopped, with the figures a desk shows in its words."""

    stop: Stop
    age: timedelta | None = None
    limit: timedelta | None = None

    @property
    def reason(self) -> str:
        if self.stop is Stop.NO_SNAPSHOT:
            return "no watch-list snapshot from the central"
        what = "watch-list snapshot" if self.stop is Stop.SNAPSHOT_OLD else "work not yet sent to the central"
        return f"{what} is {_days(self.age)} old (limit {_days(self.limit)})"


def provisional_print_stops(*, now: datetime, snapshot_taken_at: datetime | None,
                            oldest_unsynced_at: datetime | None, rails: Guardrails) -> list[Guardrail]:
    out = []
    if snapshot_taken_at is None:
        out.append(Guardrail(Stop.NO_SNAPSHOT))
    elif now - snapshot_taken_at > rails.watchlist_max_age:
        out.append(Guardrail(Stop.SNAPSHOT_OLD, now - snapshot_taken_at, rails.watchlist_max_age))
    if oldest_unsynced_at is not None and now - oldest_unsynced_at > rails.unsynced_max_age:
        out.append(Guardrail(Stop.UNSENT_OLD, now - oldest_unsynced_at, rails.unsynced_max_age))
    return out


def provisional_print_blockers(*, now: datetime, snapshot_taken_at: datetime | None,
                               oldest_unsynced_at: datetime | None, rails: Guardrails) -> list[str]:
    return [g.reason for g in provisional_print_stops(now=now, snapshot_taken_at=snapshot_taken_at,
                                                      oldest_unsynced_at=oldest_unsynced_at, rails=rails)]


def _days(d: timedelta | None) -> str:
    if d is None:
        return "?"
    days = d.total_seconds() / 86400
    return f"{days:.1f} days" if days >= 1 else f"{d.total_seconds() / 3600:.1f} hours"
