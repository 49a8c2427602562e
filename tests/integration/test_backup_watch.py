"""The node watches its backups (kanim/backup/watch.py): what it finds reaches the office's alerts
once, the supervisor's and the admin's console pages as a banner, and /metrics as ages."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from kanim.backup.keys import dedup_key, load_public
from kanim.backup.settings import BackupSettings
from kanim.backup.snapshot import create
from kanim.backup.targets import FolderTarget
from kanim.backup.health_file import read
from kanim.backup.watch import check
from kanim.security.roles import Role
from kanim.store import tables as t
from kanim.web.metrics import exposition
from tests.backup_helpers import add_applications, keys
from tests.integration.console_desk_helpers import add_every_role, browser

T0 = datetime(2026, 12, 1, 2, 0, tzinfo=UTC)


def _alerts(office) -> list[tuple[str, str]]:  # noqa: ANN001
    with office.uow(readonly=True) as uow:
        return [(r.kind, r.params["reason"]) for r in uow.session.execute(
            select(t.notify_alert.c.kind, t.notify_alert.c.params).order_by(t.notify_alert.c.seq))]


def test_a_target_without_a_backup_alerts_once_and_a_fresh_one_clears_the_banner(sqlite_office, tmp_path) -> None:  # noqa: ANN001
    office = sqlite_office
    usb = tmp_path / "usb"
    settings = BackupSettings(_env_file=None, targets=str(usb), stale_minutes=10, drill_days=7)
    found = check(office, settings, now=T0)
    assert [w.code for w in found[0].warnings] == ["no-backup", "no-good-drill"]
    assert _alerts(office) == [("backup_warning", "no backup on this target yet"),
                               ("backup_warning", "no restore drill has passed yet (`kanim backup drill`)")]
    check(office, settings, now=T0 + timedelta(minutes=5))
    assert len(_alerts(office)) == 2  # the same warnings again: not told twice within the repeat window

    add_every_role(office)
    page = browser(office, Role.SUPERVISOR).get("/staff/supervisor")
    assert page.status_code == 200 and 'id="backup-warnings"' in page.text and "no backup on this target yet" in page.text
    assert 'id="backup-warnings"' not in browser(office, Role.FRONT_DESK).get("/staff/front-desk").text

    keys(office, tmp_path)
    add_applications(office, 0, 1)
    create(office.settings, [FolderTarget(usb)], public=load_public(office.settings),
           dedup_key=dedup_key(office.settings), now=T0 + timedelta(minutes=6))
    later = check(office, settings, now=T0 + timedelta(minutes=7))
    assert [w.code for w in later[0].warnings] == ["no-good-drill"]
    banner = browser(office, Role.ADMIN).get("/staff/admin").text
    assert "no restore drill has passed yet" in banner and "no backup on this target yet" not in banner


def test_metrics_give_the_ages_at_the_scrape_and_nothing_before_a_first_look(sqlite_office, tmp_path) -> None:  # noqa: ANN001
    office = sqlite_office
    assert read(office.settings.data_dir) is None
    empty = exposition(None, T0)
    assert "# TYPE kanim_backup_last_snapshot_age_seconds gauge" in empty and "{" not in empty

    keys(office, tmp_path)
    usb = tmp_path / 'usb "one"'  # a label Prometheus must see escaped
    create(office.settings, [FolderTarget(usb)], public=load_public(office.settings),
           dedup_key=dedup_key(office.settings), now=T0)
    check(office, BackupSettings(_env_file=None, targets=str(usb)), now=T0 + timedelta(seconds=30))
    text = exposition(read(office.settings.data_dir), T0 + timedelta(minutes=2))
    label = '{target="%s"}' % str(usb).replace('"', '\\"')
    assert f"kanim_backup_snapshots{label} 1" in text
    assert f"kanim_backup_last_snapshot_age_seconds{label} 120.0" in text
    assert f"kanim_backup_warnings{label} 1" in text  # no good drill yet
    assert "kanim_backup_watch_age_seconds 90.0" in text
    assert f"kanim_backup_last_good_drill_age_seconds{label}" not in text

    r = browser(office).get("/metrics")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/plain; version=0.0.4")
    assert f"kanim_backup_snapshots{label} 1" in r.text
