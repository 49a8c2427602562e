"""Personal data at rest is readable by kanim's user only: data folders 0700, the database (with
its -wal and -shm), vault files, key files and node logs 0600, whatever the umask; an install
made before this rule is tightened when a node starts, and a key file readable by others is
refused in one line that says how to fix it."""

from __future__ import annotations

import os
import sqlite3
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import text

from kanim.bootstrap import bootstrap
from kanim.central.node import bootstrap_central
from kanim.config import Settings
from kanim.ops.cluster import NodeProcess
from kanim.store.migrate import upgrade
from tests.integration.test_cli_link import kanim


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture(autouse=True)
def loose_umask() -> Iterator[None]:
    old = os.umask(0o022)  # the usual default, which gives 0755 folders and 0644 files
    yield
    os.umask(old)


def settings(data: Path, **kw) -> Settings:  # noqa: ANN003
    return Settings(_env_file=None, data_dir=data, database_url=f"sqlite:///{data / 'kanim.db'}", **kw)


def loose_files(root: Path) -> list[str]:
    return [f"{p.relative_to(root)} {mode(p):04o}" for p in [root, *root.rglob("*")]
            if mode(p) & 0o077]


def test_an_office_keeps_its_folders_0700_and_its_files_0600(tmp_path) -> None:  # noqa: ANN001
    data = tmp_path / "office"
    office = bootstrap(settings(data))
    upgrade(office.engine)
    office.vault.put(b"a scan")
    with office.engine.connect() as conn:  # a write, so the -wal and -shm exist
        conn.execute(text("CREATE TABLE probe (x)"))
        conn.commit()
    try:
        names = {p.name for p in data.rglob("*")}
        assert {"kanim.db", "kanim.db-wal", "kanim.db-shm", "biometric.key", "vault"} <= names
        assert loose_files(data) == []
        assert mode(data) == mode(data / "vault") == mode(data / "keys") == 0o700
        assert mode(data / "kanim.db-wal") == mode(data / "keys" / "biometric.key") == 0o600
    finally:
        office.engine.dispose()


def test_a_central_keeps_its_folders_0700_and_its_files_0600(tmp_path) -> None:  # noqa: ANN001
    data = tmp_path / "central"
    node = bootstrap_central(settings(data, role="central"))
    upgrade(node.engine)
    node.engine.dispose()
    assert {"kanim.db", "central_ed25519.pem"} <= {p.name for p in data.rglob("*")}
    assert loose_files(data) == []


def test_an_install_with_loose_modes_is_tightened_when_a_node_starts(tmp_path) -> None:  # noqa: ANN001
    data = tmp_path / "office"
    data.mkdir(mode=0o755)
    conn = sqlite3.connect(data / "kanim.db")  # as an older kanim left it: 0644 in a 0755 folder
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("CREATE TABLE probe (x)")
    conn.commit()
    assert mode(data / "kanim.db") == mode(data / "kanim.db-wal") == 0o644
    office = bootstrap(settings(data))
    try:
        upgrade(office.engine)
        assert loose_files(data) == []
    finally:
        conn.close()
        office.engine.dispose()


def test_a_node_log_is_0600(tmp_path) -> None:  # noqa: ANN001
    proc = NodeProcess("probe", ["--help"], dict(os.environ), tmp_path / "node" / "node.log").start()
    proc.proc.wait(30)
    assert mode(tmp_path / "node" / "node.log") == 0o600


@pytest.mark.parametrize("args", [["link", "status"], ["vault", "orphans"], ["user", "locked"],
                                  ["serve", "--port", "9"]], ids=" ".join)
def test_a_key_file_readable_by_others_is_one_line_with_the_fix(tmp_path, args) -> None:  # noqa: ANN001
    data = tmp_path / "office"
    office = bootstrap(settings(data))
    upgrade(office.engine)  # a node that is there: the commands that read one open it
    office.engine.dispose()
    key = data / "keys" / "biometric.key"
    key.chmod(0o644)
    r = kanim(data, *args)
    assert r.returncode == 2, (r.stdout, r.stderr)
    assert r.stderr.count("\n") == 1 and "Traceback" not in r.stderr, r.stderr
    assert r.stderr == f"error: key file {key} is readable by other users (mode 0644); fix: chmod 600 {key}\n"


def test_a_central_key_file_readable_by_others_is_one_line_with_the_fix(tmp_path) -> None:  # noqa: ANN001
    data = tmp_path / "central"
    bootstrap_central(settings(data, role="central")).engine.dispose()
    key = data / "keys" / "central_ed25519.pem"
    key.chmod(0o640)
    r = kanim(data, "serve", "--port", "9", role="central")
    assert r.returncode == 2 and r.stderr.count("\n") == 1, r.stderr
    assert f"fix: chmod 600 {key}" in r.stderr and "Traceback" not in r.stderr
