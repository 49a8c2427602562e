"""The applicant's status lookup, `/track` and `POST /api/v1/track`, over HTTP in process: the
plain answer with the first name only, the same refusal for an unknown number and a wrong birth
date, the throttles per number and per address, and bad input answered in words, never a 500."""

from __future__ import annotations

import logging

from fastapi.testclient import TestClient
from sqlalchemy import select

from kanim.office import documents, track
from kanim.store import tables as t
from kanim.web.app import create_app
from tests.integration.test_notify_flow import PHONE, book
from tests.integration.test_public_pickup import ready_with_slot

BORN = "1990-08-05"
PERSONAL = ("Rahmawati", "3171014508900001", PHONE, "siti@example.co.id")


def lookup(client: TestClient, number: str, born: str = BORN, lang: str = "id"):  # noqa: ANN201
    return client.post(f"/api/v1/track?lang={lang}", json={"number": number, "birth_date": born})


def test_the_number_and_birth_date_give_the_status_in_plain_words_and_the_first_name_only(sqlite_office, caplog) -> None:  # noqa: ANN001
    caplog.set_level(logging.DEBUG)
    app = book(sqlite_office)[0]
    client = TestClient(create_app(sqlite_office))
    page = client.post("/track", data={"number": app.number.lower() + " ", "birth_date": BORN})
    assert page.status_code == 200 and page.headers["cache-control"] == "no-store"
    assert 'data-state="received"' in page.text and "Siti" in page.text
    assert "KTP" in page.text and "1 Desember 2026" in page.text, "what to bring and the appointment"
    for personal in PERSONAL + (BORN,):
        assert personal not in page.text
    english = client.post("/track?lang=en", data={"number": app.number, "birth_date": BORN}).text
    assert "Received" in english and "Diterima" in page.text
    api = lookup(client, app.number, lang="en")
    assert api.status_code == 200 and api.headers["cache-control"] == "no-store"
    body = api.json()
    assert (body["number"], body["first_name"], body["state"]) == (app.number, "Siti", "received")
    assert body["expected_on"] == "2026-12-01" and body["pickup"] is None and body["bring"]
    assert BORN not in caplog.text and "Rahmawati" not in caplog.text
    with sqlite_office.uow(readonly=True) as uow:
        kinds = set(uow.session.scalars(select(t.login_throttle.c.kind)))
    assert not kinds & {track.NUMBER, track.ADDRESS}, "the applicant's own lookups charge nothing"


def test_a_ready_passport_shows_its_own_pickup_slot(sqlite_office, central) -> None:  # noqa: ANN001
    app, slot = ready_with_slot(sqlite_office, central)
    client = TestClient(create_app(sqlite_office))
    body = lookup(client, app.number).json()
    assert body["state"] == "ready" and body["pickup"] == {"day": slot.day.isoformat(), "slot": slot.slot}
    page = client.post("/track?lang=en", data={"number": app.number, "birth_date": BORN}).text
    assert 'id="pickup"' in page and slot.slot in page


def test_an_unknown_number_and_a_wrong_birth_date_get_the_same_answer(sqlite_office) -> None:  # noqa: ANN001
    app = book(sqlite_office)[0]
    client = TestClient(create_app(sqlite_office))
    wrong, unknown = lookup(client, app.number, "1990-08-06"), lookup(client, "MND-20261130-9999")
    assert wrong.status_code == unknown.status_code == 404
    assert wrong.headers["content-type"] == "application/problem+json"
    assert {k: v for k, v in wrong.json().items() if k != "instance"} == \
        {k: v for k, v in unknown.json().items() if k != "instance"}
    assert wrong.json()["code"] == "track-not-found"
    page = client.post("/track", data={"number": app.number, "birth_date": "1990-08-06"})
    assert page.status_code == 404 and 'id="not-found"' in page.text


def test_guessing_birth_dates_for_one_number_is_throttled_with_retry_after(office, clock) -> None:  # noqa: ANN001
    app = book(office)[0]
    client = TestClient(create_app(office))
    answers = [lookup(client, app.number, f"1990-08-{d:02d}").status_code for d in range(10, 14)]
    assert answers == [404, 404, 404, 429]
    refused = lookup(client, app.number)
    assert refused.status_code == 429, "while throttled even the right birth date is not checked"
    wait = int(refused.headers["retry-after"])
    assert refused.json()["code"] == "track-throttled" and 0 < wait <= 30
    page = client.post("/track?lang=en", data={"number": app.number, "birth_date": BORN})
    assert page.status_code == 429 and 'id="throttled"' in page.text and page.headers["retry-after"]
    clock.advance(seconds=wait)
    assert lookup(client, app.number).status_code == 200
    assert lookup(client, app.number, "1990-08-20").status_code == 404, "the right date started the number again"


def test_walking_through_numbers_from_one_address_is_throttled_but_not_another_address(sqlite_office) -> None:  # noqa: ANN001
    app = book(sqlite_office)[0]
    walker = TestClient(create_app(sqlite_office), client=("203.0.113.7", 5000))
    codes = [lookup(walker, f"MND-20261130-{n:04d}", "1980-01-01").status_code for n in range(100, 121)]
    assert codes[:20] == [404] * 20 and codes[20] == 429
    assert lookup(walker, app.number).status_code == 429, "the address waits, whatever it asks"
    neighbour = TestClient(create_app(sqlite_office), client=("198.51.100.9", 5000))
    assert lookup(neighbour, app.number).status_code == 200
    with sqlite_office.uow() as uow:
        keys = list(uow.session.scalars(select(t.login_throttle.c.key)))
    assert not any(app.number in k or "1980" in k for k in keys), "nothing typed is stored"


def test_bad_input_is_answered_in_words_never_a_500(sqlite_office) -> None:  # noqa: ANN001
    client = TestClient(create_app(sqlite_office))
    page = client.post("/track?lang=en", data={"number": "<script>", "birth_date": "31-02-1990"})
    assert page.status_code == 422 and 'id="number-err"' in page.text and 'id="birth_date-err"' in page.text
    assert "<script>" not in page.text
    assert client.post("/track", data={}).status_code == 422
    for body in ({"number": "x" * 40, "birth_date": BORN}, {"number": "MND-1", "birth_date": "soon"},
                 {"number": "MND-1", "birth_date": BORN, "nik": "3171014508900001"}):
        r = client.post("/api/v1/track", json=body)
        assert r.status_code == 422 and r.json()["code"] == "request-invalid", body


def test_the_form_is_cached_briefly_and_the_receipts_qr_code_fills_the_number_in(sqlite_office, monkeypatch) -> None:  # noqa: ANN001
    app = book(sqlite_office)[0]
    client = TestClient(create_app(sqlite_office))
    form = client.get(f"/track?number={app.number}")
    assert form.status_code == 200 and form.headers["cache-control"].startswith("public, max-age=")
    assert f'value="{app.number}"' in form.text and 'name="birth_date"' in form.text
    assert 'value="<' not in client.get("/track?number=%3Cb%3E").text
    sqlite_office.settings.public_url = "https://mdo.imigrasi.go.id"
    assert track.receipt_qr(sqlite_office.settings, app.number) == f"https://mdo.imigrasi.go.id/track?number={app.number}"
    seen = {}
    import kanim.render.receipt  # documents imports it when a receipt is first printed

    monkeypatch.setattr(kanim.render.receipt, "render_receipt_pdf", lambda **kw: seen.update(kw) or b"%PDF")
    documents.receipt_pdf(sqlite_office, application_id=app.id)
    assert seen["qr_payload"].endswith(f"/track?number={app.number}")
    sqlite_office.settings.public_url = None
    assert track.receipt_qr(sqlite_office.settings, app.number) == f"KANIM:MND:{app.number}", "no public pages: the counter's code"
