"""The central's console: the national view (every office's link state, last contact, backlog by
stage, oldest waiting application and drain, and the national backlog over time after an
outage) and the central's payment mismatches.

Read through kanim.central (service.national_view, service.payment_issues, kanim.central.national);
the page re-reads its live region every few seconds.
"""

from __future__ import annotations

from datetime import timedelta
from enum import IntEnum
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from kanim.central import national, service
from kanim.central.node import CentralNode
from kanim.security.roles import Perm
from kanim.web.console.charts import bar_chart, line_chart
from kanim.web.console.figures import Figures
from kanim.web.console.render import gettext, page
from kanim.web.console.session import PREFIX, ConsoleStaff
from kanim.web.contract import Route

router = APIRouter(prefix=PREFIX, route_class=Route, include_in_schema=False)
Viewer = ConsoleStaff(Perm.NATIONAL_VIEW)
POLL_SECONDS = 5  # the national view reads the whole registry; the office dashboard is the one to watch by the second
Window = IntEnum("Window", {f"hours_{h}": h for h in national.WINDOWS_HOURS})  # ?hours=24
Hours = Annotated[Window, Query(description="the history's window, in hours")]


@router.get("/national")
async def national_view(request: Request, user: Viewer, hours: Hours = Window(24)) -> Response:
    view = await run_in_threadpool(read, request.app.state.node, int(hours))
    return page(request, "console/national/desk.html", **context(request, view))


@router.get("/national/live")
async def national_live(request: Request, user: Viewer, hours: Hours = Window(24)) -> Response:
    view = await run_in_threadpool(read, request.app.state.node, int(hours))
    return page(request, "console/national/_live.html", **context(request, view))


@router.get("/payments")
async def payments(request: Request, user: Viewer) -> Response:
    """Mismatches between the bank and the offices' billing, for a supervisor to resolve."""
    issues = await run_in_threadpool(service.payment_issues, request.app.state.node)
    return page(request, "console/national/payments.html", issues=issues)


def read(node: CentralNode, hours: int) -> dict[str, Any]:
    with node.uow(readonly=True) as uow:
        now = uow.now()
    return {"offices": service.national_view(node), "drains": national.drains(node),
            "history": national.history(node, hours=hours), "hours": hours, "now": now,
            "open_stages": national.OPEN, "windows": national.WINDOWS_HOURS}


def context(request: Request, view: dict[str, Any]) -> dict[str, Any]:
    lang, tz = request.state.lang, request.app.state.node.settings.timezone
    fig = Figures(lang, tz)
    h: national.History = view["history"]
    totals = {state: sum(1 for o in view["offices"] if o["link_state"] == state)
              for state in ("up", "degraded", "down", "never")}
    first, last = h.open_points[0][1], h.open_points[-1][1]
    backlog = line_chart(
        "national-backlog-chart", h.open_points, start=h.start, end=h.end, tz=tz, time_label=fig.tick,
        number=fig.count, title=gettext(lang, "Open applications in the national registry"),
        description=gettext(lang, "Over the last %(hours)s hours: %(first)s open at the start, %(last)s now.",
                            hours=view["hours"], first=fig.count(first), last=fig.count(last)))
    total = fig.count(sum(v for _, v in h.received))
    received = bar_chart(
        "national-received-chart", h.received, start=h.start, end=h.end, width=h.width, tz=tz,
        time_label=fig.tick, number=fig.count,
        title=gettext(lang, "Operations received from the offices, per %(width)s", width=fig.duration(h.width)),
        description=gettext(lang, "%(n)s operations received in the last %(hours)s hours; a gap is a time no office "
                            "reached the central.", n=total, hours=view["hours"]))
    return {**view, "fig": fig, "totals": totals, "backlog_chart": backlog, "received_chart": received,
            "poll_seconds": POLL_SECONDS, "silent": lambda at: fig.duration(view["now"] - at) if at else "–",
            "recent_minutes": int(national.RECENT / timedelta(minutes=1))}
