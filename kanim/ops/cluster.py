"""Central and office nodes as real processes on this machine, for drills, the outage scenario
and the fault tests: start them, wait until they answer, kill them for real (SIGKILL), restart.

Provisioning (keys, registering the office at the central, booklet allocation, staff accounts)
is done in-process on each node's own database before it starts, the same way an operator would
with the CLI. Used by `kanim demo` (kanim/ops/demo.py), its outage scenario and the fault tests.
"""

from __future__ import annotations

import contextlib
import errno
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from kanim.config import Settings
from kanim.security.filemodes import open_private_append


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def listen_problem(host: str, port: int) -> str | None:
    """Why a server could not listen on host:port (None when it can), found by binding the way
    uvicorn does (SO_REUSEADDR, so a port left in TIME_WAIT by a node just stopped is free)."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as e:
        return f"cannot listen on {host}:{port}: {e.strerror}"
    family, _, _, _, address = infos[0]
    with socket.socket(family, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(address)
        except OSError as e:
            if e.errno == errno.EADDRINUSE:
                return f"port {port} on {host} is already in use"
            return f"cannot listen on {host}:{port}: {e.strerror}"
    return None


def connect_host(host: str) -> str:
    """The address a client on this machine dials for a server bound to `host`."""
    return "127.0.0.1" if host in ("", "0.0.0.0", "::") else host  # noqa: S104 - not a bind


@dataclass
class NodeProcess:
    """One `kanim` process (serve or worker) with its environment, restartable."""

    name: str
    args: list[str]
    env: dict[str, str]
    log_path: Path
    url: str | None = None
    proc: subprocess.Popen | None = field(default=None, repr=False)

    def start(self, *, wait: float = 30.0) -> NodeProcess:
        # 0600: a node's log sits in its data folder and is nobody else's to read.
        log = open(open_private_append(self.log_path), "ab")  # noqa: SIM115 - the child owns it for its lifetime
        # cwd: the node's own folder, so no stray .env of the caller's is read.
        self.proc = subprocess.Popen([sys.executable, "-m", "kanim", *self.args], env=self.env, stdout=log,
                                     stderr=subprocess.STDOUT, start_new_session=True, cwd=self.log_path.parent)
        log.close()
        if self.url:
            self.wait_healthy(wait)
        return self

    def wait_healthy(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc and self.proc.poll() is not None:
                raise RuntimeError(f"{self.name} exited with {self.proc.returncode}:\n{self.tail()}")
            try:
                if httpx.get(f"{self.url}/api/v1/health", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise RuntimeError(f"{self.name} did not answer within {timeout}s:\n{self.tail()}")

    def kill(self) -> None:
        """SIGKILL: the process gets no chance to finish anything (a crash, a power cut)."""
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=10)

    def stop(self, timeout: float = 10.0) -> None:
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.kill()

    @property
    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except FileNotFoundError:
            return "(no log)"


def node_env(settings: dict[str, str]) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("KANIM_")}
    env.update({f"KANIM_{k.upper()}": str(v) for k, v in settings.items()})
    return env


@dataclass
class CentralSpec:
    data_dir: Path
    port: int
    database_url: str | None = None
    treasury: str = "trusting"
    extra: dict[str, str] = field(default_factory=dict)  # more KANIM_* settings of the central
    host: str = "127.0.0.1"

    @property
    def url(self) -> str:
        return f"http://{connect_host(self.host)}:{self.port}"

    def settings(self) -> dict[str, str]:
        # Everything explicit: provisioning (in this process) and the node (a child) must use the
        # same database whatever KANIM_* variables the caller has set.
        return {"role": "central", "data_dir": str(self.data_dir), "central_treasury": self.treasury,
                "database_url": self.database_url or f"sqlite:///{self.data_dir.resolve() / 'kanim.db'}",
                "key_file": str(self.data_dir / "keys" / "biometric.key"), **self.extra}

    def process(self) -> NodeProcess:
        return NodeProcess("central", ["serve", "--role", "central", "--host", self.host, "--port", str(self.port)],
                           node_env(self.settings()), self.data_dir / "central.log", url=self.url)


@dataclass
class OfficeSpec:
    code: str
    data_dir: Path
    port: int
    central_url: str
    central_public_key: str = ""
    extra: dict[str, str] = field(default_factory=dict)
    host: str = "127.0.0.1"

    @property
    def url(self) -> str:
        return f"http://{connect_host(self.host)}:{self.port}"

    def settings(self) -> dict[str, str]:
        return {"role": "office", "data_dir": str(self.data_dir), "office_code": self.code,
                "database_url": f"sqlite:///{self.data_dir.resolve() / 'kanim.db'}",
                "key_file": str(self.data_dir / "keys" / "biometric.key"),
                "office_name": f"Kantor Imigrasi {self.code}", "central": "http", "central_url": self.central_url,
                "central_public_key": self.central_public_key, "link_interval": "0.5",
                # Drills and benches print electronic passports without a Document Signer (blank
                # chips, said so) unless the caller sets chip_required in `extra`.
                "chip_required": "false", **self.extra}

    def process(self, *, relay: bool = True) -> NodeProcess:
        args = ["serve", "--host", self.host, "--port", str(self.port)] + ([] if relay else ["--no-relay"])
        return NodeProcess(f"office {self.code}", args, node_env(self.settings()),
                           self.data_dir / "office.log", url=self.url)

    def worker(self) -> NodeProcess:
        return NodeProcess(f"relay {self.code}", ["worker"], node_env(self.settings()),
                           self.data_dir / "worker.log")

    def office_settings(self) -> Settings:
        return Settings(**{k: v for k, v in self.settings().items() if v != ""})


CENTRAL_ROLES = ("admin", "supervisor", "watchlist")  # the staff accounts a central gets


def office_roles() -> list[str]:
    from kanim.security.roles import Role

    return [r.value for r in Role if r is not Role.WATCHLIST]  # watch-list staff work at the central


def provision(central: CentralSpec, offices: list[OfficeSpec], *, booklets_per_office: int = 1000,
              staff_password: str = "drill-password", password_for: Callable[[str], str] | None = None) -> None:
    """Prepare databases and keys before any process starts: the central knows each office's
    public key, each office knows the central's, booklets are allocated and received, and every
    node has one staff account per role of its kind (username = role, password =
    `password_for(role)`, else `staff_password`). Civil-registry records are the caller's to load
    (`load_civil_registry`): without them the central rightly flags every NIK."""
    from kanim.bootstrap import bootstrap
    from kanim.central.node import bootstrap_central
    from kanim.central.service import allocate_booklets, register_office
    from kanim.protocol.signing import load_or_create_key, public_b64
    from kanim.office import accounts, printing
    from kanim.store.migrate import upgrade

    password = password_for or (lambda _role: staff_password)
    node = bootstrap_central(Settings(**central.settings()))
    upgrade(node.engine)
    for role in CENTRAL_ROLES:
        _add_user(accounts, node, role, password(role))
    central_key = public_b64(node.signing_key)
    for i, spec in enumerate(offices):
        spec.central_public_key = central_key
        key = load_or_create_key(spec.office_settings().office_key_path)
        register_office(node, code=spec.code, name=f"Kantor Imigrasi {spec.code}", public_key=public_b64(key),
                        actor="provision")
        first, last = f"X{1_000_001 + i * 100_000}", f"X{1_000_000 + i * 100_000 + booklets_per_office}"
        allocate_booklets(node, office_code=spec.code, first=first, last=last, actor="provision")
        office = bootstrap(spec.office_settings(), central=None)
        upgrade(office.engine)
        for role in office_roles():
            _add_user(accounts, office, role, password(role))
        printing.receive_booklets(office, first=first, last=last, actor="provision")
        office.engine.dispose()
    node.engine.dispose()


def _add_user(accounts, node, username: str, password: str) -> None:  # noqa: ANN001
    from kanim.domain.errors import Conflict

    try:
        accounts.add_user(node, username=username, full_name=username, role=username, password=password,
                          actor="provision")
    except Conflict:
        pass


# -- running nodes from a command ---------------------------------------------------------------

@contextlib.contextmanager
def isolated(root: Path) -> Iterator[None]:
    """Nothing of the caller's configuration may leak into nodes a command provisions: the
    in-process Settings read KANIM_* variables and ./.env, and the nodes inherit our working
    directory (and would read its .env). Without this, a KANIM_DATABASE_URL in the caller's
    environment would have the accounts written into that database."""
    saved = {k: v for k, v in os.environ.items() if k.startswith("KANIM_")}
    cwd = os.getcwd()
    for k in saved:
        del os.environ[k]
    os.chdir(root)
    try:
        yield
    finally:
        os.chdir(cwd)
        os.environ.update(saved)


@contextlib.contextmanager
def sigterm_as_interrupt() -> Iterator[None]:
    """SIGTERM (a CI timeout, `kill`) unwinds like Ctrl-C, so the nodes are stopped."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def interrupt(*_: Any) -> None:
        raise KeyboardInterrupt

    old = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, old)
