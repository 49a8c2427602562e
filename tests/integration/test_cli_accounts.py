"""`kanim user locked` and `kanim user unlock` as an operator types them: real `kanim` processes
on a data folder where failed logins have locked an account."""

from __future__ import annotations

import pytest
from argon2 import PasswordHasher

from kanim.bootstrap import bootstrap
from kanim.config import Settings
from kanim.office import accounts
from kanim.security import passwords
from kanim.store.migrate import upgrade
from tests.integration.test_cli_link import kanim

PASSWORD = "the-right-password"


@pytest.fixture
def locked_office(tmp_path, monkeypatch):  # noqa: ANN001, ANN201
    monkeypatch.setattr(passwords, "_hasher", PasswordHasher(time_cost=1, memory_cost=8, parallelism=1))
    data = tmp_path / "office"
    office = bootstrap(Settings(_env_file=None, data_dir=data, office_code="MND", login_free_failures=2,
                                login_lock_after=2, database_url=f"sqlite:///{data / 'kanim.db'}"))
    upgrade(office.engine)
    accounts.add_user(office, username="rina", full_name="Rina", role="cashier", password=PASSWORD)
    for _ in range(2):
        with pytest.raises(accounts.LoginFailed):
            accounts.login(office, username="rina", password="wrong-password", address="10.0.0.5")
    with pytest.raises(accounts.LoginThrottled):
        accounts.login(office, username="rina", password=PASSWORD, address="10.0.0.5")
    yield office, data
    office.engine.dispose()


def test_an_operator_lists_and_unlocks_a_locked_account_with_the_cli(locked_office) -> None:  # noqa: ANN001
    office, data = locked_office
    listed = kanim(data, "user", "locked")
    assert listed.returncode == 0, listed.stderr
    assert "1 locked accounts" in listed.stdout and "rina" in listed.stdout
    r = kanim(data, "user", "unlock", "rina")
    assert r.returncode == 0 and "rina unlocked" in r.stdout, r.stderr
    assert "0 locked accounts" in kanim(data, "user", "locked").stdout
    token, user = accounts.login(office, username="rina", password=PASSWORD, address="10.0.0.5")
    assert user.username == "rina"
    again = kanim(data, "user", "unlock", "rina")
    assert again.returncode == 0 and "rina was not locked" in again.stdout


def test_unlocking_an_unknown_account_is_one_line_and_exit_2(locked_office) -> None:  # noqa: ANN001
    _, data = locked_office
    r = kanim(data, "user", "unlock", "nobody")
    assert r.returncode == 2 and r.stderr.count("\n") == 1 and "user-unknown" in r.stderr, r.stderr
