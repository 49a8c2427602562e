"""What the console tests of the print room, pickup desk and admin share: an office with a
simulated central and an account per role, a logged-in browser (TestClient) per role, the htmx
headers a form sends, and the checks every route of a desk must pass (another role gets the 403
page, a stranger the login page, a form without its CSRF token changes nothing)."""

from __future__ import annotations

import re
from collections.abc import Iterable

from fastapi import APIRouter
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from kanim.bootstrap import Office
from kanim.office import accounts
from kanim.security.roles import Role, allowed
from kanim.store import tables as t
from kanim.web.app import create_app
from tests.integration.test_console import PASSWORD, log_in


def add_every_role(office: Office) -> None:
    for role in Role:
        accounts.add_user(office, username=role.value, full_name=f"{role.value} person", role=role.value,
                          password=PASSWORD)


def browser(office: Office, role: Role | str | None = None) -> TestClient:
    c = TestClient(create_app(office), base_url="http://kanim.test")
    if role is not None:
        r = log_in(c, Role(role).value)
        assert r.status_code == 303, r.text
    return c


def csrf(c: TestClient, path: str) -> str:
    page = c.get(path)
    assert page.status_code == 200, page.text
    return re.search(r'"X-CSRF-Token": "([^"]+)"', page.text).group(1)


def htmx(token: str, trigger: str, key: str | None = None, region: str | None = None) -> dict[str, str]:
    h = {"HX-Request": "true", "HX-Trigger": trigger, "X-CSRF-Token": token}
    if key:
        h["Idempotency-Key"] = key
    if region:
        h["X-Problem-Region"] = region
    return h


def audit_rows(office: Office) -> int:
    with office.uow(readonly=True) as uow:
        return uow.session.execute(select(func.count()).select_from(t.audit_event)).scalar_one()


def routes_of(router: APIRouter) -> set[tuple[str, str]]:
    return {(m, r.path) for r in router.routes for m in r.methods if m != "HEAD"}


def filled(path: str, values: dict[str, str]) -> str:
    return re.sub(r"\{(\w+)\}", lambda m: values[m.group(1)], path)


def refusals(office: Office, perms: dict[tuple[str, str], object], values: dict[str, str]) -> list[str]:
    """Every route asked by every role that lacks its permission (a 403 page, not a stack
    trace) and by a stranger (to the login page); returns what went wrong."""
    wrong = []
    for role in Role:
        c = browser(office, role)
        token = None
        for (method, path), perm in perms.items():
            if allowed(role, perm):
                continue
            url = filled(path, values)
            headers = {}
            if method == "POST":
                token = token or _any_csrf(c, next(filled(p, values) for m, p in perms if m == "GET"))
                headers = {"X-CSRF-Token": token}
            r = c.request(method, url, headers=headers, follow_redirects=False)
            if r.status_code != 403 or not r.headers["content-type"].startswith("text/html") or "Traceback" in r.text:
                wrong.append(f"{method} {url} as {role.value}: {r.status_code}")
    stranger = browser(office)
    for method, path in perms:
        r = stranger.request(method, filled(path, values), follow_redirects=False)
        if r.status_code != 303 or not r.headers["location"].startswith("/staff/login"):
            wrong.append(f"{method} {path} without a session: {r.status_code}")
    return wrong


def _any_csrf(c: TestClient, path: str) -> str:
    """The role's CSRF token: every console page carries it, the 403 page too."""
    page = c.get(path)
    return re.search(r'"X-CSRF-Token": "([^"]+)"', page.text).group(1)


def without_csrf(c: TestClient, office: Office, posts: Iterable[str], data: dict[str, str] | None = None) -> list[str]:
    """Each POST sent as htmx but with no CSRF token: refused (403) and nothing audited."""
    wrong = []
    for url in posts:
        before = audit_rows(office)
        r = c.post(url, data=data or {}, headers={"HX-Request": "true", "HX-Trigger": "f"})
        if r.status_code != 403 or "CSRF" not in r.text or audit_rows(office) != before:
            wrong.append(f"{url}: {r.status_code}")
    return wrong


def in_english(c: TestClient, path: str) -> None:
    """The staff member behind `c` chooses English (their own setting, kept with the account)."""
    r = c.post("/staff/language", data={"language": "en"}, headers=htmx(csrf(c, path), "language"))
    assert r.status_code == 204, r.text
