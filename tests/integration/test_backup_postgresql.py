"""The central on PostgreSQL, backed up as docs/backup.md says: a base backup by pg_basebackup
and the server's own write-ahead log archived through kanim's spool, both sealed to the backup
key on a target; restored to a point in time and to the end of the log, by a real PostgreSQL
server replaying the log (tests/pg_cluster.py: a server of the test's own, because the shared
one neither archives its log nor takes replication connections)."""

from __future__ import annotations

import shutil
import time
from datetime import UTC, datetime

import pytest
from sqlalchemy import create_engine, select, text

from kanim.backup import pg
from kanim.backup.drills import drill
from kanim.backup.keys import dedup_key, escrow_sheet, keygen, load_escrow, load_public
from kanim.backup.restore import RestoreError, check_pieces, restore
from kanim.backup.snapshot import create
from kanim.backup.targets import FolderTarget
from kanim.central import tables as ct
from kanim.central.node import bootstrap_central
from kanim.central.service import register_office
from kanim.config import Settings
from kanim.protocol.signing import load_or_create_key, public_b64
from kanim.store.migrate import upgrade
from tests.backup_helpers import private_of
from tests.pg_cluster import Cluster, unavailable

pytestmark = pytest.mark.skipif(unavailable() is not None, reason=str(unavailable()))


def offices(url: str) -> set[str]:
    engine = create_engine(url)
    try:
        with engine.connect() as c:
            return set(c.execute(select(ct.central_office.c.code)).scalars())
    finally:
        engine.dispose()


def register(node, code: str) -> None:  # noqa: ANN001
    key = load_or_create_key(node.settings.data_dir / f"{code}.pem")
    register_office(node, code=code, name=f"Kantor {code}", public_key=public_b64(key), actor="t")


def archived(cluster: Cluster, spool) -> None:  # noqa: ANN001
    """Close the current segment and wait until the server's archiver has spooled it."""
    engine = create_engine(cluster.url)
    try:
        with engine.begin() as c:  # something in the segment, or the switch closes none
            c.execute(text("CREATE TABLE IF NOT EXISTS scratch (at timestamptz)"))
            c.execute(text("INSERT INTO scratch VALUES (now())"))
        with engine.connect() as c:
            segment = c.execute(text("SELECT pg_walfile_name(pg_switch_wal())")).scalar()
        deadline = time.monotonic() + 30
        while not (spool / segment).exists():
            assert time.monotonic() < deadline, f"segment {segment} never reached the spool"
            time.sleep(0.1)
    finally:
        engine.dispose()


@pytest.fixture
def scratch(monkeypatch):  # noqa: ANN001, ANN201
    """(the folder, the servers started, the live server archiving its log into the spool)."""
    base = Cluster.base_dir()
    started: list[Cluster] = []
    spool = base / "spool"
    spool.mkdir()
    live = Cluster(base, base / "live")
    live.own(spool)
    live.init(archive_mode="on", archive_command=pg.conf_value(pg.archive_command_for(spool)), wal_level="replica")
    started.append(live.start())
    monkeypatch.setenv("KANIM_BACKUP_WAL_SPOOL", str(spool))
    yield base, started, live, spool
    for c in started:
        c.stop()
    shutil.rmtree(base, ignore_errors=True)


def keyed(settings: Settings, tmp_path) -> None:  # noqa: ANN001
    """The backup key pair and the escrow sheet, as the IT makes them."""
    keygen(settings, tmp_path / "backup.key")
    (tmp_path / "escrow.txt").write_text(escrow_sheet(settings))


def test_the_central_on_postgresql_is_restored_to_a_point_in_time(scratch, tmp_path) -> None:  # noqa: ANN001
    base, started, live, spool = scratch

    settings = Settings(_env_file=None, role="central", data_dir=tmp_path / "central", database_url=live.url)
    node = bootstrap_central(settings)
    upgrade(node.engine)  # the real migrations, on the server being backed up
    keyed(settings, tmp_path)
    target = FolderTarget(tmp_path / "usb")
    register(node, "MND")

    made = create(settings, [target], public=load_public(settings), dedup_key=dedup_key(settings),
                  now=datetime.now(UTC))
    assert made[0].files > 100  # the cluster's files, the central's own beside them
    register(node, "JKT")
    time.sleep(1.1)
    point = datetime.now(UTC)  # JKT is before it, SBY after
    time.sleep(1.1)
    register(node, "SBY")
    node.engine.dispose()
    archived(live, spool)
    shipped = pg.ship(spool, [target], load_public(settings))
    assert shipped.segments >= 1 and not [p for p in spool.iterdir() if pg.valid_name("wal", p.name)]

    private, escrow = private_of(tmp_path / "backup.key"), load_escrow(tmp_path / "escrow.txt")
    pieces = check_pieces(target, private)
    assert pieces.problems == [] and pieces.wal >= shipped.segments

    for name, at, expected in (("at-point", point, {"MND", "JKT"}), ("to-the-end", None, {"MND", "JKT", "SBY"})):
        into = base / name
        r = restore(target, private, escrow, into, at=at)
        assert r.database == "postgresql" and r.role == "central" and r.wal_segments >= 1
        assert (into / "keys" / "central_ed25519.pem").is_file()  # the escrowed keys, as for an office
        restored = Cluster(base, into / pg.PGDATA)
        restored.configure()  # its own port and socket: the live server still runs
        restored.own(into)
        started.append(restored.start())
        restored.wait_until_open()
        assert offices(restored.url) == expected, name

    # The drill opens the newest base with a server of its own, replays the whole log, checks.
    done = drill(target, private, escrow, now=datetime.now(UTC))
    assert done.ok and done.audit_rows >= 3, done  # the three registrations, audited


def test_a_damaged_log_segment_is_found_by_verify_and_stops_a_restore(scratch, tmp_path) -> None:  # noqa: ANN001
    base, started, live, spool = scratch
    settings = Settings(_env_file=None, role="central", data_dir=tmp_path / "central", database_url=live.url)
    keyed(settings, tmp_path)
    target = FolderTarget(tmp_path / "usb")
    create(settings, [target], public=load_public(settings), dedup_key=dedup_key(settings), now=datetime.now(UTC))
    archived(live, spool)
    pg.ship(spool, [target], load_public(settings))

    segment = sorted((tmp_path / "usb" / "wal").iterdir())[-1]
    damaged = bytearray(segment.read_bytes())
    damaged[len(damaged) // 2] ^= 0xFF
    segment.chmod(0o600)
    segment.write_bytes(bytes(damaged))
    private = private_of(tmp_path / "backup.key")
    assert any(segment.name in p for p in check_pieces(target, private).problems)
    with pytest.raises(RestoreError, match=segment.name):
        restore(target, private, load_escrow(tmp_path / "escrow.txt"), base / "restored")
    assert not (base / "restored").exists()  # nothing half-written


def test_an_office_on_postgresql_comes_back_at_a_point_with_the_vault_files_its_rows_name(
        scratch, tmp_path, clock) -> None:  # noqa: ANN001
    """Between two bases the log protects the database and folder snapshots the vault: restored
    to a moment, every file a row names then is there and opens."""
    from kanim.bootstrap import bootstrap
    from kanim.office.vault_files import referenced
    from tests.backup_helpers import add_applications

    base, started, live, spool = scratch
    settings = Settings(_env_file=None, data_dir=tmp_path / "office", office_code="MND", database_url=live.url,
                        chip_required=False)
    office = bootstrap(settings, clock=clock)
    upgrade(office.engine)
    keyed(settings, tmp_path)
    target = FolderTarget(tmp_path / "usb")
    kw = dict(public=load_public(settings), dedup_key=dedup_key(settings))
    add_applications(office, 0, 2)
    create(settings, [target], **kw, now=datetime.now(UTC))  # the base
    add_applications(office, 2, 2)  # after the base: their scans only in the folder snapshots
    time.sleep(1.1)
    create(settings, [target], **kw, now=datetime.now(UTC), folder_only=True)
    time.sleep(1.1)
    point = datetime.now(UTC)
    time.sleep(1.1)
    add_applications(office, 4, 2)
    create(settings, [target], **kw, now=datetime.now(UTC), folder_only=True)
    office.engine.dispose()
    archived(live, spool)
    pg.ship(spool, [target], load_public(settings))

    private, escrow = private_of(tmp_path / "backup.key"), load_escrow(tmp_path / "escrow.txt")
    into = base / "office-at-point"
    r = restore(target, private, escrow, into, at=point)
    assert r.database == "postgresql" and r.role == "office"
    restored = Cluster(base, into / pg.PGDATA)
    restored.configure()
    restored.own(into)
    started.append(restored.start())
    restored.wait_until_open()
    back = bootstrap(Settings(_env_file=None, data_dir=into, office_code="MND", database_url=restored.url,
                              key_file=into / "keys" / "biometric.key"), clock=clock)
    try:
        refs = referenced(back)
        assert len(refs) == 4  # the four applications before the point, one scan each
        assert all(back.vault.get(ref) for ref in refs)
    finally:
        back.engine.dispose()
    assert (into / "rejoin-needed.json").exists() is False  # the CLI writes it; the function restores
    done = drill(target, private, escrow, now=datetime.now(UTC))
    assert done.ok and done.vault_files == 6, done  # the newest: all six, their files from the last folder snapshot
