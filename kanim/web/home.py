"""`/`: the office node's front door is the public side. An applicant who types the office's
address lands on the two things they can do without a login (look their application up, read
the status page); staff have their own door at /staff/. The same page for everyone: cacheable."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from kanim.web.console.render import environment, page_language
from kanim.web.status_page import Lang

router = APIRouter(include_in_schema=False)
MAX_AGE = 300


@router.api_route("/", methods=["GET", "HEAD"], response_class=HTMLResponse)
def home(request: Request, lang: Lang = None) -> HTMLResponse:
    language = page_language(lang)
    settings = request.app.state.office.settings
    html = environment(language).get_template("public/home.html").render(
        office_name=settings.office_name, office_phone=settings.office_phone, lang=language)
    return HTMLResponse(html, headers={"Cache-Control": f"public, max-age={MAX_AGE}"})
