"""Guardrails on provisional printing (after MOSIP's registration client).

Printing on provisional clearances is what keeps an office working through an outage, but not
forever: when the office's watch-list snapshot is too old, or its oldest unsent work is too old,
the office may be printing for someone the central would refuse. Then provisional printing
stops, with the reason shown to staff; printing on confirmed clearances goes on.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta


@dataclass(frozen=True)
class Guardrails:
    watchlist_max_age: timedelta
    unsynced_max_age: timedelta


def provisional_print_blockers(*, now: datetime, snapshot_taken_at: datetime | None,
                               oldest_unsynced_at: datetime | None, rails: Guardrails) -> list[str]:
    reasons = []
    if snapshot_taken_at is None:
        reasons.append("no watch-list snapshot from the central")
    elif now - snapshot_taken_at > rails.watchlist_max_age:
        reasons.append(f"watch-list snapshot is {_days(now - snapshot_taken_at)} old "
                       f"(limit {_days(rails.watchlist_max_age)})")
    if oldest_unsynced_at is not None and now - oldest_unsynced_at > rails.unsynced_max_age:
        reasons.append(f"work not yet sent to the central is {_days(now - oldest_unsynced_at)} old "
                       f"(limit {_days(rails.unsynced_max_age)})")
    return reasons


def _days(d: timedelta) -> str:
    days = d.total_seconds() / 86400
    return f"{days:.1f} days" if days >= 1 else f"{d.total_seconds() / 3600:.1f} hours"
