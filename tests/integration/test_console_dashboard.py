"""The recovery dashboard in process (TestClient): who may open it, and what each part of it shows
against what the office's tables hold: the link's state since the outage began, the queue by
priority, the oldest unsent operation, the drain's rate and ETA, open applications by stage,
passports printed and waiting for the central, the guardrails, the outages, and the backlog
over time as well-formed SVG. The live change through a real server is tests/e2e/test_dashboard_live.py."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from datetime import date, datetime, timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select, update

from kanim.domain.application import Priority, Stage, priority_group
from kanim.domain.clearances import ClearanceKind, ClearanceState
from kanim.domain.passport import ApplicationType, PassportKind
from kanim.domain.people import Sex
from kanim.link.breaker import LinkState
from kanim.link.relay import Relay, record_state_change
from kanim.office import accounts, adjudication, admin, booking, printing
from kanim.office.clearances import apply_decision
from kanim.protocol.wire import ClearanceDecision
from kanim.office.queries import dashboard as queries
from kanim.security import passwords
from kanim.seed import advance
from kanim.store import tables as t
from kanim.web.app import create_app
from tests.conftest import make_office

PASSWORD = "dashboard-test-password"
SVG = "{http://www.w3.org/2000/svg}"
ROLES = ("supervisor", "admin", "front_desk", "cashier", "print_operator")


@pytest.fixture
def office(tmp_path, backend, clock, central, monkeypatch):  # noqa: ANN001, ANN201
    from argon2 import PasswordHasher

    monkeypatch.setattr(passwords, "_hasher", PasswordHasher(time_cost=1, memory_cost=8, parallelism=1))
    # A linked office (a simulated central) whose relay does not run by itself: the tests send.
    o, cleanup = make_office(tmp_path, backend, clock, central, link_batch=3)
    for role in ROLES:
        accounts.add_user(o, username=role, full_name=f"{role} person", role=role, password=PASSWORD)
    yield o
    o.engine.dispose()
    cleanup()


def logged_in(office, role: str = "supervisor") -> TestClient:  # noqa: ANN001
    c = TestClient(create_app(office), base_url="http://kanim.test")
    token = re.search(r'name="csrf_token" value="([^"]+)"', c.get("/staff/login").text).group(1)
    r = c.post("/staff/login", data={"username": role, "password": PASSWORD, "csrf_token": token},
               follow_redirects=False)
    assert r.status_code == 303, r.text
    return c


def nik(serial: int, born: date = date(1990, 8, 5)) -> str:
    return f"317101{born.day + 40:02d}{born.month:02d}{born.year % 100:02d}{serial:04d}"


def walk_in(office, serial: int, priority: Priority = Priority.NONE, travel: date | None = None):  # noqa: ANN001, ANN201
    applicant = booking.Applicant(full_name=f"Siti Walk {chr(65 + serial % 26)}", nik=nik(serial),
                                  birth_date=date(1990, 8, 5), sex=Sex.F, app_type=ApplicationType.NEW,
                                  passport_kind=PassportKind.ORDINARY, priority=priority, travel_date=travel)
    return booking.walk_in(office, applicant=applicant, actor="front_desk")


def region(html: str, id_: str) -> str:
    """The element with `id_` and everything up to the next section: enough to look inside."""
    start = html.index(f'id="{id_}"')
    end = html.find("<section", start + 1)
    return html[start:end if end > 0 else len(html)]


def svgs(html: str) -> list[ET.Element]:
    return [ET.fromstring(m) for m in re.findall(r"<svg\b.*?</svg>", html, flags=re.S)]


# -- who may open it -----------------------------------------------------------------------------

def test_the_dashboard_is_for_supervisors_and_admins_and_refuses_every_other_desk(office) -> None:  # noqa: ANN001
    anonymous = TestClient(create_app(office), base_url="http://kanim.test")
    for path in ("/staff/dashboard", "/staff/dashboard/live"):
        r = anonymous.get(path, follow_redirects=False)
        assert (r.status_code, r.headers["location"]) == (303, f"/staff/login?next={path}")
        for role in ("front_desk", "cashier", "print_operator"):
            r = logged_in(office, role).get(path)
            assert r.status_code == 403 and "Loket ini bukan untuk Anda" in r.text, (role, path)
        for role in ("supervisor", "admin"):
            assert logged_in(office, role).get(path).status_code == 200, (role, path)


def test_the_dashboard_is_in_the_menu_of_those_who_may_open_it_only(office) -> None:  # noqa: ANN001
    assert 'href="/staff/dashboard"' in logged_in(office, "admin").get("/staff/dashboard").text
    assert 'href="/staff/dashboard"' not in logged_in(office, "front_desk").get("/staff/front-desk").text


# -- the link ------------------------------------------------------------------------------------

def test_the_link_is_shown_down_since_the_outage_began_with_its_reason(office, clock) -> None:  # noqa: ANN001
    c = logged_in(office)
    assert 'data-state="up"' in c.get("/staff/dashboard/live").text
    began = clock.now()
    record_state_change(office, LinkState.DEGRADED, "ConnectError: connection refused")
    clock.advance(seconds=3)
    record_state_change(office, LinkState.DOWN, "ConnectError: connection refused")
    for _ in range(6):  # the page asks every second: its session never idles out
        clock.advance(minutes=7)
        live = c.get("/staff/dashboard/live").text
    state = region(live, "link-state")
    assert 'data-state="down"' in state and "terputus" in state.lower()
    assert "08:00 WIB" in state  # since the outage began (08:00 in Jakarta), not since it turned down
    assert "ConnectError: connection refused" in region(live, "link-reason")
    incidents = region(live, "incidents")
    assert incidents.count('data-worst="down"') == 1 and 'class="ongoing"' in incidents
    assert began == queries.outages(office)[0].started_at


def test_incidents_that_follow_one_another_are_one_outage(office, clock) -> None:  # noqa: ANN001
    for state, minutes in ((LinkState.DEGRADED, 1), (LinkState.DOWN, 30), (LinkState.UP, 60),
                           (LinkState.DEGRADED, 2), (LinkState.UP, 0)):
        record_state_change(office, state, "timeout")
        clock.advance(minutes=minutes)
    newest, older = queries.outages(office)
    assert [p.state for p in older.phases] == ["degraded", "down"] and older.worst == "down"
    assert older.duration(clock.now()) == timedelta(minutes=31)
    assert [p.state for p in newest.phases] == ["degraded"] and newest.ended_at is not None


def test_an_outage_through_restarts_of_the_server_is_one_outage_from_its_first_incident(office, clock) -> None:  # noqa: ANN001
    began = clock.now()
    for _ in range(4):  # each restart: a fresh breaker, degraded and then down again
        record_state_change(office, LinkState.DEGRADED, "connection refused")
        clock.advance(seconds=2)
        record_state_change(office, LinkState.DOWN, "connection refused")
        clock.advance(minutes=20)
    (outage,) = queries.outages(office)
    assert outage.started_at == began and len(outage.phases) == 8 and outage.ended_at is None
    assert [p.state for p in outage.states] == ["degraded", "down"]
    assert queries.burn_down(office).outage.started_at == began


# -- the queue -----------------------------------------------------------------------------------

def _queued_by_group(office) -> dict[str, int]:  # noqa: ANN001
    with office.uow() as uow:
        ranks = uow.session.execute(select(t.outbox.c.priority).where(t.outbox.c.status == "pending")).scalars()
        out: dict[str, int] = {}
        for rank in ranks:
            group = priority_group(rank)
            out[group.value] = out.get(group.value, 0) + 1
        return out


def test_the_queue_is_counted_by_priority_and_the_oldest_unsent_operation_is_named(office, clock) -> None:  # noqa: ANN001
    first = walk_in(office, 1, Priority.MEDICAL)
    clock.advance(minutes=1)
    walk_in(office, 2, Priority.HAJJ_UMRAH)
    walk_in(office, 3, travel=clock.now().date() + timedelta(days=5))  # a near date: travel
    walk_in(office, 4)
    walk_in(office, 5)
    expected = _queued_by_group(office)
    assert set(expected) == {"medical", "hajj_umrah", "travel", "none"} and expected["none"] > expected["travel"]
    live = logged_in(office).get("/staff/dashboard/live").text
    table = region(live, "queue-by-priority")
    for group, n in expected.items():
        assert re.search(rf'data-priority="{group}">.*?<td class="num">{n}</td>', table, flags=re.S), group
    assert f'id="queue-depth" data-value="{sum(expected.values())}"' in live
    oldest = region(live, "oldest-h")
    assert first.number in oldest and "1 menit" in oldest


def test_the_drain_rate_and_eta_follow_what_was_sent_in_the_last_minute(office, clock, central) -> None:  # noqa: ANN001
    for serial in range(1, 5):
        walk_in(office, serial)
    c = logged_in(office)
    assert 'data-value="0.0"' in region(c.get("/staff/dashboard/live").text, "drain-h")
    Relay(office, central).push_round()  # a batch of 3 (link_batch)
    with office.uow() as uow:
        left = uow.session.execute(select(t.outbox.c.id).where(t.outbox.c.status == "pending")).all()
    drain = region(c.get("/staff/dashboard/live").text, "drain-h")
    assert 'id="drain-rate" data-value="0.05"' in drain  # 3 in the last 60 s
    assert f'data-seconds="{round(len(left) / 0.05)}"' in drain
    clock.advance(seconds=61)
    assert 'data-value="0.0"' in region(c.get("/staff/dashboard/live").text, "drain-h")


# -- applications --------------------------------------------------------------------------------

def test_open_applications_are_counted_by_stage_and_finished_ones_are_not(office) -> None:  # noqa: ANN001
    apps = [walk_in(office, serial) for serial in range(1, 4)]
    adjudication.cancel(office, application_id=apps[0].id, reason="changed plans", actor="supervisor")
    live = logged_in(office).get("/staff/dashboard/live").text
    stages = region(live, "backlog-by-stage")
    assert re.search(r'data-stage="checked_in">.*?<td class="num">2</td>', stages, flags=re.S)
    assert 'data-stage="cancelled"' not in stages and 'data-stage="handed_over"' not in stages


def test_a_printed_passport_waits_for_the_central_until_every_clearance_is_confirmed(office, clock) -> None:  # noqa: ANN001
    printing.receive_booklets(office, first="X1000001", last="X1000010", actor="print_operator")
    app = walk_in(office, 7)
    advance(office, app.id, "printed", app_type=app.app_type, after="checked_in")
    c = logged_in(office)
    waiting = region(c.get("/staff/dashboard/live").text, "waiting-for-central")
    assert 'data-count="1"' in waiting and app.number in waiting
    with office.uow() as uow:
        for kind in ClearanceKind:
            apply_decision(uow, ClearanceDecision(id=f"d-{kind.value}", application_id=app.id, kind=kind,
                                                  state=ClearanceState.CONFIRMED, reason="ok", decided_at=clock.now()))
        uow.commit()
    waiting = region(c.get("/staff/dashboard/live").text, "waiting-for-central")
    assert 'data-count="0"' in waiting and app.number not in waiting


def test_the_guardrails_say_why_provisional_printing_stopped(office, clock) -> None:  # noqa: ANN001
    walk_in(office, 1)
    c = logged_in(office)
    rails = region(c.get("/staff/dashboard/live").text, "guardrails")
    assert rails.count('data-closed="false"') == 2 and "Provisional printing is stopped" not in rails
    clock.advance(days=8)  # the snapshot is 8 days old (limit 7), the walk-in's work unsent for 8 (limit 3)
    c = logged_in(office)
    rails = region(c.get("/staff/dashboard/live").text, "guardrails")
    assert 'data-guardrail="watchlist_snapshot" data-closed="true"' in rails
    assert 'data-guardrail="unsent_work" data-closed="true"' in rails
    assert "watch-list snapshot is 8.0 days old (limit 7.0 days)" in rails
    assert "work not yet sent to the central is 8.0 days old (limit 3.0 days)" in rails
    admin.load_watchlist_snapshot(office, taken_at=clock.now(), source="test", orders=[], actor="test")
    assert 'data-guardrail="watchlist_snapshot" data-closed="false"' in region(
        c.get("/staff/dashboard/live").text, "guardrails")


# -- the backlog over time -----------------------------------------------------------------------

def _queued_at(office, at: datetime, *, final: bool = False) -> int:  # noqa: ANN001
    """What the outbox says was queued at `at`, row by row (the burn-down's definition)."""
    with office.uow() as uow:
        rows = uow.session.execute(select(t.outbox.c.queued_at, t.outbox.c.sent_at)).all()
    if final:
        return sum(1 for q, s in rows if q <= at and (s is None or s > at))
    return sum(1 for q, s in rows if q < at and (s is None or s >= at))


def test_the_burn_down_counts_the_queue_across_the_last_outage_point_by_point(office, clock, central) -> None:  # noqa: ANN001
    walk_in(office, 1)
    Relay(office, central).push_round()  # sent before the outage
    clock.advance(minutes=5)
    record_state_change(office, LinkState.DOWN, "connection refused")
    for serial in range(2, 9):  # the office works on while the central is away
        clock.advance(minutes=7)
        walk_in(office, serial)
    clock.advance(minutes=3)
    record_state_change(office, LinkState.UP, "")
    relay = Relay(office, central)
    while relay.push_round().pushed:  # three a round, a minute apart: the backlog drains
        clock.advance(seconds=50)
    clock.advance(minutes=2)
    burn = queries.burn_down(office)
    values = [v for _, v in burn.points]
    assert burn.outage is not None and burn.start < burn.outage.started_at
    assert values[0] == 0 and values[-1] == 0 and max(values) == _queued_at(office, burn.outage.ended_at)
    for at, v in burn.points[:-1]:
        assert v == _queued_at(office, at), at
    assert burn.points[-1] == (clock.now(), _queued_at(office, clock.now(), final=True))


def test_the_dashboards_charts_are_well_formed_svg_with_a_title_and_the_outage_shaded(office, clock) -> None:  # noqa: ANN001
    record_state_change(office, LinkState.DEGRADED, "timeout")
    clock.advance(seconds=2)
    record_state_change(office, LinkState.DOWN, "timeout")
    for serial in range(1, 4):
        clock.advance(minutes=10)
        walk_in(office, serial)
    page = logged_in(office).get("/staff/dashboard").text
    charts = {svg.get("id"): svg for svg in svgs(page)}
    assert set(charts) == {"burn-down-chart", "incident-strip"}
    burn = charts["burn-down-chart"]
    assert burn.get("role") == "img" and burn.find(f"{SVG}title").text and burn.find(f"{SVG}desc").text
    line = burn.find(f"{SVG}path[@class='line']").get("d")
    assert line.startswith("M") and line.count("L") >= 30
    assert {r.get("class") for r in burn.iter(f"{SVG}rect")} == {"band band-degraded", "band band-down"}
    levels = [int(t.text) for t in list(burn.iter(f"{SVG}text"))[:5]]  # the value axis, bottom up
    assert levels[0] == 0 and levels == sorted(levels) and levels[-1] >= max(v for _, v in queries.burn_down(office).points)
    assert charts["incident-strip"].find(f"{SVG}rect[@class='band band-down']") is not None


def test_the_page_polls_its_live_region_every_second_and_the_region_alone_comes_back(office) -> None:  # noqa: ANN001
    c = logged_in(office)
    page = c.get("/staff/dashboard").text
    assert re.search(r'id="dashboard-live" data-live-region hx-get="/staff/dashboard/live" '
                     r'hx-trigger="every 1s"', page)
    live = c.get("/staff/dashboard/live").text
    assert live.lstrip().startswith('<div id="dashboard-live"') and "<html" not in live
    assert c.get("/staff/dashboard/live").headers["cache-control"] == "no-store"


def test_the_dashboard_shows_each_backup_targets_newest_backup_and_last_good_drill(office, clock) -> None:  # noqa: ANN001
    import json

    c = logged_in(office)
    assert 'id="backup-unwatched"' in region(c.get("/staff/dashboard").text, "backup-health")
    now = clock.now()
    iso = lambda minutes: (now - timedelta(minutes=minutes)).isoformat()  # noqa: E731
    (office.settings.data_dir / "backup-health.json").write_text(json.dumps({"checked_at": iso(2), "targets": [
        {"target": "/media/usb/kanim", "snapshots": 40, "warnings": [], "last_drill_ok": True,
         "last_snapshot_at": iso(1), "last_drill_at": iso(60 * 24), "last_good_drill_at": iso(60 * 24)},
        {"target": "https://offsite.example:8470/", "snapshots": 3, "warnings": ["the newest backup is 3 hours old"],
         "last_drill_ok": False, "last_snapshot_at": iso(180), "last_drill_at": iso(30), "last_good_drill_at": None},
    ]}))
    token = re.search(r'"X-CSRF-Token": "([^"]+)"', c.get("/staff/dashboard").text).group(1)
    for lang, ago, failed in (("en", "1 minute ago", "the last drill failed"),
                              ("id", "1 menit yang lalu", "uji pemulihan terakhir gagal")):
        assert c.post("/staff/language", data={"language": lang},
                      headers={"HX-Request": "true", "X-CSRF-Token": token}).status_code == 204
        card = region(c.get("/staff/dashboard/live").text, "backup-health")
        usb, offsite = card.index('data-target="/media/usb/kanim"'), card.index('data-target="https://offsite')
        assert ago in card[usb:offsite] and 'data-age="60"' in card[usb:offsite], card
        assert failed in card[offsite:] and 'data-warnings="1"' in card[offsite:]
        assert "the newest backup is 3 hours old" in card and "pemantau berhenti" not in card
    clock.advance(minutes=20)  # the watch has not looked for 22 minutes
    assert "pemantau berhenti" in region(c.get("/staff/dashboard/live").text, "backup-health")
