"""The June 2024 incident, replayed with real processes: `kanim demo --scenario outage`.

A central hub and one office (MND, Kantor Imigrasi Manado) run as their own `kanim serve`
processes on localhost, each on SQLite in a temporary folder. A day of applicants goes through
every desk of the office over its HTTP API, each desk logged in as its own role. Mid-day the
central is killed (SIGKILL, as the ransomware did: no goodbye), and the office keeps booking,
capturing, approving and printing on provisional clearances, while the pickup desk has to turn
applicants away at the handover gate. Then the central comes back on the same data, and the
report says what the product promises: how long until every printed passport is ready, and that
nothing was lost or applied twice.

Everything is bounded in time, and both processes are stopped at the end whatever happens
(an error, Ctrl-C, SIGTERM).

The report (`run_outage`'s return value, `--json`):

- taken / taken_during_outage / printed / printed_during_outage: applications created and
  passports printed in all, and while the central did not answer (from the kill until the
  restarted central answers again);
- waited_at_handover_gate: applicants turned away with 409 handover-gate-closed during the
  outage (handed_over_during_outage: those whose clearances the central had all confirmed
  before it died, who got their passport);
- seconds_to_all_ready: from the central answering again until every passport printed by then
  (backlog_at_return) is ready; all_ready: every printed passport of the day is ready at the end;
- lost: applications, outbox operations or printed booklets of the office missing at the
  central (its SQLite: registry_application, central_operation, registry_passport);
  duplicated: ids, office sequence numbers, application numbers, NIKs, passports or clearance
  decisions held or applied more than once, at the central or the office;
- link_incidents: the office's breaker changes (GET /api/v1/link/incidents), oldest first;
- notifications: what each affected applicant was told (the delay notice, the ready notice with
  their slot), counted where it arrived, by channel and state, lost and duplicated, and the
  pickup schedule (kanim/ops/outage_notices.py, with the drill's local WhatsApp/SMS stand-in);
- ok: nothing lost or duplicated (operations, messages), every printed passport ready, no desk
  error, no dead letter.
"""

from __future__ import annotations

import contextlib
import shutil
import sqlite3
import tempfile
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from kanim.ops import outage_notices as notices
from kanim.ops.cluster import CentralSpec, NodeProcess, OfficeSpec, free_port, provision
from kanim.ops.cluster import isolated as _isolated
from kanim.ops.cluster import sigterm_as_interrupt as _sigterm_as_interrupt
from kanim.ops.drill_desks import (
    API,
    HTTP_TIMEOUT,
    PASSWORD,
    PRINTED,
    READY,
    Desks,
    DeskRefused,
    Person,
    ScenarioError,
    Tally,
    appointment_day,
    day_of_applicants,
    log_in_all,
    handover_body,
    worker,
)

OFFICE_CODE, OFFICE_NAME = "MND", "Kantor Imigrasi Manado"
DEFAULT_APPLICANTS, DEFAULT_WORKERS = 40, 4
KILL_AT, RESTORE_AT = 0.3, 0.75  # share of the day's applicants taken when the central dies / returns
# Seconds the central stays down: long enough for the breaker to say "down" and for passports to
# print; not so long that the relay's backoff (up to 10 s) dominates the drill.
MIN_OUTAGE, USUAL_OUTAGE, MAX_OUTAGE = 3.0, 15.0, 40.0
SNAPSHOT_TIMEOUT, DRAIN_TIMEOUT, DAY_TIMEOUT, SETTLE_TIMEOUT = 20.0, 60.0, 100.0, 30.0


# -- the nodes -----------------------------------------------------------------------------------

class OfficeView:
    """The office as its supervisor sees it through the API: link status, incidents, lists."""

    def __init__(self, url: str, token: str) -> None:
        self.client = httpx.Client(base_url=url + API, timeout=HTTP_TIMEOUT,
                                   headers={"Authorization": f"Bearer {token}"})

    def get(self, path: str, **params: Any) -> Any:
        r = self.client.get(path, params=params)
        r.raise_for_status()
        return r.json()

    def stages(self) -> dict[str, str]:
        """Every application at the office, by id, with its stage."""
        out: dict[str, str] = {}
        while True:
            page = self.get("/applications", limit=500, offset=len(out))
            out.update({a["id"]: a["stage"] for a in page})
            if len(page) < 500:
                return out

    def ids(self, stages: tuple[str, ...]) -> set[str]:
        return {a for a, stage in self.stages().items() if stage in stages}


def prepare(root: Path, people: list[Person], notify: dict[str, str] | None = None) -> tuple[CentralSpec, OfficeSpec]:
    """Keys, registration, booklets and staff accounts (`provision`), plus what a national
    central holds before the day: the applicants in the civil registry, one watch-list order.
    `notify`: the office's KANIM_NOTIFY_* (where its channels send)."""
    from kanim.central.node import bootstrap_central
    from kanim.central.service import Order, add_watchlist_order, load_civil_registry
    from kanim.config import Settings

    central = CentralSpec(root / "central", free_port(), treasury="trusting")
    office = OfficeSpec(OFFICE_CODE, root / "office", free_port(), central.url,
                        extra={"office_name": OFFICE_NAME, "link_interval": "0.3", **(notify or {})})
    provision(central, [office], booklets_per_office=max(100, len(people) * 2), staff_password=PASSWORD)
    csv_path = root / "dukcapil-extract.csv"
    csv_path.write_text("nik,full_name,birth_date,sex,kk_number\n" + "".join(
        f"{p.nik},{p.full_name},{p.birth_date.isoformat()},{p.sex},{p.kk_number}\n" for p in people))
    node = bootstrap_central(Settings(**central.settings()))
    load_civil_registry(node, csv_path)
    today = datetime.now(UTC).date()
    add_watchlist_order(node, Order("nik", "3171010101800099", "prevention", "KPK", today, today + timedelta(days=90),
                                    "drill: a prevention order no applicant matches"), actor="provision")
    node.engine.dispose()
    return central, office


def wait_for(what: str, probe: Any, timeout: float, every: float = 0.2) -> Any:
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        try:
            last = probe()
        except httpx.HTTPError as e:
            last = e
        else:
            if last:
                return last
        time.sleep(every)
    raise ScenarioError(f"timed out after {timeout:.0f} s waiting for {what} (last: {last!r})")


# -- checking the result -------------------------------------------------------------------------

def _rows(db: Path, sql: str, *args: Any) -> list[tuple]:
    with contextlib.closing(sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=30)) as c:
        return c.execute(sql, args).fetchall()


def _twice(db: Path, table: str, columns: str, where: str = "1 = 1") -> list[tuple]:
    """Values of `columns` found in more than one row of `table`."""
    sql = f"SELECT {columns}, COUNT(*) FROM {table} WHERE {where} GROUP BY {columns} HAVING COUNT(*) > 1"  # noqa: S608
    return _rows(db, sql)  # (names and conditions are constants of this module)


def audit_central(central_db: Path, office_db: Path, office_ids: set[str]) -> dict[str, Any]:
    """Lost: applications, operations or passports of the office that the central lacks.
    Duplicated: anything the central (or the office) holds or applied more than once."""
    registry = dict(_rows(central_db, "SELECT id, stage FROM registry_application WHERE office_code = ?", OFFICE_CODE))
    outbox = {r[0] for r in _rows(office_db, "SELECT id FROM outbox")}
    applied = {r[0] for r in _rows(central_db, "SELECT id FROM central_operation WHERE office_code = ?", OFFICE_CODE)}
    printed = set(_rows(office_db, "SELECT booklet_serial, id FROM application WHERE booklet_serial IS NOT NULL"))
    recorded = set(_rows(central_db, "SELECT serial, application_id FROM registry_passport WHERE status != 'voided'"))
    c, o = central_db, office_db
    dup = {
        "operation_ids": _twice(c, "central_operation", "id"),
        "operations_by_office_seq": _twice(c, "central_operation", "office_code, office_seq"),
        "registry_ids": _twice(c, "registry_application", "id"),
        "registry_numbers": _twice(c, "registry_application", "office_code, number"),
        "registry_niks": _twice(c, "registry_application", "nik", "nik IS NOT NULL"),
        "passports_per_application": _twice(c, "registry_passport", "application_id", "status != 'voided'"),
        "office_applications_per_nik": _twice(o, "application", "nik"),
        # One decision per clearance and application in this drill: a second one means an
        # operation's effects were applied twice at the central...
        "central_decisions": _twice(c, "central_event", "subject, json_extract(payload, '$.kind')",
                                    "kind = 'clearance'"),
        # ...and a decision applied twice at the office would have changed a clearance twice.
        "office_decisions_applied": _twice(o, "outbox", "subject, json_extract(payload, '$.kind'), "
                                           "json_extract(payload, '$.new')",
                                           "op = 'ClearanceChanged' AND json_extract(payload, '$.source') = 'central'"),
    }
    lost_apps, lost_ops = sorted(office_ids - registry.keys()), sorted(outbox - applied)
    lost_passports = sorted(serial for serial, _ in printed - recorded)
    return {
        "lost": len(lost_apps) + len(lost_ops) + len(lost_passports),
        "lost_applications": lost_apps,
        "lost_operations": lost_ops,
        "lost_passports": lost_passports,
        "duplicated": sum(len(v) for v in dup.values()),
        "duplicates": {k: [list(r) for r in v] for k, v in dup.items() if v},
        "operations_unknown_to_office": sorted(applied - outbox),
        "operations_at_office": len(outbox),
        "operations_applied_at_central": len(applied),
        "registry_applications": len(registry),
        "registry_stages": registry,
    }


def _seconds(a: Any, b: Any) -> float | None:
    if not a or not b:
        return None
    return round((datetime.fromisoformat(b) - datetime.fromisoformat(a)).total_seconds(), 1)


# -- the run -------------------------------------------------------------------------------------

class _Run:
    def __init__(self, applicants: int, workers: int, root: Path, console: Console) -> None:
        self.n, self.workers, self.root, self.console = applicants, workers, root, console
        self.people = day_of_applicants(applicants)
        self.tally = Tally()
        self.stop = threading.Event()
        self.nodes: list[NodeProcess] = []
        self.sink = notices.NotifySink(not_on_whatsapp=notices.not_on_whatsapp(self.people))
        self.central_error: str | None = None
        self.report: dict[str, Any] = {"scenario": "outage", "office": OFFICE_CODE, "applicants": applicants}
        self.t0 = time.monotonic()

    def say(self, msg: str) -> None:
        self.console.print(f"[dim]{time.monotonic() - self.t0:5.1f}s[/] {msg}", highlight=False)

    def start(self) -> None:
        self.say("provisioning a central and the office MND (keys, booklets, staff, civil registry)")
        self.sink.start()
        self.central_spec, self.office_spec = prepare(self.root, self.people, notices.office_settings(self.sink))
        self.central = self.central_spec.process()
        self.office_node = self.office_spec.process()
        self.nodes = [self.central, self.office_node]
        self.central.start()
        self.office_node.start()
        self.say(f"central at {self.central_spec.url}, office at {self.office_spec.url}: both answering")
        self.tokens = log_in_all(self.office_spec.url)
        self.office = OfficeView(self.office_spec.url, self.tokens["supervisor"])
        st = wait_for("the office's relay to fetch the signed watch-list snapshot",
                      lambda: (s := self.office.get("/link/status"))["watchlist_snapshot_at"] and s, SNAPSHOT_TIMEOUT)
        self.started = time.monotonic()
        self.say(f"signed watch-list snapshot of {st['watchlist_snapshot_at']} loaded; desks logged in")

    def day(self, progress: Progress) -> None:
        """The desks work through the day; the central dies at KILL_AT and returns at RESTORE_AT."""
        t = self.tally
        self.progress, self.deadline = progress, time.monotonic() + DAY_TIMEOUT
        self.bars = {"taken": progress.add_task("applicants taken", total=self.n),
                     "printed": progress.add_task("passports printed", total=self.n)}
        threads = self._open_desks()
        self._until(lambda: len(t.taken) >= max(2, round(self.n * KILL_AT)) or t.finished >= self.n)
        self.central.kill()
        t.outage_from = time.monotonic()
        self.say(f"[bold red]central KILLED (SIGKILL)[/] after {len(t.taken)} applicants; the office works on")
        self._until(lambda: self._may_restore(round(self.n * RESTORE_AT)))
        returned = self._restart_central()
        backlog = set(t.printed)
        self.report["backlog_at_return"] = len(backlog)
        self.say(f"[bold green]central back[/] after {returned - t.outage_from:.1f} s down; "
                 f"{len(backlog)} printed passports wait for its confirmations")
        self._drain(backlog, returned)
        self._until(lambda: not any(th.is_alive() for th in threads))

    def _open_desks(self) -> list[threading.Thread]:
        queue = list(enumerate(self.people))
        slots = ["08:00", "09:00", "10:00", "11:00", "13:00", "14:00", "15:00"]
        threads = [threading.Thread(target=worker, daemon=True, name=f"desks-{i}", args=(
            self.office_spec.url, self.tokens, queue, appointment_day(), slots, self.tally, self.stop))
            for i in range(self.workers)]
        for th in threads:
            th.start()
        return threads

    def _until(self, done: Any, every: float = 0.05) -> None:
        """Wait for `done()`, keeping the progress bars moving; the whole day is bounded."""
        while True:
            self.progress.update(self.bars["taken"], completed=len(self.tally.taken))
            self.progress.update(self.bars["printed"], completed=len(self.tally.printed))
            if done():
                return
            if time.monotonic() > self.deadline:
                raise ScenarioError(f"the day did not finish within {DAY_TIMEOUT:.0f} s")
            time.sleep(every)

    def _restart_central(self) -> float:
        """Start the central again on the same data. The outage lasts until it answers: work
        done while it starts up counts as done during the outage."""
        restart = time.monotonic()
        self.say("restarting the central on the same data")
        starting = threading.Thread(target=self._start_central, daemon=True)
        starting.start()
        self._until(lambda: not starting.is_alive())
        if self.central_error:
            raise ScenarioError(f"the central did not come back: {self.central_error}")
        self.tally.outage_to = returned = time.monotonic()
        self.report["timing"] = {"start_seconds": round(self.started - self.t0, 1),
                                 "outage_seconds": round(returned - (self.tally.outage_from or restart), 1),
                                 "central_restart_seconds": round(returned - restart, 1)}
        return returned

    def _start_central(self) -> None:
        try:
            self.central.start()
        except Exception as e:  # noqa: BLE001 - reported by the main thread, with the log's tail
            self.central_error = str(e)

    def _may_restore(self, restore_at: int) -> bool:
        t = self.tally
        down = time.monotonic() - (t.outage_from or 0)
        if down > MAX_OUTAGE or t.finished >= self.n:
            return True
        return (down >= MIN_OUTAGE and (len(t.taken) >= restore_at or down >= USUAL_OUTAGE)
                and t.during_outage(t.printed) > 0 and t.gate_waits != {})

    def _drain(self, backlog: set[str], returned: float) -> None:
        """Seconds from the central's return until every passport printed by then is ready."""
        bar = self.progress.add_task("outage backlog ready", total=len(backlog))
        deadline = returned + DRAIN_TIMEOUT
        ready: set[str] = set()

        def all_ready() -> bool:
            nonlocal ready
            ready = self.office.ids(READY) & backlog
            self.progress.update(bar, completed=len(ready))
            return ready == backlog or time.monotonic() > deadline

        self._until(all_ready, every=0.2)
        if ready == backlog:
            self.report["seconds_to_all_ready"] = round(time.monotonic() - returned, 2)
            self.say(f"every passport printed before the central's return is ready, "
                     f"{self.report['seconds_to_all_ready']:.1f} s after it came back")
        else:
            self.report["seconds_to_all_ready"] = None
            self.say(f"[bold red]{len(backlog - ready)} printed passports not ready {DRAIN_TIMEOUT:.0f} s "
                     f"after the return")

    def settle_and_hand_over(self) -> None:
        """Wait until every printed passport is ready and the outbox is empty, then hand over a
        few of those the pickup desk had to turn away, and let those operations reach the central."""
        def settled() -> bool:
            return (self.office.get("/link/status")["queue_depth"] == 0
                    and self.office.ids(PRINTED) == self.office.ids(READY))

        with contextlib.suppress(ScenarioError):
            wait_for("every printed passport ready and the outbox empty", settled, SETTLE_TIMEOUT, every=0.3)
        self._wait_for_notices()  # they come once told their slot
        chosen = set(sorted(self.tally.gate_waits)[:3])
        with contextlib.suppress(ScenarioError):
            wait_for("the applicants called to the pickup desk to be told their slot",
                     lambda: not notices.not_yet_told_ready(self.office_spec.data_dir / "kanim.db", chosen),
                     SETTLE_TIMEOUT, every=0.3)
        desks = Desks(self.office_spec.url, self.tokens)
        handed = []
        try:
            people = {p.nik: p for p in self.people}
            for a in sorted(chosen):
                app = self.office.get(f"/applications/{a}")
                if app["stage"] == "ready":
                    desks.call("pickup_desk", "POST", f"/applications/{a}/handover",
                               json=handover_body(people[app["nik"]]))
                    handed.append(app["number"])
        except DeskRefused as e:
            self.tally.errors.append(str(e))
        finally:
            desks.close()
        self.report["handed_over_after_return"] = handed
        self.say(f"pickup desk handed over {len(handed)} passports that had waited at the gate: {', '.join(handed)}")
        with contextlib.suppress(ScenarioError):
            wait_for("the handovers to reach the central",
                     lambda: self.office.get("/link/status")["queue_depth"] == 0, SETTLE_TIMEOUT, every=0.3)
        self._wait_for_notices()
        self.say(f"the applicants' messages: {len(self.sink.received)} received by the local WhatsApp/SMS stand-in")

    def _wait_for_notices(self) -> None:
        with contextlib.suppress(ScenarioError):
            wait_for("the notification worker to send everything due",
                     lambda: notices.settled(self.office_spec.data_dir / "kanim.db"), SETTLE_TIMEOUT, every=0.3)

    def conclude(self) -> dict[str, Any]:
        t, r = self.tally, self.report
        stages = self.office.stages()
        printed = {a for a, stage in stages.items() if stage in PRINTED}
        ready = {a for a, stage in stages.items() if stage in READY}
        status = self.office.get("/link/status")
        audit = audit_central(self.central_spec.data_dir / "kanim.db", self.office_spec.data_dir / "kanim.db",
                              set(stages))
        registry = audit.pop("registry_stages")
        start, end = t.outage_from or 0.0, t.outage_to or float("inf")
        with t.lock:  # printed while the central was down and not handed over at once (cleared before it)
            affected = {a for a, at in t.printed.items() if start <= at < end} - set(t.handed_over) | set(t.gate_waits)
        told = notices.audit(self.office_spec.data_dir / "kanim.db", self.sink.received, affected, self.people,
                             seats_per_slot=self.office_spec.office_settings().pickup_seats_per_slot)
        incidents = [{"state": i["state"], "reason": i["reason"], "started_at": i["started_at"],
                      "ended_at": i["ended_at"], "seconds": _seconds(i["started_at"], i["ended_at"])}
                     for i in reversed(self.office.get("/link/incidents"))]
        r.update({
            "taken": len(stages),
            "taken_during_outage": t.during_outage(t.taken),
            "printed": len(printed),
            "printed_during_outage": t.during_outage(t.printed),
            "waited_at_handover_gate": len(t.gate_waits),
            "handed_over_during_outage": len(t.handed_over),
            "all_ready": printed == ready and r.get("seconds_to_all_ready") is not None,
            "not_ready": sorted(printed - ready),
            "seconds_to_all_ready": r.get("seconds_to_all_ready"),
            **audit,
            # The registry follows every stage change: one behind means an operation went missing.
            "central_stage_differs": sorted(a for a in stages if a in registry and registry[a] != stages[a]),
            "queue_depth": status["queue_depth"],
            "dead_letters": status["dead_letters"],
            "link_incidents": incidents,
            "desk_errors": t.errors,
            "notifications": told,
        })
        r["timing"]["total_seconds"] = round(time.monotonic() - self.t0, 1)
        r["ok"] = (r["lost"] == 0 and r["duplicated"] == 0 and r["all_ready"] and not t.errors
                   and told["lost"] == 0 and told["duplicated"] == 0
                   and r["dead_letters"] == 0 and not r["operations_unknown_to_office"]
                   and not r["central_stage_differs"])
        return r

    def shutdown(self) -> None:
        self.stop.set()
        for node in self.nodes:
            with contextlib.suppress(Exception):
                node.stop(timeout=5)
        with contextlib.suppress(Exception):
            self.sink.close()


def run_outage(*, applicants: int = DEFAULT_APPLICANTS, workers: int = DEFAULT_WORKERS, data_dir: Path | None = None,
               keep: bool = False, console: Console | None = None) -> dict[str, Any]:
    """Run the drill and return its report (`report["ok"]`: nothing lost or doubled, every printed
    passport ready). Progress goes to `console` (stderr by default). The temporary folder is
    removed after a successful run unless `keep`; after a failed one it is kept for its logs."""
    if applicants < 4:
        raise ValueError("the outage scenario needs at least 4 applicants")
    console = console or Console(stderr=True)
    root = Path(data_dir or tempfile.mkdtemp(prefix="kanim-outage-")).resolve()
    root.mkdir(parents=True, exist_ok=True)
    run = _Run(applicants, min(workers, applicants), root, console)
    report: dict[str, Any] = {}
    try:
        with _sigterm_as_interrupt(), _isolated(root):
            try:
                run.start()
                columns = (TextColumn("{task.description:<24}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
                with Progress(*columns, console=console, transient=not console.is_terminal) as progress:
                    run.day(progress)
                run.settle_and_hand_over()
                report = run.conclude()
            finally:
                run.shutdown()
    except KeyboardInterrupt:
        console.print(f"interrupted: both nodes stopped; their data and logs are in {root}")
        raise
    except (ScenarioError, RuntimeError, httpx.HTTPError) as e:
        report = {**run.report, "ok": False, "error": str(e), "desk_errors": run.tally.errors}
        for node in run.nodes:
            console.print(f"--- {node.name} log (last lines) ---\n{node.tail(15)}", markup=False, highlight=False)
    if report.get("ok") and not keep and data_dir is None:
        shutil.rmtree(root, ignore_errors=True)
    else:
        report["data_dir"] = str(root)
    return report


def render(report: dict[str, Any], console: Console) -> None:
    """The report for people: the numbers the June 2024 offices could not give."""
    from rich.table import Table

    table = Table(title=f"outage drill at {OFFICE_NAME}", show_header=False)
    rows = [
        ("applicants taken", report.get("taken")),
        ("taken during the outage", report.get("taken_during_outage")),
        ("printed during the outage", report.get("printed_during_outage")),
        ("waited at the handover gate", report.get("waited_at_handover_gate")),
        ("handed over during the outage (cleared before it)", report.get("handed_over_during_outage")),
        ("printed passports waiting when the central returned", report.get("backlog_at_return")),
        ("seconds from the central's return to every passport ready", report.get("seconds_to_all_ready")),
        ("handed over after the return", len(report.get("handed_over_after_return") or [])),
        ("lost", report.get("lost")),
        ("duplicated", report.get("duplicated")),
        ("dead letters", report.get("dead_letters")),
        ("outage (s) / central restart (s) / whole run (s)",
         " / ".join(str((report.get("timing") or {}).get(k)) for k in
                    ("outage_seconds", "central_restart_seconds", "total_seconds"))),
    ]
    for k, v in rows:
        table.add_row(k, "-" if v is None else str(v))
    for k, v in (notices.render_rows(report["notifications"]) if report.get("notifications") else []):
        table.add_row(k, v)
    for i in report.get("link_incidents") or []:
        table.add_row(f"link incident: {i['state']}", f"{i['seconds']} s ({(i['reason'] or '')[:60]})")
    for e in (report.get("desk_errors") or [])[:5]:
        table.add_row("[red]desk error[/]", e)
    if report.get("error"):
        table.add_row("[red]error[/]", report["error"])
    if report.get("data_dir"):
        table.add_row("data and logs kept in", report["data_dir"])
    table.add_row("result", "[green]OK: nothing lost, nothing doubled, every passport ready[/]" if report.get("ok")
                  else "[red]FAILED[/]")
    console.print(table)
