#!/usr/bin/env python
"""The console's desk pages at a year's size: each page's server time, the searches, and each
page's weight with its assets, against a real `kanim serve` over HTTP.

    python bench/desk_pages.py                              # 100,000 older applications + a day of 400
    python bench/desk_pages.py --json result.json
    python bench/desk_pages.py --page supervisor:/staff/dashboard/live --page front_desk:/staff/intake

The database is a SQLite office filled directly (bench/lib/big_office.py: set-based inserts,
seconds, not hours through the desks): N older applications, every one sent to the central
(12 outbox rows each), and today's D applications at every stage, with an outage going on (the
central unreachable, two hours of operations queued, an open link incident). The server is
`kanim serve` on it with its link pointed at a closed port: the dashboard has an outage to show.

Pages: every office desk of kanim/web/console/desks.py that this kanim serves (a desk still
being built answers 404 and is reported as absent), the fragments the desks re-read, the front
desk's searches by name, number, NIK and id, and any `--page role:/path` given. Each is asked
`--requests` times one after another, logged in through the console's cookie session as the
desk's own role; the figure is the time from sending the request to the last byte of the answer
(loopback HTTP, so it is the server's time and a few tenths of a millisecond). The reference,
measured in the same run the same way: GET /api/v1/health, the cheapest route through the stack.

Weight: each desk page's HTML and every stylesheet, script and image it names, as sent.

Targets (issue 8): p95 under 50 ms for each page and search; a page with its assets under
150 KB. Exit 1 when a page answered an error (or, with --strict, missed a target).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

try:
    import kanim
except ImportError:  # run from a checkout without `pip install -e .`
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    import kanim

sys.path.insert(0, str(Path(__file__).resolve().parent / "lib"))
from big_office import populate  # noqa: E402

KANIM_ROOT = Path(kanim.__file__).resolve().parent.parent
OFFICE_CODE = "MND"
PASSWORD = "bench-desk-pages-password"
P95_TARGET_MS, WEIGHT_TARGET_BYTES = 50.0, 150_000
# The front desk's searches: a common name, two words of a rarer one, a name no one has (the
# slowest: every name is looked at), a number's prefix (every application matches), a whole
# number of months ago, a NIK, a booking code's first 8 characters.
SEARCHES = ["siti rahmawati", "kaunang yohana", "zzzq", "{code}-2026", "{number}", "{nik}", "{booking}"]
FRAGMENTS = [("supervisor", "/staff/dashboard/live"), ("front_desk", "/staff/front-desk/slots")]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# -- the office --------------------------------------------------------------------------------

def make_office(data: Path, *, older: int, today: int) -> dict[str, Any]:
    """Migrate, fill, add one account per office role; returns what was made."""
    from kanim.bootstrap import bootstrap
    from kanim.config import Settings
    from kanim.office import accounts, admin
    from kanim.ops.cluster import office_roles
    from kanim.store.migrate import upgrade

    office = bootstrap(Settings(_env_file=None, data_dir=data, database_url=None, office_code=OFFICE_CODE,
                                chip_required=False))  # no Document Signer: blank chips
    try:
        upgrade(office.engine)
        admin.load_watchlist_snapshot(office, taken_at=datetime.now(UTC), source="bench", orders=[], actor="bench")
        office.engine.dispose()
        made = populate(data / "kanim.db", office_code=OFFICE_CODE, older=older, today_n=today, now=datetime.now(UTC))
        with ThreadPoolExecutor(2) as pool:  # Argon2 releases the GIL
            list(pool.map(lambda role: accounts.add_user(office, username=role, full_name=f"Bench {role}", role=role,
                                                         password=PASSWORD, actor="bench"), office_roles()))
        with office.uow(readonly=True) as uow:
            from sqlalchemy import select

            from kanim.store import tables as t

            a = t.application.c
            sample = uow.session.execute(select(a.number, a.nik).where(a.id.like("a0%")).limit(1)).one()
            booking = uow.session.execute(select(a.booking_id).where(a.booking_id.is_not(None))
                                          .order_by(a.created_at.desc()).limit(1)).scalar()
    finally:
        office.engine.dispose()
    return {"older": made.older, "today": made.today, "outbox_rows": made.outbox, "queued": made.pending,
            "populate_seconds": round(made.seconds, 2), "db_bytes": (data / "kanim.db").stat().st_size,
            "sample_number": sample.number, "sample_nik": sample.nik, "sample_booking": (booking or "")[:8]}


class Server:
    """`kanim serve` on the office, its link pointed at a port nothing listens on (an outage)."""

    def __init__(self, root: Path, data: Path, workers: int) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        env = {k: v for k, v in os.environ.items() if not k.startswith("KANIM_")}
        env.update({"KANIM_DATA_DIR": str(data), "KANIM_OFFICE_CODE": OFFICE_CODE,
                    "KANIM_OFFICE_NAME": "Kantor Imigrasi Manado", "KANIM_CENTRAL": "http",
                    "KANIM_CENTRAL_URL": f"http://127.0.0.1:{free_port()}", "KANIM_LINK_INTERVAL": "2",
                    "KANIM_CHIP_REQUIRED": "false",
                    "PYTHONPATH": os.pathsep.join(filter(None, [str(KANIM_ROOT), os.environ.get("PYTHONPATH")]))})
        self.log_path = root / "server.log"
        self.log = open(self.log_path, "wb")  # noqa: SIM115 - closed in stop()
        cmd = [sys.executable, "-c", "from kanim.cli import app; app()", "serve", "--host", "127.0.0.1",
               "--port", str(self.port), "--workers", str(workers), "--no-access-log"]
        self.proc = subprocess.Popen(cmd, env=env, cwd=root, stdout=self.log, stderr=subprocess.STDOUT)

    def wait_healthy(self, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"kanim serve exited with {self.proc.returncode}:\n{self.log_path.read_text()[-2000:]}")
            try:
                if httpx.get(f"{self.url}/api/v1/health", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise RuntimeError(f"kanim serve did not answer within {timeout} s")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self.log.close()


# -- the desks ---------------------------------------------------------------------------------

def log_in(url: str, role: str) -> httpx.Client:
    """A browser's session: the login form's CSRF cookie and token, then the session cookie."""
    c = httpx.Client(base_url=url, timeout=30)
    token = re.search(r'name="csrf_token" value="([^"]+)"', c.get("/staff/login").text).group(1)
    r = c.post("/staff/login", data={"username": role, "password": PASSWORD, "csrf_token": token})
    if r.status_code not in (200, 303) or "kanim_session" not in c.cookies:
        raise RuntimeError(f"{role} could not log in to the console: {r.status_code}")
    return c


def desk_pages() -> list[tuple[str, str]]:
    """(role, path) of every office desk: its own role, else the first role that may open it."""
    from kanim.security.roles import Role, allowed
    from kanim.web.console.desks import DESKS

    pages = []
    for d in DESKS:
        if d.node != "office":
            continue
        role = next(iter(sorted(d.landing_for)), None) or next(r for r in Role if allowed(r, d.perm))
        pages.append((role.value, f"/staff/{d.slug}"))
    return pages


def searches(made: dict[str, Any]) -> list[tuple[str, str]]:
    values = {"code": OFFICE_CODE, "number": made["sample_number"], "nik": made["sample_nik"],
              "booking": made["sample_booking"]}
    return [("front_desk", "/staff/front-desk/search?" + httpx.QueryParams({"q": q.format(**values)}).__str__())
            for q in SEARCHES]


def measure(client: httpx.Client, path: str, n: int, warmup: int) -> dict[str, Any]:
    statuses, times, size = [], [], 0
    for i in range(warmup + n):
        t0 = time.perf_counter()
        r = client.get(path)
        elapsed = (time.perf_counter() - t0) * 1000
        if i >= warmup:
            times.append(elapsed)
            statuses.append(r.status_code)
            size = len(r.content)
    times.sort()
    return {"requests": n, "statuses": sorted(set(statuses)), "bytes": size, "p50_ms": round(statistics.median(times), 2),
            "p95_ms": round(times[min(len(times) - 1, int(round(0.95 * len(times))) - 1)], 2),
            "max_ms": round(times[-1], 2), "mean_ms": round(statistics.fmean(times), 2)}


ASSET = re.compile(r'<(?:link[^>]+rel="stylesheet"[^>]+href|script[^>]+src|img[^>]+src)="(/[^"]+)"')


def weight(client: httpx.Client, path: str) -> dict[str, Any]:
    """The page and every asset it names, as sent over the wire (compressed if the server does)."""
    r = client.get(path)
    assets = {}
    for asset in sorted(set(ASSET.findall(r.text))):
        a = client.get(asset)
        assets[asset] = a.num_bytes_downloaded
    total = r.num_bytes_downloaded + sum(assets.values())
    return {"html_bytes": r.num_bytes_downloaded, "assets": assets, "total_bytes": total,
            "under_target": total < WEIGHT_TARGET_BYTES}


def machine() -> dict[str, Any]:
    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), "?") if Path("/proc/cpuinfo").exists() else "?"
    return {"nproc": os.cpu_count(), "cpu": cpu, "python": platform.python_version(), "platform": platform.platform(),
            "load_avg": [round(x, 2) for x in os.getloadavg()]}


def run(args: argparse.Namespace) -> dict[str, Any]:
    root = Path(tempfile.mkdtemp(prefix="kanim-desk-pages-"))
    server = None
    try:
        t0 = time.perf_counter()
        made = make_office(root / "data", older=args.older, today=args.today)
        print(f"office: {made['older']:,} older + {made['today']} today, {made['outbox_rows']:,} outbox rows "
              f"({made['queued']} queued), filled in {made['populate_seconds']} s; set-up {time.perf_counter() - t0:.1f} s",
              flush=True)
        server = Server(root, root / "data", args.workers)
        server.wait_healthy()
        clients: dict[str, httpx.Client] = {}

        def client(role: str) -> httpx.Client:
            if role not in clients:
                clients[role] = log_in(server.url, role)
            return clients[role]

        health = httpx.Client(base_url=server.url, timeout=30)
        reference = measure(health, "/api/v1/health", args.requests, args.warmup)
        pages, absent = [], []
        for role, path in [*desk_pages(), *FRAGMENTS, *searches(made), *[tuple(p.split(":", 1)) for p in args.page]]:
            probe = client(role).get(path)
            if probe.status_code == 404:
                absent.append(path)
                continue
            result = {"role": role, "path": path, **measure(client(role), path, args.requests, args.warmup)}
            result["ratio_to_health_p95"] = round(result["p95_ms"] / reference["p95_ms"], 1)
            result["under_target"] = result["p95_ms"] < P95_TARGET_MS
            if "?" not in path and not path.endswith(("/live", "/slots")):
                result["weight"] = weight(client(role), path)
            pages.append(result)
            w = result.get("weight", {}).get("total_bytes")
            print(f"  {path:58s} {role:12s} p50 {result['p50_ms']:6.1f}  p95 {result['p95_ms']:6.1f}  "
                  f"max {result['max_ms']:6.1f} ms  {result['statuses']}" + (f"  {w:,} B with assets" if w else ""),
                  flush=True)
        for c in [*clients.values(), health]:
            c.close()
        return {"benchmark": "desk_pages", "date": datetime.now(UTC).isoformat(timespec="seconds"),
                "command": " ".join(["python", "bench/desk_pages.py", *sys.argv[1:]]), "machine": machine(),
                "config": {"older": args.older, "today": args.today, "requests": args.requests,
                           "warmup": args.warmup, "workers": args.workers},
                "office": made, "reference": {"path": "/api/v1/health", **reference}, "pages": pages,
                "absent": absent, "errors": [p["path"] for p in pages if p["statuses"] != [200]],
                "targets": {"p95_ms": P95_TARGET_MS, "weight_bytes": WEIGHT_TARGET_BYTES,
                            "missed": [p["path"] for p in pages if not p["under_target"]
                                       or not p.get("weight", {}).get("under_target", True)]}}
    finally:
        if server is not None:
            server.stop()
        if args.keep:
            print(f"kept {root}")
        else:
            shutil.rmtree(root, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--older", type=int, default=100_000, help="applications of the days before today")
    p.add_argument("--today", type=int, default=400, help="today's applications, at every stage")
    p.add_argument("--requests", type=int, default=200, help="requests per page, one after another")
    p.add_argument("--warmup", type=int, default=5, help="requests per page before the clock starts")
    p.add_argument("--workers", type=int, default=1, help="kanim serve --workers (one: a page's own time)")
    p.add_argument("--page", action="append", default=[], metavar="ROLE:/PATH", help="another page to time")
    p.add_argument("--json", type=Path, help="write the whole result here")
    p.add_argument("--strict", action="store_true", help="exit 1 when a page misses a target")
    p.add_argument("--keep", action="store_true", help="keep the temporary office and server.log")
    args = p.parse_args(argv)
    result = run(args)
    print(f"reference /api/v1/health: p50 {result['reference']['p50_ms']} ms, p95 {result['reference']['p95_ms']} ms; "
          f"absent (404 on this kanim): {', '.join(result['absent']) or 'none'}")
    print(f"missed targets: {', '.join(result['targets']['missed']) or 'none'}; errors: {result['errors'] or 'none'}")
    if args.json:
        args.json.write_text(json.dumps(result, indent=1))
    return 1 if result["errors"] or (args.strict and result["targets"]["missed"]) else 0


if __name__ == "__main__":
    sys.exit(main())
