"""One send per channel through Apprise's real plugins to local servers (tests.notify_sinks): what
arrives, what each failure is classified as, how long a hang takes, and that the logs hold
nothing of the applicant. The WhatsApp plugin is pointed at the fake Cloud API through its
`notify_url` class attribute (Meta's URL in production)."""

from __future__ import annotations

import logging
import socket
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from datetime import UTC, datetime

import pytest
from apprise.plugins.whatsapp import NotifyWhatsApp

from kanim.domain.contact import Channel
from kanim.notify.receipts import Receipt, ReceiptStatus, parse_statuses, verify_signature
from kanim.notify.transport import AppriseTransport, Outcome, SendResult
from tests.notify_sinks import Answer, FakeSMSEagle, FakeWhatsAppCloud, SmtpSink, WebhookReceiver, status

PHONE = "+6281234567890"
EMAIL = "siti.rahmawati@example.co.id"
PHONE_ID = "106540352242922"
FROM = "noreply@kanim-jaksel.example"


@dataclass(frozen=True)
class Rendered:
    """A stand-in with the fields of kanim.notify.render.Rendered."""

    purpose: str = "ready"
    channel: str = "whatsapp"
    language: str = "id"
    template: str = "ready"
    version: int = 3
    subject: str | None = "Paspor Anda siap diambil"
    text: str = "Yth. Siti Rahmawati, paspor Anda siap. Ambil Senin 7 Desember 2026 pukul 09.00."
    html: str | None = "<p>Yth. Siti Rahmawati, paspor Anda <b>siap</b>.</p><p>Senin 7 Desember 2026, 09.00</p>"
    whatsapp_template: str | None = "kanim_ready_v3"
    whatsapp_language: str | None = "id"
    whatsapp_params: tuple[str, ...] = ("Siti Rahmawati", "Senin, 7 Desember 2026", "09.00")
    segments: int = 1


READY = Rendered()


@pytest.fixture
def cloud(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeWhatsAppCloud]:
    with FakeWhatsAppCloud() as fake:
        monkeypatch.setattr(NotifyWhatsApp, "notify_url", fake.notify_url)
        yield fake


@pytest.fixture
def gateway() -> Iterator[FakeSMSEagle]:
    with FakeSMSEagle() as fake:
        yield fake


@pytest.fixture
def smtp() -> Iterator[SmtpSink]:
    with SmtpSink() as sink:
        yield sink


def whatsapp_url(token: str) -> str:
    return f"whatsapp://{token}@{PHONE_ID}/"


def sms_url(gateway: FakeSMSEagle, token: str | None = None) -> str:
    return f"smseagle://{token or gateway.token}@127.0.0.1:{gateway.port}/"


def email_url(port: int, login: str = "") -> str:
    return f"mailto://{login}127.0.0.1:{port}/?from={FROM}&name=Kantor+Imigrasi"


def transport(timeout: float = 2.0, **urls: str) -> AppriseTransport:
    return AppriseTransport({Channel(name): url for name, url in urls.items()}, timeout=timeout)


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]  # nothing listens once the socket is closed


# --- WhatsApp ----------------------------------------------------------------------------------


def test_a_whatsapp_template_arrives_with_its_name_language_and_params(cloud: FakeWhatsAppCloud) -> None:
    result = transport(whatsapp=whatsapp_url(cloud.token)).send(Channel.WHATSAPP, PHONE, READY, message_id="m-1")

    [request] = cloud.requests
    assert request.path == f"/v21.0/{PHONE_ID}/messages"
    assert request.headers["Authorization"] == f"Bearer {cloud.token}"
    sent = request.json
    assert (sent["messaging_product"], sent["to"], sent["type"]) == ("whatsapp", PHONE, "template")
    assert sent["template"]["name"] == "kanim_ready_v3"
    assert sent["template"]["language"] == {"code": "id"}
    assert sent["template"]["components"] == [{"type": "body", "parameters": [
        {"type": "text", "text": "Siti Rahmawati"}, {"type": "text", "text": "Senin, 7 Desember 2026"},
        {"type": "text", "text": "09.00"}]}]
    assert "text" not in sent  # never free text
    assert result == SendResult(Outcome.ACCEPTED, cloud.wamids[0], "accepted")


def test_params_with_url_characters_arrive_unchanged(cloud: FakeWhatsAppCloud) -> None:
    params = ("Rp650.000 & biaya=lunas", "50% / #2 ?ya", "")
    transport(whatsapp=whatsapp_url(cloud.token)).send(
        Channel.WHATSAPP, PHONE, replace(READY, whatsapp_params=params), message_id="m-1")
    [component] = cloud.requests[0].json["template"]["components"]
    assert tuple(p["text"] for p in component["parameters"]) == params


@pytest.mark.parametrize(("answer", "outcome", "reason"), [
    (Answer(500, {}), Outcome.TEMPORARY, "http-500"),
    (Answer(429, {}), Outcome.TEMPORARY, "http-429"),
    (FakeWhatsAppCloud.error(429, 130429, "Rate limit hit"), Outcome.TEMPORARY, "whatsapp-130429-rate-limit"),
    (FakeWhatsAppCloud.error(503, 131016, "Service unavailable"), Outcome.TEMPORARY, "whatsapp-131016-service-unavailable"),
    (FakeWhatsAppCloud.error(400, 131026, "Message undeliverable"), Outcome.PERMANENT, "whatsapp-131026-undeliverable"),
    (FakeWhatsAppCloud.error(400, 131047, "Re-engagement message"), Outcome.PERMANENT, "whatsapp-131047-outside-24h"),
    (FakeWhatsAppCloud.error(400, 131051, "Unsupported message type"), Outcome.PERMANENT, "whatsapp-131051-unsupported-type"),
    (FakeWhatsAppCloud.error(404, 132001, "Template name does not exist in the translation"), Outcome.TECHNICAL,
     "whatsapp-132001-unknown-template"),
    (FakeWhatsAppCloud.error(403, 200, "Requires whatsapp_business_messaging permission"), Outcome.TECHNICAL,
     "whatsapp-200-permission"),
    (FakeWhatsAppCloud.error(400, 135000, "Generic user error"), Outcome.TECHNICAL, "whatsapp-135000"),
    (Answer(400, {"error": "not the Graph API's shape"}), Outcome.TECHNICAL, "http-400"),
])
def test_each_cloud_api_failure_is_classified(cloud: FakeWhatsAppCloud, answer: Answer, outcome: Outcome,
                                              reason: str) -> None:
    cloud.then(answer)
    result = transport(whatsapp=whatsapp_url(cloud.token)).send(Channel.WHATSAPP, PHONE, READY, message_id="m-1")
    assert result == SendResult(outcome, None, reason)


def test_a_bad_token_is_the_offices_setup(cloud: FakeWhatsAppCloud) -> None:
    result = transport(whatsapp=whatsapp_url("EAAGrevoked")).send(Channel.WHATSAPP, PHONE, READY, message_id="m-1")
    assert result == SendResult(Outcome.TECHNICAL, None, "whatsapp-190-bad-token")


def test_a_hang_is_temporary_and_returns_within_the_timeout(cloud: FakeWhatsAppCloud) -> None:
    cloud.then(Answer(hang=30))
    started = time.monotonic()
    result = transport(0.5, whatsapp=whatsapp_url(cloud.token)).send(Channel.WHATSAPP, PHONE, READY, message_id="m-1")
    assert result == SendResult(Outcome.TEMPORARY, None, "timeout")
    assert time.monotonic() - started < 0.5 + 1.0


def test_a_refused_connection_is_temporary(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(NotifyWhatsApp, "notify_url", f"http://127.0.0.1:{closed_port()}" + "/{fb_ver}/{phone_id}/messages")
    result = transport(whatsapp=whatsapp_url("EAAGtoken")).send(Channel.WHATSAPP, PHONE, READY, message_id="m-1")
    assert result == SendResult(Outcome.TEMPORARY, None, "connection-refused")


def test_a_message_without_an_approved_template_is_never_sent_as_free_text(cloud: FakeWhatsAppCloud) -> None:
    result = transport(whatsapp=whatsapp_url(cloud.token)).send(
        Channel.WHATSAPP, PHONE, replace(READY, whatsapp_template=None), message_id="m-1")
    assert result == SendResult(Outcome.TECHNICAL, None, "whatsapp-no-template")
    assert cloud.requests == []


@pytest.mark.parametrize("address", ["", "not a number", "+6281234567890, +6289876543210", "#1203630412345678901"])
def test_an_address_that_is_not_one_phone_number_is_permanent_and_not_sent(cloud: FakeWhatsAppCloud,
                                                                          address: str) -> None:
    result = transport(whatsapp=whatsapp_url(cloud.token)).send(Channel.WHATSAPP, address, READY, message_id="m-1")
    assert result == SendResult(Outcome.PERMANENT, None, "invalid-address")
    assert cloud.requests == []


def test_the_wamid_matches_the_status_webhook_the_cloud_sends_back(cloud: FakeWhatsAppCloud) -> None:
    sent = transport(whatsapp=whatsapp_url(cloud.token)).send(Channel.WHATSAPP, PHONE, READY, message_id="m-1")
    at = datetime(2026, 11, 30, 2, 0, 5, tzinfo=UTC)
    with WebhookReceiver() as office:
        cloud.post_statuses(office.base_url + "/notify/whatsapp", "app-secret", [status(sent.provider_ref, "delivered", at)])
    [webhook] = office.requests
    assert verify_signature(webhook.raw, webhook.headers["X-Hub-Signature-256"], "app-secret")
    assert parse_statuses(webhook.json) == [Receipt(sent.provider_ref, ReceiptStatus.DELIVERED, at)]


def test_concurrent_sends_each_get_their_own_wamid(cloud: FakeWhatsAppCloud) -> None:
    sender = transport(whatsapp=whatsapp_url(cloud.token))
    numbers = [f"+62812000000{i:02d}" for i in range(12)]
    with ThreadPoolExecutor(6) as pool:
        results = list(pool.map(lambda n: sender.send(Channel.WHATSAPP, n, READY, message_id=n), numbers))
    assert [cloud.recipient_of[r.provider_ref] for r in results] == numbers


# --- SMS ---------------------------------------------------------------------------------------


def test_the_sms_arrives_with_its_text_and_the_gateways_id_is_the_ref(gateway: FakeSMSEagle) -> None:
    result = transport(sms=sms_url(gateway)).send(Channel.SMS, PHONE, READY, message_id="m-1")
    [request] = gateway.requests
    assert request.path == "/jsonrpc/sms"
    assert request.json["method"] == "sms.send_sms"
    params = request.json["params"]
    assert (params["to"], params["message"], params["unicode"]) == (PHONE, READY.text, 1)
    assert result == SendResult(Outcome.ACCEPTED, "4753", "accepted")


@pytest.mark.parametrize(("answer", "outcome", "reason"), [
    (Answer(500, {}), Outcome.TEMPORARY, "http-500"),
    (Answer(503, {}), Outcome.TEMPORARY, "http-503"),
    (FakeSMSEagle.error("Wrong parameters"), Outcome.TECHNICAL, "smseagle-refused"),
    (Answer(401, {}), Outcome.TECHNICAL, "http-401"),
])
def test_each_gateway_failure_is_classified(gateway: FakeSMSEagle, answer: Answer, outcome: Outcome,
                                            reason: str) -> None:
    gateway.then(answer)
    assert transport(sms=sms_url(gateway)).send(Channel.SMS, PHONE, READY, message_id="m-1") == SendResult(
        outcome, None, reason)


def test_a_wrong_gateway_token_is_the_offices_setup(gateway: FakeSMSEagle) -> None:
    result = transport(sms=sms_url(gateway, token="wrongtoken")).send(Channel.SMS, PHONE, READY, message_id="m-1")
    assert result == SendResult(Outcome.TECHNICAL, None, "smseagle-auth")


def test_a_hanging_gateway_is_temporary_within_the_timeout(gateway: FakeSMSEagle) -> None:
    gateway.then(Answer(hang=30))
    started = time.monotonic()
    result = transport(0.5, sms=sms_url(gateway)).send(Channel.SMS, PHONE, READY, message_id="m-1")
    assert result == SendResult(Outcome.TEMPORARY, None, "timeout")
    assert time.monotonic() - started < 0.5 + 1.0


# --- email -------------------------------------------------------------------------------------


def test_the_email_arrives_with_subject_text_and_html_parts_and_a_stable_message_id(smtp: SmtpSink) -> None:
    sender = transport(email=email_url(smtp.port))
    first = sender.send(Channel.EMAIL, EMAIL, READY, message_id="01JDQ4ZK7M")
    again = sender.send(Channel.EMAIL, EMAIL, READY, message_id="01JDQ4ZK7M")  # a resend after a crash

    mail, resent = smtp.messages
    assert mail.rcpt_tos == (EMAIL,)
    message = mail.message
    assert message["Subject"] == READY.subject
    assert message["To"] == EMAIL
    assert message["From"].addresses[0].addr_spec == FROM
    assert message.get_content_type() == "multipart/alternative"
    assert message.get_body(("plain",)).get_content().strip() == READY.text
    assert message.get_body(("html",)).get_content().strip() == READY.html
    assert message.get_all("Message-ID") == ["<kanim.01JDQ4ZK7M@kanim-jaksel.example>"]
    assert resent.message["Message-ID"] == message["Message-ID"]
    assert first == again == SendResult(Outcome.ACCEPTED, "<kanim.01JDQ4ZK7M@kanim-jaksel.example>", "accepted")


def test_an_email_without_html_is_plain_text(smtp: SmtpSink) -> None:
    transport(email=email_url(smtp.port)).send(Channel.EMAIL, EMAIL, replace(READY, html=None), message_id="m-1")
    [mail] = smtp.messages
    assert mail.message.get_content_type() == "text/plain"
    assert mail.message.get_content().strip() == READY.text


@pytest.mark.parametrize(("reply", "outcome", "reason"), [
    ("550 5.1.1 Mailbox unavailable", Outcome.PERMANENT, "smtp-550"),
    ("553 5.1.3 Bad recipient address syntax", Outcome.PERMANENT, "smtp-553"),
    ("451 4.3.0 Try again later", Outcome.TEMPORARY, "smtp-451"),
    ("452 4.2.2 Mailbox full", Outcome.TEMPORARY, "smtp-452"),
])
def test_a_refused_recipient_is_classified_by_its_smtp_code(smtp: SmtpSink, reply: str, outcome: Outcome,
                                                            reason: str) -> None:
    smtp.refuse_next_recipient(reply)
    result = transport(email=email_url(smtp.port)).send(Channel.EMAIL, EMAIL, READY, message_id="m-1")
    assert result == SendResult(outcome, None, reason)
    assert smtp.messages == []


def test_a_refused_smtp_connection_is_temporary() -> None:
    result = transport(email=email_url(closed_port())).send(Channel.EMAIL, EMAIL, READY, message_id="m-1")
    assert result == SendResult(Outcome.TEMPORARY, None, "connection-refused")


@pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS:UserWarning")  # loopback, a test
def test_a_wrong_smtp_password_is_the_offices_setup() -> None:
    with SmtpSink(credentials=("kanim", "right-password")) as sink:
        result = transport(email=email_url(sink.port, "kanim:wrong-password@")).send(
            Channel.EMAIL, EMAIL, READY, message_id="m-1")
        assert result == SendResult(Outcome.TECHNICAL, None, "smtp-535")
        good = transport(email=email_url(sink.port, "kanim:right-password@")).send(
            Channel.EMAIL, EMAIL, READY, message_id="m-2")
        assert good.outcome is Outcome.ACCEPTED
        assert len(sink.messages) == 1


def test_an_invalid_email_address_is_permanent(smtp: SmtpSink) -> None:
    result = transport(email=email_url(smtp.port)).send(Channel.EMAIL, "siti at example", READY, message_id="m-1")
    assert result == SendResult(Outcome.PERMANENT, None, "invalid-address")
    assert smtp.messages == []  # not sent to the office's own address instead


# --- configuration -----------------------------------------------------------------------------


def test_a_channel_without_a_url_is_not_configured() -> None:
    result = transport().send(Channel.SMS, PHONE, READY, message_id="m-1")
    assert result == SendResult(Outcome.TECHNICAL, None, "not-configured")


@pytest.mark.parametrize(("channel", "url"), [
    ("sms", "json://secrettoken@127.0.0.1/"),  # a real Apprise URL, not a channel kanim can classify
    ("whatsapp", "mailto://secrettoken@127.0.0.1/"),
    ("whatsapp", "whatsapp://secret-token-with-dashes@123/"),  # Apprise refuses the token
    ("email", "mailto://secrettoken"),
    ("sms", "not a url secrettoken"),
])
def test_a_wrong_url_fails_at_start_up_without_quoting_it(channel: str, url: str) -> None:
    with pytest.raises(ValueError, match=channel) as raised:
        transport(**{channel: url})
    assert "secret" not in str(raised.value)
    # No chained Apprise error either: those quote the URL's parts.
    assert raised.value.__cause__ is None
    assert raised.value.__context__ is None or raised.value.__suppress_context__


# --- logs --------------------------------------------------------------------------------------


def test_nothing_of_the_applicant_or_the_tokens_reaches_the_logs(caplog: pytest.LogCaptureFixture,
                                                                 cloud: FakeWhatsAppCloud, gateway: FakeSMSEagle,
                                                                 smtp: SmtpSink) -> None:
    caplog.set_level(logging.DEBUG, logger="kanim")
    caplog.set_level(logging.DEBUG, logger="apprise")  # stricter than INFO: Apprise logs payloads at DEBUG
    sender = transport(0.5, whatsapp=whatsapp_url(cloud.token), sms=sms_url(gateway), email=email_url(smtp.port))
    cloud.then(Answer(), FakeWhatsAppCloud.error(400, 131026, "Message undeliverable"), Answer(hang=30))
    gateway.then(Answer(), Answer(500, {}))
    smtp.refuse_next_recipient("550 5.1.1 <siti.rahmawati@example.co.id>: Recipient address rejected")
    for channel, address in [(Channel.WHATSAPP, PHONE)] * 3 + [(Channel.SMS, PHONE)] * 2 + [(Channel.EMAIL, EMAIL)] * 2:
        sender.send(channel, address, READY, message_id="m-1")
    sender.send(Channel.WHATSAPP, "+62 812-3456-7890 x", READY, message_id="m-2")

    # aiosmtpd's own "mail.log" is the test server's, not kanim's: it logs what it was sent.
    lines = [r.getMessage() for r in caplog.records if not r.name.startswith("mail.")]
    assert any("notify m-1 via whatsapp: accepted" in line for line in lines)
    secrets = [PHONE, PHONE.lstrip("+"), "812", EMAIL, "siti", "Siti", "Rahmawati", "Desember", "kanim_ready_v3",
               cloud.token, gateway.token, PHONE_ID]
    leaked = [(secret, line) for line in lines for secret in secrets if secret in line]
    assert leaked == []


def test_an_apprise_error_is_kept_but_its_message_withheld(caplog: pytest.LogCaptureFixture) -> None:
    logging.getLogger("apprise").error("Could not reach %s with %s", PHONE, READY.text)
    [record] = [r for r in caplog.records if r.name == "apprise"]
    assert record.levelno == logging.ERROR
    assert PHONE not in record.getMessage() and "withheld" in record.getMessage()
