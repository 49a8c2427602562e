"""The staff console's foundation, in process: cookie sessions, CSRF, idle timeout, role
landing and the 403 page, the language, forms with the API's own input rules and problems, and
Idempotency-Keys. The browser tests (tests/e2e/test_console_browser.py) do the same through a
real Chromium against a real server."""

from __future__ import annotations

import re

import pytest
from fastapi.testclient import TestClient

from kanim.office import accounts
from kanim.security import passwords
from kanim.store import tables as t
from kanim.web.app import create_app
from tests.conftest import make_office

PASSWORD = "console-test-password"
WALK_IN = {"full_name": "Siti Rahmawati", "nik": "3171014508900001", "birth_date": "1990-08-05", "sex": "F",
           "app_type": "new", "passport_kind": "ordinary", "priority": "none"}


@pytest.fixture
def office(tmp_path, clock, monkeypatch):  # noqa: ANN001, ANN201
    from argon2 import PasswordHasher

    monkeypatch.setattr(passwords, "_hasher", PasswordHasher(time_cost=1, memory_cost=8, parallelism=1))
    o, _ = make_office(tmp_path, "sqlite", clock, None)
    for role in ("front_desk", "cashier"):
        accounts.add_user(o, username=role, full_name=f"{role} person", role=role, password=PASSWORD)
    yield o
    o.engine.dispose()


def client(office, *, https: bool = False) -> TestClient:  # noqa: ANN001
    return TestClient(create_app(office), base_url="https://kanim.test" if https else "http://kanim.test")


def log_in(c: TestClient, username: str = "front_desk", password: str = PASSWORD, **kw):  # noqa: ANN003, ANN201
    page = c.get("/staff/login")
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)
    return c.post("/staff/login", data={"username": username, "password": password, "csrf_token": token, **kw},
                  follow_redirects=False)


def csrf(c: TestClient, path: str = "/staff/front-desk") -> str:
    return re.search(r'"X-CSRF-Token": "([^"]+)"', c.get(path).text).group(1)


def htmx(token: str, form: str = "walk-in-form", key: str | None = None) -> dict[str, str]:
    h = {"HX-Request": "true", "HX-Trigger": form, "X-CSRF-Token": token}
    return {**h, "Idempotency-Key": key} if key else h


def test_the_session_cookie_is_httponly_strict_scoped_and_secure_behind_https(office) -> None:  # noqa: ANN001
    plain = log_in(client(office)).headers["set-cookie"]
    secure = log_in(client(office, https=True)).headers["set-cookie"]
    session = next(part for part in plain.split(", kanim") if part.startswith("kanim_session"))
    assert "HttpOnly" in session and "SameSite=strict" in session and "Path=/staff" in session
    assert "Secure" not in session
    assert "Secure" in next(part for part in secure.split(", kanim") if part.startswith("kanim_session"))


def test_each_role_lands_on_its_own_desk_and_a_stranger_on_the_login_page(office) -> None:  # noqa: ANN001
    c = client(office)
    r = c.get("/staff/front-desk", follow_redirects=False)
    assert (r.status_code, r.headers["location"]) == (303, "/staff/login?next=/staff/front-desk")
    r = log_in(c)
    assert (r.status_code, r.headers["location"]) == (303, "/staff/front-desk")
    assert log_in(client(office), "cashier").headers["location"] == "/staff/cashier"


def test_another_desks_url_answers_a_403_page_not_a_stack_trace(office) -> None:  # noqa: ANN001
    c = client(office)
    log_in(c, "cashier")
    r = c.get("/staff/front-desk")
    assert r.status_code == 403 and r.headers["content-type"].startswith("text/html")
    assert "Loket ini bukan untuk Anda" in r.text and "Traceback" not in r.text


def test_a_form_posted_without_its_csrf_token_is_refused_and_changes_nothing(office) -> None:  # noqa: ANN001
    c = client(office)
    log_in(c)
    r = c.post("/staff/front-desk/walk-in", data=WALK_IN, headers={"HX-Request": "true"})
    assert r.status_code == 403 and "CSRF" in r.text
    r = c.post("/staff/front-desk/walk-in", data=WALK_IN, headers={**htmx("0" * 40)})
    assert r.status_code == 403
    with office.uow() as uow:
        assert uow.applications.list() == []


def test_the_login_form_needs_its_own_csrf_token(office) -> None:  # noqa: ANN001
    r = client(office).post("/staff/login", data={"username": "front_desk", "password": PASSWORD,
                                                   "csrf_token": "forged"}, follow_redirects=False)
    assert r.status_code == 403


def test_a_login_form_stays_valid_when_another_tab_of_the_browser_opens_the_login_page(office) -> None:  # noqa: ANN001
    c = client(office)
    form = c.get("/staff/login")
    token = re.search(r'name="csrf_token" value="([^"]+)"', form.text).group(1)
    c.get("/staff/login")  # a polling page whose session ended, redirected here
    r = c.post("/staff/login", data={"username": "front_desk", "password": PASSWORD, "csrf_token": token},
               follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/staff/front-desk"


def test_a_wrong_password_is_said_on_the_page_and_the_api_throttles_count_it(office) -> None:  # noqa: ANN001
    c = client(office)
    r = log_in(c, password="wrong-password-1")
    assert r.status_code == 401 and "Nama pengguna atau kata sandi salah" in r.text
    for _ in range(office.settings.login_free_failures):
        r = log_in(c, password="wrong-password-1")
    assert r.status_code == 429 and "tunggu" in r.text


def test_a_console_session_ends_after_idle_time_and_a_bearer_token_is_not_a_cookie(office, clock) -> None:  # noqa: ANN001
    c = client(office)
    log_in(c)
    assert c.get("/staff/front-desk").status_code == 200
    clock.advance(minutes=office.settings.console_idle_minutes + 1)
    r = c.get("/staff/front-desk", follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"].startswith("/staff/login")
    token, _ = accounts.login(office, username="front_desk", password=PASSWORD)  # an API token
    c.cookies.set("kanim_session", token, path="/staff")
    assert c.get("/staff/front-desk", follow_redirects=False).status_code == 303


def test_the_language_is_indonesian_by_default_and_english_per_user(office) -> None:  # noqa: ANN001
    c = client(office)
    log_in(c)
    assert "Loket depan" in c.get("/staff/front-desk").text
    r = c.post("/staff/language", data={"language": "en"}, headers=htmx(csrf(c), "language"))
    assert r.status_code == 204
    page = c.get("/staff/front-desk").text
    assert "Front desk" in page and "Loket depan" not in page
    with office.uow() as uow:
        assert uow.session.execute(t.staff_user.select().where(t.staff_user.c.username == "front_desk")).one().language == "en"


def test_a_refused_walk_in_shows_the_problem_beside_its_field_and_writes_nothing(office) -> None:  # noqa: ANN001
    c = client(office)
    log_in(c)
    r = c.post("/staff/front-desk/walk-in", data={**WALK_IN, "sex": "M"}, headers=htmx(csrf(c)))
    assert r.status_code == 422 and r.headers["HX-Retarget"] == "#walk-in-form-problem"
    assert 'data-code="nik-sex-mismatch"' in r.text
    assert re.search(r'id="walk-in-form-err-nik" class="field-error" hx-swap-oob="true">\S', r.text)
    r = c.post("/staff/front-desk/walk-in", data={**WALK_IN, "birth_date": "1990-13-45"}, headers=htmx(csrf(c)))
    assert r.status_code == 422 and 'id="walk-in-form-err-birth_date"' in r.text
    with office.uow() as uow:
        assert uow.applications.list() == []


def test_a_walk_in_sent_twice_with_its_form_key_is_made_once(office) -> None:  # noqa: ANN001
    c = client(office)
    log_in(c)
    token = csrf(c)
    first = c.post("/staff/front-desk/walk-in", data=WALK_IN, headers=htmx(token, key="form-1"))
    again = c.post("/staff/front-desk/walk-in", data=WALK_IN, headers=htmx(token, key="form-1"))
    assert first.status_code == again.status_code == 200 and again.headers.get("Idempotent-Replayed") == "true"
    with office.uow() as uow:
        assert len(uow.applications.list()) == 1
    assert "W-001" in first.text and "W-001" in again.text


def test_the_front_desk_finds_by_name_number_and_nik_and_masks_the_nik(office) -> None:  # noqa: ANN001
    c = client(office)
    log_in(c)
    c.post("/staff/front-desk/walk-in", data=WALK_IN, headers=htmx(csrf(c), key="k"))
    for q in ("rahma siti", "MND-", WALK_IN["nik"]):
        r = c.get("/staff/front-desk/search", params={"q": q})
        assert "Siti Rahmawati" in r.text, q
        assert WALK_IN["nik"] not in r.text and "3171••••••••0001" in r.text
    assert "Siti" not in c.get("/staff/front-desk/search", params={"q": "budi"}).text


def test_logging_out_ends_the_session(office) -> None:  # noqa: ANN001
    c = client(office)
    log_in(c)
    r = c.post("/staff/logout", headers=htmx(csrf(c), "logout"))
    assert r.headers.get("HX-Redirect") == "/staff/login"
    assert c.get("/staff/front-desk", follow_redirects=False).status_code == 303
