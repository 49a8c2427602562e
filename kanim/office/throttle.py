"""Failed-login buckets in the database (the rules are in kanim/domain/throttle.py).

Every password check is charged to its account's and its address's bucket *before* it runs, in
a short transaction of its own, and taken back if the password was right. So concurrent tries
(several threads, several `kanim serve --workers N` processes) can never get more checks through
than the buckets allow, and the slow Argon2 check runs outside any write lock. A check cut short
by a crash stays counted as failed: the safe side.

The account's key is a hash of the username as typed: names that do not exist are throttled and
locked exactly like real ones (the answers do not tell which usernames exist), and no typed text
is stored. Only real accounts are listed as locked, for an admin to unlock.

An account's lock and back-off do not apply at an address where that account logged in
successfully in the last 30 days (a "trusted" row, kept by a hash of the username and the
address): anyone on the network can lock any account by guessing at it, but not out of the desk
it is used at. Failures at a trusted address are still slowed down by the address's bucket.

The client address is `request.client.host`, as uvicorn's proxy-headers handling decides it: it
believes X-Forwarded-For only from the addresses in FORWARDED_ALLOW_IPS (default 127.0.0.1 and
::1, a proxy on the same machine). Behind a proxy on another machine that is not named there,
every desk shares the proxy's address bucket.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, delete, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite

from kanim.config import Settings
from kanim.domain import throttle as rules
from kanim.domain.errors import DomainError, NotFound
from kanim.store import tables as t
from kanim.store.uow import UnitOfWork

ACCOUNT, ADDRESS, TRUSTED = "account", "address", "trusted"
ADDRESS_MAX = 64
FORGET_ACCOUNT = timedelta(days=1)
FORGET_ADDRESS = timedelta(hours=1)
TRUST_FOR = timedelta(days=30)  # an address where the account logged in is trusted this long


class LoginThrottled(DomainError):
    """Too many failed logins: wait `retry_after` seconds (429 with Retry-After)."""

    code = "login-throttled"
    status = 429

    def __init__(self, message: str, *, retry_after: int, code: str | None = None) -> None:
        super().__init__(message, code=code, retry_after=retry_after)
        self.retry_after = retry_after


@dataclass(frozen=True)
class Charge:
    """One password check charged to its two buckets ahead of the check."""

    account_key: str
    address_key: str
    user_id: str | None
    address: str
    account: rules.Bucket  # the account's bucket with this check counted as failed
    locks: bool  # counted as failed, this check locks the account
    username: str = ""
    trusted: bool = False  # the account logged in at this address before: its lock does not apply here


def account_policy(settings: Settings) -> rules.ThrottlePolicy:
    return rules.ThrottlePolicy(free_failures=settings.login_free_failures, first_delay=timedelta(seconds=2),
                                max_delay=timedelta(minutes=5), lock_after=settings.login_lock_after,
                                lock_for=timedelta(minutes=settings.login_lock_minutes),
                                forget_after=FORGET_ACCOUNT)


def address_policy(settings: Settings) -> rules.ThrottlePolicy:
    return rules.ThrottlePolicy(free_failures=settings.login_address_free_failures,
                                first_delay=timedelta(seconds=1), max_delay=timedelta(minutes=15),
                                lock_after=None, lock_for=timedelta(0), forget_after=FORGET_ADDRESS)


def client_address(host: str | None) -> str:
    return (host or "unknown")[:ADDRESS_MAX]


def account_key(username: str) -> str:
    return f"{ACCOUNT}:{hashlib.sha256(username.encode()).hexdigest()}"


def trust_key(username: str, address: str) -> str:
    pair = "\n".join((username, address)).encode()
    return f"{TRUSTED}:{hashlib.sha256(pair).hexdigest()}"


def _trusted(uow: UnitOfWork, username: str, address: str, now: datetime) -> bool:
    lt = t.login_throttle.c
    since = uow.session.execute(select(lt.last_failed_at).where(lt.key == trust_key(username, address))).scalar()
    return since is not None and since > now - TRUST_FOR


def charge(uow: UnitOfWork, settings: Settings, *, username: str, user_id: str | None, address: str) -> Charge:
    """Count this check as failed in both buckets, or raise LoginThrottled if either must wait.
    The caller commits: a refused try writes nothing (and costs no Argon2 check)."""
    now = uow.now()
    akey, xkey = account_key(username), f"{ADDRESS}:{address}"
    # Locked in key order (account:… < address:…), the same in every transaction: no deadlock.
    account, addr = _locked_bucket(uow, akey, ACCOUNT, user_id), _locked_bucket(uow, xkey, ADDRESS, None)
    trusted = _trusted(uow, username, address, now)
    wait = max(timedelta(0) if trusted else rules.retry_after(account, now), rules.retry_after(addr, now))
    if wait > timedelta(0):
        raise _throttled(account, now, wait)
    if not trusted:  # a typo at the account's own desk does not count towards locking it
        account = rules.after_failure(account, now, account_policy(settings))
        _save(uow, akey, account)
    _save(uow, xkey, rules.after_failure(addr, now, address_policy(settings)))
    return Charge(akey, xkey, user_id, address, account, not trusted and account.is_locked(now), username, trusted)


def settle_success(uow: UnitOfWork, settings: Settings, c: Charge) -> None:
    """The password was right: the account starts again (unless it logged in at a trusted
    address while locked elsewhere: the lock stands for the others), the address gives back this
    one try, and the address is trusted for the account from now on."""
    if not c.trusted:
        _save(uow, c.account_key, rules.after_success(c.account))
    addr = _locked_bucket(uow, c.address_key, ADDRESS, None)
    _save(uow, c.address_key, rules.undo_failure(addr, address_policy(settings)))
    key = trust_key(c.username, c.address)
    _locked_bucket(uow, key, TRUSTED, c.user_id)
    uow.session.execute(update(t.login_throttle).where(t.login_throttle.c.key == key)
                        .values(last_failed_at=uow.now()))  # for a trusted row: when it last logged in


def settle_failure(uow: UnitOfWork, c: Charge, *, reason: str) -> None:
    """The password was wrong (already counted): audit it, and the lock if this try caused one."""
    subject = c.user_id or "staff"
    # Never the typed username as the actor: it is arbitrary text from anyone on the network.
    uow.audit(actor="anonymous", action="LoginFailed", subject=subject,
              detail={"address": c.address, "reason": reason})
    if c.user_id and c.locks:
        uow.audit(actor="system", action="AccountLocked", subject=c.user_id,
                  detail={"failures": c.account.failures, "locked_until": c.account.locked_until.isoformat(),
                          "address": c.address})
    _forget_quiet_buckets(uow, uow.now())


def locked_accounts(uow: UnitOfWork) -> list[dict[str, Any]]:
    """Accounts locked now, for an admin: who, since how many failures, until when."""
    lt, u = t.login_throttle.c, t.staff_user.c
    rows = uow.session.execute(
        select(u.id, u.username, u.full_name, lt.failures, lt.last_failed_at, lt.locked_until)
        .join(t.staff_user, u.id == lt.user_id)
        .where(lt.kind == ACCOUNT, lt.locked_until > uow.now()).order_by(u.username)
    ).all()
    return [dict(r._mapping) for r in rows]


def unlock(uow: UnitOfWork, *, username: str, actor: str) -> bool:
    """Lift a lock and forget the account's failures; False if there was nothing to lift."""
    user_id = uow.session.execute(select(t.staff_user.c.id).where(t.staff_user.c.username == username)).scalar()
    if user_id is None:
        raise NotFound(f"no staff account {username}", code="user-unknown")
    lt = t.login_throttle.c
    row = uow.session.execute(select(t.login_throttle).where(lt.key == account_key(username))).first()
    if row is None or row.failures == 0:
        return False
    was_locked = row.locked_until is not None and row.locked_until > uow.now()
    uow.session.execute(delete(t.login_throttle).where(lt.key == account_key(username)))
    uow.audit(actor=actor, action="AccountUnlocked", subject=user_id,
              detail={"failures": row.failures, "was_locked": was_locked})
    return True


def _throttled(account: rules.Bucket, now: datetime, wait: timedelta) -> LoginThrottled:
    seconds = max(1, int(-(-wait.total_seconds() // 1)))  # whole seconds, rounded up
    if account.is_locked(now):
        return LoginThrottled(f"too many failed logins: the account is locked for {seconds} s or until an "
                              "admin unlocks it", retry_after=seconds, code="account-locked")
    return LoginThrottled(f"too many failed logins: try again in {seconds} s", retry_after=seconds)


def _locked_bucket(uow: UnitOfWork, key: str, kind: str, user_id: str | None) -> rules.Bucket:
    """The bucket's row, created if new and locked until the commit (PostgreSQL; SQLite's write
    transaction already holds the whole database)."""
    values = dict(key=key, kind=kind, user_id=user_id, failures=0)
    dialect = uow.session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    uow.session.execute(insert(t.login_throttle).values(**values).on_conflict_do_nothing(index_elements=["key"]))
    lt = t.login_throttle.c
    row = uow.session.execute(select(t.login_throttle).where(lt.key == key).with_for_update()).one()
    if user_id is not None and row.user_id != user_id:
        uow.session.execute(update(t.login_throttle).where(lt.key == key).values(user_id=user_id))
    return rules.Bucket(row.failures, row.last_failed_at, row.blocked_until, row.locked_until)


def _save(uow: UnitOfWork, key: str, b: rules.Bucket) -> None:
    uow.session.execute(update(t.login_throttle).where(t.login_throttle.c.key == key).values(
        failures=b.failures, last_failed_at=b.last_failed_at, blocked_until=b.blocked_until,
        locked_until=b.locked_until))


def _forget_quiet_buckets(uow: UnitOfWork, now: datetime) -> None:
    """Buckets the rules would start again from zero anyway: without this, every username ever
    typed would keep a row."""
    lt = t.login_throttle.c
    quiet = or_(and_(lt.kind == ACCOUNT, lt.last_failed_at < now - FORGET_ACCOUNT),
                and_(lt.kind == ADDRESS, lt.last_failed_at < now - FORGET_ADDRESS))
    unlocked = or_(lt.locked_until.is_(None), lt.locked_until <= now)
    uow.session.execute(delete(t.login_throttle).where(lt.kind != TRUSTED, or_(quiet, lt.failures == 0), unlocked))
    uow.session.execute(delete(t.login_throttle).where(lt.kind == TRUSTED, lt.last_failed_at < now - TRUST_FOR))
