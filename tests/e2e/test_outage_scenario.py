"""The outage drill end to end: `python -m kanim demo --scenario outage --json` as a real
subprocess, which itself runs a central and an office as real processes, kills the central with
SIGKILL mid-day and brings it back. Only the JSON report on stdout is looked at, as a CI job or
an operator's script would."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

from tests.e2e.processes import nodes_left_running

APPLICANTS = 16
TIMEOUT = 240.0  # the drill bounds itself well below this; a hung one is stopped with SIGTERM


def _run_drill(workdir: Path) -> tuple[int, str, str]:
    # No KANIM_* of whoever runs the tests, and temporary folders under this test's own.
    env = {k: v for k, v in os.environ.items() if not k.startswith("KANIM_")}
    env["TMPDIR"] = str(workdir)
    cmd = [sys.executable, "-m", "kanim", "demo", "--scenario", "outage", "--json", "--applicants", str(APPLICANTS)]
    proc = subprocess.Popen(cmd, cwd=workdir, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        out, err = proc.communicate(timeout=TIMEOUT)
    except subprocess.TimeoutExpired:
        proc.send_signal(signal.SIGTERM)  # unwinds like Ctrl-C: the drill stops its nodes
        out, err = proc.communicate(timeout=30)
        raise AssertionError(f"the drill did not finish within {TIMEOUT:.0f} s; its stderr:\n{err[-4000:]}") from None
    return proc.returncode, out, err


def test_an_office_prints_through_a_central_outage_and_nothing_is_lost_or_doubled(tmp_path: Path) -> None:
    code, out, err = _run_drill(tmp_path)

    assert code == 0, f"exit code {code}; stdout:\n{out[-3000:]}\nstderr:\n{err[-4000:]}"
    report = json.loads(out)  # stdout holds the report and nothing else
    assert report["scenario"] == "outage" and report["office"] == "MND"
    assert report["taken"] == APPLICANTS, report

    # The office kept working while the central was dead...
    assert report["taken_during_outage"] > 0, report
    assert report["printed_during_outage"] > 0, report
    # ...but handed nothing over on provisional clearances.
    assert report["waited_at_handover_gate"] > 0, report

    # When the central came back, every printed passport became ready by itself.
    assert report["all_ready"] is True and report["not_ready"] == [], report
    seconds = report["seconds_to_all_ready"]
    assert isinstance(seconds, int | float) and not isinstance(seconds, bool) and seconds >= 0, report
    assert report["handed_over_after_return"], report

    # Nothing lost, nothing applied twice, nothing parked.
    assert report["lost"] == 0, report["lost_applications"] or report["lost_operations"]
    assert report["duplicated"] == 0, report["duplicates"]
    assert report["operations_applied_at_central"] == report["operations_at_office"], report
    assert report["central_stage_differs"] == [], report
    assert (report["queue_depth"], report["dead_letters"], report["desk_errors"]) == (0, 0, []), report
    assert report["ok"] is True

    # The link saw the central go down and come back: the last incident is closed.
    states = [i["state"] for i in report["link_incidents"]]
    assert "down" in states, report["link_incidents"]
    assert all(i["ended_at"] for i in report["link_incidents"]), report["link_incidents"]

    # Both nodes were stopped and the successful drill cleaned up after itself.
    assert nodes_left_running(tmp_path) == []
    assert "data_dir" not in report and not list(tmp_path.glob("kanim-outage-*"))
