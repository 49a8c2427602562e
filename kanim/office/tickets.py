"""The complaint desk's use cases (pengaduan): open a ticket from any way an applicant reaches
the office, take in what they write next, assign, note, reply, move it through its states.

Every change is one transaction with its audit row; the audit names the ticket and the action,
never what anyone wrote nor an address (a complaint is personal data). A reply is a message of
the notifications pipeline (`Purpose.TICKET_REPLY`), written in the same transaction, that the
worker renders and sends on the ticket's channel, falling back as every message does.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import or_, select, update

from kanim.bootstrap import Office
from kanim.domain.contact import Channel
from kanim.domain.errors import Conflict, InvalidInput, NotFound
from kanim.domain.tickets import (Pause, Source, TicketState, after_inbound, check_move, masked_numbers,
                                  numbers_in)
from kanim.notify.purposes import Purpose
from kanim.office import notify
from kanim.office.common import today
from kanim.store import tables as t
from kanim.store.uow import UnitOfWork

NONE = "none"  # the channel of a ticket with no way to reply (a walk-in who left no contact)
GREETING = {"id": "Pemohon", "en": "Applicant"}  # a reply to someone whose name we do not know

# Canned replies (jawaban baku), in both languages: staff pick one and may edit it before sending.
CANNED: dict[str, dict[str, str]] = {
    "received": {
        "id": "Terima kasih, pengaduan Anda sudah kami terima dan sedang kami periksa.",
        "en": "Thank you, we have received your complaint and are looking into it.",
    },
    "need_number": {
        "id": "Mohon kirimkan nomor permohonan paspor Anda (tertera pada tanda terima) agar kami dapat memeriksanya.",
        "en": "Please send us your passport application number (on your receipt) so that we can check it.",
    },
    "waiting_central": {
        "id": "Paspor Anda sudah dicetak dan menunggu konfirmasi sistem nasional. Kami akan mengabari Anda jadwal pengambilannya.",
        "en": "Your passport is printed and waits for the national system's confirmation. We will tell you when to collect it.",
    },
    "resolved": {
        "id": "Pengaduan Anda sudah kami tindak lanjuti. Terima kasih atas kesabaran Anda.",
        "en": "We have dealt with your complaint. Thank you for your patience.",
    },
}


class TicketNotFound(NotFound):
    code = "ticket-not-found"


class LaporDuplicate(Conflict):
    code = "ticket-lapor-duplicate"


class NoWayToReply(Conflict):
    code = "ticket-no-contact"


def ticket_number(seq: int) -> str:
    """ADU-000042: what staff and the applicant call the ticket (aduan: complaint)."""
    return f"ADU-{seq:06d}"


@dataclass(frozen=True)
class NewTicket:
    source: Source
    subject: str
    body: str
    channel: str = NONE  # whatsapp | sms | email | none
    address: str = ""
    contact_name: str = ""
    language: str = "id"
    number: str = ""  # an application number, if the applicant gave one
    lapor_ref: str | None = None


def open_ticket(office: Office, new: NewTicket, *, actor: str) -> str:
    """A ticket logged by staff (counter, hotline, email, LAPOR!). Returns its id."""
    with office.uow() as uow:
        ticket_id = open_in(office, uow, new, actor=actor)
        uow.commit()
    return ticket_id


def open_in(office: Office, uow: UnitOfWork, new: NewTicket, *, actor: str, at: datetime | None = None) -> str:
    if new.channel != NONE and not new.address:
        raise InvalidInput("a reply channel needs an address", code="ticket-address-missing", field="address")
    if new.source == Source.LAPOR and not new.lapor_ref:
        raise InvalidInput("a SP4N-LAPOR! complaint needs its reference number", code="ticket-lapor-ref-missing",
                           field="lapor_ref")
    if new.lapor_ref and uow.session.scalar(select(t.ticket.c.id).where(t.ticket.c.lapor_ref == new.lapor_ref)):
        raise LaporDuplicate(f"a ticket for LAPOR! report {new.lapor_ref} exists already", field="lapor_ref")
    now = uow.now()
    application_id, booking_id = _linked(uow, new.number, new.body, new.address)
    ticket_id = str(uuid.uuid4())
    uow.session.execute(t.ticket.insert().values(
        id=ticket_id, source=new.source.value, state=TicketState.NEW.value, subject=new.subject[:200],
        channel=new.channel, address=new.address, contact_name=new.contact_name[:80], language=new.language,
        application_id=application_id, booking_id=booking_id, lapor_ref=new.lapor_ref or None, assignee=None,
        opened_on=today(office, uow), pauses=[], opened_at=now, last_inbound_at=at, created_by=actor,
        updated_at=now))
    _entry(uow, ticket_id, "inbound", new.body, actor, at=at)
    uow.audit(actor=actor, action="ticket_opened", subject=ticket_id)
    return ticket_id


def _linked(uow: UnitOfWork, number: str, text: str, address: str) -> tuple[str | None, str | None]:
    """The application (and its booking) a ticket is about: the number given, else one written
    in the text, else the latest application booked with this phone, email or Telegram chat."""
    a, b = t.application.c, t.booking.c
    for n in ([number.strip().upper()] if number.strip() else []) + numbers_in(text):
        row = uow.session.execute(select(a.id, a.booking_id).where(a.number == n)).first()
        if row is not None:
            return row.id, row.booking_id
    if address:
        row = uow.session.execute(
            select(a.id, a.booking_id).join(t.booking, a.booking_id == b.id)
            .where((b.contact_phone == address) | (b.contact_email == address) | (b.contact_telegram == address))
            .order_by(a.created_at.desc()).limit(1)).first()
        if row is not None:
            return row.id, row.booking_id
    return None, None


def _entry(uow: UnitOfWork, ticket_id: str, kind: str, body: str, actor: str, *, message_id: str | None = None,
           at: datetime | None = None) -> None:
    uow.session.execute(t.ticket_entry.insert().values(ticket_id=ticket_id, kind=kind, body=body, actor=actor,
                                                       message_id=message_id, at=at or uow.now()))


# -- what applicants write ---------------------------------------------------------------------------

def from_inbound(office: Office, uow: UnitOfWork, *, channel: str, address: str, text: str, at: datetime) -> str:
    """A message that is not STOP / YA / GANTI: a question for staff. It joins the number's
    ticket still in hand (new, open, waiting or resolved: a resolved one reopens), or opens one."""
    c = t.ticket.c
    live = (TicketState.NEW.value, TicketState.OPEN.value, TicketState.WAITING.value, TicketState.RESOLVED.value)
    row = uow.session.execute(select(c.id, c.state, c.pauses).where(c.address == address, c.state.in_(live))
                              .order_by(c.seq.desc()).limit(1)).first()
    body = text or "(no text: a photo, a sticker or a voice note)"
    if row is None:
        source = {Channel.SMS: Source.SMS, Channel.TELEGRAM: Source.TELEGRAM}.get(channel, Source.WHATSAPP)
        new = NewTicket(source=source, subject=_subject(body), body=body, channel=channel, address=address,
                        language=_language_of(uow, address))
        return open_in(office, uow, new, actor="applicant", at=at)
    state = after_inbound(TicketState(row.state))
    _entry(uow, row.id, "inbound", body, "applicant", at=at)
    values: dict[str, Any] = {"state": state.value, "last_inbound_at": at, "updated_at": uow.now()}
    if row.state == TicketState.WAITING.value:
        values["pauses"] = _resume(row.pauses, today(office, uow))
    if row.state == TicketState.RESOLVED.value:
        values["resolved_at"] = None
    uow.session.execute(update(t.ticket).where(c.id == row.id).values(**values))
    uow.audit(actor="applicant", action="ticket_inbound", subject=row.id)
    return row.id


def _subject(text: str) -> str:
    words = masked_numbers(" ".join(text.split()))
    return words if len(words) <= 80 else words[:77] + "..."


def _language_of(uow: UnitOfWork, address: str) -> str:
    b = t.booking.c
    lang = uow.session.scalar(select(b.language).where(or_(b.contact_phone == address, b.contact_telegram == address))
                              .order_by(b.created_at.desc()).limit(1))
    return lang or "id"


# -- what staff do -------------------------------------------------------------------------------------

def _load(uow: UnitOfWork, ticket_id: str) -> Any:
    row = uow.session.execute(select(t.ticket).where(t.ticket.c.id == ticket_id)).first()
    if row is None:
        raise TicketNotFound(f"no ticket {ticket_id}")
    return row


def add_note(office: Office, ticket_id: str, *, body: str, actor: str) -> None:
    """An internal note: staff only, never sent."""
    with office.uow() as uow:
        _load(uow, ticket_id)
        _entry(uow, ticket_id, "note", body, actor)
        uow.audit(actor=actor, action="ticket_note", subject=ticket_id)
        uow.commit()


def assign(office: Office, ticket_id: str, *, assignee: str, actor: str) -> None:
    with office.uow() as uow:
        row = _load(uow, ticket_id)
        if uow.session.scalar(select(t.staff_user.c.username).where(t.staff_user.c.username == assignee)) is None:
            raise InvalidInput(f"no staff account {assignee!r}", code="ticket-assignee-unknown", field="assignee")
        values: dict[str, Any] = {"assignee": assignee, "updated_at": uow.now()}
        if row.state == TicketState.NEW.value:
            values["state"] = TicketState.OPEN.value
        uow.session.execute(update(t.ticket).where(t.ticket.c.id == ticket_id).values(**values))
        _entry(uow, ticket_id, "assign", assignee, actor)
        uow.audit(actor=actor, action="ticket_assigned", subject=ticket_id)
        uow.commit()


def move(office: Office, ticket_id: str, *, to: TicketState, actor: str) -> None:
    with office.uow() as uow:
        _move_in(office, uow, _load(uow, ticket_id), to, actor)
        uow.commit()


def _move_in(office: Office, uow: UnitOfWork, row: Any, to: TicketState, actor: str) -> None:
    current = TicketState(row.state)
    if to == current:
        return
    check_move(current, to)
    now, day = uow.now(), today(office, uow)
    values: dict[str, Any] = {"state": to.value, "updated_at": now}
    if to == TicketState.WAITING:
        values["pauses"] = [*row.pauses, [day.isoformat(), None]]
    elif current == TicketState.WAITING:
        values["pauses"] = _resume(row.pauses, day)
    if to == TicketState.RESOLVED:
        values["resolved_at"] = now
    elif to == TicketState.CLOSED:
        values["closed_at"] = now
        values["resolved_at"] = row.resolved_at or now
    elif to == TicketState.OPEN:
        values["resolved_at"] = None
    uow.session.execute(update(t.ticket).where(t.ticket.c.id == row.id).values(**values))
    _entry(uow, row.id, "state", to.value, actor)
    uow.audit(actor=actor, action=f"ticket_{to.value}", subject=row.id)


def _resume(pauses: list[list[str | None]], day: date) -> list[list[str | None]]:
    return [[s, e if e is not None else day.isoformat()] for s, e in pauses]


def pauses_of(raw: list[list[str | None]]) -> tuple[Pause, ...]:
    return tuple(Pause(date.fromisoformat(s), date.fromisoformat(e) if e else None) for s, e in raw)


def canned_text(key: str, language: str) -> str:
    if key not in CANNED:
        raise InvalidInput(f"no canned reply {key!r}", code="ticket-canned-unknown", field="canned")
    return CANNED[key][language if language in ("id", "en") else "id"]


def reply(office: Office, ticket_id: str, *, text: str, actor: str, then: TicketState | None = None) -> str:
    """Send `text` to the applicant on the ticket's channel (a message of the notifications
    pipeline), record it on the ticket, and move the ticket (`then`: waiting or resolved; by
    default a new ticket becomes open). Returns the message id."""
    words = " ".join(text.split())
    if not words:
        raise InvalidInput("a reply needs words", code="ticket-reply-empty", field="text")
    with office.uow() as uow:
        row = _load(uow, ticket_id)
        if row.channel == NONE or not row.address:
            raise NoWayToReply("this ticket has no phone or email to reply to: call or see the applicant")
        if not TicketState(row.state).active and row.state != TicketState.RESOLVED.value:
            raise Conflict("a closed ticket takes no reply", code="ticket-state-conflict")
        _check_renders(office, row, words)
        message_id = _message(office, uow, row, words)
        if message_id is None:
            raise Conflict("the reply was not written: the ticket_reply rule is off", code="ticket-reply-off")
        _entry(uow, ticket_id, "reply", words, actor, message_id=message_id)
        now = uow.now()
        uow.session.execute(update(t.ticket).where(t.ticket.c.id == ticket_id)
                            .values(first_response_at=row.first_response_at or now, updated_at=now))
        wanted = then or (TicketState.OPEN if row.state == TicketState.NEW.value else None)
        if wanted is not None:
            _move_in(office, uow, _load(uow, ticket_id), wanted, actor)
        uow.audit(actor=actor, action="ticket_replied", subject=ticket_id)
        uow.commit()
    return message_id


def _check_renders(office: Office, row: Any, words: str) -> None:
    """The reply rendered now on the ticket's channel, so that words the message cannot carry (a
    NIK, an SMS past two segments) are refused at the desk rather than failing at the send. The
    office's own setup (a missing phone) is left to the worker, which alerts the staff."""
    from kanim.notify.render import MessageTooLong, render

    params = {**notify.base_params(office.settings, _facts(row)), "first_name": _first(row), "reply_text": words}
    try:
        render(Purpose.TICKET_REPLY, row.channel, row.language, params)
    except MessageTooLong as e:
        raise InvalidInput("the reply is too long for an SMS (two segments): shorten it", field="text",
                           code="ticket-reply-too-long", segments=e.extra.get("segments")) from None
    except InvalidInput as e:
        if e.extra.get("key") == "reply_text":
            raise InvalidInput(f"the reply cannot be sent as written: {e}", code="ticket-reply-invalid",
                               field="text") from None


def _facts(row: Any) -> notify.AppFacts:
    phone = row.address if row.channel in (Channel.WHATSAPP, Channel.SMS) else None
    email = row.address if row.channel == Channel.EMAIL else None
    chat = row.address if row.channel == Channel.TELEGRAM else None
    # Not an application's message (its facts' id is None): the worker's "still true?" checks
    # of an application do not apply to an answer the applicant asked for.
    return notify.AppFacts(
        id=None, number=ticket_number(row.seq), full_name=row.contact_name or GREETING.get(row.language, GREETING["id"]),
        birth_date=date.min, app_type="", stage="", booking_id=None, billing_code=None, paid_at=None, phone=phone,
        email=email, channel=row.channel, language=row.language, appointment_on=None, slot=None, telegram=chat)


def _message(office: Office, uow: UnitOfWork, row: Any, words: str) -> str | None:
    facts = _facts(row)
    # Every reply is a message of its own (a double click is folded by the form's Idempotency-Key).
    made = notify.create_many(uow, office.settings, [notify.Wanted(
        facts, Purpose.TICKET_REPLY, scope=f"{row.id}:{uuid.uuid4()}",
        params={"first_name": _first(row), "reply_text": words})])
    return made[0] if made else None


def _first(row: Any) -> str:
    name = row.contact_name.split()[0] if row.contact_name.split() else ""
    return name or GREETING.get(row.language, GREETING["id"])
