"""Telegram's pure parts: the start code a booking's link carries, the webhook's Update read
forgivingly, a chat id masked for staff, the message rendered from the email's text, and the
channel's place among the applicant's."""

from __future__ import annotations

import uuid
from datetime import date
from pathlib import Path

import pytest

from kanim.config import Settings
from kanim.domain.contact import Channel, masked
from kanim.notify.receipts import parse_telegram
from kanim.notify.render import preview, render, sample_params
from kanim.office import notify, telegram

BOOKING = "5f0c2a64-1d7e-4b8e-9a43-0c6f3b1e2d7a"


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(data_dir=tmp_path, office_code="MDO", notify_telegram_url="tgram://123:abc/",
                    notify_telegram_bot="KanimManadoBot", notify_telegram_secret="s" * 20)


def test_a_start_code_names_its_booking_and_nothing_else(settings: Settings) -> None:
    code = telegram.start_code(settings, BOOKING)
    assert len(code) <= 64 and code.replace("_", "").replace("-", "").isalnum(), "Telegram's start parameter"
    assert telegram.booking_of(settings, code) == BOOKING
    other = telegram.start_code(settings, str(uuid.uuid4()))
    assert telegram.booking_of(settings, code[:32] + other[32:]) is None, "another booking's MAC"
    assert telegram.booking_of(settings, code.upper()) is None
    assert telegram.booking_of(settings, "") is None
    assert telegram.booking_of(settings, code + "x") is None


def test_another_offices_key_makes_another_code(settings: Settings, tmp_path: Path) -> None:
    elsewhere = settings.model_copy(update={"data_dir": tmp_path / "other"})
    assert telegram.booking_of(elsewhere, telegram.start_code(settings, BOOKING)) is None


def test_the_start_link_only_for_a_telegram_booking_at_an_office_with_a_bot(settings: Settings) -> None:
    url = telegram.start_url(settings, BOOKING, "telegram")
    assert url == f"https://t.me/KanimManadoBot?start={telegram.start_code(settings, BOOKING)}"
    assert telegram.start_url(settings, BOOKING, "whatsapp") is None
    assert telegram.start_url(settings, None, "telegram") is None
    assert telegram.start_url(settings.model_copy(update={"notify_telegram_bot": None}), BOOKING, "telegram") is None


def update(**message: object) -> dict:
    base = {"message_id": 5, "date": 1796112000, "text": "YA",
            "from": {"id": 42, "is_bot": False, "language_code": "en-GB"}, "chat": {"id": 42, "type": "private"}}
    return {"update_id": 9, "message": {**base, **message}}


def test_an_update_is_read_as_an_inbound_message_of_the_chat() -> None:
    got = parse_telegram(update())
    assert got is not None
    assert (got.inbound.from_number, got.inbound.text, got.inbound.id) == ("42", "YA", "telegram:9")
    assert (got.command, got.language) == (None, "en")
    assert got.inbound.at.year == 2026


@pytest.mark.parametrize(("text", "command", "argument", "said"), [
    ("/start abc_DEF-1", "start", "abc_DEF-1", "/start abc_DEF-1"),
    ("/start@KanimManadoBot abc", "start", "abc", "/start@KanimManadoBot abc"),
    ("/stop", "stop", "", "STOP"),
    ("/Berhenti", "berhenti", "", "BERHENTI"),
    ("/help", "help", "", "/help"),
    ("  berhenti \x00", None, "", "berhenti"),
])
def test_commands_are_told_apart_from_words(text: str, command: str | None, argument: str, said: str) -> None:
    got = parse_telegram(update(text=text))
    assert got is not None and (got.command, got.argument, got.inbound.text) == (command, argument, said)


@pytest.mark.parametrize("payload", [
    None, [], "x", {"update_id": True, "message": update()["message"]}, {"update_id": 1},
    {"update_id": 1, "message": "hi"}, update(chat={"id": 42, "type": "group"}), update(chat={"id": -42, "type": "private"}),
    update(chat={"id": "42", "type": "private"}), update(chat=None), update(**{"from": {"id": 1, "is_bot": True}}),
    update(chat={"id": 2**53, "type": "private"}), {**update(), "update_id": 10**130}, {**update(), "update_id": -1},
])
def test_what_is_not_a_private_message_from_a_person_is_not_read(payload: object) -> None:
    assert parse_telegram(payload) is None


def test_a_photo_without_text_is_an_empty_message_and_a_bad_date_is_now() -> None:
    got = parse_telegram(update(text=None, date="soon", photo=[{"file_id": "x"}]))
    assert got is not None and got.inbound.text == "" and got.language == "en"
    assert parse_telegram(update(**{"from": None})).language == "id", "no language: Indonesian"


def test_a_chat_id_is_masked_for_staff() -> None:
    assert masked("555123456") == "Telegram ••••••456"
    assert "555123" not in masked("555123456")


def facts(**kw: object) -> notify.AppFacts:
    base = dict(id="a", number="MDO-1", full_name="SITI", birth_date=date(1990, 1, 1), app_type="new",
                stage="booked", booking_id="b", billing_code=None, paid_at=None, phone="+6281234567890",
                email="s@example.co.id", channel="telegram", language="id", appointment_on=None, slot=None)
    return notify.AppFacts(**{**base, **kw})


def test_telegram_first_once_started_and_the_phone_until_then() -> None:
    assert notify.channels_for(facts()) == [("whatsapp", "+6281234567890"), ("sms", "+6281234567890"),
                                            ("email", "s@example.co.id")]
    assert notify.channels_for(facts(telegram="42"))[:2] == [("telegram", "42"), ("whatsapp", "+6281234567890")]
    assert notify.channels_for(facts(channel="sms", telegram="42"))[-1] == ("telegram", "42"), "last, not lost"


@pytest.mark.parametrize("lang", ["id", "en"])
def test_the_telegram_message_is_the_emails_text_with_its_subject_first(lang: str) -> None:
    params = {**sample_params("ready", lang), "optout_url": "https://kanim.example/o/x"}
    chat, email = render("ready", Channel.TELEGRAM, lang, params), render("ready", Channel.EMAIL, lang, params)
    assert chat.text.startswith(email.subject + "\n\n")
    assert email.text.startswith(chat.text.removeprefix(email.subject + "\n\n")), "the email's text, up to its link"
    assert "/o/x" in email.text and "/o/" not in chat.text, "a chat stops by STOP, not by the email's link"
    assert chat.html is None and chat.template == f"ready/telegram/{lang}" and chat.version >= 1


@pytest.mark.parametrize("lang", ["id", "en"])
def test_no_telegram_message_to_an_applicant_speaks_of_an_email(lang: str) -> None:
    for purpose in notify.Purpose:
        if purpose.about_an_application:
            assert "email" not in preview(purpose, Channel.TELEGRAM, lang).text.lower(), purpose


def test_every_purpose_renders_for_telegram_within_its_limit() -> None:
    for purpose in notify.Purpose:
        for lang in ("id", "en"):
            assert 0 < len(preview(purpose, Channel.TELEGRAM, lang).text) <= 4096


def test_the_status_page_takes_no_telegram_subscriber() -> None:
    from kanim.domain.errors import InvalidInput
    from kanim.office.subscriptions import parse_address

    with pytest.raises(InvalidInput) as e:
        parse_address("telegram", "42")
    assert e.value.code == "subscribe-channel"
