"""The admin desk's reading: staff accounts (with who is locked out now), and the office's
settings as staff may see them: never a key, a key file's place or a password in a URL."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from urllib.parse import urlsplit, urlunsplit
from zoneinfo import ZoneInfo

from sqlalchemy import select

from kanim.bootstrap import Office
from kanim.domain.zones import zone_abbreviation
from kanim.office import throttle
from kanim.security.roles import Role
from kanim.store import tables as t

USER_LIMIT = 500  # an office has tens of staff; a bound all the same


@dataclass(frozen=True)
class Account:
    id: str
    username: str
    full_name: str
    role: Role
    active: bool
    created_at: datetime
    locked_until: datetime | None


def accounts(office: Office) -> list[Account]:
    """Every account by username, with the lock on it now (the throttle's), if any."""
    u = t.staff_user.c
    with office.uow(readonly=True) as uow:
        locks = {r["id"]: r["locked_until"] for r in throttle.locked_accounts(uow)}
        rows = uow.session.execute(select(u.id, u.username, u.full_name, u.role, u.active, u.created_at)
                                   .order_by(u.username).limit(USER_LIMIT)).all()
    return [Account(r.id, r.username, r.full_name, Role(r.role), bool(r.active), r.created_at, locks.get(r.id))
            for r in rows]


@dataclass(frozen=True)
class OfficeSettings:
    """What the settings page shows, read-only: each is set by the node's environment (KANIM_*).
    The database's URL (it may hold a password), the key files and the keys are not here."""

    office_code: str
    office_name: str
    timezone: str
    zone: str  # WIB, WITA, WIT
    database: str  # the dialect only
    daily_quota: int
    slot_times: list[str]
    max_applicants_per_booking: int
    billing_validity_minutes: str
    max_upload_bytes: int
    central: str  # none | simulated | http
    central_url: str  # without any user or password it carries
    central_key_set: bool
    link_interval: str
    link_batch: int
    link_timeout: str
    watchlist_refresh_minutes: str
    print_requires: list[str]
    print_on_provisional: bool
    watchlist_max_age_days: str
    unsynced_max_days: str
    session_hours: int
    console_idle_minutes: str
    login_free_failures: int
    login_lock_after: int
    login_lock_minutes: str


def office_settings(office: Office) -> OfficeSettings:
    s = office.settings
    now = office.clock.now().astimezone(ZoneInfo(s.timezone))
    return OfficeSettings(
        office_code=s.office_code, office_name=s.office_name, timezone=s.timezone,
        zone=zone_abbreviation(s.timezone, now.utcoffset()), database=office.engine.dialect.name,
        daily_quota=s.daily_quota, slot_times=[x.strftime("%H:%M") for x in s.slot_times],
        max_applicants_per_booking=s.max_applicants_per_booking,
        billing_validity_minutes=_number(s.billing_validity_minutes), max_upload_bytes=s.max_upload_bytes,
        central=s.link_mode, central_url=_without_credentials(s.central_url),
        central_key_set=bool(s.central_public_key), link_interval=_number(s.link_interval),
        link_batch=s.link_batch, link_timeout=_number(s.link_timeout),
        watchlist_refresh_minutes=_number(s.watchlist_refresh_minutes), print_requires=list(s.print_requires),
        print_on_provisional=s.print_on_provisional, watchlist_max_age_days=_number(s.watchlist_max_age_days),
        unsynced_max_days=_number(s.unsynced_max_days), session_hours=s.session_hours,
        console_idle_minutes=_number(s.console_idle_minutes), login_free_failures=s.login_free_failures,
        login_lock_after=s.login_lock_after, login_lock_minutes=_number(s.login_lock_minutes),
    )


def _number(v: float) -> str:
    return str(int(v)) if float(v).is_integer() else str(v)


def _without_credentials(url: str | None) -> str:
    if not url:
        return "–"
    parts = urlsplit(url)
    host = parts.hostname or ""
    netloc = f"{host}:{parts.port}" if parts.port else host
    return urlunsplit((parts.scheme, netloc, parts.path, "", ""))
