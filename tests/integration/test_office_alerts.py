"""Alerts to the office's own staff (kanim/notify/alerts.py) through Apprise's Telegram plugin to a
local stand-in of the Bot API, and through the worker: a channel whose provider refuses the
office's setup, a channel unreachable for minutes and back, each told once, naming a channel and
a reason, never an applicant."""

from __future__ import annotations

import socket
from datetime import timedelta

import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from kanim.notify import alerts
from kanim.notify.purposes import State
from kanim.notify.transport import AppriseTransport, Outcome, SendResult
from kanim.notify.worker import Worker
from kanim.office.queries import notify as views
from kanim.store import tables as t
from tests.conftest import make_office
from tests.integration.test_notify_flow import PHONE, Recorder, book, messages, person
from tests.notify_sinks import FakeTelegramBot, FakeWhatsAppCloud


@pytest.fixture
def bot():  # noqa: ANN201
    with FakeTelegramBot() as b:
        yield b


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def stored_alerts(office) -> list:  # noqa: ANN001
    with office.uow(readonly=True) as uow:
        return list(uow.session.execute(select(t.notify_alert).order_by(t.notify_alert.c.seq)))


# -- the transport ---------------------------------------------------------------------------------

def test_an_alert_reaches_the_telegram_group_with_its_title_and_both_languages(bot: FakeTelegramBot) -> None:
    transport = AppriseTransport({}, office_url=bot.url, timeout=5)
    text = alerts.text(alerts.Kind.CHANNEL_REFUSED, {"channel": "whatsapp", "reason": "whatsapp-190-bad-token"},
                       "Kantor Imigrasi Manado")
    result = transport.send_office(text.title, text.body, message_id="a1")
    assert result.outcome is Outcome.ACCEPTED
    [sent] = bot.requests
    assert str(sent.json["chat_id"]) == bot.chat
    assert "WhatsApp" in sent.json["text"] and "whatsapp-190-bad-token" in sent.json["text"]
    assert "ditolak" in sent.json["text"] and "refused" in sent.json["text"], "Indonesian and English"


def test_a_wrong_bot_token_or_chat_is_the_offices_setup(bot: FakeTelegramBot) -> None:
    wrong_token = AppriseTransport({}, office_url=bot.url.replace("AAkanim", "AAother"), timeout=5)
    assert wrong_token.send_office("t", "b", message_id="a").reason == "http-401"
    wrong_chat = AppriseTransport({}, office_url=bot.url.replace(bot.chat, "-1009999"), timeout=5)
    r = wrong_chat.send_office("t", "b", message_id="a")
    assert (r.outcome, r.reason) == (Outcome.TECHNICAL, "http-400")


def test_an_unreachable_bot_api_is_temporary() -> None:
    url = f"tgram://123456789:AAkanimtestbottokenAAAAAAAAAAAAAAAA/-100123/?api=http://127.0.0.1:{closed_port()}"
    r = AppriseTransport({}, office_url=url, timeout=2).send_office("t", "b", message_id="a")
    assert (r.outcome, r.reason) == (Outcome.TEMPORARY, "connection-refused")


@pytest.mark.parametrize("url", ["not a url secret7", "tgram://secret7", "mailto://secret7@y.id/?api=http://127.0.0.1:1",
                                 "tgram://123456789:AAsecret7AAAAAAAAAAAAAAAAAAAAAAAAAAA/-1/?api=ftp://x"])
def test_a_wrong_office_url_fails_at_start_up_without_quoting_it(url: str) -> None:
    with pytest.raises(ValueError, match="office alert URL") as err:
        AppriseTransport({}, office_url=url)
    assert "secret7" not in str(err.value)


# -- the worker ------------------------------------------------------------------------------------

class TransportWithOffice(Recorder):
    """The applicants' channels as the Recorder answers, the office's URL the real Telegram plugin."""

    def __init__(self, office_url: str | None, **kw) -> None:  # noqa: ANN003
        super().__init__(**kw)
        self.office = AppriseTransport({}, office_url=office_url, timeout=5)

    def send_office(self, title: str, body: str, *, message_id: str) -> SendResult:
        return self.office.send_office(title, body, message_id=message_id)


def test_a_refused_setup_is_one_alert_however_many_messages_it_stops(office, bot) -> None:  # noqa: ANN001
    refused = TransportWithOffice(bot.url, answer=lambda c, a: (
        SendResult(Outcome.TECHNICAL, None, "whatsapp-190-bad-token") if c == "whatsapp"
        else SendResult(Outcome.ACCEPTED, None, "")))
    for i in range(3):
        book(office, phone=f"+62812345678{i:02d}", applicants=[person(nik=f"31710145089000{i + 1:02d}")])
    Worker(office, refused, holder="w").drain()
    assert {m.channel for m in messages(office)} == {"sms"}, "every message fell back to SMS"
    [alert] = stored_alerts(office)
    assert (alert.kind, alert.subject, alert.state) == ("channel_refused", "whatsapp", State.SENT.value)
    [text] = bot.texts
    assert "whatsapp-190-bad-token" in text
    assert not any(p in text for p in (PHONE[:-2], "Siti", "3171014508")), "no applicant in an alert"


def test_a_channel_unreachable_for_minutes_is_told_and_so_is_its_return(office, clock, bot) -> None:  # noqa: ANN001
    down = {"on": True}
    transport = TransportWithOffice(bot.url, answer=lambda c, a: (
        SendResult(Outcome.TEMPORARY, None, "connection-refused") if down["on"]
        else SendResult(Outcome.ACCEPTED, None, "")))
    w = Worker(office, transport, holder="w")
    book(office)
    w.run_once()
    assert stored_alerts(office) == [], "a first miss is a blip, not news"
    for _ in range(8):  # the probe doubles: 5, 10, 20, ... seconds
        clock.advance(seconds=40)
        w.run_once()
    [unreachable] = stored_alerts(office)
    assert (unreachable.kind, unreachable.state) == ("channel_unreachable", State.SENT.value)
    assert "connection-refused" in bot.texts[0]
    down["on"] = False
    clock.advance(minutes=6)
    w.drain()
    assert [a.kind for a in stored_alerts(office)] == ["channel_unreachable", "channel_back"]
    assert messages(office)[0].state == State.SENT.value


def test_without_an_office_url_alerts_are_kept_and_shown(office) -> None:  # noqa: ANN001
    transport = TransportWithOffice(None, answer=lambda c, a: (
        SendResult(Outcome.TECHNICAL, None, "http-403") if c == "whatsapp" else SendResult(Outcome.ACCEPTED, None, "")))
    book(office, email=None)
    Worker(office, transport, holder="w").drain()
    [alert] = stored_alerts(office)
    assert (alert.state, alert.reason) == (State.TECHNICAL_FAILURE.value, "not-configured")
    shown = views.status(office).alerts
    assert [(a["kind"], a["channel"], a["reason"]) for a in shown] == [("channel_refused", "whatsapp", "http-403")]


def test_an_alert_that_cannot_be_sent_is_retried_and_given_up_after_a_day(office, clock) -> None:  # noqa: ANN001
    url = f"tgram://123456789:AAkanimtestbottokenAAAAAAAAAAAAAAAA/-100123/?api=http://127.0.0.1:{closed_port()}"
    transport = TransportWithOffice(url, answer=lambda c, a: (
        SendResult(Outcome.TECHNICAL, None, "http-403") if c == "whatsapp" else SendResult(Outcome.ACCEPTED, None, "")))
    book(office, email=None)
    w = Worker(office, transport, holder="w")
    w.drain()
    assert stored_alerts(office)[0].state == State.TEMPORARY_FAILURE.value
    clock.advance(hours=25)
    w.drain()
    [alert] = stored_alerts(office)
    assert (alert.state, alert.reason) == (State.TECHNICAL_FAILURE.value, "stale:connection-refused")
    assert alert.attempts == 2


# -- the command -----------------------------------------------------------------------------------

def test_test_office_sends_a_test_alert_and_says_so(tmp_path, clock, central, bot, monkeypatch) -> None:  # noqa: ANN001
    from kanim.cli import app

    office, cleanup = make_office(tmp_path, "sqlite", clock, central)
    cleanup()
    env = {"KANIM_DATA_DIR": str(tmp_path / "data"), "KANIM_OFFICE_CODE": "MND"}
    runner = CliRunner()
    missing = runner.invoke(app, ["notify", "test-office"], env=env)
    assert missing.exit_code == 2 and "KANIM_NOTIFY_OFFICE_URL" in missing.output
    ok = runner.invoke(app, ["notify", "test-office"], env={**env, "KANIM_NOTIFY_OFFICE_URL": bot.url})
    assert ok.exit_code == 0, ok.output
    assert "took the test alert" in ok.output and "test alert" in bot.texts[0]
    wrong = runner.invoke(app, ["notify", "test-office"],
                          env={**env, "KANIM_NOTIFY_OFFICE_URL": bot.url.replace(bot.chat, "-1009")})
    assert wrong.exit_code == 1 and "http-400" in wrong.output
    assert bot.token not in wrong.output
