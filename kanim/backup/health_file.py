"""The backup watch's last findings, as a file of the data folder (`backup-health.json`): written
whole by kanim/backup/watch.py, read by the console's banner and /metrics in any worker process.
Apart from the watch so that reading it loads nothing of the backup machinery (the targets'
HTTP client alone costs a server 0.15 s at start)."""

from __future__ import annotations

import json
import os
from dataclasses import asdict
from datetime import datetime
from pathlib import Path
from typing import Any

FILE = "backup-health.json"


def write(data_dir: Path, found: list[Any], now: datetime) -> None:
    body = {"checked_at": now.isoformat(), "targets": [
        {**asdict(h), "codes": [getattr(w, "code", "warning") for w in h.warnings]} for h in found]}
    path = Path(data_dir) / FILE
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(body, default=str))
    os.replace(tmp, path)


def read(data_dir: Path) -> dict | None:
    """The last check, or None when the node has none (no targets, or not yet looked)."""
    try:
        return json.loads((Path(data_dir) / FILE).read_text())
    except (OSError, ValueError):
        return None


def warnings(data_dir: Path) -> list[str]:
    """The last check's warnings as one line each, for the console's banner."""
    last = read(data_dir) or {}
    return [f"{t['target']}: {w}" for t in last.get("targets", []) for w in t.get("warnings", [])]
