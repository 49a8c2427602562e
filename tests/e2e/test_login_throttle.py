"""Failed logins against real `kanim serve` processes: the counts are shared by every worker
process (`--workers 2`) and survive a SIGKILL and a restart, because they live in the database."""

from __future__ import annotations

import httpx

from kanim.ops.cluster import NodeProcess, free_port, node_env

PASSWORD = "the-right-password"


def test_failed_logins_lock_an_account_across_worker_processes_and_a_restart(tmp_path) -> None:  # noqa: ANN001
    from kanim.bootstrap import bootstrap
    from kanim.config import Settings
    from kanim.office.accounts import add_user
    from kanim.store.migrate import upgrade

    data = tmp_path / "office"
    db = f"sqlite:///{data / 'kanim.db'}"
    office = bootstrap(Settings(_env_file=None, data_dir=data, office_code="MND", database_url=db))
    upgrade(office.engine)
    add_user(office, username="rina", full_name="Rina", role="cashier", password=PASSWORD)
    add_user(office, username="adi", full_name="Adi", role="admin", password=PASSWORD)
    office.engine.dispose()
    port = free_port()
    env = node_env({"data_dir": str(data), "office_code": "MND", "database_url": db,
                    "login_free_failures": "3", "login_lock_after": "3"})
    api = f"http://127.0.0.1:{port}/api/v1"

    def log_in(username: str, password: str) -> httpx.Response:
        # A new connection each time: the kernel hands them to either worker process.
        return httpx.post(f"{api}/auth/token", json={"username": username, "password": password}, timeout=30)

    node = NodeProcess("office", ["serve", "--port", str(port), "--workers", "2", "--no-access-log"], env,
                       data / "office.log", url=f"http://127.0.0.1:{port}").start(wait=60)
    try:
        codes = [log_in("rina", "wrong-password").status_code for _ in range(30)]
        # Two processes with counts of their own would have let up to six checks through.
        assert codes == [401] * 3 + [429] * 27, codes
        locked = log_in("rina", PASSWORD)
        assert locked.status_code == 429 and locked.json()["code"] == "account-locked"
        assert int(locked.headers["retry-after"]) > 3000  # the lock's hour, less the seconds gone
    finally:
        node.kill()

    node = NodeProcess("office", ["serve", "--port", str(port), "--no-access-log"], env,
                       data / "office.log", url=f"http://127.0.0.1:{port}").start(wait=60)
    try:
        assert log_in("rina", PASSWORD).json()["code"] == "account-locked"
        admin = {"authorization": f"Bearer {log_in('adi', PASSWORD).json()['access_token']}"}
        listed = httpx.get(f"{api}/users/locked", headers=admin).json()
        assert [(u["username"], u["failures"]) for u in listed] == [("rina", 3)]
        assert httpx.post(f"{api}/users/rina/unlock", headers=admin).json()["unlocked"] is True
        assert log_in("rina", PASSWORD).status_code == 200
    finally:
        node.stop()
