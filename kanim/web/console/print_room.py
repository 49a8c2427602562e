"""The print room: the print queue with what holds each job back, printing with the data-page
preview, the quality check, booklet stock (receiving a delivery, spoiling a booklet) and the
accountability report (received = issued + spoiled + in stock) as a page and a PDF."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Annotated

from babel.numbers import format_decimal

from fastapi import APIRouter, Path, Request
from fastapi.responses import Response
from pydantic import Field
from starlette.concurrency import run_in_threadpool

from kanim.domain.booklet import SpoilReason
from kanim.office import documents, printing
from kanim.office.queries import print_room as queries
from kanim.security.roles import Perm
from kanim.web.console.actions import run
from kanim.web.console.desks import N_
from kanim.web.console.forms import read_form
from kanim.web.console.render import BABEL_LOCALES, gettext, page
from kanim.web.console.session import PREFIX, ConsoleStaff
from kanim.web.contract import Route
from kanim.web.schemas import NOTE_MAX, BookletBatchIn, PrintIn, RequestBody, SpoilIn
from kanim.http.wire import SERIAL

router = APIRouter(prefix=f"{PREFIX}/print-room", route_class=Route, include_in_schema=False)
Printer = ConsoleStaff(Perm.PRINT)
Stockkeeper = ConsoleStaff(Perm.MANAGE_BOOKLETS)
AppId = Annotated[str, Path(max_length=36)]
# This desk's fields for the rules' codes (kanim/web/console/actions.py).
FIELDS = {"booklet": "serial", "reason": "reason", "spoil-reason": "reason"}
RECEIVE_FIELDS = {"booklet-range": "last", "booklet-already": "first", "booklet-not-allocated": "first"}
SPOIL_REASONS = [N_("spoil:misprint"), N_("spoil:qc_failure"), N_("spoil:voided_after_flag"),
                 N_("spoil:damaged_in_stock")]
PROBLEMS = [
    N_("problem:print-gate-closed"), N_("problem:guardrail"), N_("problem:booklet-stock-empty"),
    N_("problem:booklet-out-of-range"), N_("problem:booklet-not-in-stock"), N_("problem:booklet-spoiled"),
    N_("problem:booklet-issued"), N_("problem:booklet-unknown"), N_("problem:booklet-serial-format"),
    N_("problem:booklet-range"), N_("problem:booklet-already-received"), N_("problem:booklet-not-allocated"),
    N_("problem:not-printed"), N_("problem:reason-missing"), N_("problem:spoil-reason"),
    N_("problem:transition-out-of-order"), N_("problem:concurrent-change"),
    N_("problem:chip-signer-unusable"), N_("problem:chip-qc-failed"), N_("problem:chip-face-missing"),
    N_("problem:chip-token-unavailable"),
]


class QualityFailIn(RequestBody):
    """Why a printed booklet fails its quality check (QualityCheckIn's reason; `passed` is the
    button the officer pressed)."""

    reason: str = Field(default="", max_length=NOTE_MAX)


class SpoilFormIn(SpoilIn):
    """A booklet from stock to spoil: the API's SpoilIn with the serial it takes in its path."""

    serial: str = Field(max_length=16, json_schema_extra=SERIAL)


@router.get("")
async def print_room(request: Request, user: Printer) -> Response:
    room = await run_in_threadpool(queries.print_room, request.app.state.office)
    return page(request, "console/print_room/desk.html", room=room, spoil_reasons=list(SpoilReason),
                duration=_duration(request.state.lang))


@router.get("/work")
async def work(request: Request, user: Printer) -> Response:
    """The queue, the printed jobs and the job panel alone (the desk's refresh)."""
    return await _work(request)


@router.post("/print/{application_id}")
async def print_passport(request: Request, application_id: AppId, user: Printer) -> Response:
    body = await read_form(request, PrintIn)
    app = await run(printing.print_passport, request.app.state.office, application_id=application_id,
                    serial=body.serial, actor=user.username, fields=FIELDS)
    return await _work(request, job=app, notice=("printed", app))


@router.get("/job/{application_id}")
async def job(request: Request, application_id: AppId, user: Printer) -> Response:
    """One printed job: its data-page preview and the quality check."""
    app = await run_in_threadpool(queries.job, request.app.state.office, application_id)
    return page(request, "console/print_room/_job.html", job=app)


@router.get("/data-page/{application_id}.png")
async def data_page(request: Request, application_id: AppId, user: Printer) -> Response:
    """The personalised data page as the operator checks it (marked SPECIMEN). It shows the
    face photo, so every view is audited as a biometric read."""
    png = await run_in_threadpool(documents.data_page_preview, request.app.state.office,
                                  application_id=application_id, actor=user.username)
    return Response(png, media_type="image/png", headers={"Cache-Control": "no-store"})


@router.post("/qc/{application_id}/pass")
async def quality_pass(request: Request, application_id: AppId, user: Printer) -> Response:
    app = await run(printing.quality_check, request.app.state.office, application_id=application_id,
                    passed=True, actor=user.username)
    return await _work(request, notice=("qc_passed", app))


@router.post("/qc/{application_id}/fail")
async def quality_fail(request: Request, application_id: AppId, user: Printer) -> Response:
    body = await read_form(request, QualityFailIn)
    app = await run(printing.quality_check, request.app.state.office, application_id=application_id,
                    passed=False, reason=body.reason, actor=user.username, fields=FIELDS)
    return await _work(request, notice=("qc_failed", app))


@router.post("/booklets/receive")
async def receive(request: Request, user: Stockkeeper) -> Response:
    body = await read_form(request, BookletBatchIn)
    for name in ("first", "last"):  # which of the two breaks the serial rule, to say it beside that one
        await run(printing.PATTERN.split, getattr(body, name), fields={"booklet-serial": name})
    batch = await run(printing.receive_booklets, request.app.state.office, first=body.first, last=body.last,
                      actor=user.username, fields=RECEIVE_FIELDS)
    return await _stock(request, received=batch)


@router.post("/booklets/spoil")
async def spoil(request: Request, user: Stockkeeper) -> Response:
    body = await read_form(request, SpoilFormIn)
    booklet = await run(printing.spoil_booklet, request.app.state.office, serial=body.serial,
                        reason=body.reason.value, note=body.note, actor=user.username, fields=FIELDS)
    return await _stock(request, spoiled=booklet)


@router.get("/report")
async def report(request: Request, user: Stockkeeper) -> Response:
    r = await run_in_threadpool(queries.report, request.app.state.office)
    return page(request, "console/print_room/report.html", report=r)


@router.get("/report.pdf")
async def report_pdf(request: Request, user: Stockkeeper) -> Response:
    from kanim.render.booklet_report import render_booklet_report_pdf  # fpdf: loaded when first asked for

    office = request.app.state.office
    r = await run_in_threadpool(queries.report, office)
    pdf = await run_in_threadpool(render_booklet_report_pdf, counts=r.counts, batches=r.batches, spoiled=r.spoiled,
                                  at=r.at, office_name=office.settings.office_name,
                                  office_code=office.settings.office_code, timezone=office.settings.timezone)
    name = f"booklets-{office.settings.office_code}-{r.at:%Y%m%d}.pdf"
    return Response(pdf, media_type="application/pdf",
                    headers={"Cache-Control": "no-store", "Content-Disposition": f'inline; filename="{name}"'})


async def _work(request: Request, **context: object) -> Response:
    room = await run_in_threadpool(queries.print_room, request.app.state.office)
    # A print or a failed check moves a booklet: the stock beside the queue follows (out of band).
    return page(request, "console/print_room/_work.html", room=room, spoil_reasons=list(SpoilReason),
                oob_stock=request.method == "POST", duration=_duration(request.state.lang), **context)


async def _stock(request: Request, **context: object) -> Response:
    stock = await run_in_threadpool(queries.stock, request.app.state.office)
    return page(request, "console/print_room/_stock.html", stock=stock, spoil_reasons=list(SpoilReason), **context)


def _duration(lang: str) -> Callable[[timedelta], str]:
    """8,0 hari / 8.0 days (or hours under a day): how old a guardrail's snapshot or work is."""

    def duration(d: timedelta) -> str:
        days = d.total_seconds() / 86400
        n = format_decimal(round(days if days >= 1 else days * 24, 1), format="#,##0.0", locale=BABEL_LOCALES[lang])
        return gettext(lang, "%(n)s days", n=n) if days >= 1 else gettext(lang, "%(n)s hours", n=n)

    return duration
