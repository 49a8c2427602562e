"""The central's console in process (TestClient on create_central_app): central staff log in with
the central's own accounts; the national view shows each office's link, last contact, backlog
by stage, oldest waiting application and drain, and the national backlog over time as
well-formed SVG, counted from the registry's and central_operation's timestamps; the payment
mismatches list what the bank's file did not match. Offices reach the central over real HTTP
(tests.link_fixtures.central_server), as in test_central_api.py."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from dataclasses import replace
from datetime import datetime

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from kanim.central import national, service
from kanim.central import tables as ct
from kanim.central.api import create_central_app
from kanim.link.relay import Relay
from kanim.office import accounts, adjudication, booking
from kanim.security import passwords
from kanim.seed import advance
from tests.conftest import make_office
from tests.integration.test_central_api import _other_key
from tests.integration.test_workflow import SITI, book_one
from tests.link_fixtures import central_server, connect, make_central

PASSWORD = "central-console-password"
SVG = "{http://www.w3.org/2000/svg}"
CENTRAL_ROLES = ("admin", "supervisor", "watchlist")


@pytest.fixture
def node(tmp_path, clock, monkeypatch):  # noqa: ANN001, ANN201
    from argon2 import PasswordHasher

    monkeypatch.setattr(passwords, "_hasher", PasswordHasher(time_cost=1, memory_cost=8, parallelism=1))
    n = make_central(tmp_path, clock=clock, central_treasury="trusting")
    for role in (*CENTRAL_ROLES, "front_desk"):
        accounts.add_user(n, username=role, full_name=f"{role} pusat", role=role, password=PASSWORD)
    yield n
    n.engine.dispose()


def log_in(node, role: str = "supervisor") -> tuple[TestClient, str]:  # noqa: ANN001
    c = TestClient(create_central_app(node), base_url="http://central.test")
    token = re.search(r'name="csrf_token" value="([^"]+)"', c.get("/staff/login").text).group(1)
    r = c.post("/staff/login", data={"username": role, "password": PASSWORD, "csrf_token": token},
               follow_redirects=False)
    assert r.status_code == 303, r.text
    return c, r.headers["location"]


def row(html: str, code: str) -> str:
    start = html.index(f'id="office-{code}"')
    return html[start:html.index("</tr>", start)]


def linked_office(tmp_path, clock, node, url):  # noqa: ANN001, ANN201
    office, _ = make_office(tmp_path, "sqlite", clock, None)
    return office, Relay(office, connect(office, node, url))


# -- logging in and who may see it --------------------------------------------------------------

def test_central_staff_log_in_to_the_central_console_and_land_on_the_national_view(node) -> None:  # noqa: ANN001
    c = TestClient(create_central_app(node))
    assert c.get("/", follow_redirects=False).headers["location"] == "/staff/"
    for role in CENTRAL_ROLES:
        c, landing = log_in(node, role)
        assert landing == "/staff/national", role
        page = c.get(landing).text
        assert "Pantauan nasional" in page and "Pusat" in page  # the central named, not an office
        assert 'href="/staff/payments"' in page


def test_the_national_view_and_the_payments_refuse_the_anonymous_and_other_roles(node) -> None:  # noqa: ANN001
    anonymous = TestClient(create_central_app(node))
    desk, _ = log_in(node, "front_desk")
    for path in ("/staff/national", "/staff/national/live", "/staff/payments"):
        r = anonymous.get(path, follow_redirects=False)
        assert (r.status_code, r.headers["location"]) == (303, f"/staff/login?next={path}")
        r = desk.get(path)
        assert r.status_code == 403 and "Loket ini bukan untuk Anda" in r.text and "Traceback" not in r.text


def test_a_history_window_that_is_not_offered_is_refused_with_its_words(node) -> None:  # noqa: ANN001
    c, _ = log_in(node)
    r = c.get("/staff/national", params={"hours": "5"})
    assert r.status_code == 422 and "6, 24, 72 or 336" in r.text
    assert c.get("/staff/national", params={"hours": "72"}).status_code == 200


def test_the_central_console_keeps_each_staff_members_language_and_logs_out(node) -> None:  # noqa: ANN001
    c, _ = log_in(node, "watchlist")
    token = re.search(r'"X-CSRF-Token": "([^"]+)"', c.get("/staff/national").text).group(1)
    headers = {"HX-Request": "true", "X-CSRF-Token": token}
    assert c.post("/staff/language", data={"language": "en"}, headers=headers).status_code == 204
    page = c.get("/staff/national").text
    assert "National view" in page and "Central hub" in page and "Pantauan nasional" not in page
    assert c.post("/staff/logout", headers=headers).headers.get("HX-Redirect") == "/staff/login"
    assert c.get("/staff/national", follow_redirects=False).status_code == 303


# -- what it shows -------------------------------------------------------------------------------

def test_the_national_view_shows_each_office_link_contact_backlog_oldest_and_drain(tmp_path, clock, node) -> None:  # noqa: ANN001
    with central_server(node) as url:
        office, relay = linked_office(tmp_path, clock, node, url)
        service.register_office(node, code="SBY", name="Kanim Surabaya", public_key=_other_key(tmp_path),
                                actor="admin")
        app = book_one(office)
        advance(office, app.id, "captured", app_type=app.app_type)
        relay.run_once()
    with node.uow() as uow:
        received = uow.session.execute(select(ct.central_operation.c.id).where(
            ct.central_operation.c.office_code == "MND")).all()
    c, _ = log_in(node)
    page = c.get("/staff/national").text
    mnd, sby = row(page, "MND"), row(page, "SBY")
    assert 'data-link-state="up"' in mnd and "08:00 WIB" in mnd and "foto dan sidik jari diambil <strong>1</strong>" in mnd
    assert f'data-received="{len(received)}"' in mnd and len(received) > 3
    assert 'data-link-state="never"' in sby and 'data-received="0"' in sby
    assert 'data-state-count="up" data-value="1"' in page and 'data-state-count="never" data-value="1"' in page
    clock.advance(minutes=11)  # no word from MND for 11 minutes: down, and nothing received lately
    mnd = row(log_in(node)[0].get("/staff/national/live").text, "MND")
    assert 'data-link-state="down"' in mnd and 'data-received="0"' in mnd


def _open_at(rows: list, at: datetime) -> int:  # noqa: ANN001
    """The registry's open applications at `at`, application by application."""
    return sum(1 for created, updated, stage in rows
               if created < at and not (stage in national.FINISHED and updated < at))


def test_the_national_backlog_over_time_is_counted_from_the_registry_and_drawn_as_svg(tmp_path, clock, node) -> None:  # noqa: ANN001
    with central_server(node) as url:
        office, relay = linked_office(tmp_path, clock, node, url)
        first = book_one(office)
        relay.run_once()
        clock.advance(hours=3)  # the central is out of reach; the office books on
        apps = [booking.walk_in(office, applicant=replace(SITI, nik=f"{SITI.nik[:-4]}{n:04d}"), actor="front_desk")
                for n in range(2, 5)]
        clock.advance(hours=2)
        relay.run_once()  # back: the backlog arrives
        clock.advance(hours=1)
        adjudication.cancel(office, application_id=first.id, reason="changed plans", actor="supervisor")
        relay.run_once()
        clock.advance(minutes=30)
    h = national.history(node, hours=24)
    with node.uow() as uow:
        a, o = ct.registry_application.c, ct.central_operation.c
        rows = uow.session.execute(select(a.created_at, a.updated_at, a.stage)).all()
        times = uow.session.execute(select(o.received_at)).scalars().all()
    assert len(rows) == 1 + len(apps)
    for at, n in h.open_points[:-1]:
        assert n == _open_at(rows, at), at
    assert h.open_points[-1] == (clock.now(), len(apps))  # the cancelled one is finished
    assert sum(n for _, n in h.received) == len(times)
    for at, n in h.received:
        assert n == sum(1 for t in times if at <= t < at + h.width), at
    page = log_in(node)[0].get("/staff/national").text
    charts = {svg.get("id"): svg for svg in (ET.fromstring(m) for m in re.findall(r"<svg\b.*?</svg>", page, re.S))}
    assert set(charts) == {"national-backlog-chart", "national-received-chart"}
    for svg in charts.values():
        assert svg.get("role") == "img" and svg.find(f"{SVG}title").text and svg.find(f"{SVG}desc").text
    assert charts["national-backlog-chart"].find(f"{SVG}path[@class='line']").get("d").startswith("M")
    bars = [r for r in charts["national-received-chart"].iter(f"{SVG}rect") if r.get("class") == "bar"]
    assert len(bars) == 48 and sum(1 for b in bars if float(b.get("height")) > 0) == 3  # three pushes


def test_the_payment_mismatches_list_what_the_banks_file_did_not_match(tmp_path, node) -> None:  # noqa: ANN001
    c, _ = log_in(node)
    page = c.get("/staff/payments").text
    assert 'data-count="0"' in page
    csv = tmp_path / "bank.csv"
    csv.write_text("billing_code,amount,paid_at,reference\n820261130000042,650000,2026-11-30T09:00:00,BNI-1\n")
    service.import_payments(node, csv, actor="supervisor")
    page = log_in(node, "watchlist")[0].get("/staff/payments").text
    assert 'data-count="1"' in page and 'data-kind="unknown_code"' in page and "820261130000042" in page
