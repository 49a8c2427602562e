"""A big office database, made fast: N older applications (a year of an office's work, every
one sent to the central long ago) and a day of D applications at every stage, with an outage
going on (its operations queued, an open link incident). Set-based inserts straight into
SQLite (recursive CTEs), not through the desks: 100,000 applications and their 1.2 million
outbox rows take seconds, where the desks would take hours.

Not a bench of its own (bench/desk_pages.py uses it): it has no `main`.

What is left out, because no desk page reads it: the audit chain (the older work's audit events;
the chain stays intact, with only the set-up's own events), biometrics and document scans (the
vault's files), booklets. What is in: every column a desk page or the dashboard reads, the
indexes of the real schema (the database is migrated first), realistic value spreads (names
from a few hundred combinations, so a name search finds many; NIKs unique; a few older
passports still waiting for their holder; priorities), and the outbox the size it really is
(12 operations per application).
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

FIRST = ["Siti", "Budi", "Dewi", "Agus", "Putu", "Rina", "Hendra", "Andi", "Yohana", "Made",
         "Rizky", "Ayu", "Joko", "Sri", "Wayan", "Nur", "Fajar", "Indah", "Bayu", "Lestari"]
LAST = ["Rahmawati", "Santoso", "Lestari", "Salim", "Wulandari", "Pratama", "Manurung",
        "Pangerang", "Arsana", "Marlina", "Wijaya", "Sondakh", "Lumban Tobing", "Siregar",
        "Nasution", "Hutapea", "Tanjung", "Saputra", "Kaunang"]
# The stages of the day, in the order an application meets them, and how many of each (per 40).
DAY_STAGES = [("booked", 6), ("checked_in", 4), ("intake_done", 4), ("captured", 4), ("interviewed", 4),
              ("approved", 4), ("printed", 3), ("qc_passed", 3), ("ready", 3), ("handed_over", 5)]
OPS_PER_OLDER = 12
DAY_SLOTS = ["08:00", "09:00", "10:00", "11:00", "13:00", "14:00", "15:00"]
TERMINAL_OLDER = "CASE WHEN i % 200 = 0 THEN 'ready' WHEN i % 50 = 1 THEN 'rejected' " \
                 "WHEN i % 33 = 2 THEN 'cancelled' ELSE 'handed_over' END"


@dataclass(frozen=True)
class Made:
    older: int
    today: int
    outbox: int
    pending: int
    seconds: float


def _ts(at: datetime) -> str:
    """SQLAlchemy's way of storing a UTC datetime in SQLite (kanim.store.types.UTCDateTime)."""
    return at.astimezone(UTC).replace(tzinfo=None).isoformat(sep=" ", timespec="microseconds")


def populate(db: Path, *, office_code: str, older: int, today_n: int, now: datetime, tz: str = "Asia/Jakarta",
             outage_hours: float = 2.0) -> Made:
    """Fill the migrated office database at `db`; `now` is the server's clock (its today)."""
    import time

    t0 = time.perf_counter()
    con = sqlite3.connect(db)
    try:
        con.execute("PRAGMA journal_mode=WAL")
        con.execute("PRAGMA synchronous=OFF")  # a bench database: rebuilt when lost
        con.execute("BEGIN")
        _names(con)
        today = now.astimezone(ZoneInfo(tz)).date()
        if older > 0:
            _older(con, office_code, older, today, now)
        if today_n > 0:
            _day(con, office_code, today_n, today, now, outage_hours)
        _incidents(con, now, outage_hours)
        con.execute("COMMIT")
        # No ANALYZE: nothing runs it at a real office either, so the planner must choose well
        # without statistics (the dashboard's queries are written for that).
        counts = con.execute("SELECT count(*), sum(status = 'pending') FROM outbox").fetchone()
    finally:
        con.close()
    return Made(older, today_n, counts[0], counts[1] or 0, time.perf_counter() - t0)


def _names(con: sqlite3.Connection) -> None:
    con.execute("CREATE TEMP TABLE fn (k INTEGER PRIMARY KEY, name TEXT)")
    con.execute("CREATE TEMP TABLE ln (k INTEGER PRIMARY KEY, name TEXT)")
    con.executemany("INSERT INTO fn VALUES (?, ?)", list(enumerate(FIRST)))
    con.executemany("INSERT INTO ln VALUES (?, ?)", list(enumerate(LAST)))


# Columns both kinds of application share; `{i}` is the row number, the rest per kind.
APP_COLUMNS = ("id, number, office_code, booking_id, full_name, nik, birth_date, birth_place, sex, kk_number, "
               "app_type, passport_kind, appointment_on, priority, travel_date, stage, nik_verified, "
               "watchlist_clear, not_duplicate, payment_confirmed, recorded_centrally, queue_ticket, fee_total, "
               "created_at, updated_at, version")
NAME = "fn.name || ' ' || ln.name"
# NIK: region + DDMMYY (women: day + 40) + a serial; unique per row number (kanim/domain/nik.py).
NIK = ("'717101' || printf('%02d%02d%02d%04d', {i} % 28 + 1 + CASE WHEN {i} % 2 = 1 THEN 40 ELSE 0 END, "
       "({i} / 28) % 12 + 1, 50 + ({i} / 336) % 50, ({i} / 16800) % 10000 + {base})")
TS = "(datetime({}) || '.000000')"  # SQLAlchemy's format: microseconds always written
BIRTH = "printf('19%02d-%02d-%02d', 50 + ({i} / 336) % 50, ({i} / 28) % 12 + 1, {i} % 28 + 1)"


def _older(con: sqlite3.Connection, code: str, n: int, today: date, now: datetime) -> None:
    """n applications of the days before today (400 a day), every one finished long ago."""
    per_day = 400
    first_day = today - timedelta(days=n // per_day + 2)
    start = datetime(first_day.year, first_day.month, first_day.day, 1, 0, tzinfo=UTC)
    seq = "WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i < :n - 1)"
    created = TS.format("datetime(:start, '+' || (i / 400) || ' days', '+' || ((i % 400) * 60) || ' seconds')")
    con.execute(f"""{seq} INSERT INTO booking (id, account_ref, appointment_on, slot, created_at)
        SELECT printf('b0%06x-0000-4000-8000-%012x', i, i), 'acct-' || (i % 5000), date({created}),
               printf('%02d:00', 8 + (i % 7)), {created} FROM n""", {"n": n, "start": _ts(start)[:19]})
    i = "i"
    con.execute(f"""{seq} INSERT INTO application ({APP_COLUMNS})
        SELECT printf('a0%06x-0000-4000-8000-%012x', i, i),
               :code || '-' || strftime('%Y%m%d', {created}) || '-' || printf('%04d', i % 400 + 1),
               :code, printf('b0%06x-0000-4000-8000-%012x', i, i), {NAME}, {NIK.format(i=i, base=0)},
               {BIRTH.format(i=i)}, 'Manado', CASE WHEN i % 2 = 1 THEN 'F' ELSE 'M' END, '',
               'new', CASE WHEN i % 3 = 0 THEN 'electronic' ELSE 'ordinary' END, date({created}),
               'none', NULL, {TERMINAL_OLDER}, 'confirmed', 'confirmed', 'confirmed', 'confirmed', 'confirmed',
               NULL, 650000, {created}, {created}, 9
        FROM n JOIN fn ON fn.k = i % 20 JOIN ln ON ln.k = (i / 20) % 19""", {"n": n, "code": code,
                                                                           "start": _ts(start)[:19]})
    # Every operation sent a second after it was made.
    made = f"datetime({created}, '+' || (k * 600) || ' seconds')"
    sent = f"datetime({created}, '+' || (k * 600 + 1) || ' seconds')"
    con.execute(f"""{seq}, j(k) AS (SELECT 0 UNION ALL SELECT k + 1 FROM j WHERE k < {OPS_PER_OLDER - 1})
        INSERT INTO outbox (id, subject, op, payload, priority, created_at, queued_at, status, attempts, sent_at)
        SELECT printf('o%07x-%04x-4000-8000-000000000000', i, k), printf('a0%06x-0000-4000-8000-%012x', i, i),
               'Op' || k, json_object('application_id', printf('a0%06x-0000-4000-8000-%012x', i, i), 'step', k),
               0, {TS.format(made)}, {TS.format(made)}, 'sent', 1, {TS.format(sent)}
        FROM n, j ORDER BY i, k""", {"n": n, "start": _ts(start)[:19]})


def _day(con: sqlite3.Connection, code: str, n: int, today: date, now: datetime, outage_hours: float) -> None:
    """Today's n applications at every stage: most booked online for a slot, one in eight a
    walk-in; their operations of the last `outage_hours` still queued (the central is down)."""
    stages = [s for s, w in DAY_STAGES for _ in range(w)]
    con.execute("CREATE TEMP TABLE day_stage (k INTEGER PRIMARY KEY, stage TEXT, step INTEGER)")
    order = [s for s, _ in DAY_STAGES]
    con.executemany("INSERT INTO day_stage VALUES (?, ?, ?)",
                    [(k, s, order.index(s) + 1) for k, s in enumerate(stages)])
    seq = "WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i < :n - 1)"
    walk_in = "(i % 8 = 7)"
    booked_at = _ts(now - timedelta(days=3))[:19]
    params = {"n": n, "code": code, "day": today.isoformat(), "booked": booked_at, "now": _ts(now)[:19],
              "slots": len(DAY_SLOTS), "stages": len(stages)}
    con.execute(f"""{seq} INSERT INTO booking (id, account_ref, appointment_on, slot, created_at)
        SELECT printf('b1%06x-0000-4000-8000-%012x', i, i), 'acct-day-' || i, :day,
               printf('%02d:00', CASE i % :slots WHEN 0 THEN 8 WHEN 1 THEN 9 WHEN 2 THEN 10 WHEN 3 THEN 11
                                  WHEN 4 THEN 13 WHEN 5 THEN 14 ELSE 15 END), :booked
        FROM n WHERE NOT {walk_in}""", params)
    prio = "CASE WHEN i % 40 = 3 THEN 'medical' WHEN i % 25 = 4 THEN 'hajj_umrah' WHEN i % 10 = 5 THEN 'travel' " \
           "ELSE 'none' END"
    clearance = "CASE WHEN ds.step >= 9 THEN 'confirmed' WHEN ds.step >= 3 THEN 'provisional' ELSE 'pending' END"
    con.execute(f"""{seq} INSERT INTO application ({APP_COLUMNS})
        SELECT printf('a1%06x-0000-4000-8000-%012x', i, i),
               :code || '-' || strftime('%Y%m%d', :day) || '-' || printf('%04d', i + 1), :code,
               CASE WHEN {walk_in} THEN NULL ELSE printf('b1%06x-0000-4000-8000-%012x', i, i) END,
               {NAME}, {NIK.format(i="i", base=5000)}, {BIRTH.format(i="i")}, 'Manado',
               CASE WHEN i % 2 = 1 THEN 'F' ELSE 'M' END, '', 'new', 'ordinary', :day, {prio},
               CASE WHEN i % 10 = 5 THEN date(:day, '+20 days') END, ds.stage,
               {clearance}, {clearance}, {clearance}, {clearance},
               CASE WHEN ds.step >= 9 THEN 'confirmed' ELSE 'pending' END,
               CASE WHEN ds.step >= 2 THEN (CASE WHEN {walk_in} THEN 'W-' ELSE 'A-' END) || printf('%03d', i + 1) END,
               650000, CASE WHEN {walk_in} THEN {TS.format("datetime(:now, '-' || ((:n - i) * 30) || ' seconds')")}
                             ELSE {TS.format(":booked")} END,
               {TS.format(":now")}, ds.step
        FROM n JOIN fn ON fn.k = (i * 7) % 20 JOIN ln ON ln.k = (i * 3) % 19 JOIN day_stage ds ON ds.k = i % :stages""",
                params)
    # One operation per step reached, spread over the last 8 hours in order; the last
    # `outage_hours` of them still queued, with the application's drain rank.
    cut = TS.format(f"datetime(:now, '-{int(outage_hours * 3600)} seconds')")
    spread = "datetime(:now, '-' || CAST((total - r + 1) * 28800.0 / total AS INTEGER) || ' seconds')"
    rank = "CASE a.priority WHEN 'medical' THEN 3000 WHEN 'hajj_umrah' THEN 2000 WHEN 'travel' THEN 1040 ELSE 0 END"
    con.execute(f"""WITH RECURSIVE j(k) AS (SELECT 1 UNION ALL SELECT k + 1 FROM j WHERE k < 10),
        ops AS (SELECT a.id AS subject, j.k AS k, {rank} AS rank,
                       row_number() OVER (ORDER BY j.k, a.id) AS r, count(*) OVER () AS total
                FROM application a JOIN j ON j.k <= a.version WHERE a.id LIKE 'a1%'),
        timed AS (SELECT *, {TS.format(spread)} AS at FROM ops)
        INSERT INTO outbox (id, subject, op, payload, priority, created_at, queued_at, status, attempts, sent_at)
        SELECT printf('o1%06x-%04x-4000-8000-000000000000', r, k), subject, 'Step' || k,
               json_object('application_id', subject, 'step', k), rank, at, at,
               CASE WHEN at > {cut} THEN 'pending' ELSE 'sent' END, CASE WHEN at > {cut} THEN 3 ELSE 1 END,
               CASE WHEN at > {cut} THEN NULL ELSE {TS.format("datetime(at, '+1 seconds')")} END
        FROM timed ORDER BY r""", params)
    # `version` carried the step reached, for the operations above; printed passports have a time.
    printed = TS.format("datetime(:now, '-' || ((rowid % 240) * 60) || ' seconds')")
    con.execute(f"UPDATE application SET printed_at = CASE WHEN version >= 7 THEN {printed} END, version = 1 "
                "WHERE id LIKE 'a1%'", {"now": _ts(now)[:19]})
    con.executemany("INSERT OR REPLACE INTO daily_counter (day, name, value) VALUES (?, ?, ?)",
                    [(today.isoformat(), "application", n), (today.isoformat(), "ticket_A", n),
                     (today.isoformat(), "ticket_W", n)])


def _incidents(con: sqlite3.Connection, now: datetime, outage_hours: float) -> None:
    """Two outages a week ago, and the one going on: degraded, then down."""
    started = now - timedelta(hours=outage_hours)
    rows = []
    for days in (7, 5):
        t = now - timedelta(days=days)
        rows += [("degraded", "connection refused", t, t + timedelta(seconds=4)),
                 ("down", "connection refused", t + timedelta(seconds=4), t + timedelta(hours=3))]
    rows += [("degraded", "connection refused", started, started + timedelta(seconds=3)),
             ("down", "connection refused", started + timedelta(seconds=3), None)]
    con.executemany("INSERT INTO link_incident (state, reason, started_at, ended_at) VALUES (?, ?, ?, ?)",
                    [(s, r, _ts(a), _ts(b) if b else None) for s, r, a, b in rows])
