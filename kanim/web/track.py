"""The applicant's status lookup: `/track` (a page with a form, no script) and
`POST /api/v1/track` (the same answer as JSON, problem+json errors). The use case is
kanim/office/track.py; the words are kanim/domain/tracking.py's states, translated.

The form page may be cached briefly (it is the same for everyone, the prefilled number from the
receipt's QR code aside); an answer is one person's and is never stored (`no-store`). The number
and birth date travel in a POST body, never in a URL: access logs drop query strings, but a
prefilled number is only a number (it proves nothing without the birth date).
"""

from __future__ import annotations

import re
from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from kanim.domain.errors import NotFound
from kanim.domain.tracking import Bring, PublicState, TrackAnswer
from kanim.domain.zones import INDONESIAN_ZONES
from kanim.office import track
from kanim.web import problems
from kanim.web.console.desks import N_
from kanim.web.console.render import environment, gettext, long_date, page_language
from kanim.web.contract import Route, errors
from kanim.web.deps import OfficeDep
from kanim.web.schemas import RequestBody

router = APIRouter(include_in_schema=False)
api_router = APIRouter(tags=["public"], route_class=Route)
NUMBER_MAX = 32
NUMBER_PATTERN = r"^\s*[A-Za-z0-9-]{1,32}\s*$"
CHALLENGE_PATTERN = r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$"
FORM_MAX_AGE = 300  # the form: the same for everyone; five minutes of a phone's cache
# A page answers whatever it is asked (an unknown language is the default one); the API's own
# parameters stay strict.
Lang = Annotated[str | None, Query()]


class TrackIn(RequestBody):
    number: str = Field(max_length=NUMBER_MAX, pattern=NUMBER_PATTERN, examples=["MND-20261201-0001"])
    birth_date: date = Field(examples=["1990-08-05"])
    # Where the office asks for a one-time code (KANIM_TRACK_CODE): the first call answers 401
    # `track-code-sent` with a `challenge`; the second sends it back with the code received.
    challenge: str | None = Field(default=None, pattern=CHALLENGE_PATTERN)
    code: str | None = Field(default=None, pattern=r"^[0-9]{6}$")


class PickupOut(BaseModel):
    day: date
    slot: str = Field(description="HH:MM, the office's local time")


class TrackOut(BaseModel):
    number: str
    first_name: str = Field(description="the first word of the applicant's name, nothing more")
    state: PublicState
    state_text: str = Field(description="the state in plain words, in the language asked (`?lang=`)")
    expected_on: date | None = Field(description="the appointment, the expected ready date or the pickup day")
    pickup: PickupOut | None
    bring: list[str] = Field(description="what to bring, in the language asked")


STATE_WORDS = {
    PublicState.RECEIVED: N_("Received: we have your application and expect you at your appointment."),
    PublicState.IN_PROCESS: N_("In process at the office."),
    PublicState.PRINTED_WAITING: N_("Printed — waiting for national confirmation. We will tell you when to come."),
    PublicState.READY: N_("Ready: your passport can be collected in your pickup slot."),
    PublicState.COLLECTED: N_("Collected."),
    PublicState.ON_HOLD: N_("On hold — please contact us."),
    PublicState.CLOSED: N_("This application is no longer in process — please contact us."),
}
CHANNEL_WORDS = {"whatsapp": N_("We have sent a 6-digit code to your WhatsApp."),
                 "sms": N_("We have sent a 6-digit code by SMS to your phone."),
                 "email": N_("We have sent a 6-digit code to your email address.")}
BRING_WORDS = {
    Bring.KTP: N_("your KTP (original)"), Bring.KK: N_("your family card (KK)"),
    Bring.CIVIL_DOCUMENT: N_("your birth certificate, marriage certificate, diploma or baptism letter (original)"),
    Bring.OLD_PASSPORT: N_("your old passport"), Bring.RECEIPT: N_("the receipt of your application"),
    Bring.PROXY: N_("someone collecting for you: their own KTP and your family card (KK), or a power of attorney"),
}



def _address(request: Request) -> str | None:
    return request.client.host if request.client else None


# -- the API ---------------------------------------------------------------------------------------

@api_router.post("/track", response_model=TrackOut, responses=errors(
    {401: "`track-code-sent` (a code went to the applicant's channel: call again with `challenge` and "
          "`code`) or `track-code-wrong`, where the office asks for a one-time code",
     404: "`track-not-found`: no application with this number and birth date (the same answer for both)",
     409: "`track-code-unavailable`: a code is asked for and the applicant left no phone or email",
     410: "`track-code-expired`: the code expired, was used, or took too many tries",
     429: "`track-throttled`: too many lookups that did not match; wait `Retry-After` seconds"}))
def track_api(body: TrackIn, office: OfficeDep, request: Request,
              lang: Annotated[str | None, Query(max_length=2, pattern="^(id|en)$")] = None) -> Any:  # noqa: ANN401
    """An applicant's status by application number and birth date, in plain words (`?lang=en`
    for English): no login, throttled per number and per client address. Only the first name is
    shown, and nothing else personal."""
    try:
        if not office.settings.track_code:
            found = track.lookup(office, number=body.number, birth_date=body.birth_date, address=_address(request))
        elif body.challenge and body.code:
            found = track.finish(office, challenge=body.challenge, code=body.code)
        else:
            raise track.CodeSent(track.begin(office, number=body.number, birth_date=body.birth_date,
                                             address=_address(request)))
    except track.LookupThrottled as e:
        return problems.problem(429, e.code, e.message, instance=request.url.path,
                                headers={"Retry-After": str(e.retry_after)}, retry_after=e.retry_after)
    return JSONResponse(_as_dict(found, page_language(lang)), headers={"Cache-Control": "no-store"})


def _as_dict(found: TrackAnswer, lang: str) -> dict[str, Any]:
    pickup = {"day": found.pickup.day.isoformat(), "slot": found.pickup.slot} if found.pickup else None
    return {"number": found.number, "first_name": found.first_name, "state": found.state.value,
            "state_text": gettext(lang, STATE_WORDS[found.state]),
            "expected_on": found.expected_on.isoformat() if found.expected_on else None, "pickup": pickup,
            "bring": [gettext(lang, BRING_WORDS[b]) for b in found.bring]}


# -- the page --------------------------------------------------------------------------------------

def _page(request: Request, lang: str, *, status: int = 200, cache: str = "no-store",
          headers: dict[str, str] | None = None, **context: object) -> HTMLResponse:
    office = request.app.state.office
    html = environment(lang).get_template("public/track.html").render(
        office_name=office.settings.office_name, office_phone=office.settings.office_phone, lang=lang,
        day=lambda d: long_date(d, lang), zone=INDONESIAN_ZONES.get(office.settings.timezone, ""),
        words=STATE_WORDS, bring_words=BRING_WORDS, channel_words=CHANNEL_WORDS, **context)
    return HTMLResponse(html, status_code=status,
                        headers={"Cache-Control": cache, "Referrer-Policy": "no-referrer", **(headers or {})})


@router.get("/track", response_class=HTMLResponse)
def track_form(request: Request, lang: Lang = None,
               number: Annotated[str, Query()] = "") -> HTMLResponse:
    """The form; `?number=` (the receipt's QR code) fills the number in, the birth date is asked."""
    shown = track.normalise(number) if _valid_number(number) else ""
    return _page(request, page_language(lang), number=shown, cache=f"public, max-age={FORM_MAX_AGE}")


@router.post("/track", response_class=HTMLResponse)
async def track_page(request: Request, lang: Lang = None, number: Annotated[str, Form()] = "",
                     birth_date: Annotated[str, Form()] = "") -> HTMLResponse:
    language = page_language(lang)
    wrong = _form_errors(number, birth_date)
    if wrong:
        return _page(request, language, status=422, number=number[:NUMBER_MAX], birth_date=birth_date[:10],
                     wrong=wrong)
    office = request.app.state.office
    use = track.begin if office.settings.track_code else track.lookup
    try:
        found = await run_in_threadpool(use, office, number=number, birth_date=date.fromisoformat(birth_date),
                                        address=_address(request))
    except track.LookupThrottled as e:
        return _page(request, language, status=429, number=track.normalise(number), throttled=e.retry_after,
                     headers={"Retry-After": str(e.retry_after)})
    except NotFound:
        return _page(request, language, status=404, number=track.normalise(number), not_found=True)
    except track.CodeUnavailable:
        return _page(request, language, status=409, number=track.normalise(number), no_code=True)
    if isinstance(found, track.Challenge):
        return _page(request, language, status=200, number=track.normalise(number), challenge=found)
    return _page(request, language, found=found, number=found.number)


@router.post("/track/code", response_class=HTMLResponse)
async def track_code_page(request: Request, lang: Lang = None, challenge: Annotated[str, Form()] = "",
                          code: Annotated[str, Form()] = "", channel: Annotated[str, Form()] = "") -> HTMLResponse:
    """The one-time code's form (KANIM_TRACK_CODE): the answer for the right code."""
    language = page_language(lang)
    office = request.app.state.office
    sent = track.Challenge(challenge, channel if channel in CHANNEL_WORDS else "sms")
    typed = "".join(code.split())
    if not re.fullmatch(CHALLENGE_PATTERN, challenge) or not office.settings.track_code:
        return _page(request, language, status=410, code_gone=True)
    if not re.fullmatch(r"[0-9]{6}", typed):
        return _page(request, language, status=422, challenge=sent, code_wrong=N_("Type the 6 digits of the code."))
    try:
        found = await run_in_threadpool(track.finish, office, challenge=challenge, code=typed)
    except track.CodeWrong as e:
        return _page(request, language, status=401, challenge=sent, tries_left=e.tries_left,
                     code_wrong=N_("This is not the code we sent."))
    except track.CodeGone:
        return _page(request, language, status=410, code_gone=True)
    return _page(request, language, found=found, number=found.number)


def _valid_number(number: str) -> bool:
    return bool(number) and len(number) <= 64 and re.match(NUMBER_PATTERN, number) is not None


def _form_errors(number: str, birth_date: str) -> dict[str, str]:
    """Each field's problem as a message id (the page translates it)."""
    wrong = {}
    if not _valid_number(number):
        wrong["number"] = N_("Type the application number as it is on your receipt, for example MND-20261201-0001.")
    try:
        born = date.fromisoformat(birth_date)
        if born.year < 1890:
            raise ValueError
    except ValueError:
        wrong["birth_date"] = N_("Give your birth date (day, month, year).")
    return wrong
