"""What the outage scenario's applicants were told (kanim/ops/scenario.py), and how their pickup
was spread: the notification worker of the office's `kanim serve` (a thread of it, as in
production) sends through Apprise's WhatsApp and SMSEagle plugins to a local stand-in of both
providers that the scenario runs itself (kanim/ops/notify_sink.py): real HTTP on 127.0.0.1,
nothing leaves the machine, and what arrived is counted there, not taken from the office's word.

Each booked applicant left a mobile number (kanim/ops/drill_desks.py); one in five prefers SMS,
and one in `NOT_ON_WHATSAPP` of those who prefer WhatsApp has no WhatsApp (the stand-in answers
Meta's error 131026), so the office falls back to SMS (`fell_back_to_sms`). Walk-ins left no contact: nobody can tell
them anything, and the report says how many.

Two settings differ from an office's: quiet hours are off (the drill runs at any hour, and from
21:00 to 07:00 an office holds all but urgent notices), and the per-recipient hourly cap is
raised (the drill compresses a day into a minute: one applicant's six notices of a day arrive
within seconds).

The report's `notifications` (see `audit`):

- per_applicant: for each affected applicant (printed while the central was down, or turned away
  at the handover gate), by application number (never a name or a number to call): each
  message the office wrote, its purpose, final channel, state (and reason when not sent) and how
  many copies the stand-in received; `delay_notice` (the "printed, waiting for the central"
  notice reached them) and `ready_with_slot` (the ready notice with their own pickup slot
  reached them: its day and time);
- by_channel: the office's messages by final channel and state; received: what the stand-in got
  per channel;
- scheduled: messages waiting for their moment (billing reminders, pickup reminders for the eve);
- lost: messages the office marked sent that never arrived, messages stuck (still sending, or
  due and unsent when the drill ends), events the rules never handled, and booked applicants
  with a ready passport but no ready notice; duplicated: copies received more than once;
- pickup: days used, slots filled (and how many full), seats per slot, passports placed.
"""

from __future__ import annotations

import contextlib
import json
import sqlite3
from collections import Counter, defaultdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from kanim.ops.drill_desks import Person
from kanim.ops.notify_sink import NotifySink, Received, expected_key, key

NOT_ON_WHATSAPP = 4  # every 4th booked applicant preferring WhatsApp has no WhatsApp
SENT = ("sent", "delivered")
WAITING = ("created", "temporary-failure")


def not_on_whatsapp(people: list[Person]) -> set[str]:
    booked = [p for p in people if not p.walk_in and p.channel == "whatsapp"]
    return {p.phone for p in booked[NOT_ON_WHATSAPP - 1::NOT_ON_WHATSAPP]}


def office_settings(sink: NotifySink) -> dict[str, str]:
    """The office's KANIM_NOTIFY_* for the drill (see the module docstring for the two that differ)."""
    return {"notify_whatsapp_url": sink.whatsapp_url, "notify_sms_url": sink.sms_url,
            "office_phone": "(0431) 000 000", "notify_interval": "0.5",
            "notify_quiet_start": "00:00", "notify_quiet_end": "00:00", "notify_recipient_hourly_cap": "30"}


def _rows(db: Path, sql: str, *args: Any) -> list[sqlite3.Row]:
    with contextlib.closing(sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=30)) as c:
        c.row_factory = sqlite3.Row
        return c.execute(sql, args).fetchall()


def _at(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value).replace(tzinfo=UTC) if value else None


def _due(row: sqlite3.Row, now: datetime) -> bool:
    """Waiting and due now: the worker should have sent it (not a reminder for a later moment)."""
    return (row["state"] in WAITING and (_at(row["not_before"]) or now) <= now
            and (_at(row["next_attempt_at"]) or now) <= now)


def _messages(db: Path) -> list[sqlite3.Row]:
    return _rows(db, "SELECT m.seq, m.purpose, m.application_id, m.channel, m.address, m.language, m.params, "
                     "m.state, m.reason, m.not_before, m.next_attempt_at, a.number FROM notify_message m "
                     "LEFT JOIN application a ON a.id = m.application_id ORDER BY m.seq")


def settled(db: Path) -> bool:
    """The worker is done with everything due: no event waits for the rules, nothing is sending,
    nothing due is unsent."""
    now = datetime.now(UTC)
    events = _rows(db, "SELECT count(*) FROM event_queue WHERE consumer = 'notify'")[0][0]
    return events == 0 and not any(m["state"] == "sending" or _due(m, now) for m in _messages(db))


def not_yet_told_ready(db: Path, application_ids: set[str]) -> set[str]:
    """Those of `application_ids` who left a contact and whose ready notice (with their slot)
    has not gone out yet. Handing such a passport over cancels its notice (`not-ready`): the
    scenario waits for these, not only for the worker to be idle, because a notice waiting for
    its next attempt after a failure (or its fallback channel's) is not due, so not counted."""
    if not application_ids:
        return set()
    marks = ", ".join("?" * len(application_ids))
    sent = ", ".join(f"'{s}'" for s in SENT)
    return {r["id"] for r in _rows(
        db, f"SELECT a.id FROM application a WHERE a.id IN ({marks}) AND a.booking_id IS NOT NULL "
            f"AND NOT EXISTS (SELECT 1 FROM notify_message m WHERE m.application_id = a.id "
            f"AND m.purpose = 'ready' AND m.state IN ({sent}))", *sorted(application_ids))}


def _expected(row: sqlite3.Row) -> tuple:
    from kanim.notify.render import render
    from kanim.office.notify import decode_params

    rendered = render(row["purpose"], row["channel"], row["language"], decode_params(json.loads(row["params"])))
    return expected_key(row["channel"], row["address"], rendered)


def audit(db: Path, received: list[Received], affected: set[str], people: list[Person],
          seats_per_slot: int) -> dict[str, Any]:
    now = datetime.now(UTC)
    rows = _messages(db)
    got = Counter(key(r) for r in received)
    keys = {r["seq"]: _expected(r) for r in rows if r["state"] in SENT}
    copies = {seq: got.get(k, 0) for seq, k in keys.items()}
    stages = {r["id"]: (r["stage"], r["number"], r["booking_id"]) for r in
              _rows(db, "SELECT id, stage, number, booking_id FROM application")}
    told_ready = {r["application_id"] for r in rows if r["purpose"] == "ready" and copies.get(r["seq"])}
    untold = sorted(n for a, (stage, n, booking) in stages.items()
                    if stage == "ready" and booking is not None and a not in told_ready)
    lost = {"sent_not_received": sorted(seq for seq, n in copies.items() if n == 0),
            "stuck": sorted(r["seq"] for r in rows if r["state"] == "sending" or _due(r, now)),
            "events_unhandled": _rows(db, "SELECT count(*) FROM event_queue WHERE consumer = 'notify'")[0][0],
            "ready_but_not_told": untold}
    preferred = {p.phone: p.channel for p in people if not p.walk_in}
    by_channel: dict[str, Counter] = defaultdict(Counter)
    for r in rows:
        by_channel[r["channel"]][r["state"]] += 1
    return {
        "per_applicant": _per_applicant(rows, copies, affected, stages),
        "affected_without_contact": sum(1 for a in affected if stages.get(a, (None, None, None))[2] is None),
        "messages": len(rows),
        "by_channel": {c: dict(sorted(n.items())) for c, n in sorted(by_channel.items())},
        "by_purpose": dict(sorted(Counter(r["purpose"] for r in rows).items())),
        "received": dict(sorted(Counter(r.channel for r in received).items())),
        "scheduled": dict(sorted(Counter(r["purpose"] for r in rows if r["state"] in WAITING
                                         and not _due(r, now)).items())),
        "fell_back_to_sms": sum(1 for r in rows if r["channel"] == "sms" and preferred.get(r["address"]) == "whatsapp"),
        "lost": len(lost["sent_not_received"]) + len(lost["stuck"]) + lost["events_unhandled"] + len(untold),
        "lost_detail": lost,
        "duplicated": sum(n - 1 for n in got.values() if n > 1),
        "pickup": pickup(db, seats_per_slot),
    }


def _per_applicant(rows: list[sqlite3.Row], copies: dict[int, int], affected: set[str],
                   stages: dict[str, tuple]) -> list[dict[str, Any]]:
    out = []
    for app in sorted(affected, key=lambda a: stages.get(a, ("", "", None))[1] or ""):
        stage, number, booking = stages.get(app, (None, None, None))
        mine = [r for r in rows if r["application_id"] == app]
        messages = [{"purpose": r["purpose"], "channel": r["channel"], "state": r["state"],
                     **({"reason": r["reason"]} if r["state"] not in SENT and r["reason"] else {}),
                     "received": copies.get(r["seq"], 0),
                     **({"pickup": _slot(r)} if r["purpose"] in ("ready", "pickup_reminder") else {})}
                    for r in mine]
        ready = next((m for m in messages if m["purpose"] == "ready" and m["received"]), None)
        out.append({"number": number, "stage": stage, "contact": booking is not None, "messages": messages,
                    "delay_notice": any(m["purpose"] == "printed_waiting" and m["received"] for m in messages),
                    "ready_with_slot": ready["pickup"] if ready else None})
    return out


def _slot(row: sqlite3.Row) -> str:
    params = json.loads(row["params"])
    return f"{params.get('pickup_day')} {params.get('pickup_slot')}"


def pickup(db: Path, seats_per_slot: int) -> dict[str, Any]:
    taken = _rows(db, "SELECT day, slot, count(*) AS n FROM pickup_assignment GROUP BY day, slot ORDER BY day, slot")
    days = sorted({r["day"] for r in taken})
    return {"placed": sum(r["n"] for r in taken), "days_used": len(days),
            "first_day": days[0] if days else None, "last_day": days[-1] if days else None,
            "slots_filled": len(taken), "slots_full": sum(1 for r in taken if r["n"] >= seats_per_slot),
            "seats_per_slot": seats_per_slot,
            "by_day": {d: sum(r["n"] for r in taken if r["day"] == d) for d in days}}


def render_rows(n: dict[str, Any]) -> list[tuple[str, str]]:
    """The report's notification lines for people (kanim.ops.scenario.render)."""
    p = n["pickup"]
    rows = [("messages to applicants (by final channel: state)",
             "; ".join(f"{c}: " + ", ".join(f"{s} {k}" for s, k in st.items()) for c, st in n["by_channel"].items())),
            ("received by the local WhatsApp / SMS stand-in", " / ".join(str(n["received"].get(c, 0))
                                                                          for c in ("whatsapp", "sms"))),
            ("waiting for their moment", ", ".join(f"{k} {v}" for k, v in n["scheduled"].items()) or "-"),
            ("messages lost / duplicated", f"{n['lost']} / {n['duplicated']}"),
            ("pickup: passports placed, days used, slots filled (full)",
             f"{p['placed']}, {p['days_used']} ({p['first_day']} - {p['last_day']}), {p['slots_filled']} "
             f"({p['slots_full']} of {p['seats_per_slot']} seats)")]
    affected = n["per_applicant"]
    told = [a for a in affected if a["contact"]]
    rows.append(("affected applicants: with a contact / walk-ins",
                 f"{len(told)} / {n['affected_without_contact']}"))
    for a in told:
        ready = next((m for m in a["messages"] if m["purpose"] == "ready" and m["received"]), None)
        waiting = sum(1 for m in a["messages"] if m["state"] in WAITING)
        rows.append((f"  {a['number']}", f"delay notice {'yes' if a['delay_notice'] else 'no'}; ready with slot "
                     + (f"{a['ready_with_slot']} ({ready['channel']})" if ready else "no")
                     + f"; {sum(m['received'] for m in a['messages'])} received, {waiting} waiting for their moment"))
    return rows
