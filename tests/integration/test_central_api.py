"""The central hub's staff API: every route checks its role, the national view, and lifting a
flag after review (the only way a flagged clearance becomes confirmed)."""

from __future__ import annotations

from datetime import date

import pytest
from fastapi.testclient import TestClient

from kanim.central import service
from kanim.central.api import create_central_app
from kanim.domain.application import Stage
from kanim.link.relay import Relay
from kanim.office import accounts
from kanim.security import passwords
from kanim.security.roles import GRANTS, Perm, Role
from kanim.seed import advance
from tests.conftest import make_office
from tests.integration.test_workflow import SITI, book_one
from tests.link_fixtures import central_server, connect, make_central

PASSWORD = "central-staff-password"
# Every staff route of the central and the permission it needs (the link routes are signed by
# offices instead, see test_central.py).
ROUTES = {
    ("POST", "/api/v1/watchlist/orders"): Perm.MANAGE_CENTRAL_WATCHLIST,
    ("DELETE", "/api/v1/watchlist/orders/x"): Perm.MANAGE_CENTRAL_WATCHLIST,
    ("POST", "/api/v1/offices"): Perm.MANAGE_OFFICES,
    ("GET", "/api/v1/offices"): Perm.NATIONAL_VIEW,
    ("POST", "/api/v1/booklets/allocations"): Perm.MANAGE_OFFICES,
    ("POST", "/api/v1/registry/applications/x/clearances/watchlist_clear/lift"): Perm.LIFT_FLAG,
    ("GET", "/api/v1/payments/issues"): Perm.NATIONAL_VIEW,
    ("GET", "/api/v1/registry/applications/x/biometrics/0?purpose=review"): Perm.VIEW_REGISTRY_BIOMETRICS,
    ("GET", "/api/v1/users/locked"): Perm.MANAGE_USERS,
    ("POST", "/api/v1/users/watchlist/unlock"): Perm.MANAGE_USERS,
}


@pytest.fixture
def node(tmp_path, clock, monkeypatch):  # noqa: ANN001, ANN201
    # Cheap hashes: this file makes many accounts; the hashing itself is tested elsewhere.
    from argon2 import PasswordHasher

    monkeypatch.setattr(passwords, "_hasher", PasswordHasher(time_cost=1, memory_cost=8, parallelism=1))
    n = make_central(tmp_path, clock=clock, central_treasury="trusting")
    for role in Role:
        accounts.add_user(n, username=role.value, full_name=role.value, role=role.value, password=PASSWORD)
    yield n
    n.engine.dispose()


@pytest.fixture
def client(node) -> TestClient:  # noqa: ANN001
    return TestClient(create_central_app(node))


def token(client: TestClient, role: Role) -> dict[str, str]:
    r = client.post("/api/v1/auth/token", json={"username": role.value, "password": PASSWORD})
    return {"authorization": f"Bearer {r.json()['access_token']}"}


def test_the_route_table_covers_every_staff_route(client) -> None:  # noqa: ANN001
    from tests.integration.test_permissions import api_routes

    staff = {(m, p) for m, p in api_routes(client.app) if not p.startswith(("/link/", "/auth/"))
             and p != "/health"}
    listed = {(m, p.removeprefix("/api/v1").split("?")[0].replace("/x/", "/{application_id}/")
               .replace("orders/x", "orders/{order_id}").replace("clearances/watchlist_clear", "clearances/{kind}")
               .replace("biometrics/0", "biometrics/{position}").replace("users/watchlist/", "users/{username}/"))
              for m, p in ROUTES}
    assert staff == listed


def test_every_staff_route_refuses_the_wrong_role_and_the_anonymous(client) -> None:  # noqa: ANN001
    tokens = {role: token(client, role) for role in Role}
    for (method, path), perm in ROUTES.items():
        assert client.request(method, path, json={}).status_code == 401, path
        for role in Role:
            r = client.request(method, path, json={}, headers=tokens[role])
            if role in GRANTS[perm]:
                assert r.status_code != 403, (path, role)
            else:
                assert r.status_code == 403, (path, role, r.status_code)
                assert r.headers["content-type"] == "application/problem+json"


def test_the_national_view_shows_each_offices_link_backlog_and_oldest_item(tmp_path, clock, node, client) -> None:  # noqa: ANN001
    office, _ = make_office(tmp_path, "sqlite", clock, None)
    with central_server(node) as url:
        relay = Relay(office, connect(office, node, url))
        service.register_office(node, code="SBY", name="Kanim Surabaya", public_key=_other_key(tmp_path),
                                actor="admin")
        app = book_one(office)
        advance(office, app.id, "captured", app_type=app.app_type)
        relay.run_once()
    view = {o["code"]: o for o in client.get("/api/v1/offices", headers=token(client, Role.SUPERVISOR)).json()}
    assert view["MND"]["link_state"] == "up" and view["MND"]["backlog_by_stage"] == {"captured": 1}
    assert view["MND"]["oldest_waiting_since"] is not None
    assert view["SBY"]["link_state"] == "never" and view["SBY"]["backlog_by_stage"] == {}


def test_a_flag_is_lifted_only_by_a_reviewed_decision(tmp_path, clock, node, client) -> None:  # noqa: ANN001
    office, _ = make_office(tmp_path, "sqlite", clock, None)
    csv = tmp_path / "dukcapil.csv"
    csv.write_text("nik,full_name,birth_date,sex\n3171014508900001,Siti Rahmawati,1990-08-05,F\n")
    service.load_civil_registry(node, csv)
    oid = service.add_watchlist_order(node, service.Order("nik", SITI.nik, "prevention", "KPK", date(2026, 11, 1),
                                                          date(2027, 3, 1), "case 7"), actor="watchlist")
    with central_server(node) as url:
        relay = Relay(office, connect(office, node, url))
        app = book_one(office)
        advance(office, app.id, "intake_done", app_type=app.app_type)
        for _ in range(3):
            relay.run_once()
        assert _app(office, app.id).stage is Stage.ON_HOLD
        service.revoke_watchlist_order(node, oid, actor="watchlist")
        relay.run_once()
        assert _app(office, app.id).clearances.watchlist_clear.value == "flagged"  # revoking is not lifting
        r = client.post(f"/api/v1/registry/applications/{app.id}/clearances/watchlist_clear/lift",
                        json={"reason": "order revoked by KPK letter 12/2026"}, headers=token(client, Role.SUPERVISOR))
        assert r.status_code == 202, r.text
        relay.run_once()
    got = _app(office, app.id)
    assert got.clearances.watchlist_clear.value == "confirmed"
    assert got.stage is Stage.ON_HOLD  # the office's supervisor still decides to release it


def _app(office, app_id):  # noqa: ANN001, ANN202
    with office.uow() as uow:
        return uow.applications.get(app_id)


def _other_key(tmp_path) -> str:  # noqa: ANN001
    from kanim.protocol.signing import load_or_create_key, public_b64

    return public_b64(load_or_create_key(tmp_path / "sby" / "key.pem"))


def test_an_order_issued_after_intake_still_stops_the_handover(tmp_path, clock, node) -> None:  # noqa: ANN001
    office, _ = make_office(tmp_path, "sqlite", clock, None)
    csv = tmp_path / "dukcapil.csv"
    csv.write_text("nik,full_name,birth_date,sex\n3171014508900001,Siti Rahmawati,1990-08-05,F\n")
    service.load_civil_registry(node, csv)
    with central_server(node) as url:
        relay = Relay(office, connect(office, node, url))
        app = book_one(office)
        advance(office, app.id, "intake_done", app_type=app.app_type)
        relay.run_once()
        relay.run_once()
        assert _app(office, app.id).clearances.watchlist_clear.value == "confirmed"
        service.add_watchlist_order(node, service.Order("nik", SITI.nik, "temporary", "Polri", date(2026, 11, 20),
                                                        date(2026, 12, 5), "case 9"), actor="watchlist")
        relay.run_once()
    got = _app(office, app.id)
    assert got.clearances.watchlist_clear.value == "flagged" and got.stage is Stage.ON_HOLD
    assert "Polri" in got.hold_reason


def test_a_rebuilt_central_without_its_registry_yet_flags_nothing_that_offices_resend(tmp_path, clock) -> None:  # noqa: ANN001
    office, _ = make_office(tmp_path, "sqlite", clock, None)
    first = make_central(tmp_path / "a", clock=clock, central_treasury="trusting")
    csv = tmp_path / "dukcapil.csv"
    csv.write_text("nik,full_name,birth_date,sex\n3171014508900001,Siti Rahmawati,1990-08-05,F\n")
    service.load_civil_registry(first, csv)
    with central_server(first) as url:
        relay = Relay(office, connect(office, first, url))
        app = book_one(office)
        advance(office, app.id, "intake_done", app_type=app.app_type)
        relay.run_once()
        relay.run_once()
    assert _app(office, app.id).clearances.nik_verified.value == "confirmed"
    first.engine.dispose()
    clock.advance(minutes=1)
    empty = make_central(tmp_path / "b", clock=clock, central_treasury="trusting")  # no registry loaded yet
    with central_server(empty) as url:
        relay = Relay(office, connect(office, empty, url))
        service.rebuild(empty, actor="ops")
        for _ in range(4):
            relay.run_once()
    got = _app(office, app.id)
    assert got.stage is Stage.INTAKE_DONE and got.clearances.nik_verified.value == "confirmed"
    assert [e for e in got.events if e.name == "ApplicationPutOnHold"] == []
    empty.engine.dispose()


def test_a_forged_decision_is_refused_by_the_office(tmp_path, clock, node) -> None:  # noqa: ANN001
    """A proxy between office and central cannot open the handover gate: every event of the
    central's feed is signed, and the office refuses one that does not verify."""
    from kanim.link import inbox
    from kanim.protocol.signing import public_b64
    from kanim.protocol.wire import CentralEvent, InboxPage

    office, _ = make_office(tmp_path, "sqlite", clock, None)
    office.settings.central_public_key = public_b64(node.signing_key)
    app = book_one(office)
    advance(office, app.id, "intake_done", app_type=app.app_type)
    forged = CentralEvent("forged-1", "clearance", app.id, {"kind": "recorded_centrally", "state": "confirmed",
                                                             "reason": "trust me", "decided_at": clock.now().isoformat()})
    assert inbox.apply_page(office, InboxPage([forged], 1)) == {"blocked": 1}
    assert _app(office, app.id).clearances.recorded_centrally.value == "pending"
    with office.uow() as uow:  # the cursor waits before it, and says why
        assert inbox.get_state(uow, inbox.CURSOR) == "0"
        assert "does not verify" in inbox.feed_blocked(uow)["why"]
