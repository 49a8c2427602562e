"""The central hub and the office ↔ central link on real databases: idempotent apply, ownership
and request signatures, NIK verification, the watch-list (orders, signed snapshots and deltas),
duplicates, payments, booklet allocation, back-pressure, rebuild, relay ordering and link health.

Central-side rules run on SQLite and on PostgreSQL (when KANIM_TEST_POSTGRES_URL is set), where
the central's schema is migrated once per module and emptied between tests. Tests of the whole
link run a real central (uvicorn in a thread) and talk HTTP to it.
"""

from __future__ import annotations

import shutil
import time
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import Table, func, select, text, update

from kanim.central import hub
from kanim.central import service
from kanim.central import tables as ct
from kanim.central.node import CentralNode, bootstrap_central
from kanim.config import Settings
from kanim.domain.application import Handover, RecipientKind, Stage
from kanim.domain.errors import InvalidInput
from kanim.domain.passport import ApplicationType, PassportKind
from kanim.domain.people import Sex
from kanim.link import inbox
from kanim.link.http import HttpCentral
from kanim.link.relay import Relay, RoundResult
from kanim.link.views import dead_letters, incidents, status
from kanim.protocol.signing import load_or_create_key, public_b64, sign_document, sign_request
from kanim.office import booking, handover, printing
from kanim.protocol.wire import Operation, OperationResult
from kanim.seed import advance
from kanim.store import tables as t
from kanim.store.db import make_engine
from kanim.store.migrate import upgrade
from tests.conftest import _drop_schema, _pg_engine, make_office
from tests.integration.test_workflow import SITI, book_one
from tests.link_fixtures import central_server, connect

BUDI = booking.Applicant(full_name="Budi Santoso", nik="3578011203850002", birth_date=date(1985, 3, 12),
                         sex=Sex.M, app_type=ApplicationType.NEW, passport_kind=PassportKind.ORDINARY,
                         kk_number="3578010000000002")
RINA = booking.Applicant(full_name="Rina Marlina", nik="3174015010830011", birth_date=date(1983, 10, 10),
                         sex=Sex.F, app_type=ApplicationType.NEW, passport_kind=PassportKind.ORDINARY,
                         kk_number="3174010000000011")
DUKCAPIL = """nik,full_name,birth_date,sex
3171014508900001,Siti Rahmawati,1990-08-05,F
3578011203850002,Budi Santoso,1985-03-12,M
3174015010830011,Rina Marlina,1983-10-10,F
5171016802950006,Sélvi Anggraéni,1995-02-28,F
"""
SIGNED_PATH = "/api/v1/link/operations"


# -- fixtures ----------------------------------------------------------------------------------
# Migrating a database costs more than most tests here, so each backend is migrated once per
# module: SQLite nodes start from a copy of a migrated file, PostgreSQL centrals share one
# migrated schema that is emptied before each test.

@pytest.fixture(scope="module")
def sqlite_template(tmp_path_factory) -> Path:  # noqa: ANN001
    path = tmp_path_factory.mktemp("template") / "kanim.db"
    engine = make_engine(f"sqlite:///{path}")
    upgrade(engine)
    engine.dispose()  # the last connection closed: SQLite folds the WAL back into the file
    assert not path.with_name("kanim.db-wal").exists()
    return path


@pytest.fixture(scope="module")
def pg_central_engine():  # noqa: ANN201
    schema = f"t_{uuid.uuid4().hex[:12]}"
    engine = _pg_engine(schema)
    upgrade(engine)
    yield engine
    engine.dispose()
    _drop_schema(schema)


def _empty(engine) -> None:  # noqa: ANN001
    """Empty what a central writes: its own tables and the audit chain."""
    names = [v.name for v in vars(ct).values() if isinstance(v, Table)] + [t.audit_event.name, t.audit_head.name]
    with engine.begin() as conn:
        conn.execute(text("TRUNCATE " + ", ".join(f'"{n}"' for n in names) + " RESTART IDENTITY"))


def load_registry(node: CentralNode, tmp_path: Path) -> None:
    csv = tmp_path / f"dukcapil-{uuid.uuid4().hex[:6]}.csv"
    csv.write_text(DUKCAPIL, encoding="utf-8")
    assert service.load_civil_registry(node, csv) == 4


@pytest.fixture
def new_central(tmp_path, clock, sqlite_template):  # noqa: ANN001, ANN201
    """Makes empty SQLite centrals (each with its own database and signing key)."""
    made: list[CentralNode] = []

    def make(name: str = "central", *, registry: bool = True, **settings) -> CentralNode:  # noqa: ANN003
        data_dir = tmp_path / name
        data_dir.mkdir(parents=True, exist_ok=True)
        shutil.copy(sqlite_template, data_dir / "kanim.db")
        node = bootstrap_central(Settings(role="central", data_dir=data_dir, **settings), clock=clock)
        made.append(node)
        if registry:
            load_registry(node, tmp_path)
        return node

    yield make
    for node in made:
        node.engine.dispose()


@pytest.fixture
def hub_node(request, tmp_path, backend, clock, new_central) -> CentralNode:  # noqa: ANN001
    """A central hub on the test's backend, with the civil registry loaded."""
    if backend == "sqlite":
        return new_central()
    engine = request.getfixturevalue("pg_central_engine")
    _empty(engine)
    node = bootstrap_central(Settings(role="central", data_dir=tmp_path / "central"), engine=engine, clock=clock)
    load_registry(node, tmp_path)
    return node


@pytest.fixture
def sqlite_hub(new_central) -> CentralNode:  # noqa: ANN001
    return new_central()


def _office(tmp_path, backend, clock, template: Path):  # noqa: ANN001, ANN202
    # One fingerprint keeps the capture desk fast; the office talks to no central of its own
    # (office.central is None): every test drives the link itself.
    if backend == "sqlite":
        (tmp_path / "data").mkdir(parents=True, exist_ok=True)
        shutil.copy(template, tmp_path / "data" / "kanim.db")
    return make_office(tmp_path, backend, clock, None, fingerprint_positions=[1])


@pytest.fixture
def office_node(tmp_path, backend, clock, sqlite_template):  # noqa: ANN001, ANN201
    o, cleanup = _office(tmp_path, backend, clock, sqlite_template)
    yield o
    o.engine.dispose()
    cleanup()


@pytest.fixture
def lone_office(tmp_path, clock, sqlite_template):  # noqa: ANN001, ANN201
    """An office on SQLite, for link tests whose point is the protocol, not the database."""
    o, _ = _office(tmp_path, "sqlite", clock, sqlite_template)
    yield o
    o.engine.dispose()


@contextmanager
def linked(office, node: CentralNode) -> Iterator[Relay]:  # noqa: ANN001
    """A real central over HTTP and the office's relay to it."""
    with central_server(node) as url:
        link = connect(office, node, url)
        try:
            yield Relay(office, link)
        finally:
            link.close()


def drain(relay: Relay, rounds: int = 10) -> None:
    for _ in range(rounds):
        r = relay.run_once()
        assert r.error is None, r.error
        if not r.pushed and not r.pulled and not r.more:
            return
    raise AssertionError("the link did not settle")


# -- helpers -----------------------------------------------------------------------------------

class Ops:
    """Operations as an office's relay would send them, numbered in the office's order."""

    def __init__(self, office_code: str = "MND") -> None:
        self.office_code, self.seq = office_code, 0

    def __call__(self, subject: str, op: str, **payload) -> Operation:  # noqa: ANN003
        self.seq += 1
        # What kanim.store.uow writes with every outbox row, as the wire contract requires.
        payload = {"subject": subject, "at": "2026-11-30T01:00:00+00:00", "actor": "test", **payload}
        return Operation(str(uuid.uuid4()), self.seq, subject, op, payload, self.office_code)

    def booked(self, app_id: str, app_type: str = "new") -> Operation:
        return self(app_id, "ApplicationBooked", number=f"{self.office_code}-{app_id[:8]}", app_type=app_type,
                    passport_kind="ordinary")

    def intake(self, app_id: str, nik: str, name: str, birth: str, sex: str) -> Operation:
        return self(app_id, "IntakeCompleted", nik=nik, full_name=name, birth_date=birth, sex=sex)


def push(node: CentralNode, ops: Sequence[Operation], office_code: str = "MND") -> list[OperationResult]:
    return service.push(node, office_code=office_code, operations=ops, link_state="up")


def decisions(node: CentralNode, subject: str) -> dict[str, tuple[str, str]]:
    e = ct.central_event.c
    with node.uow() as uow:
        found = uow.session.execute(select(ct.central_event).where(e.kind == "clearance", e.subject == subject)
                                    .order_by(e.seq)).all()
    return {r.payload["kind"]: (r.payload["state"], r.payload["reason"]) for r in found}


def rows(node, table, *where) -> list:  # noqa: ANN001
    """Rows of a table of an office or a central node, by primary key."""
    with node.uow() as uow:
        order = [c for c in table.primary_key.columns]
        return uow.session.execute(select(table).where(*where).order_by(*order)).all()


def count(node, table, *where) -> int:  # noqa: ANN001
    with node.uow() as uow:
        return uow.session.execute(select(func.count()).select_from(table).where(*where)).scalar_one()


def new_application(node: CentralNode, ops: Ops, *, nik: str, name: str, birth: str, sex: str,
                    app_type: str = "new") -> str:
    app_id = str(uuid.uuid4())
    results = push(node, [ops.booked(app_id, app_type), ops.intake(app_id, nik, name, birth, sex)], ops.office_code)
    assert all(r.ok for r in results), results
    return app_id


def register(node: CentralNode, code: str) -> Ed25519PrivateKey:
    key = Ed25519PrivateKey.generate()
    service.register_office(node, code=code, name=f"Kanim {code}", public_key=public_b64(key), actor="test")
    return key


def app_of(office, app_id: str):  # noqa: ANN001, ANN201
    with office.uow() as uow:
        return uow.applications.get(app_id)


def outbox(office, app_id: str) -> list:  # noqa: ANN001
    return rows(office, t.outbox, t.outbox.c.subject == app_id)


# == idempotent apply ==========================================================================

def test_a_batch_pushed_twice_gets_the_same_answers_and_changes_nothing(hub_node) -> None:  # noqa: ANN001
    ops, app_id = Ops(), str(uuid.uuid4())
    batch = [ops.booked(app_id), ops(app_id, "ApplicantCheckedIn", queue_ticket="A001"),
             ops.intake(app_id, SITI.nik, SITI.full_name, "1990-08-05", "F"),
             ops(app_id, "PassportPrinted", booklet_serial="X9999999", issued_on="2026-11-30",
                 expires_on="2036-11-29")]  # never allocated: a remembered rejection
    first = push(hub_node, batch)
    events = count(hub_node, ct.central_event)
    second = push(hub_node, batch)
    assert [r.ok for r in first] == [True, True, True, False]
    assert second == first
    assert count(hub_node, ct.registry_application) == 1
    assert count(hub_node, ct.central_operation) == 4
    assert count(hub_node, ct.central_event) == events == 4  # the intake's four decisions, once
    assert count(hub_node, ct.registry_passport) == 0
    (app,) = rows(hub_node, ct.registry_application)
    assert (app.stage, app.last_office_seq) == ("intake_done", 3)


def test_a_batch_resent_over_http_is_answered_the_same(sqlite_hub) -> None:  # noqa: ANN001
    key = register(sqlite_hub, "MND")
    ops, app_id = Ops(), str(uuid.uuid4())
    batch = [ops.booked(app_id), ops(app_id, "ApplicantCheckedIn", queue_ticket="A001")]
    with central_server(sqlite_hub) as url:
        link = HttpCentral(url, office_code="MND", key=key, timeout=5)
        first, second = link.push(batch), link.push(batch)
        link.close()
    assert first == second and all(r.ok for r in first)
    assert count(sqlite_hub, ct.registry_application) == 1
    assert count(sqlite_hub, ct.central_operation) == 2


# == ownership and signatures ==================================================================

def test_it_rejects_an_operation_for_another_offices_application(hub_node) -> None:  # noqa: ANN001
    mnd, sby = Ops("MND"), Ops("SBY")
    app_id = new_application(hub_node, mnd, nik=SITI.nik, name=SITI.full_name, birth="1990-08-05", sex="F")
    results = push(hub_node, [sby.booked(app_id), sby(app_id, "ApplicationApproved"),
                              sby(app_id, "ApplicationCancelled", reason="stolen id")], "SBY")
    assert [(r.ok, r.permanent) for r in results] == [(False, True)] * 3
    assert all(r.error == f"application {app_id} belongs to office MND" for r in results)
    (app,) = rows(hub_node, ct.registry_application)
    assert (app.office_code, app.stage) == ("MND", "intake_done")


def test_another_office_cannot_void_a_passport_by_its_serial(hub_node) -> None:  # noqa: ANN001
    register(hub_node, "MND")
    service.allocate_booklets(hub_node, office_code="MND", first="X1000001", last="X1000005", actor="t")
    mnd, sby = Ops("MND"), Ops("SBY")
    app_id = new_application(hub_node, mnd, nik=SITI.nik, name=SITI.full_name, birth="1990-08-05", sex="F")
    assert push(hub_node, [mnd(app_id, "PassportPrinted", booklet_serial="X1000001", issued_on="2026-11-30",
                               expires_on="2036-11-29")])[0].ok
    (result,) = push(hub_node, [sby("X1000001", "BookletSpoiled", reason="misprint")], "SBY")
    (passport,) = rows(hub_node, ct.registry_passport)
    assert passport.status == "printed"
    assert (result.ok, result.permanent) == (False, True)


def _post(url: str, headers: dict[str, str], body: bytes) -> httpx.Response:
    return httpx.post(url + SIGNED_PATH, content=body, headers={**headers, "content-type": "application/json"},
                      timeout=5)


def test_unsigned_forged_stale_and_unknown_requests_are_refused(sqlite_hub) -> None:  # noqa: ANN001
    key = register(sqlite_hub, "MND")
    stranger = Ed25519PrivateKey.generate()
    app_id = uuid.uuid4()
    body = ('{"operations":[{"id":"%s","seq":1,"subject":"%s","op":"ApplicationBooked","payload":'
            '{"subject":"%s","at":"2026-11-30T01:00:00+00:00","number":"MND-1","app_type":"new",'
            '"passport_kind":"ordinary"}}]}' % (uuid.uuid4(), app_id, app_id)).encode()
    now = time.time()
    cases = {
        "unsigned": {},
        "office only": {"X-Kanim-Office": "MND"},
        "signed by another key": sign_request(stranger, "MND", "POST", SIGNED_PATH, body, now),
        "signed for another body": sign_request(key, "MND", "POST", SIGNED_PATH, b"{}", now),
        "stale date": sign_request(key, "MND", "POST", SIGNED_PATH, body, now - 360),
        "future date": sign_request(key, "MND", "POST", SIGNED_PATH, body, now + 360),
        "unknown office": sign_request(stranger, "ZZZ", "POST", SIGNED_PATH, body, now),
    }
    with central_server(sqlite_hub) as url:
        answers = {name: _post(url, h, body) for name, h in cases.items()}
        good = _post(url, sign_request(key, "MND", "POST", SIGNED_PATH, body, time.time()), body)
    for name, r in answers.items():
        assert r.status_code == 401, (name, r.status_code, r.text)
        assert r.headers["content-type"] == "application/problem+json", name
        assert (r.json()["status"], r.json()["code"]) == (401, "not-authenticated"), name
    assert "ZZZ" in answers["unknown office"].json()["detail"]
    assert "clock skew" in answers["stale date"].json()["detail"]
    assert good.status_code == 200 and good.json()["results"][0]["ok"]
    assert count(sqlite_hub, ct.central_operation) == 1  # only the properly signed one


# == NIK verification ==========================================================================

@pytest.mark.parametrize(("nik", "name", "birth", "sex", "state", "reason"), [
    ("3171014508900001", "Siti Rahmawati", "1990-08-05", "F", "confirmed", "civil registry agrees"),
    ("3171014508900001", "  siti rahmawati ", "1990-08-05", "F", "confirmed", "civil registry agrees"),
    ("5171016802950006", "SELVI ANGGRAENI", "1995-02-28", "F", "confirmed", "civil registry agrees"),
    ("3171014508900099", "Siti Rahmawati", "1990-08-05", "F", "flagged", "is not in the civil registry"),
    ("3171014508900001", "Siti Rahma", "1990-08-05", "F", "flagged", "name differs from the civil registry"),
    ("3171014508900001", "Siti Rahmawati", "1990-08-06", "F", "flagged", "birth date differs from the civil registry"),
    ("3171014508900001", "Siti Rahmawati", "1990-08-05", "M", "flagged", "sex differs from the civil registry"),
], ids=["match", "case", "accents", "unknown", "name", "birth", "sex"])
def test_the_nik_is_verified_against_the_civil_registry(hub_node, nik, name, birth, sex, state,  # noqa: ANN001
                                                         reason) -> None:
    app_id = new_application(hub_node, Ops(), nik=nik, name=name, birth=birth, sex=sex)
    got_state, got_reason = decisions(hub_node, app_id)["nik_verified"]
    assert got_state == state
    assert reason in got_reason
    if state == "flagged" and reason != "is not in the civil registry":
        assert got_reason.count("differs") == 1  # only the field that differs is named


def test_every_difference_from_the_civil_registry_is_named(hub_node) -> None:  # noqa: ANN001
    app_id = new_application(hub_node, Ops(), nik=SITI.nik, name="Sri Rahayu", birth="1991-01-01", sex="M")
    state, reason = decisions(hub_node, app_id)["nik_verified"]
    assert state == "flagged"
    assert reason == ("name differs from the civil registry; birth date differs from the civil registry; "
                      "sex differs from the civil registry")


def test_a_nik_mismatch_puts_the_offices_application_on_hold(lone_office, sqlite_hub) -> None:  # noqa: ANN001
    with sqlite_hub.uow() as uow:  # Dukcapil knows Siti under another birth date
        uow.session.execute(update(ct.civil_registry).where(ct.civil_registry.c.nik == SITI.nik)
                            .values(birth_date=date(1990, 8, 15)))
        uow.commit()
    with linked(lone_office, sqlite_hub) as relay:
        app = book_one(lone_office)
        advance(lone_office, app.id, "intake_done", app_type=app.app_type)
        drain(relay)
    got = app_of(lone_office, app.id)
    assert got.stage is Stage.ON_HOLD
    assert got.clearances.nik_verified.value == "flagged"
    assert "birth date differs" in got.hold_reason


# == watch-list ================================================================================

def order(nik: str, kind: str = "prevention", starts: date = date(2026, 11, 1), days: int = 150,
          reason: str = "case 12") -> service.Order:
    return service.Order("nik", nik, kind, "KPK", starts, starts + timedelta(days=days), reason)


def test_an_order_flags_a_matching_application_at_intake(hub_node) -> None:  # noqa: ANN001
    service.add_watchlist_order(hub_node, order(SITI.nik), actor="sup")
    listed = new_application(hub_node, Ops(), nik=SITI.nik, name=SITI.full_name, birth="1990-08-05", sex="F")
    other = new_application(hub_node, Ops(), nik=BUDI.nik, name=BUDI.full_name, birth="1985-03-12", sex="M")
    state, reason = decisions(hub_node, listed)["watchlist_clear"]
    assert state == "flagged" and "KPK" in reason and "case 12" in reason and "2027-03-31" in reason
    assert decisions(hub_node, other)["watchlist_clear"] == ("confirmed", "no watch-list order")


def test_an_order_not_in_force_or_revoked_does_not_flag(hub_node) -> None:  # noqa: ANN001
    service.add_watchlist_order(hub_node, order(SITI.nik, starts=date(2027, 1, 1)), actor="sup")  # future
    service.add_watchlist_order(hub_node, order(BUDI.nik, starts=date(2026, 1, 1), days=100), actor="sup")  # over
    revoked = service.add_watchlist_order(hub_node, order(RINA.nik), actor="sup")
    service.revoke_watchlist_order(hub_node, revoked, actor="sup")
    for p, birth, sex in ((SITI, "1990-08-05", "F"), (BUDI, "1985-03-12", "M"), (RINA, "1983-10-10", "F")):
        app_id = new_application(hub_node, Ops(), nik=p.nik, name=p.full_name, birth=birth, sex=sex)
        assert decisions(hub_node, app_id)["watchlist_clear"][0] == "confirmed", p.full_name


def test_an_office_application_is_held_when_the_central_has_an_order(lone_office, sqlite_hub) -> None:  # noqa: ANN001
    with linked(lone_office, sqlite_hub) as relay:
        app = book_one(lone_office)
        advance(lone_office, app.id, "intake_done", app_type=app.app_type)  # the office's snapshot is empty
        assert app_of(lone_office, app.id).clearances.watchlist_clear.value == "provisional"
        service.add_watchlist_order(sqlite_hub, order(SITI.nik), actor="sup")
        drain(relay)
    got = app_of(lone_office, app.id)
    assert got.stage is Stage.ON_HOLD and got.clearances.watchlist_clear.value == "flagged"
    assert "KPK" in got.hold_reason and "case 12" in got.hold_reason


@pytest.mark.parametrize(("kind", "days", "ok"), [
    ("prevention", 182, True), ("prevention", 183, False), ("prevention", 184, False), ("prevention", 365, False),
    ("temporary", 19, True), ("temporary", 30, False), ("temporary", 21, False),
    ("deterrence", 3650, True),
])
def test_orders_may_not_last_longer_than_the_law_allows(hub_node, kind, days, ok) -> None:  # noqa: ANN001
    o = order(SITI.nik, kind=kind, days=days)
    if ok:
        service.add_watchlist_order(hub_node, o, actor="sup")
    else:
        with pytest.raises(InvalidInput) as e:
            service.add_watchlist_order(hub_node, o, actor="sup")
        assert e.value.code == "watchlist-too-long" and kind in e.value.message
    assert count(hub_node, ct.watchlist_order) == int(ok)


def test_a_temporary_order_in_force_for_21_days_is_refused(hub_node) -> None:  # noqa: ANN001
    with pytest.raises(InvalidInput):  # in force on 1 Dec ... 21 Dec inclusive: 21 days
        service.add_watchlist_order(hub_node, service.Order("nik", SITI.nik, "temporary", "Polri",
                                                            date(2026, 12, 1), date(2026, 12, 21), "x"), actor="s")


def test_the_office_loads_the_centrals_signed_snapshot(lone_office, sqlite_hub, clock) -> None:  # noqa: ANN001
    oid = service.add_watchlist_order(sqlite_hub, order(SITI.nik), actor="sup")
    service.add_watchlist_order(sqlite_hub, order(BUDI.nik, starts=date(2026, 1, 1), days=100), actor="sup")  # over
    clock.advance(minutes=1)
    with linked(lone_office, sqlite_hub) as relay:
        relay.refresh_watchlist()
    with lone_office.uow() as uow:
        snap_id = inbox.latest_snapshot_id(uow)
        snap = uow.session.execute(select(t.watchlist_snapshot).where(t.watchlist_snapshot.c.id == snap_id)).one()
        entries = uow.session.execute(select(t.watchlist_entry)).all()
    assert (snap.source, snap.entry_count, snap.taken_at) == ("central", 1, clock.now())
    assert [(e.order_id, e.subject_value, e.agency) for e in entries] == [(oid, SITI.nik, "KPK")]
    assert status(lone_office)["watchlist_problem"] is None


class SnapshotOnly:
    """A central that only hands out a given watch-list snapshot."""

    def __init__(self, signed: dict) -> None:
        self.signed = signed

    def watchlist(self) -> dict:
        return self.signed


def _resign(doc: dict, key: Ed25519PrivateKey, node: CentralNode) -> dict:
    return {"snapshot": doc, "signature": sign_document(key, doc), "public_key": public_b64(node.signing_key)}


@pytest.mark.parametrize("problem", ["tampered", "other key", "future", "older"])
def test_the_office_refuses_a_snapshot_it_cannot_trust_and_says_so(lone_office, sqlite_hub, clock,  # noqa: ANN001
                                                                   problem) -> None:
    office = lone_office
    office.settings.central_public_key = public_b64(sqlite_hub.signing_key)
    service.add_watchlist_order(sqlite_hub, order(SITI.nik), actor="sup")
    earlier = service.watchlist_snapshot(sqlite_hub)
    clock.advance(hours=1)
    inbox.load_signed_snapshot(office, service.watchlist_snapshot(sqlite_hub))  # what the office holds
    with office.uow() as uow:
        held = inbox.latest_snapshot_id(uow)
    signed = service.watchlist_snapshot(sqlite_hub)
    doc = signed["snapshot"]
    if problem == "tampered":  # someone deletes the order in transit
        signed = {**signed, "snapshot": {**doc, "orders": []}}
        expected = "signature does not verify"
    elif problem == "other key":
        signed = _resign(doc, Ed25519PrivateKey.generate(), sqlite_hub)
        expected = "signature does not verify"
    elif problem == "future":
        later = (clock.now() + timedelta(days=1)).isoformat()
        signed = _resign({**doc, "taken_at": later}, sqlite_hub.signing_key, sqlite_hub)
        expected = "dated in the future"
    else:
        signed = earlier
        expected = "older than the one held"
    with pytest.raises(InvalidInput) as e:
        inbox.load_signed_snapshot(office, signed)
    assert expected in e.value.message

    clock.advance(hours=2)  # past the refresh interval: the relay asks again and is refused
    Relay(office, SnapshotOnly(signed)).refresh_watchlist()  # type: ignore[arg-type]
    assert expected in status(office)["watchlist_problem"]
    with office.uow() as uow:
        assert inbox.latest_snapshot_id(uow) == held
        refused = uow.session.execute(select(t.audit_event).where(
            t.audit_event.c.action == "WatchlistSnapshotRefused")).one()
    assert count(office, t.watchlist_entry) == 1  # the order is still held
    assert expected in refused.detail["why"]


def test_a_signed_delta_from_the_feed_adds_and_revokes_entries(lone_office, sqlite_hub) -> None:  # noqa: ANN001
    with linked(lone_office, sqlite_hub) as relay:
        drain(relay)  # the office now holds the central's (empty) snapshot
        oid = service.add_watchlist_order(sqlite_hub, order(BUDI.nik, kind="temporary", days=10,
                                                            starts=date(2026, 11, 29)), actor="sup")
        drain(relay)
        entries = rows(lone_office, t.watchlist_entry)
        assert [(e.order_id, e.subject_value, e.order_kind) for e in entries] == [(oid, BUDI.nik, "temporary")]
        app = book_one(lone_office, BUDI)
        advance(lone_office, app.id, "intake_done", app_type=app.app_type)
        got = app_of(lone_office, app.id)
        assert got.stage is Stage.REJECTED and "temporary order by KPK" in got.decision_reason

        service.revoke_watchlist_order(sqlite_hub, oid, actor="sup")
        drain(relay)
        assert rows(lone_office, t.watchlist_entry) == []
    outcomes = [r.outcome for r in rows(lone_office, t.inbox_event, t.inbox_event.c.kind == "watchlist")]
    assert outcomes == ["applied", "applied"]


def test_a_forged_event_is_refused_audited_once_and_the_feed_waits_until_it_verifies(lone_office,  # noqa: ANN001
                                                                                      sqlite_hub) -> None:
    with linked(lone_office, sqlite_hub) as relay:
        drain(relay)
        oid = service.add_watchlist_order(sqlite_hub, order(BUDI.nik), actor="sup")
        later = service.add_watchlist_order(sqlite_hub, order(RINA.nik), actor="sup")
        with sqlite_hub.uow() as uow:  # the delta is altered after signing: it names someone else
            e = uow.session.execute(select(ct.central_event).where(ct.central_event.c.subject == oid)).one()
            forged = {**e.payload, "delta": {**e.payload["delta"], "subject_value": SITI.nik}}
            uow.session.execute(update(ct.central_event).where(ct.central_event.c.seq == e.seq).values(payload=forged))
            uow.commit()
        drain(relay)
        drain(relay)  # more rounds meet the same event: audited once, not once a round
        assert rows(lone_office, t.watchlist_entry) == []
        # The feed's own signature catches it: refused, audited, not taken as received, and
        # not skipped either: the event after it waits too.
        assert rows(lone_office, t.inbox_event, t.inbox_event.c.kind == "watchlist") == []
        audits = rows(lone_office, t.audit_event, t.audit_event.c.action == "CentralEventRefused")
        assert len(audits) == 1 and audits[0].subject == e.id and "does not verify" in audits[0].detail["why"]
        st = status(lone_office)
        assert st["state"] == "stalled" and st["feed_blocked"]["event"] == e.id, st
        assert f"waits at event {e.id}" in st["reason"]

        with sqlite_hub.uow() as uow:  # the genuine event comes back (a new key installed, a proxy gone)
            uow.session.execute(update(ct.central_event).where(ct.central_event.c.seq == e.seq)
                                .values(payload=e.payload))
            uow.commit()
        drain(relay)
    entries = {r.order_id for r in rows(lone_office, t.watchlist_entry)}
    assert entries == {oid, later}
    assert status(lone_office)["feed_blocked"] is None
    assert rows(lone_office, t.audit_event, t.audit_event.c.action == "CentralFeedResumed")


# == duplicates ================================================================================

def test_an_open_application_at_another_office_is_a_duplicate(hub_node) -> None:  # noqa: ANN001
    first = new_application(hub_node, Ops("MND"), nik=SITI.nik, name=SITI.full_name, birth="1990-08-05", sex="F")
    second = new_application(hub_node, Ops("SBY"), nik=SITI.nik, name=SITI.full_name, birth="1990-08-05",
                             sex="F")
    assert decisions(hub_node, first)["not_duplicate"][0] == "confirmed"
    state, reason = decisions(hub_node, second)["not_duplicate"]
    assert state == "flagged"
    assert "open application MND-" in reason and "at office MND" in reason and "(intake_done)" in reason


def test_a_closed_application_is_not_a_duplicate(hub_node) -> None:  # noqa: ANN001
    ops = Ops("MND")
    first = new_application(hub_node, ops, nik=SITI.nik, name=SITI.full_name, birth="1990-08-05", sex="F")
    assert push(hub_node, [ops(first, "ApplicationCancelled", reason="applicant withdrew")])[0].ok
    second = new_application(hub_node, Ops("SBY"), nik=SITI.nik, name=SITI.full_name, birth="1990-08-05",
                             sex="F")
    assert decisions(hub_node, second)["not_duplicate"][0] == "confirmed"


def test_a_holder_of_a_valid_passport_may_renew_but_not_apply_anew(hub_node) -> None:  # noqa: ANN001
    register(hub_node, "MND")
    service.allocate_booklets(hub_node, office_code="MND", first="X1000001", last="X1000005", actor="t")
    ops = Ops("MND")
    old = new_application(hub_node, ops, nik=SITI.nik, name=SITI.full_name, birth="1990-08-05", sex="F")
    results = push(hub_node, [
        ops(old, "PassportPrinted", booklet_serial="X1000001", issued_on="2024-11-30", expires_on="2034-11-29"),
        ops(old, "PassportHandedOver", booklet_serial="X1000001", recipient_kind="holder")])
    assert all(r.ok for r in results)
    anew = new_application(hub_node, ops, nik=SITI.nik, name=SITI.full_name, birth="1990-08-05", sex="F")
    state, reason = decisions(hub_node, anew)["not_duplicate"]
    assert state == "flagged" and reason == "holds valid passport X1000001 until 2034-11-29"
    assert push(hub_node, [ops(anew, "ApplicationCancelled", reason="duplicate")])[0].ok
    renewal = new_application(hub_node, ops, nik=SITI.nik, name=SITI.full_name, birth="1990-08-05", sex="F",
                              app_type="renewal")
    assert decisions(hub_node, renewal)["not_duplicate"] == ("confirmed", "no duplicate in any office")


# == payments ==================================================================================

def bank_csv(tmp_path: Path, lines: list[tuple[str, int, str]]) -> Path:
    path = tmp_path / f"bank-{uuid.uuid4().hex[:6]}.csv"
    body = "billing_code,amount,paid_at,reference\n" + "".join(
        f"{code},{amount},2026-11-30T09:30:00+07:00,{ref}\n" for code, amount, ref in lines)
    path.write_text(body, encoding="utf-8")
    return path


def billed(node: CentralNode, ops: Ops, code: str, amount: int, *, paid: bool) -> str:
    app_id = new_application(node, ops, nik=SITI.nik, name=SITI.full_name, birth="1990-08-05", sex="F")
    batch = [ops(app_id, "BillingIssued", billing_code=code, amount=amount)]
    if paid:
        batch.append(ops(app_id, "PaymentRecorded", billing_code=code, amount=amount, receipt_ref=f"R-{code[-4:]}"))
    assert all(r.ok for r in push(node, batch, ops.office_code))
    return app_id


def test_bank_rows_that_do_not_match_go_to_payment_issues(tmp_path, hub_node) -> None:  # noqa: ANN001
    ops = Ops()
    good = billed(hub_node, ops, "820261130000001", 350_000, paid=True)
    short = billed(hub_node, ops, "820261130000002", 350_000, paid=True)
    counts = service.import_payments(hub_node, bank_csv(tmp_path, [
        ("820261130000001", 350_000, "BNI-1"),
        ("820261130000002", 300_000, "BNI-2"),
        ("820261130009999", 350_000, "BNI-3"),
        ("820261130000001", 350_000, "BNI-4"),
    ]), actor="treasury")
    assert counts == {"confirmed": 1, "waiting_for_office": 0, "already_imported": 0, "issues": 3}
    issues = service.payment_issues(hub_node)
    assert [(i["billing_code"], i["kind"]) for i in issues] == [
        ("820261130000002", "amount"), ("820261130009999", "unknown_code"), ("820261130000001", "paid_twice")]
    assert "billed Rp350000, paid Rp300000" in issues[0]["detail"]
    assert decisions(hub_node, good)["payment_confirmed"] == ("confirmed", "treasury confirmed payment BNI-1")
    assert "payment_confirmed" not in decisions(hub_node, short)


def test_a_bank_row_before_the_offices_receipt_waits_for_it(tmp_path, hub_node) -> None:  # noqa: ANN001
    ops = Ops()
    app_id = billed(hub_node, ops, "820261130000003", 650_000, paid=False)
    counts = service.import_payments(hub_node, bank_csv(tmp_path, [("820261130000003", 650_000, "BRI-7")]),
                                     actor="treasury")
    assert counts["waiting_for_office"] == 1 and "payment_confirmed" not in decisions(hub_node, app_id)
    assert push(hub_node, [ops(app_id, "PaymentRecorded", billing_code="820261130000003", receipt_ref="R")])[0].ok
    assert decisions(hub_node, app_id)["payment_confirmed"][0] == "confirmed"


def test_a_bank_payment_that_arrives_before_the_billing_code_is_not_lost(tmp_path, hub_node) -> None:  # noqa: ANN001
    ops = Ops()
    app_id = new_application(hub_node, ops, nik=SITI.nik, name=SITI.full_name, birth="1990-08-05", sex="F")
    service.import_payments(hub_node, bank_csv(tmp_path, [("820261130000004", 350_000, "BCA-1")]), actor="t")
    push(hub_node, [ops(app_id, "BillingIssued", billing_code="820261130000004", amount=350_000),
                    ops(app_id, "PaymentRecorded", billing_code="820261130000004", receipt_ref="R")])
    assert decisions(hub_node, app_id).get("payment_confirmed", ("none",))[0] == "confirmed"


def test_a_bank_row_without_a_time_zone_is_read_in_the_offices_time_zone(tmp_path, hub_node) -> None:  # noqa: ANN001
    billed(hub_node, Ops(), "820261130000005", 350_000, paid=True)
    path = tmp_path / "bank-naive.csv"
    path.write_text("billing_code,amount,paid_at,reference\n820261130000005,350000,2026-11-30 09:30:00,R\n")
    assert service.import_payments(hub_node, path, actor="treasury")["confirmed"] == 1
    (row,) = rows(hub_node, ct.treasury_payment)
    assert row.paid_at == datetime(2026, 11, 30, 2, 30, tzinfo=UTC)  # 09:30 WIB


def test_a_bank_row_with_an_unreadable_time_is_refused_with_its_line(tmp_path, hub_node) -> None:  # noqa: ANN001
    path = tmp_path / "bank-bad.csv"
    path.write_text("billing_code,amount,paid_at,reference\n820261130000005,350000,yesterday,R\n")
    with pytest.raises(InvalidInput, match="bank-bad.csv:2"):
        service.import_payments(hub_node, path, actor="treasury")
    assert count(hub_node, ct.treasury_payment) == 0


def test_a_payment_recorded_at_the_office_waits_for_a_late_bank_file(tmp_path, office_node, hub_node,  # noqa: ANN001
                                                                    clock) -> None:
    office = office_node
    with linked(office, hub_node) as relay:
        app = book_one(office)
        advance(office, app.id, "paid", app_type=app.app_type)
        drain(relay)
        paid = app_of(office, app.id)
        for _ in range(3):  # two weeks without the bank's file: nothing expires
            clock.advance(days=5)
            drain(relay)
        waiting = app_of(office, app.id)
        assert waiting.clearances.payment_confirmed.value == "provisional"
        assert waiting.stage is Stage.INTAKE_DONE and waiting.paid_at == paid.paid_at
        (pay,) = rows(hub_node, ct.central_payment)
        assert (pay.office_paid_at, pay.confirmed_at) == (paid.paid_at, None)

        counts = service.import_payments(hub_node, bank_csv(tmp_path, [
            (paid.billing_code, paid.fee_total, "BNI-42")]), actor="treasury")
        assert counts["confirmed"] == 1
        drain(relay)
    got = app_of(office, app.id)
    assert got.clearances.payment_confirmed.value == "confirmed"
    assert service.payment_issues(hub_node) == []


# == booklet allocation ========================================================================

def test_a_print_on_a_booklet_never_allocated_is_a_dead_letter_that_blocks_no_one(lone_office,  # noqa: ANN001
                                                                                   sqlite_hub) -> None:
    office = lone_office
    printing.receive_booklets(office, first="X1000001", last="X1000010", actor="printer")  # before any allocation
    with linked(office, sqlite_hub) as relay:
        service.allocate_booklets(sqlite_hub, office_code="MND", first="X1000001", last="X1000005", actor="t")
        stray, fine = book_one(office), book_one(office, BUDI)
        for app in (stray, fine):
            advance(office, app.id, "approved", app_type=app.app_type)
        printing.print_passport(office, application_id=stray.id, serial="X1000008", actor="printer")
        printing.print_passport(office, application_id=fine.id, serial="X1000001", actor="printer")
        drain(relay)
        # The central's refusal holds the stray passport at the office: it must never be handed
        # over while the registry does not hold it, and its booklet is voided.
        held_app = app_of(office, stray.id)
        assert held_app.stage is Stage.ON_HOLD and held_app.clearances.recorded_centrally.value == "flagged"
        assert "never allocated" in held_app.hold_reason and held_app.booklet_serial is None
        printing.quality_check(office, application_id=fine.id, passed=True, actor="printer")
        drain(relay)

    assert printing.accountability(office).spoiled_by_reason == {"voided_after_flag": 1}
    (dead,) = dead_letters(office)
    assert (dead["subject"], dead["op"]) == (stray.id, "PassportPrinted")
    assert dead["error"] == "booklet X1000008 was never allocated to office MND"
    held = [r for r in outbox(office, stray.id) if r.seq > dead["seq"]]
    assert held and all(r.status == "pending" and r.attempts == 0 for r in held)  # waits behind its dead letter
    assert all(r.status == "sent" for r in outbox(office, fine.id))
    stages = {r.id: (r.stage, r.booklet_serial) for r in rows(sqlite_hub, ct.registry_application)}
    assert stages == {stray.id: ("approved", None), fine.id: ("qc_passed", "X1000001")}
    assert status(office)["dead_letters"] == 1
    (rng,) = rows(office, t.allocated_range)
    assert (rng.first_serial, rng.last_serial, rng.count) == ("X1000001", "X1000005", 5)


@pytest.mark.parametrize("failure", ["transient", "permanent"])
def test_later_operations_of_an_application_wait_for_its_failed_one_in_the_same_batch(
        hub_node, monkeypatch, failure) -> None:  # noqa: ANN001
    register(hub_node, "MND")
    service.allocate_booklets(hub_node, office_code="MND", first="X1000001", last="X1000005", actor="t")
    ops = Ops()
    app_id = new_application(hub_node, ops, nik=SITI.nik, name=SITI.full_name, birth="1990-08-05", sex="F")
    if failure == "transient":
        def not_yet(ctx, op) -> None:  # noqa: ANN001
            raise hub.NotYet("the civil registry adapter timed out")
        monkeypatch.setitem(hub.HANDLERS, "ApplicationApproved", not_yet)
        first = ops(app_id, "ApplicationApproved")
    else:
        first = ops(app_id, "PassportPrinted", booklet_serial="X9000001", issued_on="2026-11-30",
                    expires_on="2036-11-29")
    later = ops(app_id, "QualityCheckPassed", booklet_serial="X9000001")
    results = push(hub_node, [first, later])
    assert not results[0].ok
    assert not results[1].ok and not results[1].permanent  # waits: retried after the first one
    assert rows(hub_node, ct.registry_application)[0].stage == "intake_done"


# == back-pressure =============================================================================

def test_the_central_slows_a_draining_office_and_the_relay_obeys(lone_office, new_central) -> None:  # noqa: ANN001
    node = new_central(registry=False, central_office_rate=0.01)
    office = lone_office
    body = ('{"operations":[{"id":"%s","seq":1,"subject":"x","op":"ApplicantCheckedIn","payload":{}}]}'
            % uuid.uuid4()).encode()
    with central_server(node) as url:
        relay = Relay(office, connect(office, node, url))
        app = book_one(office)
        assert relay.run_once().pushed == 1  # a full bucket lets the first batch through
        booking.check_in(office, application_id=app.id, actor="frontdesk")
        r = relay.run_once()
        key = load_or_create_key(office.settings.office_key_path)
        raw = _post(url, sign_request(key, "MND", "POST", SIGNED_PATH, body, time.time()), body)
        relay.central.close()
    assert r.throttled > 60 and r.pushed == 0
    assert relay.next_wait(r) == r.throttled
    assert relay.breaker.state.value == "up" and relay.breaker.failures == 0
    assert incidents(office) == [] and status(office)["state"] == "up"
    (pending,) = [x for x in outbox(office, app.id) if x.status == "pending"]
    assert (pending.op, pending.attempts) == ("ApplicantCheckedIn", 0)
    assert raw.status_code == 429 and raw.headers["content-type"] == "application/problem+json"
    assert int(raw.headers["Retry-After"]) >= 60 and raw.json()["code"] == "slow-down"
    assert count(node, ct.central_operation) == 1


# == rebuild ===================================================================================

def _run_through_central_then_lose_it(new_central, office, *, restore_allocations: bool):  # noqa: ANN001, ANN202
    """Applications at several stages reach central A; A is lost; an empty central B (new
    database, new key) is set up and asks the office to re-push everything."""
    a = new_central("a", central_treasury="trusting")
    printing_range = ("X1000001", "X1000010")
    with linked(office, a) as relay:
        service.allocate_booklets(a, office_code="MND", first=printing_range[0], last=printing_range[1], actor="t")
        drain(relay)
        printing.receive_booklets(office, first=printing_range[0], last=printing_range[1], actor="printer")
        done, ready, early = book_one(office), book_one(office, BUDI), book_one(office, RINA)
        advance(office, done.id, "ready", app_type=done.app_type)
        advance(office, ready.id, "printed", app_type=ready.app_type)
        advance(office, early.id, "paid", app_type=early.app_type)
        drain(relay)
        handover.hand_over(office, application_id=done.id, actor="pickup",
                           handover=Handover(RecipientKind.HOLDER, SITI.full_name, "KTP", id_nik=SITI.nik))
        printing.quality_check(office, application_id=ready.id, passed=True, actor="printer")
        drain(relay)
    a_id = rows(a, ct.central_state)[0].value
    a.engine.dispose()
    before = {app.id: app_of(office, app.id).stage.value for app in (done, ready, early)}
    assert before == {done.id: "handed_over", ready.id: "ready", early.id: "intake_done"}

    b = new_central("b", central_treasury="trusting")  # Dukcapil's copy is reloaded by the operator
    with linked(office, b) as relay:
        if restore_allocations:
            service.allocate_booklets(b, office_code="MND", first=printing_range[0], last=printing_range[1],
                                      actor="t")
        service.rebuild(b, actor="ops")
        drain(relay, rounds=20)
        assert inbox.cursor(office) == max(e.seq for e in rows(b, ct.central_event))
        with office.uow() as uow:
            assert inbox.get_state(uow, inbox.CENTRAL_ID) == rows(b, ct.central_state)[0].value != a_id
    return b, before


def _assert_rebuilt(office, b: CentralNode, before: dict[str, str]) -> None:  # noqa: ANN001
    assert [d["error"] for d in dead_letters(office)] == []
    assert status(office)["queue_depth"] == 0
    sent = {r.id for r in rows(office, t.outbox)}
    applied = rows(b, ct.central_operation)
    assert sorted(r.id for r in applied) == sorted(sent)  # every operation, each once
    assert [r.error for r in applied if not r.ok] == []
    registry = {r.id: (r.office_code, r.stage) for r in rows(b, ct.registry_application)}
    assert registry == {i: ("MND", stage) for i, stage in before.items()}
    assert {i: app_of(office, i).stage.value for i in before} == before  # nothing was disturbed
    passports = {(r.serial, r.status) for r in rows(b, ct.registry_passport)}
    assert passports == {("X1000001", "issued"), ("X1000002", "printed")}


def test_an_empty_central_is_rebuilt_from_the_office(lone_office, new_central) -> None:  # noqa: ANN001
    b, before = _run_through_central_then_lose_it(new_central, lone_office, restore_allocations=True)
    _assert_rebuilt(lone_office, b, before)


def test_a_rebuilt_central_recovers_the_booklet_allocations_from_the_office(lone_office,  # noqa: ANN001
                                                                           new_central) -> None:
    b, before = _run_through_central_then_lose_it(new_central, lone_office, restore_allocations=False)
    _assert_rebuilt(lone_office, b, before)


def test_a_rebuild_does_not_clear_a_watch_list_flag(lone_office, new_central) -> None:  # noqa: ANN001
    office = lone_office
    a = new_central("a")
    with linked(office, a) as relay:
        app = book_one(office)
        advance(office, app.id, "intake_done", app_type=app.app_type)
        service.add_watchlist_order(a, order(SITI.nik), actor="sup")
        drain(relay)
    assert app_of(office, app.id).clearances.watchlist_clear.value == "flagged"
    a.engine.dispose()
    b = new_central("b")  # the civil registry reloaded; the lost watch-list order is not known yet
    with linked(office, b) as relay:
        service.rebuild(b, actor="ops")
        drain(relay)
    got = app_of(office, app.id)
    assert {r.id for r in rows(b, ct.registry_application)} == {app.id}  # the rebuild itself worked
    assert (got.stage, got.clearances.watchlist_clear.value) == (Stage.ON_HOLD, "flagged")


# == relay ordering ============================================================================

class Recording:
    """The HTTP link, noting which operations each push carried."""

    def __init__(self, inner) -> None:  # noqa: ANN001
        self.inner, self.batches = inner, []

    def push(self, operations, urgent=False):  # noqa: ANN001, ANN201
        self.batches.append([(o.subject, o.op) for o in operations])
        return self.inner.push(operations, urgent=urgent)

    def pull(self, **kw):  # noqa: ANN003, ANN201
        return self.inner.pull(**kw)

    def watchlist(self):  # noqa: ANN201
        return self.inner.watchlist()


def test_a_transient_failure_holds_back_only_its_own_application(lone_office, sqlite_hub, clock,  # noqa: ANN001
                                                                monkeypatch) -> None:
    office = lone_office
    a, b, c = book_one(office), book_one(office, BUDI), book_one(office, RINA)
    real_booked = hub.HANDLERS["ApplicationBooked"]

    def flaky(ctx, op) -> None:  # noqa: ANN001
        if op.subject == a.id:
            raise hub.NotYet("registry busy")
        real_booked(ctx, op)

    monkeypatch.setitem(hub.HANDLERS, "ApplicationBooked", flaky)
    with linked(office, sqlite_hub) as relay:
        link = relay.central = Recording(relay.central)
        r1 = relay.run_once()
        assert (r1.pushed, r1.retrying) == (2, 1)
        for app in (a, b, c):
            booking.check_in(office, application_id=app.id, actor="frontdesk")
        r2 = relay.run_once()
        assert link.batches[-1] == [(b.id, "ApplicantCheckedIn"), (c.id, "ApplicantCheckedIn")]
        assert [x.status for x in outbox(office, a.id)] == ["pending", "pending"]
        assert r2.pushed == 2

        monkeypatch.setitem(hub.HANDLERS, "ApplicationBooked", real_booked)  # the central recovers
        clock.advance(minutes=10)  # past the operation's backoff
        relay.run_once()
        assert link.batches[-1] == [(a.id, "ApplicationBooked"), (a.id, "ApplicantCheckedIn")]
    assert all(x.status == "sent" for x in rows(office, t.outbox))
    assert {r.id: r.stage for r in rows(sqlite_hub, ct.registry_application)} == {
        a.id: "checked_in", b.id: "checked_in", c.id: "checked_in"}


# == link health ===============================================================================

def test_an_unreachable_central_opens_incidents_and_recovery_closes_them(lone_office, sqlite_hub,  # noqa: ANN001
                                                                         clock) -> None:
    office = lone_office
    with central_server(sqlite_hub) as url:
        relay = Relay(office, connect(office, sqlite_hub, url))
        drain(relay)
    first = book_one(office)  # the server is gone: work queues up
    clock.advance(minutes=1)
    booking.check_in(office, application_id=first.id, actor="frontdesk")
    results: list[RoundResult] = []
    states = []
    for _ in range(4):
        clock.advance(seconds=30)
        results.append(relay.run_once())
        states.append(status(office)["state"])
    assert all(r.error for r in results) and states == ["degraded", "degraded", "down", "down"]
    assert 0.2 <= relay.next_wait(results[-1]) <= 4.0
    log = sorted(incidents(office), key=lambda i: i["id"])
    assert [(i["state"], i["ended_at"] is None) for i in log] == [("degraded", False), ("down", True)]
    assert log[0]["ended_at"] == log[1]["started_at"]
    assert "Connect" in log[0]["reason"]
    down = status(office)
    assert down["queue_depth"] == 2 and down["oldest_unsent_at"] == rows(office, t.outbox)[0].created_at
    assert down["since"] == log[1]["started_at"] and down["drain_rate_per_s"] == 0 and down["eta_seconds"] is None

    clock.advance(minutes=5)
    with central_server(sqlite_hub) as url:
        relay.central.close()
        relay.central = connect(office, sqlite_hub, url)
        back = relay.run_once()
        relay.central.close()
    assert back.error is None and back.pushed == 2
    log = sorted(incidents(office), key=lambda i: i["id"])
    assert len(log) == 2 and log[1]["ended_at"] == clock.now()
    up = status(office)
    assert (up["state"], up["queue_depth"], up["oldest_unsent_at"]) == ("up", 0, None)
    assert up["drain_rate_per_s"] == round(2 / 60, 2)
    assert relay.breaker.state.value == "up"


# == the event feed under concurrency ==========================================================

def test_an_event_committed_after_a_later_numbered_one_still_reaches_the_office(hub_node,  # noqa: ANN001
                                                                                backend) -> None:
    if backend != "postgresql":
        pytest.skip("SQLite lets one writer at a time: seq order is commit order there")
    import threading

    ops = Ops()
    emitted, pushed = threading.Event(), threading.Event()
    pages: list = []

    def slow_import() -> None:  # e.g. a bank-file import still running while an office pushes
        with hub_node.uow() as slow:
            service.emit(slow, kind="clearance", subject="x", office_code="MND",
                         payload={"kind": "payment_confirmed", "state": "confirmed", "reason": "r",
                                  "decided_at": "x"})
            emitted.set()
            time.sleep(0.5)  # the office's push waits behind the feed lock meanwhile
            pages.append(service.events(hub_node, office_code="MND", after=0, limit=1000))
            slow.commit()

    t = threading.Thread(target=slow_import)
    t.start()
    assert emitted.wait(5)
    new_application(hub_node, ops, nik=SITI.nik, name=SITI.full_name, birth="1990-08-05", sex="F")
    pushed.set()
    t.join(10)
    # Read as an office would, page after page from its cursor: nothing is skipped, and the feed
    # is in commit order (the import's event first: it committed first).
    assert pages[0].events == []  # no later-numbered event was visible before the import committed
    page = service.events(hub_node, office_code="MND", after=0, limit=1000)
    seen = [e["subject"] for e in page.events]
    assert seen[0] == "x" and len(seen) > 1
    assert [e["seq"] for e in page.events] == sorted(e["seq"] for e in page.events)
