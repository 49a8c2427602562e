"""Dependencies: the office, the current staff user, and permission checks."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, HTTPException, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from kanim.bootstrap import Office
from kanim.office.accounts import StaffUser, authenticate
from kanim.security.roles import Perm, allowed

_bearer = HTTPBearer(auto_error=False, description="a token from POST /api/v1/auth/token")


async def get_office(request: Request) -> Office:  # async: no I/O, no thread-pool hop
    return request.app.state.office


OfficeDep = Annotated[Office, Depends(get_office)]


def current_user(office: OfficeDep,
                 creds: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]) -> StaffUser:
    if creds is None:
        raise HTTPException(401, "log in first: POST /api/v1/auth/token", headers={"WWW-Authenticate": "Bearer"})
    user = authenticate(office, creds.credentials)
    if user is None:
        raise HTTPException(401, "the session has expired or is not valid", headers={"WWW-Authenticate": "Bearer"})
    return user


current_user.kanim_session = True  # read by kanim/http/routes.py: this route answers 401
CurrentUser = Annotated[StaffUser, Depends(current_user)]


def require(perm: Perm):  # noqa: ANN201
    """A dependency that lets only the roles holding `perm` through (see security/roles.py)."""

    async def check(user: CurrentUser) -> StaffUser:  # async: no I/O, no thread-pool hop
        if not allowed(user.role, perm):
            raise HTTPException(403, f"role {user.role.value} may not {perm.value.replace('_', ' ')}")
        return user

    check.__name__ = f"require_{perm.value}"
    check.kanim_perm = perm  # read by kanim/http/routes.py: this route answers 403 (and kanim/web/contract.py: takes Idempotency-Key)
    return Depends(check)


def Staff(perm: Perm):  # noqa: N802 - reads as a type in signatures
    return Annotated[StaffUser, require(perm)]
