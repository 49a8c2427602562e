"""Staff accounts and sessions. Bearer tokens are random; only their SHA-256 is stored, so a
copy of the database does not log anyone in."""

from __future__ import annotations

import functools
import hashlib
import secrets
import uuid
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import delete, select, update

from kanim.bootstrap import Office
from kanim.domain.errors import Conflict, DomainError, InvalidInput
from kanim.security.passwords import hash_password, needs_rehash, verify_password
from kanim.security.roles import Role
from kanim.store import tables as t


class LoginFailed(DomainError):
    code = "login-failed"
    status = 401


@dataclass(frozen=True)
class StaffUser:
    id: str
    username: str
    full_name: str
    role: Role


def add_user(office: Office, *, username: str, full_name: str, role: str, password: str,
             actor: str = "system") -> StaffUser:
    try:
        role_ = Role(role)
    except ValueError:
        raise InvalidInput(f"unknown role {role!r}; one of {', '.join(r.value for r in Role)}",
                           code="role-unknown") from None
    try:
        pw_hash = hash_password(password)
    except ValueError as e:
        raise InvalidInput(str(e), code="password-weak") from None
    with office.uow() as uow:
        if uow.session.execute(select(t.staff_user.c.id).where(t.staff_user.c.username == username)).first():
            raise Conflict(f"user {username} already exists", code="user-exists")
        user = StaffUser(str(uuid.uuid4()), username, full_name, role_)
        uow.session.execute(t.staff_user.insert().values(
            id=user.id, username=username, full_name=full_name, role=role_.value,
            password_hash=pw_hash, active=True, created_at=uow.now()))
        uow.audit(actor=actor, action="UserAdded", subject=user.id, detail={"username": username, "role": role_.value})
        uow.commit()
    return user


def login(office: Office, *, username: str, password: str) -> tuple[str, StaffUser]:
    with office.uow() as uow:
        row = uow.session.execute(select(t.staff_user).where(t.staff_user.c.username == username)).first()
        # Verify against a dummy hash for unknown users too, so timing does not reveal usernames.
        ok = verify_password(row.password_hash if row else _dummy_hash(), password)
        if not row or not ok or not row.active:
            uow.audit(actor=username[:64], action="LoginFailed", subject="staff")
            uow.commit()
            raise LoginFailed("wrong username or password")
        if needs_rehash(row.password_hash):
            uow.session.execute(update(t.staff_user).where(t.staff_user.c.id == row.id)
                                .values(password_hash=hash_password(password)))
        token = secrets.token_urlsafe(32)
        now = uow.now()
        uow.session.execute(t.staff_session.insert().values(
            token_hash=_digest(token), user_id=row.id, created_at=now,
            expires_at=now + timedelta(hours=office.settings.session_hours)))
        uow.audit(actor=row.username, action="LoggedIn", subject=row.id)
        uow.commit()
    return token, StaffUser(row.id, row.username, row.full_name, Role(row.role))


def authenticate(office: Office, token: str) -> StaffUser | None:
    with office.uow(readonly=True) as uow:
        s, u = t.staff_session.c, t.staff_user.c
        row = uow.session.execute(
            select(t.staff_user, s.expires_at).join(t.staff_session, s.user_id == u.id)
            .where(s.token_hash == _digest(token))
        ).first()
        if row is None or row.expires_at <= uow.now() or not row.active:
            return None
        return StaffUser(row.id, row.username, row.full_name, Role(row.role))


def logout(office: Office, token: str) -> None:
    with office.uow() as uow:
        uow.session.execute(delete(t.staff_session).where(t.staff_session.c.token_hash == _digest(token)))
        uow.commit()


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


@functools.cache
def _dummy_hash() -> str:
    return hash_password("not-a-real-password-0000")
