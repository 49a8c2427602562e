"""The office's status page, `/status`, its Atom feed and the supervisors' desk that writes
them, in process: levels set by the node's own state, incidents with updates in order, a staff
override that runs out, the feed read by feedparser, the static export, and who may write."""

from __future__ import annotations

from datetime import timedelta

import feedparser
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from kanim.domain.status_page import Component, IncidentState, Level
from kanim.domain.errors import Conflict, InvalidInput
from kanim.office import status_page
from kanim.store import tables as t
from kanim.web.app import create_app
from tests.console_desks import as_role, csrf, field_error, htmx, staff_office


def level_of(html: str, component: str) -> str:
    marker = f'id="component-{component}" data-level="'
    return html[html.index(marker) + len(marker):].split('"', 1)[0]


def incident(office, **kw) -> str:  # noqa: ANN001, ANN003
    words = dict(kind="incident", title_id="Kamera foto rusak", title_en="Photo camera broken",
                 body_id="Kami sedang memeriksa.", body_en="We are looking into it.",
                 components=[Component.BIOMETRICS], impact=Level.PARTIAL_OUTAGE, actor="supervisor")
    return status_page.open_incident(office, **{**words, **kw})


def test_a_node_without_its_central_shows_payment_confirmation_down_and_the_desks_working(tmp_path, clock) -> None:  # noqa: ANN001
    from tests.conftest import make_office

    office, _ = make_office(tmp_path, "sqlite", clock, None)  # no central: the link is "unlinked"
    page = TestClient(create_app(office)).get("/status")
    assert page.status_code == 200 and page.headers["cache-control"] == "public, max-age=30"
    assert level_of(page.text, "payment_confirmation") == "major_outage"
    assert level_of(page.text, "pickup") == "partial_outage"
    assert level_of(page.text, "booking") == level_of(page.text, "biometrics") == "operational"
    assert "Sistem nasional tidak dapat dihubungi" in page.text
    office.engine.dispose()


def test_an_incident_moves_forward_through_its_updates_and_lands_in_the_history(office, clock) -> None:  # noqa: ANN001
    client = TestClient(create_app(office))
    incident_id = incident(office)
    page = client.get("/status?lang=en").text
    assert level_of(page, "biometrics") == "partial_outage" and "Photo camera broken" in page
    assert "Kamera foto rusak" in client.get("/status").text
    clock.advance(minutes=20)
    status_page.add_update(office, incident_id=incident_id, state=IncidentState.MONITORING,
                           body_id="Kamera cadangan dipasang.", body_en="A spare camera is in.", actor="supervisor")
    with pytest.raises(Conflict):
        status_page.add_update(office, incident_id=incident_id, state=IncidentState.IDENTIFIED,
                               body_id="x", body_en="x", actor="supervisor")
    with pytest.raises(InvalidInput):
        status_page.add_update(office, incident_id=incident_id, state=IncidentState.RESOLVED,
                               body_id="Selesai.", body_en=" ", actor="supervisor")
    status_page.add_update(office, incident_id=incident_id, state=IncidentState.RESOLVED,
                           body_id="Selesai.", body_en="Fixed.", actor="supervisor")
    page = client.get("/status?lang=en").text
    assert level_of(page, "biometrics") == "operational"
    assert f'<li id="incident-{incident_id}"' in page and "Resolved: Fixed." in page
    with office.uow(readonly=True) as uow:
        audited = uow.session.scalar(select(func.count()).where(t.audit_event.c.action.like("StatusIncident%")))
    assert audited == 3


def test_a_staff_override_sets_a_level_with_its_reason_until_it_runs_out(sqlite_office, clock) -> None:  # noqa: ANN001
    client = TestClient(create_app(sqlite_office))
    status_page.set_override(sqlite_office, component=Component.PRINTING, level=Level.MAJOR_OUTAGE,
                             reason_id="Mesin cetak rusak", reason_en="The printer is broken",
                             until=clock.now() + timedelta(hours=2), actor="supervisor")
    page = client.get("/status?lang=en").text
    assert level_of(page, "printing") == "major_outage" and "The printer is broken" in page
    clock.advance(hours=2)
    assert level_of(client.get("/status").text, "printing") == "operational"
    with pytest.raises(InvalidInput):
        status_page.set_override(sqlite_office, component=Component.PRINTING, level=Level.DEGRADED,
                                 reason_id="a", reason_en="b", until=clock.now(), actor="supervisor")


def test_the_atom_feed_is_valid_and_carries_each_incident_and_maintenance(sqlite_office, clock) -> None:  # noqa: ANN001
    first = incident(sqlite_office)
    planned = incident(sqlite_office, kind="maintenance", title_id="Pemeliharaan server", title_en="Server upkeep",
                       body_id="Layanan berhenti sebentar.", body_en="A short stop.", components=[Component.BOOKING],
                       impact=Level.MAJOR_OUTAGE, starts_at=clock.now() + timedelta(days=1),
                       ends_at=clock.now() + timedelta(days=1, hours=2))
    response = TestClient(create_app(sqlite_office)).get("/status/feed.atom?lang=en")
    assert response.headers["content-type"].startswith("application/atom+xml")
    assert response.headers["cache-control"].startswith("public")
    feed = feedparser.parse(response.content)
    assert not feed.bozo, feed.get("bozo_exception")
    assert feed.version == "atom10" and "Kantor Imigrasi Manado" in feed.feed.title
    by_id = {e.id: e for e in feed.entries}
    assert set(by_id) == {f"urn:uuid:{first}", f"urn:uuid:{planned}"}
    assert by_id[f"urn:uuid:{planned}"].title == "Maintenance: Server upkeep"
    assert "We are looking into it." in by_id[f"urn:uuid:{first}"].content[0].value
    page = TestClient(create_app(sqlite_office)).get("/status?lang=en").text
    assert level_of(page, "booking") == "operational", "maintenance counts only within its window"
    assert 'id="upcoming-h"' in page
    clock.advance(days=1, minutes=1)
    assert level_of(TestClient(create_app(sqlite_office)).get("/status").text, "booking") == "major_outage"


def test_kanim_status_export_writes_the_page_and_feed_in_both_languages_with_relative_links(tmp_path, clock) -> None:  # noqa: ANN001
    from tests.conftest import make_office
    from tests.integration.test_cli_link import kanim

    office, _ = make_office(tmp_path, "sqlite", clock, None)
    incident(office)
    office.engine.dispose()
    data = tmp_path / "data"
    r = kanim(data, "status", "export", str(tmp_path / "out"))  # a real `kanim` process, as cron runs it
    assert r.returncode == 0, r.stderr
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["console.css", "feed.atom", "feed.en.atom",
                                                                   "index.en.html", "index.html"]
    html = (tmp_path / "out" / "index.html").read_text()
    assert 'href="console.css"' in html and 'href="index.en.html"' in html and "Kamera foto rusak" in html
    assert "Photo camera broken" in (tmp_path / "out" / "index.en.html").read_text()
    assert not feedparser.parse((tmp_path / "out" / "feed.en.atom").read_bytes()).bozo


def test_a_supervisor_publishes_from_the_console_and_other_roles_may_not(tmp_path, clock, monkeypatch) -> None:  # noqa: ANN001
    office = staff_office(tmp_path, clock, monkeypatch)
    c = as_role(office, "supervisor")
    assert 'href="/staff/status"' in c.get("/staff/").text or c.get("/staff/status").status_code == 200
    token = csrf(c, "/staff/status")
    form = {"kind": "incident", "title_id": "Antrean lambat", "title_en": "Slow queue", "body_id": "Sedang dicek.",
            "body_en": "Being checked.", "components": ["booking", "biometrics"], "impact": "degraded"}
    r = c.post("/staff/status/incidents", data=form, headers=htmx(token, "incident-form", key="k-1"))
    assert r.status_code == 200 and 'id="status-done"' in r.text
    page = TestClient(create_app(office)).get("/status?lang=en").text
    assert level_of(page, "booking") == level_of(page, "biometrics") == "degraded"
    missing = c.post("/staff/status/incidents", data={**form, "components": []}, headers=htmx(token, "incident-form",
                                                                                            key="k-2"))
    assert missing.status_code == 422 and field_error(missing.text, "incident-form", "components")
    r = c.post("/staff/status/overrides", data={"component": "printing", "level": "degraded", "reason_id": "Lambat",
                                                "reason_en": "Slow", "until": "2030-01-01T08:00"},
               headers=htmx(token, "override-form", key="k-3"))
    assert r.status_code == 200 and 'id="status-printing" data-level="degraded"' in r.text
    cashier = as_role(office, "cashier")
    assert cashier.get("/staff/status").status_code == 403
    refused = cashier.post("/staff/status/incidents", data=form,
                           headers=htmx(csrf(cashier, "/staff/"), "incident-form", key="k-4"))
    assert refused.status_code == 403
    with office.uow(readonly=True) as uow:
        assert uow.session.scalar(select(func.count()).select_from(t.status_incident)) == 1
    office.engine.dispose()
