"""Logging in and out, the language, and each role's landing desk."""

from __future__ import annotations

import hmac
from typing import Annotated

from fastapi import APIRouter, Form, HTTPException, Request
from fastapi.responses import RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from kanim.domain.errors import DomainError
from kanim.office import accounts
from kanim.web.console.desks import landing
from kanim.web.console.render import LANGUAGES, gettext, page
from kanim.web.console.session import (
    LANGUAGE_COOKIE,
    LOGIN_CSRF_COOKIE,
    PREFIX,
    SESSION_COOKIE,
    ConsoleUser,
    cookie_options,
    language_of_visitor,
    new_login_csrf,
)
from kanim.web.contract import Route

router = APIRouter(prefix=PREFIX, route_class=Route, include_in_schema=False)


def _safe_next(value: str | None) -> str:
    """Only a path of the console itself: a login link must not send anyone elsewhere."""
    if value and value.startswith(PREFIX + "/") and not value.startswith("//") and "\\" not in value:
        return value
    return PREFIX + "/"


@router.get("/login")
def login_page(request: Request, next: str | None = None, lang: str | None = None) -> Response:  # noqa: A002
    visitor = lang if lang in LANGUAGES else language_of_visitor(request)
    request.state.lang = visitor
    # The browser's login token is kept while it has one: another tab left open (a dashboard
    # whose session ended, polling) lands here too, and a new token would expire the form a
    # colleague is filling in at this browser.
    kept = request.cookies.get(LOGIN_CSRF_COOKIE, "")
    token = kept if 20 <= len(kept) <= 64 else new_login_csrf()
    response = page(request, "console/login.html", login_csrf=token, next=_safe_next(next), error=None)
    response.set_cookie(LOGIN_CSRF_COOKIE, token, **cookie_options(request))
    if lang in LANGUAGES:
        response.set_cookie(LANGUAGE_COOKIE, lang, **{**cookie_options(request), "httponly": False})
    return response


@router.post("/login")
async def log_in(request: Request, username: Annotated[str, Form(max_length=64)],
                 password: Annotated[str, Form(max_length=200)], csrf_token: Annotated[str, Form(max_length=64)],
                 next: Annotated[str, Form(max_length=500)] = "") -> Response:  # noqa: A002
    request.state.lang = language_of_visitor(request)
    expected = request.cookies.get(LOGIN_CSRF_COOKIE, "")
    if not expected or not hmac.compare_digest(expected, csrf_token):
        raise HTTPException(403, "the login form has expired: reload the page and try again")
    office = request.app.state.office
    try:
        token, user = await run_in_threadpool(
            accounts.login, office, username=username, password=password,
            address=request.client.host if request.client else None, client=accounts.CONSOLE)
    except accounts.LoginThrottled as e:
        return _login_again(request, next, gettext(request.state.lang, "Too many failed logins: wait %(s)s seconds.",
                                                   s=e.retry_after), status=429)
    except DomainError:
        return _login_again(request, next, gettext(request.state.lang, "Wrong username or password."), status=401)
    desk = landing(user.role, node=request.app.state.console_node)
    target = _safe_next(next) if next else (f"{PREFIX}/{desk.slug}" if desk else f"{PREFIX}/")
    response = RedirectResponse(target, status_code=303)
    response.set_cookie(SESSION_COOKIE, token, **cookie_options(request))
    response.delete_cookie(LOGIN_CSRF_COOKIE, path=PREFIX, httponly=True, samesite="strict")
    return response


def _login_again(request: Request, next: str, error: str, *, status: int) -> Response:  # noqa: A002
    token = new_login_csrf()
    response = page(request, "console/login.html", status=status, login_csrf=token, next=_safe_next(next),
                    error=error)
    response.set_cookie(LOGIN_CSRF_COOKIE, token, **cookie_options(request))
    return response


@router.post("/logout")
async def log_out(request: Request, user: ConsoleUser) -> Response:
    await run_in_threadpool(accounts.logout, request.app.state.office, request.state.session_token)
    response = RedirectResponse(f"{PREFIX}/login", status_code=303)
    response.delete_cookie(SESSION_COOKIE, path=PREFIX)
    if request.headers.get("HX-Request") == "true":
        response = Response(status_code=204, headers={"HX-Redirect": f"{PREFIX}/login"})
        response.delete_cookie(SESSION_COOKIE, path=PREFIX)
    return response


@router.post("/language")
async def set_language(request: Request, user: ConsoleUser,
                       language: Annotated[str, Form(pattern="^(id|en)$")]) -> Response:
    await run_in_threadpool(accounts.set_language, request.app.state.office, user_id=user.id, language=language)
    return Response(status_code=204, headers={"HX-Refresh": "true"})


@router.get("/")
async def home(request: Request, user: ConsoleUser) -> Response:
    desk = landing(user.role, node=request.app.state.console_node)
    if desk is None:
        raise HTTPException(403, "no desk of this console is open to your role")
    return RedirectResponse(f"{PREFIX}/{desk.slug}", status_code=303)
