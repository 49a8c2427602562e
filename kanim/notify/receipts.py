"""What the WhatsApp Cloud API tells the office after a send: delivery and read receipts, and
what applicants write back (a reply "STOP"/"BERHENTI" opts out, "1"/"YA" confirms).

Both arrive as webhooks (`POST` from Meta, shape `entry[].changes[].value`), signed with the
app's secret in `X-Hub-Signature-256: sha256=<hex HMAC-SHA256 of the raw body>`. The route checks
the signature on the raw bytes before parsing anything (`verify_signature`), then hands the
JSON here. Parsing is pure and forgiving: Meta adds fields and sends kinds of change kanim does
not use (templates' quality, account updates), so an entry kanim cannot read is skipped and the
rest kept, rather than one odd entry losing a batch of receipts (Meta does not resend a webhook
that was answered 200).
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

SIGNATURE_PREFIX = "sha256="


class ReceiptStatus(StrEnum):
    SENT = "sent"  # WhatsApp's servers have it
    DELIVERED = "delivered"  # on the applicant's phone
    READ = "read"  # opened (only when the applicant has read receipts on)
    FAILED = "failed"  # not delivered; `error_code` says why (131047, 131026, …)


@dataclass(frozen=True)
class Receipt:
    provider_ref: str  # the wamid the send returned
    status: ReceiptStatus
    at: datetime
    error_code: int | None = None


@dataclass(frozen=True)
class Inbound:
    from_number: str  # the sender's address as kanim stores it: E.164, or a Telegram chat's id
    text: str  # what they wrote, or a tapped button's label; "" for a photo, a sticker, …
    at: datetime
    id: str | None = None  # the channel's message id: a webhook delivered twice is acted on once


def verify_signature(body: bytes, header: str | None, app_secret: str) -> bool:
    """Whether `header` is Meta's signature of exactly these bytes. An empty secret verifies
    nothing: anyone can compute an HMAC with an empty key."""
    if not header or not app_secret or not header.startswith(SIGNATURE_PREFIX):
        return False
    expected = hmac.new(app_secret.encode(), body, hashlib.sha256).hexdigest()
    given = header[len(SIGNATURE_PREFIX):].strip().lower()
    return hmac.compare_digest(expected.encode(), given.encode("utf-8", "replace"))


def parse_statuses(payload: Any) -> list[Receipt]:
    """Every status in a webhook; entries without an id, a known status or a time are skipped."""
    receipts = (_receipt(item) for value in _values(payload) for item in _dicts(value.get("statuses")))
    return [r for r in receipts if r is not None]


def parse_inbound(payload: Any) -> list[Inbound]:
    """Every message applicants sent in a webhook; entries without a sender or time are skipped."""
    messages = (_inbound(item) for value in _values(payload) for item in _dicts(value.get("messages")))
    return [m for m in messages if m is not None]


def _values(payload: Any) -> Iterator[dict[str, Any]]:
    if not isinstance(payload, dict):
        raise ValueError("a WhatsApp webhook must be a JSON object")
    for entry in _dicts(payload.get("entry")):
        for change in _dicts(entry.get("changes")):
            if isinstance(change.get("value"), dict):
                yield change["value"]


def _dicts(items: Any) -> list[dict[str, Any]]:
    return [item for item in items if isinstance(item, dict)] if isinstance(items, list) else []


def _receipt(item: dict[str, Any]) -> Receipt | None:
    ref, at = item.get("id"), _time(item.get("timestamp"))
    try:
        status = ReceiptStatus(item.get("status"))
    except ValueError:  # "deleted", "warning", or a status Meta adds later
        return None
    if not (_reference(ref) and at):
        return None
    return Receipt(ref, status, at, _error_code(item))


def _reference(value: Any) -> bool:
    """A message id as Meta writes one (`wamid.` and base64): printable ASCII, at most 128
    characters. Anything else is no message of ours, and a NUL would not even store."""
    return isinstance(value, str) and 0 < len(value) <= 128 and value.isascii() and value.isprintable()


def _error_code(item: dict[str, Any]) -> int | None:
    errors = _dicts(item.get("errors"))
    code = errors[0].get("code") if errors else None
    ok = isinstance(code, int) and not isinstance(code, bool) and 0 <= code < 2**53
    return code if ok else None


def _inbound(item: dict[str, Any]) -> Inbound | None:
    sender, at, ref = item.get("from"), _time(item.get("timestamp")), item.get("id")
    # E.164 has at most 15 digits: anything longer is not a phone number (and would not fit).
    if not (isinstance(sender, str) and sender.isascii() and sender.isdigit() and len(sender) <= 15 and at):
        return None
    ref = ref if _reference(ref) else None
    return Inbound("+" + sender, _text(item), at, ref)  # Meta writes the number without its "+"


def _text(item: dict[str, Any]) -> str:
    """The words in a message: typed text, a quick-reply button's text, or an interactive
    reply's title (template buttons "Ya" / "Berhenti" arrive as the latter two)."""
    kind = item.get("type")
    section = item.get(kind) if isinstance(kind, str) else None
    if kind == "interactive" and isinstance(section, dict):
        section = next((v for k, v in section.items() if k.endswith("_reply") and isinstance(v, dict)), None)
    if not isinstance(section, dict):
        return ""
    text = section.get("body", section.get("text", section.get("title")))
    # Only the words: control characters (a NUL included) are no part of a reply.
    return "".join(c for c in text if c.isprintable() or c in "\n\t").strip() if isinstance(text, str) else ""


def sms_reply(fields: dict[str, str]) -> Inbound | None:
    """An SMS reply as SMSEagle's Callback URL forwards it: the sender's number (normalised to
    E.164; None when it is not a phone number), the words, the gateway's message id (so a
    callback repeated is acted on once: ids are kept as `sms:<id>`)."""
    from kanim.domain.errors import InvalidInput
    from kanim.office.contact import normalise_phone

    sender = fields.get("sender", "")
    try:
        number = normalise_phone(sender) if sender and len(sender) <= 32 else None
    except InvalidInput:
        number = None
    if number is None:
        return None
    msgid = fields.get("msgid") or fields.get("oid") or ""
    ref = f"sms:{msgid}" if _reference(f"sms:{msgid}") and msgid else None
    text = fields.get("text", "")[:1000]
    words = "".join(c for c in text if c.isprintable() or c in "\n\t").strip()
    return Inbound(number, words, datetime.now(UTC), ref)


@dataclass(frozen=True)
class TelegramMessage:
    """A message to the office's bot in a private chat (Telegram's webhook `Update`)."""

    inbound: Inbound  # the chat's id as the address; `telegram:<update_id>` as its id
    command: str | None  # "start", "stop", "help"... for a text beginning with "/"
    argument: str  # what follows the command (`/start <code>`: the code)
    language: str  # "en" when the applicant's Telegram is in English, else "id"


def parse_telegram(payload: Any) -> TelegramMessage | None:
    """The update's message, or None for what kanim does not read (a group, a channel post, an
    edit, a button press, a bot): answered all the same, or Telegram sends it again and again."""
    if not isinstance(payload, dict):
        return None
    update_id, message = payload.get("update_id"), payload.get("message")
    if not (isinstance(update_id, int) and not isinstance(update_id, bool) and 0 <= update_id < 2**53
            and isinstance(message, dict)):
        return None
    chat, sender = message.get("chat"), message.get("from")
    chat_id = chat.get("id") if isinstance(chat, dict) else None
    if not (isinstance(chat_id, int) and not isinstance(chat_id, bool) and 0 < chat_id < 2**53):
        return None
    if chat.get("type") != "private" or (isinstance(sender, dict) and sender.get("is_bot") is True):
        return None
    at = _time(message.get("date")) or datetime.now(UTC)
    text = message.get("text") if isinstance(message.get("text"), str) else ""
    words = "".join(c for c in text[:4096] if c.isprintable() or c in "\n\t").strip()
    command, argument = None, ""
    if words.startswith("/"):
        head, _, argument = words.partition(" ")
        command = head[1:].partition("@")[0].lower()  # `/start@KanimManadoBot` in a chat with several bots
        argument = argument.strip()
    code = sender.get("language_code") if isinstance(sender, dict) else None
    language = "en" if isinstance(code, str) and code.lower().startswith("en") else "id"
    # `/stop` is STOP: the reply handlers read the word, whichever way it was written.
    said = command.upper() if command in ("stop", "berhenti") else words
    return TelegramMessage(Inbound(str(chat_id), said, at, f"telegram:{update_id}"), command, argument, language)


def _time(value: Any) -> datetime | None:
    """A unix time as Meta sends it (a string of seconds)."""
    try:
        return datetime.fromtimestamp(int(value), UTC)
    except (TypeError, ValueError, OverflowError, OSError):
        return None
