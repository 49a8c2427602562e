"""A real `kanim serve` SIGKILLed in the middle of uploads, again and again: whatever it left
in the vault is either referred to by a row (and decrypts) or listed by `kanim vault orphans`,
which then removes exactly those. The deterministic crash points are in
tests/integration/test_vault_orphans.py; this is the same thing with a real process and a real
kill, at whatever moment the kill lands."""

from __future__ import annotations

import random
import threading
import time

import httpx

from kanim.ops.cluster import NodeProcess, free_port, node_env
from tests.integration.test_cli_link import kanim

PASSWORD = "front-desk-password"
KIND = ("ktp", "kk", "birth_certificate")
MAX_KILLS, ENOUGH_KILLS = 10, 2


def scan(i: int) -> bytes:
    # About 1.5 MB: encrypting and fsyncing it is a good part of each request, so a kill often
    # lands between the vault file and its row.
    return b"%PDF-1.4\n" + random.randbytes(1_500_000) + f"\n%{i}\n%%EOF\n".encode()


def prepare(data):  # noqa: ANN001, ANN201
    from kanim.bootstrap import bootstrap
    from kanim.config import Settings
    from kanim.office.accounts import add_user
    from kanim.office.booking import walk_in
    from kanim.store.migrate import upgrade
    from tests.integration.test_workflow import SITI

    db = f"sqlite:///{data / 'kanim.db'}"
    office = bootstrap(Settings(_env_file=None, data_dir=data, office_code="MND", database_url=db))
    upgrade(office.engine)
    add_user(office, username="frontdesk", full_name="F", role="front_desk", password=PASSWORD)
    app = walk_in(office, applicant=SITI, actor="frontdesk")  # checked in: its documents may be uploaded
    office.engine.dispose()
    return app.id, node_env({"data_dir": str(data), "office_code": "MND", "database_url": db})


def upload_until_killed(api: str, token: str, app_id: str, stop: threading.Event, done: list[int]) -> None:
    with httpx.Client(headers={"authorization": f"Bearer {token}"}, timeout=30) as c:
        i = 0
        while not stop.is_set():
            i += 1
            try:
                r = c.put(f"{api}/applications/{app_id}/documents/{KIND[i % 3]}",
                          files={"file": ("scan.pdf", scan(i), "application/pdf")})
            except httpx.HTTPError:
                return  # the server died under us
            assert r.status_code == 201, r.text
            done.append(i)


def test_a_server_killed_mid_upload_leaves_only_files_the_orphan_sweep_finds(tmp_path) -> None:  # noqa: ANN001
    from kanim.bootstrap import bootstrap
    from kanim.config import Settings
    from kanim.office import vault_files

    data = tmp_path / "office"
    app_id, env = prepare(data)
    port = free_port()
    api = f"http://127.0.0.1:{port}/api/v1"
    kills, uploads, orphans_seen, token = 0, [], 0, None
    office = bootstrap(Settings(_env_file=None, data_dir=data, office_code="MND",
                                database_url=env["KANIM_DATABASE_URL"]))
    try:
        while kills < MAX_KILLS and not (kills >= ENOUGH_KILLS and orphans_seen):
            node = NodeProcess("office", ["serve", "--port", str(port), "--no-access-log", "--no-relay"], env,
                               data / "office.log", url=f"http://127.0.0.1:{port}").start(wait=60)
            if token is None:  # sessions are rows: one login serves every restart
                token = httpx.post(f"{api}/auth/token", json={"username": "frontdesk", "password": PASSWORD},
                                   timeout=30).json()["access_token"]
            stop = threading.Event()
            threads = [threading.Thread(target=upload_until_killed, args=(api, token, app_id, stop, uploads))
                       for _ in range(2)]
            for th in threads:
                th.start()
            time.sleep(random.uniform(0.6, 1.2))
            node.kill()  # SIGKILL: no shutdown, no cleanup
            kills += 1
            stop.set()
            for th in threads:
                th.join(30)
            orphans_seen = len(vault_files.orphans(office, older_than=vault_files.NOW))
        assert uploads, "no upload got through: the test did not exercise anything"
        assert orphans_seen, f"{kills} kills during {len(uploads)} uploads left no orphan to sweep"

        referenced = vault_files.referenced(office)
        on_disk = {f.path for f in office.vault.files()}
        orphans = {f.path for f in vault_files.orphans(office, older_than=vault_files.NOW)}
        assert on_disk == {office.vault._path(r) for r in referenced} | orphans  # nothing else
        assert all(office.vault.get(r) for r in referenced)  # every row's file is whole

        listed = kanim(data, "vault", "orphans", "--older-than", "0")
        assert listed.returncode == 0 and f"{len(orphans)} orphan files found" in listed.stdout, listed.stderr
        removed = kanim(data, "vault", "orphans", "--remove", "--older-than", "0")
        assert removed.returncode == 0 and f"{len(orphans)} orphan files removed" in removed.stdout
        assert {f.path for f in office.vault.files()} == {office.vault._path(r) for r in referenced}
        assert vault_files.orphans(office, older_than=vault_files.NOW) == []
        print(f"{kills} kills, {len(uploads)} uploads, {len(orphans)} orphans swept")
    finally:
        office.engine.dispose()
