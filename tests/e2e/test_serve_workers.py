"""`kanim serve --workers N`: several processes serve one office (one per core), and the relay
stays single in the parent."""

from __future__ import annotations

import threading

import httpx

from kanim.ops.cluster import NodeProcess, free_port, node_env


def test_several_worker_processes_serve_one_office_and_share_its_database(tmp_path) -> None:  # noqa: ANN001
    port = free_port()
    data = tmp_path / "office"
    data.mkdir()
    env = node_env({"data_dir": str(data), "office_code": "MND", "database_url": f"sqlite:///{data / 'kanim.db'}"})
    from kanim.bootstrap import bootstrap
    from kanim.config import Settings
    from kanim.office.accounts import add_user
    from kanim.store.migrate import upgrade

    office = bootstrap(Settings(data_dir=data, office_code="MND", database_url=f"sqlite:///{data / 'kanim.db'}"))
    upgrade(office.engine)
    add_user(office, username="frontdesk", full_name="F", role="front_desk", password="front-desk-password")
    office.engine.dispose()
    node = NodeProcess("office", ["serve", "--port", str(port), "--workers", "2", "--no-access-log"], env,
                       data / "office.log", url=f"http://127.0.0.1:{port}").start()
    try:
        api = f"http://127.0.0.1:{port}/api/v1"
        token = httpx.post(f"{api}/auth/token", json={"username": "frontdesk", "password": "front-desk-password"})
        headers = {"authorization": f"Bearer {token.json()['access_token']}"}
        made = []
        with httpx.Client(headers=headers, timeout=10) as c:
            for i in range(6):  # spread over both workers by the kernel; all land in one database
                r = c.post(f"{api}/walk-ins", json={"full_name": f"Budi Santoso {chr(65 + i)}",
                                                    "nik": f"35780112038500{i + 10}", "birth_date": "1985-03-12",
                                                    "sex": "M"})
                assert r.status_code == 201, r.text
                made.append(r.json()["number"])
            listed = {a["number"] for a in c.get(f"{api}/applications").json()}
        assert set(made) <= listed and len(set(made)) == 6
        assert _one_walk_in_for_one_key_across_workers(api, headers)
    finally:
        node.stop()


def _one_walk_in_for_one_key_across_workers(api: str, headers: dict[str, str]) -> bool:
    """Eight clients at once (new connections, so both workers take some) send one walk-in with
    one Idempotency-Key: the key lives in the database, so one application is made."""
    body = {"full_name": "Siti Rahmawati", "nik": "3578015203850099", "birth_date": "1985-03-12", "sex": "F"}
    barrier, answers = threading.Barrier(8), []

    def send() -> None:
        with httpx.Client(headers={**headers, "Idempotency-Key": "workers-1"}, timeout=30) as c:
            barrier.wait()
            answers.append(c.post(f"{api}/walk-ins", json=body))

    threads = [threading.Thread(target=send) for _ in range(8)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert {r.status_code for r in answers} <= {201, 409}, [r.text for r in answers]
    ids = {r.json()["id"] for r in answers if r.status_code == 201}
    with httpx.Client(headers=headers, timeout=10) as c:
        same = [a for a in c.get(f"{api}/applications", params={"limit": 500}).json() if a["nik"] == body["nik"]]
    return len(ids) == 1 and len(same) == 1
