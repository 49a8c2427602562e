"""One relay per office, whoever starts a second one by mistake.

`kanim serve` runs a relay unless told `--no-relay`; `kanim worker` runs one on its own. Both at
once used to race: duplicate pushes, spurious incidents, concurrent updates of the same outbox
rows. The relay that holds the lease works; any other stands by and takes over when the lease
runs out (its holder stopped or was killed).
"""

from __future__ import annotations

import os
import socket
import uuid
from datetime import UTC, datetime, timedelta

from sqlalchemy import delete, update
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.orm.exc import StaleDataError

from kanim.bootstrap import Office
from kanim.link import inbox
from kanim.store import tables as t
from kanim.store.uow import UnitOfWork

LEASE = "relay_lease"
LEASE_SECONDS = 30.0  # a relay that stops renewing (killed) is replaced after this long


class Lease:
    """The office's relay lease, a row of `link_cursor`: '<holder> <expires at>'. Taken and
    renewed by compare-and-swap, so two relays (threads, processes, hosts on one PostgreSQL)
    agree on one holder without any lock held between rounds."""

    def __init__(self, office: Office, holder: str | None = None) -> None:
        self.office = office
        self.holder = holder or f"{_HOST}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self.until: datetime | None = None

    def hold(self) -> str | None:
        """Take or renew the lease: None when it is ours, else who holds it."""
        now = datetime.now(UTC)
        if self.until is not None and now < self.until - timedelta(seconds=LEASE_SECONDS * 2 / 3):
            return None  # renewed recently enough: no write on every round
        try:
            with self.office.uow() as uow:
                current = inbox.get_state(uow, LEASE)
                other = _live_holder(current, now)
                if other is not None and other != self.holder:
                    return other
                value = f"{self.holder} {(now + timedelta(seconds=LEASE_SECONDS)).isoformat()}"
                if not _swap(uow, current, value):
                    return "another relay (it took the lease just now)"
                uow.session.commit()  # bookkeeping: no audit row per renewal
        except (IntegrityError, OperationalError, StaleDataError):
            return "another relay (the lease was contended)"
        self.until = now + timedelta(seconds=LEASE_SECONDS)
        return None

    def release(self) -> None:
        with self.office.uow() as uow:
            current = inbox.get_state(uow, LEASE)
            if current and current.split(" ", 1)[0] == self.holder:
                uow.session.execute(delete(t.link_cursor).where(t.link_cursor.c.name == LEASE,
                                                                t.link_cursor.c.value == current))
                uow.session.commit()
        self.until = None


def _live_holder(value: str | None, now: datetime) -> str | None:
    if not value or " " not in value:
        return None
    holder, until = value.split(" ", 1)
    try:
        expired = datetime.fromisoformat(until) <= now
    except ValueError:
        return None
    return None if expired or _died_here(holder) else holder


def _died_here(holder: str) -> bool:
    """A holder on this host whose process is gone (killed, crashed): its lease need not be
    waited out. A holder on another host is trusted until its lease runs out."""
    host, _, rest = holder.partition(":")
    pid = rest.split(":", 1)[0]
    if host != _HOST or not pid.isdigit():
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


_HOST = socket.gethostname()[:64]


def _swap(uow: UnitOfWork, current: str | None, value: str) -> bool:
    c = t.link_cursor.c
    if current is None:
        uow.session.execute(t.link_cursor.insert().values(name=LEASE, value=value))  # IntegrityError if raced
        return True
    return uow.session.execute(update(t.link_cursor).where(c.name == LEASE, c.value == current)
                               .values(value=value)).rowcount == 1


def relay_holder(uow: UnitOfWork, now: datetime) -> str | None:
    return _live_holder(inbox.get_state(uow, LEASE), now)
