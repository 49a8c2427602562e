"""Time comes from a clock passed in at bootstrap, so tests can stand still or jump ahead."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Protocol
from zoneinfo import ZoneInfo


class Clock(Protocol):
    def now(self) -> datetime: ...


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)


@dataclass
class FakeClock:
    current: datetime

    def now(self) -> datetime:
        return self.current

    def advance(self, **delta: float) -> None:
        self.current = self.current + timedelta(**delta)


def local_date(at: datetime, tz: str) -> date:
    """The office's calendar day (Indonesia spans three time zones; quotas are per local day)."""
    return at.astimezone(ZoneInfo(tz)).date()
