"""The e2e tier: the office node as a real server process (`kanim serve`), driven over real HTTP
with httpx. No TestClient, no mocks, no in-process shortcuts once a server runs.

Servers are started lazily, once per session and per configuration, each on its own free port
and data directory:

- `server`: the normal office. Simulated central (its link thread confirms clearances every
  0.2 s), a fresh watch-list snapshot, booklets in stock.
- `short_billing_server`: billing codes valid for 1.2 s (KANIM_BILLING_VALIDITY_MINUTES=0.02),
  for the expiry test only; no central, so nothing changes an application behind its back.
- `stale_watchlist_server`: no central, and only an 8-day-old watch-list snapshot (the limit is
  7 days): the watch-list clearance stays pending and the print gate stays closed.
- `offline_server`: no central (an outage), a fresh snapshot: passports print on provisional
  clearances but the handover gate waits for confirmations that never come. The error tests
  run here: with no link thread at work, "nothing half-written" can be checked exactly.

Staff accounts (one per role) are seeded once into a template data directory that every server
copies: the admin through the real CLI (`kanim db upgrade`, `kanim user add`), the others
in-process with `kanim.office.accounts.add_user` (eight CLI start-ups would cost ~7 s per run).
"""

from __future__ import annotations

import inspect
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from kanim.security.roles import Role

HOST = "127.0.0.1"
OFFICE_CODE = "MND"
OFFICE_NAME = "Kantor Imigrasi Manado"
MAX_UPLOAD_BYTES = 2_000_000  # small enough to send one byte too many cheaply
SYNC_INTERVAL = 0.2
START_TIMEOUT = 30.0  # seconds for a server to answer /health
STOP_TIMEOUT = 10.0  # seconds between SIGTERM and SIGKILL
ROLES = [r.value for r in Role]


def password_for(role: str) -> str:
    return f"e2e-{role}-password"


def _kanim_command(*args: str) -> list[str]:
    """The installed console script when there is one (what an operator runs), else the same
    Typer app through the interpreter (`kanim/cli.py` has no `__main__` guard)."""
    script = Path(sys.executable).parent / "kanim"
    if script.exists():
        return [str(script), *args]
    return [sys.executable, "-c", "from kanim.cli import app; app()", *args]


def _serve_command(port: int) -> list[str]:
    """`kanim serve` on `port`. The link's pace is KANIM_LINK_INTERVAL; older versions of the
    command took it as `--sync-interval` instead."""
    from kanim.cli import serve

    args = ["serve", "--host", HOST, "--port", str(port)]
    if "sync_interval" in inspect.signature(serve).parameters:
        args += ["--sync-interval", str(SYNC_INTERVAL)]
    return _kanim_command(*args)


def _clean_env(**kanim: str) -> dict[str, str]:
    """The inherited environment without anyone's KANIM_* settings, plus ours."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("KANIM_")}
    env.update({f"KANIM_{k.upper()}": v for k, v in kanim.items()})
    return env


def _free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def _tail(path: Path, lines: int = 40) -> str:
    if not path.exists():
        return "(no output)"
    return "\n".join(path.read_text(errors="replace").splitlines()[-lines:]) or "(empty)"


@dataclass(frozen=True)
class ServerConfig:
    name: str
    central: str = "simulated"
    billing_validity_minutes: float | None = None
    watchlist_age: timedelta | None = timedelta(0)  # age of the snapshot loaded; None: none
    booklets: tuple[str, str] = ("X1000001", "X1000100")


CONFIGS = {
    c.name: c
    for c in (
        ServerConfig("main"),
        ServerConfig("short_billing", central="none", billing_validity_minutes=0.02),
        ServerConfig("stale_watchlist", central="none", watchlist_age=timedelta(days=8)),
        ServerConfig("offline", central="none"),
    )
}


@dataclass
class OfficeServer:
    """One running `kanim serve` process and the desks (logged-in clients) talking to it."""

    config: ServerConfig
    base_url: str
    data_dir: Path
    proc: subprocess.Popen
    stderr_path: Path
    _desks: dict[str, httpx.Client] = field(default_factory=dict)
    _clients: list[httpx.Client] = field(default_factory=list)

    @property
    def api(self) -> str:
        return f"{self.base_url}/api/v1"

    def desk(self, role: str) -> httpx.Client:
        """A client logged in (POST /auth/token) as the staff account of `role`."""
        if role not in self._desks:
            self._desks[role] = self._client(self._log_in(role))
        return self._desks[role]

    def anonymous(self) -> httpx.Client:
        return self._client(None)

    def log_in_all(self) -> None:
        """Every desk logs in at once: an Argon2 check costs ~0.2 s of server CPU each."""
        with ThreadPoolExecutor(len(ROLES)) as pool:
            tokens = dict(zip(ROLES, pool.map(self._log_in, ROLES), strict=True))
        for role, token in tokens.items():
            self._desks[role] = self._client(token)

    def _log_in(self, role: str) -> str:
        r = httpx.post(f"{self.api}/auth/token", json={"username": role, "password": password_for(role)},
                       timeout=30)
        assert r.status_code == 200, f"login as {role} failed: {r.status_code} {r.text}"
        assert r.json()["role"] == role
        return r.json()["access_token"]

    def _client(self, token: str | None) -> httpx.Client:
        c = httpx.Client(base_url=self.api, timeout=30,
                         headers={"Authorization": f"Bearer {token}"} if token else {})
        self._clients.append(c)
        return c

    def vault_files(self) -> set[str]:
        """Names of the encrypted files on disk: an upload that failed must leave none behind."""
        return {p.name for p in (self.data_dir / "vault").glob("*/*.bin")}

    def server_log(self) -> str:
        return _tail(self.stderr_path)

    def terminate(self) -> None:
        for c in self._clients:
            c.close()
        self._clients.clear()
        self._desks.clear()
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)

    def stop(self) -> None:
        """SIGTERM (uvicorn shuts down cleanly), SIGKILL if it has not exited in time."""
        self.terminate()
        try:
            self.proc.wait(STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(STOP_TIMEOUT)


def _seed_template(root: Path) -> Path:
    """A data directory holding a migrated database and one staff account per role."""
    root.mkdir(parents=True)
    data = root / "data"
    env = _clean_env(data_dir=str(data), office_code=OFFICE_CODE)

    def cli(*args: str) -> subprocess.Popen:
        return subprocess.Popen(_kanim_command(*args), env=env, cwd=root, stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, text=True)

    def finish(p: subprocess.Popen, what: str) -> None:
        out, _ = p.communicate(timeout=60)
        assert p.returncode == 0, f"`kanim {what}` failed with {p.returncode}:\n{out}"

    finish(cli("db", "upgrade"), "db upgrade")
    admin = cli("user", "add", "admin", "--role", "admin", "--full-name", "Admin E2E",
                "--password", password_for("admin"))

    from kanim.bootstrap import bootstrap
    from kanim.config import Settings
    from kanim.office.accounts import add_user

    office = bootstrap(Settings(_env_file=None, data_dir=data, database_url=None, office_code=OFFICE_CODE))
    try:
        with ThreadPoolExecutor(2) as pool:  # Argon2 hashing releases the GIL
            list(pool.map(lambda role: add_user(office, username=role, full_name=f"{role} e2e", role=role,
                                                password=password_for(role), actor="e2e-setup"),
                          [r for r in ROLES if r != "admin"]))
    finally:
        office.engine.dispose()
        finish(admin, "user add admin")
    return data


def _launch(config: ServerConfig, template: Path, workdir: Path) -> OfficeServer:
    workdir.mkdir(parents=True)
    data = workdir / "data"
    shutil.copytree(template, data)
    port = _free_port()
    settings = dict(data_dir=str(data), office_code=OFFICE_CODE, office_name=OFFICE_NAME,
                    central=config.central, max_upload_bytes=str(MAX_UPLOAD_BYTES),
                    link_interval=str(SYNC_INTERVAL))
    if config.billing_validity_minutes is not None:
        settings["billing_validity_minutes"] = str(config.billing_validity_minutes)
    stdout, stderr = workdir / "server.out", workdir / "server.err"
    with open(stdout, "wb") as out, open(stderr, "wb") as err:
        # cwd: the server reads `.env` from its working directory; ours has none.
        proc = subprocess.Popen(_serve_command(port), env=_clean_env(**settings), cwd=workdir,
                                stdout=out, stderr=err, stdin=subprocess.DEVNULL)
    return OfficeServer(config, f"http://{HOST}:{port}", data, proc, stderr)


def _ready(server: OfficeServer) -> OfficeServer:
    """Wait for /health, log every desk in, stock the office."""
    try:
        _wait_healthy(server)
        server.log_in_all()
        _stock(server)
    except BaseException:
        server.stop()
        raise
    return server


def _wait_healthy(server: OfficeServer) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while True:
        if server.proc.poll() is not None:
            pytest.fail(f"kanim serve ({server.config.name}) exited with {server.proc.returncode} before "
                        f"answering /health; its stderr:\n{server.server_log()}", pytrace=False)
        try:
            r = httpx.get(f"{server.api}/health", timeout=2)
            if r.status_code == 200:
                body = r.json()
                assert body == {"status": "ok", "office": OFFICE_CODE, "central": server.config.central}, body
                return
        except httpx.TransportError:
            pass
        if time.monotonic() > deadline:
            pytest.fail(f"kanim serve ({server.config.name}) did not answer /health within {START_TIMEOUT:.0f} s; "
                        f"its stderr:\n{server.server_log()}", pytrace=False)
        time.sleep(0.05)


def _stock(server: OfficeServer) -> None:
    """What an office holds before its first applicant: booklets and (usually) a watch-list."""
    first, last = server.config.booklets
    r = server.desk("print_operator").post("/booklets/batches", json={"first": first, "last": last})
    assert r.status_code == 201, r.text
    if server.config.watchlist_age is not None:
        taken_at = datetime.now(UTC) - server.config.watchlist_age
        r = server.desk("supervisor").post("/watchlist/snapshots",
                                           json={"taken_at": taken_at.isoformat(), "source": "e2e", "orders": []})
        assert r.status_code == 201, r.text


FIXTURES = {"server": "main", "short_billing_server": "short_billing",
            "stale_watchlist_server": "stale_watchlist", "offline_server": "offline"}


class ServerPool:
    """Starts servers on demand; `start` brings up several at once (they spend their start-up
    importing and hashing passwords, which overlaps well on two cores)."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.servers: dict[str, OfficeServer] = {}
        self._template: Path | None = None

    def start(self, names: set[str]) -> None:
        names = {n for n in names if n not in self.servers}
        if not names:
            return
        if self._template is None:
            self._template = _seed_template(self.root / "template")
        launched = {n: _launch(CONFIGS[n], self._template, self.root / n) for n in sorted(names)}
        self.servers.update(launched)  # registered before waiting: stop_all() stops them all
        with ThreadPoolExecutor(len(launched)) as pool:
            for f in [pool.submit(_ready, s) for s in launched.values()]:
                f.result()

    def get(self, name: str) -> OfficeServer:
        self.start({name})
        return self.servers[name]

    def stop_all(self) -> None:
        for s in self.servers.values():
            s.terminate()
        for s in self.servers.values():
            s.stop()


@pytest.fixture(scope="session")
def server_pool(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerPool]:
    pool = ServerPool(tmp_path_factory.mktemp("e2e"))
    try:
        # Start every server the collected tests will use, together.
        pool.start({FIXTURES[f] for item in request.session.items
                    for f in getattr(item, "fixturenames", ()) if f in FIXTURES})
        yield pool
    finally:
        pool.stop_all()


@pytest.fixture(scope="session")
def server(server_pool: ServerPool) -> OfficeServer:
    return server_pool.get("main")


@pytest.fixture(scope="session")
def short_billing_server(server_pool: ServerPool) -> OfficeServer:
    return server_pool.get("short_billing")


@pytest.fixture(scope="session")
def stale_watchlist_server(server_pool: ServerPool) -> OfficeServer:
    return server_pool.get("stale_watchlist")


@pytest.fixture(scope="session")
def offline_server(server_pool: ServerPool) -> OfficeServer:
    return server_pool.get("offline")
