"""Telegram for applicants, end to end inside one process: the office's webhook route (Telegram's
updates, proved by the secret token), the rules and the worker on a real database, and Apprise's
own Telegram and SMSEagle plugins sending to local servers (tests.notify_sinks).

A booking that prefers Telegram is told on its phone until the applicant opens the booking's
start link and presses Start; from then on in the chat. The first Start wins: the same link
from another chat links nothing. A chat that blocked the bot falls back to
SMS; STOP in the chat opts it out; a forged or malformed update is refused with its problem."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from kanim.domain.contact import Channel
from kanim.notify.purposes import Purpose, State
from kanim.notify.transport import AppriseTransport, Outcome, SendResult
from kanim.notify.worker import Worker
from kanim.office import notify, payment, telegram
from kanim.seed import advance
from kanim.store import fanout
from kanim.store import tables as t
from kanim.web.app import create_app
from tests.conftest import make_office
from tests.integration.test_notify_flow import book, messages
from tests.integration.test_notify_transport import READY
from tests.notify_sinks import Answer, FakeSMSEagle, FakeTelegramBot

SECRET = "telegram-secret-token-4f1c9a"
CHAT = "555123456"
BOT = "KanimTestBot"
WEBHOOK = "/api/v1/notify/telegram/webhook"


@pytest.fixture
def bot() -> Iterator[FakeTelegramBot]:
    with FakeTelegramBot(chat=CHAT) as fake:
        yield fake


@pytest.fixture
def gateway() -> Iterator[FakeSMSEagle]:
    with FakeSMSEagle() as fake:
        yield fake


@pytest.fixture
def office(tmp_path, backend, clock, central, bot, gateway):  # noqa: ANN001, ANN201
    o, cleanup = make_office(
        tmp_path, backend, clock, central, notify_telegram_url=f"tgram://{bot.token}/?api={bot.base_url}",
        notify_telegram_bot=BOT, notify_telegram_secret=SECRET,
        notify_sms_url=f"smseagle://{gateway.token}@127.0.0.1:{gateway.port}/", notify_timeout=3)
    yield o
    o.engine.dispose()
    cleanup()


@pytest.fixture
def client(office) -> TestClient:  # noqa: ANN001
    return TestClient(create_app(office), base_url="http://kanim.test", raise_server_exceptions=False)


def update(text: str, *, update_id: int = 1, chat: str = CHAT, kind: str = "private",
           language: str = "id") -> dict[str, Any]:
    """An Update as Telegram posts it to a bot's webhook."""
    return {"update_id": update_id, "message": {
        "message_id": update_id + 100, "date": 1796112000, "text": text,
        "from": {"id": int(chat), "is_bot": False, "first_name": "Siti", "language_code": language},
        "chat": {"id": int(chat), "type": kind, "first_name": "Siti"}}}


def post(client: TestClient, body: Any, *, secret: str | None = SECRET):  # noqa: ANN201
    headers = {"X-Telegram-Bot-Api-Secret-Token": secret} if secret is not None else {}
    return client.post(WEBHOOK, json=body, headers=headers)


def start(client: TestClient, office, booking_id: str, **kw: Any):  # noqa: ANN001, ANN201
    url = telegram.start_url(office.settings, booking_id, "telegram")
    assert url and url.startswith(f"https://t.me/{BOT}?start=")
    return post(client, update(f"/start {url.partition('start=')[2]}", **kw))


def drain(office) -> None:  # noqa: ANN001
    Worker(office, holder="test-worker").drain()


def test_told_on_the_phone_until_the_bot_is_started_then_in_the_chat(office, client, bot, gateway) -> None:  # noqa: ANN001
    app = book(office, channel="telegram")[0]
    drain(office)
    [confirmed] = messages(office, purpose=Purpose.BOOKING_CONFIRMED.value)
    assert (confirmed.channel, confirmed.state) == ("sms", State.SENT.value), (
        "no chat yet: the phone (WhatsApp first, which this office has not configured, then SMS)")
    assert len(gateway.texts) == 1 and bot.requests == []

    r = start(client, office, app.booking_id, language="en")
    assert r.status_code == 200, r.text
    answer = r.json()
    assert (answer["method"], answer["chat_id"]) == ("sendMessage", int(CHAT))
    assert app.number in answer["text"] and "Siti" in answer["text"], "the booking's number, its first name"
    assert "pesan" in answer["text"], "in the booking's language (id), not the Telegram app's (en)"

    advance(office, app.id, "intake_done", app_type=app.app_type)
    billed, _ = payment.issue_billing(office, application_id=app.id, actor="cashier")
    drain(office)
    [issued] = messages(office, purpose=Purpose.BILLING_ISSUED.value)
    assert (issued.channel, issued.address, issued.state) == ("telegram", CHAT, State.SENT.value)
    [sent] = bot.requests
    assert sent.path == f"/bot{bot.token}/sendMessage"
    assert str(sent.json["chat_id"]) == CHAT and billed.billing_code in sent.json["text"]
    assert issued.provider_ref == "100", "the Bot API's message id"
    assert [f[0] for f in issued.fallbacks] == ["whatsapp", "sms", "email"], "the phone and email stay the fallbacks"
    assert "/o/" not in sent.json["text"], "no email unsubscribe link in a chat"
    with office.uow(readonly=True) as uow:
        audit = uow.session.execute(select(t.audit_event.c.subject, t.audit_event.c.detail)
                                    .where(t.audit_event.c.action == "telegram_linked")).one()
    assert audit.subject == app.booking_id and CHAT not in str(audit.detail), "the audit names no chat id"


def test_the_booking_api_answers_the_start_link_for_a_telegram_booking_only(office, client, monkeypatch) -> None:  # noqa: ANN001
    from argon2 import PasswordHasher

    from kanim.office import accounts
    from kanim.security import passwords

    monkeypatch.setattr(passwords, "_hasher", PasswordHasher(time_cost=1, memory_cost=8, parallelism=1))
    accounts.add_user(office, username="desk", full_name="Desk", role="front_desk", password="correct-horse-battery")
    token = client.post("/api/v1/auth/token", json={"username": "desk", "password": "correct-horse-battery"}).json()
    headers = {"Authorization": f"Bearer {token['access_token']}"}
    body = {"account_ref": "acc-9", "day": "2026-12-01", "slot": "09:00", "contact_phone": "0812 3456 7890",
            "applicants": [{"full_name": "Siti Rahmawati", "nik": "3171014508900001", "birth_date": "1990-08-05",
                            "sex": "F"}]}
    r = client.post("/api/v1/bookings", json={**body, "preferred_channel": "telegram"}, headers=headers)
    assert r.status_code == 201, r.text
    link = r.json()["telegram_url"]
    assert link == telegram.start_url(office.settings, r.json()["booking_id"], "telegram")
    assert start(client, office, r.json()["booking_id"]).status_code == 200, "the link the API gave links the chat"
    other = {**body, "account_ref": "acc-10", "applicants": [{**body["applicants"][0], "nik": "3171010508900002",
                                                               "full_name": "Budi Santoso", "sex": "M"}]}
    r = client.post("/api/v1/bookings", json={**other, "preferred_channel": "sms"}, headers=headers)
    assert r.status_code == 201 and r.json()["telegram_url"] is None


def test_the_receipt_carries_the_start_link_until_the_bot_is_started(office, client, monkeypatch) -> None:  # noqa: ANN001
    import kanim.render.receipt
    from kanim.office import documents

    seen: dict = {}
    monkeypatch.setattr(kanim.render.receipt, "render_receipt_pdf", lambda **kw: seen.update(kw) or b"%PDF")
    app = book(office, channel="telegram")[0]
    documents.receipt_pdf(office, application_id=app.id)
    assert seen["telegram_url"] == telegram.start_url(office.settings, app.booking_id, "telegram")
    assert start(client, office, app.booking_id).status_code == 200
    documents.receipt_pdf(office, application_id=app.id)
    assert seen["telegram_url"] is None, "the chat is linked: nothing left to scan"
    other = book(office, channel="sms")[0]
    documents.receipt_pdf(office, application_id=other.id)
    assert seen["telegram_url"] is None


def test_a_chat_that_blocked_the_bot_falls_back_to_sms(office, client, bot, gateway) -> None:  # noqa: ANN001
    app = book(office, channel="telegram")[0]
    assert start(client, office, app.booking_id).status_code == 200
    bot.then(Answer(403, {"ok": False, "error_code": 403, "description": "Forbidden: bot was blocked by the user"}))
    drain(office)
    [confirmed] = messages(office, purpose=Purpose.BOOKING_CONFIRMED.value)
    assert (confirmed.channel, confirmed.state) == ("sms", State.SENT.value)
    with office.uow(readonly=True) as uow:
        a = t.notify_attempt.c
        tried = uow.session.execute(select(a.channel, a.outcome, a.reason).where(a.message_id == confirmed.id)
                                    .order_by(a.id)).all()
    assert [tuple(r) for r in tried][0] == ("telegram", "permanent", "telegram-403")
    assert tried[-1].channel == "sms" and tried[-1].outcome == "accepted"
    assert len(bot.requests) == 1 and len(gateway.texts) == 1


def test_stop_in_the_chat_opts_it_out_and_a_new_start_asks_again(office, client, bot) -> None:  # noqa: ANN001
    app = book(office, channel="telegram")[0]
    assert start(client, office, app.booking_id, update_id=1).status_code == 200
    r = post(client, update("/stop", update_id=2, language="en"))
    assert r.status_code == 200 and "no more messages" in r.json()["text"]
    with office.uow(readonly=True) as uow:
        assert uow.session.scalar(select(t.notify_optout.c.how).where(t.notify_optout.c.address == CHAT)) == "reply"
    advance(office, app.id, "intake_done", app_type=app.app_type)
    payment.issue_billing(office, application_id=app.id, actor="cashier")
    drain(office)
    billed = messages(office, purpose=Purpose.BILLING_ISSUED.value)
    assert [(m.channel, m.state, m.reason) for m in billed] == [("telegram", State.CANCELLED.value, "opted-out")]
    assert bot.requests == []
    assert start(client, office, app.booking_id, update_id=3).status_code == 200
    with office.uow(readonly=True) as uow:
        assert uow.session.scalar(select(t.notify_optout.c.address).where(t.notify_optout.c.address == CHAT)) is None


def test_a_question_in_the_chat_is_a_ticket_from_telegram_about_the_booking(office, client) -> None:  # noqa: ANN001
    app = book(office, channel="telegram")[0]
    assert start(client, office, app.booking_id, update_id=1).status_code == 200
    assert post(client, update("Kapan paspor saya selesai?", update_id=2)).json() == {}
    assert post(client, update("Kapan paspor saya selesai?", update_id=2)).status_code == 200, "delivered twice"
    with office.uow(readonly=True) as uow:
        rows = uow.session.execute(select(t.ticket.c.source, t.ticket.c.channel, t.ticket.c.address,
                                          t.ticket.c.application_id)).all()
        inbound = uow.session.scalar(select(func.count()).select_from(t.ticket_entry)
                                     .where(t.ticket_entry.c.kind == "inbound"))
    assert [tuple(r) for r in rows] == [("telegram", "telegram", CHAT, app.id)], "linked by the chat"
    assert inbound == 1, "an update Telegram delivered twice is acted on once"


def test_a_start_or_a_stop_delivered_twice_is_acted_on_once(office, client) -> None:  # noqa: ANN001
    app = book(office, channel="telegram")[0]
    first = start(client, office, app.booking_id, update_id=5)
    again = start(client, office, app.booking_id, update_id=5)
    assert "text" in first.json() and again.json() == {}, "answered once"
    for _ in range(2):
        assert post(client, update("STOP", update_id=6)).status_code == 200
    with office.uow(readonly=True) as uow:
        actions = [a for (a,) in uow.session.execute(select(t.audit_event.c.action)
                                                      .where(t.audit_event.c.action.like("%t%link%")
                                                             | (t.audit_event.c.action == "notify_opt_out")))]
    assert sorted(actions) == ["notify_opt_out", "telegram_linked"]


def test_the_first_start_wins_and_staff_can_unlink(office, client, bot) -> None:  # noqa: ANN001
    app = book(office, channel="telegram")[0]
    assert start(client, office, app.booking_id, update_id=1).status_code == 200
    stranger = start(client, office, app.booking_id, update_id=2, chat="888777666", language="en")
    assert stranger.status_code == 200 and "already in use" in stranger.json()["text"]
    assert app.number not in stranger.json()["text"], "a stranger learns nothing of the booking"
    with office.uow(readonly=True) as uow:
        assert uow.session.scalar(select(t.booking.c.contact_telegram)) == CHAT
    with office.uow() as uow:
        assert telegram.unlink(uow, number=app.number, actor="supervisor") == app.booking_id
        assert telegram.unlink(uow, number=app.number, actor="supervisor") is None, "nothing left to unlink"
        uow.commit()
    again = start(client, office, app.booking_id, update_id=3, chat="888777666")
    assert again.json()["text"].startswith("Halo Siti"), "after the unlink, the next Start links"
    with office.uow(readonly=True) as uow:
        assert uow.session.scalar(select(t.booking.c.contact_telegram)) == "888777666"


def test_ya_in_the_chat_confirms_the_pickup_slot(office, client, central) -> None:  # noqa: ANN001
    from kanim.office import pickup_slots
    from tests.integration.test_notify_flow import checked

    app = book(office, channel="telegram")[0]
    assert start(client, office, app.booking_id, update_id=1).status_code == 200
    checked(office, [app], central)
    pickup_slots.schedule(office)
    assert post(client, update("Ya", update_id=2)).status_code == 200
    with office.uow(readonly=True) as uow:
        state = uow.session.scalar(select(t.pickup_assignment.c.state)
                                   .where(t.pickup_assignment.c.application_id == app.id))
        tickets_opened = uow.session.scalar(select(func.count()).select_from(t.ticket))
    assert state == "confirmed" and tickets_opened == 0


def test_a_start_with_a_code_this_office_did_not_make_links_nothing(office, client) -> None:  # noqa: ANN001
    app = book(office, channel="telegram")[0]
    good = telegram.start_code(office.settings, app.booking_id)
    forged = good[:-1] + ("A" if good[-1] != "A" else "B")
    for n, text in enumerate([f"/start {forged}", "/start", "/start ../../etc", f"/start {good[:32]}"], start=1):
        r = post(client, update(text, update_id=n, language="en"))
        assert r.status_code == 200 and "open the Telegram link" in r.json()["text"], r.text
    with office.uow(readonly=True) as uow:
        assert uow.session.scalar(select(t.booking.c.contact_telegram)) is None


@pytest.mark.parametrize("body", [
    update("/start x", kind="group"),
    {"update_id": 7, "edited_message": update("hi")["message"]},
    {"update_id": 8, "callback_query": {"id": "1"}},
    {"update_id": "9", "message": update("hi")["message"]},
    {"update_id": 10, "message": {**update("hi")["message"], "from": {"id": 5, "is_bot": True}}},
    {"update_id": 11, "message": {**update("hi")["message"], "chat": {"id": 2**60, "type": "private"}}},
    [],
])
def test_what_kanim_does_not_read_is_answered_with_nothing(office, client, body) -> None:  # noqa: ANN001
    r = post(client, body)
    assert (r.status_code, r.json()) == (200, {})
    with office.uow(readonly=True) as uow:
        assert uow.session.scalar(select(t.ticket.c.id)) is None


@pytest.mark.parametrize(("secret", "status", "code"), [
    (None, 401, "webhook-signature-invalid"),
    ("wrong-secret-token-000000", 401, "webhook-signature-invalid"),
])
def test_a_forged_update_is_refused(office, client, secret, status, code) -> None:  # noqa: ANN001
    app = book(office, channel="telegram")[0]
    url = telegram.start_url(office.settings, app.booking_id, "telegram")
    r = post(client, update(f"/start {url.partition('start=')[2]}"), secret=secret)
    assert (r.status_code, r.json()["code"]) == (status, code)
    assert r.headers["content-type"].startswith("application/problem+json")
    with office.uow(readonly=True) as uow:
        assert uow.session.scalar(select(t.booking.c.contact_telegram)) is None


def test_a_body_that_is_not_json_is_malformed(client) -> None:  # noqa: ANN001
    r = client.post(WEBHOOK, content=b"\xff{", headers={"X-Telegram-Bot-Api-Secret-Token": SECRET})
    assert (r.status_code, r.json()["code"]) == (422, "webhook-malformed")


def test_an_office_without_a_bot_has_no_webhook_and_no_start_link(tmp_path, clock, central) -> None:  # noqa: ANN001
    o, cleanup = make_office(tmp_path, "sqlite", clock, central)
    try:
        app = book(o, channel="telegram")[0]
        assert telegram.start_url(o.settings, app.booking_id, "telegram") is None
        r = TestClient(create_app(o), raise_server_exceptions=False).post(WEBHOOK, json=update("/start x"))
        assert (r.status_code, r.json()["code"]) == (404, "webhook-not-configured")
        fanout.take(o.uow, notify.CONSUMER.name, notify.handler(o.settings))  # the rules, not the sends
        [confirmed] = messages(o)
        assert confirmed.channel == "whatsapp", "no bot: the next of the applicant's channels"
    finally:
        o.engine.dispose()
        cleanup()


# --- the transport alone: Apprise's Telegram plugin against the local Bot API ------------------

def telegram_transport(bot: FakeTelegramBot, timeout: float = 2.0) -> AppriseTransport:
    return AppriseTransport({Channel.TELEGRAM: f"tgram://{bot.token}/?api={bot.base_url}"}, timeout=timeout)


def test_a_message_arrives_in_the_chat_as_plain_text(bot) -> None:  # noqa: ANN001
    tricky = replace(READY, text="Paspor <b>siap</b> & diambil: https://kanim.example/k/7Qm2xZ")
    result = telegram_transport(bot).send(Channel.TELEGRAM, CHAT, tricky, message_id="m-1")
    assert result == SendResult(Outcome.ACCEPTED, "100", "accepted")
    [request] = bot.requests
    assert str(request.json["chat_id"]) == CHAT
    assert request.json["text"] == "Paspor &lt;b&gt;siap&lt;/b&gt; &amp; diambil: https://kanim.example/k/7Qm2xZ", (
        "text, escaped for Telegram's HTML mode: what the applicant reads is what was rendered")
    assert not any(r.path.endswith(("/sendPhoto", "/getUpdates", "/getMe")) for r in bot.requests)


@pytest.mark.parametrize(("answer", "outcome", "reason"), [
    (Answer(403, {"ok": False, "error_code": 403, "description": "Forbidden: bot was blocked by the user"}),
     Outcome.PERMANENT, "telegram-403"),
    (Answer(403, {"ok": False, "error_code": 403, "description": "Forbidden: user is deactivated"}),
     Outcome.PERMANENT, "telegram-403"),
    (Answer(400, {"ok": False, "error_code": 400, "description": "Bad Request: chat not found"}),
     Outcome.PERMANENT, "telegram-400"),
    (Answer(400, {"ok": False, "error_code": 400, "description": "Bad Request: message is too long"}),
     Outcome.TECHNICAL, "http-400"),
    (Answer(401, {"ok": False, "error_code": 401, "description": "Unauthorized"}), Outcome.TECHNICAL,
     "telegram-401-token"),
    (Answer(404, {"ok": False, "error_code": 404, "description": "Not Found"}), Outcome.TECHNICAL,
     "telegram-404-token"),
    (Answer(429, {"ok": False, "error_code": 429, "description": "Too Many Requests: retry after 5",
                  "parameters": {"retry_after": 5}}), Outcome.TEMPORARY, "http-429"),
    (Answer(502, {}), Outcome.TEMPORARY, "http-502"),
    (Answer(200, {"ok": False}), Outcome.TECHNICAL, "http-200"),
])
def test_each_bot_api_failure_is_classified(bot, answer, outcome, reason) -> None:  # noqa: ANN001
    bot.then(answer)
    assert telegram_transport(bot).send(Channel.TELEGRAM, CHAT, READY, message_id="m-1") == SendResult(
        outcome, None, reason)


def test_a_hanging_bot_api_is_temporary_within_the_timeout(bot) -> None:  # noqa: ANN001
    bot.then(Answer(hang=30))
    started = time.monotonic()
    result = telegram_transport(bot, 0.5).send(Channel.TELEGRAM, CHAT, READY, message_id="m-1")
    assert result == SendResult(Outcome.TEMPORARY, None, "timeout")
    assert time.monotonic() - started < 0.5 + 1.0


@pytest.mark.parametrize("address", ["", "@someone", "12 34", "+6281234567890"])
def test_an_address_that_is_not_a_chat_id_is_permanent_and_not_sent(bot, address) -> None:  # noqa: ANN001
    result = telegram_transport(bot).send(Channel.TELEGRAM, address, READY, message_id="m-1")
    assert (result.outcome, result.reason) == (Outcome.PERMANENT, "invalid-address")
    assert bot.requests == []


def test_a_wrong_telegram_url_fails_at_start_up_without_quoting_it() -> None:
    with pytest.raises(ValueError, match="telegram notification URL") as e:
        AppriseTransport({Channel.TELEGRAM: "mailto://secret-token@example.com"})
    assert "secret-token" not in str(e.value)
    with pytest.raises(ValueError, match="api= must be an http"):
        AppriseTransport({Channel.TELEGRAM: "tgram://123456789:AAsecrettokenAAAAAAAAAAAAAAAAAAAAAA/?api=ftp://x"})


def test_staff_unlink_a_chat_with_the_cli_as_a_newcomer_would(tmp_path, clock, central, client, office) -> None:  # noqa: ANN001
    """`kanim notify telegram-unlink NUMBER` against the office's own folder: one line each way,
    exit 0 when it unlinked, 1 with the reason when there was nothing to unlink."""
    if office.engine.dialect.name != "sqlite":
        pytest.skip("the CLI reads the office's SQLite file from its data folder (the PostgreSQL test schema is "
                    "the fixture's own); the command's code is the same on both")
    from tests.integration.test_cli_nodes import kanim

    app = book(office, channel="telegram")[0]
    assert start(client, office, app.booking_id).status_code == 200
    env = {"KANIM_DATA_DIR": str(office.settings.data_dir), "KANIM_OFFICE_CODE": office.settings.office_code}
    done = kanim(tmp_path, "notify", "telegram-unlink", app.number.lower(), "--actor", "supervisor", **env)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == f"{app.number}: Telegram chat unlinked; the next Start links again"
    again = kanim(tmp_path, "notify", "telegram-unlink", app.number, **env)
    assert again.returncode == 1 and again.stderr.strip().startswith("error: application") and "Traceback" not in again.stderr
    with office.uow(readonly=True) as uow:
        assert uow.session.scalar(select(t.booking.c.contact_telegram)) is None
