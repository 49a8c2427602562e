"""The ransomware drill end to end: `python -m kanim demo --scenario ransomware --json` as a
real subprocess, which runs a central, an office, an off-site `kanim backup serve` and the
office's `kanim backup run` as real processes; kills the office with SIGKILL, encrypts its data
folder, deletes its local backups, attacks the off-site store with the node's own token, and
restores. Only the JSON report on stdout is looked at."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from tests.e2e.processes import nodes_left_running

ROOT = Path(__file__).resolve().parents[2]


def test_an_office_hit_by_ransomware_is_restored_from_off_site_and_serves_again(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("KANIM_")}
    env["TMPDIR"] = str(tmp_path)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    proc = subprocess.run([sys.executable, "-m", "kanim", "demo", "--scenario", "ransomware", "--json",
                           "--applicants", "4"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=240)
    assert proc.returncode == 0, f"{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    r = json.loads(proc.stdout)
    assert r["ok"] is True, r
    assert r["attack"]["files_encrypted"] > 0 and r["attack"]["local_backups_deleted"] is True
    assert r["attacker_tries"] == r["attacker_failed"] >= 4, r["attacker"]
    assert {a["status"] for a in r["attacker"]} <= {405, 409, 422}, r["attacker"]
    assert r["snapshots_offsite"] >= 1 and r["duplicated"] == 0 and r["acknowledged_lost"] == 0
    # Every application taken is back at the office: from the backup, or (taken after the
    # intruder stopped the backups, acknowledged by the central) rebuilt from the central.
    assert r["taken"] == 4 and r["lost"] == 0 and r["acknowledged_not_restored"] == 0, r
    assert r["rebuilt_from_central"] >= 1 and r["restored"] + r["rebuilt_from_central"] == r["taken"], r
    assert r["first_number_after"] not in r["lost_numbers"] and r["recovery_seconds"] > 0
    assert nodes_left_running(tmp_path) == []
