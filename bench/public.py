#!/usr/bin/env python
"""The public pages under an outage's crowd: the status lookup and the office's status page,
alone and while an office day runs through the desks beside them, against a real `kanim serve`.

    python bench/public.py                                  # own server in a temp dir
    python bench/public.py --applicants 2000 --seconds 10 --day-applications 400 --json result.json

When the national system is down every applicant opens these pages at once, and the desks must
keep working all the same. The bench:

1. books `--applicants` applicants (families of 1-5, over the front desk's API, not timed), whose
   numbers and birth dates the lookups then use (every lookup matches: a wrong birth date is
   throttled per client address after 20, and the bench is one address);
2. **alone**: for each route in turn, `--clients` clients send it back to back for `--seconds`
   (closed loop, keep-alive): requests/s, p50/p95/max. The routes: `GET /livez` (a bare ASGI
   endpoint in front of the whole application: the reference), `GET /api/v1/health` (FastAPI and
   one SQLite transaction), `POST /api/v1/track` (the lookup over the API), `POST /track` (the
   lookup's HTML answer, as a phone's form sends it) and `GET /status` (the status page);
3. **beside a day**: bench/office_day.py runs `--day-applications` through every desk of the same
   server (its own process, its own desk clients), while the same public clients send the two
   lookups and the status page in turn until the day ends: p95 of each, and the day's wall time.

The targets (issue 10): each lookup and the status page at least half the request rate of
`/livez`, alone, and under 100 ms p95 beside the day. The load comes from this one Python
process (a thread per client, the GIL shared): its own cost per request is in every rate, which
pushes the ratios towards 1 (a client cost of 1 ms against 0.1 ms for /livez and 2 ms for a page
reads 0.37 where the server's is 0.05). So the server's own CPU per request (its whole process
tree, from /proc) is given beside the rate, and the ratio by CPU is the server's capacity for a
page against its capacity for /livez. `--strict` exits 1 when a target is missed.

Exit code: 0 when every request answered as expected (and, with --strict, every target met), 1
otherwise.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
from rich.console import Console
from rich.table import Table

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))
import office_day as od  # noqa: E402  (the server, the accounts and the day are the office day's)

console = Console(stderr=True)
P95_TARGET_MS = 100.0
RATE_TARGET = 0.5  # of the bare endpoint's rate


@dataclass(frozen=True)
class Route:
    name: str
    method: str
    path: str
    expect: int = 200

    def send(self, c: httpx.Client, who: tuple[str, str]) -> httpx.Response:
        number, born = who
        if self.name == "track_api":
            return c.post(self.path, json={"number": number, "birth_date": born})
        if self.name == "track_page":
            return c.post(self.path, data={"number": number, "birth_date": born})
        return c.request(self.method, self.path)


REFERENCE = Route("livez", "GET", "/livez")
ROUTES = [REFERENCE, Route("health", "GET", "/api/v1/health"), Route("track_api", "POST", "/api/v1/track"),
          Route("track_page", "POST", "/track"), Route("status", "GET", "/status")]
PUBLIC = [r for r in ROUTES if r.name in ("track_api", "track_page", "status")]


def book_applicants(api: od.Api, n: int, rng: random.Random) -> list[tuple[str, str]]:
    """n applicants booked through the front desk: (application number, birth date) of each. On
    a day three weeks out, so that the day beside (office_day books the first day with room)
    finds its slots as empty as it would alone."""
    from datetime import date, timedelta

    hol = {date.fromisoformat(h["day"]) for h in api.call("setup", "front_desk", "GET", "/holidays")}
    later = next(od.next_working_days(date.today() + timedelta(days=21), hol))
    day, slots = od.choose_day(api, n, later)
    out: list[tuple[str, str]] = []
    for i, group in enumerate(od.make_groups(n, rng)):
        booked = api.call("book", "front_desk", "POST", "/bookings", json={
            "account_ref": f"public-bench-{i}", "day": day.isoformat(), "slot": slots[i % len(slots)],
            "applicants": [a.body() for a in group], "contact_phone": "+6281234567890"})
        out += [(a["number"], a["birth_date"]) for a in booked["applications"]]
    return out


class Load:
    """`clients` threads, each with its own keep-alive client, sending `routes` in turn."""

    def __init__(self, url: str, clients: int, people: list[tuple[str, str]], seed: int, server_pid: int) -> None:
        self.url, self.clients, self.people, self.seed, self.server_pid = url, clients, people, seed, server_pid

    def run(self, routes: list[Route], *, seconds: float | None = None, until: Any = None) -> dict[str, Any]:
        """Until `seconds` after every client has connected, or until `until()`."""
        lat: dict[str, list[float]] = {r.name: [] for r in routes}
        bad: dict[str, list[str]] = {r.name: [] for r in routes}
        deadline: list[float] = []
        barrier = threading.Barrier(self.clients + 1, action=lambda: deadline.append(time.monotonic() + (seconds or 0)))
        done = (lambda: time.monotonic() >= deadline[0]) if seconds is not None else until
        cpu0: list[float] = []

        def client(k: int) -> None:
            rng = random.Random(self.seed * 1000 + k)
            with httpx.Client(base_url=self.url, timeout=60) as c:
                try:
                    c.get("/livez")  # connect before the clock starts
                except httpx.HTTPError:
                    barrier.abort()  # the others (and the main thread) stop waiting: BrokenBarrierError
                    raise
                barrier.wait(timeout=120)
                if k == 0:
                    cpu0.append(tree_cpu(self.server_pid))
                i = k
                while True:  # at least one request each, so that no rate is ever 0
                    route = routes[i % len(routes)]
                    i += 1
                    t = time.perf_counter()
                    try:
                        r = route.send(c, rng.choice(self.people))
                        ok = r.status_code == route.expect
                        why = "" if ok else f"HTTP {r.status_code}: {r.text[:120]}"
                    except httpx.HTTPError as e:
                        ok, why = False, f"{type(e).__name__}: {e}"
                    if ok:
                        lat[route.name].append(time.perf_counter() - t)
                    else:
                        bad[route.name].append(why)
                    if done():
                        return

        wall = od.run_together([threading.Thread(target=client, args=(k,), daemon=True)
                                for k in range(self.clients)], barrier)
        server_cpu = tree_cpu(self.server_pid) - (cpu0[0] if cpu0 else 0.0)
        sent = sum(len(v) + len(bad[k]) for k, v in lat.items())
        return {"seconds": round(wall, 3), "server_cpu_s": round(server_cpu, 3), "routes": {
            r.name: {"path": r.path, "requests": len(lat[r.name]), "errors": len(bad[r.name]),
                     "error_samples": bad[r.name][:3], "requests_per_s": round(len(lat[r.name]) / wall, 1),
                     # the server's CPU per request (its whole process tree; with several routes in
                     # turn, shared out by their counts): what a page costs the server, free of the
                     # client's own cost, which the request rate includes
                     "server_cpu_ms": round(1000 * server_cpu / sent, 3) if sent else None,
                     **od.summary(lat[r.name])} for r in routes}}


def tree_cpu(root: int) -> float:
    """CPU seconds of a process and all its descendants (the server's worker processes)."""
    parent, cpu = {}, {}
    for d in Path("/proc").iterdir():
        if not d.name.isdigit():
            continue
        try:
            fields = (d / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        parent[int(d.name)] = int(fields[1])
        cpu[int(d.name)] = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    tree, grew = {root}, True
    while grew:
        more = {p for p, pp in parent.items() if pp in tree} - tree
        tree |= more
        grew = bool(more)
    return sum(cpu.get(p, 0.0) for p in tree)


def alone(load: Load, seconds: float) -> dict[str, Any]:
    out = {}
    for route in ROUTES:
        console.print(f"alone: {route.method} {route.path} for {seconds:g} s ...")
        out[route.name] = load.run([route], seconds=seconds)["routes"][route.name]
    ref, ref_cpu = out[REFERENCE.name]["requests_per_s"], out[REFERENCE.name]["server_cpu_ms"]
    for r in out.values():
        r["ratio_to_livez"] = round(r["requests_per_s"] / ref, 3) if ref else None
        # the rate the server could hold, as a share of /livez's: its CPU per request against
        r["cpu_ratio_to_livez"] = round(ref_cpu / r["server_cpu_ms"], 3) if ref_cpu and r["server_cpu_ms"] else None
    return out


def beside_day(load: Load, server: od.Server, args: argparse.Namespace, tmp: Path) -> dict[str, Any]:
    """The office day as its own process on the same server, the public load until it ends."""
    day_json = tmp / "day.json"
    cmd = [sys.executable, str(BENCH / "office_day.py"), "--url", server.url, "--server-pid", str(server.proc.pid),
           "--applications", str(args.day_applications), "--concurrency", str(args.day_concurrency),
           "--password", args.password, "--reference-seconds", "0.2", "--json", str(day_json)]
    console.print(f"beside a day of {args.day_applications} applications (bench/office_day.py --url) ...")
    env = {**os.environ, "KANIM_DATA_DIR": str(server.dir / "data")}
    day = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    # The load runs while the day does: from the line office_day prints as the desks start (its
    # logins, booklets and references before are not the day) until the process ends.
    started, out = threading.Event(), []

    def read_out() -> None:
        for line in day.stdout:
            out.append(line)
            if line.startswith("the day:"):
                started.set()
        started.set()  # ended before the day began: the load below sends its one round and stops

    reader = threading.Thread(target=read_out, daemon=True)
    reader.start()
    started.wait(timeout=300)
    public = load.run(PUBLIC, until=lambda: day.poll() is not None)
    err = day.stderr.read()
    day.wait(timeout=60)
    reader.join(10)
    result = json.loads(day_json.read_text()) if day_json.exists() else {}
    return {"public": public["routes"], "seconds": public["seconds"], "day_exit": day.returncode,
            "day_error": None if day.returncode == 0 else ("".join(out) + err)[-1500:],
            "day": {k: result.get("day", {}).get(k) for k in ("applications", "handed_over", "wall_s", "calls_per_s")}}


def verdict(res: dict[str, Any]) -> dict[str, bool]:
    """Each target, met or not. The rate as measured is bounded by this one Python client; the
    server's CPU per request says what the server itself could hold: both are given."""
    a, b = res["alone"], res["beside_day"]["public"]
    return {**{f"{n}_rate_at_least_half_of_livez": (a[n].get("ratio_to_livez") or 0) >= RATE_TARGET for n in b},
            **{f"{n}_server_cpu_at_most_twice_livez": (a[n].get("cpu_ratio_to_livez") or 0) >= RATE_TARGET
               for n in b},
            **{f"{n}_p95_under_100_ms_beside_the_day": b[n].get("p95_ms", float("inf")) < P95_TARGET_MS for n in b}}


def _f(value: float | None, fmt: str) -> str:
    return "–" if value is None else format(value, fmt)


def show(res: dict[str, Any]) -> None:
    t = Table(title=f"public pages, {res['config']['clients']} clients")
    for col in ("route", "alone req/s", "alone p50/p95 ms", "× /livez", "server CPU ms/req", "× /livez by CPU",
                "beside the day req/s", "beside p95 ms"):
        t.add_column(col, justify="left" if col == "route" else "right")
    for name, a in res["alone"].items():
        b = res["beside_day"]["public"].get(name, {})
        t.add_row(a["path"], _f(a["requests_per_s"], ".0f"), f"{_f(a.get('p50_ms'), '.1f')} / {_f(a.get('p95_ms'), '.1f')}",
                  _f(a.get("ratio_to_livez"), ".2f"), _f(a.get("server_cpu_ms"), ".2f"),
                  _f(a.get("cpu_ratio_to_livez"), ".2f"), _f(b.get("requests_per_s"), ".0f"), _f(b.get("p95_ms"), ".1f"))
    console.print(t)
    d = res["beside_day"]["day"]
    console.print(f"the day beside: {d['handed_over']}/{d['applications']} handed over in {d['wall_s'] or 0:.1f} s")
    for k, ok in res["targets"].items():
        console.print(f"  {'met   ' if ok else 'MISSED'} {k}")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--applicants", type=int, default=1000, help="booked applicants the lookups ask about")
    p.add_argument("--clients", type=int, default=8, help="public clients in parallel (closed loop)")
    p.add_argument("--seconds", type=float, default=10.0, help="each route alone for this long")
    p.add_argument("--day-applications", type=int, default=400, help="the office day beside")
    p.add_argument("--day-concurrency", type=int, default=4, help="its desk workers")
    p.add_argument("--password", default="bench-password-2026")
    p.add_argument("--seed", type=int, default=None)
    p.add_argument("--workers", type=int, default=os.cpu_count() or 1, help="the server's processes")
    p.add_argument("--strict", action="store_true", help="exit 1 when a target is missed")
    p.add_argument("--keep", action="store_true", help="keep the temp data dir and server.log")
    p.add_argument("--json", type=Path, help="write the results here")
    args = p.parse_args(argv)
    if min(args.applicants, args.clients) < 1 or args.seconds <= 0 or args.day_applications < 1:
        p.error("--applicants, --clients and --day-applications must be at least 1, --seconds above 0")
    seed = args.seed if args.seed is not None else random.randrange(2**32)
    quota = max(1000, args.applicants + args.day_applications + 50)
    console.print(f"starting kanim serve (KANIM_DAILY_QUOTA={quota}, {args.workers} worker(s)) ...")
    server = od.Server(quota, 0.5, args.password, args.keep, workers=args.workers)
    api = None
    try:
        server.wait_healthy()
        api = od.Api(server.url, od.Recorder(), timeout=120)
        if not api.login("front_desk", "bench_front_desk", args.password):
            raise SystemExit("could not log in the bench's front desk account")
        console.print(f"booking {args.applicants} applicants to look up ...")
        people = book_applicants(api, args.applicants, random.Random(seed))
        load = Load(server.url, args.clients, people, seed, server.proc.pid)
        load0 = os.getloadavg()[0]
        res: dict[str, Any] = {
            "benchmark": "public", "date": datetime.now(UTC).isoformat(timespec="seconds"),
            "command": " ".join([Path(sys.executable).name, *sys.argv]), "machine": od.machine(),
            "config": {"applicants": len(people), "clients": args.clients, "seconds": args.seconds,
                       "day_applications": args.day_applications, "day_concurrency": args.day_concurrency,
                       "workers": args.workers, "seed": seed},
            "alone": alone(load, args.seconds)}
        res["beside_day"] = beside_day(load, server, args, server.dir)
        res["loadavg"] = {"before": load0, "after": os.getloadavg()[0]}
        res["targets"] = verdict(res)
        errors = sum(r["errors"] for r in [*res["alone"].values(), *res["beside_day"]["public"].values()])
        res["ok"] = errors == 0 and res["beside_day"]["day_exit"] == 0
        show(res)
        if args.json:
            args.json.write_text(json.dumps(res, indent=2) + "\n")
            console.print(f"results written to {args.json}")
        if not res["ok"]:
            console.print(f"[red]{errors} request(s) failed; the day exited {res['beside_day']['day_exit']}[/red]")
            return 1
        return 1 if args.strict and not all(res["targets"].values()) else 0
    finally:
        if api is not None:
            api.close()
        server.stop()


if __name__ == "__main__":
    sys.exit(main())
