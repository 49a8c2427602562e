"""Staff accounts and sessions. Bearer tokens are random; only their SHA-256 is stored, so a
copy of the database does not log anyone in."""

from __future__ import annotations

import functools
import hashlib
import hmac
import secrets
import uuid
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import delete, select, update

from kanim.bootstrap import Office
from kanim.domain.errors import Conflict, DomainError, InvalidInput, NotFound
from kanim.office import throttle
from kanim.office.throttle import LoginThrottled  # noqa: F401 - callers catch it from here
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
    language: str = "id"  # the console's language for this person: id (default) or en


LANGUAGES = ("id", "en")
API, CONSOLE = "api", "console"  # a session's client: a bearer token, or a browser's cookie


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


def check_repeated(password: str, again: str) -> None:
    """A password typed twice the same (a typo in a password nobody can read back locks its
    owner out); InvalidInput `password-mismatch` beside the second field otherwise."""
    if not hmac.compare_digest(password.encode(), again.encode()):
        raise InvalidInput("the two passwords are not the same", code="password-mismatch", field="password_again")


def disable_user(office: Office, *, username: str, actor: str) -> bool:
    """Stop an account from logging in and end its sessions now (API and console). False if it
    was disabled already. An admin cannot disable their own account: it could be the last one."""
    with office.uow() as uow:
        row = _account(uow, username)
        if row.username == actor:
            raise Conflict("you cannot disable your own account", code="user-self")
        if not row.active:
            return False
        uow.session.execute(update(t.staff_user).where(t.staff_user.c.id == row.id).values(active=False))
        ended = _end_sessions(uow, row.id)
        uow.audit(actor=actor, action="UserDisabled", subject=row.id, detail={"sessions_ended": ended})
        uow.commit()
    return True


def enable_user(office: Office, *, username: str, actor: str) -> bool:
    """Let a disabled account log in again; False if it was not disabled."""
    with office.uow() as uow:
        row = _account(uow, username)
        if row.active:
            return False
        uow.session.execute(update(t.staff_user).where(t.staff_user.c.id == row.id).values(active=True))
        uow.audit(actor=actor, action="UserEnabled", subject=row.id)
        uow.commit()
    return True


def reset_password(office: Office, *, username: str, password: str, password_again: str, actor: str) -> None:
    """Give an account a new password, typed twice, that meets the password rule. Its sessions
    end: a password is reset because someone else may know the old one."""
    check_repeated(password, password_again)
    try:
        pw_hash = hash_password(password)
    except ValueError as e:
        raise InvalidInput(str(e), code="password-weak", field="password") from None
    with office.uow() as uow:
        row = _account(uow, username)
        uow.session.execute(update(t.staff_user).where(t.staff_user.c.id == row.id).values(password_hash=pw_hash))
        ended = _end_sessions(uow, row.id)
        uow.audit(actor=actor, action="PasswordReset", subject=row.id, detail={"sessions_ended": ended})
        uow.commit()


def _account(uow, username: str):  # noqa: ANN001, ANN202
    row = uow.session.execute(select(t.staff_user).where(t.staff_user.c.username == username)).first()
    if row is None:
        raise NotFound(f"no staff account {username}", code="user-unknown")
    return row


def _end_sessions(uow, user_id: str) -> int:  # noqa: ANN001
    return uow.session.execute(delete(t.staff_session).where(t.staff_session.c.user_id == user_id)).rowcount


def login(office: Office, *, username: str, password: str, address: str | None = None,
          client: str = API) -> tuple[str, StaffUser]:
    """A session for the right password; LoginFailed (401) for a wrong one; LoginThrottled (429,
    with the seconds to wait) when the account or the client address has failed too often.
    `address` is the client's (request.client.host). The JSON API and the console both log in
    here, so both are throttled by the same buckets (kanim/office/throttle.py)."""
    address = throttle.client_address(address)
    with office.uow() as uow:
        row = uow.session.execute(select(t.staff_user).where(t.staff_user.c.username == username)).first()
        charge = throttle.charge(uow, office.settings, username=username, user_id=row.id if row else None,
                                 address=address)
        uow.commit()
    # Verified outside any transaction: an Argon2 check must not hold the database's write lock.
    # Unknown users are checked against a dummy hash, so timing does not reveal usernames.
    ok = verify_password(row.password_hash if row else _dummy_hash(), password)
    if not row or not ok or not row.active:
        with office.uow() as uow:
            throttle.settle_failure(uow, charge, reason=_failure_reason(row, ok))
            uow.commit()
        raise LoginFailed("wrong username or password")
    with office.uow() as uow:
        throttle.settle_success(uow, office.settings, charge)
        if needs_rehash(row.password_hash):
            uow.session.execute(update(t.staff_user).where(t.staff_user.c.id == row.id)
                                .values(password_hash=hash_password(password)))
        token = secrets.token_urlsafe(32)
        now = uow.now()
        uow.session.execute(t.staff_session.insert().values(
            token_hash=_digest(token), user_id=row.id, created_at=now, client=client, last_seen_at=now,
            expires_at=now + timedelta(hours=office.settings.session_hours)))
        uow.audit(actor=row.username, action="LoggedIn", subject=row.id, detail={"address": address, "client": client})
        uow.commit()
    return token, _user(row)


def locked_accounts(office: Office) -> list[dict]:
    """Accounts locked by failed logins now (GET /users/locked, `kanim user locked`)."""
    with office.uow(readonly=True) as uow:
        return throttle.locked_accounts(uow)


def unlock(office: Office, *, username: str, actor: str) -> bool:
    """Lift an account's lock and forget its failed logins; False if it had none."""
    with office.uow() as uow:
        done = throttle.unlock(uow, username=username, actor=actor)
        uow.commit()
    return done


def _failure_reason(row: object, password_ok: bool) -> str:
    if row is None:
        return "unknown-user"
    return "wrong-password" if not password_ok else "inactive"


def authenticate(office: Office, token: str, *, client: str = API) -> StaffUser | None:
    """The staff member a session token belongs to, or None. A console session also ends after
    `KANIM_CONSOLE_IDLE_MINUTES` without a request (a desk left logged in at lunch); its last
    use is written at most once a minute, so reading pages costs no write each time."""
    with office.uow(readonly=True) as uow:
        s, u = t.staff_session.c, t.staff_user.c
        row = uow.session.execute(
            select(t.staff_user, s.expires_at, s.last_seen_at, s.client).join(t.staff_session, s.user_id == u.id)
            .where(s.token_hash == _digest(token), s.client == client)
        ).first()
        now = uow.now()
        if row is None or row.expires_at <= now or not row.active:
            return None
        idle = timedelta(minutes=office.settings.console_idle_minutes)
        if client == CONSOLE and (row.last_seen_at is None or now - row.last_seen_at > idle):
            return None
    if client == CONSOLE and now - row.last_seen_at > timedelta(minutes=1):
        with office.uow() as uow:
            uow.session.execute(update(t.staff_session).where(t.staff_session.c.token_hash == _digest(token))
                                .values(last_seen_at=now))
            uow.session.commit()  # bookkeeping: no audit row per page
    return _user(row)


def set_language(office: Office, *, user_id: str, language: str) -> None:
    if language not in LANGUAGES:
        raise InvalidInput(f"the console speaks {' and '.join(LANGUAGES)}", code="language-unknown")
    with office.uow() as uow:
        uow.session.execute(update(t.staff_user).where(t.staff_user.c.id == user_id).values(language=language))
        uow.session.commit()


def _user(row: object) -> StaffUser:
    return StaffUser(row.id, row.username, row.full_name, Role(row.role), getattr(row, "language", "id") or "id")


def logout(office: Office, token: str) -> None:
    with office.uow() as uow:
        uow.session.execute(delete(t.staff_session).where(t.staff_session.c.token_hash == _digest(token)))
        uow.commit()


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


@functools.cache
def _dummy_hash() -> str:
    return hash_password("not-a-real-password-0000")
