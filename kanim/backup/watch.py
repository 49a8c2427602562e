"""The node watches its own backups, so that a stopped `kanim backup run`, a full USB disk or a
failed drill is noticed the day it happens, not on the day of the restore.

A thread of `kanim serve` (when KANIM_BACKUP_TARGETS is set) reads each target's listing every
`WATCH_EVERY` (the same `health` as `kanim backup status`), and:

- writes what it found to `<data dir>/backup-health.json` (replaced whole: a reader never sees
  half of it), which the console's banner and `/metrics` read: with several worker processes,
  every one of them shows the same, and none lists an off-site target per page view;
- raises an office alert (kanim/notify/alerts.py) for each warning: the staff's Telegram group
  or mailbox hears it, once per target and kind of warning within the alerts' repeat window.

The watch holds no key: reading a listing needs only the node's own token, and drills run where
the private key is (docs/backup.md).
"""

from __future__ import annotations

import hashlib
import logging
import threading
from datetime import UTC, datetime, timedelta
from typing import Any

from kanim.backup.drills import Finding, Health, health
from kanim.backup.health_file import write
from kanim.backup.settings import BackupSettings
from kanim.backup.targets import TargetError, open_target

log = logging.getLogger("kanim.backup")

WATCH_EVERY = timedelta(minutes=5)


def check(office: Any, backup: BackupSettings, *, now: datetime) -> list[Health]:  # office: kanim.bootstrap.Office
    """One look at every target: the file written, the alerts raised. Returns what was found."""
    found = [_health(spec, office.settings.office_code, backup, now) for spec in backup.target_specs()]
    write(office.settings.data_dir, found, now)
    _alert(office, found)
    return found


def _health(spec: str, office_code: str, backup: BackupSettings, now: datetime) -> Health:
    try:
        target = open_target(spec, office=office_code, token=backup.token)
    except (TargetError, ValueError) as e:
        return Health(spec, 0, None, None, None, None, [Finding("unreachable", str(e))])
    return health(target, now=now, stale=timedelta(minutes=backup.stale_minutes),
                  drill_every=timedelta(days=backup.drill_days))


def _alert(office: Any, found: list[Health]) -> None:
    from kanim.notify import alerts

    with office.uow() as uow:
        for h in found:
            for w in h.warnings:
                code = getattr(w, "code", "warning")
                # the subject is a column of 64 characters; a target's URL may be longer
                subject = f"backup:{code}:{hashlib.sha256(h.target.encode()).hexdigest()[:16]}"
                alerts.raise_alert(uow, alerts.Kind.BACKUP_WARNING, subject, {"channel": h.target, "reason": str(w)})
        uow.commit()


def run_forever(office: Any, stop: threading.Event, every: timedelta = WATCH_EVERY) -> None:
    backup = BackupSettings()
    while not stop.is_set():
        try:
            check(office, backup, now=datetime.now(UTC))
        except Exception:  # noqa: BLE001 - a watch that dies silently is worse than none
            log.exception("backup watch: the check failed; trying again in %s", every)
        stop.wait(every.total_seconds())
