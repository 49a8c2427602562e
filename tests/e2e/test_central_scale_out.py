"""The central scales out (issue 12): two central hosts on one PostgreSQL, one of them with two
worker processes (`--workers 2`), behind a round-robin load balancer (tests/e2e/faults.py
TcpProxy), and two offices draining through it at once after an outage. One host is SIGKILLed
mid-drain and comes back. Nothing a host keeps in its own memory may matter: the nonces, the
per-office order, the operations' idempotency and the feed's commit order live in the database.

The checks are those of every link fault test (`Cluster.assert_exactly_once`: each operation
once at the central and applied once, each application once, nothing stuck), every passport
ready at its office (so no office skipped a feed event written by the other host), each
office's feed read whole (every event addressed to it applied once), and both hosts really
answered the offices' pushes (200s in their own access logs), the second one again after its
restart. The relays keep their connections open, so each office stays on one host until its
connection breaks (the kill, or the balancer dropping connections when the host is back).
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from kanim.ops.cluster import free_port
from tests.e2e.faults import NO_PG, PG_URL, Cluster, Office, people

pytestmark = [pytest.mark.postgres, pytest.mark.skipif(not PG_URL, reason=NO_PG), pytest.mark.timeout(240)]

PUSH_LINE = '"POST /api/v1/link/operations HTTP/1.1" 200'  # uvicorn's access log: a push answered


def _pending(office: Office) -> int:
    return office.sql("SELECT count(*) FROM outbox WHERE status = 'pending'")[0][0]


def test_two_central_hosts_on_one_database_drain_two_offices_at_once_exactly_once(tmp_path) -> None:  # noqa: ANN001
    who = people(8)
    mine = {"MND": who[:4], "SBY": who[4:]}
    b_port = free_port()
    cluster = Cluster(tmp_path, office_codes=("MND", "SBY"), civil_registry=who,
                      office_extra={"link_batch": "3"}, more_central_ports=(b_port,))
    try:
        cluster.provision()
        host_a, host_b = cluster.central, cluster.central_host(b_port, workers=2)
        offices = {code: cluster.start_office(code, relay=False) for code in mine}  # the central is down
        printed: dict[str, list[dict]] = {}
        for code, o in offices.items():
            o.desks.ok(o.desks["supervisor"].post("/watchlist/snapshots", json={
                "taken_at": datetime.now(UTC).isoformat(), "source": "manual", "orders": []}), 201)
            printed[code] = [o.desks.through_qc(mine[code][0])]
            o.desks.through_intake(mine[code][1])
        backlog = {code: _pending(o) for code, o in offices.items()}
        assert all(n > 6 for n in backlog.values()), backlog

        cluster.start(host_a, host_b)  # both hosts up before any office connects
        cluster.start(*[o.worker for o in offices.values()])  # and both offices drain at once
        cluster.wait_for("the second host to apply an office's pushes",
                         lambda: PUSH_LINE in host_b.log_path.read_text(errors="replace"), timeout=60, every=0.05)
        host_b.kill()  # mid-drain: its connections reset, the balancer sends new ones to the other host
        assert not host_b.alive

        # Work goes on while one host is dead: the offices' new operations reach the other one.
        for code, o in offices.items():
            o.desks.through_intake(mine[code][2])
        for o in offices.values():
            cluster.wait_ready(o, [a["id"] for a in printed[o.code]], timeout=90)

        cluster.start(host_b)  # back: it serves the same database at once
        before = host_b.log_path.read_text(errors="replace").count(PUSH_LINE)
        # The relays keep their connections open (to the host that was left): the balancer drops
        # them all, as one taking a host back in may, and their new connections alternate again.
        assert cluster.proxy is not None
        cluster.proxy.cut()
        cluster.proxy.resume()
        for code, o in offices.items():
            printed[code].append(o.desks.through_qc(mine[code][3]))
        for o in offices.values():
            cluster.wait_ready(o, [a["id"] for a in printed[o.code]], timeout=90)
            cluster.wait_drained(o)
            cluster.assert_exactly_once(o)
            cluster.assert_confirmed(o, printed[o.code])
            # The office read its whole feed: every event for it (or for all) applied once.
            expected = cluster.central_sql("SELECT id FROM central_event WHERE office_code = :c OR office_code IS NULL",
                                           c=o.code)
            applied = {r[0] for r in o.sql("SELECT id FROM inbox_event")}
            assert {r[0] for r in expected} <= applied, (o.code, len(expected), len(applied))

        served = {p.name: p.log_path.read_text(errors="replace").count(PUSH_LINE) for p in (host_a, host_b)}
        assert all(n > 0 for n in served.values()), served
        assert served[host_b.name] > before, f"the restarted host served no push: {served}, {before} before"
        assert set(cluster.proxy.by_upstream) == {cluster.central_spec.port, b_port}
    finally:
        cluster.close()
