"""Drills and the backup's health.

A drill restores the newest snapshot into a scratch folder, checks the node it gets, and writes
its result to the target beside the snapshots (`drills/<time>-<random>`, plain JSON: counts,
times, the first problem; no personal data). It runs wherever the backup private key is (the
office IT's laptop, the off-site host), never on the node: the node holds no key that reads its
backups. The node learns how its drills went by reading those results back from the target,
which is what `kanim backup status` does.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta

from kanim.backup.format import time_of, timed_name
from kanim.backup.keys import BackupKeyError
from kanim.backup.restore import RestoreError, scratch_restore
from kanim.backup.targets import Target, TargetError


@dataclass(frozen=True)
class Drill:
    ok: bool
    at: str
    snapshot: str | None
    seconds: float
    files: int = 0
    audit_rows: int = 0
    vault_files: int = 0
    problem: str | None = None


def drill(target: Target, private: bytes, escrow: dict[str, bytes], *, now: datetime) -> Drill:
    """Restore the newest snapshot into scratch and check it; the result is recorded on the target."""
    try:
        r = scratch_restore(target, private, escrow)
        result = Drill(True, now.isoformat(), r.snapshot, round(r.seconds, 2), r.files, r.audit_rows, r.vault_files)
    except (RestoreError, BackupKeyError, TargetError) as e:  # a piece it names missing: a failed drill, recorded
        result = Drill(False, now.isoformat(), None, 0.0, problem=str(e))
    target.put_new("drills", timed_name(now), json.dumps(asdict(result)).encode())
    return result


@dataclass(frozen=True)
class Health:
    target: str
    snapshots: int
    last_snapshot_at: datetime | None
    last_drill_at: datetime | None
    last_drill_ok: bool | None
    last_good_drill_at: datetime | None
    warnings: list[str]  # each a Finding: its text, and its code


def health(target: Target, *, now: datetime, stale: timedelta, drill_every: timedelta) -> Health:
    try:
        snaps, drills = target.names("snapshots"), target.names("drills")
    except TargetError as e:
        return Health(target.label, 0, None, None, None, None, [Finding("unreachable", str(e))])
    last = time_of(snaps[-1]) if snaps else None
    results = [(time_of(n), _result(target, n)) for n in drills[-20:]]
    good = [t for t, r in results if r.get("ok")]
    warnings = health_warnings(now, last, results[-1] if results else None, good[-1] if good else None,
                               stale=stale, drill_every=drill_every)
    return Health(target.label, len(snaps), last, results[-1][0] if results else None,
                  results[-1][1].get("ok") if results else None, good[-1] if good else None, warnings)


def _result(target: Target, name: str) -> dict:
    """A drill's record; one that is not a drill's JSON (anyone with the node's token can add
    objects) counts as a failed drill, not as a crash of the status."""
    try:
        found = json.loads(target.get("drills", name))
    except (ValueError, TargetError):
        found = None
    if not isinstance(found, dict):
        return {"ok": False, "problem": f"drill record {name} is not a drill's result"}
    return found


class Finding(str):
    """A warning's text (what `kanim backup status` prints) that also carries a stable code (what
    the node's alerts are deduplicated by: the text holds an age that changes every minute)."""

    code: str

    def __new__(cls, code: str, text: str) -> Finding:
        found = super().__new__(cls, text)
        found.code = code
        return found

    def __getnewargs__(self) -> tuple[str, str]:  # copied (dataclasses.asdict) and pickled whole
        return (self.code, str(self))


def health_warnings(now: datetime, last_snapshot: datetime | None, last_drill: tuple[datetime, dict] | None,
                    last_good: datetime | None, *, stale: timedelta, drill_every: timedelta) -> list[Finding]:
    """What the office's IT must hear about. Pure."""
    warnings = []
    if last_snapshot is None:
        warnings.append(Finding("no-backup", "no backup on this target yet"))
    elif now - last_snapshot > stale:
        warnings.append(Finding("stale", f"the newest backup is {_age(now - last_snapshot)} old (limit {_age(stale)})"))
    if last_drill is not None and not last_drill[1].get("ok"):
        warnings.append(Finding("drill-failed", f"the last drill failed: {last_drill[1].get('problem')}"))
    if last_good is None:
        warnings.append(Finding("no-good-drill", "no restore drill has passed yet (`kanim backup drill`)"))
    elif now - last_good > drill_every:
        warnings.append(Finding("drill-old", f"the last good drill is {_age(now - last_good)} old "
                                             f"(limit {_age(drill_every)})"))
    return warnings


def _age(d: timedelta) -> str:
    s = int(d.total_seconds())
    if s < 120:
        return f"{s} s"
    if s < 7200:
        return f"{s // 60} min"
    return f"{s // 3600} h" if s < 172800 else f"{s // 86400} days"
