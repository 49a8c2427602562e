"""The complaint desk (pengaduan): the queue of tickets in hand, overdue first; a ticket logged at
the counter, from a hotline call, an email or SP4N-LAPOR!; one ticket with what was written,
its SLA clocks, assignment, internal notes, state and replies (canned or typed, sent through the
notifications pipeline); the weekly report as a page and a CSV.

Contacts are masked in the queue and the report; a ticket's own page shows what the applicant
wrote (the desk needs it) but never their address in full."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import Response
from pydantic import Field
from starlette.concurrency import run_in_threadpool

from kanim.domain.tickets import Source, TicketState
from kanim.office import tickets
from kanim.office.queries import tickets as queries
from kanim.security.roles import Perm
from kanim.web.console.actions import run
from kanim.web.console.desks import N_
from kanim.web.console.forms import query_day, read_form
from kanim.web.console.render import page
from kanim.web.console.session import PREFIX, ConsoleStaff
from kanim.web.contract import Route
from kanim.web.schemas import RequestBody

router = APIRouter(prefix=f"{PREFIX}/tickets", route_class=Route, include_in_schema=False)
Desk = ConsoleStaff(Perm.HANDLE_TICKETS)
TicketId = Annotated[str, Path(max_length=36)]
LOGGED = (Source.COUNTER, Source.HOTLINE, Source.EMAIL, Source.LAPOR)  # what staff log by hand
WORDS = [N_("ticket:new"), N_("ticket:open"), N_("ticket:waiting"), N_("ticket:resolved"), N_("ticket:closed"),
         N_("source:counter"), N_("source:hotline"), N_("source:whatsapp"), N_("source:sms"), N_("source:telegram"),
         N_("source:email"), N_("source:lapor"), N_("entry:inbound"), N_("entry:reply"), N_("entry:note"), N_("entry:state"),
         N_("entry:assign"), N_("canned:received"), N_("canned:need_number"), N_("canned:waiting_central"),
         N_("canned:resolved"), N_("channel:none"), N_("channel:whatsapp"), N_("channel:sms"), N_("channel:email"),
         N_("channel:telegram")]
PROBLEMS = [N_("problem:ticket-not-found"), N_("problem:ticket-lapor-duplicate"), N_("problem:ticket-no-contact"),
            N_("problem:ticket-state-conflict"), N_("problem:ticket-reply-empty"), N_("problem:ticket-assignee-unknown"),
            N_("problem:ticket-address-missing"), N_("problem:ticket-canned-unknown"), N_("problem:ticket-reply-off"),
            N_("problem:ticket-lapor-ref-missing"), N_("problem:ticket-reply-too-long"),
            N_("problem:ticket-reply-invalid")]


class TicketIn(RequestBody):
    source: Literal["counter", "hotline", "email", "lapor"]
    subject: str = Field(min_length=1, max_length=200)
    body: str = Field(min_length=1, max_length=4000)
    channel: Literal["none", "whatsapp", "sms", "email"] = "none"
    address: str = Field(default="", max_length=254)
    contact_name: str = Field(default="", max_length=80)
    language: Literal["id", "en"] = "id"
    number: str = Field(default="", max_length=40)
    lapor_ref: str | None = Field(default=None, max_length=40, pattern=r"^[A-Za-z0-9-]+$")


class ReplyIn(RequestBody):
    canned: str = Field(default="", max_length=40)
    text: str = Field(default="", max_length=600)
    then: Literal["", "waiting", "resolved"] = ""


class NoteIn(RequestBody):
    body: str = Field(min_length=1, max_length=4000)


class AssignIn(RequestBody):
    assignee: str = Field(min_length=1, max_length=64)


class StateIn(RequestBody):
    state: Literal["open", "waiting", "resolved", "closed"]


@router.get("")
async def tickets_desk(request: Request, user: Desk,
                       state: Annotated[Literal["", "new", "open", "waiting", "resolved", "closed"], Query()] = "") -> Response:
    rows = await run_in_threadpool(lambda: queries.queue(request.app.state.office, state=state))
    return page(request, "console/tickets/desk.html", rows=rows, state=state, states=list(TicketState),
                sources=LOGGED)


@router.post("")
async def log_ticket(request: Request, user: Desk) -> Response:
    body = await read_form(request, TicketIn)
    address = body.address.strip()
    if body.channel in ("whatsapp", "sms") and address:
        from kanim.office.contact import normalise_phone

        address = await run(normalise_phone, address, fields={"phone": "address", "": "address"})
    new = tickets.NewTicket(source=Source(body.source), subject=body.subject, body=body.body, channel=body.channel,
                            address=address, contact_name=body.contact_name, language=body.language,
                            number=body.number, lapor_ref=body.lapor_ref)
    ticket_id = await run(tickets.open_ticket, request.app.state.office, new, actor=user.username,
                          fields={"ticket-address": "address", "ticket-lapor": "lapor_ref"})
    return Response(status_code=204, headers={"HX-Redirect": f"{PREFIX}/tickets/{ticket_id}"})


@router.get("/report")
async def report(request: Request, user: Desk, week: Annotated[str, Query(max_length=10)] = "") -> Response:
    weekly = await run_in_threadpool(queries.weekly, request.app.state.office, query_day(week, "week"))
    return page(request, "console/tickets/report.html", report=weekly, sources=list(Source), states=list(TicketState))


@router.get("/report.csv")
async def report_csv(request: Request, user: Desk, week: Annotated[str, Query(max_length=10)] = "") -> Response:
    weekly = await run_in_threadpool(queries.weekly, request.app.state.office, query_day(week, "week"))
    name = f"tickets-week-{weekly.start.isoformat()}.csv"
    return Response(queries.weekly_csv(weekly), media_type="text/csv; charset=utf-8",
                    headers={"Content-Disposition": f'attachment; filename="{name}"', "Cache-Control": "no-store"})


@router.get("/{ticket_id}")
async def ticket_page(request: Request, ticket_id: TicketId, user: Desk) -> Response:
    return page(request, "console/tickets/ticket.html", **await _ticket(request, ticket_id))


async def _ticket(request: Request, ticket_id: str) -> dict:
    view = await run_in_threadpool(queries.detail, request.app.state.office, ticket_id)
    return {"t": view, "canned": queries.canned(view.language), "states": list(TicketState)}


async def _panel(request: Request, ticket_id: str) -> Response:
    return page(request, "console/tickets/_ticket.html", **await _ticket(request, ticket_id))


@router.post("/{ticket_id}/reply")
async def reply(request: Request, ticket_id: TicketId, user: Desk) -> Response:
    body = await read_form(request, ReplyIn)
    office = request.app.state.office
    text = body.text
    if not text.strip() and body.canned:
        view = await run_in_threadpool(queries.detail, office, ticket_id)
        text = await run(tickets.canned_text, body.canned, view.language)
    await run(tickets.reply, office, ticket_id, text=text, actor=user.username,
              then=TicketState(body.then) if body.then else None, fields={"ticket-reply": "text"})
    return await _panel(request, ticket_id)


@router.post("/{ticket_id}/note")
async def note(request: Request, ticket_id: TicketId, user: Desk) -> Response:
    body = await read_form(request, NoteIn)
    await run(tickets.add_note, request.app.state.office, ticket_id, body=body.body, actor=user.username)
    return await _panel(request, ticket_id)


@router.post("/{ticket_id}/assign")
async def assign(request: Request, ticket_id: TicketId, user: Desk) -> Response:
    body = await read_form(request, AssignIn)
    await run(tickets.assign, request.app.state.office, ticket_id, assignee=body.assignee, actor=user.username,
              fields={"ticket-assignee": "assignee"})
    return await _panel(request, ticket_id)


@router.post("/{ticket_id}/state")
async def set_state(request: Request, ticket_id: TicketId, user: Desk) -> Response:
    body = await read_form(request, StateIn)
    await run(tickets.move, request.app.state.office, ticket_id, to=TicketState(body.state), actor=user.username)
    return await _panel(request, ticket_id)
