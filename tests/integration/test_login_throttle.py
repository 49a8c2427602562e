"""Failed logins are throttled per account and per address, locked accounts are listed for an
admin to unlock, and no typed text becomes an audit actor. Over the API in process (a fake clock
drives the waits), on SQLite and PostgreSQL; the counts live in the database, so a restarted
node sees them."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
import pytest
from argon2 import PasswordHasher
from fastapi.testclient import TestClient
from sqlalchemy import select

from kanim.bootstrap import bootstrap
from kanim.central.api import create_central_app
from kanim.office import accounts
from kanim.security import passwords
from kanim.store import tables as t
from kanim.web.app import API, create_app
from tests.conftest import make_office
from tests.link_fixtures import make_central

PROBLEM = "application/problem+json"
PASSWORD = "the-right-password"
INJECTION = "' OR 1=1 --"


@pytest.fixture(autouse=True)
def cheap_hashes(monkeypatch: pytest.MonkeyPatch) -> None:
    # Many password checks per test: a cheap Argon2 cost keeps them fast (the hashing itself is
    # not what these tests are about). The dummy hash for unknown users is made with it too.
    monkeypatch.setattr(passwords, "_hasher", PasswordHasher(time_cost=1, memory_cost=8, parallelism=1))
    accounts._dummy_hash.cache_clear()
    yield
    accounts._dummy_hash.cache_clear()


@pytest.fixture
def node(tmp_path, backend, clock, central):  # noqa: ANN001, ANN201
    office, cleanup = make_office(tmp_path, backend, clock, central, login_free_failures=3,
                                  login_lock_after=5, login_lock_minutes=30, login_address_free_failures=8)
    for name, role in (("rina", "cashier"), ("adi", "admin"), ("budi", "front_desk")):
        accounts.add_user(office, username=name, full_name=name.title(), role=role, password=PASSWORD)
    yield office
    office.engine.dispose()
    cleanup()


@pytest.fixture
def client(node) -> TestClient:  # noqa: ANN001
    return TestClient(create_app(node))


def log_in(client: TestClient, username: str, password: str) -> object:
    return client.post(f"{API}/auth/token", json={"username": username, "password": password})


def admin(client: TestClient) -> dict[str, str]:
    r = log_in(client, "adi", PASSWORD)
    assert r.status_code == 200, r.text
    return {"authorization": f"Bearer {r.json()['access_token']}"}


def assert_throttled(r, code: str) -> int:  # noqa: ANN001
    assert r.status_code == 429, r.text
    assert r.headers["content-type"] == PROBLEM
    assert r.json()["code"] == code
    seconds = int(r.headers["retry-after"])
    assert seconds >= 1 and r.json()["retry_after"] == seconds
    return seconds


def audit_rows(office, action: str) -> list:  # noqa: ANN001
    with office.uow(readonly=True) as uow:
        return uow.session.execute(select(t.audit_event).where(t.audit_event.c.action == action)
                                   .order_by(t.audit_event.c.seq)).all()


def test_after_the_free_failures_a_login_waits_with_429_and_retry_after(client, clock) -> None:  # noqa: ANN001
    assert [log_in(client, "rina", "wrong-password").status_code for _ in range(3)] == [401, 401, 401]
    # Even the right password waits: otherwise the wait would tell a guesser when he is right.
    assert assert_throttled(log_in(client, "rina", PASSWORD), "login-throttled") == 2
    clock.advance(seconds=2)
    assert log_in(client, "rina", PASSWORD).status_code == 200
    # The right password clears the account's failures: three more typos are free again.
    assert [log_in(client, "rina", "wrong-password").status_code for _ in range(3)] == [401, 401, 401]


def test_the_wait_doubles_with_each_further_failure(client, clock) -> None:  # noqa: ANN001
    waits = []
    for _ in range(3):
        log_in(client, "rina", "wrong-password")
    for _ in range(2):
        waits.append(assert_throttled(log_in(client, "rina", "wrong-password"), "login-throttled"))
        clock.advance(seconds=waits[-1])
        assert log_in(client, "rina", "wrong-password").status_code == 401
    assert waits == [2, 4]


def lock_rina(client, clock) -> None:  # noqa: ANN001
    for _ in range(5):
        clock.advance(minutes=1)  # past any back-off
        assert log_in(client, "rina", "wrong-password").status_code == 401


def test_an_account_that_keeps_failing_is_locked_even_against_the_right_password(client, clock, node) -> None:  # noqa: ANN001
    lock_rina(client, clock)
    clock.advance(minutes=5)
    assert assert_throttled(log_in(client, "rina", PASSWORD), "account-locked") == 25 * 60
    (locked,) = audit_rows(node, "AccountLocked")
    with node.uow(readonly=True) as uow:
        rina_id = uow.session.execute(select(t.staff_user.c.id).where(t.staff_user.c.username == "rina")).scalar()
    assert (locked.actor, locked.subject, locked.detail["failures"]) == ("system", rina_id, 5)


def test_an_admin_lists_a_locked_account_and_unlocks_it(client, clock, node) -> None:  # noqa: ANN001
    headers = admin(client)
    lock_rina(client, clock)
    listed = client.get(f"{API}/users/locked", headers=headers)
    assert listed.status_code == 200
    assert [(u["username"], u["failures"]) for u in listed.json()] == [("rina", 5)]
    r = client.post(f"{API}/users/rina/unlock", headers=headers)
    assert r.status_code == 200 and r.json() == {"username": "rina", "unlocked": True}
    assert client.get(f"{API}/users/locked", headers=headers).json() == []
    assert log_in(client, "rina", PASSWORD).status_code == 200
    (unlocked,) = audit_rows(node, "AccountUnlocked")
    assert unlocked.actor == "adi" and unlocked.detail == {"failures": 5, "was_locked": True}
    again = client.post(f"{API}/users/rina/unlock", headers=headers)
    assert again.json()["unlocked"] is False
    unknown = client.post(f"{API}/users/nobody/unlock", headers=headers)
    assert unknown.status_code == 404 and unknown.json()["code"] == "user-unknown"


def test_a_lock_ends_by_itself_after_the_lock_period(client, clock) -> None:  # noqa: ANN001
    lock_rina(client, clock)
    clock.advance(minutes=30)
    assert log_in(client, "rina", PASSWORD).status_code == 200


def test_a_failed_login_stores_no_typed_text(client, node) -> None:  # noqa: ANN001
    assert log_in(client, INJECTION, "whatever-password").status_code == 401
    assert log_in(client, "rina", "wrong-password").status_code == 401
    unknown, known = audit_rows(node, "LoginFailed")
    assert (unknown.actor, unknown.subject, unknown.detail["reason"]) == ("anonymous", "staff", "unknown-user")
    with node.uow(readonly=True) as uow:
        rina_id = uow.session.execute(select(t.staff_user.c.id).where(t.staff_user.c.username == "rina")).scalar()
        throttle_rows = uow.session.execute(select(t.login_throttle)).all()
        every_audit_value = [str(v) for r in uow.session.execute(select(t.audit_event)).all() for v in r]
    assert (known.actor, known.subject, known.detail["reason"]) == ("anonymous", rina_id, "wrong-password")
    stored = every_audit_value + [str(v) for r in throttle_rows for v in r]
    assert not [v for v in stored if "OR 1=1" in v]


def test_unknown_usernames_are_throttled_like_real_ones(client) -> None:  # noqa: ANN001
    """Otherwise a 429 would tell which usernames exist."""
    codes = [log_in(client, "no-such-user", "wrong-password").status_code for _ in range(4)]
    assert codes == [401, 401, 401, 429]


def test_one_address_cannot_spray_many_accounts(client) -> None:  # noqa: ANN001
    codes = [log_in(client, f"user{i}", "wrong-password").status_code for i in range(9)]
    assert codes == [401] * 8 + [429]
    # The address waits whoever it tries next, real account and right password included.
    assert_throttled(log_in(client, "budi", PASSWORD), "login-throttled")


def test_logins_from_another_address_are_not_slowed_by_a_sprayer(node) -> None:  # noqa: ANN001
    sprayer = TestClient(create_app(node), client=("10.0.0.66", 5000))
    desk = TestClient(create_app(node), client=("10.0.0.12", 5000))
    for i in range(9):
        log_in(sprayer, f"user{i}", "wrong-password")
    assert log_in(sprayer, "budi", PASSWORD).status_code == 429
    assert log_in(desk, "budi", PASSWORD).status_code == 200


def test_a_guesser_elsewhere_cannot_lock_an_account_out_of_its_own_desk(node, clock) -> None:  # noqa: ANN001
    """Anyone on the network can lock `rina` by guessing, but not out of the desk where she logs
    in: there her right password still works, while a new address meets the lock."""
    desk = TestClient(create_app(node), client=("10.0.0.12", 5000))
    guesser = TestClient(create_app(node), client=("10.0.0.66", 5000))
    stranger = TestClient(create_app(node), client=("10.0.0.77", 5000))
    assert log_in(desk, "rina", PASSWORD).status_code == 200  # her desk, yesterday
    for _ in range(node.settings.login_lock_after):
        log_in(guesser, "rina", "wrong-password")
        clock.advance(minutes=10)  # past each back-off
    assert_throttled(log_in(guesser, "rina", PASSWORD), "account-locked")
    assert_throttled(log_in(stranger, "rina", PASSWORD), "account-locked")
    assert log_in(desk, "rina", PASSWORD).status_code == 200
    assert_throttled(log_in(guesser, "rina", PASSWORD), "account-locked")  # the lock stands elsewhere


def test_a_desk_is_trusted_for_thirty_days_after_its_last_login(node, clock) -> None:  # noqa: ANN001
    desk = TestClient(create_app(node), client=("10.0.0.12", 5000))
    guesser = TestClient(create_app(node), client=("10.0.0.66", 5000))
    assert log_in(desk, "rina", PASSWORD).status_code == 200
    clock.advance(days=31)
    for _ in range(node.settings.login_lock_after):
        log_in(guesser, "rina", "wrong-password")
        clock.advance(minutes=10)
    assert_throttled(log_in(desk, "rina", PASSWORD), "account-locked")


def test_a_right_password_does_not_count_against_its_address(client) -> None:  # noqa: ANN001
    for _ in range(12):  # more than the address's 8 free failures
        assert log_in(client, "budi", PASSWORD).status_code == 200


def test_the_counts_survive_a_restart(client, node, clock) -> None:  # noqa: ANN001
    lock_rina(client, clock)
    restarted = bootstrap(node.settings, clock=clock, engine=node.engine, central=None)
    r = log_in(TestClient(create_app(restarted)), "rina", PASSWORD)
    assert_throttled(r, "account-locked")


def test_concurrent_wrong_passwords_get_no_more_checks_than_the_free_failures(node) -> None:  # noqa: ANN001
    """Each check is charged before it runs, in its own transaction: twelve at once still get
    exactly three password checks (401) and nine waits (429)."""

    def attempt(_: int) -> int:
        try:
            accounts.login(node, username="rina", password="wrong-password", address="10.0.0.5")
        except accounts.LoginThrottled:
            return 429
        except accounts.LoginFailed:
            return 401
        return 200

    with ThreadPoolExecutor(6) as pool:
        codes = sorted(pool.map(attempt, range(12)))
    assert codes == [401] * 3 + [429] * 9
    assert len(audit_rows(node, "LoginFailed")) == 3


def test_unlocking_needs_the_manage_users_permission(client) -> None:  # noqa: ANN001
    r = log_in(client, "budi", PASSWORD)
    headers = {"authorization": f"Bearer {r.json()['access_token']}"}
    assert client.get(f"{API}/users/locked", headers=headers).status_code == 403
    assert client.post(f"{API}/users/rina/unlock", headers=headers).status_code == 403


def test_the_central_throttles_its_staff_logins_the_same_way(tmp_path, clock) -> None:  # noqa: ANN001
    hub = make_central(tmp_path, clock=clock, login_free_failures=2, login_lock_after=2)
    try:
        accounts.add_user(hub, username="adi", full_name="Adi", role="admin", password=PASSWORD)
        accounts.add_user(hub, username="wati", full_name="Wati", role="watchlist", password=PASSWORD)
        c = TestClient(create_central_app(hub))
        assert [log_in(c, "wati", "wrong-password").status_code for _ in range(2)] == [401, 401]
        assert_throttled(log_in(c, "wati", PASSWORD), "account-locked")
        headers = admin(c)
        assert [u["username"] for u in c.get(f"{API}/users/locked", headers=headers).json()] == ["wati"]
        assert c.post(f"{API}/users/wati/unlock", headers=headers).json()["unlocked"] is True
        assert log_in(c, "wati", PASSWORD).status_code == 200
    finally:
        hub.engine.dispose()


def test_a_quiet_account_starts_again_from_zero(client, clock) -> None:  # noqa: ANN001
    for _ in range(3):
        log_in(client, "rina", "wrong-password")
    clock.advance(days=1, seconds=1)  # the account policy forgets after a quiet day
    assert log_in(client, "rina", "wrong-password").status_code == 401  # not 429: forgotten
    assert log_in(client, "rina", "wrong-password").status_code == 401
