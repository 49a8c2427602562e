"""What the console tests of the capture, interview and supervisor desks share: an office with
one account per role, applications walked to a stage through the real use cases, and a central
decision applied as the link applies it."""

from __future__ import annotations

import re
import uuid
from datetime import date

from fastapi.testclient import TestClient

from kanim.bootstrap import Office
from kanim.domain.application import Application
from kanim.domain.clearances import ClearanceKind, ClearanceState
from kanim.domain.passport import ApplicationType, PassportKind
from kanim.domain.people import Sex
from kanim.office import accounts, booking
from kanim.office.clearances import apply_decision
from kanim.protocol.wire import ClearanceDecision
from kanim.seed import advance
from kanim.security import passwords
from kanim.web.app import create_app
from tests.conftest import make_office

PASSWORD = "console-test-password"
ROLES = ("front_desk", "cashier", "biometric_operator", "interviewer", "supervisor", "print_operator", "admin")
PEOPLE = [
    ("Siti Rahmawati", Sex.F, date(1990, 8, 5), "3171014508900001"),
    ("Budi Santoso", Sex.M, date(1985, 3, 12), "3578011203850002"),
    ("Agus Salim", Sex.M, date(1969, 11, 30), "3273013011690005"),
    ("Rina Marlina", Sex.F, date(1983, 10, 10), "3174015010830011"),
]


def staff_office(tmp_path, clock, monkeypatch) -> Office:  # noqa: ANN001
    """A whole office on SQLite with one account per role (username = role)."""
    from argon2 import PasswordHasher

    monkeypatch.setattr(passwords, "_hasher", PasswordHasher(time_cost=1, memory_cost=8, parallelism=1))
    office, _ = make_office(tmp_path, "sqlite", clock, None)
    for role in ROLES:
        accounts.add_user(office, username=role, full_name=f"{role} person", role=role, password=PASSWORD)
    return office


def applicant(i: int = 0) -> booking.Applicant:
    name, sex, born, nik = PEOPLE[i]
    return booking.Applicant(full_name=name, nik=nik, birth_date=born, sex=sex, app_type=ApplicationType.NEW,
                             passport_kind=PassportKind.ORDINARY, kk_number=f"{nik[:6]}10{nik[-8:]}")


def at_stage(office: Office, stage: str, i: int = 0, a: booking.Applicant | None = None) -> Application:
    """A booked application walked by the seed's steps up to `stage` (booked, checked_in,
    intake_done, paid, captured, interviewed, approved...)."""
    app = booking.book(office, account_ref=f"acc-{i}", day=date(2026, 11, 30), slot="08:00",
                       applicants=[a or applicant(i)], actor="front_desk")[0]
    if stage != "booked":
        advance(office, app.id, stage, app_type=app.app_type)
    return get(office, app.id)


def get(office: Office, application_id: str) -> Application:
    with office.uow(readonly=True) as uow:
        return uow.applications.get(application_id)


def central_decision(office: Office, application_id: str, kind: ClearanceKind, state: ClearanceState,
                     reason: str, *, lifts_flag: bool = False) -> None:
    """A decision of the central, applied as the link's inbox applies it."""
    with office.uow() as uow:
        apply_decision(uow, ClearanceDecision(str(uuid.uuid4()), application_id, kind, state, reason,
                                              uow.now(), lifts_flag=lifts_flag))
        uow.commit()


def client(office: Office) -> TestClient:
    return TestClient(create_app(office), base_url="http://kanim.test")


def log_in(c: TestClient, username: str) -> TestClient:
    page = c.get("/staff/login")
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)
    r = c.post("/staff/login", data={"username": username, "password": PASSWORD, "csrf_token": token},
               follow_redirects=False)
    assert r.status_code == 303, r.text
    return c


def as_role(office: Office, username: str) -> TestClient:
    return log_in(client(office), username)


def csrf(c: TestClient, path: str = "/staff/") -> str:
    """The page's CSRF token (every page of a logged-in desk carries it in <body hx-headers>)."""
    r = c.get(path, follow_redirects=True)
    return re.search(r'"X-CSRF-Token": "([^"]+)"', r.text).group(1)


def htmx(token: str, form: str, key: str | None = None, target: str | None = None) -> dict[str, str]:
    """The headers htmx sends for a form: the CSRF token, the form's id, maybe its key and target."""
    h = {"HX-Request": "true", "HX-Trigger": form, "X-CSRF-Token": token}
    if key:
        h["Idempotency-Key"] = key
    if target:
        h["HX-Target"] = target
    return h


def field_error(html: str, form: str, name: str) -> str | None:
    """The words shown beside a field (`#<form>-err-<name>`, swapped out of band), or None."""
    m = re.search(rf'id="{form}-err-{name}" class="field-error" hx-swap-oob="true">([^<]*)<', html)
    return m.group(1).strip() if m else None
