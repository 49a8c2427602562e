"""The node watches its own backups, so that a stopped `kanim backup run`, a full USB disk or a
failed drill is noticed the day it happens, not on the day of the restore.

A thread of `kanim serve` (when KANIM_BACKUP_TARGETS is set) reads each target's listing every
`WATCH_EVERY` (the same `health` as `kanim backup status`), and:

- writes what it found to `<data dir>/backup-health.json` (replaced whole: a reader never sees
  half of it), which the console's banner and `/metrics` read: with several worker processes,
  every one of them shows the same, and none lists an off-site target per page view;
- raises an office alert (kanim/notify/alerts.py) for each warning two looks in a row found: the
  staff's Telegram group or mailbox hears it, once per target and kind of warning within the
  alerts' repeat window.

The watch holds no key: reading a listing needs only the node's own token, and drills run where
the private key is (docs/backup.md).
"""

from __future__ import annotations

import hashlib
import logging
import threading
from datetime import UTC, datetime, timedelta
from collections.abc import Callable
from typing import Any

from kanim.backup.drills import Finding, Health, health
from kanim.backup.health_file import write
from kanim.backup.settings import BackupSettings
from kanim.backup.targets import TargetError, open_target, redacted

log = logging.getLogger("kanim.backup")

WATCH_EVERY = timedelta(minutes=5)


TIMEOUT = 15.0  # seconds per request to an off-site target: a hung host must not hold the watch
REASON_MAX = 120  # a drill's problem is written by whoever holds the node's token: bounded


def check(office: Any, backup: BackupSettings, *, now: datetime, alert: Callable[[str, str], bool] = lambda *_: True,
          ) -> list[Health]:  # office: kanim.bootstrap.Office
    """One look at every target: the file written, an alert raised for each finding that
    `alert(target, code)` lets through. Returns what was found."""
    found = [_health(spec, office.settings.office_code, backup, now) for spec in backup.target_specs()]
    write(office.settings.data_dir, found, now)
    _alert(office, [(h, w) for h in found for w in h.warnings if alert(h.target, w.code)])
    return found


def _health(spec: str, office_code: str, backup: BackupSettings, now: datetime) -> Health:
    """One target's health; whatever goes wrong with it is that target's finding, never the watch's
    end (a proxy's HTML page, a disk that fails to list, a URL that does not parse)."""
    label = redacted(spec) if spec.startswith(("http://", "https://")) else spec
    try:
        target = open_target(spec, office=office_code, token=backup.token, timeout=TIMEOUT)
    except (TargetError, ValueError) as e:
        return Health(label, 0, None, None, None, None, [Finding("unreachable", str(e))])
    try:
        return health(target, now=now, stale=timedelta(minutes=backup.stale_minutes),
                      drill_every=timedelta(days=backup.drill_days))
    except Exception as e:  # noqa: BLE001 - see above; the type alone: its text may quote what came back
        return Health(label, 0, None, None, None, None,
                      [Finding("unreachable", f"could not read {label} ({type(e).__name__})")])
    finally:
        target.close()


def _alert(office: Any, findings: list[tuple[Health, Finding]]) -> None:
    from kanim.notify import alerts

    with office.uow() as uow:
        for h, w in findings:
            # One alert per target and kind of finding within the repeat window; the subject is a
            # column of 64 characters and a target's address may be longer.
            subject = f"backup:{w.code}:{hashlib.sha256(h.target.encode()).hexdigest()[:16]}"
            alerts.raise_alert(uow, alerts.Kind.BACKUP_WARNING, subject,
                               {"channel": h.target[:REASON_MAX], "reason": str(w)[:REASON_MAX]})
        uow.commit()


def run_forever(office: Any, stop: threading.Event, every: timedelta = WATCH_EVERY) -> None:
    """Alerts only what two looks in a row found: a node switched on in the morning finds the
    night's last snapshot old until `kanim backup run` takes its first, a minute later; that is
    shown on the banner at once, not sent to the staff's group."""
    backup = BackupSettings()
    before: set[tuple[str, str]] = set()
    while not stop.is_set():
        try:
            found = check(office, backup, now=datetime.now(UTC), alert=lambda target, code: (target, code) in before)
            before = {(h.target, w.code) for h in found for w in h.warnings}
        except Exception:  # noqa: BLE001 - a watch that dies silently is worse than none
            log.exception("backup watch: the check failed; trying again in %s", every)
        stop.wait(every.total_seconds())
