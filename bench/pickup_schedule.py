#!/usr/bin/env python
"""The pickup schedule after an outage: how long `kanim.domain.pickup.assign` takes to give
every ready passport a pickup slot, at Surabaya Tanjung Perak's backlog (2,600) and beyond.

    python bench/pickup_schedule.py                          # 2,600 and 10,000 ready passports
    python bench/pickup_schedule.py --waiting 2600 --slots 7 --seats 15 --repeat 9 --json result.json

The backlog is generated (reproducible with --seed): families of 1 to 5 per booking (a third of
the single applicants walked in, with no booking), 2% of bookings medical (one member; the
family comes with them), 3% hajj/umrah (the whole family), 10% travel with a date 3-45 days
ahead, 15% more with a travel date 1-120 days ahead and no stated priority, 1% whose travel date
passed during the outage; ready over the outage week (20-27 June 2024, office hours), in the
order a table gives them (shuffled). Today is Friday 28 June 2024; the calendar starts on the
next working day with --slots slots of --seats seats, skips the holidays of 2024's second half
and has one Saturday service opened by a supervisor (6 July, the same slots), and as many
working days as the backlog needs plus five.

Timed, best of --repeat: `pickup_calendar` (building the calendar) and `assign` (the schedule).
The reference, measured in the same run the same way: a plain `sorted()` of the same list by
the same key (`queue_key`), the least any most-urgent-first schedule must do; the ratio is
assign's best over sorted's best. Each schedule is checked: capacity never exceeded, every
passport placed or returned exactly once, no family across two days.

Target (issue 9): 2,600 ready passports scheduled in under 2 s. Exit 1 when a check fails (or,
with --strict, a size misses the target).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import random
import statistics
import sys
import time
from collections import Counter
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

# The checkout this file is in goes before any installed kanim: a bench measures the code
# beside it (an editable install may point at another worktree).
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from kanim.domain.application import Priority  # noqa: E402
from kanim.domain.calendar import add_working_days  # noqa: E402
from kanim.domain.pickup import Capacity, Schedule, Waiting, assign, pickup_calendar, queue_key  # noqa: E402

TARGET_S, TARGET_SIZE = 2.0, 2600
TODAY = date(2024, 6, 28)  # the passport system was declared fully restored
OUTAGE = (datetime(2024, 6, 20, 8, 0), 8)  # passports became ready from here, over 8 days
SATURDAY_SERVICE = date(2024, 7, 6)
# 1 Muharram (Sun 7 July), Independence Day (Sat 17 Aug), Maulid (Mon 16 Sep), Christmas and
# its cuti bersama: the weekend ones cost nothing, and are here as an office's list has them.
HOLIDAYS = frozenset({date(2024, 7, 7), date(2024, 8, 17), date(2024, 9, 16), date(2024, 12, 25),
                      date(2024, 12, 26)})
FAMILY_SIZES, FAMILY_WEIGHTS = [1, 2, 3, 4, 5], [40, 25, 15, 12, 8]


# -- the backlog ---------------------------------------------------------------------------------

def backlog(n: int, rng: random.Random) -> list[Waiting]:
    """n ready passports without a pickup slot, families together in bookings."""
    waiting: list[Waiting] = []
    while len(waiting) < n:
        size = min(n - len(waiting), rng.choices(FAMILY_SIZES, FAMILY_WEIGHTS)[0])
        waiting += family(len(waiting), size, rng)
    rng.shuffle(waiting)
    return waiting


def family(first: int, size: int, rng: random.Random) -> list[Waiting]:
    booking = None if size == 1 and rng.random() < 1 / 3 else f"booking-{first:06d}"
    priority, travel = urgency(rng)
    ready = OUTAGE[0] + timedelta(days=rng.randrange(OUTAGE[1]), minutes=rng.randrange(8 * 60))
    medical = rng.randrange(size) if priority is Priority.MEDICAL else None
    return [Waiting(f"app-{first + i:06d}", booking, ready + timedelta(minutes=i),
                    priority if medical in (None, i) else Priority.NONE, travel) for i in range(size)]


def urgency(rng: random.Random) -> tuple[Priority, date | None]:
    """A booking's priority and travel date, in the mix the module docstring gives."""
    r = rng.random()
    if r < 0.02:
        return Priority.MEDICAL, TODAY + timedelta(days=rng.randint(3, 30))
    if r < 0.05:
        return Priority.HAJJ_UMRAH, TODAY + timedelta(days=rng.randint(10, 60))
    if r < 0.15:
        return Priority.TRAVEL, TODAY + timedelta(days=rng.randint(3, 45))
    if r < 0.30:
        return Priority.NONE, TODAY + timedelta(days=rng.randint(1, 120))
    if r < 0.31:
        return Priority.TRAVEL, TODAY - timedelta(days=rng.randint(1, 5))
    return Priority.NONE, None


def mix(waiting: list[Waiting]) -> dict[str, Any]:
    sizes = Counter(Counter(w.booking_id or w.application_id for w in waiting).values())
    return {"families": sum(sizes.values()), "family_sizes": {str(k): sizes[k] for k in sorted(sizes)},
            "priority": dict(Counter(w.priority.value for w in waiting)),
            "with_travel_date": sum(w.travel_date is not None for w in waiting),
            "travel_date_passed": sum(w.travel_date is not None and w.travel_date < TODAY for w in waiting)}


# -- timing and checks ---------------------------------------------------------------------------

def best_of(repeat: int, fn: Callable[[], Any]) -> tuple[Any, list[float]]:
    times, result = [], None
    for _ in range(repeat):
        t0 = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - t0)
    return result, times


def checks(waiting: list[Waiting], capacity: list[Capacity], schedule: Schedule) -> dict[str, bool]:
    seats = {c.slot: c.seats for c in capacity}
    out = [a.application_id for a in schedule.assignments] + [w.application_id for w in schedule.unplaced]
    days: dict[str, set[date]] = {}
    for a in schedule.assignments:
        days.setdefault(a.booking_id or a.application_id, set()).add(a.slot.day)
    return {"capacity_kept": all(n <= seats[s] for s, n in schedule.seats_taken().items()),
            "everyone_once": sorted(out) == sorted(w.application_id for w in waiting),
            "families_on_one_day": all(len(d) == 1 for d in days.values())}


def usage(capacity: list[Capacity], schedule: Schedule) -> dict[str, Any]:
    taken = schedule.seats_taken()
    days = sorted({s.day for s in taken})
    open_on_those_days = [c for c in capacity if c.slot.day in set(days)]
    return {"days_used": len(days), "first_day": days[0].isoformat() if days else None,
            "last_day": days[-1].isoformat() if days else None,
            "saturday_used": SATURDAY_SERVICE in set(days),
            "slots_used": len(taken), "slots_full": sum(taken.get(c.slot, 0) == c.seats for c in open_on_those_days),
            "slots_open_on_those_days": len(open_on_those_days), "seats_used": sum(taken.values()),
            "unplaced": len(schedule.unplaced), "needs_call": len(schedule.needs_call())}


def one_size(n: int, args: argparse.Namespace) -> dict[str, Any]:
    waiting = backlog(n, random.Random(args.seed))
    per_day = args.slots * args.seats
    start = add_working_days(TODAY, 1, HOLIDAYS)
    times = [f"{h:02d}:00" for h in (8, 9, 10, 11, 13, 14, 15, 16, 17, 18)[:args.slots]]
    working_days = math.ceil(n / per_day) + 5

    def build() -> list[Capacity]:
        return pickup_calendar(start, working_days, slot_times=times, seats_per_slot=args.seats, holidays=HOLIDAYS,
                               extra={SATURDAY_SERVICE: (times, args.seats)})

    capacity, build_times = best_of(args.repeat, build)
    schedule, assign_times = best_of(args.repeat, lambda: assign(waiting, capacity, today=TODAY))
    _, sort_times = best_of(args.repeat, lambda: sorted(waiting, key=lambda w: queue_key(w, TODAY)))
    best, reference = min(assign_times), min(sort_times)
    return {"waiting": n, **mix(waiting),
            "calendar": {"start": start.isoformat(), "working_days": working_days, "slot_times": times,
                         "seats_per_slot": args.seats, "slots": len(capacity),
                         "seats": sum(c.seats for c in capacity), "build_best_s": round(min(build_times), 6)},
            "assign": {"best_s": round(best, 6), "median_s": round(statistics.median(assign_times), 6),
                       "max_s": round(max(assign_times), 6)},
            "reference": {"what": "sorted(waiting, key=queue_key)", "best_s": round(reference, 6),
                          "median_s": round(statistics.median(sort_times), 6)},
            "ratio_to_sorted": round(best / reference, 2),
            **usage(capacity, schedule), "checks": checks(waiting, capacity, schedule),
            "under_target": best < TARGET_S}


def machine() -> dict[str, Any]:
    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), "?") if Path("/proc/cpuinfo").exists() else "?"
    return {"nproc": os.cpu_count(), "cpu": cpu, "python": platform.python_version(), "platform": platform.platform(),
            "load_avg": [round(x, 2) for x in os.getloadavg()]}


def report(r: dict[str, Any]) -> None:
    print(f"{r['waiting']:>6,} waiting ({r['families']:,} families): assign best {r['assign']['best_s'] * 1000:8.2f} ms "
          f"(median {r['assign']['median_s'] * 1000:.2f}), sorted() {r['reference']['best_s'] * 1000:.2f} ms, "
          f"ratio {r['ratio_to_sorted']}; calendar {r['calendar']['build_best_s'] * 1000:.2f} ms; "
          f"{r['days_used']} days {r['first_day']}..{r['last_day']}, {r['slots_used']} slots used "
          f"({r['slots_full']} full of {r['slots_open_on_those_days']}), {r['seats_used']:,} seats, "
          f"{r['unplaced']} unplaced, {r['needs_call']} to call; checks {r['checks']}", flush=True)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--waiting", type=int, nargs="+", default=[2600, 10_000], help="ready passports, one run each")
    p.add_argument("--slots", type=int, default=7, help="pickup slots a day (hourly from 08:00, none at 12:00)")
    p.add_argument("--seats", type=int, default=15, help="seats per slot")
    p.add_argument("--repeat", type=int, default=7, help="timed runs of each; the best is the figure")
    p.add_argument("--seed", type=int, default=1, help="random seed of the backlog")
    p.add_argument("--json", type=Path, help="write the whole result here")
    p.add_argument("--strict", action="store_true", help="exit 1 when a size misses the 2 s target")
    args = p.parse_args(argv)
    if not 1 <= args.slots <= 10 or args.seats < 1 or args.repeat < 1:
        p.error("--slots is 1 to 10; --seats and --repeat at least 1")
    runs = []
    for n in args.waiting:
        runs.append(one_size(n, args))
        report(runs[-1])
    result = {"benchmark": "pickup_schedule", "date": datetime.now(UTC).isoformat(timespec="seconds"),
              "command": " ".join(["python", "bench/pickup_schedule.py", *sys.argv[1:]]), "machine": machine(),
              "config": {"slots": args.slots, "seats": args.seats, "repeat": args.repeat, "seed": args.seed,
                         "today": TODAY.isoformat(), "saturday_service": SATURDAY_SERVICE.isoformat(),
                         "holidays": sorted(d.isoformat() for d in HOLIDAYS)},
              "target": {"size": TARGET_SIZE, "seconds": TARGET_S}, "runs": runs}
    if args.json:
        args.json.write_text(json.dumps(result, indent=1))
    failed = [r["waiting"] for r in runs if not all(r["checks"].values())]
    missed = [r["waiting"] for r in runs if not r["under_target"]]
    print(f"checks failed: {failed or 'none'}; over {TARGET_S} s: {missed or 'none'}")
    return 1 if failed or (args.strict and missed) else 0


if __name__ == "__main__":
    sys.exit(main())
