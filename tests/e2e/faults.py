"""Support for the link fault tests (tests/e2e/test_link_faults.py): real `kanim` processes, a
TCP proxy the test controls, staff desks over HTTP, and the exactly-once checks.

- `TcpProxy`: listens on a free 127.0.0.1 port and forwards to the central. `cut()` drops every
  open connection (RST) and refuses new ones (the listening socket is closed: ECONNREFUSED);
  `resume()` listens again on the same port. `hold(PUSH)` keeps connections open but stops
  passing back the central's answers to pushed batches (the central has applied a batch, the
  office has not heard): with `cut()` or a SIGKILL of the relay, that is the crash window the
  link must survive.
- `Cluster`: a central on its own PostgreSQL schema and offices on SQLite in a tmp dir,
  provisioned with `kanim.ops.cluster.provision` (keys, registration, booklets, staff accounts),
  plus a civil-registry extract for the applicants the tests create, so clean applicants get
  every clearance confirmed.
- `Desks`: one office's staff, logged in over HTTP, walking applications through the desks.
- `Cluster.assert_exactly_once`: the checks every test ends with.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import socket
import sqlite3
import struct
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import create_engine, text
from sqlalchemy.engine import Engine

from kanim.ops.cluster import CentralSpec, NodeProcess, OfficeSpec, free_port, node_env, provision

PG_URL = os.environ.get("KANIM_TEST_POSTGRES_URL")
NO_PG = ("KANIM_TEST_POSTGRES_URL is not set: the link fault tests run the central hub on a real "
         "PostgreSQL (CI sets postgresql+psycopg://postgres@127.0.0.1:5432/test)")
PASSWORD = "drill-password"  # what provision() gives every staff account
API = "/api/v1"
ALL_CLEARANCES = ("nik_verified", "watchlist_clear", "not_duplicate", "payment_confirmed", "recorded_centrally")
INTAKE_CLEARANCES = ("nik_verified", "watchlist_clear", "not_duplicate", "recorded_centrally")
# The desks an application passes from walk-in to quality check (the supervisor also watches the link).
DESK_ROLES = ("front_desk", "cashier", "biometric_operator", "interviewer", "supervisor", "print_operator")
PDF_SCAN = b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n"


class Timeout(AssertionError):
    pass


def wait_for(what: str, probe: Callable[[], Any], *, timeout: float, every: float = 0.1,
             logs: Callable[[], str] | None = None) -> Any:
    """Poll `probe` until it returns something truthy; fail after `timeout` s with `what`, the
    last value seen and (when given) the nodes' logs."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while True:
        last = probe()
        if last:
            return last
        if time.monotonic() > deadline:
            raise Timeout(f"timed out after {timeout:.0f} s waiting for {what}; last: {last!r}"
                          + (f"\n{logs()}" if logs else ""))
        time.sleep(every)


# -- the TCP proxy -----------------------------------------------------------------------------

PUSH = b"POST /api/v1/link/operations"  # the relay's request that carries a batch
METHODS = {b"GET", b"POST", b"PUT", b"DELETE", b"PATCH", b"HEAD", b"OPTIONS"}


class TcpProxy:
    """A TCP forwarder in its own thread (asyncio) that the test can cut and resume. Given more
    than one upstream it is a round-robin load balancer: each new connection goes to the next
    upstream that accepts it (one that refuses is skipped, as a load balancer's health check
    would take it out)."""

    def __init__(self, upstream_port: int, *more_upstreams: int, host: str = "127.0.0.1") -> None:
        self.host, self.upstreams = host, [upstream_port, *more_upstreams]
        self.port = free_port()
        self.connections = 0  # accepted and forwarded, in total
        self.by_upstream: Counter[int] = Counter()  # connections forwarded to each upstream port
        self._next = 0
        self.cuts = 0
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="tcp-proxy", daemon=True)
        self._server: asyncio.base_events.Server | None = None
        self._tasks: set[asyncio.Task] = set()
        self._transports: set[asyncio.Transport] = set()
        self._flowing: asyncio.Event | None = None
        self._held: bytes = b""  # answers to requests starting with this are held while not flowing

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self) -> TcpProxy:
        self._thread.start()
        self._call(self._init)
        self._call(self._listen)
        return self

    def cut(self) -> None:
        """Drop every connection (RST) and refuse new ones until `resume()`."""
        self._call(self._cut)

    def resume(self) -> None:
        """Listen again, and pass answers through again if they were held."""
        self._call(self._resume)

    def hold(self, requests: bytes = b"") -> None:
        """Keep forwarding requests to the central but hold back its answers to those whose
        request line starts with `requests` (all when empty), e.g. PUSH: the relay's pulls go on."""
        self._held = requests
        self._call(self._hold)

    def release(self) -> None:
        self._call(self._release)

    @property
    def listening(self) -> bool:
        return self._server is not None

    def close(self) -> None:
        if self._thread.is_alive():
            try:
                self._call(self._cut)
            finally:
                self._loop.call_soon_threadsafe(self._loop.stop)
                self._thread.join(timeout=5)

    # - inside the loop -

    def _call(self, coro_fn: Callable[[], Any]) -> Any:
        return asyncio.run_coroutine_threadsafe(coro_fn(), self._loop).result(timeout=10)

    async def _init(self) -> None:
        self._flowing = asyncio.Event()
        self._flowing.set()

    async def _listen(self) -> None:
        self._server = await asyncio.start_server(self._handle, self.host, self.port, reuse_address=True)

    async def _cut(self) -> None:
        self.cuts += 1
        if self._server is not None:
            self._server.close()
            self._server = None
        for tr in list(self._transports):
            sock = tr.get_extra_info("socket")
            if sock is not None:  # SO_LINGER 0: the peer sees a reset, not an orderly close
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            tr.abort()
        for task in list(self._tasks):
            task.cancel()
        self._transports.clear()

    async def _hold(self) -> None:
        self._flowing.clear()  # type: ignore[union-attr]

    async def _release(self) -> None:
        self._flowing.set()  # type: ignore[union-attr]

    async def _resume(self) -> None:
        self._flowing.set()  # type: ignore[union-attr]
        if self._server is None:
            await self._listen()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        self._transports.add(writer.transport)  # type: ignore[arg-type]
        up_writer = None
        try:
            opened = await self._open_upstream()
            if opened is None:
                writer.transport.abort()  # the central is down: so is the connection
                return
            up_reader, up_writer = opened
            self._transports.add(up_writer.transport)  # type: ignore[arg-type]
            self.connections += 1
            request = [b""]  # the request line of the request in progress on this connection
            await asyncio.gather(self._pipe(reader, up_writer, request, answers=False),
                                 self._pipe(up_reader, writer, request, answers=True))
        except (asyncio.CancelledError, ConnectionError, OSError):
            pass
        finally:
            for w in (writer, up_writer):
                if w is not None:
                    self._transports.discard(w.transport)  # type: ignore[arg-type]
                    w.transport.abort()
            self._tasks.discard(task)

    async def _open_upstream(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter] | None:
        for _ in range(len(self.upstreams)):
            port = self.upstreams[self._next % len(self.upstreams)]
            self._next += 1
            try:
                opened = await asyncio.open_connection(self.host, port)
            except OSError:
                continue
            self.by_upstream[port] += 1
            return opened
        return None

    async def _pipe(self, src: asyncio.StreamReader, dst: asyncio.StreamWriter, request: list[bytes], *,
                    answers: bool) -> None:
        while data := await src.read(65536):
            if not answers and data[:8].split(b" ")[0] in METHODS:
                request[0] = data.split(b"\r\n", 1)[0]  # a new request (not more of a body)
            if answers and request[0].startswith(self._held):
                await self._flowing.wait()  # type: ignore[union-attr]
            dst.write(data)
            await dst.drain()
        dst.transport.abort()  # one side closed: close both (HTTP/1.1 needs no half-close)


# -- people the central's civil registry knows -------------------------------------------------

@dataclass(frozen=True)
class Person:
    full_name: str
    nik: str
    birth_date: date
    sex: str
    kk_number: str

    def applicant(self) -> dict:
        return {"full_name": self.full_name, "nik": self.nik, "birth_date": self.birth_date.isoformat(),
                "sex": self.sex, "birth_place": "Manado", "kk_number": self.kk_number}


def _letters(n: int) -> str:
    s = ""
    while True:
        n, r = divmod(n, 26)
        s = chr(ord("A") + r) + s
        if n == 0:
            return s


def people(n: int, *, start: int = 1) -> list[Person]:
    """Adults whose NIK agrees with sex and birth date (women: day + 40), unique per number."""
    out = []
    for i in range(start, start + n):
        sex = "F" if i % 2 else "M"
        born = date(1980 + i % 20, 1 + i % 12, 1 + i % 27)
        day = born.day + (40 if sex == "F" else 0)
        out.append(Person(f"Siti Rahmawati {_letters(i)}" if sex == "F" else f"Budi Santoso {_letters(i)}",
                          f"717101{day:02d}{born:%m%y}{i:04d}", born, sex, f"71710112{i:08d}"))
    return out


# -- one office's staff ------------------------------------------------------------------------

class Desks:
    """Staff of one office node, each logged in with POST /auth/token."""

    def __init__(self, base_url: str, logs: Callable[[], str]) -> None:
        self.base_url = base_url
        self.logs = logs
        self._clients: dict[str, httpx.Client] = {}
        from kanim.seed import face_photo

        self._face = face_photo()  # the real passport photo that ships with kanim

    def log_in(self, roles: Iterable[str] = DESK_ROLES) -> Desks:
        """Log these desks in together (each login costs the server an Argon2 check); any other
        role logs in on first use."""
        roles = [r for r in roles if r not in self._clients]

        def token(role: str) -> str:
            r = httpx.post(f"{self.base_url}{API}/auth/token", json={"username": role, "password": PASSWORD},
                           timeout=60)
            assert r.status_code == 200, f"login as {role}: {r.status_code} {r.text}\n{self.logs()}"
            return r.json()["access_token"]

        with ThreadPoolExecutor(max(1, len(roles))) as pool:
            for role, tok in zip(roles, pool.map(token, roles), strict=True):
                self._clients[role] = httpx.Client(base_url=f"{self.base_url}{API}", timeout=60,
                                                   headers={"Authorization": f"Bearer {tok}"})
        return self

    def __getitem__(self, role: str) -> httpx.Client:
        if role not in self._clients:
            self.log_in([role])
        return self._clients[role]

    def close(self) -> None:
        for c in self._clients.values():
            c.close()
        self._clients.clear()

    def ok(self, r: httpx.Response, status: int = 200) -> Any:
        assert r.status_code == status, (f"{r.request.method} {r.request.url.path}: expected {status}, got "
                                         f"{r.status_code}: {r.text[:1500]}\n{self.logs()}")
        return r.json() if r.headers.get("content-type", "").startswith("application/json") else r

    # - the desks -

    def walk_in(self, who: Person) -> dict:
        return self.ok(self["front_desk"].post("/walk-ins", json=who.applicant()), 201)

    def intake(self, app_id: str) -> dict:
        fd = self["front_desk"]
        for kind in ("ktp", "kk", "birth_certificate"):
            self.ok(fd.put(f"/applications/{app_id}/documents/{kind}",
                           files={"file": (f"{kind}.pdf", PDF_SCAN, "application/pdf")}), 201)
        return self.ok(fd.post(f"/applications/{app_id}/intake", json={}))

    def pay(self, app_id: str) -> dict:
        bill = self.ok(self["cashier"].post(f"/applications/{app_id}/billing"), 201)
        return self.ok(self["cashier"].post("/payments", json={"billing_code": bill["billing_code"],
                                                                "receipt_ref": f"BANK-{app_id[:8]}"}))

    def capture(self, app_id: str) -> dict:
        bio = self["biometric_operator"]
        self.ok(bio.put(f"/applications/{app_id}/photo", files={"file": ("face.jpg", self._face, "image/jpeg")}), 201)
        for pos in range(1, 11):  # fingers by exception: the fingerprint checks have their own tests
            self.ok(bio.post(f"/applications/{app_id}/fingerprints/{pos}/exception",
                             json={"exception": "unreadable"}), 201)
        return self.ok(bio.post(f"/applications/{app_id}/capture"))

    def interview(self, app_id: str) -> dict:
        return self.ok(self["interviewer"].post(f"/applications/{app_id}/interview",
                                                json={"notes": "Purpose: family visit. Documents consistent."}))

    def approve(self, app_id: str) -> dict:
        return self.ok(self["supervisor"].post(f"/applications/{app_id}/approve"))

    def print(self, app_id: str, serial: str | None = None) -> dict:
        return self.ok(self["print_operator"].post(f"/applications/{app_id}/print", json={"serial": serial}))

    def quality_check(self, app_id: str) -> dict:
        return self.ok(self["print_operator"].post(f"/applications/{app_id}/quality-check", json={"passed": True}))

    def through_intake(self, who: Person) -> dict:
        app = self.walk_in(who)
        return self.intake(app["id"])

    def through_qc(self, who: Person, *, serial: str | None = None) -> dict:
        """A walk-in taken through every desk up to a passed quality check."""
        app = self.through_intake(who)
        for step in (self.pay, self.capture, self.interview, self.approve):
            step(app["id"])
        self.print(app["id"], serial)
        return self.quality_check(app["id"])

    def handover(self, app: dict) -> httpx.Response:
        return self["pickup_desk"].post(f"/applications/{app['id']}/handover", json={
            "recipient_kind": "holder", "recipient_name": app["full_name"], "id_checked": "KTP",
            "id_nik": app["nik"]})

    # - what staff see -

    def application(self, app_id: str) -> dict:
        return self.ok(self["front_desk"].get(f"/applications/{app_id}"))

    def link_status(self) -> dict:
        return self.ok(self["supervisor"].get("/link/status"))

    def incidents(self) -> list[dict]:
        return self.ok(self["supervisor"].get("/link/incidents"))

    def dead_letters(self) -> list[dict]:
        return self.ok(self["supervisor"].get("/link/dead-letters"))


# -- the cluster -------------------------------------------------------------------------------

_HASHES: dict[str, str] = {}


@contextmanager
def _one_password_hash() -> Iterator[None]:
    """provision() gives every account on every node the same password and hashes it each time:
    a dozen Argon2id hashes (~0.6 s each on a busy 2-core runner) per cluster. Hash it once per
    test session instead; the hash is the same kind (argon2id, default parameters, so no rehash
    at login) and every login still verifies it for real."""
    from kanim.office import accounts

    real = accounts.hash_password

    def once(password: str) -> str:
        if password not in _HASHES:
            _HASHES[password] = real(password)
        return _HASHES[password]

    accounts.hash_password = once
    try:
        yield
    finally:
        accounts.hash_password = real


@dataclass
class Office:
    spec: OfficeSpec
    server: NodeProcess | None = None  # made by Cluster.provision(): the spec then holds the central's key
    worker: NodeProcess | None = None
    desks: Desks | None = None

    @property
    def code(self) -> str:
        return self.spec.code

    @property
    def db_path(self) -> Path:
        return self.spec.data_dir / "kanim.db"

    @property
    def database_url(self) -> str:
        return self.spec.settings()["database_url"]

    def sql(self, query: str, *params: Any) -> list[tuple]:
        """Read the office's database directly: its SQLite file read-only (WAL lets us read
        beside the server), or its PostgreSQL schema."""
        if self.database_url.startswith("postgresql"):
            engine = create_engine(self.database_url, pool_size=1)
            try:
                with engine.connect() as conn:
                    return [tuple(r) for r in conn.exec_driver_sql(query, params)]
            finally:
                engine.dispose()
        con = sqlite3.connect(f"file:{self.db_path}?mode=ro", uri=True, timeout=30)
        try:
            return con.execute(query, params).fetchall()
        finally:
            con.close()

    def inject(self, rows: list[dict[str, Any]]) -> None:
        """Write outbox rows into the running office's database, as a bug or a hand edit
        would: each dict gives subject, op, payload (and optionally priority)."""
        from datetime import UTC, datetime

        from kanim.store import tables as t
        from kanim.store.db import make_engine

        engine = make_engine(self.database_url)
        now = datetime.now(UTC)
        try:
            with engine.begin() as conn:
                conn.execute(t.outbox.insert(), [dict(id=str(uuid.uuid4()), subject=r["subject"], op=r["op"],
                                                      payload=r["payload"], priority=r.get("priority", 0),
                                                      created_at=now, queued_at=now, status="pending", attempts=0)
                                                 for r in rows])
        finally:
            engine.dispose()

    def logs(self) -> str:
        return "\n".join(p.log_path.read_text(errors="replace") for p in (self.server, self.worker)
                         if p is not None and p.log_path.exists())

    def outbox(self) -> list[tuple]:
        """(seq, id, subject, op, status, last_error) in order of creation."""
        return self.sql("SELECT seq, id, subject, op, status, last_error FROM outbox ORDER BY seq")


@dataclass
class Cluster:
    """One central on a fresh PostgreSQL schema and offices on SQLite, as real processes."""

    root: Path
    office_codes: tuple[str, ...] = ("MND",)
    office_extra: dict[str, str] = field(default_factory=dict)
    civil_registry: list[Person] = field(default_factory=list)
    proxied: bool = False  # the offices reach the central through a TcpProxy
    central_extra: dict[str, str] = field(default_factory=dict)  # more KANIM_* settings of the central
    pg_offices: bool = False  # the offices on PostgreSQL too (a schema each), not SQLite
    # Ports of more central hosts on the same database: the offices then reach all of them
    # through a round-robin TcpProxy (the test starts those hosts: `central_host`).
    more_central_ports: tuple[int, ...] = ()

    def __post_init__(self) -> None:
        assert PG_URL, NO_PG
        self.schema = f"lf_{uuid.uuid4().hex[:12]}"
        self.database_url = self.schema_url(self.schema)
        self.central_spec = CentralSpec(self.root / "central", free_port(), self.database_url,
                                        extra=dict(self.central_extra))
        self.central = self.central_spec.process()
        balanced = self.proxied or bool(self.more_central_ports)
        self.proxy = TcpProxy(self.central_spec.port, *self.more_central_ports).start() if balanced else None
        central_url = self.proxy.url if self.proxy else self.central_spec.url
        self.offices: dict[str, Office] = {}
        for code in self.office_codes:
            extra = {"link_interval": "0.3", **self.office_extra}
            if self.pg_offices:
                extra["database_url"] = self.schema_url(f"{self.schema}_{code.lower()}")
            spec = OfficeSpec(code, self.root / code.lower(), free_port(), central_url, extra=extra)
            self.offices[code] = Office(spec)
        self._engine: Engine | None = None
        self._processes: list[NodeProcess] = []

    # - setup and teardown -

    def provision(self, *, extra_booklets: dict[str, tuple[str, str]] | None = None) -> Cluster:
        """`kanim.ops.cluster.provision` on a fresh schema, then the civil-registry extract.
        `extra_booklets` {office: (first, last)}: a delivery the office receives before it ever
        hears from the central (so before it knows its allocations), e.g. one the central never
        allocated to it."""
        admin = create_engine(PG_URL)
        with admin.begin() as conn:
            for schema in self.schemas():
                conn.execute(text(f'CREATE SCHEMA "{schema}"'))
        admin.dispose()
        specs = [o.spec for o in self.offices.values()]
        with _one_password_hash():
            provision(self.central_spec, specs, booklets_per_office=50, staff_password=PASSWORD)
        for o in self.offices.values():
            o.server = o.spec.process()  # after provision(): the spec now holds the central's key
            o.worker = o.spec.worker()
        if self.civil_registry:
            self._load_civil_registry(self.civil_registry)
        for code, (first, last) in (extra_booklets or {}).items():
            self._receive_booklets(self.offices[code].spec, first, last)
        return self

    @staticmethod
    def _receive_booklets(spec: OfficeSpec, first: str, last: str) -> None:
        from kanim.bootstrap import bootstrap
        from kanim.office.printing import receive_booklets

        office = bootstrap(spec.office_settings(), central=None)
        try:
            receive_booklets(office, first=first, last=last, actor="print_operator")
        finally:
            office.engine.dispose()

    def _load_civil_registry(self, persons: list[Person], node=None) -> None:  # noqa: ANN001
        """Load the people into the central's civil-registry extract (this cluster's central,
        or the given node)."""
        from kanim.central.node import bootstrap_central
        from kanim.central.service import load_civil_registry
        from kanim.config import Settings

        path = self.root / f"dukcapil-{uuid.uuid4().hex[:6]}.csv"
        path.write_text("nik,full_name,birth_date,sex\n" + "".join(
            f"{p.nik},{p.full_name},{p.birth_date.isoformat()},{p.sex}\n" for p in persons))
        mine = node is None
        node = node or bootstrap_central(Settings(**self.central_spec.settings()))
        try:
            load_civil_registry(node, path)
        finally:
            if mine:
                node.engine.dispose()

    def close(self) -> None:
        """Kill every process this cluster started, stop the proxy, drop the schema."""
        for o in self.offices.values():
            if o.desks:
                o.desks.close()
        for p in self._processes:
            try:
                p.kill()
            except Exception:  # noqa: BLE001 - teardown goes on
                pass
        if self.proxy:
            self.proxy.close()
        if self._engine is not None:
            self._engine.dispose()
        admin = create_engine(PG_URL)
        try:
            with admin.begin() as conn:
                for schema in self.schemas():
                    conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        finally:
            admin.dispose()

    @staticmethod
    def schema_url(schema: str) -> str:
        sep = "&" if "?" in PG_URL else "?"
        return f"{PG_URL}{sep}options=-csearch_path%3D{schema}"

    def schemas(self) -> list[str]:
        return [self.schema] + ([f"{self.schema}_{c.lower()}" for c in self.office_codes] if self.pg_offices else [])

    # - processes -

    def start(self, *procs: NodeProcess, wait: float = 60.0) -> None:
        """Start processes together (their start-up is mostly imports: it overlaps well) and
        wait until each answers its health check (a worker has none: until it runs)."""
        for p in procs:
            if p not in self._processes:
                self._processes.append(p)

        def one(p: NodeProcess) -> None:
            try:
                p.start(wait=wait)
            except RuntimeError as e:
                raise AssertionError(f"{p.name} did not start: {e}") from None

        with ThreadPoolExecutor(len(procs)) as pool:
            for f in [pool.submit(one, p) for p in procs]:
                f.result()

    def start_central(self) -> None:
        self.start(self.central)

    def central_host(self, port: int, *, workers: int = 1) -> NodeProcess:
        """Another `kanim serve --role central` of this cluster (same database, keys and data
        folder, its own port and log): one more host behind the load balancer."""
        args = ["serve", "--role", "central", "--host", self.central_spec.host, "--port", str(port)]
        return NodeProcess(f"central :{port}", args + (["--workers", str(workers)] if workers > 1 else []),
                           node_env(self.central_spec.settings()), self.central_spec.data_dir / f"central-{port}.log",
                           url=f"http://127.0.0.1:{port}")

    def start_office(self, code: str = "MND", *, relay: bool = True, worker: bool = False,
                     central: bool = False) -> Office:
        """Start office `code` (its relay in the server, or none), with its `kanim worker` and
        the central at the same time when asked; its desks log in."""
        o = self.offices[code]
        assert o.server is not None and o.worker is not None, "provision() first"
        if not relay:
            o.server = o.spec.process(relay=False)
        self.start(*[o.server] + ([o.worker] if worker else []) + ([self.central] if central else []))
        if o.desks is None:
            o.desks = Desks(o.spec.url, self.logs).log_in()
        return o

    def start_worker(self, code: str = "MND") -> None:
        o = self.offices[code]
        assert o.worker is not None
        self.start(o.worker)

    def logs(self) -> str:
        parts = [f"--- {self.central.name} (last lines) ---\n{self.central.tail(25)}"]
        for o in self.offices.values():
            for p in (o.server, o.worker):
                if p is not None and p.log_path.exists():
                    parts.append(f"--- {p.name} (last lines) ---\n{p.tail(25)}")
        return "\n".join(parts)

    def wait_for(self, what: str, probe: Callable[[], Any], *, timeout: float = 30.0, every: float = 0.1) -> Any:
        return wait_for(what, probe, timeout=timeout, every=every, logs=self.logs)

    # - the central's database -

    @property
    def engine(self) -> Engine:
        if self._engine is None:
            self._engine = create_engine(self.database_url, pool_size=2)
        return self._engine

    def central_sql(self, query: str, **params: Any) -> list[tuple]:
        with self.engine.connect() as conn:
            return [tuple(r) for r in conn.execute(text(query), params)]

    def central_stage(self, app_id: str) -> str | None:
        rows = self.central_sql("SELECT stage FROM registry_application WHERE id = :id", id=app_id)
        return rows[0][0] if rows else None

    # - the checks every test ends with -

    def wait_ready(self, office: Office, app_ids: Iterable[str], *, timeout: float = 60.0) -> list[dict]:
        """After an outage the relay may be in its longest backoff (full jitter up to
        kanim/link/breaker.py Breaker.max_delay): the waits after recovery allow for it."""
        assert office.desks is not None
        ids = list(app_ids)

        def probe() -> list[dict] | None:
            apps = [office.desks.application(i) for i in ids]
            return apps if all(a["stage"] == "ready" for a in apps) else None

        try:
            return self.wait_for(f"{len(ids)} passports of {office.code} to become ready", probe, timeout=timeout,
                                 every=0.25)
        except Timeout as e:
            apps = [office.desks.application(i) for i in ids]
            raise Timeout(f"{e}\nstages/clearances: {[(a['number'], a['stage'], a['clearances']) for a in apps]}"
                          f"\nlink: {office.desks.link_status()}") from None

    def wait_drained(self, office: Office, *, timeout: float = 60.0) -> dict:
        assert office.desks is not None
        return self.wait_for(f"the outbox of {office.code} to drain (queue_depth 0)",
                             lambda: (s := office.desks.link_status())["queue_depth"] == 0 and s, timeout=timeout,
                             every=0.2)

    def assert_exactly_once(self, office: Office, *, expect_dead: int = 0) -> None:
        """The central holds every operation the office sent, each once, and applied it once;
        every application once; nothing is stuck in the office's outbox: a row is pending only
        when it is held back behind a dead letter of its own application (`expect_dead` of them)."""
        rows = office.outbox()
        sent = [r for r in rows if r[4] == "sent"]
        dead = [r for r in rows if r[4] == "dead"]
        first_dead = {}
        for r in dead:
            first_dead.setdefault(r[2], r[0])
        held = [r for r in rows if r[4] == "pending" and r[2] in first_dead and r[0] > first_dead[r[2]]]
        stuck = [r for r in rows if r[4] not in ("sent", "dead") and r not in held]
        assert not stuck, f"outbox rows still pending at {office.code}: {stuck[:10]}\n{self.logs()}"
        assert len(dead) == expect_dead, f"dead letters at {office.code}: {dead}"

        ops = self.central_sql("SELECT id, subject, op, ok, office_seq FROM central_operation WHERE office_code = :c",
                               c=office.code)
        ids = [o[0] for o in ops]
        assert len(ids) == len(set(ids))  # the primary key; said for the reader
        by_id = {o[0]: o for o in ops}
        missing = [r for r in sent + dead if r[1] not in by_id]
        assert not missing, f"operations marked sent at the office but unknown to the central: {missing[:10]}"
        held_ids = {r[1] for r in held}
        early = [o for o in ops if o[0] in held_ids]
        assert not early, f"operations held back behind a dead letter reached the central: {early}"
        unknown = [o for o in ops if o[0] not in {r[1] for r in rows}]
        assert not unknown, f"operations at the central that the office never wrote: {unknown[:10]}"
        assert len(ops) == len(sent) + len(dead), (len(ops), len(sent), len(dead))
        not_ok = [o for o in ops if not o[3] and o[0] not in {r[1] for r in dead}]
        assert not not_ok, f"operations the central refused but the office did not park: {not_ok}"
        for r in sent + dead:  # the central recorded the office's own sequence number for each
            assert by_id[r[1]][4] == r[0] and by_id[r[1]][2] == r[3], (r, by_id[r[1]])

        apps = [r[0] for r in office.sql("SELECT id FROM application")]
        reg = self.central_sql("SELECT id, count(*) FROM registry_application WHERE office_code = :c GROUP BY id",
                               c=office.code)
        assert sorted(a for a, _ in reg) == sorted(apps), (sorted(a for a, _ in reg), sorted(apps))
        assert all(n == 1 for _, n in reg)
        # Applying an operation twice would decide its clearances twice: one decision per kind.
        twice = self.central_sql(
            "SELECT subject, payload->>'kind', count(*) FROM central_event WHERE kind = 'clearance' "
            "AND office_code = :c GROUP BY subject, payload->>'kind' HAVING count(*) > 1", c=office.code)
        assert not twice, f"clearances decided more than once at the central: {twice}"
        payments = self.central_sql("SELECT application_id, count(*) FROM central_payment WHERE office_code = :c "
                                    "GROUP BY application_id HAVING count(*) > 1", c=office.code)
        assert not payments, payments
        # And the office applied each central event once.
        applied = office.sql("SELECT count(*), count(DISTINCT id) FROM inbox_event")[0]
        assert applied[0] == applied[1], applied

    def assert_confirmed(self, office: Office, apps: Iterable[dict], kinds: tuple[str, ...] = ALL_CLEARANCES) -> None:
        assert office.desks is not None
        for a in apps:
            got = office.desks.application(a["id"])
            assert all(got["clearances"][k] == "confirmed" for k in kinds), (got["number"], got["clearances"])


# -- signed requests as an office would send them ----------------------------------------------

def office_key(spec: OfficeSpec):  # noqa: ANN201
    from kanim.protocol.signing import load_or_create_key

    return load_or_create_key(spec.office_settings().office_key_path)


def signed_push(central_url: str, office_code: str, key, operations: list[dict], *,  # noqa: ANN001
                tamper: Callable[[dict[str, str], bytes], tuple[dict[str, str], bytes]] | None = None,
                at: float | None = None) -> httpx.Response:
    """POST /api/v1/link/operations signed with `key` as `office_code` at `at` (default now), as
    kanim.link.http sends it; `tamper` may change headers and body after signing."""
    from kanim.protocol.signing import sign_request

    path = f"{API}/link/operations"
    body = json.dumps({"operations": operations}, separators=(",", ":")).encode()
    headers = sign_request(key, office_code, "POST", path, body, time.time() if at is None else at)
    headers["content-type"] = "application/json"
    if tamper:
        headers, body = tamper(headers, body)
    return httpx.post(f"{central_url}{path}", content=body, headers=headers, timeout=10)


def operation(subject: str, op: str, payload: dict | None = None, *, seq: int = 1) -> dict:
    """An operation as an office's relay sends it: the payload carries what kanim.store.uow
    writes with every outbox row (subject, at, actor) and the event's own fields."""
    base = {"subject": subject, "at": datetime.now(UTC).isoformat(), "actor": "test"}
    return {"id": str(uuid.uuid4()), "seq": seq, "subject": subject, "op": op, "payload": {**base, **(payload or {})}}



def flip_signature(headers: dict[str, str], body: bytes) -> tuple[dict[str, str], bytes]:
    sig = bytearray(base64.b64decode(headers["X-Kanim-Signature"]))
    sig[0] ^= 0x01
    return {**headers, "X-Kanim-Signature": base64.b64encode(bytes(sig)).decode()}, body
