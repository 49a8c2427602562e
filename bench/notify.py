#!/usr/bin/env python
"""Telling a backlog its passports are ready: 10,000 ready notices (Surabaya Tanjung Perak's
2,600 after the June 2024 outage, and more) through the pickup schedule, the rules, rendering and
the notification worker, over Apprise's WhatsApp plugin to a local stand-in of the Cloud API.

    python bench/notify.py                                  # 10,000 ready passports
    python bench/notify.py --messages 2600 --concurrency 8 --json result.json
    python bench/notify.py --messages 2000 --profile notify.prof   # where the time goes

Seeded (not timed): a migrated SQLite office with `--messages` applications at stage `ready`
and no pickup slot, in bookings of families of 1 to 3 (one phone per booking, WhatsApp
preferred, one in ten in English), ready over the outage week: bulk inserts, not the desks.

Timed: `Worker.drain()` from kanim/notify/worker.py, the code `kanim notify run` runs: the
first round gives every passport its pickup slot and writes its "ready" notice and its reminder
(kanim/office/pickup_slots.py, kanim/office/notify.py), then rounds of 200 re-check, render and
send the notices through kanim's AppriseTransport, `notify_concurrency` at a time, each outcome
recorded. The sink (kanim/ops/notify_sink.py) runs as its own process on 127.0.0.1 and answers
at once; what it received is then matched to the office's messages by recipient and
application number: lost (a notice the office marked sent or still waiting that never arrived)
and doubled (one that arrived twice) must both be 0.

The worker's own rate limit (`notify_rate_per_second`, 50 by default, the Cloud API's usual
business-tier pace) and quiet hours are set out of the way: the bench measures the code, not a
provider's policy (`--rate` sets it back).

The reference, in the same run to the same sink: a bare Apprise loop, `Apprise()`, `add()` of
the WhatsApp URL with the same template and parameters, `notify()`, one message after another
(and the same in `--concurrency` threads). The ratio is kanim's messages/s over the bare loop's.

Target (issue 9): at least 500 ready notices a second, 0 lost, 0 doubled. Exit 1 when one is
lost or doubled; with --strict, also when the target is missed.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import json
import os
import platform
import pstats
import random
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, time as clock_time, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
# The checkout this file is in goes before any installed kanim: a bench measures the code
# beside it (an editable install may point at another worktree).
sys.path.insert(0, str(ROOT))
from kanim.ops.notify_sink import PHONE_ID, TOKEN, Received, fetch_received  # noqa: E402

TARGET_PER_S = 500.0
OFFICE = {"office_code": "TPR", "office_name": "Kantor Imigrasi Kelas I Khusus TPI Tanjung Perak",
          "office_phone": "(031) 000 0000", "timezone": "Asia/Jakarta"}
FAMILY_SIZES, FAMILY_WEIGHTS = [1, 2, 3], [60, 25, 15]
GIVEN = ["Siti", "Budi", "Dewi", "Agus", "Rina", "Hendra", "Indah", "Fajar", "Nur", "Wahyu", "Ayu", "Joko"]
FAMILY = ["Rahmawati", "Santoso", "Wulandari", "Pratama", "Saputra", "Hidayat", "Kusuma", "Setiawan"]


# -- the office and its backlog ------------------------------------------------------------------

def office_settings(root: Path, args: argparse.Namespace, whatsapp_url: str) -> Any:
    from kanim.config import Settings

    return Settings(_env_file=None, data_dir=root, database_url=f"sqlite:///{root / 'kanim.db'}", central="none",
                    chip_required=False,
                    **OFFICE, notify_whatsapp_url=whatsapp_url, notify_concurrency=args.concurrency,
                    notify_rate_per_second=args.rate, notify_daily_cap=max(20000, 3 * args.messages),
                    notify_quiet_start=clock_time(0), notify_quiet_end=clock_time(0))  # start == end: never quiet


def seed(office: Any, n: int, rng: random.Random) -> dict[str, Any]:
    """n ready passports without a pickup slot, in families (bulk inserts, one transaction)."""
    from kanim.store import tables as t

    now = datetime.now(UTC)
    bookings: list[dict[str, Any]] = []
    apps: list[dict[str, Any]] = []
    while len(apps) < n:
        size = min(n - len(apps), rng.choices(FAMILY_SIZES, FAMILY_WEIGHTS)[0])
        bookings.append(_booking(len(bookings), now, english=rng.random() < 0.1))
        ready = now - timedelta(days=rng.randrange(1, 8), minutes=rng.randrange(480))
        travel = rng.random() < 0.1
        apps += [_application(len(apps) + k, bookings[-1]["id"], ready + timedelta(minutes=k), travel)
                 for k in range(size)]
    with office.engine.begin() as conn:
        conn.execute(t.booking.insert(), bookings)
        conn.execute(t.application.insert(), apps)
    sizes = Counter(Counter(a["booking_id"] for a in apps).values())
    return {"applications": len(apps), "bookings": len(bookings),
            "family_sizes": {str(k): sizes[k] for k in sorted(sizes)}}


def _booking(i: int, now: datetime, *, english: bool) -> dict[str, Any]:
    return {"id": str(uuid.uuid4()), "account_ref": f"online-{i}", "appointment_on": now.date() - timedelta(days=20),
            "slot": "09:00", "contact_phone": f"+62813{i:08d}", "preferred_channel": "whatsapp",
            "language": "en" if english else "id", "created_at": now - timedelta(days=30)}


def _application(i: int, booking_id: str, ready: datetime, travel: bool) -> dict[str, Any]:
    from kanim.domain.application import Priority, Stage
    from kanim.domain.passport import ApplicationType, PassportKind
    from kanim.domain.people import Sex

    sex = Sex.F if i % 2 else Sex.M
    born = datetime(1960, 1, 1) + timedelta(days=i * 7 % 16000)
    nik = f"357801{born.day + (40 if sex is Sex.F else 0):02d}{born:%m%y}{i % 10000:04d}"  # Surabaya, DDMMYY, serial
    confirmed = {c: "confirmed" for c in ("nik_verified", "watchlist_clear", "not_duplicate", "payment_confirmed",
                                          "recorded_centrally")}
    return {"id": str(uuid.uuid4()), "number": f"TPR-{ready:%Y%m%d}-{i + 1:05d}", "office_code": "TPR",
            "booking_id": booking_id, "full_name": f"{GIVEN[i % len(GIVEN)]} {FAMILY[i // 7 % len(FAMILY)]}",
            "nik": nik, "birth_date": born.date(), "birth_place": "Surabaya", "sex": sex, "kk_number": "",
            "app_type": ApplicationType.NEW, "passport_kind": PassportKind.ORDINARY,
            "priority": Priority.TRAVEL if travel else Priority.NONE, "travel_date": None, "stage": Stage.READY,
            **confirmed, "fee_total": 650000, "created_at": ready - timedelta(days=10), "updated_at": ready,
            "version": 1}


# -- the sink, in its own process ----------------------------------------------------------------

class SinkProcess:
    def __init__(self) -> None:
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
        self.proc = subprocess.Popen([sys.executable, "-m", "kanim.ops.notify_sink", "--port", "0"], env=env,
                                     stdout=subprocess.PIPE, text=True)
        line = self.proc.stdout.readline() if self.proc.stdout else ""
        if not line.strip().isdigit():
            self.proc.kill()
            raise RuntimeError(f"the sink did not start: {line!r}")
        self.base_url = f"http://127.0.0.1:{int(line)}"
        self.whatsapp_url = f"whatsapp://{TOKEN}@{PHONE_ID}/?api={self.base_url}"

    def received(self) -> list[Received]:
        return fetch_received(self.base_url)

    def close(self) -> None:
        self.proc.kill()
        self.proc.wait(timeout=10)


# -- the measured run ----------------------------------------------------------------------------

def run_kanim(office: Any, sink: SinkProcess, profile: Path | None) -> dict[str, Any]:
    from kanim.notify.worker import Worker
    from kanim.office import pickup_slots

    phases: dict[str, float] = {"schedule_s": 0.0}

    def schedule(o: Any) -> int:
        t0 = time.perf_counter()
        try:
            return pickup_slots.schedule(o)
        finally:
            phases["schedule_s"] += time.perf_counter() - t0

    worker = Worker(office, holder="bench", schedule=schedule)
    profiler = cProfile.Profile() if profile else None
    t0 = time.perf_counter()
    if profiler:
        profiler.enable()
    total = worker.drain()
    if profiler:
        profiler.disable()
    seconds = time.perf_counter() - t0
    worker.pool.shutdown(wait=True)
    out = {"seconds": round(seconds, 3), "schedule_s": round(phases["schedule_s"], 3),
           "send_s": round(seconds - phases["schedule_s"], 3), "rounds": {"sent": total.sent, "failed": total.failed,
                                                                        "cancelled": total.cancelled,
                                                                        "scheduled": total.scheduled}}
    if profiler:
        profiler.dump_stats(profile)
        text = io.StringIO()
        pstats.Stats(profiler, stream=text).sort_stats("cumulative").print_stats(40)
        out["profile_top"] = text.getvalue()
    return out


def tally(office: Any, received: list[Received]) -> dict[str, Any]:
    """The office's messages against what the sink received: each message the office marked
    sent is rendered again and looked for by recipient and content (kanim.ops.notify_sink.key)."""
    from sqlalchemy import func, select

    from kanim.notify.render import render
    from kanim.office.notify import decode_params
    from kanim.ops.notify_sink import expected_key, key
    from kanim.store import tables as t

    m = t.notify_message.c
    with office.uow(readonly=True) as uow:
        rows = list(uow.session.execute(select(m.purpose, m.channel, m.address, m.language, m.params, m.state)))
        placed = uow.session.scalar(select(func.count()).select_from(t.pickup_assignment))
        days = uow.session.scalar(select(func.count(func.distinct(t.pickup_assignment.c.day))))
    got = Counter(key(r) for r in received if (r.template or "").startswith("kanim_"))
    sent = [r for r in rows if r.state in ("sent", "delivered")]
    wanted = Counter(expected_key(r.channel, r.address, render(r.purpose, r.channel, r.language,
                                                               decode_params(r.params))) for r in sent)
    ready = [r for r in rows if r.purpose == "ready"]
    return {"ready_messages": len(ready), "ready_states": dict(Counter(r.state for r in ready)),
            "messages": len(rows), "states_by_purpose": {p: dict(Counter(r.state for r in rows if r.purpose == p))
                                                          for p in sorted({r.purpose for r in rows})},
            "sent": len(sent), "received": sum(got.values()),
            "lost": sum(1 for k in wanted if k not in got), "doubled": sum(n - 1 for n in got.values() if n > 1),
            "unexpected": sum(n for k, n in got.items() if k not in wanted),
            "not_distinct": sum(wanted.values()) - len(wanted),
            "pickup_slots_given": placed, "pickup_days_used": days}


def bare_apprise(sink: SinkProcess, n: int, threads: int) -> dict[str, Any]:
    """Apprise alone: a new Apprise with the message's URL and notify(), n times, to the same sink."""
    from apprise import Apprise
    from apprise.plugins.whatsapp import NotifyWhatsApp

    NotifyWhatsApp.notify_url = sink.base_url + "/{fb_ver}/{phone_id}/messages"  # this process, this bench

    def one(i: int) -> bool:
        a = Apprise()
        a.add(f"whatsapp://{TOKEN}@{PHONE_ID}/+62899{i:08d}?template=bench_bare&lang=id"
              f"&:1=Siti&:2=TPR-20240628-{i:05d}&:3=Kantor+Imigrasi&:4=Senin,+1+Juli+2024&:5=09:00+WIB")
        return bool(a.notify(body="Paspor Anda siap diambil."))

    t0 = time.perf_counter()
    if threads == 1:
        ok = sum(one(i) for i in range(n))
    else:
        with ThreadPoolExecutor(threads) as pool:
            ok = sum(pool.map(one, range(n)))
    seconds = time.perf_counter() - t0
    return {"messages": n, "threads": threads, "ok": ok, "seconds": round(seconds, 3),
            "messages_per_s": round(n / seconds, 1)}


def machine() -> dict[str, Any]:
    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), "?") if Path("/proc/cpuinfo").exists() else "?"
    return {"nproc": os.cpu_count(), "cpu": cpu, "python": platform.python_version(), "platform": platform.platform(),
            "load_avg": [round(x, 2) for x in os.getloadavg()]}


def run(args: argparse.Namespace) -> dict[str, Any]:
    import logging

    from kanim.bootstrap import bootstrap
    from kanim.store.migrate import upgrade

    logging.getLogger("kanim").setLevel(logging.WARNING)  # one INFO line per send otherwise
    root = Path(tempfile.mkdtemp(prefix="kanim-bench-notify-"))
    sink = SinkProcess()
    try:
        office = bootstrap(office_settings(root, args, sink.whatsapp_url))
        upgrade(office.engine)
        t0 = time.perf_counter()
        backlog = seed(office, args.messages, random.Random(args.seed))
        backlog["seed_s"] = round(time.perf_counter() - t0, 2)
        load_before = os.getloadavg()[0]
        kanim = run_kanim(office, sink, args.profile)
        counts = tally(office, sink.received())
        kanim["messages_per_s"] = round(counts["sent"] / kanim["seconds"], 1) if kanim["seconds"] else None
        kanim["ready_per_s"] = round(counts["ready_states"].get("sent", 0) / kanim["seconds"], 1)
        reference = [bare_apprise(sink, args.reference_messages, 1),
                     bare_apprise(sink, args.reference_messages, args.concurrency)]
        office.engine.dispose()
    finally:
        sink.close()
    per_s = kanim["messages_per_s"] or 0.0
    return {"benchmark": "notify", "date": datetime.now(UTC).isoformat(timespec="seconds"), "machine": machine(),
            "load_before": round(load_before, 2), "args": {k: str(v) for k, v in vars(args).items()},
            "backlog": backlog, "kanim": kanim, **counts, "reference": reference,
            "ratio": round(per_s / reference[0]["messages_per_s"], 3),
            "ratio_to_threaded": round(per_s / reference[1]["messages_per_s"], 3),
            "target_per_s": TARGET_PER_S, "target_met": per_s >= TARGET_PER_S,
            "ok": counts["lost"] == 0 and counts["doubled"] == 0 and counts["unexpected"] == 0
            and counts["ready_states"] == {"sent": counts["ready_messages"]} and counts["received"] == counts["sent"]}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--messages", type=int, default=10_000, help="ready passports, one notice each")
    p.add_argument("--concurrency", type=int, default=4, help="KANIM_NOTIFY_CONCURRENCY (its default: 4)")
    p.add_argument("--rate", type=float, default=1e6, help="KANIM_NOTIFY_RATE_PER_SECOND (default: out of the way)")
    p.add_argument("--reference-messages", type=int, default=2000, help="sends of the bare Apprise loop")
    p.add_argument("--seed", type=int, default=2024)
    p.add_argument("--profile", type=Path, help="write cProfile stats of the timed part here")
    p.add_argument("--json", type=Path, help="write the result here")
    p.add_argument("--strict", action="store_true", help="exit 1 when the target is missed too")
    args = p.parse_args(argv)
    r = run(args)
    if args.json:
        args.json.write_text(json.dumps(r, indent=2, default=str))
    k, ref = r["kanim"], r["reference"]
    reminders = r["sent"] - r["ready_states"].get("sent", 0)
    print(f"{r['ready_messages']} ready notices ({r['backlog']['bookings']} bookings) and {reminders} reminders "
          f"due at once: {r['sent']} messages in {k['seconds']} s "
          f"(schedule {k['schedule_s']} s, send {k['send_s']} s) = {k['messages_per_s']} messages/s "
          f"at concurrency {args.concurrency}; lost {r['lost']}, doubled {r['doubled']}; pickup over "
          f"{r['pickup_days_used']} days")
    print(f"bare Apprise loop: {ref[0]['messages_per_s']} messages/s (1 thread), {ref[1]['messages_per_s']} "
          f"({ref[1]['threads']} threads); ratio {r['ratio']} / {r['ratio_to_threaded']}; target "
          f"{TARGET_PER_S:.0f}/s {'met' if r['target_met'] else 'MISSED'}")
    if "profile_top" in k:
        print(k["profile_top"])
    return 0 if r["ok"] and (r["target_met"] or not args.strict) else 1


if __name__ == "__main__":
    sys.exit(main())
