"""The node watches its backups (kanim/backup/watch.py): what it finds reaches the office's alerts
once, the supervisor's and the admin's console pages as a banner, and /metrics as ages."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from kanim.backup.keys import dedup_key, load_public
from kanim.backup.settings import BackupSettings
from kanim.backup.snapshot import create
from kanim.backup.targets import FolderTarget
from kanim.backup.health_file import read, warnings
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
    assert read(office.settings.data_dir)["checked_at"] == T0 + timedelta(seconds=30)
    label = '{target="%s"}' % str(usb).replace('"', '\\"')
    assert f"kanim_backup_snapshots{label} 1" in text
    assert f"kanim_backup_last_snapshot_age_seconds{label} 120.0" in text
    assert f"kanim_backup_warnings{label} 1" in text  # no good drill yet
    assert "kanim_backup_watch_age_seconds 90.0" in text
    assert f"kanim_backup_last_good_drill_age_seconds{label}" not in text

    c = browser(office)
    assert c.get("/metrics").status_code == 404  # no KANIM_METRICS_TOKEN: no /metrics
    office.settings.metrics_token = "scrape-token-2026"
    assert c.get("/metrics").status_code == 404 and c.get("/metrics", headers={"Authorization": "Bearer no"}).status_code == 404
    r = c.get("/metrics", headers={"Authorization": "Bearer scrape-token-2026"})
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/plain; version=0.0.4")
    assert f"kanim_backup_snapshots{label} 1" in r.text


def test_an_off_site_address_is_shown_without_its_password_and_a_bad_answer_is_that_targets_finding(
        sqlite_office, tmp_path) -> None:  # noqa: ANN001
    """A captive portal's page where the listing should be (and a USB folder beside it): each
    target gets its own finding, the watch goes on, and no credential reaches the file."""
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    class Portal(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802
            body = b"<html>Please log in to the hotel wifi</html>"
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *_: object) -> None:
            pass

    portal = ThreadingHTTPServer(("127.0.0.1", 0), Portal)
    threading.Thread(target=portal.serve_forever, daemon=True).start()
    try:
        spec = f"http://kanim:s3cret@127.0.0.1:{portal.server_port}/?sig=abc"
        usb = tmp_path / "usb"
        found = check(sqlite_office, BackupSettings(_env_file=None, targets=f"{spec},{usb}", token="t"), now=T0)
    finally:
        portal.shutdown()
    offsite, folder = found
    assert offsite.target == f"http://127.0.0.1:{portal.server_port}/"
    assert [w.code for w in offsite.warnings] == ["unreachable"] and "not a listing" in offsite.warnings[0]
    assert [w.code for w in folder.warnings] == ["no-backup", "no-good-drill"]
    stored = (sqlite_office.settings.data_dir / "backup-health.json").read_text()
    assert "s3cret" not in stored and "sig=abc" not in stored and "kanim:" not in stored


def test_a_file_the_watch_did_not_write_or_one_it_stopped_writing_is_a_warning_not_an_error(sqlite_office) -> None:  # noqa: ANN001
    data = sqlite_office.settings.data_dir
    path = data / "backup-health.json"
    assert warnings(data, T0) == []  # never looked: nothing to say
    for odd in ('"oops"', '{"targets": [{"warnings": ["x"]}], "checked_at": "2026-12-01T02:00:00+00:00"}',
                '{"checked_at": "2026-12-01T02:00:00", "targets": []}', "{not json"):
        path.write_text(odd)
        assert read(data) is None
        assert warnings(data, T0) == ["backup-health.json is not one the backup watch wrote: its findings are unknown"]
        assert "kanim_backup_watch_age_seconds" in exposition(read(data), T0)
    check(sqlite_office, BackupSettings(_env_file=None, targets=str(data.parent / "usb")), now=T0)
    assert warnings(data, T0 + timedelta(minutes=14))[0].endswith("no backup on this target yet")
    late = warnings(data, T0 + timedelta(minutes=16))
    assert late[0].startswith("the backup watch has not looked since 2026-12-01 02:00 UTC")


def test_only_a_finding_two_looks_in_a_row_found_is_alerted(sqlite_office, tmp_path) -> None:  # noqa: ANN001
    """A node switched on in the morning: its first look finds the night-old backup, the banner
    shows it at once, and the staff's group hears of it only if the next look finds it too."""
    settings = BackupSettings(_env_file=None, targets=str(tmp_path / "usb"))
    seen: set[tuple[str, str]] = set()
    for minute in (0, 5):
        found = check(sqlite_office, settings, now=T0 + timedelta(minutes=minute),
                      alert=lambda target, code: (target, code) in seen)
        seen = {(h.target, w.code) for h in found for w in h.warnings}
        if minute == 0:
            assert _alerts(sqlite_office) == []
    assert [k for k, _ in _alerts(sqlite_office)] == ["backup_warning", "backup_warning"]
