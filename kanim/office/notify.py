"""Who is told what: the notification rules, run on the events of the `notify` consumer.

The rules read an event (taken from the consumer's queue, kanim/store/fanout.py) and the
application it concerns, and write the messages it calls for: one row per (purpose, scope,
recipient), whose digest is the message's unique `key`, so that a rule run twice never makes a
second message. Each rule is data an office can switch off (`notify_rule`).

A message carries the parameters of its template (no NIK, no full name: the first name only),
its recipient's channels in fallback order, and its language; the worker (kanim/notify/worker.py)
renders and sends it. Reminders wait for their moment (`not_before`), and a message that is no
longer true when its moment comes (a code already paid, a slot already changed) is cancelled,
with its reason, by `still_true`.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import delete, func, select, update

from kanim.config import Settings
from kanim.domain.application import Stage
from kanim.domain.contact import Channel
from kanim.domain.passport import age_on, requirements_for
from kanim.office.intake import MINOR_AGE
from kanim.notify.purposes import FALLBACK_ORDER, Purpose, State
from kanim.security.keyfiles import load_or_create
from kanim.store import tables as t
from kanim.store.fanout import QueuedConsumer, QueuedEvent
from kanim.store.uow import UnitOfWork

# The events the rules read; the consumer's queue gets nothing else.
CONSUMER = QueuedConsumer("notify", frozenset({
    "ApplicationBooked", "BillingIssued", "PaymentRecorded", "QualityCheckPassed", "ApplicationPutOnHold",
    "PassportHandedOver",
}))

BILLING_REMINDER_BEFORE = timedelta(minutes=30)
NO_CONTACT = "none"  # the channel of a message nobody could be told (no phone, no email)


@dataclass(frozen=True)
class AppFacts:
    """What the rules read of an application (one query, no aggregate)."""

    id: str
    number: str
    full_name: str
    birth_date: date
    app_type: str
    stage: str
    booking_id: str | None
    billing_code: str | None
    paid_at: datetime | None
    phone: str | None
    email: str | None
    channel: str | None
    language: str
    appointment_on: date | None
    slot: str | None
    telegram: str | None = None  # the chat id, once the applicant started the office's bot


def _facts_query():  # noqa: ANN202 - a Select
    a, b = t.application.c, t.booking.c
    return (select(a.id, a.number, a.full_name, a.birth_date, a.app_type, a.stage, a.booking_id, a.billing_code,
                   a.paid_at, b.contact_phone, b.contact_email, b.preferred_channel, b.language, b.appointment_on,
                   b.slot, b.contact_telegram)
            .select_from(t.application.outerjoin(t.booking, a.booking_id == b.id)))


def _facts(row: Any) -> AppFacts:
    values = list(row)
    values[4], values[5] = str(values[4]), str(values[5])  # enums to their plain values
    values[12] = values[12] or "id"
    return AppFacts(*values)


def load_facts(uow: UnitOfWork, application_id: str) -> AppFacts | None:
    row = uow.session.execute(_facts_query().where(t.application.c.id == application_id)).one_or_none()
    return None if row is None else _facts(row)


CHUNK = 500  # ids per IN (...): well inside SQLite's and PostgreSQL's parameter limits


def load_facts_many(uow: UnitOfWork, application_ids: list[str]) -> dict[str, AppFacts]:
    """The facts of many applications in a few queries (a backlog's round reads thousands)."""
    out: dict[str, AppFacts] = {}
    for i in range(0, len(application_ids), CHUNK):
        chunk = application_ids[i:i + CHUNK]
        out |= {row.id: _facts(row) for row in uow.session.execute(_facts_query().where(t.application.c.id.in_(chunk)))}
    return out


def opted_out_among(uow: UnitOfWork, addresses: set[str]) -> set[str]:
    found: set[str] = set()
    listed = sorted(addresses)
    for i in range(0, len(listed), CHUNK):
        found |= set(uow.session.scalars(select(t.notify_optout.c.address)
                                         .where(t.notify_optout.c.address.in_(listed[i:i + CHUNK]))))
    return found


def first_name(full_name: str) -> str:
    """'SITI AMINAH' -> 'Siti': a message greets the applicant and says nothing more of them."""
    first = full_name.split()[0] if full_name.split() else ""
    return first[:1].upper() + first[1:].lower()


def channels_for(facts: AppFacts) -> list[tuple[str, str]]:
    """The applicant's channels in the order to try: the preferred one, then the rest of
    WhatsApp -> SMS -> email -> Telegram that they left a contact for (Telegram once they
    started the office's bot)."""
    order = list(FALLBACK_ORDER)
    if facts.channel in order:
        order.remove(facts.channel)
        order.insert(0, facts.channel)
    addresses = {Channel.EMAIL: facts.email, Channel.TELEGRAM: facts.telegram}
    out = []
    for name in order:
        address = addresses.get(Channel(name), facts.phone)
        if address:
            out.append((name, address))
    return out


def message_key(purpose: Purpose, scope: str, address: str) -> str:
    return hashlib.sha256(f"{purpose.value}|{scope}|{address}".encode()).hexdigest()


def enabled(uow: UnitOfWork, purpose: Purpose) -> bool:
    """Read once per transaction: a round writes thousands of messages after an outage."""
    cached = uow.session.info.get("kanim_notify_rules")
    if cached is None:
        cached = uow.session.info["kanim_notify_rules"] = rules(uow)
    return cached[purpose]


def set_rule(uow: UnitOfWork, purpose: Purpose, *, enabled: bool, actor: str) -> None:
    uow.session.info.pop("kanim_notify_rules", None)
    r = t.notify_rule.c
    changed = uow.session.execute(update(t.notify_rule).where(r.purpose == purpose.value)
                                  .values(enabled=enabled, updated_at=uow.now(), updated_by=actor)).rowcount
    if not changed:
        uow.session.execute(t.notify_rule.insert().values(purpose=purpose.value, enabled=enabled,
                                                          updated_at=uow.now(), updated_by=actor))
    uow.audit(actor=actor, action="notify_rule_set", subject=purpose.value, detail={"enabled": enabled})


def rules(uow: UnitOfWork) -> dict[Purpose, bool]:
    stored = dict(uow.session.execute(select(t.notify_rule.c.purpose, t.notify_rule.c.enabled)).all())
    return {p: bool(stored.get(p.value, True)) for p in Purpose}


def opted_out(uow: UnitOfWork, address: str) -> bool:
    return uow.session.scalar(select(t.notify_optout.c.address).where(t.notify_optout.c.address == address)) is not None


@dataclass(frozen=True)
class Wanted:
    """One message a rule asks for (`create_many` writes those not written before)."""

    facts: AppFacts
    purpose: Purpose
    scope: str
    params: Mapping[str, Any]
    not_before: datetime | None = None
    only: tuple[str, str] | None = None  # this (channel, address) and no fallback: a status subscriber's


def create(uow: UnitOfWork, settings: Settings, facts: AppFacts, purpose: Purpose, *, scope: str,
           params: Mapping[str, Any], not_before: datetime | None = None) -> str | None:
    """Write the message for `purpose` to the applicant, unless the rule is off, they left no
    contact, or this (purpose, scope, recipient) was written before. Returns its id or None."""
    made = create_many(uow, settings, [Wanted(facts, purpose, scope, params, not_before)])
    return made[0] if made else None


def create_many(uow: UnitOfWork, settings: Settings, wanted: list[Wanted]) -> list[str]:
    """`create` for many messages at once, in a few statements: after an outage one round tells
    thousands. Returns the ids written, in order."""
    drafts = []
    for w in wanted:
        if not enabled(uow, w.purpose):
            continue
        # No contact (a walk-in): the message is written down as one nobody could be told, so
        # that the history says so instead of nothing.
        routes = [w.only] if w.only else (channels_for(w.facts) or [(NO_CONTACT, "")])
        drafts.append((w, routes, message_key(w.purpose, w.scope, routes[0][1])))
    keys = [k for _, _, k in drafts]
    told: set[str] = set()
    for i in range(0, len(keys), CHUNK):
        told |= set(uow.session.scalars(select(t.notify_message.c.key).where(t.notify_message.c.key.in_(keys[i:i + CHUNK]))))
    out = opted_out_among(uow, {routes[0][1] for _, routes, _ in drafts})
    now = uow.now()
    rows = []
    for w, routes, key in drafts:
        if key in told:
            continue  # told before: the rule ran again for the same fact
        told.add(key)
        (channel, address), fallbacks = routes[0], routes[1:]
        message_id = str(uuid.uuid4())
        params = dict(w.params)
        if (link := optout_url(settings, message_id)) is not None:
            params["optout_url"] = link
        cancelled = address in out or channel == NO_CONTACT
        reason = ("no-contact" if channel == NO_CONTACT else "opted-out") if cancelled else None
        rows.append({
            "id": message_id, "key": key, "purpose": w.purpose.value, "application_id": w.facts.id,
            "booking_id": w.facts.booking_id, "channel": channel, "address": address,
            "fallbacks": [list(f) for f in fallbacks], "language": w.facts.language,
            "params": _plain({**base_params(settings, w.facts), **params}),
            "state": (State.CANCELLED if cancelled else State.CREATED).value, "urgent": w.purpose.urgent,
            "attempts": 0, "not_before": w.not_before, "reason": reason,
            "created_at": now, "updated_at": now})
    if rows:
        uow.session.execute(t.notify_message.insert(), rows)
    return [r["id"] for r in rows]


def base_params(settings: Settings, facts: AppFacts) -> dict[str, Any]:
    return {"office_name": settings.office_name, "office_phone": settings.office_phone, "number": facts.number,
            "first_name": first_name(facts.full_name), "timezone": settings.timezone}


def _plain(params: Mapping[str, Any]) -> dict[str, Any]:
    """Stored as JSON; dates and times as ISO text (`decode_params` turns them back)."""
    return {k: v.isoformat() if isinstance(v, date | datetime) else v for k, v in params.items()}


DATE_PARAMS = frozenset({"day", "pickup_day"})
TIME_PARAMS = frozenset({"expires_at"})


def decode_params(params: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(params)
    for k in DATE_PARAMS & out.keys():
        out[k] = date.fromisoformat(out[k]) if out[k] else None
    for k in TIME_PARAMS & out.keys():
        out[k] = datetime.fromisoformat(out[k]) if out[k] else None
    return out


# -- the rules ---------------------------------------------------------------------------------

def handler(settings: Settings):  # noqa: ANN201 - a fanout.Handler
    """The `notify` consumer's handler for this office's settings."""

    def handle(uow: UnitOfWork, e: QueuedEvent) -> None:
        rule = RULES.get(e.name)
        if rule is None:
            return
        facts = load_facts(uow, e.subject)
        if facts is None:
            return  # not an application of this office (a booklet's event): nobody to tell
        rule(uow, settings, facts, e)

    return handle


def _booked(uow: UnitOfWork, settings: Settings, facts: AppFacts, e: QueuedEvent) -> None:
    if facts.booking_id is None or facts.appointment_on is None:
        return  # a walk-in is at the desk already
    minor = age_on(facts.birth_date, facts.appointment_on) < MINOR_AGE
    bring = [r.key for r in requirements_for(facts.app_type, minor=minor)]
    # One message per booking: a family's booking is one appointment, named by its first
    # application's number (whichever of the family's events the rules read first).
    first = uow.session.scalar(select(func.min(t.application.c.number))
                               .where(t.application.c.booking_id == facts.booking_id))
    create(uow, settings, facts, Purpose.BOOKING_CONFIRMED, scope=facts.booking_id,
           params={"number": first or facts.number, "day": facts.appointment_on, "slot": facts.slot,
                   "what_to_bring": bring})


def _billing(uow: UnitOfWork, settings: Settings, facts: AppFacts, e: QueuedEvent) -> None:
    code, expires = e.payload.get("billing_code", ""), e.payload.get("expires_at")
    expires_at = datetime.fromisoformat(expires) if expires else None
    params = {"billing_code": code, "amount": e.payload.get("amount", 0), "expires_at": expires_at}
    create(uow, settings, facts, Purpose.BILLING_ISSUED, scope=f"{facts.id}:{code}", params=params)
    if expires_at is not None:
        create(uow, settings, facts, Purpose.BILLING_REMINDER, scope=f"{facts.id}:{code}", params=params,
               not_before=max(expires_at - BILLING_REMINDER_BEFORE, uow.now()))


def _paid(uow: UnitOfWork, settings: Settings, facts: AppFacts, e: QueuedEvent) -> None:
    code = e.payload.get("billing_code", "")
    create(uow, settings, facts, Purpose.PAYMENT_RECEIVED, scope=f"{facts.id}:{code}",
           params={"billing_code": code, "amount": e.payload.get("amount", 0)})


def _checked(uow: UnitOfWork, settings: Settings, facts: AppFacts, e: QueuedEvent) -> None:
    # The delay notice: printed and checked, but the central has not confirmed everything yet.
    # Taken after the commit, so a passport that became ready at once is not told to wait.
    if facts.stage == Stage.QC_PASSED:
        create(uow, settings, facts, Purpose.PRINTED_WAITING, scope=f"{facts.id}:{e.payload.get('booklet_serial')}",
               params={})


def _held(uow: UnitOfWork, settings: Settings, facts: AppFacts, e: QueuedEvent) -> None:
    # The reason stays inside the office (it may name a watch list): the applicant is asked to
    # contact the office, nothing more.
    create(uow, settings, facts, Purpose.ON_HOLD, scope=f"{facts.id}:{e.id}", params={"reason_code": "verification"})


def _handed_over(uow: UnitOfWork, settings: Settings, facts: AppFacts, e: QueuedEvent) -> None:
    p = t.pickup_assignment.c
    uow.session.execute(update(t.pickup_assignment).where(p.application_id == facts.id).values(state="collected"))


RULES = {
    "ApplicationBooked": _booked,
    "BillingIssued": _billing,
    "PaymentRecorded": _paid,
    "QualityCheckPassed": _checked,
    "ApplicationPutOnHold": _held,
    "PassportHandedOver": _handed_over,
}


# -- at the moment of sending ------------------------------------------------------------------

SLOT_PURPOSES = (Purpose.READY, Purpose.PICKUP_REMINDER, Purpose.RESCHEDULED, Purpose.NO_SHOW)


def still_true(uow: UnitOfWork, purpose: Purpose, application_id: str | None, params: Mapping[str, Any]) -> str | None:
    """None when the message is still worth sending; else why not (the cancel reason)."""
    if application_id is None:
        return None
    facts = load_facts(uow, application_id)
    slots = pickup_slots_of(uow, [application_id]) if purpose in SLOT_PURPOSES else {}
    return why_not(purpose, facts, slots.get(application_id), params)


def pickup_slots_of(uow: UnitOfWork, application_ids: list[str]) -> dict[str, tuple[str, str]]:
    """Each application's pickup slot now, as (ISO day, time), for `why_not`."""
    p = t.pickup_assignment.c
    out: dict[str, tuple[str, str]] = {}
    for i in range(0, len(application_ids), CHUNK):
        for row in uow.session.execute(select(p.application_id, p.day, p.slot)
                                       .where(p.application_id.in_(application_ids[i:i + CHUNK]))):
            out[row.application_id] = (row.day.isoformat(), row.slot)
    return out


def why_not(purpose: Purpose, facts: AppFacts | None, slot: tuple[str, str] | None,
            params: Mapping[str, Any]) -> str | None:
    """The rule of `still_true` on facts already read (a round reads them for all its messages)."""
    if facts is None:
        return "application-gone"
    if facts.stage in (Stage.CANCELLED, Stage.REJECTED) and purpose is not Purpose.ON_HOLD:
        return "application-closed"
    if purpose is Purpose.BILLING_REMINDER and (facts.paid_at is not None or facts.billing_code != params.get("billing_code")):
        return "already-paid"
    if purpose is Purpose.PRINTED_WAITING and facts.stage != Stage.QC_PASSED:
        return "no-longer-waiting"
    if purpose in SLOT_PURPOSES:
        if facts.stage != Stage.READY:
            return "not-ready"
        if slot is None or slot != (params.get("pickup_day"), params.get("pickup_slot")):
            return "slot-changed"
    return None


# -- what comes back: delivery receipts, replies, opt-outs -------------------------------------

OPT_OUT_WORDS = frozenset({"STOP", "BERHENTI", "UNSUBSCRIBE"})
CONFIRM_WORDS = frozenset({"YA", "YES", "1", "OK"})
CHANGE_WORDS = frozenset({"GANTI", "CHANGE", "2"})


def record_receipt(uow: UnitOfWork, *, provider_ref: str, status: str, at: datetime,
                   error_code: int | None = None) -> bool:
    """A channel's word on a message it accepted (WhatsApp's delivered / read / failed).
    A failure after acceptance sends the message on to the applicant's next channel. Returns
    False for a receipt of no message of ours (another number on the same app)."""
    m = t.notify_message.c
    row = uow.session.execute(select(m.id, m.channel, m.state, m.fallbacks, m.delivered_at)
                              .where(m.provider_ref == provider_ref)).one_or_none()
    if row is None:
        # Perhaps ours, its send's answer not yet recorded (the webhook outran the worker's
        # commit): kept a day and applied when the wamid is stored (`apply_early_receipts`).
        now = uow.now()
        e = t.notify_receipt_early.c
        uow.session.execute(delete(t.notify_receipt_early).where(e.received_at < now - timedelta(days=1)))
        uow.session.execute(t.notify_receipt_early.insert().values(
            provider_ref=provider_ref[:128], status=str(status)[:16], at=at, error_code=error_code, received_at=now))
        return False
    now = uow.now()
    uow.session.execute(t.notify_attempt.insert().values(
        message_id=row.id, channel=row.channel, at=at, outcome=f"receipt:{status}"[:20],
        reason=(f"code-{error_code}" if error_code else "")[:120], provider_ref=provider_ref))
    values: dict[str, Any] = {}
    if status in ("delivered", "read") and row.state in (State.SENT.value, State.DELIVERED.value):
        values = {"state": State.DELIVERED.value, "delivered_at": row.delivered_at or at}
        if status == "read":
            values["read_at"] = at
    elif status == "failed" and row.state in (State.SENT.value, State.DELIVERED.value):
        reason = f"receipt-failed:{error_code}" if error_code else "receipt-failed"
        if row.fallbacks:
            (channel, address), rest = row.fallbacks[0], row.fallbacks[1:]
            values = {"state": State.CREATED.value, "channel": channel, "address": address, "fallbacks": rest,
                      "attempts": 0, "provider_ref": None, "first_failed_at": None, "next_attempt_at": None,
                      "claimed_by": None, "reason": f"fallback-from-{row.channel}:{reason}"[:120]}
        else:
            values = {"state": State.PERMANENT_FAILURE.value, "reason": reason}
    if values:
        uow.session.execute(update(t.notify_message).where(m.id == row.id).values(updated_at=now, **values))
    return True


def apply_early_receipts(uow: UnitOfWork, provider_ref: str) -> int:
    """The receipts that came for `provider_ref` before its send was recorded, applied now."""
    e = t.notify_receipt_early.c
    early = list(uow.session.execute(select(e.id, e.status, e.at, e.error_code)
                                     .where(e.provider_ref == provider_ref).order_by(e.at, e.id)))
    for r in early:
        record_receipt(uow, provider_ref=provider_ref, status=r.status, at=r.at, error_code=r.error_code)
    if early:
        uow.session.execute(delete(t.notify_receipt_early).where(e.provider_ref == provider_ref))
    return len(early)


def first_time(uow: UnitOfWork, inbound_id: str | None) -> bool:
    """False for a reply already acted on (the webhook delivered again)."""
    if inbound_id is None:
        return True
    if uow.session.scalar(select(t.notify_inbound.c.id).where(t.notify_inbound.c.id == inbound_id)) is not None:
        return False
    uow.session.execute(t.notify_inbound.insert().values(id=inbound_id, received_at=uow.now()))
    return True


def address_digest(settings: Settings, address: str) -> str:
    """What the audit names instead of an address: a keyed digest (an unkeyed one of a phone
    number is undone by trying every number)."""
    return hmac.new(digest_key(settings), address.encode(), hashlib.sha256).hexdigest()[:24]


def optout_url(settings: Settings, message_id: str) -> str | None:
    """The email's unsubscribe link (`<public url>/o/<message id>.<mac>`), when the office has an
    https public address short enough for the template's link limit."""
    base = (settings.public_url or "").rstrip("/")
    if not base.startswith("https://") or len(base) > 60:
        return None
    return f"{base}/o/{optout_token(settings, message_id)}"


def optout_token(settings: Settings, message_id: str) -> str:
    mac = hmac.new(digest_key(settings), f"optout:{message_id}".encode(), hashlib.sha256).hexdigest()[:16]
    return f"{message_id}.{mac}"


def address_of_token(uow: UnitOfWork, settings: Settings, token: str) -> str | None:
    """The address an unsubscribe link was made for, or None for a forged or mangled one."""
    message_id, _, _ = token.partition(".")
    if len(token) > 80 or not hmac.compare_digest(optout_token(settings, message_id), token):
        return None
    return uow.session.scalar(select(t.notify_message.c.address).where(t.notify_message.c.id == message_id))


def digest_key(settings: Settings) -> bytes:
    return load_or_create(settings.data_dir / "keys" / "digest.key", lambda: secrets.token_bytes(32))


def opt_out(uow: UnitOfWork, address: str, *, how: str, settings: Settings) -> bool:
    """No more messages to `address`; those waiting for it are cancelled. False if it had opted
    out already."""
    if opted_out(uow, address):
        return False
    now = uow.now()
    uow.session.execute(t.notify_optout.insert().values(address=address, at=now, how=how))
    m = t.notify_message.c
    uow.session.execute(update(t.notify_message)
                        .where(m.address == address, m.state.in_((State.CREATED.value, State.TEMPORARY_FAILURE.value)))
                        .values(state=State.CANCELLED.value, reason="opted-out", updated_at=now))
    uow.audit(actor="applicant", action="notify_opt_out", subject=address_digest(settings, address),
              detail={"how": how})
    return True


def opt_in(uow: UnitOfWork, address: str, *, how: str, settings: Settings) -> bool:
    """Messages to `address` again, after its opt-out, because its owner asked for them (a
    Telegram Start). False if it had not opted out."""
    gone = uow.session.execute(delete(t.notify_optout).where(t.notify_optout.c.address == address)).rowcount
    if gone:
        uow.audit(actor="applicant", action="notify_opt_in", subject=address_digest(settings, address),
                  detail={"how": how})
    return bool(gone)


def reply_intent(text: str) -> str | None:
    """What a short reply asks for: 'opt_out', 'confirm', 'change', or None (a question for staff)."""
    word = text.strip().upper().rstrip(".!")
    if word in OPT_OUT_WORDS:
        return "opt_out"
    if word in CONFIRM_WORDS:
        return "confirm"
    if word in CHANGE_WORDS:
        return "change"
    return None
