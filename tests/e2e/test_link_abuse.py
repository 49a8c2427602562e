"""The link and the central under bad input and abuse, with real processes: the central is
`kanim serve --role central` on a fresh PostgreSQL schema, offices are `kanim serve` (and
`kanim worker`), staff drive them over HTTP, and the attacks are real requests on real sockets.

One bad operation never stops an office: it is parked alone while the rest drains; dead
letters never fill the relay's window; operation ids are per office; the central reads no
body before it knows who sent it and bounds every header; a captured request cannot be
replayed; an application's operations apply in order; a feed event that does not verify is
waited on, not skipped; two relays at once are harmless; and no log holds a NIK or a name.
"""

from __future__ import annotations

import itertools
import select
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.e2e.faults import (
    ALL_CLEARANCES,
    API,
    NO_PG,
    PG_URL,
    Cluster,
    office_key,
    operation,
    people,
    signed_push,
)

pytestmark = [pytest.mark.postgres, pytest.mark.skipif(not PG_URL, reason=NO_PG), pytest.mark.timeout(240)]
MAX_BODY = 2_000_000  # the central's link body limit in these tests (KANIM_LINK_MAX_BODY_BYTES)


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError("no VmRSS")


def no_tracebacks(text: str) -> None:
    assert "Traceback" not in text and " 500 " not in text, text[-3000:]


# -- one cluster for the abuse of the central ------------------------------------------------------

@pytest.fixture(scope="module")
def abuse(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    """Offices MND (relay batches of 4) and BBB, a central that reads link bodies of at most
    2 MB; both offices running."""
    if not PG_URL:
        pytest.skip(NO_PG)
    cluster = Cluster(tmp_path_factory.mktemp("abuse"), office_codes=("MND", "BBB"), civil_registry=people(12),
                      office_extra={"link_batch": "4"}, central_extra={"link_max_body_bytes": str(MAX_BODY)})
    try:
        cluster.provision()
        mnd = cluster.start_office("MND", central=True)
        cluster.start_office("BBB")
        cluster.wait_for("MND's watch-list snapshot", lambda: mnd.desks.link_status()["watchlist_snapshot_at"],
                         timeout=30)
        yield cluster
    finally:
        cluster.close()


def malformed_rows(subject: str) -> list[dict]:
    """What a bug could leave in an office's outbox: a billing without its code, a birth date
    no one can parse, a print without a serial, a name longer than the registry's column."""
    base = {"subject": subject, "at": "2026-12-01T01:00:00+00:00", "actor": "bug"}
    return [{"subject": subject, "op": "BillingIssued", "payload": {**base, "amount": 350000}},
            {"subject": subject, "op": "IntakeCompleted", "payload": {**base, "nik": "3171014508900001",
                                                                       "full_name": "Siti", "sex": "F",
                                                                       "birth_date": "31-31-1990"}},
            {"subject": subject, "op": "PassportPrinted", "payload": {**base, "issued_on": "2026-12-01",
                                                                       "expires_on": "2036-11-30"}},
            {"subject": subject, "op": "ApplicationRejected", "payload": {**base, "reason": "x" * 5000}}]


def test_a_malformed_operation_is_parked_alone_and_the_office_keeps_draining(abuse) -> None:  # noqa: ANN001
    """Four malformed operations of four applications reach the central in one batch: each is
    refused with its reason (the batch is not), each becomes a dead letter at the office, the
    link stays up, and the applications taken after them become ready."""
    office, desks = abuse.offices["MND"], abuse.offices["MND"].desks
    known = {i["id"] for i in desks.incidents()}  # from the start-up, when the central was not up yet
    victims = [str(uuid.uuid4()) for _ in range(4)]
    office.inject([malformed_rows(v)[i] for i, v in enumerate(victims)])  # one of each kind
    dead = abuse.wait_for("four dead letters", lambda: len(desks.dead_letters()) >= 4 and desks.dead_letters(),
                          timeout=30)
    reasons = {d["op"]: d["error"] for d in dead if d["subject"] in victims}
    assert "payload.billing_code" in reasons["BillingIssued"], reasons
    assert "payload.birth_date" in reasons["IntakeCompleted"], reasons
    assert "payload.booklet_serial" in reasons["PassportPrinted"], reasons
    assert "payload.reason" in reasons["ApplicationRejected"], reasons
    assert all("31-31-1990" not in e for e in reasons.values())  # the value is not echoed
    apps = [desks.through_qc(p) for p in abuse.civil_registry[:2]]
    abuse.wait_ready(office, [a["id"] for a in apps])
    assert [i for i in desks.incidents() if i["id"] not in known] == [], desks.incidents()  # the link stayed up
    no_tracebacks(abuse.central.tail(400))


def test_dead_letters_never_stall_the_relay_however_many_there_are(abuse) -> None:  # noqa: ANN001
    """With batches of 4, five dead letters with three operations behind each (15 held back)
    used to fill every batch: fresh applications never left. Now they drain, and the status
    says what is held back and why."""
    office, desks = abuse.offices["MND"], abuse.offices["MND"].desks
    before = len(desks.dead_letters())
    poisoned = [str(uuid.uuid4()) for _ in range(5)]
    rows = []
    for p in poisoned:  # highest priority: the relay looks at them first
        rows.append({**malformed_rows(p)[0], "priority": 9000})
        rows += [{"subject": p, "op": "ApplicantCheckedIn", "priority": 9000,
                  "payload": {"subject": p, "at": "2026-12-01T01:00:00+00:00", "actor": "bug", "queue_ticket": t}}
                 for t in ("A-1", "A-2", "A-3")]
    office.inject(rows)
    abuse.wait_for("five more dead letters", lambda: len(desks.dead_letters()) >= before + 5, timeout=30)
    fresh = [desks.through_qc(p) for p in abuse.civil_registry[2:5]]
    abuse.wait_ready(office, [a["id"] for a in fresh])
    status = abuse.wait_for("the queue to hold only what waits behind dead letters",
                            lambda: (s := desks.link_status())["sendable"] == 0 and s, timeout=30)
    assert status["held_back"]["behind_dead_letters"] >= 15, status
    assert status["state"] == "stalled" and "wait behind dead letters" in status["reason"], status


def test_an_operation_id_is_one_offices_not_everyones(abuse) -> None:  # noqa: ANN001
    """Office BBB reuses an id office MND already used: BBB's operation is applied as its own,
    not answered with MND's stored "ok". The same id with another body from MND is refused."""
    central = abuse.central_spec.url
    key_mnd, key_bbb = office_key(abuse.offices["MND"].spec), office_key(abuse.offices["BBB"].spec)
    mine = operation(str(uuid.uuid4()), "ApplicationBooked", {"number": "MND-X", "app_type": "new",
                                                               "passport_kind": "ordinary"})
    assert signed_push(central, "MND", key_mnd, [mine]).json()["results"][0]["ok"]
    theirs = {**operation(str(uuid.uuid4()), "ApplicationBooked", {"number": "BBB-X", "app_type": "new",
                                                                   "passport_kind": "ordinary"}), "id": mine["id"]}
    r = signed_push(central, "BBB", key_bbb, [theirs])
    assert r.status_code == 200 and r.json()["results"][0]["ok"], r.text
    owners = dict(abuse.central_sql("SELECT id, office_code FROM registry_application WHERE id IN (:a, :b)",
                                    a=mine["subject"], b=theirs["subject"]))
    assert owners == {mine["subject"]: "MND", theirs["subject"]: "BBB"}
    changed = {**mine, "payload": {**mine["payload"], "number": "MND-Y"}}
    (x,) = signed_push(central, "MND", key_mnd, [changed]).json()["results"]
    assert (x["ok"], x["permanent"]) == (False, True) and "different body" in x["error"], x


def test_an_applications_operations_apply_in_order_and_unknown_types_are_refused(abuse) -> None:  # noqa: ANN001
    central, key = abuse.central_spec.url, office_key(abuse.offices["MND"].spec)
    app_id = str(uuid.uuid4())
    ops = [operation(app_id, "ApplicationBooked", {"number": "MND-O", "app_type": "new",
                                                   "passport_kind": "ordinary"}, seq=10_001),
           operation(app_id, "ApplicationApproved", seq=10_040),
           operation(app_id, "ApplicantCheckedIn", {"queue_ticket": "A-9"}, seq=10_039),
           operation(app_id, "ApplicationTeleported", seq=10_041)]
    r = signed_push(central, "MND", key, ops)
    assert r.status_code == 200, r.text
    answers = [(x["ok"], x["permanent"]) for x in r.json()["results"]]
    assert answers == [(True, False), (True, False), (True, False), (False, True)], r.text
    assert "unknown operation type" in r.json()["results"][3]["error"]
    assert abuse.central_stage(app_id) == "approved"


# -- the body is read only once the sender is known -----------------------------------------------

def _raw_request(port: int, head: bytes, body_chunks: Iterator[bytes], *, timeout: float = 20) -> tuple[int, float]:
    """Send a request on a raw socket and stream its body, watching before each chunk whether
    the server has already answered; returns (status, seconds until the answer)."""
    start = time.monotonic()
    answer = b""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        sock.sendall(head)
        for chunk in itertools.chain([b""], body_chunks):
            ready, _, _ = select.select([sock], [], [], 0 if chunk else 1.0)  # first: a second for an early answer
            if ready:
                break
            try:
                sock.sendall(chunk)
            except OSError:
                break
        try:
            while b"\r\n" not in answer:
                more = sock.recv(65536)
                if not more:
                    break
                answer += more
        except OSError:
            pass
    assert answer.startswith(b"HTTP/1.1 "), answer[:200]
    return int(answer.split(b" ", 2)[1]), time.monotonic() - start


def _zeros(total: int, chunk: int = 1 << 20) -> Iterator[bytes]:
    block = b"\0" * chunk
    for _ in range(total // chunk):
        yield block


def test_three_parallel_400mb_unsigned_bodies_are_refused_before_they_are_read(abuse) -> None:  # noqa: ANN001
    port, pid = abuse.central_spec.port, abuse.central.proc.pid
    before = rss_kib(pid)
    head = (b"POST /api/v1/link/operations HTTP/1.1\r\nHost: central\r\nContent-Type: application/json\r\n"
            b"Content-Length: 400000000\r\n\r\n")
    results: list[tuple[int, float]] = []
    threads = [threading.Thread(target=lambda: results.append(_raw_request(port, head, _zeros(400_000_000))))
               for _ in range(3)]
    for th in threads:
        th.start()
    for th in threads:
        th.join(60)
    assert [s for s, _ in results] == [401, 401, 401], results
    assert max(t for _, t in results) < 5, results
    assert rss_kib(pid) - before < 50_000, (before, rss_kib(pid))  # not 400 MB each


def test_a_large_non_json_body_is_refused_as_unauthenticated_not_parsed(abuse) -> None:  # noqa: ANN001
    head = (b"POST /api/v1/link/operations HTTP/1.1\r\nHost: central\r\nContent-Type: text/xml\r\n"
            b"Content-Length: 50000000\r\n\r\n")
    assert _raw_request(abuse.central_spec.port, head, _zeros(50_000_000))[0] == 401


def test_a_signed_body_over_the_limit_is_refused_with_413_without_being_read(abuse) -> None:  # noqa: ANN001
    from kanim.protocol.signing import sign_request

    spec = abuse.offices["MND"].spec
    path = f"{API}/link/operations"
    body = b'{"operations":[]}'
    headers = sign_request(office_key(spec), "MND", "POST", path, body, time.time())
    head = (f"POST {path} HTTP/1.1\r\nHost: central\r\nContent-Type: application/json\r\n"
            f"Content-Length: {MAX_BODY * 100}\r\n" + "".join(f"{k}: {v}\r\n" for k, v in headers.items())
            + "\r\n").encode()
    status, took = _raw_request(abuse.central_spec.port, head, _zeros(MAX_BODY * 100))
    assert status == 413 and took < 5, (status, took)
    # Chunked, with no declared length: counted as it comes, refused once past the limit.
    chunked = head.replace(f"Content-Length: {MAX_BODY * 100}".encode(), b"Transfer-Encoding: chunked")
    frames = (b"%x\r\n%s\r\n" % (len(c), c) for c in _zeros(MAX_BODY * 50, 1 << 18))
    assert _raw_request(abuse.central_spec.port, chunked, frames)[0] == 413


# -- headers bounded, replays refused ---------------------------------------------------------------

def _signed_get(abuse: Cluster, path: str) -> dict[str, str]:
    from kanim.protocol.signing import sign_request

    return sign_request(office_key(abuse.offices["MND"].spec), "MND", "GET", path, b"", time.time())


@pytest.mark.parametrize("header, value", [
    ("X-Kanim-Date", "9" * 5000),
    ("X-Kanim-Office", "M" * 5000),
    ("X-Kanim-Nonce", "n" * 5000),
    ("X-Kanim-Signature", "A" * 5000),
    ("X-Kanim-Date", "-17"),
    ("X-Kanim-Signature", "not base64 at all!"),
])
def test_an_oversized_or_malformed_signature_header_is_a_401_not_a_500(abuse, header, value) -> None:  # noqa: ANN001
    path = f"{API}/link/events?after=0"
    headers = {**_signed_get(abuse, path), header: value}
    r = httpx.get(f"{abuse.central_spec.url}{path}", headers=headers, timeout=10)
    assert r.status_code == 401 and r.headers["content-type"] == "application/problem+json", r.text


def test_a_captured_signed_request_cannot_be_replayed(abuse) -> None:  # noqa: ANN001
    """Someone who saw one signed GET of an office's feed (decisions name applications)
    cannot read it again with the same headers, not even within the clock-skew window."""
    path = f"{API}/link/events?after=0&limit=5"
    headers = _signed_get(abuse, path)
    first = httpx.get(f"{abuse.central_spec.url}{path}", headers=headers, timeout=10)
    again = httpx.get(f"{abuse.central_spec.url}{path}", headers=headers, timeout=10)
    assert first.status_code == 200, first.text
    assert again.status_code == 401 and "seen before" in again.json()["detail"], again.text


def test_no_log_of_a_fault_run_holds_a_nik_or_a_name(abuse) -> None:  # noqa: ANN001
    """The central fails on a database error while applying an intake that carries a NIK and
    a name (a constraint the handlers do not know about): that operation alone is refused, and
    neither role's logs hold any NIK or name the tests used."""
    office, desks = abuse.offices["MND"], abuse.offices["MND"].desks
    victim = abuse.civil_registry[8]
    with abuse.engine.begin() as conn:
        conn.exec_driver_sql(f"ALTER TABLE registry_application ADD CONSTRAINT poison "
                             f"CHECK (full_name IS NULL OR full_name <> '{victim.full_name}')")
    try:
        app = desks.through_intake(victim)
        dead = abuse.wait_for("the intake to be refused alone",
                              lambda: [d for d in desks.dead_letters() if d["subject"] == app["id"]], timeout=30)
        assert "the central could not apply it" in dead[0]["error"] and "error id" in dead[0]["error"], dead
        others = [desks.through_qc(p) for p in abuse.civil_registry[9:11]]
        abuse.wait_ready(office, [a["id"] for a in others])
    finally:
        with abuse.engine.begin() as conn:
            conn.exec_driver_sql("ALTER TABLE registry_application DROP CONSTRAINT poison")
    logs = abuse.central.log_path.read_text(errors="replace") + "".join(o.logs() for o in abuse.offices.values())
    assert "could not be applied" in logs  # the failure was logged (by operation id and SQLSTATE)
    for p in abuse.civil_registry:
        for needle in (p.nik, p.full_name, p.full_name.split()[0] + " " + p.full_name.split()[1]):
            assert needle not in logs, f"{needle!r} found in a log"


# -- 9. a feed event that does not verify is waited on, not skipped ---------------------------------

def test_a_rebuild_behind_a_key_change_is_waited_on_and_applied_once_the_key_is_installed(tmp_path: Path) -> None:
    """The central's database and its signing key are both lost. The rebuilt central asks
    every office to re-push everything; the office, still holding the old key, cannot verify
    the request: its cursor waits there (link status says why) instead of moving past it. Once
    the new key is installed and the office restarted, the request is applied and the whole
    history reaches the new central."""
    from kanim.central import service
    from kanim.central.node import bootstrap_central
    from kanim.config import Settings
    from kanim.protocol.signing import public_b64
    from kanim.ops.cluster import CentralSpec
    from kanim.store.migrate import upgrade

    who = people(3, start=40)
    cluster = Cluster(tmp_path / "rekey", civil_registry=who)
    try:
        cluster.provision()
        office = cluster.start_office(central=True)
        desks = office.desks
        cluster.wait_for("the snapshot", lambda: desks.link_status()["watchlist_snapshot_at"], timeout=30)
        apps = [desks.through_qc(p) for p in who]
        cluster.wait_ready(office, [a["id"] for a in apps])
        sent = office.sql("SELECT count(*) FROM outbox WHERE status = 'sent'")[0][0]

        cluster.central.kill()  # lost: its database and its key
        new_schema = f"{cluster.schema}_new"
        with cluster.engine.begin() as conn:
            conn.exec_driver_sql(f'CREATE SCHEMA "{new_schema}"')
        spec = CentralSpec(tmp_path / "rekey" / "central-new", cluster.central_spec.port,
                           cluster.schema_url(new_schema))
        node = bootstrap_central(Settings(**spec.settings()))
        upgrade(node.engine)
        service.register_office(node, code="MND", name="Kanim MND", actor="t",
                                public_key=public_b64(office_key(office.spec)))
        cluster._load_civil_registry(who, node)
        service.rebuild(node, actor="t")
        new_key = public_b64(node.signing_key)
        node.engine.dispose()
        cluster.central = spec.process()
        cluster.start_central()

        # The round that meets the request ends by closing the outage's incident: then "stalled".
        status = cluster.wait_for("the office to wait on the rebuild request it cannot verify",
                                  lambda: (s := desks.link_status())["feed_blocked"] and s["state"] == "stalled" and s,
                                  timeout=40)
        assert status["feed_blocked"]["kind"] == "rebuild", status
        assert "central key" in status["reason"] or "does not verify" in status["reason"], status
        time.sleep(2)  # more rounds: still waiting, nothing re-sent, the cursor not moved past it
        assert desks.link_status()["feed_blocked"]["event"] == status["feed_blocked"]["event"]
        assert office.sql("SELECT count(*) FROM outbox WHERE status = 'sent'")[0][0] == sent

        office.server.stop()
        desks.close()
        office.desks = None
        office.spec.central_public_key = new_key  # the operator installs the new key and restarts
        office.server = office.spec.process()
        office = cluster.start_office()
        cluster.wait_for("the history to reach the rebuilt central",
                         lambda: cluster.central_sql(f'SELECT count(*) FROM "{new_schema}".central_operation')[0][0]
                         >= sent, timeout=60)
        ids = {r[0] for r in cluster.central_sql(f'SELECT id FROM "{new_schema}".registry_application')}
        assert {a["id"] for a in apps} <= ids
        assert office.desks.link_status()["feed_blocked"] is None
    finally:
        try:
            with cluster.engine.begin() as conn:
                conn.exec_driver_sql(f'DROP SCHEMA IF EXISTS "{cluster.schema}_new" CASCADE')
        finally:
            cluster.close()


# -- 10. two relays at once --------------------------------------------------------------------------

@pytest.mark.parametrize("database", ["sqlite", "postgresql"])
def test_two_relays_on_one_office_are_harmless(tmp_path: Path, database: str) -> None:
    """A relay in `kanim serve` and a `kanim worker` on the same office: one holds the link,
    the other stands by. No 500 at the central, no traceback anywhere, no incident, and every
    operation applied exactly once."""
    who = people(4, start=60)
    cluster = Cluster(tmp_path / "two", civil_registry=who, pg_offices=database == "postgresql")
    try:
        cluster.provision()
        office = cluster.start_office(worker=True, central=True)
        desks = office.desks
        cluster.wait_for("the snapshot", lambda: desks.link_status()["watchlist_snapshot_at"], timeout=30)
        apps = [desks.through_qc(p) for p in who]
        cluster.wait_ready(office, [a["id"] for a in apps])
        cluster.wait_drained(office)
        cluster.assert_exactly_once(office)
        cluster.assert_confirmed(office, apps, ALL_CLEARANCES)
        started = [i for i in desks.incidents() if "Connection refused" not in (i["reason"] or "")]
        assert started == [], desks.incidents()  # none but the start-up's, before the central answered
        logs = office.logs()
        assert "standing by" in logs, logs[-2000:]
        no_tracebacks(logs)
        no_tracebacks(cluster.central.tail(2000))
        assert desks.link_status()["relay"], desks.link_status()
    finally:
        cluster.close()


