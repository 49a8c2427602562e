"""The status page desk (`/staff/status`, supervisors: `manage_status`): the public page as
the public sees it, and the forms that write it — an incident or a maintenance window, an
update to one, and a staff level for a service with its reason and until when. Every word is
public and written in both languages; the use cases are kanim/office/status_page.py.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Path, Request
from fastapi.responses import Response
from pydantic import Field
from starlette.concurrency import run_in_threadpool

from kanim.domain.status_page import Cause, Component, IncidentState, Level
from kanim.office import status_page
from kanim.security.roles import Perm
from kanim.web.console.actions import run
from kanim.web.console.desks import N_
from kanim.web.console.forms import validated
from kanim.web.console.render import page
from kanim.web.console.session import PREFIX, ConsoleStaff
from kanim.web.contract import Route
from kanim.web.schemas import RequestBody
from kanim.web.status_page import COMPONENT_WORDS, LEVEL_TONES, LEVEL_WORDS, STATE_WORDS

router = APIRouter(prefix=f"{PREFIX}/status", route_class=Route, include_in_schema=False)
Desk = ConsoleStaff(Perm.MANAGE_STATUS)
IncidentId = Annotated[str, Path(max_length=36)]
PROBLEM_WORDS = [N_("problem:status-words-missing"), N_("problem:status-components-missing"),
                 N_("problem:status-window"), N_("problem:status-update-order"), N_("problem:status-until-past"),
                 N_("problem:status-incident-unknown")]
# Why kanim set a level, in a staff member's words (the public page says what it means for them).
CAUSES = {Cause.LINK_DOWN: N_("the link to the central is down"), Cause.UNLINKED: N_("no central is configured"),
          Cause.LINK_DEGRADED: N_("the link is degraded"), Cause.LINK_STALLED: N_("the link is stalled"),
          Cause.GUARDRAIL: N_("a guardrail stops provisional printing"), Cause.DEAD_LETTERS: N_("dead letters"),
          Cause.PICKUP_BACKLOG: N_("pickup slots are given weeks ahead"), Cause.INCIDENT: N_("an open incident"),
          Cause.MAINTENANCE: N_("maintenance in progress"), Cause.OVERRIDE: N_("set by staff")}
Words = Annotated[str, Field(max_length=2000)]
Title = Annotated[str, Field(max_length=200)]


class IncidentIn(RequestBody):
    kind: str = Field(pattern=r"^(incident|maintenance)$")
    title_id: Title
    title_en: Title
    body_id: Words
    body_en: Words
    components: list[Component] = Field(max_length=len(Component))
    impact: Level
    starts_at: datetime | None = None
    ends_at: datetime | None = None
    tell: bool = False  # an unticked box sends nothing: the form ticks it by default
    social: bool = False


class UpdateIn(RequestBody):
    state: IncidentState
    body_id: Words
    body_en: Words
    tell: bool = False
    social: bool = False


class OverrideIn(RequestBody):
    component: Component
    level: Level | None = None  # none: give the service back to kanim's own reading
    reason_id: Annotated[str, Field(max_length=300)] = ""
    reason_en: Annotated[str, Field(max_length=300)] = ""
    until: datetime | None = None


@router.get("")
async def status_desk(request: Request, user: Desk) -> Response:
    return page(request, "console/status/desk.html", **await _context(request))


@router.post("/incidents")
async def open_incident(request: Request, user: Desk) -> Response:
    form = await request.form()
    data = _fields(form, ("kind", "title_id", "title_en", "body_id", "body_en", "impact", "tell", "social"))
    data["components"] = form.getlist("components")
    for name in ("starts_at", "ends_at"):
        if form.get(name):
            data[name] = _local(request, str(form.get(name)))
    body = validated(IncidentIn, data)
    office = request.app.state.office
    incident_id = await run(status_page.open_incident, office, actor=user.username, **body.model_dump())
    return page(request, "console/status/_desk.html", done="opened", told=await _told(office, incident_id),
                **await _context(request))


@router.post("/incidents/{incident_id}/updates")
async def add_update(request: Request, incident_id: IncidentId, user: Desk) -> Response:
    body = validated(UpdateIn, _fields(await request.form(), ("state", "body_id", "body_en", "tell", "social")))
    office = request.app.state.office
    await run(status_page.add_update, office, incident_id=incident_id, actor=user.username, **body.model_dump())
    return page(request, "console/status/_desk.html", done="updated", told=await _told(office, incident_id),
                **await _context(request))


@router.post("/overrides")
async def set_override(request: Request, user: Desk) -> Response:
    form = await request.form()
    data = _fields(form, ("component", "level", "reason_id", "reason_en"))
    if form.get("until"):
        data["until"] = _local(request, str(form.get("until")))
    body = validated(OverrideIn, data)
    office = request.app.state.office
    if body.level is None:
        await run_in_threadpool(status_page.clear_override, office, component=body.component, actor=user.username)
    else:
        await run(status_page.set_override, office, component=body.component, level=body.level,
                  reason_id=body.reason_id, reason_en=body.reason_en, until=body.until, actor=user.username)
    return page(request, "console/status/_desk.html", done="override", **await _context(request))


def _fields(form, names: tuple[str, ...]) -> dict[str, str]:  # noqa: ANN001
    return {n: str(form.get(n)) for n in names if form.get(n) not in (None, "")}


def _local(request: Request, text: str) -> str:
    """A `datetime-local` field is the office's own time (08:00 WITA); kept as text with its
    offset for the model to parse (and to refuse by name when it is not a time)."""
    try:
        at = datetime.fromisoformat(text)
    except ValueError:
        return text
    if at.tzinfo is None:
        at = at.replace(tzinfo=ZoneInfo(request.app.state.office.settings.timezone))
    return at.isoformat()


async def _told(office, incident_id: str) -> dict | None:  # noqa: ANN001
    """What the latest publication of `incident_id` wrote (its audit's counts)."""
    return await run_in_threadpool(status_page.last_told, office, incident_id)


async def _context(request: Request) -> dict:
    office = request.app.state.office
    data = await run_in_threadpool(status_page.page, office)
    outreach = await run_in_threadpool(status_page.outreach, office)
    return {**outreach, "board": data, "components": COMPONENT_WORDS, "levels": LEVEL_WORDS, "tones": LEVEL_TONES,
            "states": STATE_WORDS, "cause_words": CAUSES, "component_list": list(Component), "level_list": list(Level),
            "state_list": list(IncidentState)}
