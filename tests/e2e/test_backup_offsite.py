"""The off-site target as a real `kanim backup serve` process and the office as a real
`kanim serve`, with a desk uploading scans over HTTP while `kanim backup create` runs. The
node's own token (what ransomware on the node holds) can add to the store but not delete or
replace anything; the backups restore into an empty folder with `kanim restore`, row by row and
file by file, and the CLI says in one line what is missing when a key is."""

from __future__ import annotations

import subprocess
import sys
import threading
import time

from datetime import UTC, datetime

import httpx

from kanim.backup.drills import drill
from kanim.backup.keys import escrow_sheet, load_escrow
from kanim.backup.restore import restore
from kanim.backup.server import grant
from kanim.backup.targets import HttpTarget
from kanim.config import Settings
from kanim.ops.cluster import NodeProcess, free_port, node_env
from tests.backup_helpers import private_of, rows, scan, vault_bytes

PASSWORD = "front-desk-password"
HOST = "127.0.0.1"


def prepare(data):  # noqa: ANN001, ANN201
    from kanim.bootstrap import bootstrap
    from kanim.config import Settings
    from kanim.office.accounts import add_user
    from kanim.store.migrate import upgrade
    from tests.backup_helpers import add_applications

    db = f"sqlite:///{data / 'kanim.db'}"
    office = bootstrap(Settings(_env_file=None, data_dir=data, office_code="MND", database_url=db))
    upgrade(office.engine)
    add_user(office, username="frontdesk", full_name="F", role="front_desk", password=PASSWORD)
    ids = add_applications(office, 0, 4)
    office.engine.dispose()
    return ids, node_env({"data_dir": str(data), "office_code": "MND", "database_url": db})


def kanim(env: dict, *args: str, cwd) -> subprocess.CompletedProcess:  # noqa: ANN001
    return subprocess.run([sys.executable, "-m", "kanim", *args], env=env, cwd=cwd, capture_output=True,
                          text=True, timeout=120)


def wait_up(url: str, proc: NodeProcess) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        assert proc.alive, proc.tail()
        try:
            if httpx.get(url, timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            time.sleep(0.1)
    raise AssertionError(f"no answer from {url}:\n{proc.tail()}")


def desk(api: str, app_ids: list[str], stop: threading.Event, done: list[float]) -> None:
    with httpx.Client(timeout=30) as c:
        token = c.post(f"{api}/auth/token", json={"username": "frontdesk", "password": PASSWORD}).json()
        c.headers["authorization"] = f"Bearer {token['access_token']}"
        i = 0
        while not stop.is_set():
            i += 1
            started = time.monotonic()
            r = c.put(f"{api}/applications/{app_ids[i % len(app_ids)]}/documents/{('kk', 'ktp')[i % 2]}",
                      files={"file": ("scan.pdf", scan(10_000 + i, 30_000), "application/pdf")})
            assert r.status_code == 201, r.text
            done.append(time.monotonic() - started)


def test_backups_made_under_desk_load_go_off_site_where_the_nodes_token_cannot_delete_them(tmp_path) -> None:  # noqa: ANN001, PLR0915
    data, store, work = tmp_path / "office", tmp_path / "offsite", tmp_path
    app_ids, env = prepare(data)
    store_port, office_port = free_port(), free_port()
    offsite = f"http://{HOST}:{store_port}"
    token = grant(store, "MND")  # what `kanim backup grant` prints (the CLI's other calls cost their start-up)
    env = {**env, "KANIM_BACKUP_TARGETS": offsite, "KANIM_BACKUP_TOKEN": token}
    assert kanim(env, "backup", "keygen", "--private-out", str(work / "backup.key"), cwd=work).returncode == 0
    (work / "escrow.txt").write_text(escrow_sheet(Settings(_env_file=None, data_dir=data, office_code="MND")))

    server = NodeProcess("offsite", ["backup", "serve", "--dir", str(store), "--port", str(store_port)],
                         node_env({}), work / "offsite.log").start()
    office = NodeProcess("office", ["serve", "--port", str(office_port), "--no-access-log", "--no-relay"], env,
                         data / "office.log", url=f"http://{HOST}:{office_port}")
    try:
        wait_up(f"{offsite}/health", server)
        office.start(wait=60)
        stop, latencies = threading.Event(), []
        load = threading.Thread(target=desk, args=(f"{office.url}/api/v1", app_ids, stop, latencies))
        load.start()
        try:
            time.sleep(0.5)
            during = [kanim(env, "backup", "create", cwd=work)]
        finally:
            stop.set()
            load.join(30)
        assert all(r.returncode == 0 for r in during), [r.stderr for r in during]
        assert len(latencies) > 5, "the desk did not work during the backups"
        office.stop()  # the desks are done: the last backup must equal the folder exactly
        assert kanim(env, "backup", "create", cwd=work).returncode == 0
        names = httpx.get(f"{offsite}/v1/MND/snapshots/", headers={"authorization": f"Bearer {token}"}).json()["names"]
        assert len(names) == 2

        attacks = attack(offsite, token, names[0])
        assert attacks == {"delete": 405, "overwrite": 409, "other office": 401, "no token": 401,
                           "delete pack": 405, "bad pack": 422}, attacks
        assert httpx.get(f"{offsite}/v1/MND/snapshots/", headers={"authorization": f"Bearer {token}"}).json()[
            "names"] == names

        restored = kanim(env, "restore", "--key", str(work / "backup.key"), "--escrow", str(work / "escrow.txt"),
                         "--into", str(work / "restored"), cwd=work)
        assert restored.returncode == 0, restored.stderr
        assert rows(work / "restored" / "kanim.db") == rows(data / "kanim.db")
        assert vault_bytes(work / "restored") == vault_bytes(data)
        target, private = HttpTarget(offsite, office="MND", token=token), private_of(work / "backup.key")
        escrowed = load_escrow(work / "escrow.txt")
        mid = restore(target, private, escrowed, work / "mid", name=names[0])  # taken mid-load: whole
        assert mid.audit_rows > 0 and mid.vault_files >= len(app_ids)
        assert drill(target, private, escrowed, now=datetime.now(UTC)).ok
        status = kanim(env, "backup", "status", cwd=work)
        assert status.returncode == 0 and "2 snapshots" in status.stdout, status.stdout + status.stderr
    finally:
        office.stop()
        server.stop()


def attack(offsite: str, token: str, snapshot: str) -> dict[str, int]:
    """What the node's own token gets when it tries to destroy the backups."""
    auth = {"authorization": f"Bearer {token}"}
    pack = httpx.get(f"{offsite}/v1/MND/packs/", headers=auth).json()["names"][0]
    return {
        "delete": httpx.delete(f"{offsite}/v1/MND/snapshots/{snapshot}", headers=auth).status_code,
        "overwrite": httpx.put(f"{offsite}/v1/MND/snapshots/{snapshot}", headers=auth, content=b"ransom").status_code,
        "other office": httpx.get(f"{offsite}/v1/JKT/snapshots/", headers=auth).status_code,
        "no token": httpx.get(f"{offsite}/v1/MND/snapshots/").status_code,
        "delete pack": httpx.delete(f"{offsite}/v1/MND/packs/{pack}", headers=auth).status_code,
        "bad pack": httpx.put(f"{offsite}/v1/MND/packs/{'0' * 64}", headers=auth, content=b"x").status_code,
    }


def test_the_restore_command_says_in_one_line_what_it_is_missing(tmp_path) -> None:  # noqa: ANN001
    from kanim.backup import crypto, paper

    env = node_env({"data_dir": str(tmp_path / "nowhere"), "office_code": "MND"})
    good = tmp_path / "good.key"
    good.write_text(f"private key: {paper.encode(crypto.new_private_key())}\n")
    (tmp_path / "typo.key").write_text("private key: AAAA-BBBB\n")
    restore_from = ["restore", "--from", str(tmp_path), "--into", str(tmp_path / "x"), "--key"]
    checks = {
        "no key file": ([*restore_from, str(tmp_path / "k")], "no backup key at"),
        "a typo in the key": ([*restore_from, str(tmp_path / "typo.key")], "typo"),
        "no escrow sheet": ([*restore_from, str(good)], "needs the escrow sheet"),
        "no node": (["backup", "create", "--to", str(tmp_path / "usb")], "no kanim node at"),
    }
    for what, (args, expected) in checks.items():
        r = kanim(env, *args, cwd=tmp_path)
        assert r.returncode == 2, (what, r.stdout, r.stderr)
        assert expected in r.stderr and len(r.stderr.strip().splitlines()) == 1, (what, r.stderr)
    assert not (tmp_path / "x").exists()
