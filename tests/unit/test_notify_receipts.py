"""The WhatsApp Cloud API's webhooks on their own: the signature over the raw body, statuses and
applicants' replies parsed from the payload shapes Meta sends (built in tests.notify_sinks)."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from kanim.notify.receipts import Inbound, Receipt, ReceiptStatus, parse_inbound, parse_statuses, verify_signature
from tests.notify_sinks import inbound_payload, sign, status, statuses_payload

SECRET = "3f1c0e9b7a6d5c4b3a2f1e0d9c8b7a6f"
AT = datetime(2026, 11, 30, 2, 15, 7, tzinfo=UTC)
WAMID = "wamid.HBgNNjI4MTIzNDU2Nzg5MBUCABEYEkFBQ0RFRjAxMjM0NTY3ODkw0001"


def body_of(payload: dict) -> bytes:
    return json.dumps(payload).encode()


# --- the signature -----------------------------------------------------------------------------


def test_it_accepts_metas_signature_of_the_raw_body() -> None:
    body = body_of(statuses_payload([status(WAMID, "delivered", AT)]))
    assert verify_signature(body, sign(body, SECRET), SECRET)


def test_it_accepts_an_uppercase_hex_digest() -> None:
    body = b'{"entry": []}'
    assert verify_signature(body, "sha256=" + sign(body, SECRET).removeprefix("sha256=").upper(), SECRET)


def test_it_refuses_a_signature_made_with_another_secret() -> None:
    body = body_of(statuses_payload([status(WAMID, "read", AT)]))
    assert not verify_signature(body, sign(body, "not-the-app-secret"), SECRET)


def test_it_refuses_a_missing_or_empty_header() -> None:
    body = b'{"entry": []}'
    assert not verify_signature(body, None, SECRET)
    assert not verify_signature(body, "", SECRET)


def test_it_refuses_a_tampered_body() -> None:
    body = body_of(statuses_payload([status(WAMID, "failed", AT, error_code=131026)]))
    header = sign(body, SECRET)
    tampered = body.replace(b'"failed"', b'"read"')
    assert tampered != body
    assert not verify_signature(tampered, header, SECRET)


def test_it_refuses_a_header_without_the_sha256_prefix_or_with_garbage() -> None:
    body = b'{"entry": []}'
    digest = sign(body, SECRET).removeprefix("sha256=")
    assert not verify_signature(body, digest, SECRET)
    assert not verify_signature(body, "sha1=" + digest, SECRET)
    assert not verify_signature(body, "sha256=ünïcode", SECRET)


def test_an_empty_app_secret_verifies_nothing() -> None:
    body = b'{"entry": []}'
    assert not verify_signature(body, sign(body, ""), "")


# --- statuses ----------------------------------------------------------------------------------


def test_it_reads_each_status_with_its_wamid_and_time() -> None:
    payload = statuses_payload([status(WAMID, "sent", AT), status(WAMID, "delivered", AT), status(WAMID, "read", AT)])
    assert parse_statuses(payload) == [Receipt(WAMID, ReceiptStatus.SENT, AT), Receipt(WAMID, ReceiptStatus.DELIVERED, AT),
                                       Receipt(WAMID, ReceiptStatus.READ, AT)]


def test_a_failed_status_carries_its_error_code() -> None:
    [receipt] = parse_statuses(statuses_payload([status(WAMID, "failed", AT, error_code=131047)]))
    assert receipt.status is ReceiptStatus.FAILED
    assert receipt.error_code == 131047


def test_it_reads_statuses_from_every_entry_and_change() -> None:
    one, two = statuses_payload([status("wamid.one", "delivered", AT)]), statuses_payload([status("wamid.two", "read", AT)])
    payload = {"object": "whatsapp_business_account", "entry": one["entry"] + two["entry"]}
    assert [r.provider_ref for r in parse_statuses(payload)] == ["wamid.one", "wamid.two"]


def test_it_skips_entries_it_cannot_read_and_keeps_the_rest() -> None:
    good = status(WAMID, "delivered", AT)
    payload = statuses_payload([
        {"status": "delivered", "timestamp": "1796000000"},  # no id
        {"id": "wamid.x", "status": "delivered", "timestamp": "yesterday"},
        {"id": "wamid.y", "status": "deleted", "timestamp": "1796000000"},  # not a status kanim tracks
        "not an object", good,
    ])
    assert parse_statuses(payload) == [Receipt(WAMID, ReceiptStatus.DELIVERED, AT)]


def test_a_failed_status_with_odd_errors_has_no_code() -> None:
    item = {**status(WAMID, "failed", AT), "errors": [{"code": "131026"}]}
    assert parse_statuses(statuses_payload([item]))[0].error_code is None


@pytest.mark.parametrize("payload", [
    {}, {"entry": None}, {"entry": [{}]}, {"entry": [{"changes": [{"value": None}]}]},
    {"entry": [{"changes": [{"field": "message_template_status_update", "value": {"event": "APPROVED"}}]}]},
    {"entry": "x"}, {"entry": [{"changes": [{"value": {"statuses": {"id": "x"}}}]}]},
])
def test_payloads_without_statuses_give_none(payload: dict) -> None:
    assert parse_statuses(payload) == []
    assert parse_inbound(payload) == []


@pytest.mark.parametrize("payload", [None, [], "entry", 7])
def test_a_payload_that_is_not_an_object_is_a_clear_error(payload: object) -> None:
    with pytest.raises(ValueError, match="JSON object"):
        parse_statuses(payload)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="JSON object"):
        parse_inbound(payload)  # type: ignore[arg-type]


# --- what applicants write back ----------------------------------------------------------------


def test_a_reply_is_read_with_the_sender_in_e164() -> None:
    assert parse_inbound(inbound_payload("6281234567890", " BERHENTI ", AT)) == [Inbound("+6281234567890", "BERHENTI", AT, "wamid.HBgNinbound")]


def test_a_status_webhook_has_no_inbound_messages_and_a_reply_has_no_statuses() -> None:
    assert parse_inbound(statuses_payload([status(WAMID, "read", AT)])) == []
    assert parse_statuses(inbound_payload("6281234567890", "YA", AT)) == []


def test_a_tapped_button_reads_as_its_label() -> None:
    payload = inbound_payload("6281234567890", "", AT)
    message = payload["entry"][0]["changes"][0]["value"]["messages"][0]
    message.pop("text")
    message.update(type="button", button={"text": "Ya", "payload": "confirm"})
    assert parse_inbound(payload)[0].text == "Ya"
    message.pop("button")
    message.update(type="interactive", interactive={"type": "button_reply", "button_reply": {"id": "stop", "title": "Berhenti"}})
    assert parse_inbound(payload)[0].text == "Berhenti"


def test_a_photo_is_a_message_without_text() -> None:
    payload = inbound_payload("6281234567890", "", AT)
    message = payload["entry"][0]["changes"][0]["value"]["messages"][0]
    message.pop("text")
    message.update(type="image", image={"id": "1234", "mime_type": "image/jpeg"})
    assert parse_inbound(payload) == [Inbound("+6281234567890", "", AT, "wamid.HBgNinbound")]


def test_a_message_without_a_sender_or_time_is_skipped() -> None:
    payload = inbound_payload("6281234567890", "1", AT)
    message = payload["entry"][0]["changes"][0]["value"]["messages"][0]
    message["timestamp"] = None
    assert parse_inbound(payload) == []
    message.update(timestamp="1796000000", **{"from": "+62 812"})
    assert parse_inbound(payload) == []


def test_a_sender_that_is_no_phone_number_is_skipped() -> None:
    assert parse_inbound(inbound_payload("6" * 16, "STOP", AT)) == []
    assert parse_inbound(inbound_payload("٦٢٨١٢", "STOP", AT)) == [], "digits, but not ASCII ones"


def test_ids_and_words_with_control_characters_are_not_taken_as_they_are() -> None:
    # A NUL would not even store in PostgreSQL's text (a signed webhook once made it a 500).
    assert parse_statuses(statuses_payload([status("wamid.a\u0000b", "delivered", AT)])) == []
    payload = inbound_payload("6281234567890", "BER\u0000HENTI\u0007", AT)
    payload["entry"][0]["changes"][0]["value"]["messages"][0]["id"] = "wamid.in\u0000"
    assert parse_inbound(payload) == [Inbound("+6281234567890", "BERHENTI", AT, None)]
