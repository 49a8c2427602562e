#!/usr/bin/env python
"""National drain benchmark (issue 12): the central comes back after a national outage and
every office's backlog drains into it at once. Offices are real `kanim worker` processes (the
relay alone) on their own SQLite, the central one `kanim serve --role central` on PostgreSQL.

    python bench/national.py --offices 2 --total 4 --templates 1 --vault-sets 1   # smoke
    python bench/national.py --offices 20 --total 20000 --json national.json
    python bench/national.py --offices 20 --total 20000 --central-workers 2

What it measures, from t=0 (the central is up and every office's relay is started at once,
"the national outage ends"): the time until every passport of the country is ready (each
application reaches stage `ready` at its office when the central's clearance decisions come
back through the feed that the relay pulls), each office's time to its first 50 ready (all of
them when it has fewer), time to all its own ready and its rate, and the central's peak memory
(RSS of the central process and its worker children, sampled from /proc, and the kernel's
high-water mark VmHWM of each). Then, by SQL at the central against each office's outbox: no
operation lost (an outbox row the central has no `central_operation` row for), none doubled
(two rows for one office operation id or one office sequence number, or two registry
applications with one number), every outbox row `sent` (none `dead` or `pending`).

The backlogs are bench/drain.py's (imported, not copied): templates walked through the real
desks, cloned into each office's SQLite with its own code, booklets (what `provision` allocated
to it), and NIKs, KK numbers, billing codes and receipts unique in the whole country; every
applicant is in the central's civil registry. Sizes have the shape of the real ones: one large
office (2,600), several middle ones (700: 30% of the offices), the rest small (175: a few days of
a small office cut off); when `--total` differs from that sum every size is scaled by the same
factor (at least 1 per office): 20 offices and 20,000 applications are one of 5,730, six of
1,543 and thirteen of 385-386 (20 offices at the sizes themselves would be 9,075).

The central runs as configured by default (KANIM_CENTRAL_OFFICE_RATE as shipped, 1,000
operations/s per office); `--central-workers N` starts it with `--workers N`.

Output: a Rich table per office and a summary, `--json FILE`. Exit 0 when every application of
every office is ready and nothing was lost or doubled, else 1; `--strict` also exits 1 when a
goal is missed (every passport ready within 2 minutes; every office's first 50 within 30 s).
Needs PostgreSQL (`--database-url`, as bench/drain.py); works in a schema `bench_national_<id>`
and drops it at the end (`--keep` keeps it and the temp dir).
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import json
import math
import os
import random
import secrets
import shutil
import sqlite3
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rich.table import Table

BENCH = Path(__file__).resolve().parent
if str(BENCH) not in sys.path:
    sys.path.insert(0, str(BENCH))

import drain  # noqa: E402 - bench/drain.py, beside this file
from drain import MB, console  # noqa: E402

GOAL_ALL_READY_S = 120.0
GOAL_FIRST_50_S = 30.0
FIRST_N = 50
# (size at full scale, applications a day) by kind of office; see the docstring.
LARGE, MIDDLE, SMALL = (2600, 400), (700, 140), (175, 60)
CODES = ["JKT", "SBY", "MDN", "MKS", "DPS", "BDG", "SMG", "YGY", "PLM", "BPN", "PTK", "MDO", "AMB", "JYP",
         "KPG", "BTM", "PDG", "PKU", "BJM", "MTR", "SRG", "TGR", "BKS", "DPK", "CLG", "SKB", "TSK", "CRB",
         "TGL", "PKL", "KDS", "MGL", "SOC", "MLG", "KDR", "BLT", "JMB", "BWI", "PRB", "BGR"]


# -- arguments ---------------------------------------------------------------------------------

def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--offices", type=int, default=20, help="offices, each a relay process (default 20)")
    p.add_argument("--total", type=int, default=20_000, help="applications in all (default 20000)")
    p.add_argument("--database-url", default=os.environ.get("KANIM_BENCH_DATABASE_URL", drain.DEFAULT_PG))
    p.add_argument("--timeout", type=float, default=1800, help="give up waiting for ready after this many seconds")
    p.add_argument("--central-workers", type=int, default=1, help="`kanim serve --workers N` for the central")
    p.add_argument("--batch", type=int, default=200, help="relay batch size, KANIM_LINK_BATCH (default 200)")
    p.add_argument("--fingerprint", choices=["jp2", "png"], default="jp2", help="as bench/drain.py")
    p.add_argument("--templates", type=int, default=4, help="applications walked through the real desks (1-6)")
    p.add_argument("--vault-sets", type=int, default=16, help="distinct capture sets in each office's vault")
    p.add_argument("--poll", type=float, default=0.5, help="seconds between reads of the offices' ready counts")
    p.add_argument("--json", type=Path, help="write the results here too")
    p.add_argument("--strict", action="store_true", help="exit 1 also when a goal is missed")
    p.add_argument("--keep", action="store_true", help="keep the temp dir and the PostgreSQL schema")
    p.add_argument("--seed", type=int, default=20261201)
    a = p.parse_args(argv)
    if not 1 <= a.offices <= len(CODES):
        p.error(f"--offices must be 1..{len(CODES)}")
    if a.total < a.offices:
        p.error("--total must give every office at least one application")
    if not 1 <= a.templates <= len(drain.TEMPLATE_PEOPLE):
        p.error(f"--templates must be 1..{len(drain.TEMPLATE_PEOPLE)}")
    if a.central_workers < 1:
        p.error("--central-workers must be at least 1")
    return a


def office_sizes(offices: int, total: int) -> list[tuple[int, int, str]]:
    """(applications, per day, kind) per office: one large, 30% middle, the rest small, scaled
    to `total` with largest-remainder rounding and at least one each."""
    middle = min(offices - 1, round(offices * 0.3)) if offices > 1 else 0
    kinds = [("large", *LARGE)] + [("middle", *MIDDLE)] * middle + [("small", *SMALL)] * (offices - 1 - middle)
    weight = sum(k[1] for k in kinds)
    exact = [k[1] * total / weight for k in kinds]
    sizes = [max(1, math.floor(x)) for x in exact]
    order = sorted(range(offices), key=lambda i: exact[i] - math.floor(exact[i]), reverse=True)
    j = 0
    while sum(sizes) < total:
        sizes[order[j % offices]] += 1
        j += 1
    while sum(sizes) > total:  # the minimum of one pushed it over: take from the largest
        sizes[max(range(offices), key=lambda i: sizes[i])] -= 1
    return [(n, per_day, kind) for n, (kind, _, per_day) in zip(sizes, kinds, strict=True)]


@contextlib.contextmanager
def one_password_hash() -> Iterator[None]:
    """`provision` gives every node one staff account per role, each password hashed with argon2
    (0.3 s on this machine: a minute for 20 offices). The bench logs in nowhere, so the same
    password is hashed once and that (valid) hash reused for every account."""
    from kanim.office import accounts

    original = accounts.hash_password
    accounts.hash_password = functools.lru_cache(maxsize=None)(original)
    try:
        yield
    finally:
        accounts.hash_password = original


# -- /proc -------------------------------------------------------------------------------------

def _status(pid: int) -> dict[str, str]:
    try:
        return dict(line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines()
                    if ":" in line)
    except OSError:
        return {}


def _kb(s: dict[str, str], key: str) -> int:
    v = s.get(key, "").split()
    return int(v[0]) * 1024 if v else 0


def _ppids() -> dict[int, int]:
    out = {}
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            try:
                stat = (d / "stat").read_text()
                out[int(d.name)] = int(stat[stat.rindex(")") + 2:].split()[1])
            except (OSError, ValueError, IndexError):
                pass
    return out


def process_tree(pid: int) -> list[int]:
    kids: dict[int, list[int]] = {}
    for child, parent in _ppids().items():
        kids.setdefault(parent, []).append(child)
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        todo += kids.get(p, [])
    return out


def cpu_seconds(pids: list[int]) -> float:
    tick = os.sysconf("SC_CLK_TCK")
    total = 0
    for pid in pids:
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
            f = stat[stat.rindex(")") + 2:].split()
            total += int(f[11]) + int(f[12])  # utime, stime
        except (OSError, ValueError, IndexError):
            pass
    return total / tick


def postgres_cpu() -> float:
    """CPU seconds of every PostgreSQL process since it started, plus those of the backends that
    have exited (reaped by the postmaster: its cutime and cstime). Other clients' work on the
    same server is in it too."""
    pids = postgres_pids()
    total = cpu_seconds(pids)
    ppids = _ppids()
    for pid in pids:
        if ppids.get(pid) not in pids:  # the postmaster
            try:
                stat = Path(f"/proc/{pid}/stat").read_text()
                f = stat[stat.rindex(")") + 2:].split()
                total += (int(f[13]) + int(f[14])) / os.sysconf("SC_CLK_TCK")
            except (OSError, ValueError, IndexError):
                pass
    return total


def postgres_pids() -> list[int]:
    out = []
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            try:
                if (d / "comm").read_text().strip() == "postgres":
                    out.append(int(d.name))
            except OSError:
                pass
    return out


def machine_busy_seconds() -> tuple[float, float]:
    """(busy, all) CPU seconds of the whole machine since boot, from /proc/stat."""
    f = [int(x) for x in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    tick = os.sysconf("SC_CLK_TCK")
    idle = f[3] + (f[4] if len(f) > 4 else 0)
    return (sum(f) - idle) / tick, sum(f) / tick


# -- offices -----------------------------------------------------------------------------------

@dataclass
class Office:
    code: str
    applications: int
    per_day: int
    kind: str
    spec: Any
    db: Path
    operations: int = 0
    build_seconds: float = 0.0
    proc: Any = None
    ready: int = 0
    first_ready_s: float | None = None
    first_n_s: float | None = None
    all_ready_s: float | None = None
    read_errors: int = 0
    outbox: dict[str, int] = field(default_factory=dict)
    central: dict[str, int] = field(default_factory=dict)


def count_ready(db: Path) -> int | None:
    """Read-only and short-lived: the relay's writes never wait on the bench."""
    try:
        conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=2)
        try:
            return conn.execute("SELECT count(*) FROM application WHERE stage = 'ready'").fetchone()[0]
        finally:
            conn.close()
    except sqlite3.Error:
        return None


def pending_of(db: Path) -> int:
    try:
        conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=2)
        try:
            return conn.execute("SELECT count(*) FROM outbox WHERE status = 'pending'").fetchone()[0]
        finally:
            conn.close()
    except sqlite3.Error:
        return -1


def outbox_of(db: Path) -> tuple[dict[str, int], list[tuple[str, int, str]]]:
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=10)
    try:
        status = dict(conn.execute("SELECT status, count(*) FROM outbox GROUP BY status").fetchall())
        rows = conn.execute("SELECT id, seq, status FROM outbox").fetchall()
    finally:
        conn.close()
    return status, rows


# -- the SQL check at the central --------------------------------------------------------------

def check_at_central(pg_url: str, schema: str, offices: list[Office]) -> dict[str, Any]:
    """Per office: outbox rows marked sent (or dead) without a central_operation row (lost; a
    row still pending when the run stopped is `unsent`, not lost), central rows for ids the
    outbox never had (unknown), and doubles: one (office, id) or one (office, office_seq) twice,
    one application number twice in the registry."""
    with drain.pg_connect(pg_url) as conn:
        conn.execute(f'SET search_path TO "{schema}"')
        conn.execute("CREATE TEMP TABLE bench_outbox (office_code text, id text, seq bigint, status text)")
        for o in offices:
            o.outbox, rows = outbox_of(o.db)
            with conn.cursor().copy("COPY bench_outbox (office_code, id, seq, status) FROM STDIN") as cp:
                for op_id, seq, status in rows:
                    cp.write_row((o.code, op_id, seq, status))
        conn.execute("CREATE INDEX ON bench_outbox (office_code, id)")
        q = {
            "lost": """SELECT b.office_code, count(*) FROM bench_outbox b LEFT JOIN central_operation c
                       ON c.office_code = b.office_code AND c.id = b.id WHERE c.id IS NULL AND b.status <> 'pending'
                       GROUP BY 1""",
            "unsent": """SELECT b.office_code, count(*) FROM bench_outbox b LEFT JOIN central_operation c
                         ON c.office_code = b.office_code AND c.id = b.id WHERE c.id IS NULL AND b.status = 'pending'
                         GROUP BY 1""",
            "unknown": """SELECT c.office_code, count(*) FROM central_operation c LEFT JOIN bench_outbox b
                          ON c.office_code = b.office_code AND c.id = b.id WHERE b.id IS NULL GROUP BY 1""",
            "doubled_id": """SELECT office_code, sum(n - 1) FROM (SELECT office_code, id, count(*) n
                             FROM central_operation GROUP BY 1, 2 HAVING count(*) > 1) d GROUP BY 1""",
            "doubled_seq": """SELECT office_code, sum(n - 1) FROM (SELECT office_code, office_seq, count(*) n
                              FROM central_operation GROUP BY 1, 2 HAVING count(*) > 1) d GROUP BY 1""",
            "doubled_number": """SELECT office_code, sum(n - 1) FROM (SELECT office_code, number, count(*) n
                                 FROM registry_application GROUP BY 1, 2 HAVING count(*) > 1) d GROUP BY 1""",
            "operations": "SELECT office_code, count(*) FROM central_operation GROUP BY 1",
            "rejected": "SELECT office_code, count(*) FROM central_operation WHERE NOT ok GROUP BY 1",
            "applications": "SELECT office_code, count(*) FROM registry_application GROUP BY 1",
        }
        found = {k: dict(conn.execute(sql).fetchall()) for k, sql in q.items()}
        conn.rollback()
    for o in offices:
        o.central = {k: int(v.get(o.code, 0)) for k, v in found.items()}
        o.central["doubled"] = o.central["doubled_id"] + o.central["doubled_seq"] + o.central["doubled_number"]
    return {"lost": sum(o.central["lost"] for o in offices),
            "unknown": sum(o.central["unknown"] for o in offices),
            "unsent": sum(o.central["unsent"] for o in offices),
            "doubled": sum(o.central["doubled"] for o in offices),
            "rejected": sum(o.central["rejected"] for o in offices)}


# -- main --------------------------------------------------------------------------------------

def main(argv: list[str] | None = None) -> int:  # noqa: PLR0915
    args = parse_args(argv)
    from kanim.bootstrap import bootstrap
    from kanim.central.node import bootstrap_central
    from kanim.central.service import load_civil_registry
    from kanim.config import Settings
    from kanim.ops.cluster import CentralSpec, OfficeSpec, free_port, provision

    rng = random.Random(args.seed)
    info = drain.machine()
    tmp = Path(tempfile.mkdtemp(prefix="kanim-national-"))
    schema = f"bench_national_{os.getpid()}_{secrets.token_hex(3)}"
    central_url = drain.schema_url(args.database_url, schema)
    central_proc = None
    offices: list[Office] = []
    setup_t0 = time.perf_counter()
    try:
        with drain.pg_connect(args.database_url, autocommit=True) as conn:
            conn.execute(f'CREATE SCHEMA "{schema}"')
            info["postgres"] = conn.execute("SHOW server_version").fetchone()[0]

        cspec = CentralSpec(tmp / "central", free_port(), database_url=central_url, treasury="trusting")
        sizes = office_sizes(args.offices, args.total)
        for code, (n, per_day, kind) in zip(CODES, sizes, strict=False):
            spec = OfficeSpec(code, tmp / code, free_port(), cspec.url,
                              extra={"link_batch": str(args.batch), "link_timeout": "600"})
            offices.append(Office(code, n, per_day, kind, spec, (tmp / code / "kanim.db").resolve()))
        t = time.perf_counter()
        with console.status(f"provisioning the central and {len(offices)} offices"), one_password_hash():
            provision(cspec, [o.spec for o in offices], booklets_per_office=max(o.applications for o in offices))
        provision_s = time.perf_counter() - t
        # The central boots while the queues are built (it takes no operation before t = 0).
        proc = cspec.process()
        if args.central_workers > 1:
            proc.args += ["--workers", str(args.central_workers)]
        proc.env["PYTHONUNBUFFERED"] = "1"
        central_url_http, proc.url = proc.url, None
        central_proc = proc.start()
        proc.url = central_url_http

        t = time.perf_counter()
        with console.status("walking template applications through the desks"):
            templates = drain.walk_templates(tmp / "templates", args.templates)
        finger = drain.fingerprint_bytes(templates[0].finger_png, args.fingerprint)
        walk_s = time.perf_counter() - t

        people: list[dict[str, Any]] = []
        offset = 0
        with console.status(f"queueing {args.total:,} applications in {len(offices)} offices"):
            for i, o in enumerate(offices):
                node = bootstrap(o.spec.office_settings(), central=None)
                q = drain.build_queue(node, templates, n=o.applications, per_day=o.per_day,
                                      vault_sets=max(1, min(args.vault_sets, o.applications)), fingerprint=finger,
                                      rng=rng, office_code=o.code, first_booklet=1_000_001 + i * 100_000,
                                      serial_offset=offset)
                offset += o.applications
                o.operations = drain.pending_count(node)  # with provision's BookletsReceived
                o.build_seconds = q.seconds
                people += q.people
                node.engine.dispose()
        operations = sum(o.operations for o in offices)
        assert len({p["nik"] for p in people}) == len(people) == args.total, "NIKs must be unique nationally"
        console.print(f"{len(offices)} offices, {args.total:,} applications, {operations:,} operations "
                      f"(sizes {', '.join(str(o.applications) for o in offices)}); "
                      f"provisioned in {provision_s:.1f}s, queues built in {sum(o.build_seconds for o in offices):.1f}s")

        t = time.perf_counter()
        node = bootstrap_central(Settings(**cspec.settings()))
        csv_path = tmp / "civil.csv"
        with open(csv_path, "w", encoding="utf-8") as f:
            f.write("nik,full_name,birth_date,sex,kk_number\n")
            for p in people:
                f.write(f"{p['nik']},{p['full_name']},{p['birth_date']},{p['sex']},{p['kk_number']}\n")
        load_civil_registry(node, csv_path)
        node.engine.dispose()
        registry_s = time.perf_counter() - t
        t = time.perf_counter()
        central_proc.wait_healthy(120)
        central_wait_s = time.perf_counter() - t
        drain.checkpoint(args.database_url)
        setup_s = time.perf_counter() - setup_t0

        # t = 0: the national outage ends; every office's relay starts at once.
        load_before = os.getloadavg()
        busy0, all0 = machine_busy_seconds()
        pg_cpu0 = postgres_cpu()
        t0 = time.monotonic()
        for o in offices:
            o.proc = o.spec.worker().start()
        peak_rss, samples, next_note = 0, 0, t0 + 30
        central_tree: list[int] = [central_proc.proc.pid]
        all_ready_s = None
        timed_out = False
        while True:
            now = time.monotonic() - t0
            for o in offices:
                if o.all_ready_s is not None:
                    continue
                n = count_ready(o.db)
                if n is None:
                    o.read_errors += 1
                    continue
                o.ready = n
                if n > 0 and o.first_ready_s is None:
                    o.first_ready_s = now
                if n >= min(FIRST_N, o.applications) and o.first_n_s is None:
                    o.first_n_s = now
                if n >= o.applications:
                    o.all_ready_s = now
            tree = process_tree(central_proc.proc.pid)
            central_tree = sorted(set(central_tree) | set(tree))
            peak_rss = max(peak_rss, sum(_kb(_status(p), "VmRSS") for p in tree))
            samples += 1
            ready = sum(o.ready for o in offices)
            if all(o.all_ready_s is not None for o in offices):
                all_ready_s = max(o.all_ready_s for o in offices)
                break
            if now > args.timeout:
                timed_out = True
                break
            if not central_proc.alive:
                console.print(f"[red]the central exited:[/]\n{central_proc.tail()}")
                break
            if time.monotonic() > next_note:
                console.log(f"{ready:,}/{args.total:,} ready after {now:.0f}s ({ready / now:.0f}/s); "
                            f"offices all ready {sum(o.all_ready_s is not None for o in offices)}/{len(offices)}; "
                            f"central RSS {peak_rss / MB:.0f} MB peak")
                next_note += 30
            time.sleep(max(0.0, args.poll - (time.monotonic() - t0 - now)))
        elapsed = time.monotonic() - t0
        # Applying the decisions writes new outbox rows at each office (its own clearance and
        # stage changes): the check waits until the relays have sent those too.
        settled_s = None
        while all_ready_s is not None and central_proc.alive:
            if all(pending_of(o.db) == 0 for o in offices):
                settled_s = time.monotonic() - t0
                break
            if time.monotonic() - t0 > args.timeout:
                timed_out = True
                break
            time.sleep(args.poll)
        load_after = os.getloadavg()
        busy1, all1 = machine_busy_seconds()
        central_cpu = cpu_seconds(process_tree(central_proc.proc.pid))
        central_hwm = {p: _kb(_status(p), "VmHWM") for p in process_tree(central_proc.proc.pid)}
        relay_pids = [pid for o in offices if o.proc.alive for pid in process_tree(o.proc.proc.pid)]
        relay_cpu = cpu_seconds(relay_pids)
        relay_rss = sum(_kb(_status(p), "VmRSS") for p in relay_pids)
        pg_cpu = postgres_cpu() - pg_cpu0
        worker_exits = {o.code: o.proc.proc.returncode for o in offices if not o.proc.alive}
        for o in offices:
            o.proc.stop()
        central_proc.stop()

        with console.status("checking every office's outbox against the central by SQL"):
            check = check_at_central(args.database_url, schema, offices)

        n_ready = sum(o.ready for o in offices)
        dead = sum(o.outbox.get("dead", 0) for o in offices)
        pending = sum(o.outbox.get("pending", 0) for o in offices)
        firsts = [o.first_n_s for o in offices]
        slowest_first = None if None in firsts else max(firsts)
        ok = (all_ready_s is not None and n_ready == args.total and check["lost"] == 0 and check["doubled"] == 0
              and check["unknown"] == 0 and dead == 0 and pending == 0)
        goals = {"all_ready_within_120_s": all_ready_s is not None and all_ready_s <= GOAL_ALL_READY_S,
                 "every_first_50_within_30_s": slowest_first is not None and slowest_first <= GOAL_FIRST_50_S,
                 "nothing_lost_or_doubled": check["lost"] == 0 and check["doubled"] == 0 and check["unknown"] == 0}
        rates = [o.applications / o.all_ready_s for o in offices if o.all_ready_s]
        result = {
            "benchmark": "national",
            "machine": info,
            "command": " ".join([Path(sys.argv[0]).name, *(argv if argv is not None else sys.argv[1:])]),
            "config": {"offices": len(offices), "total": args.total, "central_workers": args.central_workers,
                       "batch": args.batch, "fingerprint": args.fingerprint, "templates": args.templates,
                       "vault_sets": args.vault_sets, "poll_s": args.poll, "timeout_s": args.timeout},
            "setup": {"seconds": round(setup_s, 1), "provision_s": round(provision_s, 1),
                      "templates_s": round(walk_s, 1), "queues_s": round(sum(o.build_seconds for o in offices), 1),
                      "civil_registry_s": round(registry_s, 1),
                      "central_boot_wait_s": round(central_wait_s, 1)},
            "offices": [{
                "code": o.code, "kind": o.kind, "applications": o.applications, "per_day": o.per_day,
                "operations": o.operations, "ready": o.ready,
                "first_ready_s": _r(o.first_ready_s), "first_50_s": _r(o.first_n_s), "all_ready_s": _r(o.all_ready_s),
                "apps_per_s": round(o.applications / o.all_ready_s, 2) if o.all_ready_s else None,
                "outbox": o.outbox, "central": o.central, "read_errors": o.read_errors,
                "relay_exit": worker_exits.get(o.code),
            } for o in offices],
            "national": {"applications": args.total, "operations": operations, "ready": n_ready,
                         "all_ready_s": _r(all_ready_s), "elapsed_s": round(elapsed, 2), "timed_out": timed_out,
                         "outboxes_empty_s": _r(settled_s),
                         "apps_per_s": round(n_ready / elapsed, 2), "ops_per_s": round(operations / elapsed, 1)
                         if all_ready_s else None,
                         "slowest_first_50_s": _r(slowest_first),
                         "fastest_first_50_s": _r(min((f for f in firsts if f is not None), default=None)),
                         "office_apps_per_s_min": round(min(rates), 2) if rates else None,
                         "office_apps_per_s_max": round(max(rates), 2) if rates else None},
            "central": {"peak_rss_bytes": peak_rss, "peak_rss_mb": round(peak_rss / MB, 1),
                        "vmhwm_mb": {str(p): round(v / MB, 1) for p, v in central_hwm.items()},
                        "processes": len(central_hwm), "rss_samples": samples},
            "relays": {"rss_mb_at_end": round(relay_rss / MB, 1)},
            "cpu_seconds": {"machine_busy": round(busy1 - busy0, 1), "machine_capacity": round(all1 - all0, 1),
                            "central": round(central_cpu, 1), "relays": round(relay_cpu, 1),
                            "postgres": round(pg_cpu, 1),
                            "other": round(busy1 - busy0 - central_cpu - relay_cpu - pg_cpu, 1)},
            "check": {**check, "dead": dead, "pending": pending},
            "lost": check["lost"], "doubled": check["doubled"],
            "goals": goals,
            "loadavg_1_5_15": {"before": [round(x, 2) for x in load_before],
                               "after": [round(x, 2) for x in load_after]},
            "ok": ok,
        }
        report(result)
        if args.json:
            args.json.write_text(json.dumps(result, indent=2, default=str))
        if not ok:
            return 1
        return 1 if args.strict and not all(goals.values()) else 0
    finally:
        for o in offices:
            if o.proc is not None:
                o.proc.stop()
        if central_proc is not None:
            central_proc.stop()
        if args.keep:
            console.print(f"kept: {tmp}, schema {schema}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)
            try:
                with drain.pg_connect(args.database_url, autocommit=True) as conn:
                    conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
            except Exception as e:  # noqa: BLE001 - cleanup must not hide the run's own error
                console.print(f"[red]could not drop schema {schema}: {e}[/]")


def _r(x: float | None) -> float | None:
    return None if x is None else round(x, 2)


def _s(x: float | None) -> str:
    return "–" if x is None else f"{x:.1f}"


def report(r: dict[str, Any]) -> None:
    t = Table(title=f"national drain: {r['config']['offices']} offices, {r['config']['total']:,} applications, "
                    f"central workers {r['config']['central_workers']}")
    for col in ("office", "kind", "apps", "ops", "first ready s", "first 50 s", "all ready s", "apps/s",
                "outbox sent/pending/dead", "central ops", "lost", "doubled", "rejected"):
        t.add_column(col, justify="left" if col in ("office", "kind") else "right")
    for o in r["offices"]:
        ob, c = o["outbox"], o["central"]
        t.add_row(o["code"], o["kind"], f"{o['applications']:,}", f"{o['operations']:,}", _s(o["first_ready_s"]),
                  _s(o["first_50_s"]), _s(o["all_ready_s"]), _s(o["apps_per_s"]),
                  f"{ob.get('sent', 0):,}/{ob.get('pending', 0):,}/{ob.get('dead', 0):,}", f"{c['operations']:,}",
                  str(c["lost"]), str(c["doubled"]), str(c["rejected"]))
    console.print(t)
    n, c, cpu = r["national"], r["central"], r["cpu_seconds"]
    s = Table(title="national")
    s.add_column("figure")
    s.add_column("value", justify="right")
    s.add_column("goal")
    g = r["goals"]
    s.add_row("every passport ready (s)", _s(n["all_ready_s"]) + ("" if not n["timed_out"] else " (timed out)"),
              f"≤ {GOAL_ALL_READY_S:.0f}: {'met' if g['all_ready_within_120_s'] else 'missed'}")
    s.add_row("slowest office's first 50 ready (s)", _s(n["slowest_first_50_s"]),
              f"≤ {GOAL_FIRST_50_S:.0f}: {'met' if g['every_first_50_within_30_s'] else 'missed'}")
    s.add_row("fastest office's first 50 ready (s)", _s(n["fastest_first_50_s"]), "")
    s.add_row("ready", f"{n['ready']:,} / {n['applications']:,}", "")
    s.add_row("national rate (applications/s)", f"{n['apps_per_s']:.1f}", "")
    s.add_row("office rates (applications/s)", f"{_s(n['office_apps_per_s_min'])} – {_s(n['office_apps_per_s_max'])}",
              "")
    s.add_row("central peak RSS (MB)", f"{c['peak_rss_mb']:,.1f}", f"{c['processes']} process(es)")
    s.add_row("lost / doubled / unknown / rejected", f"{r['check']['lost']} / {r['check']['doubled']} / "
              f"{r['check']['unknown']} / {r['check']['rejected']}",
              "0 / 0: " + ("met" if g["nothing_lost_or_doubled"] else "missed"))
    s.add_row("outbox pending / dead", f"{r['check']['pending']} / {r['check']['dead']}", "")
    s.add_row("CPU s: central / relays / postgres / other",
              f"{cpu['central']} / {cpu['relays']} / {cpu['postgres']} / {cpu['other']}",
              f"of {cpu['machine_capacity']} ({cpu['machine_busy']} busy)")
    console.print(s)
    if not r["ok"]:
        console.print("[red]not every application ready, or something lost or doubled[/]")


if __name__ == "__main__":
    sys.exit(main())
