"""An applicant's Telegram chat with the office's bot, linked to their booking.

A Telegram bot cannot write to a phone number: it may only answer a chat that the person opened.
So a booking whose preferred channel is `telegram` gets a start link,
`https://t.me/<bot>?start=<code>` (returned with the booking, for the booking portal to show,
and printed on the applicant's receipt). When the applicant opens it and presses Start, Telegram
posts `/start <code>` to the office's webhook (kanim/web/routers/notify.py); the code names the
booking and carries a keyed MAC, so a guessed code links nothing, and the chat's id becomes the
booking's `contact_telegram`. From then on the applicant's messages go to that chat first; until
then they go to the booking's phone number (kanim.domain.contact.check_channel asks for one).

The code needs no table: it is the booking's id (hex) and 16 characters of an HMAC of it under the
office's digest key (kanim.office.notify.digest_key). The **first** Start links the booking; the
same link opened from another chat later is refused and links nothing (a receipt seen by someone
else must not move the applicant's messages, one-time codes included, to a stranger's chat). A
Telegram account keeps its chat on a new phone; an applicant who really changed accounts asks the
office, whose staff unlink the booking (`kanim notify telegram-unlink NUMBER`), after which the
next Start links again. The audit records each link and unlink, never the chat's id.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import uuid
from dataclasses import dataclass

from sqlalchemy import select, update

from kanim.config import Settings
from kanim.domain.contact import Channel
from kanim.office import notify
from kanim.store import tables as t
from kanim.store.uow import UnitOfWork

_MAC_CHARS = 16
_CODE = re.compile(r"^[0-9a-f]{32}[A-Za-z0-9_-]{16}$")  # Telegram allows [A-Za-z0-9_-]{1,64}


def start_code(settings: Settings, booking_id: str) -> str:
    hexid = uuid.UUID(booking_id).hex
    return hexid + _mac(settings, hexid)


def start_url(settings: Settings, booking_id: str | None, channel: str | None) -> str | None:
    """The booking's start link, when it prefers Telegram and the office has a bot."""
    bot = settings.notify_telegram_bot
    if booking_id is None or channel != Channel.TELEGRAM or not bot or not settings.notify_telegram_url:
        return None
    return f"https://t.me/{bot}?start={start_code(settings, booking_id)}"


def _mac(settings: Settings, hexid: str) -> str:
    digest = hmac.new(notify.digest_key(settings), f"telegram-start:{hexid}".encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).decode()[:_MAC_CHARS]


def booking_of(settings: Settings, code: str) -> str | None:
    """The booking id a start code names, or None for a code this office did not make."""
    if not _CODE.match(code):
        return None
    hexid, mac = code[:32], code[32:]
    if not hmac.compare_digest(mac.encode(), _mac(settings, hexid).encode()):
        return None
    return str(uuid.UUID(hex=hexid))


@dataclass(frozen=True)
class Linked:
    booking_id: str
    language: str
    number: str  # the first application's number, for the bot's answer
    first_name: str
    taken: bool = False  # the booking is linked to another chat: this one was refused


def link(uow: UnitOfWork, settings: Settings, *, code: str, chat_id: str) -> Linked | None:
    """Link the chat to the booking its start code names; None for a code that names none.
    A Start is asking for the messages: it lifts this chat's earlier STOP (audited)."""
    booking_id = booking_of(settings, code)
    if booking_id is None:
        return None
    b, a = t.booking.c, t.application.c
    row = uow.session.execute(select(b.id, b.language, b.contact_telegram).where(b.id == booking_id)).one_or_none()
    if row is None:  # a booking that was never here (another office's code with our key is impossible)
        return None
    first = uow.session.execute(select(a.number, a.full_name).where(a.booking_id == booking_id)
                                .order_by(a.number).limit(1)).one_or_none()
    language = row.language or "id"
    if row.contact_telegram is not None and row.contact_telegram != chat_id:
        uow.audit(actor="applicant", action="telegram_link_refused", subject=booking_id,
                  detail={"chat": notify.address_digest(settings, chat_id), "why": "linked to another chat"})
        return Linked(booking_id=booking_id, language=language, number="", first_name="", taken=True)
    notify.opt_in(uow, chat_id, how="telegram-start", settings=settings)
    if row.contact_telegram is None:
        uow.session.execute(update(t.booking).where(b.id == booking_id).values(contact_telegram=chat_id))
        uow.audit(actor="applicant", action="telegram_linked", subject=booking_id,
                  detail={"chat": notify.address_digest(settings, chat_id)})
    return Linked(booking_id=booking_id, language=language,
                  number=first.number if first else "", first_name=notify.first_name(first.full_name) if first else "")


def unlink(uow: UnitOfWork, *, number: str, actor: str) -> str | None:
    """Forget the Telegram chat of the booking of application `number` (the applicant changed
    accounts, or a stranger started the link first): its messages go to the phone again and the
    next Start links. Returns the booking id, or None when the application has no linked chat."""
    a, b = t.application.c, t.booking.c
    booking_id = uow.session.scalar(select(a.booking_id).where(a.number == number))
    if booking_id is None:
        return None
    if not uow.session.execute(update(t.booking).where(b.id == booking_id, b.contact_telegram.is_not(None))
                               .values(contact_telegram=None)).rowcount:
        return None
    uow.audit(actor=actor, action="telegram_unlinked", subject=booking_id, detail={"application": number})
    return booking_id
