"""Who is at the desk: the console's cookie session, its CSRF token and the permission checks.

- Logging in goes through `kanim.office.accounts.login` with `client="console"`, so the console
  and the JSON API share one set of login throttles (per account and per address).
- The session token lives in a cookie that scripts cannot read (HttpOnly), that no other site's
  page can make the browser send (SameSite=Strict), that is sent only over HTTPS when the
  console is reached over HTTPS (Secure), scoped to /staff; it ends after
  `KANIM_CONSOLE_IDLE_MINUTES` unused and after `KANIM_SESSION_HOURS` in any case.
- Every request that changes something carries a CSRF token: `X-CSRF-Token` (htmx sends it for
  every form from the page's `hx-headers`) or a `csrf_token` form field. The token is an HMAC of
  the session's own secret, so it needs no storage and is worthless without the session. The
  login form, before there is a session, uses a double-submit cookie instead.
- `ConsoleStaff(Perm.X)` is the console's `Staff(Perm.X)`: the same permission table
  (kanim.security.roles); another desk's URL answers a 403 page. Its check carries `kanim_perm`,
  so the routes' `Route` class gives every changing request an Idempotency-Key.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from typing import Annotated

from fastapi import Depends, HTTPException, Request

from kanim.office import accounts
from kanim.office.accounts import CONSOLE, StaffUser
from kanim.security.roles import Perm, allowed
from kanim.web.console.desks import visible_desks
from kanim.web.console.render import DEFAULT_LANGUAGE, LANGUAGES

PREFIX = "/staff"
SESSION_COOKIE = "kanim_session"
LOGIN_CSRF_COOKIE = "kanim_login_csrf"
LANGUAGE_COOKIE = "kanim_lang"  # before logging in; afterwards the staff member's own setting
CSRF_HEADER, CSRF_FIELD = "X-CSRF-Token", "csrf_token"
UNSAFE = {"POST", "PUT", "PATCH", "DELETE"}


def csrf_for(session_token: str) -> str:
    return hmac.new(session_token.encode(), b"kanim console csrf", hashlib.sha256).hexdigest()[:40]


def new_login_csrf() -> str:
    return secrets.token_urlsafe(24)


def secure(request: Request) -> bool:
    """Behind HTTPS (directly, or a proxy uvicorn trusts via FORWARDED_ALLOW_IPS)."""
    return request.url.scheme == "https"


def cookie_options(request: Request) -> dict:
    return {"httponly": True, "samesite": "strict", "secure": secure(request), "path": PREFIX}


def language_of_visitor(request: Request) -> str:
    lang = request.cookies.get(LANGUAGE_COOKIE, DEFAULT_LANGUAGE)
    return lang if lang in LANGUAGES else DEFAULT_LANGUAGE


async def console_user(request: Request) -> StaffUser:
    """The logged-in staff member (401 → the login page), and the page's context for them."""
    token = request.cookies.get(SESSION_COOKIE)
    office = request.app.state.office
    user = await _authenticate(office, token) if token else None
    if user is None:
        raise HTTPException(401, "log in first")
    request.state.user = user
    request.state.lang = user.language if user.language in LANGUAGES else DEFAULT_LANGUAGE
    request.state.csrf = csrf_for(token)
    request.state.desks = visible_desks(user.role, node=request.app.state.console_node)
    request.state.session_token = token
    if request.method in UNSAFE:
        await _check_csrf(request, request.state.csrf)
    return user


async def _authenticate(office, token: str) -> StaffUser | None:  # noqa: ANN001
    from starlette.concurrency import run_in_threadpool

    return await run_in_threadpool(accounts.authenticate, office, token, client=CONSOLE)


async def _check_csrf(request: Request, expected: str) -> None:
    sent = request.headers.get(CSRF_HEADER)
    if sent is None and request.headers.get("content-type", "").startswith(
            ("application/x-www-form-urlencoded", "multipart/form-data")):
        sent = (await request.form()).get(CSRF_FIELD)
    if not isinstance(sent, str) or not hmac.compare_digest(sent, expected):
        raise HTTPException(403, "this form has no valid CSRF token: reload the page and try again")


ConsoleUser = Annotated[StaffUser, Depends(console_user)]


def ConsoleStaff(perm: Perm):  # noqa: N802 - reads as a type in signatures
    """A staff member whose role holds `perm` (kanim.security.roles), else a 403 page."""

    async def check(user: ConsoleUser) -> StaffUser:
        if not allowed(user.role, perm):
            raise HTTPException(403, f"role {user.role.value} may not {perm.value.replace('_', ' ')}")
        return user

    check.__name__ = f"console_{perm.value}"
    check.kanim_perm = perm  # type: ignore[attr-defined]  # kanim.web.contract.Route: an Idempotency-Key
    return Annotated[StaffUser, Depends(check)]
