"""schemathesis against a real `kanim serve` office: every operation of its own OpenAPI document,
with generated valid and invalid requests, sent as each staff role in turn (sessions from POST
/api/v1/auth/token) and without a session, and every answer checked by all of schemathesis's
checks (server errors, status codes, content types, headers and bodies against the schema,
valid data accepted, invalid data refused, auth not ignored, ...).

One generated request is sent as one role that may make it and, turn about, without a session
or as a role that may not (each the next in turn): generating is the slow part, and the roles
see different answers to the same request (201 for the desk that may, 403 for the others). Operations on one
application work on a real walk-in. Examples per operation and phase are bounded (EXAMPLES):
the whole run takes about a minute on the 2-core machine.

A check is switched off for one operation only, in SKIPPED_CHECKS, with the reason beside it.
"""

from __future__ import annotations

import itertools
import re
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, settings

from kanim.security.roles import Perm, Role, allowed
from kanim.web.app import API
from kanim.web.contract import walk
from kanim.web.idempotency import HEADER, KEY_PATTERN
from tests.e2e.conftest import ROLES, password_for

EXAMPLES = 2  # per operation and generation phase (8 took ~95 s of `make test`, 3 about half that, 2 a third)
SPARE_SESSIONS = 2 * EXAMPLES + 8  # POST /auth/logout's cases: its coverage, examples and fuzzing phases

# (method, path) → {check name: why it cannot hold for this operation}
ACCEPTS = "positive_data_acceptance"
SKIPPED_CHECKS: dict[tuple[str, str], dict[str, str]] = {
    ("POST", "/api/v1/walk-ins"): {ACCEPTS: "a NIK must agree with the sex and birth date beside it (nik-sex-mismatch, "
                                   "nik-birthdate-mismatch) and encode a real region and day: no JSON Schema says that"},
    ("POST", "/api/v1/bookings"): {ACCEPTS: "the NIK rules as for walk-ins, and the office's calendar (office-closed, "
                                   "booking-in-past, slot-unknown) is the office's, not the schema's"},
    ("POST", "/api/v1/payments"): {ACCEPTS: "a billing code's last digit is a Luhn check digit "
                                   "(billing-code-check-digit): a pattern cannot compute it"},
    ("POST", "/api/v1/booklets/batches"): {ACCEPTS: "first and last must be one series, in order, at most 5,000 apart "
                                           "(booklet-range): relations between two fields"},
    ("POST", "/api/v1/pickup/extra"): {ACCEPTS: "extra service opens on a later day than today, once per day "
                                       "(pickup-extra-past, pickup-extra-exists): the office's calendar"},
    ("POST", "/api/v1/watchlist/snapshots"): {ACCEPTS: "an order may not end before it starts (watchlist-dates): a "
                                              "relation between two fields"},
    ("PUT", "/api/v1/applications/{application_id}/documents/{kind}"): {
        ACCEPTS: "a scan must be a JPEG, PNG or PDF by its first bytes (scan-type): the file's content"},
    ("PUT", "/api/v1/applications/{application_id}/photo"): {
        ACCEPTS: "a passport photo must show one face on a plain background at 400x400 px or more: the image itself"},
    ("PUT", "/api/v1/applications/{application_id}/fingerprints/{position}"): {
        ACCEPTS: "a fingerprint must be an image of at least 256x256 px with ridges: the image itself"},
}


@dataclass(frozen=True)
class Sessions:
    api: str
    headers: dict[str, dict[str, str]]  # role → Authorization header; "anonymous" → none
    spare: list[dict[str, str]]  # sessions for POST /auth/logout to end, one per call


@pytest.fixture(scope="module")
def sessions(contract_server) -> Sessions:  # noqa: ANN001
    """A session per role, and spare ones for logging out, all opened over HTTP before the
    fuzzing starts: by then its failed logins may have the office throttle this address."""
    api = contract_server.api
    with ThreadPoolExecutor(2) as pool:
        spare = list(pool.map(lambda i: _log_in(api, ROLES[i % len(ROLES)]), range(SPARE_SESSIONS)))
    return Sessions(api, {"anonymous": {}, **{r: _log_in(api, r) for r in ROLES}}, spare)


def _sessions_for(case, sessions: Sessions) -> list[dict[str, str]]:  # noqa: ANN001
    """The sessions one generated request is sent with: a role that may make it, and, turn
    about, no session or a role that may not, each the next in turn, so that over the run every
    role has its go (every role on every request cost twice the time; which role may do what is
    test_permissions.py's). A method the path does not have (the coverage phase's "unspecified
    HTTP method" cases, a fifth of them) is sent once, without a session. Logging in is sent without a session only (each attempt costs an Argon2
    hash); logging out ends the session it is sent with, so it gets one opened for it."""
    key, turn = (case.method.upper(), case.path), next(_turns)
    anonymous = sessions.headers["anonymous"]
    if key == ("POST", "/api/v1/auth/token") or case.method.upper() not in OPERATIONS.get(case.path, {key[0]}):
        return [anonymous]  # a method the path does not have is 405 before any session is read
    if key == ("POST", "/api/v1/auth/logout"):
        return [anonymous, sessions.spare.pop() if sessions.spare else _log_in(sessions.api, ROLES[turn % len(ROLES)])]
    perm = PERMISSIONS.get(key)
    if perm is None:  # any session will do (/auth/me, /health)
        return [anonymous, sessions.headers[ROLES[turn % len(ROLES)]]]
    may = [r for r in ROLES if allowed(Role(r), perm)]
    may_not = [r for r in ROLES if r not in may]
    # A role that may, always; then, turn about, no session or a role that may not.
    headers = [sessions.headers[may[turn % len(may)]]] if may else []
    if turn % 2 == 0 or not may_not:
        return [anonymous] + headers
    return headers + [sessions.headers[may_not[(turn // 2) % len(may_not)]]]


def _log_in(api: str, role: str) -> dict[str, str]:
    r = httpx.post(f"{api}/auth/token", json={"username": role, "password": password_for(role)}, timeout=30)
    assert r.status_code == 200, r.text
    return {"Authorization": f"Bearer {r.json()['access_token']}"}


def _walk_in(server) -> str:  # noqa: ANN001
    """A real application for the operations on one: generated ids would only ever be 404."""
    from tests.e2e.desks import walk_in

    return walk_in(server)["id"]


def _permissions() -> dict[tuple[str, str], Perm | None]:
    """(method, path) → the permission its route checks, read from kanim's routers."""
    from kanim.web.routers import applications, auth, booking, link, office

    out: dict[tuple[str, str], Perm | None] = {}
    for module in (applications, auth, booking, link, office):
        for route in module.router.routes:
            perm = next((d.call.kanim_perm for d in walk(route.dependant) if hasattr(d.call, "kanim_perm")), None)
            for method in route.methods:
                out[(method, API + route.path)] = perm
    return out


PERMISSIONS = _permissions()
OPERATIONS: dict[str, set[str]] = {}  # path → the methods it has
for _method, _path in PERMISSIONS:
    OPERATIONS.setdefault(_path, set()).add(_method)
_turns = itertools.count()


def _fresh_idempotency_key(case) -> None:  # noqa: ANN001
    """A well-formed generated Idempotency-Key becomes a new one for each generated request:
    hypothesis draws the same few values again and again, and a key sent again with another
    body is rightly refused (422 idempotency-key-reused, tested in test_idempotency.py) where
    this check expects the request to be taken. Malformed keys stay, to be refused."""
    value = (case.headers or {}).get(HEADER)
    if isinstance(value, str) and re.fullmatch(KEY_PATTERN, value):
        case.headers[HEADER] = f"st-{uuid.uuid4()}"


@pytest.fixture(scope="module")
def office_schema(contract_server, sessions):  # noqa: ANN001, ANN201
    s = schemathesis.openapi.from_url(f"{contract_server.base_url}/openapi.json")
    s.config.update(base_url=contract_server.base_url, parameters={"application_id": _walk_in(contract_server)})
    return s


@pytest.fixture(autouse=True)
def _node_id_for_schemathesis(request: pytest.FixtureRequest) -> None:
    """schemathesis 4.32's lazy schemas rename the test's node per operation through
    `node._nodeid`, which pytest 9.2 no longer has: give it one."""
    if not hasattr(request.node, "_nodeid"):
        request.node._nodeid = request.node.nodeid


schema = schemathesis.pytest.from_fixture("office_schema")


@schema.parametrize()
@settings(max_examples=EXAMPLES, deadline=None, derandomize=True, print_blob=True,
          suppress_health_check=list(HealthCheck))
def test_the_office_api_keeps_its_contract_for_every_role(case, sessions) -> None:  # noqa: ANN001
    skipped = SKIPPED_CHECKS.get((case.method.upper(), case.path), {})
    excluded = [c for c in schemathesis.checks.CHECKS.get_all() if getattr(c, "__name__", "") in skipped]
    _fresh_idempotency_key(case)
    for headers in _sessions_for(case, sessions):
        case.call_and_validate(headers=headers, excluded_checks=excluded, timeout=30)
