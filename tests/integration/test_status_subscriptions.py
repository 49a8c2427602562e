"""Subscriptions to the status page (kanim/office/subscriptions.py, the form on /status and the
links /s/<code>): double opt-in by link or by a reply YA, one notice per active subscriber when
staff publish, in their language, through the pipeline; the way out by link or by STOP; the
form throttled per address and per client, answering the same for every address and showing
nothing of it."""

from __future__ import annotations

import logging
import re

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from kanim.domain.errors import InvalidInput
from kanim.domain.status_page import Component, IncidentState, Level
from kanim.notify.purposes import Purpose
from kanim.notify.receipts import Inbound
from kanim.office import status_page, subscriptions
from kanim.store import tables as t
from kanim.web.app import create_app
from kanim.web.routers.notify import inbound_from_whatsapp
from tests.conftest import make_office
from tests.integration.test_notify_flow import Recorder, messages, worker

PHONE, LOCAL_PHONE = "+6281355501234", "0813-5550-1234"
EMAIL = "warga@example.co.id"


@pytest.fixture
def public_office(tmp_path, clock):  # noqa: ANN001, ANN201
    o, _ = make_office(tmp_path, "sqlite", clock, None, public_url="https://kanim.example")
    yield o
    o.engine.dispose()


@pytest.fixture
def any_public_office(tmp_path, backend, clock):  # noqa: ANN001, ANN201
    """SQLite, and PostgreSQL when the tests have one (the throttle's row locks, the ids)."""
    o, cleanup = make_office(tmp_path, backend, clock, None, public_url="https://kanim.example")
    yield o
    o.engine.dispose()
    cleanup()


def ask(client: TestClient, channel: str, address: str, lang: str = "id"):  # noqa: ANN201
    return client.post(f"/status/subscribe?lang={lang}", data={"channel": channel, "address": address})


def subscriber(office, address: str):  # noqa: ANN001, ANN201
    with office.uow(readonly=True) as uow:
        return uow.session.execute(select(t.status_subscriber).where(t.status_subscriber.c.address == address)).one()


def publish(office, **kw) -> str:  # noqa: ANN001, ANN003
    words = dict(kind="incident", title_id="Sistem nasional terputus", title_en="National system unreachable",
                 body_id="Paspor tercetak menunggu konfirmasi.", body_en="Printed passports wait for confirmation.",
                 components=[Component.PAYMENT_CONFIRMATION], impact=Level.MAJOR_OUTAGE, actor="supervisor")
    return status_page.open_incident(office, **{**words, **kw})


def test_a_subscriber_confirms_by_link_is_told_of_each_update_and_stops_by_link(any_public_office) -> None:  # noqa: ANN001
    client = TestClient(create_app(any_public_office))
    form = client.get("/status")
    assert 'id="subscribe-form"' in form.text and 'action="/status/subscribe?lang=id"' in form.text
    r = ask(client, "whatsapp", LOCAL_PHONE)
    assert r.status_code == 200 and 'id="asked"' in r.text and r.headers["cache-control"] == "no-store"
    assert "5550" not in r.text and "1234" not in r.text, "nothing typed is shown back"
    row = subscriber(any_public_office, PHONE)  # parsed by phonenumbers, region ID: stored in E.164
    assert row.state == "pending" and row.channel == "whatsapp" and row.language == "id"
    [msg] = messages(any_public_office, purpose=Purpose.STATUS_CONFIRM.value)
    assert (msg.channel, msg.address, msg.fallbacks, msg.application_id) == ("whatsapp", PHONE, [], None)
    assert msg.params["confirm_url"] == f"https://kanim.example/s/{row.code}"
    page = client.get(f"/s/{row.code}")  # a GET changes nothing: mail scanners open links
    assert page.status_code == 200 and 'id="confirm"' in page.text and "+62813•" in page.text
    assert subscriber(any_public_office, PHONE).state == "pending"
    publish(any_public_office, title_id="Uji", title_en="Test")
    assert messages(any_public_office, purpose=Purpose.STATUS_NOTICE.value) == [], "not before it is confirmed"
    done = client.post(f"/s/{row.code}")
    assert done.status_code == 200 and 'id="active"' in done.text
    subscriptions.subscribe(any_public_office, channel="email", address=EMAIL, language="en", client="10.0.0.2")
    subscriptions.confirm(any_public_office, subscriber(any_public_office, EMAIL).code)

    incident_id = publish(any_public_office)
    status_page.add_update(any_public_office, incident_id=incident_id, state=IncidentState.RESOLVED, body_id="Pulih.",
                           body_en="Back.", actor="supervisor")
    notices = messages(any_public_office, purpose=Purpose.STATUS_NOTICE.value)
    assert sorted(m.address for m in notices) == sorted([PHONE, EMAIL] * 2), "one per update and subscriber"
    first = {m.address: m for m in reversed(notices)}
    assert first[PHONE].params["notice_title"] == "Gangguan: Sistem nasional terputus", "in their language"
    assert first[EMAIL].params["notice_text"] == "Investigating: Printed passports wait for confirmation."
    code = subscriber(any_public_office, EMAIL).code
    assert first[EMAIL].params["stop_url"] == f"https://kanim.example/s/{code}/stop"
    rec = Recorder()
    worker(any_public_office, rec).drain()
    sent = [s for s in rec.sent if s[2] == Purpose.STATUS_NOTICE.value]
    assert len(sent) == 4 and any("Back." in s[3] for s in sent if s[1] == EMAIL)

    assert 'id="stop"' in client.get(f"/s/{code}/stop").text
    r = client.post(f"/s/{code}/stop")
    assert r.status_code == 200 and 'id="ended"' in r.text and "w•••@example.co.id" in r.text
    client.post(f"/s/{code}")
    assert subscriber(any_public_office, EMAIL).state == "ended", "an old confirm link does not restart it"
    assert client.get("/s/aaaaaaaaaa").status_code == 404


def test_a_reply_ya_confirms_and_stop_ends_a_phone_subscription(public_office, clock) -> None:  # noqa: ANN001
    subscriptions.subscribe(public_office, channel="sms", address=PHONE, language="en", client="10.0.0.1")
    reply = lambda text, n: Inbound(id=f"in-{n}", from_number=PHONE, text=text, at=clock.now())  # noqa: E731
    inbound_from_whatsapp(public_office, [], [reply("ya", 1)], channel="sms")
    assert subscriber(public_office, PHONE).state == "active"
    inbound_from_whatsapp(public_office, [], [reply("BERHENTI", 2)], channel="sms")
    row = subscriber(public_office, PHONE)
    assert row.state == "ended" and row.ended_how == "reply"


def test_the_form_refuses_bad_input_as_a_page_and_is_throttled_per_address_and_client(public_office, clock,
                                                                                      monkeypatch, caplog) -> None:  # noqa: ANN001
    caplog.set_level(logging.DEBUG)
    client = TestClient(create_app(public_office))
    for channel, address, code in (("sms", "12", "subscribe-address"), ("fax", PHONE, "subscribe-channel"),
                                   ("email", "not-an-address", "subscribe-address")):
        r = ask(client, channel, address)
        assert r.status_code == 422 and f'data-code="{code}"' in r.text, (channel, address)
    assert client.post("/status/subscribe", data={"channel": "sms", "address": "9" * 400}).status_code == 422
    monkeypatch.setattr(public_office.settings, "public_url", None)  # no https address: no links
    r = ask(client, "email", EMAIL)
    assert r.status_code == 422 and 'data-code="subscribe-channel-unavailable"' in r.text
    assert ask(client, "sms", PHONE).status_code == 200
    assert messages(public_office)[0].params["confirm_url"] is None, "no link: the subscriber replies YA"
    assert ask(client, "sms", PHONE).status_code == 200, "a second try: the first may not have come"
    r = ask(client, "sms", PHONE)
    assert r.status_code == 429 and int(r.headers["retry-after"]) > 0 and 'id="throttled"' in r.text
    assert len(messages(public_office, purpose=Purpose.STATUS_CONFIRM.value)) == 2
    for i in range(8):  # other numbers from the same client, up to its free tries
        ask(client, "sms", f"+628135550{i:04d}")
    assert ask(client, "sms", "+6281355508888").status_code == 429, "one client cannot walk through numbers"
    clock.advance(hours=25)
    assert ask(client, "sms", PHONE).status_code == 200
    assert "5550" not in caplog.text and "1234" not in caplog.text, "addresses are never logged"


def test_a_parsed_address_is_e164_or_an_email_and_refused_by_field() -> None:
    assert subscriptions.parse_address("sms", "0813 5550 1234")[1] == PHONE
    assert subscriptions.parse_address("email", "Warga@Example.CO.ID")[1] == "Warga@example.co.id"
    with pytest.raises(InvalidInput) as caught:
        subscriptions.parse_address("whatsapp", "warga@example.co.id")
    assert caught.value.code == "subscribe-address" and caught.value.extra["field"] == "address"


def test_links_are_made_only_for_an_https_public_address() -> None:
    from kanim.config import Settings

    assert subscriptions.link(Settings(public_url="https://kanim.example/"), "abc", stop=True) == \
        "https://kanim.example/s/abc/stop"
    assert subscriptions.link(Settings(public_url="http://kanim.example"), "abc") is None, "links elsewhere look like scams"
    assert subscriptions.link(Settings(public_url=None), "abc") is None
    assert Settings(status_social_urls=" tgram://a/b , ,mastodons://t@h ").social_urls == ["tgram://a/b", "mastodons://t@h"]


def test_a_notice_is_the_kind_and_title_then_the_state_and_words() -> None:
    n = subscriptions.Notice("status:1", "maintenance", "identified", {"id": "Server  baru", "en": "New server"},
                             {"id": "Mulai pukul\n20.00.", "en": "From 20:00."})
    assert subscriptions.notice_words(n, "id") == ("Pemeliharaan: Server baru", "Penyebab ditemukan: Mulai pukul 20.00.")
    assert subscriptions.notice_words(n, "en") == ("Maintenance: New server", "Identified: From 20:00.")
    assert not re.search(r"\s{2}", "".join(subscriptions.notice_words(n, "id")))


def test_an_incident_posted_to_telegram_reaches_it_and_the_desk_shows_it_and_subscribers_masked(tmp_path, clock,
                                                                                              monkeypatch) -> None:  # noqa: ANN001
    from kanim.notify.worker import Worker, transport_for
    from tests.console_desks import PASSWORD, as_role
    from tests.notify_sinks import FakeTelegramBot

    with FakeTelegramBot() as bot:
        from argon2 import PasswordHasher

        from kanim.office import accounts
        from kanim.security import passwords

        monkeypatch.setattr(passwords, "_hasher", PasswordHasher(time_cost=1, memory_cost=8, parallelism=1))
        office, _ = make_office(tmp_path, "sqlite", clock, None, public_url="https://kanim.example",
                                status_social_urls=f"{bot.url}, {bot.url.replace(bot.chat, '-1009999')}")
        accounts.add_user(office, username="supervisor", full_name="s", role="supervisor", password=PASSWORD)
        publish(office, social=True)
        Worker(office, transport_for(office), holder="test-worker").drain()
        # The second URL names a chat the bot does not know: refused (the office's setup), not retried.
        [text] = [r.json["text"] for r in bot.requests if str(r.json.get("chat_id")) == bot.chat]
        assert len(bot.requests) == 2
        assert "Gangguan: Sistem nasional terputus" in text and "Incident: National system unreachable" in text
        assert "https://kanim.example/status" in text
        subscriptions.subscribe(office, channel="whatsapp", address=PHONE, language="id", client="10.0.0.5")
        page = as_role(office, "supervisor").get("/staff/status").text
        assert page.count('<tr data-state="sent">') == 1 and page.count('<tr data-state="technical-failure">') == 1
        assert 'id="subscribers"' in page and "+62813•" in page and PHONE not in page, "addresses masked"
        office.engine.dispose()
