"""Administration: staff accounts (add, disable and enable, reset a password, unlock the ones
locked by failed logins), the fee table, the office's holidays, and the office's settings shown
read-only (they are the node's environment: changing one is a change of configuration)."""

from __future__ import annotations

import re
from datetime import date
from typing import Annotated

from fastapi import APIRouter, Path, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from pydantic import Field
from starlette.concurrency import run_in_threadpool

from kanim.office import accounts, admin
from kanim.office.queries import admin as queries
from kanim.security.roles import Perm, Role, allowed
from kanim.web.console.actions import run
from kanim.web.console.desks import N_
from kanim.web.console.forms import read_form, validated
from kanim.web.console.render import gettext, page
from kanim.web.console.session import PREFIX, ConsoleStaff
from kanim.web.contract import Route
from kanim.web.schemas import FeeIn, HolidayIn, RequestBody, UserIn

router = APIRouter(prefix=f"{PREFIX}/admin", route_class=Route, include_in_schema=False)
Users = ConsoleStaff(Perm.MANAGE_USERS)
Fees = ConsoleStaff(Perm.MANAGE_FEES)
Username = Annotated[str, Path(max_length=64)]
FeeCode = Annotated[str, Path(max_length=48)]
FIELDS = {"user-exists": "username", "role": "role", "password": "password"}
PROBLEMS = [
    N_("problem:user-exists"), N_("problem:user-unknown"), N_("problem:user-self"), N_("problem:password-weak"),
    N_("problem:password-mismatch"), N_("problem:role-unknown"), N_("problem:fee-invalid"), N_("problem:fee-code"),
    N_("problem:request-invalid"),
]
CENTRAL_MODES = [N_("central:none"), N_("central:simulated"), N_("central:http")]
SECTIONS = [("users", N_("Users"), Perm.MANAGE_USERS), ("fees", N_("Fees"), Perm.MANAGE_FEES),
            ("holidays", N_("Holidays"), Perm.MANAGE_FEES), ("settings", N_("Office settings"), Perm.MANAGE_USERS)]


class NewUserIn(UserIn):
    """The API's UserIn, with the password typed a second time."""

    password_again: str = Field(max_length=200)


class PasswordIn(RequestBody):
    password: str = Field(max_length=200)
    password_again: str = Field(max_length=200)


# -- users --------------------------------------------------------------------------------------

@router.get("")
async def users(request: Request, user: Users) -> Response:
    return page(request, "console/admin/users.html", **await _accounts(request), **_nav(user, "users"))


@router.post("/users")
async def add_user(request: Request, user: Users) -> Response:
    body = await read_form(request, NewUserIn)
    accounts.check_repeated(body.password, body.password_again)
    added = await run(accounts.add_user, request.app.state.office, username=body.username, full_name=body.full_name,
                      role=body.role.value, password=body.password, actor=user.username, fields=FIELDS)
    return await _accounts_fragment(request, notice=("added", added.username))


@router.post("/users/{username}/disable")
async def disable(request: Request, username: Username, user: Users) -> Response:
    await run(accounts.disable_user, request.app.state.office, username=username, actor=user.username)
    return await _accounts_fragment(request, notice=("disabled", username))


@router.post("/users/{username}/enable")
async def enable(request: Request, username: Username, user: Users) -> Response:
    await run(accounts.enable_user, request.app.state.office, username=username, actor=user.username)
    return await _accounts_fragment(request, notice=("enabled", username))


@router.post("/users/{username}/unlock")
async def unlock(request: Request, username: Username, user: Users) -> Response:
    await run(accounts.unlock, request.app.state.office, username=username, actor=user.username)
    return await _accounts_fragment(request, notice=("unlocked", username))


@router.get("/users/{username}/password")
async def password_form(request: Request, username: Username, user: Users) -> Response:
    return page(request, "console/admin/_password.html", username=username)


@router.post("/users/{username}/password")
async def reset_password(request: Request, username: Username, user: Users) -> Response:
    body = await read_form(request, PasswordIn, blank_is_missing=False)
    await run(accounts.reset_password, request.app.state.office, username=username, password=body.password,
              password_again=body.password_again, actor=user.username)
    return await _accounts_fragment(request, notice=("reset", username))


async def _accounts(request: Request) -> dict:
    office = request.app.state.office
    return {"accounts": await run_in_threadpool(queries.accounts, office),
            "locked": await run_in_threadpool(accounts.locked_accounts, office), "roles": list(Role)}


async def _accounts_fragment(request: Request, **context: object) -> Response:
    return page(request, "console/admin/_accounts.html", **await _accounts(request), **context)


# -- fees and holidays --------------------------------------------------------------------------

@router.get("/fees")
async def fees(request: Request, user: Fees) -> Response:
    table = await run_in_threadpool(admin.fee_table, request.app.state.office)
    return page(request, "console/admin/fees.html", fees=table, **_nav(user, "fees"))


@router.post("/fees/{code}")
async def set_fee(request: Request, code: FeeCode, user: Fees) -> Response:
    form = await request.form()
    data = {"amount": _rupiah(str(form.get("amount", "")), request.state.lang),
            "description": str(form.get("description", ""))}
    body = validated(FeeIn, {k: v for k, v in data.items() if v is not None})
    await run(admin.set_fee, request.app.state.office, code=code, amount=body.amount, description=body.description,
              actor=user.username, fields={"fee": "amount"})
    table = await run_in_threadpool(admin.fee_table, request.app.state.office)
    return page(request, "console/admin/_fees.html", fees=table, changed=code)


@router.get("/holidays")
async def holidays(request: Request, user: Fees) -> Response:
    return page(request, "console/admin/holidays.html", **await _holidays(request), **_nav(user, "holidays"))


@router.post("/holidays")
async def add_holiday(request: Request, user: Fees) -> Response:
    body = await read_form(request, HolidayIn)
    await run(admin.add_holiday, request.app.state.office, day=body.day, name=body.name, actor=user.username)
    return page(request, "console/admin/_holidays.html", **await _holidays(request), added=body.day)


async def _holidays(request: Request) -> dict:
    office = request.app.state.office
    rows = await run_in_threadpool(admin.holidays, office)
    since = date(office.clock.now().year - 1, 1, 1)  # last year's and what is ahead: the list stays short
    return {"holidays": [h for h in rows if h["day"] >= since]}


# -- settings -----------------------------------------------------------------------------------

@router.get("/settings")
async def settings(request: Request, user: Users) -> Response:
    shown = queries.office_settings(request.app.state.office)
    return page(request, "console/admin/settings.html", s=shown, **_nav(user, "settings"))


def _nav(user: object, current: str) -> dict:
    return {"sections": [(slug, label) for slug, label, perm in SECTIONS if allowed(user.role, perm)],
            "current": current}


def _rupiah(text: str, lang: str) -> int | None:
    """An amount as staff write it: 650000, 650.000 or Rp650.000 (the dot groups thousands);
    None when empty (the API's rule then says it is required); else refused beside the field."""
    plain = re.sub(r"[\s.]", "", text.strip().removeprefix("Rp").removeprefix("rp"))
    if not plain:
        return None
    if not re.fullmatch(r"[0-9]{1,19}", plain):
        raise RequestValidationError([{"loc": ("body", "amount"), "type": "rupiah",
                                       "msg": gettext(lang, "Write the amount in digits, e.g. 650.000")}])
    return int(plain)
