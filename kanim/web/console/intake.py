"""The intake desk: today's applicants waiting for intake; one applicant's file with the
checklist for the application type, each document's scan (by file or by the desk's document
camera in the browser), the NIK check with the rule it breaks, and completing intake, where a
possible duplicate is held for a supervisor and a watch-list match rejected, each with its reason."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, File, Form, Path, Query, Request, UploadFile
from fastapi.responses import RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from kanim.domain.errors import NotFound
from kanim.office import intake
from kanim.office.queries import intake as queries
from kanim.office.queries.common import application
from kanim.security.roles import Perm
from kanim.web.console.desks import N_
from kanim.web.console.errors import _words
from kanim.web.console.render import gettext, page
from kanim.web.console.session import PREFIX, ConsoleStaff
from kanim.web.contract import Route
from kanim.web.uploads import read_upload

router = APIRouter(prefix=f"{PREFIX}/intake", route_class=Route, include_in_schema=False)
Desk = ConsoleStaff(Perm.INTAKE)
AppId = Annotated[str, Path(max_length=36)]
# A form's checkbox: "true" when ticked, absent when not.
NameChanged = Annotated[bool, Form()]

# The checklist's lines and the documents, by their keys (kanim.domain.passport).
WORDS = [
    N_("requirement:ktp"), N_("requirement:kk"), N_("requirement:identity_proof"),
    N_("requirement:birth_certificate"), N_("requirement:old_passport"), N_("requirement:damaged_passport"),
    N_("requirement:police_report"), N_("requirement:name_change_decree"),
    N_("document:ktp"), N_("document:kk"), N_("document:birth_certificate"), N_("document:marriage_certificate"),
    N_("document:diploma"), N_("document:baptism_letter"), N_("document:old_passport"),
    N_("document:police_report"), N_("document:name_change_decree"),
]
# Problems this desk shows, in the desk's language (kanim.web.console.errors: `problem:<code>`).
PROBLEMS = [
    N_("problem:nik-length"), N_("problem:nik-not-digits"), N_("problem:nik-province"), N_("problem:nik-day"),
    N_("problem:nik-month"), N_("problem:nik-date"), N_("problem:nik-serial"), N_("problem:nik-sex-mismatch"),
    N_("problem:nik-birthdate-mismatch"), N_("problem:documents-missing"), N_("problem:document-kind"),
    N_("problem:scan-type"), N_("problem:scan-empty"), N_("problem:upload-empty"), N_("problem:upload-too-large"),
    N_("problem:transition-out-of-order"), N_("problem:application-not-found"),
]


@router.get("")
async def intake_desk(request: Request, user: Desk) -> Response:
    day = await run_in_threadpool(queries.intake_day, request.app.state.office)
    return page(request, "console/intake/desk.html", day=day)


@router.get("/waiting")
async def waiting(request: Request, user: Desk) -> Response:
    """The lists alone (the desk re-reads them every few seconds)."""
    day = await run_in_threadpool(queries.intake_day, request.app.state.office)
    return page(request, "console/intake/_waiting.html", day=day)


@router.get("/open")
async def open_application(request: Request, user: Desk,
                           number: Annotated[str, Query(min_length=1, max_length=36)]) -> Response:
    """An application by its number (or id): its file, or the problem beside the field."""
    try:
        app = await run_in_threadpool(application, request.app.state.office, number.strip())
    except NotFound as e:  # said beside the field the number was typed in
        raise NotFound(e.message, code=e.code, field="number") from None
    target = f"{PREFIX}/intake/{app.id}"
    if request.headers.get("HX-Request") == "true":
        return Response(status_code=204, headers={"HX-Redirect": target})
    return RedirectResponse(target, status_code=303)


@router.get("/{application_id}")
async def intake_file(request: Request, application_id: AppId, user: Desk) -> Response:
    file = await run_in_threadpool(queries.intake_file, request.app.state.office, application_id)
    nik_words = _words(request.state.lang, file.nik.code, file.nik.detail) if file.nik.code else None
    return page(request, "console/intake/file.html", file=file, nik_words=nik_words)


@router.get("/{application_id}/file")
async def file_fragment(request: Request, application_id: AppId, user: Desk, name_changed: bool = False) -> Response:
    """The checklist, documents and forms alone: re-read when the name-changed box is ticked."""
    file = await run_in_threadpool(queries.intake_file, request.app.state.office, application_id,
                                   name_changed=name_changed)
    return page(request, "console/intake/_file.html", file=file, fragment=True)


@router.post("/{application_id}/documents")
async def upload_document(request: Request, application_id: AppId, user: Desk,
                          kind: Annotated[str, Form(max_length=32)], file: Annotated[UploadFile, File()],
                          name_changed: NameChanged = False) -> Response:
    """One scan, from a file or from the document camera (a JPEG the page took from its preview)."""
    office = request.app.state.office
    data = await run_in_threadpool(read_upload, file, office.settings.max_upload_bytes)
    row = await run_in_threadpool(intake.upload_document, office, application_id=application_id, kind=kind,
                                  data=data, actor=user.username)
    lang = request.state.lang
    notice = gettext(lang, "%(document)s scanned.", document=gettext(lang, f"document:{row['kind']}"))
    file_ = await run_in_threadpool(queries.intake_file, office, application_id, name_changed=name_changed)
    return page(request, "console/intake/_file.html", file=file_, notice=notice, fragment=True)


@router.post("/{application_id}/complete")
async def complete(request: Request, application_id: AppId, user: Desk, name_changed: NameChanged = False) -> Response:
    office = request.app.state.office
    await run_in_threadpool(intake.complete_intake, office, application_id=application_id, actor=user.username,
                            name_changed=name_changed)
    file = await run_in_threadpool(queries.intake_file, office, application_id, name_changed=name_changed)
    return page(request, "console/intake/_file.html", file=file, fragment=True)
