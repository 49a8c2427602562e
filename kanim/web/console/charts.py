"""Charts drawn on the server as SVG (no charting library, no script): the geometry of a time
series, which console/_chart.html turns into an <svg> element.

Pure layout: values in, coordinates and labels out. The words (title, description, tick labels)
come from the caller, in the desk's language and the office's time zone.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

WIDTH, HEIGHT = 720, 220  # the SVG's own units; it is drawn at the width of its card
STRIP_WIDTH, STRIP_HEIGHT = 1280, 56
LEFT, RIGHT, TOP, BOTTOM = 52, 12, 12, 28  # margins for the axes' labels
# Tick intervals a time axis may use, smallest first: at most MAX_TICKS of them fit.
INTERVALS = [timedelta(minutes=m) for m in (1, 2, 5, 10, 15, 30)] + \
            [timedelta(hours=h) for h in (1, 2, 3, 6, 12)] + [timedelta(days=d) for d in (1, 2, 7, 14, 28)]
MAX_TICKS = 7


@dataclass(frozen=True)
class Tick:
    at: float  # x or y in the SVG's coordinates
    label: str


@dataclass(frozen=True)
class Band:
    """A stretch of time shaded behind the data (an outage, by its state)."""

    x: float
    width: float
    kind: str  # degraded | down


@dataclass(frozen=True)
class Bar:
    x: float
    y: float
    width: float
    height: float
    value: int


@dataclass(frozen=True)
class Chart:
    id: str
    title: str
    description: str
    line: str = ""  # an SVG path's d
    area: str = ""
    bars: list[Bar] = field(default_factory=list)
    x_ticks: list[Tick] = field(default_factory=list)
    y_ticks: list[Tick] = field(default_factory=list)
    bands: list[Band] = field(default_factory=list)
    last: tuple[float, float] | None = None  # the newest point, marked
    width: int = WIDTH
    height: int = HEIGHT

    @property
    def plot(self) -> tuple[float, float, float, float]:
        """left, top, right, bottom of the plotting area."""
        return LEFT, TOP, self.width - RIGHT, self.height - BOTTOM


def nice_ceiling(value: float) -> int:
    """The axis' top: a round number at least the value, divisible by 4 (the axis has ticks at
    each quarter, which must be whole numbers)."""
    if value <= 40:
        return max(4, 4 * math.ceil(value / 4))
    power = 10 ** math.floor(math.log10(value))
    return next(int(m * power) for m in (1, 1.2, 1.6, 2, 2.4, 3.2, 4, 4.8, 6, 8, 10) if m * power >= value)


@dataclass(frozen=True)
class Axes:
    start: datetime
    end: datetime
    top: int  # the y axis' maximum value
    height: int = HEIGHT
    width: int = WIDTH

    def x(self, at: datetime) -> float:
        span = (self.end - self.start).total_seconds() or 1.0
        share = (at - self.start).total_seconds() / span
        return round(LEFT + max(0.0, min(1.0, share)) * (self.width - LEFT - RIGHT), 1)

    def y(self, value: float) -> float:
        return round(self.height - BOTTOM - (value / self.top) * (self.height - TOP - BOTTOM), 1)


def time_ticks(start: datetime, end: datetime, tz: str, label: Callable[[datetime, timedelta], str],
               axes: Axes) -> list[Tick]:
    """Ticks at round local times (whole hours, local midnights...), at most MAX_TICKS."""
    span = end - start
    longest = INTERVALS[-1] * math.ceil(span / INTERVALS[-1] / (MAX_TICKS - 1))  # beyond 28 days: whole months
    step = next((i for i in INTERVALS if span / i <= MAX_TICKS - 1), longest)
    zone = ZoneInfo(tz)
    local = start.astimezone(zone)
    if step >= timedelta(days=1):
        first = local.replace(hour=0, minute=0, second=0, microsecond=0)
    else:
        minutes = max(1, int(step.total_seconds() // 60))
        midnight = local.replace(hour=0, minute=0, second=0, microsecond=0)
        since = int((local - midnight).total_seconds() // 60)
        first = midnight + timedelta(minutes=since - since % minutes)
    ticks, at = [], first
    while at <= end:
        if at >= start:
            ticks.append(Tick(axes.x(at), label(at, step)))
        at = (at + step).astimezone(zone)  # wall-clock steps: WIB/WITA/WIT have no summer time
    return ticks


def value_ticks(axes: Axes, label: Callable[[int], str]) -> list[Tick]:
    return [Tick(axes.y(axes.top * k / 4), label(round(axes.top * k / 4))) for k in range(5)]


def line_chart(id: str, points: Sequence[tuple[datetime, int]], *, start: datetime, end: datetime, tz: str,
               title: str, description: str, time_label: Callable[[datetime, timedelta], str],
               number: Callable[[int], str], bands: Sequence[tuple[datetime, datetime, str]] = ()) -> Chart:
    """A level over time (the queue, open applications): a line over a light area."""
    axes = Axes(start, end, nice_ceiling(max((v for _, v in points), default=0)))
    xy = [(axes.x(at), axes.y(v)) for at, v in points]
    line = "M" + " L".join(f"{x},{y}" for x, y in xy) if xy else ""
    base = axes.y(0)
    area = f"{line} L{xy[-1][0]},{base} L{xy[0][0]},{base} Z" if xy else ""
    shaded = [Band(axes.x(a), round(axes.x(b) - axes.x(a), 1), kind) for a, b, kind in bands if b > start]
    return Chart(id, title, description, line=line, area=area, bands=shaded, last=xy[-1] if xy else None,
                 x_ticks=time_ticks(start, end, tz, time_label, axes), y_ticks=value_ticks(axes, number))


def bar_chart(id: str, values: Sequence[tuple[datetime, int]], *, start: datetime, end: datetime,
              width: timedelta, tz: str, title: str, description: str,
              time_label: Callable[[datetime, timedelta], str], number: Callable[[int], str]) -> Chart:
    """A count per bucket of time (operations received per quarter hour): one bar each."""
    axes = Axes(start, end, nice_ceiling(max((v for _, v in values), default=0)))
    bars = []
    for at, v in values:
        x0, x1 = axes.x(at), axes.x(min(at + width, end))
        bars.append(Bar(x0, axes.y(v), max(round(x1 - x0 - 1, 1), 1.0), round(axes.y(0) - axes.y(v), 1), v))
    return Chart(id, title, description, bars=bars, x_ticks=time_ticks(start, end, tz, time_label, axes),
                 y_ticks=value_ticks(axes, number))


def strip_chart(id: str, spans: Sequence[tuple[datetime, datetime, str]], *, start: datetime, end: datetime,
                tz: str, title: str, description: str, time_label: Callable[[datetime, timedelta], str]) -> Chart:
    """Stretches of time on a time line (the link's outages over the last days), no values."""
    axes = Axes(start, end, 4, height=STRIP_HEIGHT, width=STRIP_WIDTH)
    bands = [Band(axes.x(max(a, start)), max(round(axes.x(b) - axes.x(max(a, start)), 1), 1.5), kind)
             for a, b, kind in spans if b > start]
    return Chart(id, title, description, bands=bands, x_ticks=time_ticks(start, end, tz, time_label, axes),
                 height=STRIP_HEIGHT, width=STRIP_WIDTH)
