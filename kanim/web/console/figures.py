"""Figures as the dashboard and the national view write them, in the desk's language: counts
(1.201.561), rates (2,5), durations (2 jam 5 menit), and the labels of a chart's time axis in the office's
zone (08:00 for hours, 1 Des for days)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from babel.dates import format_date, format_time, format_timedelta
from babel.numbers import format_decimal

from kanim.web.console.render import BABEL_LOCALES


@dataclass(frozen=True)
class Figures:
    lang: str
    tz: str

    @property
    def locale(self) -> str:
        return BABEL_LOCALES[self.lang]

    def count(self, n: int | None) -> str:
        return "–" if n is None else format_decimal(n, format="#,##0", locale=self.locale)

    def rate(self, per_second: float | None) -> str:
        return "–" if per_second is None else format_decimal(per_second, format="#,##0.0", locale=self.locale)

    def duration(self, d: timedelta | float | None) -> str:
        """How long, to the minute: 45 detik, 3 menit, 2 jam 5 menit, 4 hari 3 jam."""
        if d is None:
            return "–"
        seconds = int(max(0.0, d.total_seconds() if isinstance(d, timedelta) else float(d)))
        if seconds < 60:
            return self._unit(seconds, "second")
        minutes, hours, days = seconds // 60 % 60, seconds // 3600 % 24, seconds // 86400
        if not hours and not days:
            return self._unit(minutes * 60, "minute")
        if not days:
            return self._two(self._unit(hours * 3600, "hour"), minutes and self._unit(minutes * 60, "minute"))
        return self._two(self._unit(days * 86400, "day"), hours and self._unit(hours * 3600, "hour"))

    @staticmethod
    def _two(big: str, small: str | int) -> str:
        return f"{big} {small}" if small else big

    def _unit(self, seconds: int, unit: str) -> str:
        # A threshold no value reaches: Babel writes the amount in `unit` itself, not rounded up.
        return format_timedelta(timedelta(seconds=seconds), granularity=unit, threshold=1e9, locale=self.locale)

    def tick(self, at: datetime, step: timedelta) -> str:
        """A time axis' label: the local time, or the day when the ticks are days apart."""
        local = at.astimezone(ZoneInfo(self.tz))
        if step >= timedelta(days=1):
            return format_date(local, "d MMM", locale=self.locale)
        return format_time(local, "HH:mm", locale=self.locale)
