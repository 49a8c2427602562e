"""Ransomware at an office, replayed with real processes: `kanim demo --scenario ransomware`.

A central, an office (relay on), an off-site `kanim backup serve` and the office's
`kanim backup run` (a snapshot every second, to a local folder and off-site) run as their own
processes on localhost. The front desk takes walk-ins with their scanned KTP over HTTP. Then an
attacker holding the node's own credentials stops the backups (the desks take more walk-ins,
which reach the central and no snapshot), kills the office, encrypts its data folder, deletes
the local backups and tries to delete and overwrite the off-site ones with the node's token.
The office's IT restores from the off-site target into a new folder (`kanim restore`), gets back
from the central what it acknowledged after the snapshot and continues its numbers after the
central's (`kanim backup rejoin`), and starts the office again.

The report (`run_ransomware`'s return value, `--json`):
- taken: applications the desk got a number for before the attack;
- restored: of those, in the office's restored backup; rebuilt_from_central: of those, not in the
  backup and brought back from the central by the rejoin; acknowledged: of those, held by the
  central;
- lost: taken but neither restored nor acknowledged by the central (the recovery point's cost);
  acknowledged_not_restored: held by the central, not back at the office (0 when it went well);
- recovery_point_seconds: from the newest snapshot off-site to the attack;
- recovery_seconds: from the start of the restore until a desk's walk-in is served again;
- duplicated: application numbers held twice, at the central or the restored office;
- attacker: each attempt on the off-site store with the node's token and its answer;
- ok: the attacker failed every time, nothing the central acknowledged is lost or missing at the
  office, nothing is duplicated, and the desks serve again with a number the central accepts.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

import httpx
from rich.console import Console

from kanim.ops.cluster import NodeProcess, OfficeSpec, free_port, node_env
from kanim.ops.cluster import isolated as _isolated
from kanim.ops.cluster import sigterm_as_interrupt as _sigterm_as_interrupt
from kanim.ops.drill_desks import API, HTTP_TIMEOUT, PASSWORD, PDF_SCAN, ScenarioError, day_of_applicants
from kanim.ops.scenario import OFFICE_CODE, prepare, wait_for

STEP_TIMEOUT = 60.0


def _rows(db: Path, sql: str, *args: Any) -> list[tuple]:
    with contextlib.closing(sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=30)) as c:
        return c.execute(sql, args).fetchall()


class _Run:
    def __init__(self, applicants: int, root: Path, console: Console) -> None:
        self.root, self.console = root, console
        self.people = day_of_applicants(applicants + 1)
        self.before = applicants - max(1, applicants // 4)  # taken while backups keep up
        self.applicants = applicants
        self.nodes: list[NodeProcess] = []
        self.report: dict[str, Any] = {}
        self.taken: list[str] = []  # application ids
        self.numbers: dict[str, str] = {}

    def say(self, msg: str) -> None:
        self.console.print(msg, markup=False, highlight=False)

    def _start(self, node: NodeProcess) -> NodeProcess:
        self.nodes.append(node.start(wait=STEP_TIMEOUT))
        return node

    def kanim(self, env: dict[str, str], *args: str) -> str:
        r = subprocess.run([sys.executable, "-m", "kanim", *args], env=env, cwd=self.root, capture_output=True,
                           text=True, timeout=STEP_TIMEOUT * 2)
        if r.returncode != 0:
            raise ScenarioError(f"kanim {' '.join(args[:2])} failed: {r.stderr.strip()}")
        return r.stdout

    def start(self) -> None:
        from kanim.backup.keys import escrow_sheet, keygen
        from kanim.backup.server import grant

        self.central_spec, self.office_spec = prepare(self.root, self.people)
        settings = self.office_spec.office_settings()
        keygen(settings, self.root / "backup.key")  # in the safe, in real life
        (self.root / "escrow.txt").write_text(escrow_sheet(settings))  # in the other safe
        self.store_dir, self.local = self.root / "offsite", self.root / "usb"
        self.token = grant(self.store_dir, OFFICE_CODE)
        self.offsite = f"http://127.0.0.1:{free_port()}"
        self.backup_env = {"KANIM_BACKUP_TARGETS": f"{self.local},{self.offsite}", "KANIM_BACKUP_TOKEN": self.token}
        self.say("starting the central, the office, the off-site backup store and the office's backups")
        self._start(self.central_spec.process())
        self.office = self._start(self.office_spec.process())
        store = NodeProcess("off-site store", ["backup", "serve", "--dir", str(self.store_dir), "--port",
                                                self.offsite.rsplit(":", 1)[1]], node_env({}), self.root / "offsite.log")
        self._start(store)
        wait_for("the off-site store", lambda: httpx.get(f"{self.offsite}/health", timeout=1).status_code == 200,
                 STEP_TIMEOUT)
        self.runner = self._start(NodeProcess("backups", ["backup", "run", "--every", "1"],
                                              {**node_env(self.office_spec.settings()), **self.backup_env},
                                              self.root / "backup.log"))

    def desk(self, url: str) -> httpx.Client:
        r = httpx.post(f"{url}{API}/auth/token", json={"username": "front_desk", "password": PASSWORD},
                       timeout=HTTP_TIMEOUT)
        if r.status_code != 200:
            raise ScenarioError(f"the front desk could not log in: {r.status_code}")
        return httpx.Client(base_url=url + API, timeout=HTTP_TIMEOUT,
                            headers={"Authorization": f"Bearer {r.json()['access_token']}"})

    def walk_in(self, desk: httpx.Client, i: int) -> str:
        p = self.people[i]
        r = desk.post("/walk-ins", json=p.body())
        if r.status_code != 201:
            raise ScenarioError(f"walk-in answered {r.status_code}: {r.text[:200]}")
        app = r.json()
        scan = desk.put(f"/applications/{app['id']}/documents/ktp", files={"file": ("ktp.pdf", PDF_SCAN, "application/pdf")})
        if scan.status_code != 201:
            raise ScenarioError(f"a scan answered {scan.status_code}: {scan.text[:200]}")
        self.numbers[app["id"]] = app["number"]
        return app["id"]

    def central(self) -> dict[str, str]:
        """Application id → number, as the central holds them for the office."""
        return dict(_rows(self.central_spec.data_dir / "kanim.db",
                          "SELECT id, number FROM registry_application WHERE office_code = ?", OFFICE_CODE))

    def snapshots(self) -> list[str]:
        r = httpx.get(f"{self.offsite}/v1/{OFFICE_CODE}/snapshots/", headers={"authorization": f"Bearer {self.token}"},
                      timeout=HTTP_TIMEOUT)
        return r.json()["names"]

    def work(self) -> None:
        self.say(f"the front desk takes {self.before} walk-ins; the relay and the backups keep up")
        with self.desk(self.office.url) as desk:
            self.taken += [self.walk_in(desk, i) for i in range(self.before)]
            wait_for("the central to acknowledge them", lambda: set(self.taken) <= set(self.central()),
                     STEP_TIMEOUT)
            done = time.time()
            from kanim.backup.format import time_of

            wait_for("a snapshot after them", lambda: any(time_of(n).timestamp() >= int(done) for n in self.snapshots()),
                     STEP_TIMEOUT)
            # As ransomware does, the intruder first stops the backups; the desks and the relay
            # go on, so this work reaches the central but no snapshot.
            self.say("the intruder stops the office's backups; the desks go on working")
            self.runner.kill()
            self.say(f"{self.applicants - self.before} more walk-ins, and the attack comes in the middle of the day")
            later = [self.walk_in(desk, i) for i in range(self.before, self.applicants)]
            self.taken += later
            wait_for("the central to acknowledge them", lambda: set(later) <= set(self.central()), STEP_TIMEOUT)

    def attack(self) -> None:
        from kanim.backup.format import time_of

        self.attacked_at = time.time()
        self.office.kill()
        self.acknowledged_at_attack = list(self.central())
        snaps = self.snapshots()
        self.report["recovery_point_seconds"] = round(self.attacked_at - time_of(snaps[-1]).timestamp(), 1)
        data = self.office_spec.data_dir
        locked = 0
        for p in [p for p in data.rglob("*") if p.is_file()]:
            p.with_name(p.name + ".locked").write_bytes(os.urandom(min(p.stat().st_size, 1 << 20)))
            p.unlink()
            locked += 1
        shutil.rmtree(self.local)
        self.report["attack"] = {"files_encrypted": locked, "local_backups_deleted": True}
        self.report["attacker"] = self._try_offsite(snaps)
        self.say(f"attack: {locked} files encrypted, the local backups deleted, "
                 f"{len(self.report['attacker'])} attempts on the off-site store")

    def _try_offsite(self, snaps: list[str]) -> list[dict[str, Any]]:
        auth = {"authorization": f"Bearer {self.token}"}
        base = f"{self.offsite}/v1/{OFFICE_CODE}"
        packs = httpx.get(f"{base}/packs/", headers=auth, timeout=HTTP_TIMEOUT).json()["names"]
        tries = [("delete", "DELETE", f"snapshots/{n}", None) for n in snaps[-3:]]
        tries += [("overwrite", "PUT", f"snapshots/{n}", b"ransom note") for n in snaps[-3:]]
        tries += [("delete", "DELETE", f"packs/{n}", None) for n in packs[:3]]
        tries += [("overwrite", "PUT", f"packs/{n}", b"ransom note") for n in packs[:3]]
        out = []
        for what, method, path, body in tries:
            r = httpx.request(method, f"{base}/{path}", headers=auth, content=body, timeout=HTTP_TIMEOUT)
            out.append({"try": what, "object": path.split("/")[0], "status": r.status_code, "failed": r.status_code >= 400})
        return out

    def recover(self) -> None:
        self.say("recovery: restore from the off-site store into a new folder, get back from the central what "
                 "the backup lacks, continue the numbers, start")
        started = time.monotonic()
        spec = self.office_spec
        restored = OfficeSpec(OFFICE_CODE, self.root / "office-restored", spec.port, spec.central_url,
                              spec.central_public_key, extra=spec.extra)
        env = {**node_env(restored.settings()), **self.backup_env}
        self.kanim(env, "restore", "--from", self.offsite, "--key", str(self.root / "backup.key"),
                   "--escrow", str(self.root / "escrow.txt"), "--into", str(restored.data_dir))
        self.from_backup = {a for a, _ in _rows(restored.data_dir / "kanim.db", "SELECT id, number FROM application")}
        self.kanim(env, "backup", "rejoin")  # what the central acknowledged after the snapshot comes back
        self.restored = restored
        self.office = self._start(restored.process())
        with self.desk(self.office.url) as desk:
            self.after = self.walk_in(desk, self.applicants)
        self.report["recovery_seconds"] = round(time.monotonic() - started, 1)
        wait_for("the central to accept the first number after recovery", lambda: self.after in self.central(),
                 STEP_TIMEOUT)

    def conclude(self) -> dict[str, Any]:
        office = dict(_rows(self.restored.data_dir / "kanim.db", "SELECT id, number FROM application"))
        central = self.central()
        taken, restored, acknowledged = set(self.taken), set(office), set(central)
        lost = taken - restored - acknowledged
        # A number held twice anywhere, or a lost application's number (on its receipt) given again.
        given = Counter(central.values()) + Counter(v for k, v in office.items() if k not in central)
        duplicated = sum(c - 1 for c in given.values()) + sum(1 for a in lost if self.numbers[a] in given)
        attacker = self.report["attacker"]
        r = {**self.report, "taken": len(taken), "restored": len(taken & self.from_backup),
             "rebuilt_from_central": len(taken & (restored - self.from_backup)),
             "acknowledged": len(taken & acknowledged), "lost": len(lost),
             "lost_numbers": sorted(self.numbers[a] for a in lost),
             "acknowledged_lost": len((taken & set(self.acknowledged_at_attack)) - acknowledged),
             "acknowledged_not_restored": len((taken & acknowledged) - restored),
             "duplicated": duplicated, "first_number_after": self.numbers[self.after],
             "attacker_failed": sum(a["failed"] for a in attacker), "attacker_tries": len(attacker),
             "snapshots_offsite": len(self.snapshots())}
        r["ok"] = (r["attacker_failed"] == r["attacker_tries"] > 0 and duplicated == 0 and r["acknowledged_lost"] == 0
                   and r["acknowledged_not_restored"] == 0 and r["acknowledged"] + r["restored"] > 0)
        return r

    def shutdown(self) -> None:
        for node in reversed(self.nodes):
            node.stop()


def run_ransomware(*, applicants: int = 12, data_dir: Path | None = None, console: Console | None = None) -> dict[str, Any]:
    """Run the scenario and return its report; every process is stopped at the end. The folder is
    removed after a run that went well, kept (for its logs) after one that did not."""
    console = console or Console(stderr=True)
    root = Path(data_dir or tempfile.mkdtemp(prefix="kanim-ransomware-")).resolve()
    root.mkdir(parents=True, exist_ok=True)
    run = _Run(max(4, applicants), root, console)
    try:
        with _sigterm_as_interrupt(), _isolated(root):
            try:
                run.start()
                run.work()
                run.attack()
                run.recover()
                report = run.conclude()
            finally:
                run.shutdown()
    except (ScenarioError, RuntimeError, httpx.HTTPError) as e:
        report = {**run.report, "ok": False, "error": str(e)}
        for node in run.nodes:
            console.print(f"--- {node.name} log (last lines) ---\n{node.tail(15)}", markup=False, highlight=False)
    if report.get("ok") and data_dir is None:
        shutil.rmtree(root, ignore_errors=True)
    else:
        report["data_dir"] = str(root)
    return report


def render(r: dict[str, Any], console: Console) -> None:
    say = lambda s: console.print(s, markup=False, highlight=False)  # noqa: E731
    if "error" in r:
        say(f"scenario failed: {r['error']} (logs in {r.get('data_dir')})")
        return
    say(f"taken before the attack: {r['taken']}; restored from the off-site backup: {r['restored']}; "
        f"rebuilt from the central: {r['rebuilt_from_central']}; acknowledged by the central: {r['acknowledged']}")
    say(f"lost (neither backed up nor acknowledged): {r['lost']}; acknowledged by the central and lost: "
        f"{r['acknowledged_lost']}; acknowledged but not back at the office: {r['acknowledged_not_restored']}")
    say(f"recovery point: {r['recovery_point_seconds']} s; recovery time: {r['recovery_seconds']} s until the desk "
        f"served again (first number after: {r['first_number_after']})")
    say(f"duplicated: {r['duplicated']}; the attacker's tries on the off-site store: {r['attacker_tries']}, "
        f"failed: {r['attacker_failed']}; snapshots still off-site: {r['snapshots_offsite']}")
    say("ok" if r["ok"] else "NOT ok")
