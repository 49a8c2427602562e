"""Subscriptions to the office's status page: WhatsApp, SMS or email, through the notifications
pipeline (docs/public.md).

Double opt-in: the form on /status writes a `pending` subscriber and sends a `status_confirm`
message; the subscription is `active` only once its owner confirms — the link `/s/<code>` (a
page whose button POSTs: mail scanners open links), or a reply YA on WhatsApp or SMS. Someone
who types another person's number therefore costs that person one message, never a stream of
them, and the per-address throttle bounds even that. Every notice carries the way out: the link
`/s/<code>/stop` in SMS and email (WhatsApp carries no link: kanim's templates never do), and a
reply STOP / BERHENTI, which the pipeline already treats as an opt-out and which ends the
subscription too.

When staff publish an incident, an update of one, or maintenance (kanim/office/status_page.py),
every active subscriber gets one `status_notice` message in their language, written in the same
transaction as the update, and the worker sends them within the pipeline's caps.

Addresses are personal data: the audit names a keyed digest, logs name nothing, staff see them
masked. The form's answer is the same whatever was typed (new, pending, active, unknown), so it
tells nobody whether an address is subscribed.
"""

from __future__ import annotations

import hashlib
import uuid
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from sqlalchemy import delete, func, select, update

from kanim.bootstrap import Office
from kanim.config import Settings
from kanim.domain import throttle as rules
from kanim.domain.contact import Channel, masked
from kanim.domain.errors import DomainError, InvalidInput
from kanim.notify.purposes import Purpose
from kanim.office import notify
from kanim.office.contact import normalise_email, normalise_phone
from kanim.office.pickup_slots import new_code
from kanim.office.throttle import _locked_bucket, _save, client_address  # the login throttle's storage
from kanim.store import tables as t
from kanim.store.uow import UnitOfWork

PENDING, ACTIVE, ENDED = "pending", "active", "ended"
TARGET, CLIENT = "subto", "subadr"  # kinds in login_throttle (8 characters at most)
FORGET = timedelta(hours=24)
# Per address typed: one confirmation, a second after a minute (it may not have come), then
# doubling waits: nobody floods someone else's phone through the form.
TARGET_POLICY = rules.ThrottlePolicy(free_failures=2, first_delay=timedelta(minutes=1), max_delay=timedelta(hours=6),
                                     lock_after=None, lock_for=timedelta(0), forget_after=FORGET)
# Per client address (an office's Wi-Fi, a carrier's NAT): looser, but it stops a walk.
CLIENT_POLICY = rules.ThrottlePolicy(free_failures=10, first_delay=timedelta(seconds=10), max_delay=timedelta(hours=1),
                                     lock_after=None, lock_for=timedelta(0), forget_after=FORGET)
LANGUAGES = ("id", "en")
PENDING_FORGET = timedelta(days=7)  # a subscription never confirmed is dropped after a week

# What a notice calls an incident and its states, in the subscriber's language (the public
# page's words: kanim/locale).
KIND_WORDS = {"incident": {"id": "Gangguan", "en": "Incident"},
              "maintenance": {"id": "Pemeliharaan", "en": "Maintenance"}}
STATE_WORDS = {"investigating": {"id": "Sedang diselidiki", "en": "Investigating"},
               "identified": {"id": "Penyebab ditemukan", "en": "Identified"},
               "monitoring": {"id": "Dipantau", "en": "Monitoring"},
               "resolved": {"id": "Selesai", "en": "Resolved"}}


class SubscribeThrottled(DomainError):
    """Too many subscriptions asked from here or for this address: wait (429, Retry-After)."""

    code = "subscribe-throttled"
    status = 429

    def __init__(self, seconds: int) -> None:
        super().__init__(f"too many subscriptions asked: try again in {seconds} s", retry_after=seconds)
        self.retry_after = seconds


@dataclass(frozen=True)
class Subscriber:
    """A subscriber as its own links' pages show it: the address masked."""

    state: str
    channel: str
    shown: str
    language: str


def parse_address(channel: str, raw: str) -> tuple[Channel, str]:
    """The channel and the address in its stored form (E.164 for a phone, default region ID),
    or InvalidInput naming the field."""
    try:
        ch = Channel(channel)
    except ValueError:
        ch = None
    if ch is None or not ch.for_subscribers:
        raise InvalidInput("choose WhatsApp, SMS or email", code="subscribe-channel", field="channel")
    text = (raw or "").strip()
    if not text or len(text) > 254:
        raise InvalidInput("give a phone number or an email address", code="subscribe-address", field="address")
    try:
        return ch, normalise_email(text) if ch is Channel.EMAIL else normalise_phone(text)
    except InvalidInput:
        wanted = "an email address" if ch is Channel.EMAIL else "a phone number (0812 3456 7890 or +62 812 3456 7890)"
        raise InvalidInput(f"this is not {wanted}", code="subscribe-address", field="address") from None


def link(settings: Settings, code: str, *, stop: bool = False) -> str | None:
    """The subscriber's link (`<public url>/s/<code>`, `/stop` to end it), when the office has an
    https public address; links elsewhere are what scams look like."""
    base = (settings.public_url or "").rstrip("/")
    if not base.startswith("https://") or len(base) > 60:
        return None
    return f"{base}/s/{code}" + ("/stop" if stop else "")


def status_url(settings: Settings) -> str | None:
    base = (settings.public_url or "").rstrip("/")
    return f"{base}/status" if base.startswith("https://") and len(base) <= 100 else None


# -- asking ----------------------------------------------------------------------------------------

def subscribe(office: Office, *, channel: str, address: str, language: str, client: str | None) -> None:
    """Ask for a subscription: a confirmation to the address (a first time, again while it is
    pending, or after it ended); nothing for one already active. The answer never says which."""
    ch, to = parse_address(channel, address)
    settings = office.settings
    if ch is Channel.EMAIL and link(settings, "x") is None:
        raise InvalidInput("email subscriptions need the office's https public address for their link",
                           code="subscribe-channel-unavailable", field="channel")
    lang = language if language in LANGUAGES else "id"
    with office.uow() as uow:
        _charge(uow, settings, ch, to, client_address(client))
        row = _row(uow, ch, to)
        if row is None or row.state != ACTIVE:
            sub_id, code, asked = _pending(uow, row, ch, to, lang)
            _ask(uow, settings, sub_id, ch, to, lang, code, asked)
            uow.audit(actor="public", action="status_subscription_asked", subject=_digest(settings, ch, to),
                      detail={"channel": ch.value})
        _forget_quiet(uow)
        uow.commit()


def _row(uow: UnitOfWork, channel: Channel, address: str) -> Any:
    s = t.status_subscriber.c
    return uow.session.execute(select(t.status_subscriber).where(s.channel == channel.value, s.address == address)
                               ).one_or_none()


def _pending(uow: UnitOfWork, row: Any, channel: Channel, address: str, lang: str) -> tuple[str, str, int]:
    now = uow.now()
    if row is None:
        sub_id, code = str(uuid.uuid4()), new_code()
        uow.session.execute(t.status_subscriber.insert().values(
            id=sub_id, channel=channel.value, address=address, language=lang, state=PENDING, code=code, asked=1,
            created_at=now))
        return sub_id, code, 1
    # Asked again: a new code after it ended (an old stop link must not restart it), the same
    # while pending (the first message's link still works).
    code = row.code if row.state == PENDING else new_code()
    uow.session.execute(update(t.status_subscriber).where(t.status_subscriber.c.id == row.id).values(
        state=PENDING, code=code, language=lang, asked=row.asked + 1, ended_at=None, ended_how=None,
        created_at=now))  # asked again: its week to confirm starts again
    return row.id, code, row.asked + 1


def _ask(uow: UnitOfWork, settings: Settings, sub_id: str, channel: Channel, address: str, lang: str, code: str,
         asked: int) -> None:
    notify.create_many(uow, settings, [notify.Wanted(
        _facts(channel, address, lang), Purpose.STATUS_CONFIRM, scope=f"{sub_id}:{asked}",
        params={"confirm_url": link(settings, code)}, only=(channel.value, address))])


def _facts(channel: Channel, address: str, lang: str) -> notify.AppFacts:
    """The pipeline's view of a subscriber: an address and a language, no application."""
    phone = address if channel.needs_phone else None
    email = address if channel is Channel.EMAIL else None
    return notify.AppFacts(id=None, number="", full_name="", birth_date=date.min, app_type="", stage="",
                           booking_id=None, billing_code=None, paid_at=None, phone=phone, email=email,
                           channel=channel.value, language=lang, appointment_on=None, slot=None)


def _digest(settings: Settings, channel: Channel, address: str) -> str:
    return notify.address_digest(settings, f"{channel.value}:{address}")


def _charge(uow: UnitOfWork, settings: Settings, channel: Channel, address: str, client: str) -> None:
    """Every ask counts (each may send a message): by the address typed, and by the client."""
    now = uow.now()
    tkey = f"{TARGET}:{_digest(settings, channel, address)}"
    ckey = f"{CLIENT}:{hashlib.sha256(client.encode()).hexdigest()[:40]}"
    # Locked in key order (subadr:… < subto:…), the same in every transaction: no deadlock.
    by_client, by_target = _locked_bucket(uow, ckey, CLIENT, None), _locked_bucket(uow, tkey, TARGET, None)
    wait = max(rules.retry_after(by_target, now), rules.retry_after(by_client, now))
    if wait > timedelta(0):
        raise SubscribeThrottled(max(1, int(-(-wait.total_seconds() // 1))))
    _save(uow, tkey, rules.after_failure(by_target, now, TARGET_POLICY))
    _save(uow, ckey, rules.after_failure(by_client, now, CLIENT_POLICY))


def _forget_quiet(uow: UnitOfWork) -> None:
    lt, s = t.login_throttle.c, t.status_subscriber.c
    uow.session.execute(delete(t.login_throttle).where(lt.kind.in_((TARGET, CLIENT)),
                                                       lt.last_failed_at < uow.now() - FORGET))
    uow.session.execute(delete(t.status_subscriber).where(s.state == PENDING,
                                                          s.created_at < uow.now() - PENDING_FORGET))


# -- confirming and ending -------------------------------------------------------------------------

def shown(office: Office, code: str) -> Subscriber | None:
    """What a subscriber's link page shows, or None for a code that is not one of this office's."""
    if not code or len(code) > 12:
        return None
    s = t.status_subscriber.c
    with office.uow(readonly=True) as uow:
        row = uow.session.execute(select(s.state, s.channel, s.address, s.language).where(s.code == code.lower())
                                  ).one_or_none()
    return None if row is None else Subscriber(row.state, row.channel, masked(row.address), row.language)


def confirm(office: Office, code: str) -> Subscriber | None:
    """The link's button: a pending subscription becomes active (an active one stays so; an
    ended one is not restarted by an old link)."""
    with office.uow() as uow:
        s = t.status_subscriber.c
        uow.session.execute(update(t.status_subscriber).where(s.code == code.lower(), s.state == PENDING)
                            .values(state=ACTIVE, confirmed_at=uow.now()))
        uow.commit()
    return shown(office, code)


def stop(office: Office, code: str) -> Subscriber | None:
    """The stop link's button: the subscription ends (nothing else of the address changes)."""
    with office.uow() as uow:
        s = t.status_subscriber.c
        uow.session.execute(update(t.status_subscriber).where(s.code == code.lower(), s.state != ENDED)
                            .values(state=ENDED, ended_at=uow.now(), ended_how="link"))
        uow.commit()
    return shown(office, code)


def confirm_by_reply(uow: UnitOfWork, address: str) -> int:
    """A reply YA on WhatsApp or SMS: that number's pending subscriptions become active."""
    s = t.status_subscriber.c
    return uow.session.execute(update(t.status_subscriber).where(
        s.address == address, s.state == PENDING, s.channel.in_((Channel.WHATSAPP.value, Channel.SMS.value)))
        .values(state=ACTIVE, confirmed_at=uow.now())).rowcount


def end_for_address(uow: UnitOfWork, address: str, *, how: str) -> int:
    """A reply STOP / BERHENTI (the pipeline's opt-out): the address's subscriptions end too."""
    s = t.status_subscriber.c
    return uow.session.execute(update(t.status_subscriber).where(s.address == address, s.state != ENDED)
                               .values(state=ENDED, ended_at=uow.now(), ended_how=how)).rowcount


# -- telling ---------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Notice:
    """What staff published, in both languages."""

    scope: str  # the status update's id: one message per (update, subscriber)
    kind: str  # incident | maintenance
    state: str
    title: dict[str, str]
    body: dict[str, str]


def notice_words(n: Notice, lang: str) -> tuple[str, str]:
    """(title, text) of a notice as a subscriber reads it."""
    title = f"{KIND_WORDS[n.kind][lang]}: {' '.join(n.title[lang].split())}"
    return title[:200], f"{STATE_WORDS[n.state][lang]}: {' '.join(n.body[lang].split())}"[:600]


def tell_subscribers(uow: UnitOfWork, settings: Settings, notice: Notice) -> int:
    """One `status_notice` message to every active subscriber, in their language, written in
    the caller's transaction. Returns how many were written."""
    s = t.status_subscriber.c
    rows = uow.session.execute(select(s.id, s.channel, s.address, s.language, s.code)
                               .where(s.state == ACTIVE).order_by(s.created_at)).all()
    page = status_url(settings)
    wanted = []
    for r in rows:
        title, text = notice_words(notice, r.language)
        wanted.append(notify.Wanted(
            _facts(Channel(r.channel), r.address, r.language), Purpose.STATUS_NOTICE, scope=f"{notice.scope}:{r.id}",
            params={"notice_title": title, "notice_text": text, "status_url": page,
                    "stop_url": link(settings, r.code, stop=True)}, only=(r.channel, r.address)))
    return len(notify.create_many(uow, settings, wanted))


# -- for staff ---------------------------------------------------------------------------------------

def counts(uow: UnitOfWork) -> dict[str, dict[str, int]]:
    """Subscribers by state and channel."""
    s = t.status_subscriber.c
    out: dict[str, dict[str, int]] = {st: {} for st in (ACTIVE, PENDING, ENDED)}
    for state, channel, n in uow.session.execute(select(s.state, s.channel, func.count()).group_by(s.state, s.channel)):
        out.setdefault(state, {})[channel] = n
    return out


def latest(uow: UnitOfWork, limit: int = 20) -> list[dict[str, Any]]:
    """The newest subscribers, addresses masked."""
    s = t.status_subscriber.c
    rows = uow.session.execute(select(s.channel, s.address, s.language, s.state, s.created_at, s.confirmed_at)
                               .order_by(s.created_at.desc()).limit(limit))
    return [{"channel": r.channel, "address": masked(r.address), "language": r.language, "state": r.state,
             "created_at": r.created_at, "confirmed_at": r.confirmed_at} for r in rows]
