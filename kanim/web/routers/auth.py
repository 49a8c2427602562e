"""Staff sessions and the accounts locked by failed logins. Shared by the office and the central
(both include this router)."""

from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter, Depends, Path, Request
from fastapi.responses import JSONResponse
from fastapi.security import HTTPAuthorizationCredentials
from pydantic import BaseModel

from kanim.office import accounts
from kanim.security.roles import Perm
from kanim.http import problems
from kanim.web.contract import Route, errors
from kanim.web.deps import CurrentUser, OfficeDep, Staff, _bearer
from kanim.web.replies import MeOut
from kanim.web.schemas import TokenIn, TokenOut

router = APIRouter(route_class=Route)
SESSIONS, LOCKS = "staff sessions", "staff"


class LockedOut(BaseModel):
    id: str
    username: str
    full_name: str
    failures: int
    last_failed_at: datetime | None = None
    locked_until: datetime


class UnlockOut(BaseModel):
    username: str
    unlocked: bool


@router.post("/auth/token", response_model=TokenOut, tags=[SESSIONS], responses=errors(
    {401: "`login-failed`: wrong username or password",
     429: "`login-throttled` or `account-locked`: too many failed logins; wait `Retry-After` seconds"}))
def log_in(body: TokenIn, office: OfficeDep, request: Request) -> TokenOut | JSONResponse:
    """Log in with a staff username and password; returns a bearer token.

    Failed logins are counted per account and per client address: past a few, the answer is 429
    with `Retry-After` (code `login-throttled`), and an account that keeps failing is locked
    (code `account-locked`) until an admin unlocks it or the lock runs out."""
    try:
        token, user = accounts.login(office, username=body.username, password=body.password,
                                     address=request.client.host if request.client else None)
    except accounts.LoginThrottled as e:
        # Retry-After is a header, which the generic DomainError handler does not set.
        return problems.problem(429, e.code, e.message, instance=request.url.path,
                                headers={"Retry-After": str(e.retry_after)}, retry_after=e.retry_after)
    return TokenOut(access_token=token, username=user.username, role=user.role.value)


@router.get("/auth/me", response_model=MeOut, tags=[SESSIONS])
def me(user: CurrentUser) -> dict:
    return {"username": user.username, "full_name": user.full_name, "role": user.role.value}


@router.post("/auth/logout", status_code=204, tags=[SESSIONS])
def log_out(office: OfficeDep, user: CurrentUser,
            creds: HTTPAuthorizationCredentials = Depends(_bearer)) -> None:
    accounts.logout(office, creds.credentials)


@router.get("/users/locked", response_model=list[LockedOut], tags=[LOCKS])
def locked_users(office: OfficeDep, user: Staff(Perm.MANAGE_USERS)) -> list[dict]:
    """Staff accounts locked by failed logins now: username, failures, until when."""
    return accounts.locked_accounts(office)


@router.post("/users/{username}/unlock", response_model=UnlockOut, tags=[LOCKS], responses=errors(
    {404: "`user-unknown`: no such staff account"}))
def unlock_user(office: OfficeDep, user: Staff(Perm.MANAGE_USERS),
                username: str = Path(max_length=64)) -> dict:
    """Lift a lock and forget the account's failed logins (audited as AccountUnlocked)."""
    return {"username": username, "unlocked": accounts.unlock(office, username=username, actor=user.username)}
