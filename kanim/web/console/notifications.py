"""The notifications desk (pemberitahuan): what the office tells applicants and whether it got
through. The queue by state and channel, the events still waiting for the rules, the worker that
holds the lease (or a warning that none runs), the latest failures; one application's messages
with every attempt; the rules, switched on and off by a supervisor; and a template previewed with
sample data.

Contacts are shown masked, and a message's text is never read back from the database (it is not
kept): the preview renders the template afresh from `kanim.notify.render.sample_params`.
"""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from kanim.bootstrap import Office
from kanim.domain.contact import Channel
from kanim.domain.errors import NotFound
from kanim.notify import gsm, render
from kanim.notify.purposes import FALLBACK_ORDER, Purpose, State
from kanim.office import notify
from kanim.office.queries import notify as queries
from kanim.security.roles import Perm, allowed
from kanim.web.console.desks import N_
from kanim.web.console.figures import Figures
from kanim.web.console.forms import read_form
from kanim.web.console.render import LANGUAGES, page
from kanim.web.console.session import PREFIX, ConsoleStaff
from kanim.web.contract import Route
from kanim.web.schemas import NotifyRuleIn

router = APIRouter(prefix=f"{PREFIX}/notifications", route_class=Route, include_in_schema=False)
Desk = ConsoleStaff(Perm.VIEW_NOTIFY)
Manage = ConsoleStaff(Perm.MANAGE_NOTIFY)  # kanim.security.roles: switch rules, preview templates
Number = Annotated[str, Query(max_length=40)]
FAILURES_SHOWN = 20
SECTIONS = [("", N_("Queue and failures"), Perm.VIEW_NOTIFY), ("history", N_("Message history"), Perm.VIEW_NOTIFY),
            ("rules", N_("Rules"), Perm.VIEW_NOTIFY), ("preview", N_("Template preview"), Perm.MANAGE_NOTIFY),
            ("announce", N_("Announcements"), Perm.MANAGE_NOTIFY)]
# A state's tone on a badge: the ones to act on stand out.
TONES = {State.SENT: "ok", State.DELIVERED: "ok", State.CREATED: "", State.SENDING: "",
         State.TEMPORARY_FAILURE: "warn", State.PERMANENT_FAILURE: "bad", State.TECHNICAL_FAILURE: "bad",
         State.CANCELLED: ""}


# -- the queue -----------------------------------------------------------------------------------

@router.get("")
async def notifications_desk(request: Request, user: Desk) -> Response:
    office = request.app.state.office
    queue = await run_in_threadpool(lambda: queries.status(office, failures=FAILURES_SHOWN))
    failed = sum(queue.by_state.get(s.value, 0) for s in (State.PERMANENT_FAILURE, State.TECHNICAL_FAILURE))
    return page(request, "console/notifications/desk.html", queue=queue, failed=failed, states=list(State),
                channels=list(FALLBACK_ORDER), office_alerts_configured=bool(office.settings.notify_office_url),
                **_context(request, user, ""))


# -- one application's messages --------------------------------------------------------------------

@router.get("/history")
async def history(request: Request, user: Desk, application: Number = "") -> Response:
    """The messages of the application with this number, each with its attempts."""
    wanted = application.strip()
    found, missing = None, False
    if wanted:
        try:
            found = await run_in_threadpool(queries.history_of, request.app.state.office, wanted)
        except NotFound:
            missing = True
    return page(request, "console/notifications/history.html", wanted=wanted, found=found, missing=missing,
                **_context(request, user, "history"))


# -- the rules -----------------------------------------------------------------------------------

@router.get("/rules")
async def rules(request: Request, user: Desk) -> Response:
    return page(request, "console/notifications/rules.html", **await _rules(request, user),
                **_context(request, user, "rules"))


@router.post("/rules/{purpose}")
async def switch_rule(request: Request, purpose: Annotated[Purpose, Path()], user: Manage) -> Response:
    """Switch one rule on or off for this office (audited by `set_rule`, as the API's PUT)."""
    body = await read_form(request, NotifyRuleIn)
    await run_in_threadpool(_switch, request.app.state.office, purpose, enabled=body.enabled, actor=user.username)
    return page(request, "console/notifications/_rules.html", **await _rules(request, user), switched=purpose)


def _switch(office: Office, purpose: Purpose, *, enabled: bool, actor: str) -> None:
    # The use case takes the caller's unit of work (the API's PUT runs it the same way).
    with office.uow() as uow:
        notify.set_rule(uow, purpose, enabled=enabled, actor=actor)
        uow.commit()


async def _rules(request: Request, user) -> dict:  # noqa: ANN001
    listed = await run_in_threadpool(queries.rules, request.app.state.office)
    return {"rules": listed, "may_switch": allowed(user.role, Perm.MANAGE_NOTIFY)}


# -- the template preview ------------------------------------------------------------------------

@router.get("/preview")
async def preview(request: Request, user: Manage, purpose: Purpose = Purpose.READY,
                  channel: Channel = Channel.WHATSAPP, language: Literal["id", "en"] = "id") -> Response:
    """A template rendered with sample data: the form and its answer, or the answer alone (htmx)."""
    message = await run_in_threadpool(render.preview, purpose, channel, language)
    context = {"message": message, "sms": gsm.count(message.text) if channel is Channel.SMS else None,
               "chosen": {"purpose": purpose, "channel": channel, "language": language}}
    if request.headers.get("HX-Request") == "true":
        return page(request, "console/notifications/_preview.html", **context)
    return page(request, "console/notifications/preview.html", purposes=list(Purpose), channel_names=list(Channel),
                languages=LANGUAGES, **context, **_context(request, user, "preview"))


# -- shared ----------------------------------------------------------------------------------------

def _context(request: Request, user, current: str) -> dict:  # noqa: ANN001
    """The desk's sections this role may open, each state's tone, and the figures' format."""
    lang = request.state.lang
    return {"sections": [(slug, label) for slug, label, perm in SECTIONS if allowed(user.role, perm)],
            "current": current, "tones": {s.value: tone for s, tone in TONES.items()},
            "fig": Figures(lang, request.app.state.office.settings.timezone)}
