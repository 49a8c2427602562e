"""Backups of a real office (SQLite, its vault) to a folder target, in-process: restored into an
empty folder and compared row by row and file by file; incremental; to a point in time; and
every way a restore must refuse, leaving the folder it was given as it was."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from kanim.backup.drills import drill, health
from kanim.backup.format import time_of, timed_name
from kanim.backup.keys import BackupKeyError, dedup_key, load_escrow, load_public
from kanim.backup.restore import RestoreError, check_pieces, restore
from kanim.backup.snapshot import create
from kanim.backup.targets import AlreadyThere, FolderTarget
from tests.backup_helpers import add_applications, keys, private_of, rows, vault_bytes

T0 = datetime(2026, 12, 1, 2, 0, tzinfo=UTC)


@pytest.fixture
def node(sqlite_office, tmp_path):  # noqa: ANN001, ANN201
    key, escrow = keys(sqlite_office, tmp_path)
    return sqlite_office, FolderTarget(tmp_path / "usb"), private_of(key), load_escrow(escrow)


def backup(office, target, now=T0):  # noqa: ANN001, ANN201
    return create(office.settings, [target], public=load_public(office.settings),
                  dedup_key=dedup_key(office.settings), now=now)[0]


def test_a_restore_gives_back_every_row_and_every_vault_file(node, tmp_path) -> None:  # noqa: ANN001
    office, target, private, escrow = node
    add_applications(office, 0, 6)
    made = backup(office, target)
    data = office.settings.data_dir
    r = restore(target, private, escrow, tmp_path / "restored")
    assert r.snapshot == made.name and r.vault_files == 6 and r.audit_rows > 0
    assert rows(tmp_path / "restored" / "kanim.db") == rows(data / "kanim.db")
    assert vault_bytes(tmp_path / "restored") == vault_bytes(data)  # still ciphertext, byte for byte
    assert (tmp_path / "restored" / "keys" / "biometric.key").read_bytes() == office.settings.key_path.read_bytes()


def test_the_target_holds_no_readable_personal_data_and_the_node_no_reading_key(node, tmp_path) -> None:  # noqa: ANN001
    office, target, _, _ = node
    add_applications(office, 0, 2)
    backup(office, target)
    stored = b"".join(p.read_bytes() for p in (tmp_path / "usb").rglob("*") if p.is_file())
    assert b"Siti Rahmawati" not in stored and b"3171014508900001" not in stored and b"SQLite format" not in stored
    on_node = b"".join(p.read_bytes() for p in (office.settings.data_dir / "keys").iterdir())
    assert private_of(tmp_path / "backup.key").hex().encode() not in on_node.hex().encode()
    assert not any(private_of(tmp_path / "backup.key") in p.read_bytes()
                   for p in office.settings.data_dir.rglob("*") if p.is_file())


def test_a_second_backup_sends_only_what_changed(node) -> None:  # noqa: ANN001
    office, target, _, _ = node
    add_applications(office, 0, 8)
    first = backup(office, target)
    add_applications(office, 100, 1)
    second = backup(office, target, T0 + timedelta(minutes=1))
    assert second.bytes > first.bytes
    # One new scan and the database pages it touched, not the eight scans again.
    assert second.sent < first.sent / 3, (first, second)
    assert backup(office, target, T0 + timedelta(minutes=2)).sent < 20_000  # nothing new: at most a page or two


def test_a_restore_at_a_time_gives_the_node_as_it_was_then(node, tmp_path) -> None:  # noqa: ANN001
    office, target, private, escrow = node
    add_applications(office, 0, 2)
    backup(office, target, T0)
    then = rows(office.settings.data_dir / "kanim.db")
    add_applications(office, 50, 2)
    backup(office, target, T0 + timedelta(minutes=1))
    restore(target, private, escrow, tmp_path / "at", at=T0 + timedelta(seconds=30))
    assert rows(tmp_path / "at" / "kanim.db") == then
    assert len(vault_bytes(tmp_path / "at")) == 2
    with pytest.raises(RestoreError, match="no snapshot .* taken at or before"):
        restore(target, private, escrow, tmp_path / "before", at=T0 - timedelta(minutes=1))
    assert not (tmp_path / "before").exists()


def test_a_restore_without_the_escrowed_vault_key_stops_before_writing(node, tmp_path) -> None:  # noqa: ANN001
    office, target, private, _ = node
    add_applications(office, 0, 1)
    backup(office, target)
    with pytest.raises(BackupKeyError, match="needs the escrow sheet"):
        load_escrow(None)
    sheet = tmp_path / "no-vault.txt"
    sheet.write_text("\n".join(line for line in (tmp_path / "escrow.txt").read_text().splitlines()
                               if not line.startswith("biometric.key")))
    with pytest.raises(BackupKeyError, match="has no biometric.key"):
        load_escrow(sheet)
    typo = tmp_path / "typo.txt"
    text = (tmp_path / "escrow.txt").read_text()
    line = next(ln for ln in text.splitlines() if ln.startswith("biometric.key"))
    typo.write_text(text.replace(line, line[:-3] + ("A" if line[-3] != "A" else "B") + line[-2:]))
    with pytest.raises(BackupKeyError, match="typo"):
        load_escrow(typo)


def test_the_operators_key_file_setting_neither_misleads_nor_touches_the_folder(node, tmp_path, monkeypatch) -> None:  # noqa: ANN001
    """The restored node's own settings (KANIM_KEY_FILE pointing into the folder being restored
    into) are what an operator has in the environment while restoring."""
    office, target, private, escrow = node
    add_applications(office, 0, 1)
    backup(office, target)
    monkeypatch.setenv("KANIM_KEY_FILE", str(tmp_path / "restored" / "keys" / "biometric.key"))
    monkeypatch.setenv("KANIM_DATA_DIR", str(tmp_path / "restored"))
    assert restore(target, private, escrow, tmp_path / "restored").vault_files == 1


def test_another_offices_vault_key_is_refused_and_leaves_the_folder_empty(node, tmp_path) -> None:  # noqa: ANN001
    office, target, private, escrow = node
    add_applications(office, 0, 1)
    backup(office, target)
    into = tmp_path / "empty"
    into.mkdir()
    with pytest.raises(RestoreError, match="does not open with the escrowed vault key"):
        restore(target, private, {**escrow, "biometric.key": bytes(32)}, into)
    assert list(into.iterdir()) == [] and not list(tmp_path.glob(".empty.restoring-*"))


def test_a_restore_refuses_a_folder_that_is_not_empty_and_a_foreign_backup_key(node, tmp_path) -> None:  # noqa: ANN001
    from kanim.backup import crypto

    office, target, private, escrow = node
    backup(office, target)
    full = tmp_path / "full"
    full.mkdir()
    (full / "kanim.db").write_bytes(b"someone's")
    with pytest.raises(RestoreError, match="not an empty folder"):
        restore(target, private, escrow, full)
    assert (full / "kanim.db").read_bytes() == b"someone's"
    with pytest.raises(RestoreError, match="does not open with this backup key"):
        restore(target, crypto.new_private_key(), escrow, tmp_path / "other")
    assert not (tmp_path / "other").exists()


def test_a_drill_catches_a_damaged_piece_and_status_says_so(node) -> None:  # noqa: ANN001
    office, target, private, escrow = node
    add_applications(office, 0, 3)
    backup(office, target)
    ok = drill(target, private, escrow, now=T0 + timedelta(minutes=1))
    assert ok.ok and ok.vault_files == 3
    h = health(target, now=T0 + timedelta(minutes=2), stale=timedelta(minutes=10), drill_every=timedelta(days=7))
    assert h.warnings == [] and h.last_good_drill_at == time_of(target.names("drills")[-1])

    pack = next((target.root / "packs").iterdir())
    damaged = bytearray(pack.read_bytes())
    damaged[len(damaged) // 2] ^= 0xFF  # one flipped byte, as a failing disk leaves
    pack.chmod(0o600)
    pack.write_bytes(bytes(damaged))
    failed = drill(target, private, escrow, now=T0 + timedelta(minutes=3))
    assert not failed.ok and "damaged" in failed.problem
    assert check_pieces(target, private).problems
    h = health(target, now=T0 + timedelta(hours=1), stale=timedelta(minutes=10), drill_every=timedelta(days=7))
    assert any("drill failed" in w for w in h.warnings) and any("old" in w for w in h.warnings)
    target.put_new("drills", "20261201T050000Z-0badf00d", b"not json")  # added by someone with the token
    h = health(target, now=T0 + timedelta(hours=3, minutes=1), stale=timedelta(days=1), drill_every=timedelta(days=7))
    assert h.warnings == ["the last drill failed: drill record 20261201T050000Z-0badf00d is not a drill's result"]


def test_a_wiped_target_gets_a_whole_backup_again_not_one_pointing_at_nothing(node, tmp_path) -> None:  # noqa: ANN001
    import shutil

    office, target, private, escrow = node
    add_applications(office, 0, 2)
    backup(office, target)
    shutil.rmtree(tmp_path / "usb")  # the attacker deleted the local backups
    again = backup(office, target, T0 + timedelta(minutes=1))
    assert again.sent > 2 * 20_000
    r = restore(target, private, escrow, tmp_path / "restored")
    assert r.vault_files == 2


def test_a_folder_target_never_replaces_a_name() -> None:
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        t = FolderTarget(Path(tmp))
        t.put_new("snapshots", "20261201T020000Z-0123abcd", b"first")
        with pytest.raises(AlreadyThere):
            t.put_new("snapshots", "20261201T020000Z-0123abcd", b"second")
        assert t.get("snapshots", "20261201T020000Z-0123abcd") == b"first"


def test_a_backup_taken_while_a_desk_adds_and_replaces_scans_restores_whole(node, tmp_path) -> None:  # noqa: ANN001
    """A replaced scan's old file is deleted after the new row commits: a database copy taken
    just before names a file that may be gone when the vault is walked."""
    import threading

    from kanim.office import intake
    from tests.backup_helpers import scan

    office, target, private, escrow = node
    first = add_applications(office, 999, 1)[0]
    stop, written = threading.Event(), []

    def desk() -> None:
        n = 1000
        while not stop.is_set() and n < 1060:
            written.extend(add_applications(office, n, 1))
            intake.upload_document(office, application_id=first, kind="ktp", data=scan(n), actor="frontdesk")
            n += 1

    th = threading.Thread(target=desk)
    th.start()
    try:
        made = [backup(office, target, T0 + timedelta(seconds=i)) for i in range(3)]
    finally:
        stop.set()
        th.join(30)
    assert written and len({m.name for m in made}) == 3
    r = restore(target, private, escrow, tmp_path / "mid")  # integrity, audit chain and vault checked inside
    con = sqlite3.connect(tmp_path / "mid" / "kanim.db")
    # `first`, committed before any backup, and whichever of the desk's had committed by then
    assert 1 <= con.execute("SELECT count(*) FROM application").fetchone()[0] <= 1 + len(written)
    con.close()
    assert r.vault_files >= 0


def test_an_off_site_target_without_a_token_or_a_host_says_so_in_one_line() -> None:
    from kanim.backup.targets import HttpTarget, TargetError

    with pytest.raises(TargetError, match="needs the node's token"):
        HttpTarget("http://127.0.0.1:9", office="MND", token=None)
    with pytest.raises(TargetError, match="cannot reach the off-site target"):
        HttpTarget("http://127.0.0.1:9", office="MND", token="x", timeout=2).names("snapshots")


def test_a_second_backup_of_the_same_node_at_once_is_refused(node) -> None:  # noqa: ANN001
    from kanim.backup.snapshot import BackupError, _only_one
    from kanim.security.filemodes import private_dir

    office, target, _, _ = node
    with _only_one(private_dir(office.settings.data_dir / "backup")), pytest.raises(BackupError, match="another backup"):
        backup(office, target)
    assert backup(office, target).files >= 1  # and once it is done, the next one runs


def test_two_snapshots_within_one_second_restore_the_later(tmp_path) -> None:  # noqa: ANN001
    """Names order snapshots by their second; the second of two in one second must still be
    the newest (its random suffix alone would order them by chance)."""
    from datetime import UTC, datetime

    from kanim.backup.format import chosen
    from kanim.backup.snapshot import _after_the_newest
    from kanim.backup.targets import FolderTarget

    target = FolderTarget(tmp_path / "t")
    at = datetime(2026, 12, 1, 9, 0, 0, 500000, tzinfo=UTC)
    first = timed_name(at)
    target.put_new("snapshots", first, b"x")
    second = timed_name(_after_the_newest([target], at))
    assert chosen([first, second], None) == second and second > first
