"""The front desk: today's appointments by slot with check-in, walk-ins with a printable queue
ticket, search by number, booking, name or NIK (NIKs masked), and the day's quota."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from kanim.domain.application import Priority
from kanim.domain.passport import ApplicationType, PassportKind
from kanim.domain.people import Sex
from kanim.office import booking
from kanim.office.queries import front_desk as queries
from kanim.security.roles import Perm
from kanim.web.console.forms import read_form
from kanim.web.console.render import page
from kanim.web.console.session import PREFIX, ConsoleStaff
from kanim.web.contract import Route
from kanim.web.schemas import ApplicantIn

router = APIRouter(prefix=f"{PREFIX}/front-desk", route_class=Route, include_in_schema=False)
Desk = ConsoleStaff(Perm.CHECK_IN)
CHOICES = {"sexes": list(Sex), "app_types": list(ApplicationType), "passport_kinds": list(PassportKind),
           "priorities": list(Priority)}


@router.get("")
async def front_desk(request: Request, user: Desk) -> Response:
    day = await run_in_threadpool(queries.office_day, request.app.state.office)
    return page(request, "console/front_desk/desk.html", day=day, **CHOICES)


@router.get("/slots")
async def slots(request: Request, user: Desk) -> Response:
    """The appointments table alone (re-read after a check-in or by the desk's refresh)."""
    day = await run_in_threadpool(queries.office_day, request.app.state.office)
    return page(request, "console/front_desk/_slots.html", day=day)


@router.post("/check-in/{application_id}")
async def check_in(request: Request, application_id: Annotated[str, Path(max_length=36)], user: Desk) -> Response:
    office = request.app.state.office
    app = await run_in_threadpool(booking.check_in, office, application_id=application_id, actor=user.username)
    day = await run_in_threadpool(queries.office_day, office)
    return page(request, "console/front_desk/_slots.html", day=day, checked_in=app)


@router.post("/walk-in")
async def walk_in(request: Request, user: Desk) -> Response:
    body = await read_form(request, ApplicantIn)
    app = await run_in_threadpool(booking.walk_in, request.app.state.office,
                                  applicant=booking.Applicant(**body.model_dump()), actor=user.username)
    return page(request, "console/front_desk/_walk_in.html", created=app, **CHOICES)


@router.get("/search")
async def search(request: Request, user: ConsoleStaff(Perm.VIEW_APPLICATION),
                 q: Annotated[str, Query(max_length=100)] = "") -> Response:
    found = await run_in_threadpool(queries.search, request.app.state.office, q)
    return page(request, "console/front_desk/_search.html", q=q, found=found)


@router.get("/ticket/{application_id}")
async def ticket(request: Request, application_id: Annotated[str, Path(max_length=36)], user: Desk) -> Response:
    """A queue ticket to print and hand over: the number the hall's screen calls."""
    from kanim.office.queries.common import application

    app = await run_in_threadpool(application, request.app.state.office, application_id)
    return page(request, "console/front_desk/ticket.html", app=app)
