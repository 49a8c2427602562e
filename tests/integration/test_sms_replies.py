"""SMS replies, as an SMSEagle gateway's Callback URL forwards them (a form POST with the office's
API key): BERHENTI opts out, GANTI moves a pickup slot, a repeated callback acts once, and a
wrong key or a body that is no form is refused with its problem, never a 500."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from kanim.notify.purposes import State
from kanim.office import notify
from kanim.store import fanout
from kanim.store import tables as t
from kanim.web.app import create_app
from tests.conftest import make_office
from tests.integration.test_notify_flow import PHONE, book, messages

KEY = "sms-callback-key-4f1c"
INBOUND = "/api/v1/notify/sms/inbound"


@pytest.fixture
def office(tmp_path, backend, clock, central):  # noqa: ANN001, ANN201
    o, cleanup = make_office(tmp_path, backend, clock, central, notify_sms_callback_key=KEY)
    yield o
    o.engine.dispose()
    cleanup()


@pytest.fixture
def client(office) -> TestClient:  # noqa: ANN001
    return TestClient(create_app(office), base_url="http://kanim.test", raise_server_exceptions=False)


def reply(client: TestClient, text: str, *, sender: str = "081234567890", msgid: str = "4711", key: str = KEY):
    return client.post(INBOUND, data={"apikey": key, "sender": sender, "text": text, "msgid": msgid,
                                      "timestamp": "20261201093000", "modem_no": "1"})


def test_berhenti_by_sms_opts_the_number_out_and_cancels_what_waits(office, client) -> None:  # noqa: ANN001
    book(office, channel="sms")
    fanout.take(office.uow, notify.CONSUMER.name, notify.handler(office.settings))  # the rules, not the sends
    assert [m.state for m in messages(office)] == [State.CREATED.value]
    r = reply(client, " berhenti ")
    assert r.status_code == 200 and r.json()["replies"] == 1, r.text
    with office.uow(readonly=True) as uow:
        how = uow.session.scalar(select(t.notify_optout.c.how).where(t.notify_optout.c.address == PHONE))
    assert how == "reply", "the sender's 0812… is the applicant's +62812…"
    assert [m.state for m in messages(office)] == [State.CANCELLED.value]


def test_a_callback_repeated_is_acted_on_once_and_a_new_one_again(office, client, monkeypatch) -> None:  # noqa: ANN001
    from kanim.office import pickup_slots

    calls = []
    monkeypatch.setattr(pickup_slots, "answer", lambda office, uow, **kw: calls.append(kw) or 0)
    assert reply(client, "GANTI", msgid="9").status_code == 200
    assert reply(client, "GANTI", msgid="9").status_code == 200
    assert reply(client, "GANTI", msgid="10").status_code == 200
    assert [c["intent"] for c in calls] == ["change", "change"] and calls[0]["address"] == PHONE


@pytest.mark.parametrize(("body", "status", "code"), [
    ({"apikey": "wrong", "sender": "081234567890", "text": "STOP"}, 401, "webhook-signature-invalid"),
    ({"sender": "081234567890", "text": "STOP"}, 401, "webhook-signature-invalid"),
    ({"apikey": KEY, "sender": "not a number", "text": "STOP"}, 422, "webhook-malformed"),
    ({"apikey": KEY, "sender": "0" * 40, "text": "STOP"}, 422, "webhook-malformed"),
])
def test_a_wrong_key_or_sender_is_refused_with_its_problem(office, client, body, status, code) -> None:  # noqa: ANN001
    r = client.post(INBOUND, data=body)
    assert (r.status_code, r.json()["code"]) == (status, code)
    assert r.headers["content-type"].startswith("application/problem+json")
    with office.uow(readonly=True) as uow:
        assert uow.session.scalar(select(t.notify_optout.c.address)) is None


def test_a_body_that_is_no_form_is_refused(client) -> None:  # noqa: ANN001
    r = client.post(INBOUND, content=b"\xff\x00" * 100, headers={"content-type": "multipart/form-data; boundary=x"})
    assert r.status_code in (401, 422) and r.json()["code"] in ("webhook-malformed", "webhook-signature-invalid")


def test_without_a_key_configured_the_route_is_off(tmp_path, clock, central) -> None:  # noqa: ANN001
    office, cleanup = make_office(tmp_path, "sqlite", clock, central)
    client = TestClient(create_app(office), base_url="http://kanim.test")
    r = client.post(INBOUND, data={"apikey": "", "sender": "081234567890", "text": "STOP"})
    assert (r.status_code, r.json()["code"]) == (404, "webhook-not-configured")
    office.engine.dispose()
    cleanup()
