"""Administration in the console, in process: staff accounts (add, disable and enable, reset a
password, unlock), fees in rupiah, holidays, and the office's settings shown read-only; and the
account use cases it calls, on each database."""

from __future__ import annotations

import re
from datetime import date

import pytest
from sqlalchemy import select

from kanim.domain.errors import Conflict, InvalidInput, NotFound
from kanim.office import accounts, admin
from kanim.security.roles import Perm
from kanim.store import tables as t
from kanim.web.console import admin as admin_desk
from tests.conftest import make_office
from tests.integration.console_desk_helpers import (
    add_every_role,
    audit_rows,
    browser,
    csrf,
    htmx,
    refusals,
    routes_of,
    without_csrf,
)
from tests.integration.test_console import PASSWORD, log_in
from tests.integration.test_console_print_room import cheap_passwords

DESK = "/staff/admin"
PERMS = {
    ("GET", DESK): Perm.MANAGE_USERS, ("POST", f"{DESK}/users"): Perm.MANAGE_USERS,
    ("POST", f"{DESK}/users/{{username}}/disable"): Perm.MANAGE_USERS,
    ("POST", f"{DESK}/users/{{username}}/enable"): Perm.MANAGE_USERS,
    ("POST", f"{DESK}/users/{{username}}/unlock"): Perm.MANAGE_USERS,
    ("GET", f"{DESK}/users/{{username}}/password"): Perm.MANAGE_USERS,
    ("POST", f"{DESK}/users/{{username}}/password"): Perm.MANAGE_USERS,
    ("GET", f"{DESK}/fees"): Perm.MANAGE_FEES, ("POST", f"{DESK}/fees/{{code}}"): Perm.MANAGE_FEES,
    ("GET", f"{DESK}/holidays"): Perm.MANAGE_FEES, ("POST", f"{DESK}/holidays"): Perm.MANAGE_FEES,
    ("GET", f"{DESK}/settings"): Perm.MANAGE_USERS,
}
NEW = {"username": "kasir2", "full_name": "Kasir Kedua", "role": "cashier", "password": "a-long-password-1",
       "password_again": "a-long-password-1"}


@pytest.fixture
def desk(tmp_path, clock, central, monkeypatch):  # noqa: ANN001, ANN201
    cheap_passwords(monkeypatch)
    o, _ = make_office(tmp_path, "sqlite", clock, central, central_url="https://hub:secret@central.example:8443/x?k=1")
    add_every_role(o)
    yield o
    o.engine.dispose()


def row(office, username):  # noqa: ANN001, ANN201
    with office.uow(readonly=True) as uow:
        return uow.session.execute(select(t.staff_user).where(t.staff_user.c.username == username)).first()


def sessions(office, username) -> int:  # noqa: ANN001
    with office.uow(readonly=True) as uow:
        u = row(office, username)
        return len(uow.session.execute(select(t.staff_session).where(t.staff_session.c.user_id == u.id)).all())


def actions(office, subject) -> list[str]:  # noqa: ANN001
    with office.uow(readonly=True) as uow:
        a = t.audit_event.c
        return list(uow.session.scalars(select(a.action).where(a.subject == subject).order_by(a.seq)))


# -- the use cases, on each database -------------------------------------------------------------

def test_disabling_an_account_ends_its_sessions_and_stops_its_logins(office) -> None:  # noqa: ANN001
    accounts.add_user(office, username="budi", full_name="Budi", role="cashier", password=PASSWORD)
    token, _ = accounts.login(office, username="budi", password=PASSWORD)
    assert accounts.disable_user(office, username="budi", actor="admin") is True
    assert accounts.authenticate(office, token) is None and sessions(office, "budi") == 0
    with pytest.raises(accounts.LoginFailed):
        accounts.login(office, username="budi", password=PASSWORD)
    assert accounts.disable_user(office, username="budi", actor="admin") is False
    assert accounts.enable_user(office, username="budi", actor="admin") is True
    assert accounts.login(office, username="budi", password=PASSWORD)[0]
    user_id = row(office, "budi").id
    assert actions(office, user_id)[-4:] == ["UserDisabled", "LoginFailed", "UserEnabled", "LoggedIn"]


def test_an_admin_cannot_disable_their_own_account_nor_one_that_does_not_exist(office) -> None:  # noqa: ANN001
    accounts.add_user(office, username="root", full_name="Root", role="admin", password=PASSWORD)
    with pytest.raises(Conflict) as own:
        accounts.disable_user(office, username="root", actor="root")
    assert own.value.code == "user-self" and row(office, "root").active
    with pytest.raises(NotFound) as unknown:
        accounts.disable_user(office, username="nobody", actor="root")
    assert unknown.value.code == "user-unknown"


def test_a_password_reset_needs_the_password_twice_and_the_rule_and_ends_the_sessions(office) -> None:  # noqa: ANN001
    accounts.add_user(office, username="budi", full_name="Budi", role="cashier", password=PASSWORD)
    token, _ = accounts.login(office, username="budi", password=PASSWORD)
    with pytest.raises(InvalidInput) as mismatch:
        accounts.reset_password(office, username="budi", password="new-password-1", password_again="new-password-2",
                                actor="admin")
    assert (mismatch.value.code, mismatch.value.extra["field"]) == ("password-mismatch", "password_again")
    with pytest.raises(InvalidInput) as weak:
        accounts.reset_password(office, username="budi", password="short", password_again="short", actor="admin")
    assert weak.value.code == "password-weak"
    assert accounts.authenticate(office, token) is not None  # a refused reset changed nothing
    accounts.reset_password(office, username="budi", password="new-password-1", password_again="new-password-1",
                            actor="admin")
    assert accounts.authenticate(office, token) is None
    with pytest.raises(accounts.LoginFailed):
        accounts.login(office, username="budi", password=PASSWORD)
    assert accounts.login(office, username="budi", password="new-password-1")[0]
    with office.uow(readonly=True) as uow:
        a = t.audit_event.c
        detail = uow.session.execute(select(a.detail).where(a.action == "PasswordReset")).scalar_one()
    assert detail == {"sessions_ended": 1} and "new-password" not in str(detail)


# -- the console --------------------------------------------------------------------------------

def test_every_admin_route_is_listed_here_with_its_permission() -> None:
    assert routes_of(admin_desk.router) == set(PERMS)


def test_every_admin_route_refuses_another_role_and_sends_a_stranger_to_log_in(desk) -> None:  # noqa: ANN001
    assert refusals(desk, PERMS, {"username": "cashier", "code": "passport.ordinary.5y"}) == []


def test_every_admin_form_refuses_a_missing_csrf_token_and_changes_nothing(desk) -> None:  # noqa: ANN001
    posts = [f"{DESK}/users", f"{DESK}/users/cashier/disable", f"{DESK}/users/cashier/enable",
             f"{DESK}/users/cashier/unlock", f"{DESK}/users/cashier/password", f"{DESK}/fees/passport.ordinary.5y",
             f"{DESK}/holidays"]
    data = {**NEW, "amount": "1", "day": "2026-12-31", "name": "x"}
    assert without_csrf(browser(desk, "admin"), desk, posts, data) == []
    assert row(desk, "cashier").active and row(desk, "kasir2") is None


def test_the_admin_lands_on_the_accounts_and_sees_every_user(desk) -> None:  # noqa: ANN001
    c = browser(desk)
    assert log_in(c, "admin").headers["location"] == DESK
    page = c.get(DESK).text
    assert "Akun petugas" in page and 'id="user-form"' in page
    for username in ("front_desk", "cashier", "print_operator", "watchlist"):
        assert f'id="user-{username}"' in page
    assert 'id="disable-admin"' not in page and 'id="disable-cashier"' in page  # not one's own account


def test_adding_a_user_needs_the_password_twice_and_a_free_username(desk) -> None:  # noqa: ANN001
    c = browser(desk, "admin")
    token = csrf(c, DESK)
    before = audit_rows(desk)
    r = c.post(f"{DESK}/users", data={**NEW, "password_again": "another-password"}, headers=htmx(token, "user-form"))
    assert r.status_code == 422 and 'data-code="password-mismatch"' in r.text
    assert 'id="user-form-err-password_again" class="field-error" hx-swap-oob="true">Kedua kata sandi' in r.text
    r = c.post(f"{DESK}/users", data={**NEW, "username": "cashier"}, headers=htmx(token, "user-form"))
    assert r.status_code == 409 and 'id="user-form-err-username" class="field-error" hx-swap-oob="true">Nama' in r.text
    r = c.post(f"{DESK}/users", data={**NEW, "password": "short", "password_again": "short"},
               headers=htmx(token, "user-form"))
    assert r.status_code == 422 and 'id="user-form-err-password"' in r.text
    assert audit_rows(desk) == before and row(desk, "kasir2") is None
    r = c.post(f"{DESK}/users", data=NEW, headers=htmx(token, "user-form", "add-1"))
    again = c.post(f"{DESK}/users", data=NEW, headers=htmx(token, "user-form", "add-1"))
    assert r.status_code == 200 and "Akun kasir2 ditambahkan." in r.text and 'id="user-kasir2"' in r.text
    assert again.headers.get("Idempotent-Replayed") == "true"
    assert row(desk, "kasir2").role == "cashier"
    assert log_in(browser(desk), "kasir2", "a-long-password-1").status_code == 303


def test_disabling_a_user_in_the_console_ends_their_open_session(desk) -> None:  # noqa: ANN001
    cashier = browser(desk, "cashier")
    c = browser(desk, "admin")
    r = c.post(f"{DESK}/users/cashier/disable", headers=htmx(csrf(c, DESK), "disable-cashier", region="accounts"))
    assert r.status_code == 200 and "Akun cashier dinonaktifkan" in r.text and 'id="enable-cashier"' in r.text
    assert cashier.get("/staff/", follow_redirects=False).headers["location"].startswith("/staff/login")
    r = c.post(f"{DESK}/users/admin/disable", headers=htmx(csrf(c, DESK), "x", region="accounts"))
    assert r.status_code == 409 and r.headers["HX-Retarget"] == "#accounts-problem" and "akun Anda sendiri" in r.text
    r = c.post(f"{DESK}/users/cashier/enable", headers=htmx(csrf(c, DESK), "enable-cashier", region="accounts"))
    assert r.status_code == 200 and row(desk, "cashier").active


def test_resetting_a_password_in_the_console_asks_for_it_twice(desk) -> None:  # noqa: ANN001
    c = browser(desk, "admin")
    form = c.get(f"{DESK}/users/cashier/password").text
    assert 'id="password-form"' in form and 'name="password_again"' in form
    token = csrf(c, DESK)
    r = c.post(f"{DESK}/users/cashier/password",
               data={"password": "new-password-1", "password_again": "new-password-2"},
               headers=htmx(token, "password-form"))
    assert r.status_code == 422 and 'id="password-form-err-password_again"' in r.text
    r = c.post(f"{DESK}/users/cashier/password", data={"password": "", "password_again": ""},
               headers=htmx(token, "password-form"))
    assert r.status_code == 422
    assert 'id="password-form-err-password" class="field-error" hx-swap-oob="true">Kata' in r.text
    r = c.post(f"{DESK}/users/cashier/password",
               data={"password": "new-password-1", "password_again": "new-password-1"},
               headers=htmx(token, "password-form"))
    assert r.status_code == 200 and "Kata sandi cashier diganti" in r.text
    assert log_in(browser(desk), "cashier", "new-password-1").status_code == 303


def test_a_locked_account_is_listed_and_unlocked(desk) -> None:  # noqa: ANN001
    for _ in range(desk.settings.login_lock_after):
        try:
            accounts.login(desk, username="cashier", password="wrong-password-x", address=None)
        except accounts.LoginThrottled:
            break
        except accounts.LoginFailed:
            desk.clock.advance(minutes=10)
    assert [a["username"] for a in accounts.locked_accounts(desk)] == ["cashier"]
    c = browser(desk, "admin")
    page = c.get(DESK).text
    assert 'id="unlock-cashier"' in page and "terkunci sampai" in page
    r = c.post(f"{DESK}/users/cashier/unlock", headers=htmx(csrf(c, DESK), "unlock-cashier", region="accounts"))
    assert r.status_code == 200 and 'id="locked-none"' in r.text and accounts.locked_accounts(desk) == []


def test_a_fee_is_set_in_rupiah_and_a_wrong_amount_is_refused_beside_it(desk) -> None:  # noqa: ANN001
    c = browser(desk, "admin")
    page = c.get(f"{DESK}/fees").text
    assert 'id="fee-passport-ordinary-5y"' in page and "Rp350.000" in page
    token = csrf(c, f"{DESK}/fees")
    form = "fee-passport-ordinary-5y"
    for bad in ("lima ratus", "-5", "99999999999"):
        r = c.post(f"{DESK}/fees/passport.ordinary.5y", data={"amount": bad}, headers=htmx(token, form))
        assert r.status_code == 422 and f'id="{form}-err-amount" class="field-error" hx-swap-oob="true">' in r.text, bad
    r = c.post(f"{DESK}/fees/passport.ordinary.5y", data={"amount": "Rp 375.000"}, headers=htmx(token, form, "fee-1"))
    assert r.status_code == 200 and 'id="fee-passport-ordinary-5y-amount">Rp375.000<' in r.text
    assert {f["code"]: f["amount"] for f in admin.fee_table(desk)}["passport.ordinary.5y"] == 375_000
    assert "FeeChanged" in actions(desk, "passport.ordinary.5y")


def test_a_holiday_is_added_and_listed_in_the_desks_language(desk) -> None:  # noqa: ANN001
    c = browser(desk, "admin")
    token = csrf(c, f"{DESK}/holidays")
    r = c.post(f"{DESK}/holidays", data={"day": "2026-12-31", "name": ""}, headers=htmx(token, "holiday-form"))
    assert r.status_code == 422 and 'id="holiday-form-err-name"' in r.text
    r = c.post(f"{DESK}/holidays", data={"day": "31-12-2026", "name": "Cuti bersama"},
               headers=htmx(token, "holiday-form"))
    assert r.status_code == 422 and 'id="holiday-form-err-day"' in r.text
    r = c.post(f"{DESK}/holidays", data={"day": "2026-12-31", "name": "Cuti bersama"},
               headers=htmx(token, "holiday-form"))
    assert r.status_code == 200 and "31 Desember 2026" in r.text and "Cuti bersama" in r.text
    assert {h["day"]: h["name"] for h in admin.holidays(desk)} == {date(2026, 12, 31): "Cuti bersama"}


def test_the_settings_are_shown_read_only_without_secrets(desk) -> None:  # noqa: ANN001
    page = browser(desk, "admin").get(f"{DESK}/settings").text
    assert "MND" in page and "Kantor Imigrasi Manado" in page and "Asia/Jakarta (WIB)" in page
    assert "08:00, 09:00, 10:00, 11:00, 13:00, 14:00, 15:00" in page and ">400<" in page
    assert "https://central.example:8443/x" in page
    for secret in ("secret", "hub:", "k=1", "biometric.key", "office_ed25519", "sqlite:///",
                   str(desk.settings.data_dir)):
        assert secret not in page, secret
    assert "<form" not in page.split('id="settings"')[1]


def test_a_supervisor_may_set_fees_but_not_open_the_accounts(desk) -> None:  # noqa: ANN001
    c = browser(desk, "supervisor")
    page = c.get(f"{DESK}/fees").text
    assert 'id="admin-nav-fees"' in page and 'id="admin-nav-users"' not in page
    assert c.get(DESK).status_code == 403


def test_the_password_reset_route_keeps_the_typed_password_out_of_every_answer(desk) -> None:  # noqa: ANN001
    c = browser(desk, "admin")
    r = c.post(f"{DESK}/users/cashier/password",
               data={"password": "typed-secret-1", "password_again": "typed-secret-2"},
               headers=htmx(csrf(c, DESK), "password-form"))
    assert "typed-secret" not in r.text
    assert not re.search(r"typed-secret", c.get(DESK).text)


def test_the_admin_pages_speak_english_to_an_admin_who_chose_it(desk) -> None:  # noqa: ANN001
    from tests.integration.console_desk_helpers import in_english

    c = browser(desk, "admin")
    in_english(c, DESK)
    assert "Staff accounts" in c.get(DESK).text
    assert "Passport: ordinary, 5 years" in c.get(f"{DESK}/fees").text
    assert "Link to the central" in c.get(f"{DESK}/settings").text
    r = c.post(f"{DESK}/fees/passport.ordinary.5y", data={"amount": "five"},
               headers=htmx(csrf(c, f"{DESK}/fees"), "fee-passport-ordinary-5y"))
    assert "Write the amount in digits, e.g. 650.000" in r.text
