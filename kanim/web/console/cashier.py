"""The cashier: a billing code for an application (its amount with the fee lines, its expiry
counting down, a printable billing slip), recording a paid receipt by billing code, the day's
payments, and the applications waiting for billing or payment."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Path, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from kanim.domain.errors import Conflict, DomainError
from kanim.office import payment
from kanim.office.queries import cashier as queries
from kanim.security.roles import Perm
from kanim.web.console.desks import N_
from kanim.web.console.forms import read_form
from kanim.web.console.render import page
from kanim.web.console.session import PREFIX, ConsoleStaff
from kanim.web.contract import Route
from kanim.web.schemas import PaymentIn

router = APIRouter(prefix=f"{PREFIX}/cashier", route_class=Route, include_in_schema=False)
Desk = ConsoleStaff(Perm.BILL)
AppId = Annotated[str, Path(max_length=36)]

# The fee lines' words: kanim.domain.passport labels them in English (a test checks this list).
WORDS = [N_("Ordinary passport"), N_("Electronic passport"), N_("New passport"), N_("Renewal"),
         N_("Replacement of a lost passport"), N_("Replacement of a damaged passport")]
# Problems this desk shows, in the desk's language (kanim.web.console.errors: `problem:<code>`).
PROBLEMS = [
    N_("problem:billing-expired"), N_("problem:billing-code-unknown"), N_("problem:billing-code-format"),
    N_("problem:billing-code-check-digit"), N_("problem:billing-code-mismatch"), N_("problem:billing-still-valid"),
    N_("problem:already-paid"), N_("problem:no-billing"), N_("problem:receipt-missing"), N_("problem:fee-missing"),
]


@router.get("")
async def cashier_desk(request: Request, user: Desk) -> Response:
    day = await run_in_threadpool(queries.cashier_day, request.app.state.office)
    return page(request, "console/cashier/desk.html", day=day)


@router.get("/lists")
async def lists(request: Request, user: Desk) -> Response:
    """The waiting list and the day's payments alone (the desk re-reads them every few seconds)."""
    day = await run_in_threadpool(queries.cashier_day, request.app.state.office)
    return page(request, "console/cashier/_lists.html", day=day)


@router.post("/billing")
async def issue_billing(request: Request, user: Desk,
                        application: Annotated[str, Form(min_length=1, max_length=36)]) -> Response:
    """A billing code for an application, by its number (the form) or id (a row's button)."""
    office = request.app.state.office
    try:
        app, _ = await run_in_threadpool(payment.issue_billing, office, application_id=application.strip(),
                                         actor=user.username)
    except DomainError as e:  # every refusal here is about the application named
        e.extra.setdefault("field", "application")
        raise
    return await _bill(request, app.id, issued=True)


@router.get("/bill/{application_id}")
async def show_bill(request: Request, application_id: AppId, user: Desk) -> Response:
    """The code an application already holds, with its countdown."""
    return await _bill(request, application_id, issued=False)


async def _bill(request: Request, application_id: str, *, issued: bool) -> Response:
    office = request.app.state.office
    bill = await run_in_threadpool(queries.bill, office, application_id)
    day = await run_in_threadpool(queries.cashier_day, office)
    return page(request, "console/cashier/_billing.html", bill=bill, issued=issued, day=day, with_lists=True)


@router.post("/payments")
async def record_payment(request: Request, user: Desk) -> Response:
    body = await read_form(request, PaymentIn)
    office = request.app.state.office
    try:
        app = await run_in_threadpool(payment.record_payment, office, billing_code=body.billing_code,
                                      receipt_ref=body.receipt_ref, actor=user.username)
    except DomainError as e:  # beside the field it concerns: the receipt's, else the code's
        e.extra.setdefault("field", "receipt_ref" if e.code.startswith("receipt") else "billing_code")
        raise
    bill = await run_in_threadpool(queries.bill, office, app.id)
    day = await run_in_threadpool(queries.cashier_day, office)
    return page(request, "console/cashier/_payment.html", paid=app, bill=bill, day=day)


@router.get("/slip/{application_id}")
async def billing_slip(request: Request, application_id: AppId, user: Desk) -> Response:
    """The billing slip to print and hand over: where and by when to pay."""
    bill = await run_in_threadpool(queries.bill, request.app.state.office, application_id)
    if bill.app.billing_code is None:
        raise Conflict(f"application {bill.app.number} has no billing code", code="no-billing")
    return page(request, "console/cashier/slip.html", bill=bill)
