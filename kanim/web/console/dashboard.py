"""The recovery dashboard (supervisors, and the admin accounts the head of office and IT use):
the link's state and since when, the queue by priority, the oldest unsent operation, the
drain's rate and ETA, the backlog by stage, passports printed and waiting for the central, the
guardrails with their reasons, the backups (each target's newest snapshot and last good drill,
as the node's backup watch last found them), the backlog over time across the last outage and
the outages as a timeline.

The page re-reads its live region (`/staff/dashboard/live`) every second: a change shows within
two. What it reads costs in proportion to what is queued and open, not to the office's history
(kanim/office/queries/dashboard.py; measured in bench/desk_pages.py).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from kanim.bootstrap import Office
from kanim.office.queries import dashboard as queries
from kanim.security.roles import Perm
from kanim.web.console.charts import line_chart, strip_chart
from kanim.web.console.figures import Figures
from kanim.web.console.render import gettext, page
from kanim.web.console.session import PREFIX, ConsoleStaff
from kanim.web.contract import Route

router = APIRouter(prefix=f"{PREFIX}/dashboard", route_class=Route, include_in_schema=False)
Desk = ConsoleStaff(Perm.VIEW_LINK)
TIMELINE_DAYS = 7
POLL_SECONDS = 1


@router.get("")
async def dashboard(request: Request, user: Desk) -> Response:
    view = await run_in_threadpool(read, request.app.state.office)
    return page(request, "console/dashboard/desk.html", **context(request, view))


@router.get("/live")
async def live(request: Request, user: Desk) -> Response:
    """The live region alone, for the page's poll."""
    view = await run_in_threadpool(read, request.app.state.office)
    return page(request, "console/dashboard/_live.html", **context(request, view))


def read(office: Office) -> dict[str, Any]:
    from kanim.backup import health_file

    # What the node's backup watch last found, per target (kanim/backup/watch.py): the age of
    # the newest snapshot and of the last good drill, beside the link's figures.
    return {"live": queries.live(office), "outages": queries.outages(office),
            "burn": queries.burn_down(office), "backup": health_file.read(office.settings.data_dir),
            "backup_stale_after": health_file.STALE_AFTER}


def context(request: Request, view: dict[str, Any]) -> dict[str, Any]:
    lang, tz = request.state.lang, request.app.state.office.settings.timezone
    fig = Figures(lang, tz)
    live, burn = view["live"], view["burn"]
    ongoing = next((o for o in view["outages"][:1] if o.ended_at is None), None)
    return {**view, "fig": fig, "poll_seconds": POLL_SECONDS, "chart": _burn_chart(burn, live.now, lang, tz, fig),
            "strip": _strip(view["outages"], live.now, lang, tz, fig),
            # An outage may pass through several states (degraded, then down): "since" is its start.
            "since": ongoing.started_at if ongoing else live.link["since"]}


def _phases(outage: queries.Outage | None, now: Any) -> list[tuple[Any, Any, str]]:
    return [(p.started_at, p.ended_at or now, p.state) for p in (outage.phases if outage else [])]


def _burn_chart(burn: queries.BurnDown, now: Any, lang: str, tz: str, fig: Figures):  # noqa: ANN202
    first, last = burn.points[0][1], burn.points[-1][1]
    peak = max(v for _, v in burn.points)
    title = gettext(lang, "Queued operations across the last outage") if burn.outage else \
        gettext(lang, "Queued operations in the last hour")
    description = gettext(lang, "From %(start)s to %(end)s: %(first)s queued at the start, %(peak)s at most, "
                                "%(last)s now.", start=fig.tick(burn.start, timedelta(0)),
                          end=fig.tick(burn.end, timedelta(0)), first=fig.count(first), peak=fig.count(peak),
                          last=fig.count(last))
    return line_chart("burn-down-chart", burn.points, start=burn.start, end=burn.end, tz=tz, title=title,
                      description=description, time_label=fig.tick, number=fig.count,
                      bands=_phases(burn.outage, now))


def _strip(outages: list[queries.Outage], now: Any, lang: str, tz: str, fig: Figures):  # noqa: ANN202
    start = now - timedelta(days=TIMELINE_DAYS)
    spans = [span for o in outages for span in _phases(o, now)]
    shown = [o for o in outages if (o.ended_at or now) > start]
    description = gettext(lang, "%(n)s outages in the last %(days)s days.", n=len(shown), days=TIMELINE_DAYS)
    return strip_chart("incident-strip", spans, start=start, end=now, tz=tz,
                       title=gettext(lang, "The link's outages, last %(days)s days", days=TIMELINE_DAYS),
                       description=description, time_label=fig.tick)
