from __future__ import annotations

from fastapi import APIRouter, Depends
from fastapi.security import HTTPAuthorizationCredentials

from kanim.office import accounts
from kanim.web.contract import Route, errors
from kanim.web.deps import CurrentUser, OfficeDep, _bearer
from kanim.web.replies import MeOut
from kanim.web.schemas import TokenIn, TokenOut

router = APIRouter(prefix="/auth", tags=["staff sessions"], route_class=Route)


@router.post("/token", response_model=TokenOut, responses=errors(
    {401: "`login-failed`: wrong username or password", 429: "too many failed logins: wait `Retry-After` seconds"}))
def log_in(body: TokenIn, office: OfficeDep) -> TokenOut:
    """Log in with a staff username and password; returns a bearer token."""
    token, user = accounts.login(office, username=body.username, password=body.password)
    return TokenOut(access_token=token, username=user.username, role=user.role.value)


@router.get("/me", response_model=MeOut)
def me(user: CurrentUser) -> dict:
    return {"username": user.username, "full_name": user.full_name, "role": user.role.value}


@router.post("/logout", status_code=204)
def log_out(office: OfficeDep, user: CurrentUser,
            creds: HTTPAuthorizationCredentials = Depends(_bearer)) -> None:
    accounts.logout(office, creds.credentials)
