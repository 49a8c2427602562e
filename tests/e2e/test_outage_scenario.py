"""The outage drill end to end: `python -m kanim demo --scenario outage --json` as a real
subprocess, which itself runs a central and an office as real processes, kills the central with
SIGKILL mid-day and brings it back; the office's notification worker tells the applicants
through Apprise to a local WhatsApp and SMS stand-in that the drill runs itself. Only the JSON
report on stdout is looked at, as a CI job or an operator's script would."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

from tests.e2e.processes import nodes_left_running

APPLICANTS = 16
ROOT = Path(__file__).resolve().parents[2]
TIMEOUT = 240.0  # the drill bounds itself well below this; a hung one is stopped with SIGTERM


def _run_drill(workdir: Path) -> tuple[int, str, str]:
    # No KANIM_* of whoever runs the tests, and temporary folders under this test's own.
    env = {k: v for k, v in os.environ.items() if not k.startswith("KANIM_")}
    env["TMPDIR"] = str(workdir)
    # This checkout's kanim, in the drill and in the nodes it starts (they inherit it).
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
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

    # What the applicants were told, counted where it arrived: nothing lost, nothing twice.
    n = report["notifications"]
    assert (n["lost"], n["duplicated"]) == (0, 0), n["lost_detail"]
    assert n["received"].get("whatsapp", 0) > 0 and n["received"].get("sms", 0) > 0, n["received"]
    assert sum(n["received"].values()) == sum(s.get("sent", 0) + s.get("delivered", 0)
                                              for s in n["by_channel"].values()), n
    assert n["fell_back_to_sms"] > 0, "an applicant without WhatsApp is told by SMS"
    told = [a for a in n["per_applicant"] if a["contact"]]
    assert told and n["affected_without_contact"] == len(n["per_applicant"]) - len(told), n["per_applicant"]
    for a in told:  # each affected applicant who left a number: their own pickup slot, once
        assert a["ready_with_slot"], a
        assert [m["received"] for m in a["messages"] if m["purpose"] == "ready"] == [1], a
        assert all(m["received"] <= 1 for m in a["messages"]), a
    assert any(a["delay_notice"] for a in told), "printed while the central was down: told to wait"
    # A walk-in left no contact: their messages are written down as nobody to tell, none sent.
    untold = [m for a in n["per_applicant"] if not a["contact"] for m in a["messages"]]
    assert all((m["state"], m.get("reason"), m["received"]) == ("cancelled", "no-contact", 0) for m in untold), untold
    # The pickup schedule holds every ready passport, within the desk's capacity.
    p = n["pickup"]
    assert p["placed"] >= len(told) and p["days_used"] >= 1 and 1 <= p["slots_filled"], p
    assert sum(p["by_day"].values()) == p["placed"] and p["slots_full"] <= p["slots_filled"], p

    # Both nodes were stopped and the successful drill cleaned up after itself.
    assert nodes_left_running(tmp_path) == []
    assert "data_dir" not in report and not list(tmp_path.glob("kanim-outage-*"))
