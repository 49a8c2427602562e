"""Every endpoint checks its role (healthchecks' "a stranger should have no access").

The routes are read from the app itself, so a new route under /api/v1 fails these tests until
it is listed below with the permission it needs; the permission each route really checks is read
from its `require_<perm>` dependency and compared with the list, and the roles that hold it come
from `kanim/security/roles.py`."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from argon2 import PasswordHasher
from fastapi import FastAPI, routing
from fastapi.testclient import TestClient

from kanim.office import accounts
from kanim.security import passwords
from kanim.security.roles import GRANTS, Perm, Role
from kanim.seed import face_photo, fingerprint_image
from kanim.web.app import API, create_app

PROBLEM = "application/problem+json"
APP_ID = "00000000-0000-4000-8000-000000000000"  # no such application
PASSWORD = "correct-horse-battery"

# Every guarded route and the permission it must check.
PERMS: dict[tuple[str, str], Perm] = {
    ("GET", "/bookings/availability"): Perm.BOOK,
    ("POST", "/bookings"): Perm.BOOK,
    ("POST", "/walk-ins"): Perm.CHECK_IN,
    ("POST", "/applications/{application_id}/check-in"): Perm.CHECK_IN,
    ("GET", "/applications"): Perm.VIEW_APPLICATION,
    ("GET", "/applications/{application_id}"): Perm.VIEW_APPLICATION,
    ("PUT", "/applications/{application_id}/documents/{kind}"): Perm.INTAKE,
    ("GET", "/applications/{application_id}/documents"): Perm.INTAKE,
    ("GET", "/applications/{application_id}/checklist"): Perm.INTAKE,
    ("POST", "/applications/{application_id}/intake"): Perm.INTAKE,
    ("POST", "/applications/{application_id}/billing"): Perm.BILL,
    ("PUT", "/applications/{application_id}/photo"): Perm.CAPTURE,
    ("GET", "/applications/{application_id}/photo"): Perm.VIEW_BIOMETRICS,
    ("PUT", "/applications/{application_id}/fingerprints/{position}"): Perm.CAPTURE,
    ("POST", "/applications/{application_id}/fingerprints/{position}/exception"): Perm.CAPTURE,
    ("GET", "/applications/{application_id}/fingerprints/{position}"): Perm.VIEW_BIOMETRICS,
    ("GET", "/applications/{application_id}/biometrics"): Perm.VIEW_APPLICATION,
    ("POST", "/applications/{application_id}/capture"): Perm.CAPTURE,
    ("POST", "/applications/{application_id}/interview"): Perm.INTERVIEW,
    ("POST", "/applications/{application_id}/approve"): Perm.ADJUDICATE,
    ("POST", "/applications/{application_id}/reject"): Perm.ADJUDICATE,
    ("POST", "/applications/{application_id}/cancel"): Perm.ADJUDICATE,
    ("POST", "/applications/{application_id}/release-hold"): Perm.ADJUDICATE,
    ("POST", "/applications/{application_id}/print"): Perm.PRINT,
    ("GET", "/applications/{application_id}/data-page.png"): Perm.PRINT,
    ("POST", "/applications/{application_id}/quality-check"): Perm.PRINT,
    ("POST", "/applications/{application_id}/handover"): Perm.HANDOVER,
    ("GET", "/applications/{application_id}/receipt.pdf"): Perm.VIEW_APPLICATION,
    ("POST", "/payments"): Perm.BILL,
    ("POST", "/booklets/batches"): Perm.MANAGE_BOOKLETS,
    ("POST", "/booklets/{serial}/spoil"): Perm.MANAGE_BOOKLETS,
    ("GET", "/booklets/report"): Perm.MANAGE_BOOKLETS,
    ("GET", "/fees"): Perm.VIEW_SETTINGS,
    ("PUT", "/fees/{code}"): Perm.MANAGE_FEES,
    ("GET", "/holidays"): Perm.VIEW_SETTINGS,
    ("POST", "/holidays"): Perm.MANAGE_FEES,
    ("POST", "/users"): Perm.MANAGE_USERS,
    ("GET", "/users/locked"): Perm.MANAGE_USERS,
    ("POST", "/users/{username}/unlock"): Perm.MANAGE_USERS,
    ("POST", "/watchlist/snapshots"): Perm.MANAGE_WATCHLIST,
    ("GET", "/audit/verify"): Perm.VIEW_AUDIT,
    ("GET", "/outbox"): Perm.VIEW_AUDIT,
    ("GET", "/link/status"): Perm.VIEW_LINK,
    ("GET", "/link/dead-letters"): Perm.VIEW_LINK,
    ("POST", "/link/dead-letters/{op_id}/retry"): Perm.MANAGE_LINK,
    ("GET", "/link/incidents"): Perm.VIEW_LINK,
    ("GET", "/notify/status"): Perm.VIEW_NOTIFY,
    ("GET", "/notify/applications/{application_id}/messages"): Perm.VIEW_NOTIFY,
    ("GET", "/notify/rules"): Perm.VIEW_NOTIFY,
    ("PUT", "/notify/rules/{purpose}"): Perm.MANAGE_NOTIFY,
    ("GET", "/pickup/day"): Perm.HANDOVER,
    ("POST", "/pickup/extra"): Perm.MANAGE_PICKUP,
}
# Any logged-in staff member, whatever the role.
AUTH_ONLY = {("GET", "/auth/me"), ("POST", "/auth/logout")}
# No login at all: Meta's webhook proves itself with its signature (the SMS gateway's with its
# key, the Telegram bot's with its secret token), an applicant's pickup
# answer with the office's signed token (tests/integration/test_notify_*.py), the status lookup with
# the applicant's number and birth date, throttled (tests/integration/test_public_track.py).
PUBLIC = {("POST", "/auth/token"), ("GET", "/health"), ("GET", "/notify/whatsapp/webhook"),
          ("POST", "/notify/whatsapp/webhook"), ("POST", "/notify/sms/inbound"), ("POST", "/notify/telegram/webhook"),
          ("POST", "/pickup/answers/{code}"), ("POST", "/track")}

PATH_PARAMS = {"application_id": APP_ID, "kind": "ktp", "position": "1", "serial": "X1000001",
               "code": "passport.ordinary.5y", "op_id": "00000000-0000-4000-8000-000000000001",
               "username": "front_desk", "purpose": "ready", "code": "abc"}
APPLICANT = {"full_name": "Siti Rahmawati", "nik": "3171014508900001", "birth_date": "1990-08-05", "sex": "F"}
# A minimal body that passes validation, so that a role holding the permission gets past it.
JSON_BODIES: dict[tuple[str, str], dict[str, Any]] = {
    ("POST", "/bookings"): {"account_ref": "acc-1", "day": "2026-11-30", "slot": "08:00", "applicants": [APPLICANT]},
    ("POST", "/walk-ins"): APPLICANT,
    ("POST", "/applications/{application_id}/intake"): {},
    ("POST", "/applications/{application_id}/fingerprints/{position}/exception"): {"exception": "injured"},
    ("POST", "/applications/{application_id}/interview"): {"notes": "tourism"},
    ("POST", "/applications/{application_id}/reject"): {"reason": "test"},
    ("POST", "/applications/{application_id}/cancel"): {"reason": "test"},
    ("POST", "/applications/{application_id}/print"): {},
    ("POST", "/applications/{application_id}/quality-check"): {"passed": True},
    ("POST", "/applications/{application_id}/handover"): {"recipient_kind": "holder", "recipient_name": "Siti",
                                                          "id_checked": "KTP", "id_nik": "3171014508900001"},
    ("POST", "/payments"): {"billing_code": "812345678901234", "receipt_ref": "R1"},
    ("PUT", "/notify/rules/{purpose}"): {"enabled": True},
    ("POST", "/pickup/extra"): {"day": "2030-01-05", "slots": ["09:00"], "seats": 5},
    ("POST", "/booklets/batches"): {"first": "X1000001", "last": "X1000002"},
    ("POST", "/booklets/{serial}/spoil"): {"reason": "damaged_in_stock"},
    ("PUT", "/fees/{code}"): {"amount": 350_000},
    ("POST", "/holidays"): {"day": "2026-12-31", "name": "Test holiday"},
    ("POST", "/users"): {"username": "newcomer", "full_name": "New Comer", "role": "cashier",
                         "password": PASSWORD},
    ("POST", "/watchlist/snapshots"): {"taken_at": "2026-11-30T00:00:00Z", "orders": []},
}
QUERY = {("GET", "/bookings/availability"): {"day": "2026-11-30"}, ("GET", "/pickup/day"): {"day": "2026-11-30"}}


def _dependency_names(dependant: Any) -> Iterator[str]:  # noqa: ANN401
    for sub in dependant.dependencies:
        yield getattr(sub.call, "__name__", "")
        yield from _dependency_names(sub)


def api_routes(app: FastAPI) -> dict[tuple[str, str], set[str]]:
    """(method, path under /api/v1) → the names of the dependencies the route runs."""
    # FastAPI ≥ 0.16x keeps included routers lazily in app.routes; iter_route_contexts flattens them.
    contexts = routing.iter_route_contexts(app.routes) if hasattr(routing, "iter_route_contexts") else app.routes
    found: dict[tuple[str, str], set[str]] = {}
    for r in contexts:
        dependant = getattr(r, "dependant", None)
        path = getattr(r, "path", None) or ""
        if dependant is None or not path.startswith(API + "/"):
            continue
        for method in r.methods - {"HEAD"}:
            found[(method, path.removeprefix(API))] = set(_dependency_names(dependant))
    return found


def guard_of(deps: set[str]) -> Perm | None:
    perms = [Perm(n.removeprefix("require_")) for n in deps if n.startswith("require_")]
    assert len(perms) <= 1, perms
    return perms[0] if perms else None


def url(path: str) -> str:
    return API + path.format(**PATH_PARAMS)


def call(client: TestClient, method: str, path: str, token: str | None) -> Any:  # noqa: ANN401
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    key = (method, path)
    kwargs: dict[str, Any] = {"headers": headers, "params": QUERY.get(key)}
    if key in JSON_BODIES:
        kwargs["json"] = JSON_BODIES[key]
    elif method == "PUT" and path.endswith("/photo"):
        kwargs["files"] = {"file": ("face.jpg", face_photo(), "image/jpeg")}
    elif method == "PUT" and "/fingerprints/" in path:
        kwargs["files"] = {"file": ("finger.png", fingerprint_image(), "image/png")}
    elif method == "PUT" and "/documents/" in path:
        kwargs["files"] = {"file": ("ktp.jpg", face_photo(), "image/jpeg")}
    return client.request(method, url(path), **kwargs)


@pytest.fixture
def client(sqlite_office):  # noqa: ANN001, ANN201
    with TestClient(create_app(sqlite_office)) as c:
        yield c


@pytest.fixture
def tokens(sqlite_office, client, monkeypatch) -> dict[Role, str]:  # noqa: ANN001
    # One account per role in every test: a cheap Argon2 cost keeps that fast (as Django's tests
    # swap in a fast hasher); the hashing itself is not what these tests are about.
    monkeypatch.setattr(passwords, "_hasher", PasswordHasher(time_cost=1, memory_cost=8, parallelism=1))
    out = {}
    for role in Role:
        accounts.add_user(sqlite_office, username=role.value, full_name=f"Test {role.value}", role=role.value,
                          password=PASSWORD)
        r = client.post(f"{API}/auth/token", json={"username": role.value, "password": PASSWORD})
        assert r.status_code == 200, r.text
        assert r.json()["role"] == role.value
        out[role] = r.json()["access_token"]
    return out


# -- the table is complete and true ----------------------------------------------------------


def test_every_route_is_listed_with_its_permission(sqlite_office) -> None:  # noqa: ANN001
    routes = api_routes(create_app(sqlite_office))
    assert len(routes) >= 40
    unlisted = set(routes) - set(PERMS) - AUTH_ONLY - PUBLIC
    assert unlisted == set(), f"routes with no entry in PERMS (add one, with its permission): {sorted(unlisted)}"
    gone = (set(PERMS) | AUTH_ONLY | PUBLIC) - set(routes)
    assert gone == set(), f"listed routes the app no longer has: {sorted(gone)}"


def test_each_route_checks_the_permission_listed_for_it(sqlite_office) -> None:  # noqa: ANN001
    routes = api_routes(create_app(sqlite_office))
    checked = {key: guard_of(deps) for key, deps in routes.items()}
    assert {k: v for k, v in checked.items() if k in PERMS} == PERMS
    assert all(checked[k] is None and "current_user" in routes[k] for k in AUTH_ONLY)
    assert all("current_user" not in routes[k] for k in PUBLIC)


def test_only_login_and_health_are_open_without_a_session(sqlite_office) -> None:  # noqa: ANN001
    routes = api_routes(create_app(sqlite_office))
    open_routes = {k for k, deps in routes.items() if "current_user" not in deps}
    assert open_routes == PUBLIC


def test_every_permission_is_held_by_some_role_and_withheld_from_another() -> None:
    for perm in Perm:
        assert GRANTS[perm], perm
        assert set(Role) - GRANTS[perm], perm


# -- the checks at work ----------------------------------------------------------------------


def test_every_route_refuses_a_role_without_its_permission(client, tokens) -> None:  # noqa: ANN001
    wrong: list[str] = []
    calls = 0
    for (method, path), perm in PERMS.items():
        for role in sorted(set(Role) - GRANTS[perm]):
            r = call(client, method, path, tokens[role])
            calls += 1
            if r.status_code != 403 or not r.headers["content-type"].startswith(PROBLEM):
                wrong.append(f"{method} {path} as {role.value}: {r.status_code} {r.headers['content-type']}")
                continue
            body = r.json()
            if (body["status"], body["code"]) != (403, "forbidden") or role.value not in body["detail"]:
                wrong.append(f"{method} {path} as {role.value}: problem {body}")
    assert wrong == []
    assert calls > 150


def test_every_guarded_route_asks_for_a_login_without_a_token(client) -> None:  # noqa: ANN001
    wrong = []
    for method, path in [*PERMS, *AUTH_ONLY]:
        r = call(client, method, path, None)
        ok = (r.status_code == 401 and r.headers["content-type"].startswith(PROBLEM)
              and r.json()["code"] == "not-authenticated" and r.headers.get("www-authenticate") == "Bearer")
        if not ok:
            wrong.append(f"{method} {path}: {r.status_code} {r.headers['content-type']}")
    assert wrong == []


def test_every_guarded_route_refuses_an_unknown_token(client, tokens) -> None:  # noqa: ANN001
    wrong = [f"{m} {p}" for m, p in [*PERMS, *AUTH_ONLY]
             if call(client, m, p, "not-a-real-token").status_code != 401]
    assert wrong == []


def test_a_logged_out_token_no_longer_opens_anything(client, tokens) -> None:  # noqa: ANN001
    token = tokens[Role.SUPERVISOR]
    assert call(client, "GET", "/auth/me", token).json()["role"] == "supervisor"
    assert call(client, "POST", "/auth/logout", token).status_code == 204
    assert call(client, "GET", "/auth/me", token).status_code == 401
    assert call(client, "GET", "/audit/verify", token).status_code == 401


def test_every_role_may_see_who_it_is(client, tokens) -> None:  # noqa: ANN001
    for role, token in tokens.items():
        r = call(client, "GET", "/auth/me", token)
        assert r.status_code == 200 and r.json()["role"] == role.value


def test_a_role_holding_the_permission_gets_past_the_check(client, tokens) -> None:  # noqa: ANN001
    wrong = []
    for (method, path), perm in PERMS.items():
        for role in sorted(GRANTS[perm]):
            r = call(client, method, path, tokens[role])
            if r.status_code in (401, 403) or r.status_code >= 500:
                wrong.append(f"{method} {path} as {role.value}: {r.status_code} {r.text[:200]}")
            elif ("{application_id}" in path or "{op_id}" in path) and r.status_code != 404:
                # Past the permission check, the use case looks the dummy id up and finds nothing.
                wrong.append(f"{method} {path} as {role.value}: {r.status_code}, expected 404 {r.text[:200]}")
    assert wrong == []


def test_a_role_holding_the_permission_really_acts(client, tokens) -> None:  # noqa: ANN001
    booked = call(client, "POST", "/bookings", tokens[Role.FRONT_DESK])
    assert booked.status_code == 201, booked.text
    app_id = booked.json()["applications"][0]["id"]
    seen = client.get(f"{API}/applications/{app_id}", headers={"Authorization": f"Bearer {tokens[Role.CASHIER]}"})
    assert seen.status_code == 200 and seen.json()["stage"] == "booked"
    report = call(client, "GET", "/audit/verify", tokens[Role.ADMIN])
    assert report.status_code == 200 and report.json()["ok"] is True


def test_a_role_that_may_change_fees_and_holidays_may_read_them(client, tokens) -> None:  # noqa: ANN001
    for role in GRANTS[Perm.MANAGE_FEES]:
        for path in ("/fees", "/holidays"):
            assert call(client, "GET", path, tokens[role]).status_code == 200, (role, path)


@pytest.mark.parametrize("day", ["0", "1796112000", "2026-13-01", "20261201", "2026-12-01T00:00"])
def test_a_day_in_a_query_is_an_iso_date_or_refused(client, tokens, day) -> None:  # noqa: ANN001
    """schemathesis found `GET /pickup/day?day=0` answered 200 (pydantic read 0 as 1970-01-01):
    every day in a query is the wire's IsoDate."""
    headers = {"Authorization": f"Bearer {tokens[Role.PICKUP_DESK]}"}
    for path in ("/pickup/day", "/bookings/availability"):
        token = tokens[Role.FRONT_DESK] if path.startswith("/bookings") else tokens[Role.PICKUP_DESK]
        r = client.get(f"{API}{path}", params={"day": day}, headers={**headers, "Authorization": f"Bearer {token}"})
        assert r.status_code == 422 and r.headers["content-type"].startswith("application/problem+json"), (path, r.text)
