"""The interview desk: who waits for an interview (photo and fingers captured), one applicant
with their accepted photo to compare with the person at the desk, and the interview notes
(kanim.office.adjudication.record_interview)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from kanim.office import adjudication
from kanim.office.queries import interview as queries
from kanim.office.queries import supervisor as reviews
from kanim.security.roles import Perm
from kanim.web.console.biometrics import photo_response
from kanim.web.console.desks import N_
from kanim.web.console.forms import read_form
from kanim.web.console.render import page
from kanim.web.console.session import PREFIX, ConsoleStaff
from kanim.web.contract import Route
from kanim.web.schemas import NotesIn

router = APIRouter(prefix=f"{PREFIX}/interview", route_class=Route, include_in_schema=False)
Desk = ConsoleStaff(Perm.INTERVIEW)
AppId = Annotated[str, Path(max_length=36)]
PROBLEM_WORDS = [N_("problem:notes-missing")]


@router.get("")
async def interview_desk(request: Request, user: Desk) -> Response:
    queue = await run_in_threadpool(queries.interview_queue, request.app.state.office)
    return page(request, "console/interview/desk.html", queue=queue)


@router.get("/{application_id}")
async def interview_page(request: Request, application_id: AppId, user: Desk) -> Response:
    held = await run_in_threadpool(reviews.review, request.app.state.office, application_id)
    return page(request, "console/interview/interview.html", app=held.application, review=held)


@router.get("/{application_id}/photo.jpg")
async def photo(request: Request, application_id: AppId, user: Desk) -> Response:
    return await photo_response(request, application_id, user, purpose="interview: compare with the applicant")


@router.post("/{application_id}/notes")
async def record_notes(request: Request, application_id: AppId, user: Desk) -> Response:
    body = await read_form(request, NotesIn)
    app = await run_in_threadpool(adjudication.record_interview, request.app.state.office,
                                  application_id=application_id, notes=body.notes, actor=user.username)
    return page(request, "console/interview/_recorded.html", app=app)
