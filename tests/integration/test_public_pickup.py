"""The applicant's pickup link, `/p/<code>`, over HTTP in process: it shows the slot and
nothing personal, a GET changes nothing, the page's buttons confirm or move the slot, and a code
that is not the office's gets a page that says so."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy import select

from kanim.store import tables as t
from kanim.web.app import create_app
from tests.integration.test_notify_flow import PHONE, Recorder, book, checked, worker


def ready_with_slot(office, central):  # noqa: ANN001, ANN201
    app = book(office, language="en")[0]
    checked(office, [app], central)
    worker(office, Recorder()).drain()
    with office.uow() as uow:
        row = uow.session.execute(select(t.pickup_assignment)).one()
    return app, row


def test_the_link_shows_the_slot_in_the_applicants_language_and_nothing_personal(sqlite_office, central) -> None:  # noqa: ANN001
    app, slot = ready_with_slot(sqlite_office, central)
    client = TestClient(create_app(sqlite_office))
    page = client.get(f"/p/{slot.code}")
    assert page.status_code == 200 and page.headers["cache-control"] == "no-store"
    assert app.number in page.text and slot.slot in page.text and "Your pickup slot" in page.text
    for personal in ("Rahmawati", "3171014508900001", PHONE):
        assert personal not in page.text
    assert "Jadwal pengambilan" in client.get(f"/p/{slot.code}?lang=id").text
    with sqlite_office.uow() as uow:
        assert uow.session.scalar(select(t.pickup_assignment.c.state)) == "offered", "a GET changes nothing"


def test_the_buttons_confirm_the_slot_or_move_it_to_the_next_free_one(sqlite_office, central) -> None:  # noqa: ANN001
    _, slot = ready_with_slot(sqlite_office, central)
    client = TestClient(create_app(sqlite_office))
    confirmed = client.post(f"/p/{slot.code}", data={"answer": "confirm"})
    assert confirmed.status_code == 200 and 'id="answered"' in confirmed.text
    p = t.pickup_assignment.c
    with sqlite_office.uow() as uow:
        assert uow.session.scalar(select(p.state)) == "confirmed"
    moved = client.post(f"/p/{slot.code}/".rstrip("/"), data={"answer": "change"})
    assert moved.status_code == 200
    with sqlite_office.uow() as uow:
        after = uow.session.execute(select(p.day, p.slot, p.state, p.moves)).one()
    assert (after.day, after.slot) > (slot.day, slot.slot) and after.moves == 1 and after.state == "offered"


def test_an_unknown_or_malformed_code_is_a_page_that_says_so(sqlite_office) -> None:  # noqa: ANN001
    client = TestClient(create_app(sqlite_office))
    assert client.get("/p/abcdefghij").status_code == 404
    assert "Link" in client.post("/p/abcdefghij", data={"answer": "confirm"}).text
    assert client.post("/p/abcdefghij", data={"answer": "steal"}).status_code == 422
    assert client.get("/p/" + "a" * 50).status_code in (404, 422)


def test_the_emails_unsubscribe_link_asks_then_stops_every_message_to_that_address(sqlite_office) -> None:  # noqa: ANN001
    from tests.integration.test_notify_flow import EMAIL, messages

    sqlite_office.settings.public_url = "https://mdo.imigrasi.id"
    book(sqlite_office, channel="email")
    worker(sqlite_office, Recorder()).drain()
    link = messages(sqlite_office)[0].params["optout_url"]
    path = link.removeprefix("https://mdo.imigrasi.id")
    client = TestClient(create_app(sqlite_office))
    page = client.get(path)
    assert page.status_code == 200 and EMAIL not in page.text and "s•••@example.co.id" in page.text
    with sqlite_office.uow() as uow:
        from kanim.office import notify

        assert not notify.opted_out(uow, EMAIL), "a GET changes nothing"
    assert 'id="done"' in client.post(path).text
    with sqlite_office.uow() as uow:
        assert notify.opted_out(uow, EMAIL)
    forged = path[:-1] + ("0" if path[-1] != "0" else "1")
    assert client.get(forged).status_code == 404 and client.post(forged).status_code == 404
