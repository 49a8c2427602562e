"""The applicant's own pages, served without a login (the public side grows in the next issue):
today the pickup link of a "ready" message, `/p/<code>`, where an applicant confirms their slot
or asks for the next free one. The code is random and given with the slot
(kanim/office/pickup_slots.py); a page shows the application number and the slot, nothing more.

A GET never changes anything (mail scanners and link previews open links); the answer is a POST
from the page's own button. Pages are small, mobile-first, in the applicant's language (their
booking's, or `?lang=`), with the console's stylesheet and no script.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Path, Query, Request
from fastapi.responses import HTMLResponse

from kanim.domain.zones import INDONESIAN_ZONES
from kanim.domain.contact import masked
from kanim.office import notify, pickup_slots
from kanim.web.console.render import DEFAULT_LANGUAGE, LANGUAGES, environment, long_date

router = APIRouter(include_in_schema=False)

CODE = Annotated[str, Path(max_length=12, pattern=r"^[A-Za-z2-7]+$")]


def _page(request: Request, lang: str, template: str, *, status: int = 200, **context: object) -> HTMLResponse:
    office = request.app.state.office
    html = environment(lang).get_template(template).render(
        office_name=office.settings.office_name, office_phone=office.settings.office_phone, lang=lang,
        day=lambda d: long_date(d, lang), zone=INDONESIAN_ZONES.get(office.settings.timezone, ""), **context)
    return HTMLResponse(html, status_code=status, headers={"Cache-Control": "no-store",
                                                           "X-Robots-Tag": "noindex", "Referrer-Policy": "no-referrer"})


def _lang(asked: str | None, facts: dict | None) -> str:
    if asked in LANGUAGES:
        return asked
    return (facts or {}).get("language") or DEFAULT_LANGUAGE


@router.get("/p/{code}", response_class=HTMLResponse)
@router.get("/p/{code}/g", response_class=HTMLResponse)
def pickup_page(request: Request, code: CODE, lang: Annotated[str | None, Query(max_length=2)] = None) -> HTMLResponse:
    office = request.app.state.office
    slot = pickup_slots.slot_of(office, code)
    language = _lang(lang, slot)
    if slot is None:
        return _page(request, language, "public/pickup_unknown.html", status=404)
    return _page(request, language, "public/pickup.html", slot=slot, code=code,
                 change=request.url.path.endswith("/g"))


@router.post("/p/{code}", response_class=HTMLResponse)
def pickup_answer(request: Request, code: CODE, answer: Annotated[str, Form(pattern=r"^(confirm|change)$")],
                  lang: Annotated[str | None, Query(max_length=2)] = None) -> HTMLResponse:
    office = request.app.state.office
    with office.uow() as uow:
        application_id = pickup_slots.application_of(uow, code)
        if application_id is None:
            return _page(request, _lang(lang, None), "public/pickup_unknown.html", status=404)
        touched = pickup_slots.answer(office, uow, application_id=application_id, intent=answer)
        uow.commit()
    slot = pickup_slots.slot_of(office, code)
    return _page(request, _lang(lang, slot), "public/pickup.html", slot=slot, code=code, change=False,
                 answered=answer if touched else "none")


TOKEN = Annotated[str, Path(max_length=80, pattern=r"^[0-9a-f-]{36}\.[0-9a-f]{16}$")]


@router.get("/o/{token}", response_class=HTMLResponse)
def optout_page(request: Request, token: TOKEN, lang: Annotated[str | None, Query(max_length=2)] = None) -> HTMLResponse:
    """The email's unsubscribe link: says which address, and asks (a GET changes nothing)."""
    office = request.app.state.office
    with office.uow(readonly=True) as uow:
        address = notify.address_of_token(uow, office.settings, token)
        done = address is not None and notify.opted_out(uow, address)
    language = _lang(lang, None)
    if address is None:
        return _page(request, language, "public/pickup_unknown.html", status=404)
    return _page(request, language, "public/optout.html", token=token, to=masked(address), done=done)


@router.post("/o/{token}", response_class=HTMLResponse)
def optout(request: Request, token: TOKEN, lang: Annotated[str | None, Query(max_length=2)] = None) -> HTMLResponse:
    office = request.app.state.office
    language = _lang(lang, None)
    with office.uow() as uow:
        address = notify.address_of_token(uow, office.settings, token)
        if address is None:
            return _page(request, language, "public/pickup_unknown.html", status=404)
        notify.opt_out(uow, address, how="link", settings=office.settings)
        uow.commit()
    return _page(request, language, "public/optout.html", token=token, to=masked(address), done=True)
