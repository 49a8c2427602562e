"""One relay per office, whoever starts a second one by mistake.

`kanim serve` runs a relay unless told `--no-relay`; `kanim worker` runs one on its own. Both at
once used to race: duplicate pushes, spurious incidents, concurrent updates of the same outbox
rows. The relay that holds the lease works; any other stands by and takes over when the lease
runs out (its holder stopped or was killed).
"""

from __future__ import annotations

import hashlib
import os
import socket
import threading
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

    def __init__(self, office: Office, holder: str | None = None, *, name: str = LEASE) -> None:
        self.office = office
        self.name = name  # the relay's, or another single worker's (the notification worker)
        self.holder = holder or f"{_HOST}:{os.getpid()}:{_MACHINE}:{uuid.uuid4().hex[:8]}"
        self.until: datetime | None = None
        self._lock = threading.Lock()  # the relay's loop and its keeper both renew

    def keep(self, stop: threading.Event) -> threading.Thread:
        """Renew the lease from a thread of its own while `stop` is not set: a round that takes
        longer than the lease (an 80 MB capture on a slow uplink) does not let it lapse."""

        def renew() -> None:
            while not stop.wait(LEASE_SECONDS / 3):
                with self._lock:
                    if self.until is not None and not stop.is_set():
                        self._hold()

        thread = threading.Thread(target=renew, name="kanim-relay-lease", daemon=True)
        thread.start()
        return thread

    def hold(self) -> str | None:
        """Take or renew the lease: None when it is ours, else who holds it."""
        with self._lock:
            return self._hold()

    def _hold(self) -> str | None:
        now = datetime.now(UTC)
        if self.until is not None and now < self.until - timedelta(seconds=LEASE_SECONDS * 2 / 3):
            return None  # renewed recently enough: no write on every round
        try:
            with self.office.uow() as uow:
                current = inbox.get_state(uow, self.name)
                other = _live_holder(current, now)
                if other is not None and other != self.holder:
                    return other
                value = f"{self.holder} {(now + timedelta(seconds=LEASE_SECONDS)).isoformat()}"
                if not _swap(uow, self.name, current, value):
                    return "another relay (it took the lease just now)"
                uow.session.commit()  # bookkeeping: no audit row per renewal
        except (IntegrityError, OperationalError, StaleDataError):
            return "another relay (the lease was contended)"
        self.until = now + timedelta(seconds=LEASE_SECONDS)
        return None

    def release(self) -> None:
        with self._lock, self.office.uow() as uow:
            current = inbox.get_state(uow, self.name)
            if current and current.split(" ", 1)[0] == self.holder:
                uow.session.execute(delete(t.link_cursor).where(t.link_cursor.c.name == self.name,
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
    """A holder on this machine whose process is gone (killed, crashed): its lease need not be
    waited out. "This machine" is the same host name, boot and process namespace: two
    containers that share a host name do not see each other's processes, and must not judge
    them dead. A holder elsewhere is trusted until its lease runs out."""
    parts = holder.split(":")
    if len(parts) != 4 or parts[0] != _HOST or parts[2] != _MACHINE or not parts[1].isdigit():
        return False
    pid = parts[1]
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


_HOST = socket.gethostname()[:64].replace(":", "_")


def _machine() -> str:
    """This boot of this kernel and this process namespace, in a few characters."""
    try:
        boot = open("/proc/sys/kernel/random/boot_id").read().strip()
        namespace = os.stat("/proc/self/ns/pid").st_ino
    except OSError:
        return "unknown"
    return hashlib.sha256(f"{boot}/{namespace}".encode()).hexdigest()[:12]


_MACHINE = _machine()


def _swap(uow: UnitOfWork, name: str, current: str | None, value: str) -> bool:
    c = t.link_cursor.c
    if current is None:
        uow.session.execute(t.link_cursor.insert().values(name=name, value=value))  # IntegrityError if raced
        return True
    return uow.session.execute(update(t.link_cursor).where(c.name == name, c.value == current)
                               .values(value=value)).rowcount == 1


def relay_holder(uow: UnitOfWork, now: datetime, name: str = LEASE) -> str | None:
    return _live_holder(inbox.get_state(uow, name), now)
