"""The supervisor's desk: the approval queue (approve, reject with a reason, cancel with a
reason), the holds with their reasons (the office's and the central's) and releasing a hold
once nothing is flagged, and the link's dead letters with retry (kanim.link.views).

Extra pickup service (a Saturday) is opened here too (Perm.MANAGE_PICKUP): the ready passports
still waiting for a slot fill it in the notification worker's next round
(kanim.office.pickup_slots).

The same action answers the part of the page it was sent from: htmx names that part in the
`HX-Target` header (`approvals` or `holds` on the desk, `decision` on one application's
review), and the action re-renders it with its outcome.
"""

from __future__ import annotations

import re
from typing import Annotated

from fastapi import APIRouter, Path, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from kanim.domain.application import Application
from kanim.domain.errors import NotFound
from kanim.link import views
from kanim.office import adjudication, pickup_slots
from kanim.office.queries import supervisor as queries
from kanim.security.roles import Perm, allowed
from kanim.web.console.actions import run
from kanim.web.console.biometrics import photo_response
from kanim.web.console.desks import N_
from kanim.web.console.forms import read_form, validated
from kanim.web.console.render import page
from kanim.web.console.session import PREFIX, ConsoleStaff
from kanim.web.contract import Route
from kanim.web.schemas import PickupExtraIn, ReasonIn

router = APIRouter(prefix=f"{PREFIX}/supervisor", route_class=Route, include_in_schema=False)
Desk = ConsoleStaff(Perm.ADJUDICATE)
AppId = Annotated[str, Path(max_length=36)]
OpId = Annotated[str, Path(max_length=36)]
# How many rows each part of the desk shows: enough for a morning's work, small enough for the
# page to stay light (the counts say how many wait in all; each list is oldest first).
APPROVALS_SHOWN, HOLDS_SHOWN, DEAD_LETTERS_SHOWN = 25, 20, 20
PROBLEM_WORDS = [N_("problem:flagged"), N_("problem:reason-missing"), N_("problem:dead-letter-not-found"),
                 N_("problem:application-not-found"), N_("problem:pickup-extra-past"),
                 N_("problem:pickup-extra-exists"), N_("problem:pickup-extra-empty"), N_("problem:pickup-slot-format")]
# Where open_extra's refusals go on the extra-service form (kanim/web/console/actions.py).
EXTRA_FIELDS = {"pickup-extra-past": "day", "pickup-extra-exists": "day", "pickup-extra-empty": "seats",
                "pickup-slot": "slots"}
SOURCES = [N_("source:office"), N_("source:central")]  # who decided a clearance
DONE = {"approved": N_("%(number)s approved: it goes to the print room."),
        "rejected": N_("%(number)s rejected."),
        "cancelled": N_("%(number)s cancelled."),
        "released": N_("%(number)s released from hold: it is %(stage)s again.")}


# -- the desk ----------------------------------------------------------------------------------

@router.get("")
async def supervisor_desk(request: Request, user: Desk) -> Response:
    office = request.app.state.office
    approvals = await run_in_threadpool(lambda: queries.approval_queue(office, limit=APPROVALS_SHOWN))
    holds = await run_in_threadpool(lambda: queries.holds(office, limit=HOLDS_SHOWN))
    letters = await _dead_letters(request, user, limit=DEAD_LETTERS_SHOWN)
    service = await _pickup_service(request, user)
    return page(request, "console/supervisor/desk.html", approvals=approvals, holds=holds, **letters, **service)


@router.get("/approvals")
async def approvals(request: Request, user: Desk) -> Response:
    return await _approvals(request)


@router.get("/holds")
async def holds(request: Request, user: Desk) -> Response:
    return await _holds(request)


@router.get("/dead-letters")
async def dead_letters(request: Request, user: ConsoleStaff(Perm.VIEW_LINK)) -> Response:
    """A page of its own too: an administrator (who may retry) has no supervisor's desk."""
    letters = await _dead_letters(request, user)
    if request.headers.get("HX-Request") == "true":
        return page(request, "console/supervisor/_dead_letters.html", **letters)
    return page(request, "console/supervisor/dead_letters.html", **letters)


@router.post("/dead-letters/{op_id}/retry")
async def retry_dead_letter(request: Request, op_id: OpId, user: ConsoleStaff(Perm.MANAGE_LINK)) -> Response:
    office = request.app.state.office
    if not await run_in_threadpool(views.retry_dead_letter, office, op_id, actor=user.username):
        raise NotFound(f"{op_id} is not a dead letter", code="dead-letter-not-found")
    letters = await _dead_letters(request, user)
    return page(request, "console/supervisor/_dead_letters.html", retried=op_id, **letters)


# -- extra pickup service -----------------------------------------------------------------------

@router.post("/pickup-extra")
async def open_pickup_extra(request: Request, user: ConsoleStaff(Perm.MANAGE_PICKUP)) -> Response:
    """Open extra pickup service on a later day, as the API's POST /pickup/extra does."""
    form = await request.form()
    fields = {"day": form.get("day"), "slots": slot_times(str(form.get("slots", ""))), "seats": form.get("seats")}
    body = validated(PickupExtraIn, {k: v for k, v in fields.items() if v not in (None, "")})
    await run(pickup_slots.open_extra, request.app.state.office, day=body.day, slots=body.slots, seats=body.seats,
              actor=user.username, fields=EXTRA_FIELDS)
    service = await _pickup_service(request, user)
    return page(request, "console/supervisor/_pickup_extra.html", opened=body.day, **service)


def slot_times(text: str) -> list[str]:
    """'8:00, 09:00 10:00' -> ['08:00', '09:00', '10:00']: commas or spaces between, an hour
    written with one digit padded, a time given twice kept once (a repeated slot would stop the
    pickup calendar); what is still not HH:MM is left for the rule to refuse by name."""
    times = [re.sub(r"^(\d):", r"0\1:", part) for part in re.split(r"[\s,;]+", text.strip()) if part]
    return sorted(set(times))


async def _pickup_service(request: Request, user) -> dict:  # noqa: ANN001
    """The extra-service card for whoever may open it; nothing for the others."""
    if not allowed(user.role, Perm.MANAGE_PICKUP):
        return {"service": None}
    office = request.app.state.office
    service = await run_in_threadpool(pickup_slots.extra_service, office)
    s = office.settings
    return {"service": service, "default_slots": ", ".join(x.strftime("%H:%M") for x in s.pickup_slot_times),
            "default_seats": s.pickup_seats_per_slot}


# -- one application ---------------------------------------------------------------------------

@router.get("/{application_id}")
async def review(request: Request, application_id: AppId, user: Desk) -> Response:
    held = await run_in_threadpool(queries.review, request.app.state.office, application_id)
    return page(request, "console/supervisor/review.html", app=held.application, review=held)


@router.get("/{application_id}/photo.jpg")
async def photo(request: Request, application_id: AppId, user: Desk) -> Response:
    return await photo_response(request, application_id, user, purpose="supervisor: review the application")


@router.post("/{application_id}/approve")
async def approve(request: Request, application_id: AppId, user: Desk) -> Response:
    app = await run_in_threadpool(adjudication.approve, request.app.state.office, application_id=application_id,
                                  actor=user.username)
    return await _answer(request, app, "approved")


@router.post("/{application_id}/reject")
async def reject(request: Request, application_id: AppId, user: Desk) -> Response:
    body = await read_form(request, ReasonIn)
    app = await run_in_threadpool(adjudication.reject, request.app.state.office, application_id=application_id,
                                  reason=body.reason, actor=user.username)
    return await _answer(request, app, "rejected")


@router.post("/{application_id}/cancel")
async def cancel(request: Request, application_id: AppId, user: Desk) -> Response:
    body = await read_form(request, ReasonIn)
    app = await run_in_threadpool(adjudication.cancel, request.app.state.office, application_id=application_id,
                                  reason=body.reason, actor=user.username)
    return await _answer(request, app, "cancelled")


@router.post("/{application_id}/release-hold")
async def release_hold(request: Request, application_id: AppId, user: Desk) -> Response:
    app = await run_in_threadpool(adjudication.release_hold, request.app.state.office,
                                  application_id=application_id, actor=user.username)
    return await _answer(request, app, "released")


# -- fragments ---------------------------------------------------------------------------------

async def _answer(request: Request, app: Application, done: str) -> Response:
    """The part of the page the action came from, re-rendered with what was done."""
    target = request.headers.get("HX-Target")
    if target == "approvals":
        return await _approvals(request, done=done, app=app)
    if target == "holds":
        return await _holds(request, done=done, app=app)
    held = await run_in_threadpool(queries.review, request.app.state.office, app.id)
    return page(request, "console/supervisor/_decision.html", app=held.application, review=held, done=done,
                done_words=DONE[done])


async def _approvals(request: Request, **done: object) -> Response:
    office = request.app.state.office
    queue = await run_in_threadpool(lambda: queries.approval_queue(office, limit=APPROVALS_SHOWN))
    return page(request, "console/supervisor/_approvals.html", approvals=queue, **_done(done))


async def _holds(request: Request, **done: object) -> Response:
    office = request.app.state.office
    held = await run_in_threadpool(lambda: queries.holds(office, limit=HOLDS_SHOWN))
    return page(request, "console/supervisor/_holds.html", holds=held, **_done(done))


def _done(done: dict) -> dict:
    return {"done": done["done"], "done_app": done["app"], "done_words": DONE[done["done"]]} if done else {}


async def _dead_letters(request: Request, user, *, limit: int = queries.DEAD_LETTER_LIMIT) -> dict:  # noqa: ANN001
    """The dead letters for whoever may see them, and whether they may retry them."""
    if not allowed(user.role, Perm.VIEW_LINK):
        return {"letters": None, "may_retry": False}
    office = request.app.state.office
    letters = await run_in_threadpool(lambda: queries.dead_letters(office, limit=limit))
    return {"letters": letters, "may_retry": allowed(user.role, Perm.MANAGE_LINK)}
