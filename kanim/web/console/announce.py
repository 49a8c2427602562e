"""Announcements to a set of applicants (`/staff/notifications/announce`, supervisors:
`manage_notify`): choose the set (a stage, a pickup day, only those not yet collected), write
the message in both languages, see the count and the message as applicants will read it,
confirm. The use cases are kanim/office/announce.py; the messages go through the pipeline.
"""

from __future__ import annotations

from datetime import date
from typing import Annotated

from fastapi import APIRouter, Request
from fastapi.responses import Response
from pydantic import Field
from starlette.concurrency import run_in_threadpool

from kanim.domain.application import Stage
from kanim.domain.contact import Channel
from kanim.notify import render
from kanim.notify.purposes import Purpose
from kanim.office import announce, notify
from kanim.security.roles import Perm
from kanim.web.console.actions import run
from kanim.web.console.desks import N_
from kanim.web.console.forms import read_form
from kanim.web.console.notifications import _context as notify_context
from kanim.web.console.render import page
from kanim.web.console.session import PREFIX, ConsoleStaff
from kanim.web.contract import Route
from kanim.web.schemas import RequestBody

router = APIRouter(prefix=f"{PREFIX}/notifications/announce", route_class=Route, include_in_schema=False)
Manage = ConsoleStaff(Perm.MANAGE_NOTIFY)  # supervisors only (kanim.security.roles)
PROBLEM_WORDS = [N_("problem:announce-set-empty"), N_("problem:announce-text-missing"),
                 N_("problem:announce-text-too-long"), N_("problem:announce-text-invalid")]
# The sets a supervisor picks from most: the stages after the desks (earlier ones are at the desk).
STAGES = [Stage.QC_PASSED, Stage.PRINTED, Stage.READY, Stage.APPROVED, Stage.ON_HOLD, Stage.BOOKED]
Text = Annotated[str, Field(max_length=2000)]
FIELDS = {"announce-set": "stage", "announce-text": "text_id"}


class AnnounceIn(RequestBody):
    stage: Stage | None = None
    pickup_on: date | None = None
    not_collected: bool = False
    text_id: Text = ""
    text_en: Text = ""
    social: bool = False

    def selection(self) -> announce.Selection:
        return announce.Selection(stage=self.stage, pickup_on=self.pickup_on, not_collected=self.not_collected)


@router.get("")
async def announce_desk(request: Request, user: Manage) -> Response:
    return page(request, "console/notifications/announce.html", stages=STAGES, **await _past(request),
                **_social(request), **notify_context(request, user, "announce"))


@router.post("/preview")
async def preview(request: Request, user: Manage) -> Response:
    """The count and the message as applicants read it; nothing is written."""
    body = await read_form(request, AnnounceIn)
    office = request.app.state.office
    text_id, text_en = await run(announce.check_texts, office, body.text_id, body.text_en, fields=FIELDS)
    counted = await run(announce.preview, office, body.selection(), fields=FIELDS)
    samples = {lang: {c: render.render(Purpose.ANNOUNCEMENT, c, lang, _sample(office, lang, text))
                      for c in (Channel.WHATSAPP, Channel.SMS)}
               for lang, text in (("id", text_id), ("en", text_en))}
    return page(request, "console/notifications/_announce_preview.html", counted=counted, samples=samples,
                chosen=body, texts={"id": text_id, "en": text_en}, **_social(request))


@router.post("")
async def send(request: Request, user: Manage) -> Response:
    """The supervisor confirmed the preview: the announcement and its messages are written."""
    body = await read_form(request, AnnounceIn)
    sent = await run(announce.send, request.app.state.office, body.selection(), text_id=body.text_id,
                     text_en=body.text_en, actor=user.username, social=body.social, fields=FIELDS)
    return page(request, "console/notifications/_announce_sent.html", sent=sent, **await _past(request))


def _sample(office, lang: str, text: str) -> dict:  # noqa: ANN001
    facts = notify.AppFacts(id=None, number=render.SAMPLE["number"], full_name=render.SAMPLE_FIRST_NAMES[lang],
                            birth_date=date.min, app_type="", stage="", booking_id=None, billing_code=None,
                            paid_at=None, phone=None, email=None, channel=None, language=lang, appointment_on=None,
                            slot=None)
    return {**notify.base_params(office.settings, facts), "notice_text": text}


def _social(request: Request) -> dict:
    return {"social_configured": bool(request.app.state.office.settings.social_urls)}


async def _past(request: Request) -> dict:
    return {"past": await run_in_threadpool(announce.past, request.app.state.office)}
