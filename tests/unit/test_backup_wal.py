"""The WAL's way to the targets and back (kanim/backup/pg.py), without a server: the spool
shipped once, a name someone else put first refused, gaps found, the recovery settings written
once and quoted as postgresql.conf reads them."""

from __future__ import annotations

import shlex
from datetime import UTC, datetime

import pytest

from kanim.backup import crypto, pg
from kanim.backup.targets import FolderTarget

SEG = "00000001000000000000000{}"


@pytest.fixture
def keys() -> tuple[bytes, bytes]:
    private = crypto.new_private_key()
    return private, crypto.public_of(private)


def spooled(tmp_path, *numbers: int):  # noqa: ANN001, ANN201
    spool = tmp_path / "spool"
    spool.mkdir(exist_ok=True)
    for n in numbers:
        (spool / SEG.format(n)).write_bytes(bytes([n]) * 1000)
    (spool / (SEG.format(9) + ".part")).write_bytes(b"half")  # a copy in progress: left alone
    return spool


def test_each_segment_is_sealed_on_every_target_then_leaves_the_spool(tmp_path, keys) -> None:  # noqa: ANN001
    private, public = keys
    spool, ledger = spooled(tmp_path, 2, 3), tmp_path / "ledger"
    usb, offsite = FolderTarget(tmp_path / "usb"), FolderTarget(tmp_path / "offsite")
    assert pg.ship(spool, [usb, offsite], public, ledger=ledger).segments == 2
    assert sorted(p.name for p in spool.iterdir()) == [SEG.format(9) + ".part"]
    for t in (usb, offsite):
        assert pg.open_wal(t, private, SEG.format(3)) == bytes([3]) * 1000
    assert ledger.read_text().split() == [SEG.format(2), SEG.format(3)]
    spooled(tmp_path, 3)  # the archiver copied it again after a crash: already shipped, a success
    assert pg.ship(spool, [usb], public, ledger=ledger).segments == 1 and not (spool / SEG.format(3)).exists()


def test_a_name_someone_else_put_first_is_refused_and_the_segment_kept(tmp_path, keys) -> None:  # noqa: ANN001
    private, public = keys
    usb = FolderTarget(tmp_path / "usb")
    forged = crypto.seal(public, b"x", b"kanim-wal:" + SEG.format(4).encode())  # the public key is no secret
    usb.put_new("wal", SEG.format(4), forged)
    spool = spooled(tmp_path, 4)
    with pytest.raises(pg.PgBackupError, match="never shipped"):
        pg.ship(spool, [usb], public, ledger=tmp_path / "ledger")
    assert (spool / SEG.format(4)).read_bytes() == bytes([4]) * 1000  # not dropped for the forgery


def test_gaps_in_the_log_after_the_base_are_found() -> None:
    names = [SEG.format(2), SEG.format(3), SEG.format(6), "00000002000000000000000A", "00000001.history"]
    assert pg.gaps(names, SEG.format(2)) == [SEG.format(4), SEG.format(5)]
    assert pg.gaps(names, SEG.format(6)) == []
    assert pg.gaps(["0000000100000000000000FF", "000000010000000100000000"], "0000000100000000000000FF") == []


def test_the_recovery_settings_are_written_once_and_quoted(tmp_path, keys) -> None:  # noqa: ANN001
    private, public = keys
    target = FolderTarget(tmp_path / "usb")
    pg.ship(spooled(tmp_path, 2), [target], public)
    pgdata = tmp_path / "it's restored" / "pgdata"
    pgdata.mkdir(parents=True)
    (pgdata / "postgresql.auto.conf").write_text("work_mem = '8MB'\narchive_mode = 'on'\n"
                                                 f"recovery_target_time = '2026-01-01'  {pg.KANIM_MARK}\n")
    at = datetime(2026, 12, 2, 9, 30, tzinfo=UTC)
    assert pg.write_recovery(pgdata, target, private, start=SEG.format(2), at=at) == 1
    conf = (pgdata / "postgresql.auto.conf").read_text().splitlines()
    assert conf[0] == "work_mem = '8MB'" and sum("recovery_target_time" in line for line in conf) == 1
    assert f"recovery_target_time = '{at.isoformat()}'  {pg.KANIM_MARK}" in conf
    assert "archive_mode = 'off'  " + pg.KANIM_MARK in conf and "archive_mode = 'on'" not in conf
    restore = next(line for line in conf if line.startswith("restore_command"))
    value = restore.split(" = ", 1)[1].rsplit(f"  {pg.KANIM_MARK}", 1)[0]
    # postgresql.conf's quoting undone, then the shell's: the command PostgreSQL will run.
    assert shlex.split(value[1:-1].replace("''", "'")) == ["cp", f"{pgdata / pg.RESTORED_WAL}/%f", "%p"]
    assert (pgdata / "postgresql.conf").exists() and (pgdata / "pg_hba.conf").exists()  # Debian kept them in /etc
    pg.write_recovery(pgdata, target, private, start=SEG.format(2), at=None)  # again: still one set
    assert sum(line.startswith("restore_command") for line in (pgdata / "postgresql.auto.conf").read_text().splitlines()) == 1


def test_a_replay_to_the_end_of_a_log_with_a_gap_is_refused(tmp_path, keys) -> None:  # noqa: ANN001
    private, public = keys
    target = FolderTarget(tmp_path / "usb")
    pg.ship(spooled(tmp_path, 2, 4), [target], public)
    (tmp_path / "pgdata").mkdir()
    with pytest.raises(pg.PgBackupError, match=f"gap from {SEG.format(3)}"):
        pg.write_recovery(tmp_path / "pgdata", target, private, start=SEG.format(2), at=None)
