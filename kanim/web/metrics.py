"""`GET /metrics`: the node's figures for a Prometheus scraper (text exposition format 0.0.4).

Today the backups' (kanim/backup/watch.py writes them; this reads the file, so a scrape never
lists an off-site target): the age of the newest snapshot and of the last good drill per target,
their counts, the number of warnings, and how long ago the watch last looked. Ages are computed
at the scrape, so a watch that stopped shows as growing ages, not as frozen ones. No personal
data, but the names of the office's backup targets (their addresses without credentials) and
whether its backups are failing are nobody else's business: /metrics answers only a scraper
that sends `Authorization: Bearer <KANIM_METRICS_TOKEN>`, and is absent (404) without that
setting.
"""

from __future__ import annotations

import hmac
from datetime import UTC, datetime

from fastapi import APIRouter, Request
from fastapi.responses import PlainTextResponse

from kanim.backup.health_file import read
from kanim.domain.errors import NotFound

router = APIRouter(include_in_schema=False)

HELP = {
    "kanim_backup_watch_age_seconds": "Seconds since the node's backup watch last read its targets.",
    "kanim_backup_snapshots": "Snapshots on the target.",
    "kanim_backup_last_snapshot_age_seconds": "Age of the newest snapshot on the target (absent: none yet).",
    "kanim_backup_last_good_drill_age_seconds": "Age of the last restore drill that passed (absent: none yet).",
    "kanim_backup_last_drill_ok": "1 when the newest drill passed, 0 when it failed (absent: no drill yet).",
    "kanim_backup_warnings": "Warnings about the target (stale, failed drill, unreachable); 0 is healthy.",
}


def exposition(last: dict | None, now: datetime) -> str:
    """The text of /metrics from the watch's last check (pure)."""
    samples: dict[str, list[str]] = {name: [] for name in HELP}
    if last:
        samples["kanim_backup_watch_age_seconds"].append(
            f"kanim_backup_watch_age_seconds {_age(last['checked_at'], now)}")
        for t in last.get("targets", []):
            label = '{target="%s"}' % _escape(t["target"])
            samples["kanim_backup_snapshots"].append(f"kanim_backup_snapshots{label} {t['snapshots']}")
            samples["kanim_backup_warnings"].append(f"kanim_backup_warnings{label} {len(t['warnings'])}")
            for name, key in (("kanim_backup_last_snapshot_age_seconds", "last_snapshot_at"),
                              ("kanim_backup_last_good_drill_age_seconds", "last_good_drill_at")):
                if t.get(key):
                    samples[name].append(f"{name}{label} {_age(t[key], now)}")
            if t.get("last_drill_ok") is not None:
                samples["kanim_backup_last_drill_ok"].append(
                    f"kanim_backup_last_drill_ok{label} {1 if t['last_drill_ok'] else 0}")
    lines = []
    for name, text in HELP.items():
        lines += [f"# HELP {name} {text}", f"# TYPE {name} gauge", *samples[name]]
    return "\n".join(lines) + "\n"


def _age(at: datetime, now: datetime) -> float:
    return round((now - at).total_seconds(), 1)


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


@router.get("/metrics")
def metrics(request: Request) -> PlainTextResponse:
    token = request.app.state.office.settings.metrics_token
    given = request.headers.get("authorization", "")
    if not token or not hmac.compare_digest(given.encode(), f"Bearer {token}".encode()):
        # one answer for "off" and for a wrong token: a stranger learns nothing of which it is
        raise NotFound("no such page", code="not-found")
    body = exposition(read(request.app.state.office.settings.data_dir), datetime.now(UTC))
    return PlainTextResponse(body, media_type="text/plain; version=0.0.4; charset=utf-8",
                             headers={"Cache-Control": "no-store"})
