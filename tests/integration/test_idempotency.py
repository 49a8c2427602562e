"""Idempotency-Key claims where a real server cannot be made to fail on cue: the process dying
between the change's commit and the answer's record, a request whose lease ran out, two claims
racing, and the time keys are kept. The office runs in-process (TestClient, fake clock) on SQLite
and, when KANIM_TEST_POSTGRES_URL is set, on PostgreSQL. The happy paths run over real HTTP in
tests/e2e/test_idempotency.py."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from argon2 import PasswordHasher
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from kanim.domain.errors import Conflict
from kanim.office import accounts
from kanim.security import passwords
from kanim.store import idempotency as store
from kanim.store import tables as t
from kanim.store import uow as uow_module
from kanim.web.app import API, create_app
from kanim.web.idempotency import Holder

APPLICANT = {"full_name": "Siti Rahmawati", "nik": "3171014508900001", "birth_date": "1990-08-05", "sex": "F"}
PASSWORD = "correct-horse-battery"


@pytest.fixture
def desk(office, monkeypatch):  # noqa: ANN001, ANN201
    """A front desk's client, on a server that does not raise its errors into the test."""
    monkeypatch.setattr(passwords, "_hasher", PasswordHasher(time_cost=1, memory_cost=8, parallelism=1))
    accounts.add_user(office, username="fd", full_name="Front Desk", role="front_desk", password=PASSWORD)
    with TestClient(create_app(office), raise_server_exceptions=False) as c:
        log_in(c)
        yield c


def log_in(desk) -> None:  # noqa: ANN001
    token = desk.post(f"{API}/auth/token", json={"username": "fd", "password": PASSWORD}).json()["access_token"]
    desk.headers["Authorization"] = f"Bearer {token}"


def applications(office) -> int:  # noqa: ANN001
    with office.session_factory() as s:
        return s.execute(select(func.count()).select_from(t.application)).scalar_one()


def walk_in(desk, key: str, applicant: dict = APPLICANT):  # noqa: ANN001, ANN201
    return desk.post(f"{API}/walk-ins", json=applicant, headers={"Idempotency-Key": key})


def test_a_walk_in_whose_answer_was_lost_is_never_made_twice(office, desk, clock, monkeypatch) -> None:  # noqa: ANN001
    """The process dies between the walk-in's commit and the answer's record (here: recording it
    fails). The claim was marked applied in the walk-in's own transaction, so a retry is never
    run again: 409 while the lease lasts, then 409 idempotency-answer-lost."""
    def die(*_a, **_k) -> None:
        raise RuntimeError("the process died here")

    monkeypatch.setattr(store, "store_answer", die)
    assert walk_in(desk, "lost-1").status_code == 500
    assert store.stored(office.session_factory, username="fd", key="lost-1")["state"] == "applied"
    monkeypatch.undo()

    r = walk_in(desk, "lost-1")
    assert (r.status_code, r.json()["code"], r.headers["retry-after"]) == (409, "idempotency-key-in-flight", "1")
    clock.advance(seconds=store.LEASE.total_seconds() + 1)
    r = walk_in(desk, "lost-1")
    assert (r.status_code, r.json()["code"]) == (409, "idempotency-answer-lost")
    assert applications(office) == 1


def test_a_claim_abandoned_before_any_change_is_taken_over_and_its_old_owner_cannot_commit(
        office, desk, clock, monkeypatch) -> None:  # noqa: ANN001
    """A request claimed the key and died before changing anything (here: the walk-in fails and
    nothing cleans up after it); after its lease the retry runs. Had the first request only been
    slow, its change now fails instead of happening twice."""
    from kanim.web.routers import booking as booking_routes

    def die(*_a, **_k) -> None:
        raise RuntimeError("the process died here")

    monkeypatch.setattr(booking_routes.booking, "walk_in", die)
    monkeypatch.setattr(store, "release", lambda *_a, **_k: None)
    assert walk_in(desk, "slow-1").status_code == 500
    monkeypatch.undo()
    row = store.stored(office.session_factory, username="fd", key="slow-1")
    assert row["state"] == "in_flight" and applications(office) == 0

    assert walk_in(desk, "slow-1").json()["code"] == "idempotency-key-in-flight"
    clock.advance(seconds=store.LEASE.total_seconds() + 1)
    taken = walk_in(desk, "slow-1")
    assert taken.status_code == 201, taken.text
    assert walk_in(desk, "slow-1").headers["idempotent-replayed"] == "true"
    assert applications(office) == 1

    first_owner = store.Claim("fd", "slow-1", owner=row["owner"])
    token = uow_module.joining.set(Holder(first_owner))
    try:
        with office.uow() as uow, pytest.raises(Conflict) as refused:
            uow.audit(actor="fd", action="SlowChange", subject="x")
            uow.commit()
    finally:
        uow_module.joining.reset(token)
    assert refused.value.code == "idempotency-key-in-flight"
    assert applications(office) == 1


def test_two_requests_racing_for_a_new_key_get_one_claim(office, clock) -> None:  # noqa: ANN001
    barrier = threading.Barrier(4)
    found: list[store.Found] = []

    def race() -> None:
        barrier.wait()
        found.append(store.claim(office.session_factory, username="fd", key="race", fingerprint="f" * 64,
                                 now=clock.now(), keep=timedelta(hours=24))[0])

    threads = [threading.Thread(target=race) for _ in range(4)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert sorted(found) == sorted([store.Found.CLAIMED] + [store.Found.IN_FLIGHT] * 3)


def test_a_key_is_kept_a_day_and_forgotten_after(office, desk, clock) -> None:  # noqa: ANN001
    assert walk_in(desk, "day-1").status_code == 201
    other = {**APPLICANT, "nik": "3171014508900003"}
    clock.advance(hours=23, minutes=59)
    log_in(desk)  # a session lasts 12 hours; the key outlives it
    assert walk_in(desk, "day-1", other).json()["code"] == "idempotency-key-reused"
    clock.advance(minutes=2)
    assert walk_in(desk, "day-1", other).status_code == 201
    assert applications(office) == 2


def test_a_shorter_key_retention_than_a_day_is_refused() -> None:
    from pydantic import ValidationError

    from kanim.config import Settings

    with pytest.raises(ValidationError):
        Settings(_env_file=None, idempotency_hours=12)
