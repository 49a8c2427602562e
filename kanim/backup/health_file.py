"""The backup watch's last findings, as a file of the data folder (`backup-health.json`): written
whole by kanim/backup/watch.py, read by the console's banner and /metrics in any worker process.
Apart from the watch so that reading it loads nothing of the backup machinery (the targets'
HTTP client alone costs a server 0.15 s at start).

The file is read as untrusted: one of another version, a half-written one from a crash, or one
edited by hand is "no findings" plus a warning that the watch's last look is unknown, never an
error on the supervisor's pages. A file older than STALE_AFTER says the watch has stopped.
"""

from __future__ import annotations

import json
import os
import secrets
from dataclasses import asdict
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from kanim.security.filemodes import FILE_MODE

FILE = "backup-health.json"
STALE_AFTER = timedelta(minutes=15)  # three of the watch's 5-minute rounds


def write(data_dir: Path, found: list[Any], now: datetime) -> None:
    body = {"checked_at": now.isoformat(), "targets": [
        {**asdict(h), "codes": [getattr(w, "code", "warning") for w in h.warnings]} for h in found]}
    path = Path(data_dir) / FILE
    tmp = path.with_name(f"{FILE}.{secrets.token_hex(4)}.tmp")  # two writers never share one; backups skip .tmp
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE)
    try:
        with os.fdopen(fd, "w") as f:
            json.dump(body, f, default=str)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def forget(data_dir: Path) -> None:
    """No targets any more (or a node restored elsewhere): no findings of an old watch are shown."""
    (Path(data_dir) / FILE).unlink(missing_ok=True)


def read(data_dir: Path) -> dict | None:
    """The last check as {"checked_at": aware datetime, "targets": [...]}, each target with a
    string `target`, an int `snapshots`, a list of string `warnings` and its times (ISO strings
    or None); None when there is no file or it is not one the watch wrote."""
    try:
        raw = json.loads((Path(data_dir) / FILE).read_text())
        checked = datetime.fromisoformat(raw["checked_at"])
        if checked.tzinfo is None or not isinstance(raw["targets"], list):
            return None
        targets = [_target(t) for t in raw["targets"]]
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None
    return {"checked_at": checked, "targets": targets}


def _target(t: dict) -> dict:
    times = {k: _aware(t.get(k)) for k in ("last_snapshot_at", "last_drill_at", "last_good_drill_at")}
    if not isinstance(t["target"], str) or not isinstance(t["snapshots"], int) or not all(
            isinstance(w, str) for w in t["warnings"]) or t.get("last_drill_ok") not in (None, True, False):
        raise ValueError("not a target of the watch's")
    return {"target": t["target"], "snapshots": t["snapshots"], "warnings": list(t["warnings"]),
            "last_drill_ok": t.get("last_drill_ok"), **times}


def _aware(value: Any) -> datetime | None:
    if value is None:
        return None
    at = datetime.fromisoformat(value)
    if at.tzinfo is None:
        raise ValueError("a naive time")
    return at


def warnings(data_dir: Path, now: datetime) -> list[str]:
    """The last check's warnings as one line each, for the console's banner; a watch that has
    not looked for STALE_AFTER is a warning of its own."""
    path = Path(data_dir) / FILE
    if not path.exists():
        return []
    last = read(data_dir)
    if last is None:
        return [f"{FILE} is not one the backup watch wrote: its findings are unknown"]
    lines = [f"{t['target']}: {w}" for t in last["targets"] for w in t["warnings"]]
    if now - last["checked_at"] > STALE_AFTER:
        lines.insert(0, f"the backup watch has not looked since {last['checked_at']:%Y-%m-%d %H:%M} UTC "
                        "(is `kanim serve` running with KANIM_BACKUP_TARGETS?)")
    return lines
