"""The e2e tier: the office node as a real server process (`kanim serve`), driven over real HTTP
with httpx. No TestClient, no mocks, no in-process shortcuts once a server runs.

Servers start once per session and per configuration, each on its own free port and data
directory; the ones a module's tests need start together before its first test (start-up is
mostly imports, which overlap well on two cores), and stay up for the later modules:

- `server`: the normal office. Simulated central, reached only by the server's own link thread
  (every 0.2 s); a fresh watch-list snapshot; booklets in stock.
- `offline_server`: no central (an outage) and a fresh snapshot: passports print on provisional
  clearances, but the handover gate waits for confirmations that never come. Most error tests
  run here: with no link thread at work nothing changes an application behind a test's back,
  so "nothing half-written" can be checked exactly.
- `stale_watchlist_server`: no central; only an 8-day-old watch-list snapshot (the limit is 7).
- `short_billing_server`: billing codes valid for 1.2 s (KANIM_BILLING_VALIDITY_MINUTES=0.02),
  for the expiry test. The same process as `stale_watchlist_server` (one start-up fewer):
  billing does not care about the watch-list, and the other tests there pay at once.
- `renewed_watchlist_server`: stale like that one, for the single test that loads a fresh
  snapshot part-way (a server's newest snapshot cannot be made stale again).
- `contract_server`: like `offline_server`, for schemathesis alone (test_schemathesis.py).

The template data directory every server copies holds a migrated database, one staff account per
role and one session per account, made once in-process with kanim's own use cases (an account or
a login costs an Argon2 hash, ~0.2 s of CPU: per server and role that would be ~8 s of the
budget, and the CLI another interpreter start-up each time). Logging in over HTTP is exercised by
the journey, whose desks each log in, and by the authentication tests.
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
LINK_INTERVAL = 0.2  # seconds between the link thread's rounds
START_TIMEOUT = 60.0  # seconds for a server to answer /health (generous: CI machines get busy)
STOP_TIMEOUT = 10.0  # seconds between SIGTERM and SIGKILL
ROLES = [r.value for r in Role]


def password_for(role: str) -> str:
    return f"e2e-{role}-password"


# -- the kanim command ---------------------------------------------------------------------------

def _kanim_command(*args: str) -> list[str]:
    """The installed console script (what an operator runs), else the same Typer app through
    the interpreter."""
    script = Path(sys.executable).parent / "kanim"
    if script.exists():
        return [str(script), *args]
    return [sys.executable, "-c", "from kanim.cli import app; app()", *args]


def _serve_command(port: int) -> list[str]:
    """`kanim serve` on `port`. The link's pace is KANIM_LINK_INTERVAL; earlier versions of the
    command took it as `--sync-interval` instead."""
    from kanim.cli import serve

    args = ["serve", "--host", HOST, "--port", str(port)]
    if "sync_interval" in inspect.signature(serve).parameters:
        args += ["--sync-interval", str(LINK_INTERVAL)]
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


# -- the template data directory -----------------------------------------------------------------

@dataclass(frozen=True)
class Template:
    data_dir: Path
    tokens: dict[str, str]  # role → bearer token of a session stored in the template database


def _seed_template(root: Path) -> Template:
    """Migrate, add one account per role and open one session per account, in-process with
    kanim's own use cases (as `kanim db upgrade` and `kanim user add` would, without paying for
    two more interpreter start-ups)."""
    from kanim.bootstrap import bootstrap
    from kanim.config import Settings
    from kanim.office import accounts
    from kanim.store.migrate import upgrade

    data = root / "data"
    office = bootstrap(Settings(_env_file=None, data_dir=data, database_url=None, office_code=OFFICE_CODE))
    try:
        upgrade(office.engine)
        with ThreadPoolExecutor(2) as pool:  # Argon2 releases the GIL
            list(pool.map(lambda role: accounts.add_user(office, username=role, full_name=f"{role} e2e", role=role,
                                                         password=password_for(role), actor="e2e-setup"), ROLES))
            sessions = list(pool.map(lambda role: accounts.login(office, username=role, password=password_for(role)),
                                     ROLES))
    finally:
        office.engine.dispose()
    return Template(data, {user.role.value: token for token, user in sessions})


# -- one server ----------------------------------------------------------------------------------

@dataclass(frozen=True)
class ServerConfig:
    name: str
    central: str = "none"
    billing_validity_minutes: float | None = None
    watchlist_age: timedelta | None = timedelta(0)  # age of the snapshot loaded at start; None: none
    booklets: tuple[str, str] = ("X1000001", "X1000100")
    chip_required: bool = False  # True only where the test installs a Document Signer


CONFIGS = {
    c.name: c
    for c in (
        ServerConfig("main", central="simulated"),
        ServerConfig("offline"),
        ServerConfig("stale", billing_validity_minutes=0.02, watchlist_age=timedelta(days=8)),
        ServerConfig("renewed_watchlist", watchlist_age=timedelta(days=8)),
        ServerConfig("contract"),
    )
}
FIXTURES = {"server": "main", "offline_server": "offline", "short_billing_server": "stale",
            "stale_watchlist_server": "stale", "renewed_watchlist_server": "renewed_watchlist",
            "contract_server": "contract"}


@dataclass
class OfficeServer:
    """One running `kanim serve` process and the desks (clients with a session) talking to it."""

    config: ServerConfig
    base_url: str
    data_dir: Path
    proc: subprocess.Popen
    stderr_path: Path
    tokens: dict[str, str]
    _desks: dict[str, httpx.Client] = field(default_factory=dict)
    _clients: list[httpx.Client] = field(default_factory=list)

    @property
    def api(self) -> str:
        return f"{self.base_url}/api/v1"

    def desk(self, role: str) -> httpx.Client:
        """A client holding a session of the staff account of `role`."""
        if role not in self._desks:
            self._desks[role] = self.client(self.tokens[role])
        return self._desks[role]

    def log_in(self, role: str) -> httpx.Client:
        """A new session for `role` through POST /auth/token, as a desk's browser would."""
        r = httpx.post(f"{self.api}/auth/token", json={"username": role, "password": password_for(role)},
                       timeout=30)
        assert r.status_code == 200, f"login as {role} failed: {r.status_code} {r.text}"
        assert (r.json()["username"], r.json()["role"], r.json()["token_type"]) == (role, role, "bearer")
        return self.client(r.json()["access_token"])

    def client(self, token: str | None = None) -> httpx.Client:
        c = httpx.Client(base_url=self.api, timeout=30,
                         headers={"Authorization": f"Bearer {token}"} if token else {})
        self._clients.append(c)
        return c

    def vault_files(self) -> set[str]:
        """Names of the encrypted files on disk: a refused upload must leave none behind."""
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
        """SIGTERM (uvicorn shuts down cleanly), then SIGKILL if it has not exited in time."""
        self.terminate()
        try:
            self.proc.wait(STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(STOP_TIMEOUT)


def _launch(config: ServerConfig, template: Template, workdir: Path) -> OfficeServer:
    workdir.mkdir(parents=True)
    data = workdir / "data"
    shutil.copytree(template.data_dir, data)
    port = _free_port()
    settings = dict(data_dir=str(data), office_code=OFFICE_CODE, office_name=OFFICE_NAME,
                    central=config.central, max_upload_bytes=str(MAX_UPLOAD_BYTES),
                    link_interval=str(LINK_INTERVAL), chip_required=str(config.chip_required).lower())
    if config.billing_validity_minutes is not None:
        settings["billing_validity_minutes"] = str(config.billing_validity_minutes)
    stdout, stderr = workdir / "server.out", workdir / "server.err"
    with open(stdout, "wb") as out, open(stderr, "wb") as err:
        # cwd: the server reads `.env` from its working directory, and ours has none.
        proc = subprocess.Popen(_serve_command(port), env=_clean_env(**settings), cwd=workdir,
                                stdout=out, stderr=err, stdin=subprocess.DEVNULL)
    return OfficeServer(config, f"http://{HOST}:{port}", data, proc, stderr, dict(template.tokens))


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
                assert (body["status"], body["office"]) == ("ok", OFFICE_CODE), body
                return
        except httpx.TransportError:
            pass
        if time.monotonic() > deadline:
            pytest.fail(f"kanim serve ({server.config.name}) did not answer /health within {START_TIMEOUT:.0f} s; "
                        f"its stderr:\n{server.server_log()}", pytrace=False)
        time.sleep(0.05)


def load_watchlist(server: OfficeServer, *, age: timedelta) -> None:
    taken_at = datetime.now(UTC) - age
    r = server.desk("supervisor").post("/watchlist/snapshots",
                                       json={"taken_at": taken_at.isoformat(), "source": "e2e", "orders": []})
    assert r.status_code == 201, r.text


def _ready(server: OfficeServer) -> OfficeServer:
    """Wait for /health, then stock the office as it would be before its first applicant."""
    _wait_healthy(server)
    first, last = server.config.booklets
    r = server.desk("print_operator").post("/booklets/batches", json={"first": first, "last": last})
    assert r.status_code == 201, r.text
    if server.config.watchlist_age is not None:
        load_watchlist(server, age=server.config.watchlist_age)
    return server


# -- the pool and the fixtures -------------------------------------------------------------------

class ServerPool:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.servers: dict[str, OfficeServer] = {}
        self._template: Template | None = None

    def start(self, names: set[str]) -> None:
        """Start the servers named, all at once."""
        names = {n for n in names if n not in self.servers}
        if not names:
            return
        if self._template is None:
            self._template = _seed_template(self.root / "template")
        for n in sorted(names):  # registered at once: stop_all() stops whatever was launched
            self.servers[n] = _launch(CONFIGS[n], self._template, self.root / n)
        with ThreadPoolExecutor(len(names)) as pool:
            for f in [pool.submit(_ready, self.servers[n]) for n in names]:
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
def server_pool(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerPool]:
    pool = ServerPool(tmp_path_factory.mktemp("e2e"))
    try:
        yield pool
    finally:
        pool.stop_all()


@pytest.fixture(scope="module", autouse=True)
def _servers_of_this_module(request: pytest.FixtureRequest, server_pool: ServerPool) -> None:
    """Start together the servers this module's tests use, before its first test. Per module,
    not per session: under xdist every worker collects the whole suite but runs only the files
    it is handed, and a server started for files another worker runs costs its start-up (a few
    seconds of CPU) and its link thread's polling for nothing."""
    path = request.node.path
    server_pool.start({FIXTURES[f] for item in request.session.items if item.path == path
                       for f in getattr(item, "fixturenames", ()) if f in FIXTURES})


@pytest.fixture(scope="session")
def server(server_pool: ServerPool) -> OfficeServer:
    return server_pool.get("main")


@pytest.fixture(scope="session")
def offline_server(server_pool: ServerPool) -> OfficeServer:
    return server_pool.get("offline")


@pytest.fixture(scope="session")
def short_billing_server(server_pool: ServerPool) -> OfficeServer:
    return server_pool.get("stale")


@pytest.fixture(scope="session")
def stale_watchlist_server(server_pool: ServerPool) -> OfficeServer:
    return server_pool.get("stale")


@pytest.fixture(scope="session")
def contract_server(server_pool: ServerPool) -> OfficeServer:
    """schemathesis's target: whatever it creates (fees, users, snapshots, thousands of
    refusals) stays away from the other tests' offices."""
    return server_pool.get("contract")


@pytest.fixture(scope="session")
def renewed_watchlist_server(server_pool: ServerPool) -> OfficeServer:
    return server_pool.get("renewed_watchlist")
