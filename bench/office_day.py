#!/usr/bin/env python
"""A busy office's day: N applications through every desk, over HTTP, against a running kanim
server (or one this script starts and stops itself).

    python bench/office_day.py                                   # own server in a temp dir
    python bench/office_day.py --url http://127.0.0.1:8000       # a server already running
    python bench/office_day.py --applications 400 --concurrency 8 --json result.json

Each application goes, as staff would take it: book (front desk; families of 1-5 per booking,
spread over the slots of the next working day) -> check-in -> 3 document scans -> complete
intake -> billing -> payment (cashier) -> photo -> 10 fingerprints -> complete capture
(biometric operator) -> interview -> approve (supervisor) -> print -> QC pass (print operator)
-> wait until the server's link thread has had every clearance confirmed by the (simulated)
central and the passport is ready -> handover (pickup desk).

Before the day it measures a reference in the same run: GET /api/v1/health (the cheapest route
through the whole stack: HTTP, FastAPI, one SQLite transaction) and GET /api/v1/auth/me (the
same plus the bearer-token lookup) under the same concurrency. The day's HTTP calls per second
are then reported as a ratio of that raw ceiling.

Exit code: 0 when every application reached handed_over, 1 otherwise (or on setup failure).
With --url the server must run with KANIM_CENTRAL=simulated (or a real central), a daily
quota that leaves room for the day, and a Document Signer installed or KANIM_CHIP_REQUIRED=false
(a third of the applicants want electronic passports); the staff accounts `bench_<role>` are created through
`kanim.office.accounts.add_user` on this process's Settings() (KANIM_DATA_DIR/KANIM_DATABASE_URL
must then point at the server's database) unless they already exist.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import platform
import queue
import random
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import traceback
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from rich.console import Console
from rich.table import Table

try:
    import kanim
except ImportError:  # run from a checkout without `pip install -e .`
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    import kanim

KANIM_ROOT = Path(kanim.__file__).resolve().parent.parent  # the server runs this same kanim
SEED_DATA = KANIM_ROOT / "kanim" / "seed_data"
API = "/api/v1"
ROLES = ["front_desk", "cashier", "biometric_operator", "interviewer", "supervisor",
         "print_operator", "pickup_desk", "admin"]
DOCUMENT_KINDS = ["ktp", "kk", "birth_certificate"]  # an adult's new passport
FINGERS = range(1, 11)
# The desk calls, in the order an application meets them (the rows of the table).
CALLS = ["book", "check_in", "document", "intake", "billing", "payment", "photo", "fingerprint",
         "capture", "interview", "approve", "print", "qc", "handover"]
EXTRA_CALLS = ["ready_poll"]  # the pickup desk's look at the ready list (not a desk action)
REGIONS = ["717101", "317101", "357801", "327301", "517101", "127101", "737101", "510301"]
FIRST = ["Siti", "Budi", "Dewi", "Agus", "Putu", "Rina", "Hendra", "Andi", "Yohana", "Made",
         "Rizky", "Ayu", "Joko", "Sri", "Wayan", "Nur", "Fajar", "Indah", "Bayu", "Lestari"]
LAST = ["Rahmawati", "Santoso", "Lestari", "Salim", "Wulandari", "Pratama", "Manurung",
        "Pangerang", "Arsana", "Marlina", "Wijaya", "Sondakh", "Lumban Tobing", "Siregar",
        "Nasution", "Hutapea", "Tanjung", "Saputra", ""]
WATCHLISTED_NIK = "3171010101800099"  # in the snapshot; never generated (born 1980, serial 0099)

console = Console() if sys.stdout.isatty() else Console(width=130)  # a log keeps the table whole


# -- data ------------------------------------------------------------------------------------

@dataclass
class Applicant:
    full_name: str
    nik: str
    birth_date: date
    sex: str
    kk_number: str
    passport_kind: str

    def body(self) -> dict:
        return {"full_name": self.full_name, "nik": self.nik, "birth_date": self.birth_date.isoformat(),
                "sex": self.sex, "app_type": "new", "passport_kind": self.passport_kind,
                "birth_place": "Manado", "kk_number": self.kk_number}


def make_nik(region: str, born: date, sex: str, serial: int) -> str:
    """NIK = region (6) + DDMMYY (women: day + 40) + serial (4): see kanim/domain/nik.py."""
    day = born.day + (40 if sex == "F" else 0)
    return f"{region}{day:02d}{born.month:02d}{born.year % 100:02d}{serial:04d}"


def make_groups(n: int, rng: random.Random) -> list[list[Applicant]]:
    """n applicants in bookings of 1-5 (one online account books for a family)."""
    used: set[str] = {WATCHLISTED_NIK}
    groups: list[list[Applicant]] = []
    left = n
    while left:
        size = min(left, rng.randint(1, 5))
        region = rng.choice(REGIONS)
        kk = region + f"{rng.randrange(10**10):010d}"
        family = rng.choice(LAST)
        group = []
        for _ in range(size):
            sex = rng.choice("MF")
            while True:
                # adults only (17+), so the checklist is KTP + KK + birth certificate
                born = date(1950, 1, 1) + timedelta(days=rng.randrange(365 * 55))
                nik = make_nik(region, born, sex, rng.randint(1, 9999))
                if nik not in used:
                    used.add(nik)
                    break
            name = f"{rng.choice(FIRST)} {family}".strip() if family else rng.choice(FIRST)
            group.append(Applicant(name, nik, born, sex, kk, rng.choice(["ordinary", "electronic"])))
        groups.append(group)
        left -= size
    return groups


# -- measurements ----------------------------------------------------------------------------

class StepFailed(Exception):
    pass


@dataclass
class Recorder:
    latencies: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    errors: Counter = field(default_factory=Counter)
    error_samples: dict[str, list[str]] = field(default_factory=lambda: defaultdict(list))
    lock: threading.Lock = field(default_factory=threading.Lock)

    def ok(self, name: str, seconds: float) -> None:
        with self.lock:
            self.latencies[name].append(seconds)

    def error(self, name: str, message: str) -> None:
        with self.lock:
            self.errors[name] += 1
            if len(self.error_samples[name]) < 5:
                self.error_samples[name].append(message[:400])

    def calls(self, names: list[str] | None = None) -> int:
        with self.lock:
            keys = names if names is not None else list(self.latencies) + list(self.errors)
            return sum(len(self.latencies.get(k, [])) + self.errors.get(k, 0) for k in set(keys))


def pct(values: list[float], p: float) -> float:
    """Nearest-rank percentile (p in 0..100) of an unsorted list."""
    if not values:
        return float("nan")
    s = sorted(values)
    k = max(0, min(len(s) - 1, int(round(p / 100 * len(s) + 0.5)) - 1))
    return s[k]


def summary(values: list[float]) -> dict[str, float | int]:
    if not values:
        return {"n": 0}
    return {"n": len(values), "mean_ms": statistics.fmean(values) * 1000, "p50_ms": pct(values, 50) * 1000,
            "p95_ms": pct(values, 95) * 1000, "max_ms": max(values) * 1000}


# -- HTTP ------------------------------------------------------------------------------------

class Api:
    """Thread-local keep-alive clients, one token per role, every call timed and counted."""

    def __init__(self, url: str, rec: Recorder, timeout: float) -> None:
        self.url = url.rstrip("/")
        self.rec = rec
        self.timeout = timeout
        self.tokens: dict[str, str] = {}
        self._local = threading.local()
        self._clients: list[httpx.Client] = []
        self._lock = threading.Lock()

    def client(self) -> httpx.Client:
        c = getattr(self._local, "client", None)
        if c is None:
            c = httpx.Client(base_url=self.url, timeout=self.timeout)
            self._local.client = c
            with self._lock:
                self._clients.append(c)
        return c

    def close(self) -> None:
        for c in self._clients:
            c.close()

    def headers(self, role: str | None) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[role]}"} if role else {}

    def call(self, name: str, role: str | None, method: str, path: str, **kw: Any) -> Any:
        t0 = time.perf_counter()
        try:
            r = self.client().request(method, API + path, headers=self.headers(role), **kw)
        except httpx.HTTPError as e:
            self.rec.error(name, f"{method} {path}: {type(e).__name__}: {e}")
            raise StepFailed(name) from e
        dt = time.perf_counter() - t0
        if r.status_code >= 300:
            self.rec.error(name, f"{method} {path}: HTTP {r.status_code}: {r.text}")
            raise StepFailed(name)
        self.rec.ok(name, dt)
        return r.json() if r.content else None

    def login(self, role: str, username: str, password: str) -> bool:
        r = self.client().post(API + "/auth/token", json={"username": username, "password": password})
        if r.status_code != 200:
            return False
        self.tokens[role] = r.json()["access_token"]
        return True


# -- the server ------------------------------------------------------------------------------

def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def ensure_users(settings: Any, password: str) -> None:
    """One account per role, through the real use case (argon2 hash, audit row)."""
    from kanim.bootstrap import bootstrap
    from kanim.domain.errors import Conflict
    from kanim.office.accounts import add_user
    from kanim.store.migrate import upgrade

    office = bootstrap(settings)
    upgrade(office.engine)
    for role in ROLES:
        try:
            add_user(office, username=f"bench_{role}", full_name=f"Bench {role}", role=role,
                     password=password, actor="bench")
        except Conflict:
            pass
    office.engine.dispose()


class Server:
    """`kanim serve` as a subprocess in a temporary data directory."""

    def __init__(self, quota: int, sync_interval: float, password: str, keep: bool, workers: int = 1) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="kanim-bench-"))
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.keep = keep
        self.env = {**os.environ, "KANIM_DATA_DIR": str(self.dir / "data"), "KANIM_CENTRAL": "simulated",
                    "KANIM_DAILY_QUOTA": str(quota), "KANIM_CHIP_REQUIRED": "false",  # no Document Signer
                    "PYTHONPATH": os.pathsep.join(filter(None, [str(KANIM_ROOT), os.environ.get("PYTHONPATH")]))}
        for k in ("KANIM_DATABASE_URL", "KANIM_KEY_FILE"):  # this run's own database and key
            self.env.pop(k, None)
        from kanim.config import Settings

        settings = Settings(_env_file=None, data_dir=self.dir / "data", central="simulated", daily_quota=quota)
        ensure_users(settings, password)
        self.log = open(self.dir / "server.log", "wb")  # noqa: SIM115 - closed in stop()
        cmd = [sys.executable, "-c", "from kanim.cli import app; app()", "serve", "--port", str(self.port),
               "--workers", str(workers)]
        self.env["KANIM_LINK_INTERVAL"] = str(sync_interval)  # the relay's pace when idle
        # cwd: the temp dir, so a stray .env in the caller's directory does not reach the server
        self.proc = subprocess.Popen(cmd, env=self.env, cwd=self.dir, stdout=self.log, stderr=subprocess.STDOUT)

    def wait_healthy(self, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited with {self.proc.returncode}; see {self.dir / 'server.log'}:\n"
                                   + (self.dir / "server.log").read_text()[-2000:])
            try:
                if httpx.get(self.url + API + "/health", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise RuntimeError(f"server not healthy after {timeout} s")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)  # uvicorn shuts down gracefully on SIGINT
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self.log.close()
        if not self.keep:
            shutil.rmtree(self.dir, ignore_errors=True)


# -- the day ---------------------------------------------------------------------------------

class Pool:
    """Worker threads over a priority queue: work already in the building (an application
    between desks, a passport to hand over) goes before the next booking, as at a real office."""

    IN_FLIGHT, NEW_BOOKING = 0, 1

    def __init__(self, n: int) -> None:
        self.q: queue.PriorityQueue = queue.PriorityQueue()
        self.seq = itertools.count()
        self.threads = [threading.Thread(target=self._work, daemon=True, name=f"desk-{i}") for i in range(n)]
        self.crashes: list[str] = []
        for t in self.threads:
            t.start()

    def submit(self, prio: int, fn: Any, *args: Any) -> None:
        self.q.put((prio, next(self.seq), fn, args))

    def _work(self) -> None:
        while True:
            _, _, fn, args = self.q.get()
            if fn is None:
                return
            try:
                fn(*args)
            except Exception:  # a bug in the bench, not a failed call: keep it visible
                self.crashes.append(traceback.format_exc())

    def shutdown(self) -> None:
        for _ in self.threads:
            self.q.put((99, next(self.seq), None, ()))
        for t in self.threads:
            t.join(5)


@dataclass
class Tracked:
    applicant: Applicant
    id: str | None = None
    stage: str = "planned"
    failed_at: str | None = None
    qc_at: float | None = None


class Day:
    def __init__(self, api: Api, groups: list[list[Applicant]], day: date, slots: list[str],
                 concurrency: int, deadline: float, poll_interval: float) -> None:
        self.api, self.groups, self.day, self.slots = api, groups, day, slots
        self.deadline, self.poll_interval = deadline, poll_interval
        self.apps: list[Tracked] = []
        self.awaiting: dict[str, Tracked] = {}  # QC passed, not ready yet: the pickup desk watches
        self.lock = threading.Lock()
        self.finished = 0
        self.all_done = threading.Event()
        self.ready_waits: list[float] = []
        self.face = (SEED_DATA / "face.jpg").read_bytes()
        self.finger = (SEED_DATA / "finger.png").read_bytes()
        self.pool = Pool(concurrency)

    def run(self) -> float:
        total = sum(len(g) for g in self.groups)
        self.total = total
        t0 = time.perf_counter()
        for i, g in enumerate(self.groups):
            self.pool.submit(Pool.NEW_BOOKING, self.book, g, self.slots[i % len(self.slots)], i)
        poller = threading.Thread(target=self.pickup_desk, daemon=True, name="pickup-poller")
        poller.start()
        self.all_done.wait(max(0, self.deadline - time.monotonic()))
        wall = time.perf_counter() - t0
        self.all_done.set()  # stops the poller on a timeout too
        poller.join(5)
        self.pool.shutdown()
        return wall

    def _finish(self, app: Tracked, stage: str, failed_at: str | None = None) -> None:
        with self.lock:
            app.stage, app.failed_at = stage, failed_at
            self.finished += 1
            if self.finished >= self.total:
                self.all_done.set()

    def _late(self) -> bool:
        return time.monotonic() > self.deadline

    def book(self, group: list[Applicant], slot: str, i: int) -> None:
        tracked = [Tracked(a) for a in group]
        with self.lock:
            self.apps.extend(tracked)
        if self._late():
            for t in tracked:
                self._finish(t, "not_booked", "timeout")
            return
        try:
            out = self.api.call("book", "front_desk", "POST", "/bookings", json={
                "account_ref": f"bench-account-{i}", "day": self.day.isoformat(), "slot": slot,
                "applicants": [a.body() for a in group], "contact_phone": "+6281234567890"})
        except StepFailed:
            for t in tracked:
                self._finish(t, "not_booked", "book")
            return
        for t, a in zip(tracked, out["applications"], strict=True):
            t.id, t.stage = a["id"], a["stage"]
            self.pool.submit(Pool.IN_FLIGHT, self.desks, t)

    def desks(self, app: Tracked) -> None:
        """Check-in to quality check: the desks that need the applicant (or the booklet)."""
        api, a = self.api, f"/applications/{app.id}"
        step = "check_in"
        try:
            if self._late():
                raise StepFailed("timeout")
            api.call("check_in", "front_desk", "POST", f"{a}/check-in")
            for kind in DOCUMENT_KINDS:
                step = "document"
                api.call("document", "front_desk", "PUT", f"{a}/documents/{kind}",
                         files={"file": (f"{kind}.jpg", self.face, "image/jpeg")})
            step = "intake"
            api.call("intake", "front_desk", "POST", f"{a}/intake", json={"name_changed": False})
            step = "billing"
            bill = api.call("billing", "cashier", "POST", f"{a}/billing")
            step = "payment"
            api.call("payment", "cashier", "POST", "/payments",
                     json={"billing_code": bill["billing_code"], "receipt_ref": f"BANK-{bill['billing_code'][-8:]}"})
            step = "photo"
            api.call("photo", "biometric_operator", "PUT", f"{a}/photo",
                     files={"file": ("face.jpg", self.face, "image/jpeg")})
            for pos in FINGERS:
                step = "fingerprint"
                api.call("fingerprint", "biometric_operator", "PUT", f"{a}/fingerprints/{pos}",
                         files={"file": (f"finger{pos}.png", self.finger, "image/png")})
            step = "capture"
            api.call("capture", "biometric_operator", "POST", f"{a}/capture")
            step = "interview"
            api.call("interview", "interviewer", "POST", f"{a}/interview",
                     json={"notes": "Purpose: tourism. Documents consistent."})
            step = "approve"
            api.call("approve", "supervisor", "POST", f"{a}/approve")
            step = "print"
            api.call("print", "print_operator", "POST", f"{a}/print", json={})
            step = "qc"
            out = api.call("qc", "print_operator", "POST", f"{a}/quality-check", json={"passed": True})
        except StepFailed as e:
            self._finish(app, app.stage, "timeout" if str(e) == "timeout" else step)
            return
        app.stage, app.qc_at = out["stage"], time.perf_counter()
        if out["stage"] == "ready":  # every clearance was already confirmed by the central
            with self.lock:
                self.ready_waits.append(0.0)
            self.handover(app)
        else:
            with self.lock:
                self.awaiting[app.id] = app

    def pickup_desk(self) -> None:
        """Watches the ready list and sends each passport of this run to the handover desk."""
        while not self.all_done.is_set():
            with self.lock:
                waiting = bool(self.awaiting)
            if waiting:
                ready_ids: set[str] = set()
                offset = 0
                try:
                    while True:
                        page = self.api.call("ready_poll", "pickup_desk", "GET", "/applications",
                                             params={"stage": "ready", "limit": 500, "offset": offset})
                        ready_ids.update(p["id"] for p in page)
                        if len(page) < 500:
                            break
                        offset += 500
                except StepFailed:
                    pass
                now = time.perf_counter()
                with self.lock:
                    found = [self.awaiting.pop(i) for i in list(self.awaiting) if i in ready_ids]
                    self.ready_waits.extend(now - t.qc_at for t in found)
                for t in found:
                    t.stage = "ready"
                    self.pool.submit(Pool.IN_FLIGHT, self.handover, t)
                if self._late():
                    with self.lock:
                        stuck = list(self.awaiting.values())
                        self.awaiting.clear()
                    for t in stuck:
                        self._finish(t, t.stage, "timeout (never ready)")
            self.all_done.wait(self.poll_interval)

    def handover(self, app: Tracked) -> None:
        try:
            out = self.api.call("handover", "pickup_desk", "POST", f"/applications/{app.id}/handover",
                                json={"recipient_kind": "holder", "recipient_name": app.applicant.full_name,
                                      "id_checked": "KTP", "id_nik": app.applicant.nik})
        except StepFailed:
            self._finish(app, app.stage, "handover")
            return
        self._finish(app, out["stage"], None if out["stage"] == "handed_over" else "handover")


# -- setup and reference ---------------------------------------------------------------------

def next_working_days(start: date, holidays: set[date]):  # noqa: ANN201
    d = start
    while True:
        if d.weekday() < 5 and d not in holidays:
            yield d
        d += timedelta(days=1)


def choose_day(api: Api, n: int, explicit: date | None) -> tuple[date, list[str]]:
    """The first working day after today with room for the whole day's bookings."""
    hol = {date.fromisoformat(h["day"]) for h in api.call("setup", "front_desk", "GET", "/holidays")}
    candidates = [explicit] if explicit else itertools.islice(
        next_working_days(date.today() + timedelta(days=1), hol), 60)
    for d in candidates:
        slots = api.call("setup", "front_desk", "GET", "/bookings/availability", params={"day": d.isoformat()})["slots"]
        if sum(slots.values()) >= n + 5 * len(slots):  # groups round-robin over the slots
            return d, list(slots)
    raise SystemExit(f"no working day in the next 60 with room for {n} applicants: raise KANIM_DAILY_QUOTA")


def receive_booklets(api: Api, n: int, rng: random.Random) -> str:
    for _ in range(20):
        prefix = "B" + rng.choice("ABCDEFGHJKLMNPQRSTUVWXYZ")
        start = rng.randrange(1, 9_000_000)
        first, last = f"{prefix}{start:07d}", f"{prefix}{start + n - 1:07d}"
        try:
            api.call("setup", "print_operator", "POST", "/booklets/batches", json={"first": first, "last": last})
            return f"{first}..{last}"
        except StepFailed:
            continue
    raise SystemExit("could not receive a booklet batch (every range tried was taken?)")


def run_together(threads: list[threading.Thread], barrier: threading.Barrier) -> float:
    """Start the threads; the clock starts when they all (and this thread) have passed `barrier`,
    and stops when the last has ended: the wall time of their work, without their set-up."""
    for t in threads:
        t.start()
    barrier.wait()
    t0 = time.perf_counter()
    for t in threads:
        t.join()
    return time.perf_counter() - t0


def reference(api: Api, name: str, path: str, role: str | None, concurrency: int, seconds: float) -> dict:
    """Closed loop: `concurrency` threads each send `path` back to back for `seconds`."""
    rec = Recorder()
    ref = Api(api.url, rec, api.timeout)
    ref.tokens = api.tokens
    # The clock starts when every thread has connected (on a loaded machine connecting alone can
    # outlast a smoke run's fraction of a second), and each thread sends at least one request, so
    # the rate that the day is divided by is never zero.
    barrier = threading.Barrier(concurrency + 1, action=lambda: deadline.append(time.monotonic() + seconds))
    deadline: list[float] = []

    def loop() -> None:
        ref.client()  # connect before the clock starts
        barrier.wait()
        while True:
            try:
                ref.call(name, role, "GET", path)
            except StepFailed:
                pass
            if time.monotonic() >= deadline[0]:
                break

    wall = run_together([threading.Thread(target=loop) for _ in range(concurrency)], barrier)
    ref.close()
    lat = rec.latencies[name]
    return {"path": path, "requests": len(lat), "errors": rec.errors[name], "seconds": wall,
            "requests_per_s": len(lat) / wall, **summary(lat)}


def cpu_seconds(pid: int | None) -> float | None:
    """User + system CPU seconds of a process (all its threads), from /proc; None if unknown."""
    if pid is None:
        return None
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return None


def start_py_spy(pid: int, out: Path, gil: bool) -> subprocess.Popen | None:
    exe = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    if not Path(exe).exists():
        console.print("[yellow]py-spy not found (pip install py-spy): no profile[/yellow]")
        return None
    fmt = "speedscope" if out.suffix == ".json" else ("flamegraph" if out.suffix == ".svg" else "raw")
    cmd = [exe, "record", "--pid", str(pid), "--rate", "100", "--format", fmt, "--output", str(out)]
    cmd += ["--gil"] if gil else ["--threads"]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    time.sleep(1.0)  # let it attach before the clock starts
    return proc


def stop_py_spy(proc: subprocess.Popen | None, out: Path) -> None:
    if proc is None:
        return
    proc.send_signal(signal.SIGINT)
    try:
        _, err = proc.communicate(timeout=60)
    except subprocess.TimeoutExpired:
        proc.kill()
        _, err = proc.communicate()
    console.print(f"py-spy profile of the server: {out}" if out.exists()
                  else f"[yellow]py-spy wrote nothing: {err.decode()[-500:]}[/yellow]")


def machine() -> dict:
    cpu = "?"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    ram = "?"
    try:
        kb = int(next(x for x in Path("/proc/meminfo").read_text().splitlines() if x.startswith("MemTotal")).split()[1])
        ram = f"{kb / 1024 / 1024:.1f} GiB"
    except (OSError, StopIteration, ValueError):
        pass
    return {"nproc": os.cpu_count(), "cpu": cpu, "ram": ram, "python": platform.python_version(),
            "platform": platform.platform()}


# -- output ----------------------------------------------------------------------------------

def print_results(res: dict) -> None:
    day = res["day"]
    t = Table(title=f"office day: {day['applications']} applications, concurrency {res['config']['concurrency']}")
    for col, just in (("call", "left"), ("n", "right"), ("errors", "right"), ("p50 ms", "right"),
                      ("p95 ms", "right"), ("max ms", "right"), ("mean ms", "right")):
        t.add_column(col, justify=just)
    for name in CALLS + EXTRA_CALLS + ["ready_wait"]:
        s = res["calls"].get(name) or {"n": 0}
        err = res["errors"].get(name, 0)
        if name == "ready_wait":
            t.add_section()
            name = "ready_wait (QC -> ready, not a call)"
        if s["n"]:
            t.add_row(name, str(s["n"]), str(err), f"{s['p50_ms']:.1f}", f"{s['p95_ms']:.1f}",
                      f"{s['max_ms']:.1f}", f"{s['mean_ms']:.1f}")
        else:
            t.add_row(name, "0", str(err), "-", "-", "-", "-")
    console.print(t)
    r = res["reference"]
    console.print(
        f"reference GET /health x{res['config']['concurrency']}: {r['health']['requests_per_s']:.0f} req/s "
        f"(p50 {r['health']['p50_ms']:.1f} ms); GET /auth/me: {r['me']['requests_per_s']:.0f} req/s "
        f"(p50 {r['me']['p50_ms']:.1f} ms)")
    console.print(
        f"day: wall {day['wall_s']:.1f} s, {day['applications_per_s']:.2f} applications/s, "
        f"{day['http_calls']} HTTP calls ({day['calls_per_application']:.1f} per application), "
        f"{day['calls_per_s']:.0f} calls/s = {day['ratio_to_health']:.2f} x the /health ceiling")
    c = day["cpu"]
    busy = (c["server_s"] or 0) + c["bench_client_s"]
    console.print(
        f"CPU during the day: server {c['server_s'] if c['server_s'] is not None else float('nan'):.1f} s, "
        f"bench client {c['bench_client_s']:.1f} s; together {busy / day['wall_s'] * 100:.0f}% of one core "
        f"({c['cores']} cores); load average {c['loadavg_before']:.1f} before, {c['loadavg_after']:.1f} after")
    console.print(f"stages: {day['stages']}")
    if res["failures"]:
        console.print(f"[red]{len(res['failures'])} applications did not reach handed_over: "
                      f"{Counter(f['failed_at'] for f in res['failures'])}[/red]")
    for name, samples in res["error_samples"].items():
        for s in samples[:2]:
            console.print(f"[yellow]{name}[/yellow]: {s}", markup=True, highlight=False)
    if res.get("after"):
        console.print(f"after the day: {res['after']}")


# -- main ------------------------------------------------------------------------------------

def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--url", help="a running kanim server; default: start one in a temp data dir")
    p.add_argument("--applications", type=int, default=400)
    p.add_argument("--concurrency", type=int, default=8, help="desk workers (HTTP clients) in parallel")
    p.add_argument("--timeout", type=float, default=600, help="give up on the day after this many seconds")
    p.add_argument("--json", type=Path, help="write the results here")
    p.add_argument("--seed", type=int, default=None, help="random seed (names, NIKs, groups)")
    p.add_argument("--day", type=date.fromisoformat, help="appointment day (default: next working day with room)")
    p.add_argument("--password", default="bench-password-2026", help="password of the bench_<role> accounts")
    p.add_argument("--reference-seconds", type=float, default=3.0)
    p.add_argument("--poll-interval", type=float, default=0.2, help="pickup desk: seconds between ready-list looks")
    p.add_argument("--sync-interval", type=float, default=0.5, help="own server: link rounds (kanim serve)")
    p.add_argument("--workers", type=int, default=os.cpu_count() or 1,
                   help="own server: worker processes (kanim serve --workers; default one per core)")
    p.add_argument("--keep", action="store_true", help="own server: keep the temp data dir and server.log")
    p.add_argument("--server-pid", type=int, help="with --url: the server's pid, for its CPU time and --py-spy")
    p.add_argument("--py-spy", type=Path, metavar="FILE",
                   help="profile the server during the day (.json speedscope, .svg flamegraph, else raw)")
    p.add_argument("--py-spy-gil", action="store_true", help="sample only the thread holding the GIL (CPU)")
    args = p.parse_args(argv)
    if args.applications < 1 or args.concurrency < 1:
        p.error("--applications and --concurrency must be at least 1")

    seed = args.seed if args.seed is not None else random.randrange(2**32)
    rng = random.Random(seed)
    server: Server | None = None
    rec = Recorder()
    api: Api | None = None
    try:
        if args.url:
            url = args.url
        else:
            quota = max(1000, args.applications + 50)
            console.print(f"starting kanim serve (KANIM_DAILY_QUOTA={quota}, simulated central) ...")
            server = Server(quota, args.sync_interval, args.password, args.keep, workers=args.workers)
            server.wait_healthy()
            url = server.url
            console.print(f"server pid {server.proc.pid} on {url}, data in {server.dir}")
        api = Api(url, rec, timeout=120)
        if not all(api.login(r, f"bench_{r}", args.password) for r in ROLES):
            if server is not None:
                raise SystemExit("could not log in the bench users on our own server")
            from kanim.config import Settings

            console.print("creating bench_<role> accounts on this environment's Settings() ...")
            ensure_users(Settings(), args.password)
            if not all(api.login(r, f"bench_{r}", args.password) for r in ROLES):
                raise SystemExit("bench users cannot log in: run with KANIM_DATA_DIR / KANIM_DATABASE_URL of "
                                 "the server, or create bench_<role> accounts with --password")

        # setup: booklets, a fresh watch-list snapshot, the day (not timed)
        health = api.call("setup", None, "GET", "/health")
        if health.get("central") == "none":
            console.print("[yellow]warning: the server has no central (KANIM_CENTRAL=none): "
                          "nothing will become ready[/yellow]")
        booklets = receive_booklets(api, args.applications, rng)
        api.call("setup", "supervisor", "POST", "/watchlist/snapshots", json={
            "taken_at": (datetime.now(UTC) - timedelta(minutes=30)).isoformat(), "source": "bench",
            "orders": [{"subject_kind": "nik", "subject_value": WATCHLISTED_NIK, "order_kind": "prevention",
                        "agency": "KPK", "starts_on": (date.today() - timedelta(days=30)).isoformat(),
                        "ends_on": (date.today() + timedelta(days=365)).isoformat(),
                        "reason": "bench prevention order"}]})
        day, slots = choose_day(api, args.applications, args.day)
        groups = make_groups(args.applications, rng)

        # the reference, on the same server, same concurrency, just before the day
        console.print(f"reference: {args.reference_seconds:.0f} s of GET /health and of GET /auth/me ...")
        ref = {"health": reference(api, "health", "/health", None, args.concurrency, args.reference_seconds),
               "me": reference(api, "me", "/auth/me", "front_desk", args.concurrency, args.reference_seconds)}

        console.print(f"the day: {args.applications} applications in {len(groups)} bookings on {day}, "
                      f"{args.concurrency} desk workers ...")
        server_pid = server.proc.pid if server else args.server_pid
        spy = start_py_spy(server_pid, args.py_spy, args.py_spy_gil) if args.py_spy and server_pid else None
        office_day = Day(api, groups, day, slots, args.concurrency,
                         deadline=time.monotonic() + args.timeout, poll_interval=args.poll_interval)
        load0 = os.getloadavg()[0]
        cpu0_server, cpu0_bench = cpu_seconds(server_pid), time.process_time()
        wall = office_day.run()
        cpu_server = cpu_seconds(server_pid)
        cpu = {"server_s": None if cpu_server is None else cpu_server - cpu0_server,
               "bench_client_s": time.process_time() - cpu0_bench, "cores": os.cpu_count(),
               # 1-minute load average before and after: other work on the machine skews the figures
               "loadavg_before": load0, "loadavg_after": os.getloadavg()[0]}
        stop_py_spy(spy, args.py_spy)

        after: dict[str, Any] = {}
        try:
            after["booklets"] = api.call("after", "supervisor", "GET", "/booklets/report")
            after["outbox"] = api.call("after", "supervisor", "GET", "/outbox")["by_status"]
        except StepFailed:
            pass

        apps = office_day.apps
        stages = Counter(a.stage for a in apps)
        failures = [{"id": a.id, "nik": a.applicant.nik, "stage": a.stage, "failed_at": a.failed_at}
                    for a in apps if a.stage != "handed_over"]
        failures += [{"id": None, "nik": None, "stage": "not_started", "failed_at": "never booked"}] * (
            args.applications - len(apps))
        day_calls = rec.calls(CALLS + EXTRA_CALLS)
        calls = {n: summary(rec.latencies.get(n, [])) for n in CALLS + EXTRA_CALLS}
        calls["ready_wait"] = summary(office_day.ready_waits)
        handed = stages.get("handed_over", 0)
        res = {
            "benchmark": "office_day",
            "date": datetime.now(UTC).isoformat(timespec="seconds"),
            "command": " ".join([Path(sys.executable).name, *sys.argv]),
            "machine": machine(),
            "config": {"url": args.url or "own server", "applications": args.applications,
                       "concurrency": args.concurrency, "seed": seed, "appointment_day": day.isoformat(),
                       "bookings": len(groups), "booklets": booklets, "sync_interval": args.sync_interval
                       if server else None, "poll_interval": args.poll_interval},
            "reference": ref,
            "day": {"applications": args.applications, "handed_over": handed, "wall_s": wall,
                    "applications_per_s": handed / wall, "http_calls": day_calls,
                    "calls_per_application": day_calls / max(1, args.applications),
                    "calls_per_s": day_calls / wall,
                    "ratio_to_health": (day_calls / wall) / ref["health"]["requests_per_s"],
                    "ratio_to_me": (day_calls / wall) / ref["me"]["requests_per_s"],
                    "stages": dict(stages), "under_60_s": wall < 60, "cpu": cpu},
            "calls": calls,
            "errors": {k: v for k, v in rec.errors.items() if k != "setup"},
            "error_samples": dict(rec.error_samples),
            "failures": failures,
            "bench_crashes": office_day.pool.crashes,
            "after": after,
        }
        print_results(res)
        for c in office_day.pool.crashes[:3]:
            console.print(c, markup=False, highlight=False)
        if args.json:
            args.json.write_text(json.dumps(res, indent=2, default=str) + "\n")
            console.print(f"results written to {args.json}")
        return 0 if not failures and not office_day.pool.crashes else 1
    finally:
        if api is not None:
            api.close()
        if server is not None:
            server.stop()


if __name__ == "__main__":
    sys.exit(main())
