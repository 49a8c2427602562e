"""The office ↔ central link under real faults, with real processes: the central is
`kanim serve --role central` on a fresh PostgreSQL schema, the office is `kanim serve` on SQLite
in a tmp dir (its relay in the server, or a separate `kanim worker`), staff drive the office over
HTTP. Faults are real too: SIGKILL of the central or of the relay, a TCP proxy that cuts the
connection, an operation the central refuses for good, another office's credential.

Every test ends with the same checks after recovery (`Cluster.assert_exactly_once`): each
application once in the central's registry, each operation once in `central_operation` and
applied once (one decision per clearance kind), every operation the office marked sent known to
the central with its sequence number, no outbox row left pending (except behind a dead letter
of its own application), the central's events applied once at the office; and the clean
applicants' clearances all confirmed at the office, their passports `ready`.

Each scenario has its own central schema and data directories; the companions of scenarios 5
and 6 (same set-up, one more case each) share their scenario's cluster through a module-scoped
fixture. A test marked xfail meets a reported bug: it raises `KnownBug` exactly there (and is
xfail only for that exception), so any other failure on its way still fails the run.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from tests.e2e.faults import (
    ALL_CLEARANCES,
    INTAKE_CLEARANCES,
    NO_PG,
    PUSH,
    PG_URL,
    Cluster,
    Office,
    flip_signature,
    office_key,
    operation,
    people,
    signed_push,
)

pytestmark = [pytest.mark.postgres, pytest.mark.skipif(not PG_URL, reason=NO_PG), pytest.mark.timeout(240)]


@pytest.fixture
def clusters(tmp_path: Path) -> Iterator:
    """make(**kw) -> a provisioned Cluster; every process it started is killed afterwards and
    its schema dropped."""
    made: list[Cluster] = []

    def make(**kw) -> Cluster:  # noqa: ANN003
        c = Cluster(tmp_path / f"c{len(made)}", **kw)
        made.append(c)
        return c.provision()

    yield make
    for c in made:
        c.close()


def pending(office: Office) -> int:
    return office.sql("SELECT count(*) FROM outbox WHERE status = 'pending'")[0][0]


def crash_window(cluster: Cluster, office: Office) -> set[str]:
    """Operations the central has applied while the office still has them pending: a batch
    whose answer never reached the office."""
    mine = {r[1] for r in office.outbox() if r[4] == "pending"}
    applied = {r[0] for r in cluster.central_sql("SELECT id FROM central_operation WHERE office_code = :c",
                                                 c=office.code)}
    return mine & applied


def wait_snapshot(cluster: Cluster, office: Office) -> None:
    """The relay fetched the central's signed watch-list snapshot (needed to print provisionally)."""
    cluster.wait_for("the relay to load the central's signed watch-list snapshot",
                     lambda: office.desks.link_status()["watchlist_snapshot_at"], timeout=30)


def assert_recovered(cluster: Cluster, office: Office, ready: list[dict], *, intake_only: list[dict] = ()) -> None:
    cluster.wait_ready(office, [a["id"] for a in ready])
    cluster.wait_drained(office)
    cluster.assert_exactly_once(office)
    cluster.assert_confirmed(office, ready, ALL_CLEARANCES)
    cluster.assert_confirmed(office, intake_only, INTAKE_CLEARANCES)
    for a in ready:
        assert cluster.central_stage(a["id"]) == "ready", a["number"]


# -- 1. the central down during all of intake ---------------------------------------------------

def test_an_office_works_through_an_outage_and_everything_drains_when_the_central_returns(clusters) -> None:  # noqa: ANN001
    """The central is up just long enough for the office to fetch its signed watch-list snapshot,
    then SIGKILLed. The office takes two applicants from walk-in to a passed quality check on
    provisional clearances; the handover gate stays closed. When the central comes back, the
    queue drains, the confirmations arrive, the passports become ready by themselves, the link
    incident is closed, and the handover gate opens."""
    who = people(2)
    cluster = clusters(civil_registry=who)
    office = cluster.start_office(central=True)
    desks = office.desks
    wait_snapshot(cluster, office)
    cluster.central.kill()

    apps = [desks.through_qc(p) for p in who]
    for a in apps:  # printed and checked on what the office could check itself
        assert a["stage"] == "qc_passed", a
        assert a["clearances"] == {"nik_verified": "provisional", "watchlist_clear": "provisional",
                                   "not_duplicate": "provisional", "payment_confirmed": "provisional",
                                   "recorded_centrally": "pending"}, a["clearances"]
        r = desks.handover(a)
        assert r.status_code == 409 and r.json()["code"] == "handover-gate-closed", r.text
    status = cluster.wait_for("the link to be reported down",
                              lambda: (s := desks.link_status())["state"] == "down" and s, timeout=30)
    assert status["queue_depth"] > 0, status
    assert any(i["ended_at"] is None for i in desks.incidents())
    assert cluster.central_sql("SELECT count(*) FROM registry_application")[0][0] == 0

    cluster.start_central()
    assert_recovered(cluster, office, apps)
    status = cluster.wait_for("the link to be reported up", lambda: (s := desks.link_status())["state"] == "up" and s,
                              timeout=20)
    assert status["since"] is None, status
    incidents = desks.incidents()
    assert incidents and all(i["started_at"] and i["ended_at"] for i in incidents), incidents
    assert "down" in {i["state"] for i in incidents}, incidents

    handed = desks.ok(desks.handover(apps[0]))  # the gate opened by itself
    assert handed["stage"] == "handed_over"
    cluster.wait_for("the handover to reach the central",
                     lambda: cluster.central_stage(apps[0]["id"]) == "handed_over", timeout=20)
    cluster.wait_drained(office)
    cluster.assert_exactly_once(office)


# -- 2. the central SIGKILLed mid-drain ----------------------------------------------------------

def test_a_central_killed_mid_drain_applies_every_operation_exactly_once(clusters) -> None:  # noqa: ANN001
    """Thirty applicants pass intake (two of them on to a printed, checked passport) while the
    central is down; the office's relay (a `kanim worker`) drains in batches of ten when the
    central starts; the central is SIGKILLed with the queue a third drained (some batches
    committed, one perhaps in flight): it holds whole batches only, each application's operations
    without a gap. Restarted, it takes the rest: nothing lost, nothing applied twice."""
    who = people(30)
    cluster = clusters(civil_registry=who, office_extra={"link_batch": "10"})
    office = cluster.start_office(relay=False)  # the central has never been up
    desks = office.desks
    # A snapshot loaded by hand (the supervisor's manual path), so two passports can print offline.
    desks.ok(desks["supervisor"].post("/watchlist/snapshots", json={
        "taken_at": datetime.now(UTC).isoformat(), "source": "manual", "orders": []}), 201)
    printed = [desks.through_qc(p) for p in who[:2]]
    taken = [desks.through_intake(p) for p in who[2:]]
    total = pending(office)
    assert total > 90, total

    cluster.start(cluster.central, office.worker)  # a relay that had not run during the outage
    cluster.wait_for("the drain to pass a third of the queue", lambda: pending(office) < total * 2 // 3,
                     timeout=60, every=0.02)
    cluster.central.kill()
    left = pending(office)
    applied = {r[0] for r in cluster.central_sql("SELECT id FROM central_operation")}
    assert 0 < left < total and applied, (left, len(applied), total)
    # Whole batches or nothing, in order: what the central holds of each application is a
    # beginning of that application's operations at the office.
    by_app: dict[str, list[str]] = {}
    for _seq, op_id, subject, *_ in office.outbox():
        by_app.setdefault(subject, []).append(op_id)
    for subject, ids in by_app.items():
        have = [i in applied for i in ids]
        assert have == sorted(have, reverse=True), f"the central holds a gap in {subject}'s operations: {have}"
    time.sleep(0.6)  # nothing drains while the central is dead
    assert pending(office) >= left - 10, "the queue drained with the central killed?"

    cluster.start_central()
    assert_recovered(cluster, office, printed, intake_only=taken)


# -- 3. the relay SIGKILLed mid-batch ------------------------------------------------------------

def test_a_relay_killed_mid_batch_resends_it_and_the_central_answers_the_same(clusters) -> None:  # noqa: ANN001
    """The relay runs as its own `kanim worker`. The proxy holds the central's answer to a batch
    the central has already applied; the worker is SIGKILLed while it waits. Its rows are still
    pending at the office: the restarted worker resends the batch, the central recognises every
    operation by its id and answers as before, and nothing is applied twice."""
    who = people(3)
    cluster = clusters(civil_registry=who, proxied=True)
    office = cluster.start_office(relay=False, worker=True, central=True)
    desks = office.desks
    wait_snapshot(cluster, office)

    cluster.proxy.hold(PUSH)
    apps = [desks.through_qc(p) for p in who]
    window = cluster.wait_for("the central to apply a batch whose answer the proxy holds",
                              lambda: crash_window(cluster, office), timeout=30)
    before = dict(cluster.central_sql("SELECT id, received_at FROM central_operation"))
    office.worker.kill()
    cluster.proxy.release()
    assert crash_window(cluster, office) == window  # the answer died with the worker

    cluster.start_worker()
    assert_recovered(cluster, office, apps)
    statuses = dict((r[1], r[4]) for r in office.outbox())
    assert all(statuses[i] == "sent" for i in window), "the resent batch was not answered"
    after = dict(cluster.central_sql("SELECT id, received_at FROM central_operation WHERE id = ANY(:ids)",
                                     ids=list(window)))
    assert after == {i: before[i] for i in window}, "the central applied the resent operations again"


# -- 4. the connection cut by a TCP proxy ---------------------------------------------------------

def test_a_connection_cut_mid_drain_loses_and_duplicates_nothing(clusters) -> None:  # noqa: ANN001
    """The proxy holds the central's answer to an applied batch, then drops every connection and
    refuses new ones: the relay sees the link fail (degraded, then down) with a batch the central
    has but the office does not know it has. The office keeps working. When the proxy resumes,
    the relay resends, the central answers from its record, and everything drains exactly once."""
    who = people(3)
    cluster = clusters(civil_registry=who, proxied=True)
    office = cluster.start_office(central=True)
    desks = office.desks
    wait_snapshot(cluster, office)

    cluster.proxy.hold(PUSH)
    apps = [desks.through_qc(p) for p in who[:2]]
    window = cluster.wait_for("the central to apply a batch whose answer the proxy holds",
                              lambda: crash_window(cluster, office), timeout=30)
    cluster.proxy.cut()
    status = cluster.wait_for("the relay to report the link down",
                              lambda: (s := desks.link_status())["state"] == "down" and s, timeout=30)
    assert status["queue_depth"] > 0
    apps.append(desks.through_qc(who[2]))  # the office keeps working while cut off
    assert crash_window(cluster, office) >= window

    cluster.proxy.resume()
    assert_recovered(cluster, office, apps)
    statuses = dict((r[1], r[4]) for r in office.outbox())
    assert all(statuses[i] == "sent" for i in window)
    assert cluster.proxy.cuts == 1 and cluster.proxy.connections >= 2
    incidents = desks.incidents()
    assert incidents and all(i["ended_at"] for i in incidents), incidents


# -- 5. a poison operation -------------------------------------------------------------------------

POISON_FIRST, POISON_LAST = "X9000001", "X9000003"  # a delivery the central never allocated


class KnownBug(AssertionError):
    """Raised where a test meets a bug reported in its xfail reason (any other failure of that
    test is a real failure)."""


@pytest.fixture(scope="module")
def poison_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    """One office with booklets X9000001-X9000003 received in its print room before it was
    linked to the central, which never allocated them to it."""
    if not PG_URL:
        pytest.skip(NO_PG)
    cluster = Cluster(tmp_path_factory.mktemp("poison"), civil_registry=people(5), proxied=True)
    try:
        cluster.provision(extra_booklets={"MND": (POISON_FIRST, POISON_LAST)})
        office = cluster.start_office(central=True)
        wait_snapshot(cluster, office)
        yield cluster
    finally:
        cluster.close()


def _to_approved(desks, person) -> dict:  # noqa: ANN001
    app = desks.through_intake(person)
    for step in (desks.pay, desks.capture, desks.interview, desks.approve):
        app = step(app["id"])
    return app


def test_a_poison_operation_is_parked_and_holds_back_only_its_own_application(poison_cluster) -> None:  # noqa: ANN001
    """A passport printed on a booklet the central never allocated to the office: the central
    refuses that PassportPrinted for good. It is parked in the dead-letter list with the
    central's reason; the application's later operations wait behind it; every other
    application goes through and becomes ready."""
    cluster, who = poison_cluster, poison_cluster.civil_registry
    office = cluster.offices["MND"]
    desks = office.desks

    poisoned = _to_approved(desks, who[0])
    desks.print(poisoned["id"], POISON_FIRST)
    dead = cluster.wait_for("the central's refusal to be parked as a dead letter", desks.dead_letters, timeout=30)
    assert [(d["subject"], d["op"]) for d in dead] == [(poisoned["id"], "PassportPrinted")], dead
    assert f"booklet {POISON_FIRST} was never allocated to office MND" in dead[0]["error"], dead
    # The refusal holds it at the office (recorded_centrally flagged, booklet voided): it can
    # never be handed over while the registry does not hold it.
    held_app = desks.application(poisoned["id"])
    assert held_app["stage"] == "on_hold" and held_app["clearances"]["recorded_centrally"] == "flagged", held_app

    others = [desks.through_qc(p) for p in who[1:3]]
    cluster.wait_ready(office, [a["id"] for a in others])
    cluster.wait_for("the queue to hold only the poisoned application's operations",
                     lambda: {r[2] for r in office.outbox() if r[4] == "pending"} == {poisoned["id"]}, timeout=30)
    time.sleep(1.0)  # a few more relay rounds: still held back
    held = [r for r in office.outbox() if r[4] == "pending"]
    assert held and {r[2] for r in held} == {poisoned["id"]}, held
    assert "ApplicationPutOnHold" in {r[3] for r in held}, held  # waits behind the dead letter
    status = desks.link_status()  # nothing can move: said, with the count and why
    assert (status["queue_depth"], status["dead_letters"], status["state"]) == (len(held), 1, "stalled"), status
    assert status["held_back"] == {"behind_dead_letters": len(held), "waiting_for_retry": 0, "applications": 1}
    assert f"{len(held)} operations of 1 application wait behind dead letters" in status["reason"], status

    cluster.assert_exactly_once(office, expect_dead=1)
    cluster.assert_confirmed(office, others)
    for a in others:
        assert cluster.central_stage(a["id"]) == "ready"
    assert cluster.central_stage(poisoned["id"]) == "approved"  # the refused print left no trace
    assert cluster.central_sql("SELECT count(*) FROM registry_passport WHERE serial = :s", s=POISON_FIRST)[0][0] == 0


def test_a_poison_operation_holds_back_its_applications_later_operations_in_the_same_batch(poison_cluster) -> None:  # noqa: ANN001
    """The refused print and the quality check after it leave in one batch (both were queued
    while the connection was cut): the quality check must wait behind the dead letter too."""
    cluster = poison_cluster
    office = cluster.offices["MND"]
    desks = office.desks
    app = _to_approved(desks, cluster.civil_registry[3])
    cluster.wait_for("the application's operations so far to reach the central",
                     lambda: not [r for r in office.outbox() if r[2] == app["id"] and r[4] == "pending"], timeout=30)

    cluster.proxy.cut()
    desks.print(app["id"], "X9000002")
    desks.quality_check(app["id"])
    cluster.proxy.resume()
    cluster.wait_for("the refused print to be parked",
                     lambda: [d for d in desks.dead_letters() if d["subject"] == app["id"]], timeout=30)
    time.sleep(1.0)
    rows = {r[3]: r[4] for r in office.outbox() if r[2] == app["id"]}
    assert rows["PassportPrinted"] == "dead", rows
    assert rows["QualityCheckPassed"] == "pending", rows  # answered "waiting", not applied
    assert cluster.central_stage(app["id"]) == "approved"
    qc = [r for r in office.outbox() if r[2] == app["id"] and r[3] == "QualityCheckPassed"]
    assert not cluster.central_sql("SELECT id FROM central_operation WHERE id = :i", i=qc[0][1])


def test_a_passport_whose_print_the_central_refused_is_not_handed_over(poison_cluster) -> None:  # noqa: ANN001
    cluster = poison_cluster
    office = cluster.offices["MND"]
    desks = office.desks
    app = _to_approved(desks, cluster.civil_registry[4])
    cluster.wait_for("the clearances to be confirmed before printing",
                     lambda: set(desks.application(app["id"])["clearances"].values()) == {"confirmed"}, timeout=30)
    desks.print(app["id"], POISON_LAST)
    cluster.wait_for("the refused print to be parked",
                     lambda: [d for d in desks.dead_letters() if d["subject"] == app["id"]], timeout=30)
    # The refusal holds the application: recorded_centrally flagged, its booklet voided, so the
    # quality check and the handover are both refused.
    held = desks.application(app["id"])
    assert held["stage"] == "on_hold" and held["clearances"]["recorded_centrally"] == "flagged", held
    assert held["booklet_serial"] is None
    qc = desks["print_operator"].post(f"/applications/{app['id']}/quality-check", json={"passed": True})
    assert qc.status_code == 409, qc.text
    assert cluster.central_sql("SELECT count(*) FROM registry_passport WHERE serial = :s", s=POISON_LAST)[0][0] == 0


# -- 6. ownership: one office's credential, another office's applications --------------------------

@pytest.fixture(scope="module")
def two_offices(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Cluster, dict]]:
    """Offices AAA and BBB provisioned at one central; only BBB runs (AAA's credential is its
    key file). BBB has one passport ready and one application billed but not yet paid."""
    if not PG_URL:
        pytest.skip(NO_PG)
    who = people(2)
    cluster = Cluster(tmp_path_factory.mktemp("owners"), office_codes=("AAA", "BBB"), civil_registry=who)
    try:
        cluster.provision()
        b = cluster.start_office("BBB", central=True)
        ready = b.desks.through_qc(who[0])
        billed = b.desks.through_intake(who[1])
        billed = b.desks.ok(b.desks["cashier"].post(f"/applications/{billed['id']}/billing"), 201)["application"]
        cluster.wait_ready(b, [ready["id"]])
        cluster.wait_drained(b)
        yield cluster, {"ready": ready, "billed": billed}
    finally:
        cluster.close()


def _registry(cluster: Cluster) -> list[tuple]:
    return cluster.central_sql("SELECT id, office_code, stage, booklet_serial, last_office_seq, nik "
                               "FROM registry_application ORDER BY id")


def _central_state(cluster: Cluster) -> dict:
    return {"registry": _registry(cluster),
            "passports": cluster.central_sql("SELECT serial, application_id, office_code, status FROM registry_passport "
                                             "ORDER BY serial"),
            "payments": cluster.central_sql("SELECT billing_code, application_id, office_code, office_receipt_ref, "
                                            "office_paid_at, confirmed_at FROM central_payment ORDER BY billing_code"),
            "events": cluster.central_sql("SELECT count(*) FROM central_event")}


def test_an_office_cannot_touch_another_offices_applications(two_offices) -> None:  # noqa: ANN001
    """Signed with office AAA's own key, operations on BBB's application are each answered with
    a permanent rejection, change nothing, and are answered the same when resent. Requests that
    are unsigned, signed with the wrong key, tampered with or stale are refused with 401."""
    cluster, b_apps = two_offices
    central, key_a = cluster.central_spec.url, office_key(cluster.offices["AAA"].spec)
    target = b_apps["ready"]["id"]
    before = _central_state(cluster)
    ops = [operation(target, "ApplicationBooked", {"number": "AAA-FORGED", "app_type": "new",
                                                   "passport_kind": "ordinary"}),
           operation(target, "ApplicantCheckedIn", {"queue_ticket": "W001"}, seq=2),
           operation(target, "ApplicationCancelled", {"reason": "forged"}, seq=3),
           operation(target, "PassportHandedOver", {"booklet_serial": b_apps["ready"]["booklet_serial"],
                                                    "recipient_kind": "holder"}, seq=4),
           operation(target, "PassportPrinted", {"booklet_serial": "X1000001", "issued_on": "2026-01-05",
                                                 "expires_on": "2036-01-05"}, seq=5)]
    results = []
    for op in ops:  # each on its own, so that each meets the ownership check itself
        r = signed_push(central, "AAA", key_a, [op])
        assert r.status_code == 200, r.text
        (x,) = r.json()["results"]
        assert x["id"] == op["id"] and (x["ok"], x["permanent"]) == (False, True), (op["op"], x)
        assert "belongs to office BBB" in x["error"], (op["op"], x)
        results.append(x)
    again = signed_push(central, "AAA", key_a, ops)  # resent together: the same answers, nothing applied
    assert again.status_code == 200, again.text
    assert again.json()["results"] == results
    assert _central_state(cluster) == before
    recorded = cluster.central_sql("SELECT office_code, ok FROM central_operation WHERE id = ANY(:ids)",
                                   ids=[o["id"] for o in ops])
    assert sorted(recorded) == [("AAA", False)] * len(ops)

    one = [operation(target, "ApplicationCancelled", {"reason": "forged"})]
    refused = {
        "unsigned": lambda h, b: ({"content-type": "application/json"}, b),
        "claims to be BBB": lambda h, b: ({**h, "X-Kanim-Office": "BBB"}, b),
        "unknown office": lambda h, b: ({**h, "X-Kanim-Office": "ZZZ"}, b),
        "bad signature": flip_signature,
        "body changed after signing": lambda h, b: (h, b.replace(b"forged", b"FORGED")),
    }
    for name, tamper in refused.items():
        r = signed_push(central, "AAA", key_a, one, tamper=tamper)
        assert r.status_code == 401, (name, r.status_code, r.text)
    stale = signed_push(central, "AAA", key_a, one, at=time.time() - 3600)  # well signed, an hour old: a replay
    assert stale.status_code == 401, stale.text
    assert cluster.central_sql("SELECT count(*) FROM central_operation WHERE id = :i", i=one[0]["id"])[0][0] == 0
    assert _central_state(cluster) == before

    b = cluster.offices["BBB"]  # and office BBB's own link is untouched by all this
    cluster.wait_drained(b)
    cluster.assert_exactly_once(b)
    cluster.assert_confirmed(b, [b_apps["ready"]])
    assert b.desks.application(target)["stage"] == "ready"


def _own_application(cluster: Cluster, key_a) -> str:  # noqa: ANN001
    """An application of office AAA's own at the central (booked through AAA's signed link)."""
    op = operation(str(uuid.uuid4()), "ApplicationBooked", {"number": "AAA-1", "app_type": "new",
                                                             "passport_kind": "ordinary"})
    r = signed_push(cluster.central_spec.url, "AAA", key_a, [op])
    assert r.json()["results"][0]["ok"], r.text
    return op["subject"]


CROSS_REFERENCES = {
    # name: what AAA sends about its own application (or a booklet) naming BBB's records
    "spoil BBB's booklet":
        lambda own, b: operation(b["ready"]["booklet_serial"], "BookletSpoiled", {"reason": "damaged_in_stock"}),
    "hand over BBB's booklet":
        lambda own, b: operation(own, "PassportHandedOver", {"booklet_serial": b["ready"]["booklet_serial"],
                                                             "recipient_kind": "holder"}),
    "pay with BBB's billing code":
        lambda own, b: operation(own, "PaymentRecorded", {"billing_code": b["billed"]["billing_code"],
                                                          "receipt_ref": "FORGED"}),
}


@pytest.mark.parametrize("case", [
    "spoil BBB's booklet", "hand over BBB's booklet",
    "pay with BBB's billing code"])
def test_an_office_cannot_touch_another_offices_records_by_naming_them_in_its_own_operations(
        two_offices, case) -> None:  # noqa: ANN001
    """AAA's operation is about its own application (or a booklet) but names BBB's booklet or
    billing code: it must be refused for good and change nothing of BBB's."""
    cluster, b_apps = two_offices
    key_a = office_key(cluster.offices["AAA"].spec)
    own = _own_application(cluster, key_a)
    before = _central_state(cluster)
    op = CROSS_REFERENCES[case](own, b_apps)
    r = signed_push(cluster.central_spec.url, "AAA", key_a, [op])
    assert r.status_code == 200, r.text
    result = r.json()["results"][0]
    after = _central_state(cluster)
    changed = {k: (before[k], after[k]) for k in ("passports", "payments")
               if [x for x in after[k] if x[2] == "BBB"] != [x for x in before[k] if x[2] == "BBB"]}
    if changed or result["ok"]:
        raise KnownBug(f"AAA's {op['op']} was answered {result} and changed BBB's records: {changed}")
    assert result["permanent"], result
