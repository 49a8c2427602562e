#!/usr/bin/env python
"""Drain benchmark: an office's backlog of applications with photo and fingerprints, pushed by
the real relay over signed HTTP into a real central process on PostgreSQL; compared, in the same
run, with a raw `COPY` of the same rows and bytes into the same server.

    python bench/drain.py --quick                                 # 500 applications, smoke run
    python bench/drain.py --applications 10000 --batch 200 --json drain.json
    python bench/drain.py --fingerprint png                       # fingerprints as kanim stores them
    python bench/drain.py --quick --profile /tmp/drain-prof       # cProfile (relay) + py-spy (central)

What runs (nothing of kanim is stubbed on the drain path):

1. Templates: a scratch office (SQLite, no central: the office is cut off, as during an outage)
   walks `--templates` applicants through the real desks with `kanim.seed.advance` up to the
   print operator's quality check: booking, check-in, 3-4 document scans, intake, billing,
   payment, photo (OpenCV checks, normalised JPEG), 9 fingerprints + 1 finger exception,
   capture, interview, approval, print, QC. Each leaves 14 outbox rows (ApplicationBooked ...
   QualityCheckPassed, with the office's provisional ClearanceChanged rows), its application,
   booking and 11 biometric rows (face, 9 prints, 1 finger exception). That is the exact
   shape of the queue an office builds while the link is down.
2. The bench office and the central are provisioned with `kanim.ops.cluster.provision` (keys,
   office registered at the central, N booklets allocated and received, staff accounts); the
   central's civil registry gets every applicant (so NIK checks agree), treasury "trusting".
3. The queue: N applications cloned from the templates into the bench office's SQLite with
   SQLAlchemy Core on kanim's own tables (same column types, JSON encoding, timestamps): for
   each, a booking, an application, 11 biometric rows and 14 outbox rows whose payloads carry
   the new application's own values (number, NIK, name, billing code, receipt, booklet serial,
   queue ticket, times). Priorities as the office's `drain_priority` ranks them with no travel
   date (95% none, 2% travel, 2% hajj/umrah, 1% medical). Rows are interleaved like a real day: `--per-day` applications a day, each
   op at its check-in time plus the desk's offset, in time order (so a 200-row batch mixes
   many applications and on average ~14 capture operations, as a real backlog does).
   Biometric rows point at real vault files: `--vault-sets` sets (face + 9 fingers) written
   with the office's own `Vault.put` (AES-256-GCM, fsync) and shared round-robin by the
   applications. The relay reads, decrypts, hashes and base64-encodes every row's file on its
   own, so the CPU work per application is the same as with one file each; only the page cache
   is warmer (`--vault-sets N` = one set per application makes every file distinct).
4. The drain: `kanim serve --role central` as its own process (KANIM_DATABASE_URL on
   PostgreSQL, in a fresh schema; KANIM_CENTRAL_OFFICE_RATE=1e9 so back-pressure never
   triggers), and this process runs the real `Relay(office, HttpCentral(...)).push_round()` in
   a loop until the queue is empty (or `--timeout`). The only addition is instrumentation:
   HttpCentral is subclassed to count request bytes and time the HTTP round trip, and the
   relay module's select_batch/to_operation/mark are wrapped with timers.
5. The raw COPY: every row the drain left at the central for this office (registry_application,
   central_operation, registry_biometric, central_payment, registry_passport, central_event) is
   exported with `COPY ... TO STDOUT (FORMAT binary)` to spool files, then loaded, timed, with
   psycopg's `cursor.copy()` (`COPY ... FROM STDIN (FORMAT binary)`) into tables made `LIKE`
   the central's (`INCLUDING ALL`: same primary keys and indexes) in a scratch schema, in one
   transaction. Same server, same rows, same bytes: the floor any drain could reach.
   CHECKPOINT runs before the drain and before the COPY so neither pays for the other's WAL.

Per-application bytes: the face is the desk's normalised JPEG of kanim/seed_data/face.jpg
(37,936 B). Fingerprints (`--fingerprint`): `jp2` (default) is the desk's normalised print
re-encoded as JPEG 2000 at 10:1 (20,006 B, the size of a 500 ppi WSQ/JPEG 2000 flat print,
ICAO 9303 DG3 / ISO 19794-4); `png` is exactly what kanim's capture desk stores today, the
lossless 8-bit PNG (79,554 B for the seed print). The relay sends them base64 (x4/3) in JSON.

Output: a Rich table (applications, operations, bytes, drain s, apps/s, MB/s, COPY s, COPY MB/s,
ratio = drain apps/s / COPY apps/s) and `--json FILE`. MB = 10^6 bytes. Exit 0 when every
operation was applied (no dead letter, nothing left pending), 1 otherwise.

Needs PostgreSQL (`--database-url`, default $KANIM_BENCH_DATABASE_URL or
postgresql+psycopg://postgres@127.0.0.1:5432/test). It creates schemas `bench_drain_<id>` and
`bench_drain_<id>_copy` and drops them at the end (`--keep` keeps them and the temp dir).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote

from rich.console import Console
from rich.table import Table

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # run from a checkout without `pip install -e .`
    sys.path.insert(0, str(ROOT))

console = Console(width=None if sys.stdout.isatty() else 132)
DEFAULT_PG = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
OFFICE_CODE = "BNCH"
MB = 1_000_000
# Templates: adults (no guardian documents), two new and two renewals, both passport kinds.
TEMPLATE_PEOPLE = [(0, "new", "electronic"), (1, "renewal", "ordinary"), (4, "new", "ordinary"),
                   (5, "renewal", "electronic"), (6, "new", "electronic"), (7, "new", "ordinary")]
REGIONS = ["717101", "317101", "357801", "327301", "517101", "127101", "737101", "510301"]
FIRST = ["Siti", "Budi", "Dewi", "Agus", "Putu", "Rina", "Hendra", "Andi", "Yohana", "Made",
         "Rizky", "Ayu", "Joko", "Sri", "Wayan", "Nur", "Fajar", "Indah", "Bayu", "Lestari"]
LAST = ["Rahmawati", "Santoso", "Lestari", "Salim", "Wulandari", "Pratama", "Manurung",
        "Pangerang", "Arsana", "Marlina", "Wijaya", "Sondakh", "Lumban Tobing", "Siregar",
        "Nasution", "Hutapea", "Tanjung", "Saputra"]
# Minutes after check-in at which each desk's operation happens (ClearanceChanged rows share
# the time of the operation they follow, as the unit of work writes them in one commit).
DESK_MINUTES = {"ApplicationBooked": -600, "ApplicantCheckedIn": 0, "IntakeCompleted": 12, "BillingIssued": 18,
                "PaymentRecorded": 30, "BiometricsCaptured": 45, "InterviewRecorded": 65,
                "ApplicationApproved": 80, "PassportPrinted": 300, "QualityCheckPassed": 310}
CENTRAL_TABLES = ["registry_application", "central_operation", "registry_biometric", "central_payment",
                  "registry_passport", "central_event"]


# -- arguments ---------------------------------------------------------------------------------

def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--applications", type=int, default=10_000, help="applications in the queue (default 10000)")
    p.add_argument("--batch", type=int, default=200, help="relay batch size, KANIM_LINK_BATCH (default 200)")
    p.add_argument("--quick", action="store_true", help="smoke run: 500 applications")
    p.add_argument("--fingerprint", choices=["jp2", "png"], default="jp2",
                   help="jp2: 20 kB JPEG 2000 prints (WSQ-sized); png: kanim's desk PNG (79.5 kB)")
    p.add_argument("--templates", type=int, default=4, help="applications walked through the real desks (1-6)")
    p.add_argument("--vault-sets", type=int, default=16,
                   help="distinct encrypted capture sets in the vault, shared round-robin (default 16)")
    p.add_argument("--per-day", type=int, default=400, help="applications per office day for interleaving")
    p.add_argument("--database-url", default=os.environ.get("KANIM_BENCH_DATABASE_URL", DEFAULT_PG))
    p.add_argument("--timeout", type=float, default=1800, help="give up draining after this many seconds")
    p.add_argument("--json", type=Path, help="write the results here too")
    p.add_argument("--profile", type=Path, help="directory: cProfile of the relay, py-spy of the central")
    p.add_argument("--keep", action="store_true", help="keep the temp dir and the PostgreSQL schemas")
    p.add_argument("--seed", type=int, default=20261128)
    p.add_argument("--protocol", type=int, default=None,
                   help="the link protocol version the office speaks (default: this kanim's; 2 sends JSON with "
                        "base64 images, 3 the binary batch)")
    a = p.parse_args(argv)
    if a.quick:
        a.applications = 500
    if not 1 <= a.applications <= 99_000:
        p.error("--applications must be 1..99000 (one booklet allocation per office)")
    if not 1 <= a.templates <= len(TEMPLATE_PEOPLE):
        p.error(f"--templates must be 1..{len(TEMPLATE_PEOPLE)}")
    a.vault_sets = max(1, min(a.vault_sets, a.applications))
    return a


# -- machine -----------------------------------------------------------------------------------

def machine() -> dict[str, Any]:
    cpu = platform.processor() or ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    ram = None
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal"):
                ram = round(int(line.split()[1]) / 1024 / 1024, 1)
    except OSError:
        pass
    return {"nproc": os.cpu_count(), "cpu": cpu, "ram_gib": ram, "python": platform.python_version(),
            "date": datetime.now(UTC).isoformat(timespec="seconds")}


# -- PostgreSQL --------------------------------------------------------------------------------

def schema_url(url: str, schema: str) -> str:
    """The same database with `search_path` set to `schema` (libpq `options`)."""
    sep = "&" if "?" in url else "?"
    return f"{url}{sep}options={quote(f'-csearch_path={schema}', safe='')}"


def pg_connect(url: str, **kw: Any):  # noqa: ANN201
    import psycopg
    from sqlalchemy.engine import make_url

    u = make_url(url).set(drivername="postgresql")
    return psycopg.connect(u.render_as_string(hide_password=False), **kw)


def checkpoint(url: str) -> None:
    """Flush dirty buffers so the next timed phase does not pay for the previous one's WAL
    (needs superuser or pg_checkpoint; skipped with a note otherwise)."""
    import psycopg

    try:
        with pg_connect(url, autocommit=True) as conn:
            conn.execute("CHECKPOINT")
    except psycopg.Error as e:
        console.print(f"[yellow]no CHECKPOINT ({e.__class__.__name__}): timings include earlier WAL[/]")


# -- templates through the real desks ----------------------------------------------------------

@dataclass
class Template:
    application: dict[str, Any]
    booking: dict[str, Any]
    biometrics: list[dict[str, Any]]
    outbox: list[dict[str, Any]]  # this application's rows, in order
    face: bytes
    finger_png: bytes


def walk_templates(workdir: Path, count: int) -> list[Template]:
    from sqlalchemy import select

    from kanim.bootstrap import bootstrap
    from kanim.config import Settings
    from kanim.domain.calendar import add_working_days
    from kanim.domain.passport import ApplicationType, PassportKind
    from kanim.office import admin, booking, printing
    from kanim.seed import PEOPLE, advance
    from kanim.store import tables as t
    from kanim.store.migrate import upgrade

    office = bootstrap(Settings(data_dir=workdir, office_code=OFFICE_CODE, chip_required=False), central=None)
    upgrade(office.engine)
    printing.receive_booklets(office, first="X9000001", last="X9000010", actor="bench")
    admin.load_watchlist_snapshot(office, taken_at=datetime.now(UTC) - timedelta(hours=1), source="bench",
                                  actor="bench", orders=[])
    with office.uow() as uow:
        today = uow.now().date()
    day = add_working_days(today, 1, frozenset())
    out = []
    for i, (who, app_type, kind) in enumerate(TEMPLATE_PEOPLE[:count]):
        name, sex, born, nik = PEOPLE[who]
        a = booking.Applicant(full_name=name, nik=nik, birth_date=born, sex=sex, app_type=ApplicationType(app_type),
                              passport_kind=PassportKind(kind), birth_place="Manado", kk_number=f"71710112{i:08d}")
        app = booking.book(office, account_ref=f"template-{i}", day=day, slot="08:00", applicants=[a],
                           actor="frontdesk", contact_phone="+6281234567890")[0]
        advance(office, app.id, "ready", app_type=app.app_type)  # the QC step; ready needs the central
        with office.uow() as uow:
            s = uow.session
            arow = dict(s.execute(select(t.application).where(t.application.c.id == app.id)).one()._mapping)
            brow = dict(s.execute(select(t.booking).where(t.booking.c.id == arow["booking_id"])).one()._mapping)
            bio = [dict(r._mapping) for r in s.execute(select(t.biometric).where(
                t.biometric.c.application_id == app.id).order_by(t.biometric.c.position))]
            rows = [dict(r._mapping) for r in s.execute(select(t.outbox).where(
                t.outbox.c.subject == app.id).order_by(t.outbox.c.seq))]
        face = next(office.vault.get(b["file_ref"]) for b in bio if b["kind"] == "face")
        finger = next(office.vault.get(b["file_ref"]) for b in bio if b["kind"] == "fingerprint" and b["file_ref"])
        out.append(Template(arow, brow, bio, rows, face, finger))
    office.engine.dispose()
    return out


def fingerprint_bytes(desk_png: bytes, fmt: str) -> bytes:
    if fmt == "png":
        return desk_png
    import cv2
    import numpy as np

    gray = cv2.imdecode(np.frombuffer(desk_png, np.uint8), cv2.IMREAD_GRAYSCALE)
    ok, buf = cv2.imencode(".jp2", gray, [cv2.IMWRITE_JPEG2000_COMPRESSION_X1000, 100])  # 10:1
    if not ok:
        raise RuntimeError("OpenCV could not encode JPEG 2000")
    return buf.tobytes()


# -- the queue ---------------------------------------------------------------------------------

def b64_len(n: int) -> int:
    return 4 * ((n + 2) // 3)


def make_nik(region: str, born: date, sex: str, serial: int) -> str:
    day = born.day + (40 if sex == "F" else 0)
    return f"{region}{day:02d}{born.month:02d}{born.year % 100:02d}{serial:04d}"


@dataclass
class QueueStats:
    applications: int = 0
    operations: int = 0
    biometric_rows: int = 0
    biometric_images: int = 0  # rows with an image (a finger exception has none)
    image_bytes: int = 0
    seconds: float = 0.0
    people: list[dict[str, Any]] = field(default_factory=list)  # for the central's civil registry


def build_queue(office, templates: list[Template], *, n: int, per_day: int, vault_sets: int,  # noqa: ANN001
                fingerprint: bytes, rng: random.Random, office_code: str = OFFICE_CODE,
                first_booklet: int = 1_000_001, serial_offset: int = 0) -> QueueStats:
    """Clone `n` applications from the templates into `office`'s SQLite. `office_code` goes into
    the numbers (and replaces the templates' own code in the payloads), booklet serials run from
    `X{first_booklet}` (what `provision` allocated to the office), and NIKs, KK numbers, billing
    codes and receipts are numbered from `serial_offset` (application g = serial_offset + i of
    the country), so that several offices' queues are unique nationally; with the defaults the
    queue is the one drain.py has always built."""
    from kanim.domain.application import Priority, drain_priority
    from kanim.store import tables as t

    t0 = time.perf_counter()
    stats = QueueStats(applications=n)
    face = templates[0].face
    # The vault: `vault_sets` capture sets, each file encrypted on its own (own nonce, own ref).
    printed = sorted({b["position"] for tp in templates for b in tp.biometrics
                      if b["kind"] == "fingerprint" and b["file_ref"]})
    sets = [{"face": office.vault.put(face), **{p: office.vault.put(fingerprint) for p in printed}}
            for _ in range(vault_sets)]
    days = (n + per_day - 1) // per_day
    start = datetime.now(UTC).replace(hour=1, minute=0, second=0, microsecond=0) - timedelta(days=days)
    rank = {p: drain_priority(p, None, start.date()) for p in Priority}  # what the office's outbox holds
    for d in range(days):
        day0 = start + timedelta(days=d)
        bookings, apps, bios, timed = [], [], [], []
        for k in range(min(per_day, n - d * per_day)):
            i = d * per_day + k
            g = serial_offset + i  # the application's number in the country
            tp = templates[g % len(templates)]
            ta = tp.application
            app_id = str(uuid.uuid4())
            born, sex = ta["birth_date"], ta["sex"].value
            serial_no = g // len(templates) + 1  # the how-manieth with this template's birth date and sex
            nik = make_nik(REGIONS[serial_no % len(REGIONS)], born, sex, serial_no // len(REGIONS) + 1)
            name = f"{rng.choice(FIRST)} {rng.choice(LAST)}"
            roll = rng.random()
            prio = (Priority.MEDICAL if roll < 0.01 else Priority.HAJJ_UMRAH if roll < 0.03
                    else Priority.TRAVEL if roll < 0.05 else Priority.NONE)
            checked_in = day0 + timedelta(hours=7) + timedelta(minutes=rng.uniform(0, 420))
            values = {
                ta["number"]: f"{office_code}-{day0:%Y%m%d}-{k + 1:04d}",
                ta["nik"]: nik, ta["full_name"]: name, ta["kk_number"]: f"7171{g:012d}",
                ta["billing_code"]: f"82{g:013d}", ta["payment_receipt_ref"]: f"BANK-{g:06d}"[-11:],
                ta["booklet_serial"]: f"X{first_booklet + i}", ta["queue_ticket"]: f"A-{k % 1000:03d}",
            }
            if office_code != OFFICE_CODE:
                values[OFFICE_CODE] = office_code
            booking_id = str(uuid.uuid4())
            bookings.append({**tp.booking, "id": booking_id, "account_ref": f"bench-{i}",
                             "created_at": checked_in - timedelta(days=3)})
            app = {col: (values.get(v, v) if isinstance(v, str) else v) for col, v in ta.items()}
            app.update(id=app_id, booking_id=booking_id, priority=prio, created_at=checked_in,
                       updated_at=checked_in + timedelta(minutes=DESK_MINUTES["QualityCheckPassed"]))
            apps.append(app)
            vs = sets[i % vault_sets]
            for b in tp.biometrics:
                ref = None if b["file_ref"] is None else vs["face" if b["kind"] == "face" else b["position"]]
                bios.append({**b, "id": str(uuid.uuid4()), "application_id": app_id, "file_ref": ref,
                             "captured_at": checked_in + timedelta(minutes=40)})
                stats.biometric_rows += 1
                if ref is not None:
                    stats.biometric_images += 1
                    stats.image_bytes += len(face if b["kind"] == "face" else fingerprint)
            minutes = DESK_MINUTES["ApplicationBooked"]
            for pos, r in enumerate(tp.outbox):
                minutes = DESK_MINUTES.get(r["op"], minutes)
                at = checked_in + timedelta(minutes=minutes)
                payload = {key: (values.get(v, v) if isinstance(v, str) else v) for key, v in r["payload"].items()}
                payload["at"] = at.isoformat()
                if "expires_at" in payload:
                    payload["expires_at"] = (at + timedelta(hours=2)).isoformat()
                timed.append((at, i, pos, {"id": str(uuid.uuid4()), "subject": app_id, "op": r["op"],
                                           "payload": payload, "priority": rank[prio], "created_at": at,
                                           "status": "pending", "attempts": 0}))
        timed.sort(key=lambda x: (x[0], x[1], x[2]))
        with office.engine.begin() as conn:
            conn.execute(t.booking.insert(), bookings)
            conn.execute(t.application.insert(), apps)
            conn.execute(t.biometric.insert(), bios)
            conn.execute(t.outbox.insert(), [row for *_, row in timed])
        stats.operations += len(timed)
        stats.people += [{"nik": a["nik"], "full_name": a["full_name"], "birth_date": a["birth_date"].isoformat(),
                          "sex": a["sex"].value, "kk_number": a["kk_number"]} for a in apps]
    stats.seconds = time.perf_counter() - t0
    return stats


# -- instrumentation (no kanim file is changed) ------------------------------------------------

@dataclass
class Timers:
    select_batch: float = 0.0
    to_operation: float = 0.0
    serialize: float = 0.0  # json.dumps of the batch in HttpCentral.push
    http: float = 0.0  # request out, central's work, answer back
    mark: float = 0.0
    request_bytes: int = 0
    max_request_bytes: int = 0


def instrument(timers: Timers) -> None:
    from kanim.link import relay

    def timed(name: str, fn):  # noqa: ANN001, ANN202
        def wrapper(*a, **kw):  # noqa: ANN002, ANN003, ANN202
            t0 = time.perf_counter()
            try:
                return fn(*a, **kw)
            finally:
                setattr(timers, name, getattr(timers, name) + time.perf_counter() - t0)
        return wrapper

    relay.select_batch = timed("select_batch", relay.select_batch)
    relay.to_operation = timed("to_operation", relay.to_operation)
    relay.mark = timed("mark", relay.mark)


def counting_central(url: str, key, timers: Timers, protocol: int | None = None):  # noqa: ANN001, ANN201
    from kanim.link.http import HttpCentral

    class CountingHttpCentral(HttpCentral):
        def push(self, operations, *, urgent=False):  # noqa: ANN001, ANN202
            t0 = time.perf_counter()
            before = timers.http
            try:
                return super().push(operations, urgent=urgent)
            finally:
                timers.serialize += (time.perf_counter() - t0) - (timers.http - before)

        def _call(self, method: str, path: str, body: bytes = b"", **kw: Any) -> Any:
            timers.request_bytes += len(body)
            timers.max_request_bytes = max(timers.max_request_bytes, len(body))
            t0 = time.perf_counter()
            try:
                return super()._call(method, path, body, **kw)
            finally:
                timers.http += time.perf_counter() - t0

    from kanim.protocol import PROTOCOL_VERSION
    return CountingHttpCentral(url, office_code=OFFICE_CODE, key=key, timeout=600, protocol=protocol or PROTOCOL_VERSION)


# -- drain -------------------------------------------------------------------------------------

@dataclass
class DrainStats:
    seconds: float = 0.0
    pushed: int = 0
    dead: int = 0
    retrying: int = 0
    errors: int = 0
    left_pending: int = 0
    timed_out: bool = False
    rounds: int = 0


def pending_count(office) -> int:  # noqa: ANN001
    from sqlalchemy import func, select

    from kanim.store import tables as t

    with office.engine.connect() as conn:
        return conn.execute(select(func.count()).where(t.outbox.c.status == "pending")).scalar_one()


def drain(relay, office, *, timeout: float, total: int, progress: float = 60.0) -> DrainStats:  # noqa: ANN001
    from kanim.office.ports import CentralUnavailable

    st = DrainStats()
    t0 = time.perf_counter()
    deadline, next_note = t0 + timeout, t0 + progress
    while True:
        if time.perf_counter() > next_note:  # a long run says how it goes
            el = time.perf_counter() - t0
            console.log(f"drained {st.pushed:,}/{total:,} operations in {el:.0f}s ({st.pushed / el:.0f} ops/s)")
            next_note += progress
        st.rounds += 1
        try:
            r = relay.push_round()
        except CentralUnavailable as e:
            st.errors += 1
            console.print(f"[yellow]round failed: {e}[/]")
            time.sleep(min(5.0, float(getattr(e, "retry_after", 0.5) or 0.5)))
            r = None
        if r is not None:
            st.pushed, st.dead, st.retrying = st.pushed + r.pushed, st.dead + r.dead, st.retrying + r.retrying
            if r.pushed or r.dead or r.retrying:
                if time.perf_counter() > deadline:
                    st.timed_out = True
                    break
                continue
        if pending_count(office) == 0:
            break
        if time.perf_counter() > deadline:
            st.timed_out = True
            break
        time.sleep(0.2)  # rows waiting for their retry time
    st.seconds = time.perf_counter() - t0
    st.left_pending = pending_count(office)
    return st


# -- COPY --------------------------------------------------------------------------------------

@dataclass
class CopyStats:
    seconds: float = 0.0
    rows: dict[str, int] = field(default_factory=dict)
    bytes: int = 0


def raw_copy(pg_url: str, schema: str, copy_schema: str, spool: Path) -> CopyStats:
    """Export this office's rows from the central's tables, then time loading them with COPY."""
    st = CopyStats()
    spool.mkdir(parents=True, exist_ok=True)
    with pg_connect(pg_url, autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{copy_schema}"')
        for name in CENTRAL_TABLES:
            conn.execute(f'CREATE TABLE "{copy_schema}".{name} (LIKE "{schema}".{name} INCLUDING ALL)')
            path = spool / f"{name}.bin"
            with open(path, "wb") as f, conn.cursor().copy(
                    f'COPY (SELECT * FROM "{schema}".{name} WHERE office_code = %s) TO STDOUT (FORMAT binary)',
                    (OFFICE_CODE,)) as cp:
                for chunk in cp:
                    f.write(chunk)
            st.rows[name] = conn.execute(
                f'SELECT count(*) FROM "{schema}".{name} WHERE office_code = %s', (OFFICE_CODE,)).fetchone()[0]
            st.bytes += path.stat().st_size
    checkpoint(pg_url)
    with pg_connect(pg_url) as conn:  # one transaction, committed inside the timing
        t0 = time.perf_counter()
        with conn.cursor() as cur:
            for name in CENTRAL_TABLES:
                with open(spool / f"{name}.bin", "rb") as f, cur.copy(
                        f'COPY "{copy_schema}".{name} FROM STDIN (FORMAT binary)') as cp:
                    while chunk := f.read(1 << 20):
                        cp.write(chunk)
        conn.commit()
        st.seconds = time.perf_counter() - t0
    return st


# -- profiling ---------------------------------------------------------------------------------

def start_pyspy(pid: int, out: Path) -> subprocess.Popen | None:
    exe = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    if not Path(exe).exists():
        console.print("[yellow]py-spy not found: no central profile (pip install py-spy)[/]")
        return None
    return subprocess.Popen([exe, "record", "--pid", str(pid), "--rate", "200", "--format", "raw",
                             "--output", str(out), "--nonblocking"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


# -- main --------------------------------------------------------------------------------------

def rebuild_from_central(ospec, folder: Path) -> dict[str, Any]:  # noqa: ANN001 - an OfficeSpec
    """A new node of the same office (its escrowed signing key, nothing else) rebuilt from the
    central: every application, capture image and booklet back, timed."""
    from sqlalchemy import func, select

    from kanim.backup.rebuild import rebuild
    from kanim.bootstrap import bootstrap
    from kanim.config import Settings
    from kanim.link.http import HttpCentral
    from kanim.link.signing import load_or_create_key
    from kanim.store import tables as t
    from kanim.store.migrate import upgrade

    given = ospec.settings()
    settings = Settings(**{**{k: v for k, v in given.items() if v != ""}, "data_dir": str(folder),
                           "database_url": f"sqlite:///{folder.resolve() / 'kanim.db'}",
                           "key_file": str(folder / "keys" / "biometric.key")})
    (folder / "keys").mkdir(parents=True)
    shutil.copy2(ospec.data_dir / "keys" / "office_ed25519.pem", folder / "keys" / "office_ed25519.pem")
    office = bootstrap(settings, central=None)
    upgrade(office.engine)
    central = HttpCentral(ospec.central_url, office_code=ospec.code, key=load_or_create_key(settings.office_key_path),
                          timeout=600)
    try:
        started = time.perf_counter()
        got = rebuild(office, central)
        seconds = time.perf_counter() - started
        with office.uow(readonly=True) as uow:
            apps = uow.session.execute(select(func.count()).select_from(t.application)).scalar_one()
    finally:
        central.close()
        office.engine.dispose()
    return {"seconds": round(seconds, 3), "operations": got.operations, "applications": apps,
            "images": got.images, "booklets": got.booklets, "decisions": got.decisions, "skipped": len(got.skipped)}


def main(argv: list[str] | None = None) -> int:  # noqa: PLR0915
    args = parse_args(argv)
    from kanim.central.node import bootstrap_central
    from kanim.central.service import load_civil_registry
    from kanim.config import Settings
    from kanim.link.relay import Relay
    from kanim.link.signing import load_or_create_key
    from kanim.ops.cluster import CentralSpec, OfficeSpec, free_port, provision

    rng = random.Random(args.seed)
    info = machine()
    tmp = Path(tempfile.mkdtemp(prefix="kanim-drain-"))
    schema = f"bench_drain_{os.getpid()}_{secrets.token_hex(3)}"
    copy_schema = f"{schema}_copy"
    central_url = schema_url(args.database_url, schema)
    central_proc = pyspy = None
    ok = False
    try:
        with pg_connect(args.database_url, autocommit=True) as conn:
            conn.execute(f'CREATE SCHEMA "{schema}"')
            info["postgres"] = conn.execute("SHOW server_version").fetchone()[0]

        with console.status("walking template applications through the desks"):
            templates = walk_templates(tmp / "templates", args.templates)
        finger = fingerprint_bytes(templates[0].finger_png, args.fingerprint)
        face = templates[0].face
        fingers_per_app = sum(1 for b in templates[0].biometrics if b["kind"] == "fingerprint" and b["file_ref"])
        per_app_image = len(face) + fingers_per_app * len(finger)
        per_app_b64 = b64_len(len(face)) + fingers_per_app * b64_len(len(finger))
        console.print(f"templates: {len(templates)} applications, {len(templates[0].outbox)} outbox rows each; "
                      f"images per application: face {len(face):,} B + {fingers_per_app} x {args.fingerprint} "
                      f"{len(finger):,} B = {per_app_image:,} B (base64 {per_app_b64:,} B)")

        cspec = CentralSpec(tmp / "central", free_port(), database_url=central_url, treasury="trusting")
        ospec = OfficeSpec(OFFICE_CODE, tmp / "office", free_port(), cspec.url,
                           extra={"link_batch": str(args.batch), "link_timeout": "600"})
        with console.status("provisioning the central and the office"):
            provision(cspec, [ospec], booklets_per_office=args.applications)

        from kanim.bootstrap import bootstrap

        office = bootstrap(ospec.office_settings(), central=None)
        with console.status(f"queueing {args.applications:,} applications"):
            q = build_queue(office, templates, n=args.applications, per_day=args.per_day,
                            vault_sets=args.vault_sets, fingerprint=finger, rng=rng)
        operations = pending_count(office)  # the queue's rows + provision's BookletsReceived
        console.print(f"queue: {q.applications:,} applications, {operations:,} operations, "
                      f"{q.biometric_rows:,} biometric rows, {q.image_bytes / MB:,.1f} MB of images, "
                      f"built in {q.seconds:.1f}s")

        node = bootstrap_central(Settings(**cspec.settings()))
        csv_path = tmp / "civil.csv"
        with open(csv_path, "w", encoding="utf-8") as f:
            f.write("nik,full_name,birth_date,sex,kk_number\n")
            for p in q.people:
                f.write(f"{p['nik']},{p['full_name']},{p['birth_date']},{p['sex']},{p['kk_number']}\n")
        load_civil_registry(node, csv_path)
        node.engine.dispose()

        proc = cspec.process()
        proc.env["KANIM_CENTRAL_OFFICE_RATE"] = "1000000000"
        central_proc = proc.start(wait=60)
        checkpoint(args.database_url)

        timers = Timers()
        instrument(timers)
        key = load_or_create_key(office.settings.office_key_path)
        central = counting_central(cspec.url, key, timers, args.protocol)
        relay = Relay(office, central)
        profiler = None
        if args.profile:
            args.profile.mkdir(parents=True, exist_ok=True)
            pyspy = start_pyspy(central_proc.proc.pid, args.profile / "central.pyspy.txt")
            import cProfile

            profiler = cProfile.Profile()
            profiler.enable()
        with console.status(f"draining {operations:,} operations in batches of {args.batch}"):
            load_before = os.getloadavg()
            d = drain(relay, office, timeout=args.timeout, total=operations)
            load_after = os.getloadavg()
        if profiler is not None:
            profiler.disable()
            profiler.dump_stats(args.profile / "relay.prof")
            import io
            import pstats

            for sort in ("tottime", "cumulative"):
                s = io.StringIO()
                pstats.Stats(profiler, stream=s).sort_stats(sort).print_stats(40)
                (args.profile / f"relay.{sort}.txt").write_text(s.getvalue())
        if pyspy is not None:
            pyspy.send_signal(signal.SIGINT)
            try:
                pyspy.wait(timeout=60)
            except subprocess.TimeoutExpired:
                pyspy.kill()
        central.close()
        # The same backlog the other way: an office that lost everything gets it back from the
        # same central (kanim backup rejoin's rebuild), timed beside the drain.
        with console.status("rebuilding an empty office from the central"):
            rb = rebuild_from_central(ospec, tmp / "rebuilt")
        central_proc.stop()

        with console.status("raw COPY of the same rows into a scratch schema"):
            c = raw_copy(args.database_url, schema, copy_schema, tmp / "spool")
        applied = c.rows.get("central_operation", 0)
        ok = (d.dead == 0 and d.left_pending == 0 and not d.timed_out and applied == operations
              and c.rows.get("registry_application") == args.applications
              and rb["applications"] == args.applications and rb["images"] == q.biometric_images
              and rb["skipped"] == 0)

        wire = timers.request_bytes
        apps_s = args.applications / d.seconds
        copy_apps_s = args.applications / c.seconds
        result = {
            "machine": info,
            "command": " ".join([Path(sys.argv[0]).name, *(argv if argv is not None else sys.argv[1:])]),
            "config": {"applications": args.applications, "batch": args.batch, "fingerprint": args.fingerprint,
                       "protocol": central.protocol,
                       "templates": args.templates, "vault_sets": args.vault_sets, "per_day": args.per_day},
            "per_application": {"operations": len(templates[0].outbox), "face_bytes": len(face),
                                "fingerprints": fingers_per_app, "fingerprint_bytes": len(finger),
                                "image_bytes": per_app_image, "image_base64_bytes": per_app_b64,
                                "wire_bytes": round(wire / args.applications)},
            "queue": {"operations": operations, "biometric_rows": q.biometric_rows, "image_bytes": q.image_bytes,
                      "build_seconds": round(q.seconds, 2)},
            "drain": {"seconds": round(d.seconds, 3), "rounds": d.rounds, "pushed": d.pushed,
                      "dead": d.dead, "retrying": d.retrying, "errors": d.errors, "left_pending": d.left_pending,
                      "timed_out": d.timed_out, "request_bytes": wire, "max_request_bytes": timers.max_request_bytes,
                      "apps_per_s": round(apps_s, 2), "ops_per_s": round(operations / d.seconds, 1),
                      "mb_per_s": round(wire / MB / d.seconds, 2),
                      "phases_s": {"office_select_batch": round(timers.select_batch, 2),
                                   "office_to_operation": round(timers.to_operation, 2),
                                   "json_dumps_batch": round(timers.serialize, 2),
                                   "http_and_central": round(timers.http, 2),
                                   "office_mark": round(timers.mark, 2),
                                   "other": round(d.seconds - timers.select_batch - timers.to_operation
                                                  - timers.serialize - timers.http - timers.mark, 2)}},
            "copy": {"seconds": round(c.seconds, 3), "rows": c.rows, "bytes": c.bytes,
                     "apps_per_s": round(copy_apps_s, 2), "mb_per_s": round(c.bytes / MB / c.seconds, 2)},
            "ratio": round(apps_s / copy_apps_s, 3),
            "rebuild": {**rb, "apps_per_s": round(args.applications / rb["seconds"], 2),
                        "ratio_to_drain": round(d.seconds / rb["seconds"], 3)},
            "loadavg_1_5_15": {"before_drain": [round(x, 2) for x in load_before],
                               "after_drain": [round(x, 2) for x in load_after]},
            "ok": ok,
        }
        report(result)
        if args.json:
            args.json.write_text(json.dumps(result, indent=2, default=str))
        return 0 if ok else 1
    finally:
        if pyspy is not None and pyspy.poll() is None:
            pyspy.kill()
        if central_proc is not None:
            central_proc.stop()
        if args.keep:
            console.print(f"kept: {tmp}, schemas {schema}, {copy_schema}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)
            try:
                with pg_connect(args.database_url, autocommit=True) as conn:
                    conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
                    conn.execute(f'DROP SCHEMA IF EXISTS "{copy_schema}" CASCADE')
            except Exception as e:  # noqa: BLE001 - cleanup must not hide the run's own error
                console.print(f"[red]could not drop schemas {schema}, {copy_schema}: {e}[/]")


def report(r: dict[str, Any]) -> None:
    d, c = r["drain"], r["copy"]
    t = Table(title=f"drain: {r['config']['applications']:,} applications, batch {r['config']['batch']}, "
                    f"fingerprints {r['config']['fingerprint']}")
    for col in ("applications", "operations", "bytes (MB)", "drain s", "apps/s", "MB/s", "COPY s", "COPY MB/s",
                "ratio"):
        t.add_column(col, justify="right")
    t.add_row(f"{r['config']['applications']:,}", f"{r['queue']['operations']:,}",
              f"{d['request_bytes'] / MB:,.1f}", f"{d['seconds']:.1f}", f"{d['apps_per_s']:.1f}",
              f"{d['mb_per_s']:.1f}", f"{c['seconds']:.2f}", f"{c['mb_per_s']:.1f}", f"{r['ratio']:.3f}")
    console.print(t)
    p = d["phases_s"]
    console.print("drain phases (s): " + ", ".join(f"{k} {v}" for k, v in p.items()))
    rb = r["rebuild"]
    console.print(f"rebuilt from the central: {rb['applications']:,} applications, {rb['images']:,} images, "
                  f"{rb['operations']:,} operations in {rb['seconds']:.1f} s ({rb['apps_per_s']:.1f} apps/s; "
                  f"{rb['ratio_to_drain']:.2f} x the drain's speed); skipped {rb['skipped']}")
    console.print(f"bytes = signed JSON request bodies ({r['per_application']['wire_bytes']:,} B per application; "
                  f"images {r['per_application']['image_bytes']:,} B raw); COPY bytes = binary COPY stream "
                  f"{c['bytes'] / MB:,.1f} MB of {sum(c['rows'].values()):,} rows; ratio = drain apps/s / COPY apps/s")
    if d["dead"] or d["left_pending"] or d["timed_out"] or not r["ok"]:
        console.print(f"[red]not all applied: dead {d['dead']}, pending {d['left_pending']}, "
                      f"timed out {d['timed_out']}, central rows {c['rows']}[/]")


if __name__ == "__main__":
    sys.exit(main())
