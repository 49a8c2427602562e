"""Messages to applicants rendered from versioned templates, per purpose, channel and language.

`render(purpose, channel, language, params)` gives a `Rendered`: for SMS the text (GSM-7 where
the characters allow, at most two segments), for WhatsApp the Cloud API's approved template name,
language and ordered body parameters (and the body as the applicant reads it), for email a
subject, a text part and an HTML part. Each carries its template's id and version, which the
message records.

The parameters (one contract for every purpose; `NEEDS` says which a purpose takes)
----------------------------------------------------------------------------------
============== ======================= ==========================================================
key            type                    what it is
============== ======================= ==========================================================
office_name    str (<= 120)            the office as applicants know it; SMS shortens it
office_phone   str (<= 30)             where an applicant calls or writes
number         str (<= 40)             the application number (DEMO-20261201-0042)
first_name     str (<= 40)             the applicant's first name only; never a NIK, never a full
                                       name (all capitals, as on a KTP, is written Siti)
timezone       str                     the office's IANA zone (Asia/Makassar -> WITA)
day            date                    booking_confirmed: the appointment's day
slot           str "HH:MM"             booking_confirmed: its slot, office time
what_to_bring  list of str, or str     document keys (`ktp`, `kk`, `birth_certificate`,
                                       `marriage_certificate`, `diploma`, `baptism_letter`,
                                       `old_passport`, `name_change_decree`, `billing_receipt`,
                                       `identity_proof`, `damaged_passport`, `police_report`)
                                       or the office's own words
billing_code   str (15 digits)         the kode billing to pay
amount         int (rupiah)            the fee, or what was paid
expires_at     aware datetime          when the billing code lapses
pickup_day     date                    the applicant's own pickup day
pickup_slot    str "HH:MM"             and slot
reason_code    str                     on_hold: payment, identity, documents or verification
                                       (`HOLD_REASON_OF_CLEARANCE`); never the internal reason
confirm_url    https URL or None       optional: confirm a pickup slot or a subscription (WhatsApp:
                                       reply instead)
change_url     https URL or None       optional: ask for another slot (WhatsApp: reply instead)
optout_url     https URL or None       optional: the email footer's unsubscribe link
reply_text     str (<= 600)            ticket_reply: the complaint desk's answer (`number` is then
                                       the ticket's number, ADU-000042); on one line
notice_text    str (<= 600)            announcement: the supervisor's words; status_notice: the
                                       update's words (an SMS shortens them); on one line
notice_title   str (<= 200)            status_notice: "Gangguan: <the incident's title>"
status_url     https URL or None       optional: the status page (status_notice)
stop_url       https URL or None       optional: end a status-page subscription (`/s/<code>/stop`)
one_time_code  str (6 digits)          track_code: the code /track asks for (KANIM_TRACK_CODE)
============== ======================= ==========================================================

The status page's purposes (status_confirm, status_notice) go to subscribers, who need not be
applicants: they take office_name, office_phone and timezone of the common keys, no number and
no first name (`common`).

A missing, empty or ill-typed parameter, or a key that is not in this table, is `InvalidInput`
naming the key: a message is never sent with an empty placeholder.

SMS: the text is transliterated to GSM-7 (`kanim.notify.gsm`) and must fit two segments; the
office's name, the first name and the document list are shortened to bounds with which every
template fits when the two links are short links of at most 32 characters. Beyond that the render
raises `MessageTooLong` and the worker falls back to the next channel. WhatsApp carries no link at
all (a reply confirms or asks for another slot: `REPLY_WORDS`), and no message ever asks for a
payment by link: each says the office never does (the directorate's warning about WhatsApp scams).

The files, their versions and the `--bump` procedure: `kanim.notify.templates`.
"""

from __future__ import annotations

import argparse
import re
import sys
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime, time
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from babel.dates import format_date, format_time
from babel.numbers import format_decimal

from kanim.domain.billing import LENGTH as BILLING_CODE_LENGTH
from kanim.domain.clearances import ClearanceKind
from kanim.domain.contact import Channel
from kanim.domain.errors import InvalidInput
from kanim.domain.zones import zone_abbreviation
from kanim.notify import gsm
from kanim.notify import templates as versions  # `templates()` below is the console's list
from kanim.notify.purposes import Purpose
from kanim.notify.templates import (LANGUAGES, PLACEHOLDER, environment, every_template, own_files, sources,
                                    template_id, version_of, whatsapp_body, whatsapp_name, words)

BABEL_LOCALES = {"id": "id_ID", "en": "en_GB"}  # the console's (a test keeps them the same)
WHATSAPP_LANGUAGES = {"id": "id", "en": "en"}  # the Cloud API's language codes
SMS_MAX_SEGMENTS = 2
# What an SMS gives its longest inputs, so that two segments hold every message.
SMS_OFFICE_NAME_MAX, SMS_FIRST_NAME_MAX, SMS_LIST_MAX = 40, 15, 70
REPLY_TEXT_MAX = 600  # a ticket reply: WhatsApp takes it as one template parameter
SMS_LINK_BUDGET = 32  # characters a confirm or change link may have for every SMS to fit (a short link)
OFFICE_ABBREVIATIONS = (("Kantor Imigrasi", "Kanim"), ("Tempat Pemeriksaan Imigrasi", "TPI"))
# The words a WhatsApp reply is read by (the inbound side matches these, case-insensitively).
REPLY_WORDS = {"id": {"confirm": "YA", "change": "GANTI"}, "en": {"confirm": "YES", "change": "CHANGE"}}
# A flagged clearance as the applicant may read it. A watch-list or duplicate flag is only "a
# further check": telling someone they are under a prevention order (cekal) tips them off.
HOLD_REASON_OF_CLEARANCE = {
    ClearanceKind.NIK_VERIFIED: "identity", ClearanceKind.WATCHLIST_CLEAR: "verification",
    ClearanceKind.NOT_DUPLICATE: "verification", ClearanceKind.PAYMENT_CONFIRMED: "payment",
    ClearanceKind.RECORDED_CENTRALLY: "verification",
}


class MessageTooLong(InvalidInput):
    """The SMS would need more than two segments (a Telegram message more than its 4,096
    characters): the worker falls back to the next channel."""

    code = "sms-too-long"


@dataclass(frozen=True)
class Rendered:
    purpose: Purpose
    channel: Channel
    language: str
    template: str  # a stable id, e.g. "ready/sms/id"
    version: int  # recorded with every message
    subject: str | None  # email only
    text: str  # SMS body, email text part, or the WhatsApp body as the applicant reads it
    html: str | None  # email only (autoescaped)
    whatsapp_template: str | None  # the approved template's name, e.g. "kanim_ready_v2"
    whatsapp_language: str | None  # the Cloud API's language code
    whatsapp_params: tuple[str, ...]  # body parameters {{1}}, {{2}}... in order
    segments: int  # SMS segments; 1 for the other channels


@dataclass(frozen=True)
class TemplateInfo:
    purpose: Purpose
    channel: Channel
    language: str
    template: str
    version: int
    whatsapp_template: str | None
    files: tuple[str, ...]  # its sources, relative to kanim/notify/templates


# -- the parameters -----------------------------------------------------------------------------

COMMON = ("office_name", "office_phone", "number", "first_name", "timezone")
PUBLIC_COMMON = ("office_name", "office_phone", "timezone")  # to a subscriber: no name, no number
OPTIONAL = ("confirm_url", "change_url", "optout_url", "status_url", "stop_url")
LINKS = ("confirm_url", "change_url", "optout_url", "status_url", "stop_url")  # what an SMS may go without
NOTICE_TEXT_MAX, NOTICE_TITLE_MAX = 600, 200
SMS_NOTICE_TITLE_MAX, SMS_NOTICE_TEXT_MAX = 50, 80  # a status notice's SMS shortens the words to fit
_PICKUP = ("pickup_day", "pickup_slot")
NEEDS: dict[Purpose, tuple[str, ...]] = {
    Purpose.BOOKING_CONFIRMED: ("day", "slot", "what_to_bring"),
    Purpose.BILLING_ISSUED: ("billing_code", "amount", "expires_at"),
    Purpose.BILLING_REMINDER: ("billing_code", "amount", "expires_at"),
    Purpose.PAYMENT_RECEIVED: ("amount",),
    Purpose.PRINTED_WAITING: (),
    Purpose.READY: _PICKUP,
    Purpose.PICKUP_REMINDER: _PICKUP,
    Purpose.ON_HOLD: ("reason_code",),
    Purpose.RESCHEDULED: _PICKUP,
    Purpose.NO_SHOW: _PICKUP,
    Purpose.TICKET_REPLY: ("reply_text",),
    Purpose.ANNOUNCEMENT: ("notice_text",),
    Purpose.STATUS_CONFIRM: (),
    Purpose.STATUS_NOTICE: ("notice_title", "notice_text"),
    Purpose.TRACK_CODE: ("one_time_code",),
}


def common(purpose: Purpose) -> tuple[str, ...]:
    return COMMON if Purpose(purpose).about_an_application else PUBLIC_COMMON
Check = Callable[[str, object], object]
_NIK_LIKE = re.compile(r"(?:\d[ .-]?){15}\d")
_SLOT = re.compile(r"^([01]\d|2[0-3]):[0-5]\d$")


def _invalid(key: str, wanted: str) -> InvalidInput:
    return InvalidInput(f"template parameter {key!r} must be {wanted}", code="template-param-invalid", key=key)


def _text(limit: int) -> Check:
    def check(key: str, value: object) -> str:
        if not isinstance(value, str) or not value.strip():
            raise _invalid(key, "a non-empty text")
        text = " ".join(value.split())
        if len(text) > limit:
            raise _invalid(key, f"at most {limit} characters")
        if _NIK_LIKE.search(text):  # a NIK pasted into a name or a number by mistake
            raise _invalid(key, "free of a 16-digit number (a message never shows a NIK)")
        return text
    return check


def _day(key: str, value: object) -> date:
    if not isinstance(value, date) or isinstance(value, datetime):
        raise _invalid(key, "a date (not a datetime: the office's day, not an instant)")
    return value


def _slot(key: str, value: object) -> str:
    if not isinstance(value, str) or not _SLOT.match(value):
        raise _invalid(key, 'a time of day written "HH:MM"')
    return value


def _instant(key: str, value: object) -> datetime:
    if not isinstance(value, datetime) or value.utcoffset() is None:
        raise _invalid(key, "a datetime with a time zone")
    return value


def _amount(key: str, value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise _invalid(key, "a whole number of rupiah")
    return value


def _billing_code(key: str, value: object) -> str:
    if not isinstance(value, str) or not (value.isascii() and value.isdigit() and len(value) == BILLING_CODE_LENGTH):
        raise _invalid(key, f"{BILLING_CODE_LENGTH} digits")
    return value


def _zone(key: str, value: object) -> str:
    try:
        ZoneInfo(str(value))
    except (ZoneInfoNotFoundError, ValueError):
        raise _invalid(key, "an IANA time zone name such as Asia/Makassar") from None
    return str(value)


def _documents(key: str, value: object) -> tuple[str, ...]:
    items = (value,) if isinstance(value, str) else value
    if not isinstance(items, list | tuple) or not items:
        raise _invalid(key, "a non-empty list of document keys or texts")
    return tuple(_text(80)(key, item) for item in items)


def _reason(key: str, value: object) -> str:
    if value not in words("id")["reasons"]:
        raise _invalid(key, f"one of {sorted(words('id')['reasons'])}")
    return str(value)


def _one_time_code(key: str, value: object) -> str:
    if not isinstance(value, str) or not (value.isascii() and value.isdigit() and len(value) == 6):
        raise _invalid(key, "6 digits")
    return value


def _url(key: str, value: object) -> str:
    if not isinstance(value, str) or not value.startswith("https://") or len(value.split()) != 1 or len(value) > 120:
        raise _invalid(key, "an https:// link of at most 120 characters")
    return value


CHECKS: dict[str, Check] = {
    "office_name": _text(120), "office_phone": _text(30), "number": _text(40), "first_name": _text(40),
    "timezone": _zone, "day": _day, "slot": _slot, "what_to_bring": _documents, "billing_code": _billing_code,
    "amount": _amount, "expires_at": _instant, "pickup_day": _day, "pickup_slot": _slot, "reason_code": _reason,
    "confirm_url": _url, "change_url": _url, "optout_url": _url, "reply_text": _text(REPLY_TEXT_MAX),
    "notice_text": _text(NOTICE_TEXT_MAX), "notice_title": _text(NOTICE_TITLE_MAX), "status_url": _url,
    "stop_url": _url, "one_time_code": lambda key, value: _one_time_code(key, value),
}


def check_params(purpose: Purpose, params: Mapping[str, object]) -> dict[str, object]:
    """The parameters `purpose` takes, checked; an optional link absent is None. A key
    the contract knows but the purpose does not take is ignored (a caller may pass a superset)."""
    unknown = sorted(set(params) - set(CHECKS))
    if unknown:
        raise InvalidInput(f"unknown template parameter {unknown[0]!r}", code="template-param-unknown",
                           key=unknown[0])
    values = {}
    for key in common(purpose) + NEEDS[purpose]:
        if params.get(key) is None:
            raise InvalidInput(f"template parameter {key!r} is missing ({purpose.value} needs it)",
                               code="template-param-missing", key=key)
        values[key] = CHECKS[key](key, params[key])
    # Optional links are None when absent: StrictUndefined then still catches a misspelt name.
    values.update({key: None if params.get(key) is None else CHECKS[key](key, params[key]) for key in OPTIONAL})
    return values


# -- local formats (the console's: kanim.web.console.render, which the notify layer must not import) --

def money(amount: int, lang: str) -> str:
    """Rp650.000 (id), Rp650,000 (en)."""
    return "Rp" + format_decimal(amount, format="#,##0", locale=BABEL_LOCALES[lang])


def long_date(d: date, lang: str) -> str:
    """1 Desember 2026."""
    return format_date(d, "d MMMM y", locale=BABEL_LOCALES[lang])


def day_text(d: date, lang: str) -> str:
    """Selasa, 1 Desember 2026: the weekday too, because people plan a visit by it."""
    return format_date(d, "EEEE, d MMMM y", locale=BABEL_LOCALES[lang])


def clock_time(at: datetime, lang: str, tz: str) -> str:
    """08:30 WITA: the office's local time and its zone's name."""
    local = at.astimezone(ZoneInfo(tz))
    return f"{format_time(local, 'HH:mm', locale=BABEL_LOCALES[lang])} {zone_abbreviation(tz, local.utcoffset())}"


def slot_time(d: date, slot: str, lang: str, tz: str) -> str:
    """A slot on its day, with the zone that day has (08:30 WITA)."""
    return clock_time(datetime.combine(d, time.fromisoformat(slot), ZoneInfo(tz)), lang, tz)


def date_time(at: datetime, lang: str, tz: str) -> str:
    """1 Desember 2026, 10:30 WITA, on the office's clock."""
    return f"{long_date(at.astimezone(ZoneInfo(tz)).date(), lang)}, {clock_time(at, lang, tz)}"


def shorten(text: str, limit: int) -> str:
    """`text` cut at a word to at most `limit` characters, "..." marking the cut."""
    if len(text) <= limit:
        return text
    cut = text[:limit - 3]
    if " " in cut[limit // 2:]:
        cut = cut[:cut.rindex(" ")]
    return cut.rstrip(" ,.-") + "..."


def short_office_name(name: str, limit: int = SMS_OFFICE_NAME_MAX) -> str:
    """The office's name for an SMS: Kantor Imigrasi written Kanim (as everyone says it) when the
    full name is too long, then cut at a word."""
    for long, short in OFFICE_ABBREVIATIONS:
        if len(name) > limit:
            name = name.replace(long, short)
    return shorten(name, limit)


def display_name(first_name: str) -> str:
    """A name in capitals, as a KTP writes it, reads as shouting: SITI is written Siti."""
    if not first_name.isupper():
        return first_name
    return " ".join(word[:1] + word[1:].lower() for word in first_name.split(" "))


def bounded_list(items: Iterable[str], limit: int, more: str) -> list[str]:
    """The first items that fit `limit` characters joined by ", ", then `more` ("dll.")."""
    items, kept = list(items), []
    for item in items:
        if len(", ".join([*kept, item])) > limit:
            return [*kept, more] if kept else [shorten(item, limit)]
        kept.append(item)
    return kept


# -- the context a template sees ----------------------------------------------------------------

def _document_words(items: tuple[str, ...], lang: str) -> list[str]:
    """Keys (lowercase letters and _) become the language's words; other items are the office's own."""
    known = words(lang)["documents"]
    for item in items:
        if re.fullmatch(r"[a-z_]+", item) and item not in known:
            raise _invalid("what_to_bring", f"document keys among {sorted(known)} or texts (not {item!r})")
    return [known.get(item, item) for item in items]


def context(purpose: Purpose, channel: Channel, lang: str, values: Mapping[str, object]) -> dict[str, object]:
    """Every value as the applicant reads it, in `lang`, bounded for an SMS."""
    ctx = dict(values) | _formatted(values, lang, weekday=channel is not Channel.SMS)
    return _bounded_for_sms(purpose, ctx, lang) if channel is Channel.SMS else ctx


def _formatted(values: Mapping[str, object], lang: str, *, weekday: bool) -> dict[str, object]:
    tz, day = str(values["timezone"]), day_text if weekday else long_date  # an SMS has no room for the weekday
    ctx: dict[str, object] = {"lang": lang}
    if "first_name" in values:
        ctx["first_name"] = display_name(str(values["first_name"]))
    for d, slot in (("day", "slot"), ("pickup_day", "pickup_slot")):
        if d in values:
            ctx[d], ctx[slot] = day(values[d], lang), slot_time(values[d], values[slot], lang, tz)
    if "amount" in values:
        ctx["amount"] = money(values["amount"], lang)
    if "expires_at" in values:
        ctx["expires_at"] = date_time(values["expires_at"], lang, tz)
    if "what_to_bring" in values:
        ctx["what_to_bring"] = _document_words(values["what_to_bring"], lang)
    if "reason_code" in values:
        ctx["reason"] = words(lang)["reasons"][values["reason_code"]]
    return ctx


def _bounded_for_sms(purpose: Purpose, ctx: dict[str, object], lang: str) -> dict[str, object]:
    ctx["office_name"] = short_office_name(str(ctx["office_name"]))
    if "first_name" in ctx:
        ctx["first_name"] = shorten(str(ctx["first_name"]), SMS_FIRST_NAME_MAX)
    if purpose is Purpose.STATUS_NOTICE:  # the status page has the whole text; the SMS points to it
        ctx["notice_title"] = shorten(str(ctx["notice_title"]), SMS_NOTICE_TITLE_MAX)
        ctx["notice_text"] = shorten(str(ctx["notice_text"]), SMS_NOTICE_TEXT_MAX)
    if "what_to_bring" in ctx:
        ctx["what_to_bring"] = bounded_list(ctx["what_to_bring"], SMS_LIST_MAX, str(words(lang)["more"]))
    return ctx


def templates() -> list[TemplateInfo]:
    """Every template with its current version, for the console's list."""
    infos = []
    for purpose, channel, lang in every_template():
        version = version_of(purpose, channel, lang)
        name = whatsapp_name(purpose, version) if channel is Channel.WHATSAPP else None
        infos.append(TemplateInfo(purpose, channel, lang, template_id(purpose, channel, lang), version, name,
                                  sources(purpose, channel, lang)))
    return infos


# -- rendering ----------------------------------------------------------------------------------

def whatsapp_param(value: object) -> str:
    """The Cloud API refuses a parameter with a newline, a tab or more than four spaces in a row."""
    text = ", ".join(value) if isinstance(value, list | tuple) else str(value)
    return " ".join(text.split())


def _whatsapp(purpose: Purpose, lang: str, ctx: Mapping[str, object], version: int) -> dict[str, object]:
    approved = whatsapp_body(purpose, lang)
    params = tuple(whatsapp_param(ctx[name]) for name in approved.params)
    text = PLACEHOLDER.sub(lambda m: params[int(m[1]) - 1], approved.body)
    return dict(text=text, whatsapp_template=whatsapp_name(purpose, version),
                whatsapp_language=WHATSAPP_LANGUAGES[lang], whatsapp_params=params)


def _sms(purpose: Purpose, lang: str, ctx: Mapping[str, object], tid: str) -> dict[str, object]:
    raw = environment().get_template(own_files(purpose, Channel.SMS, lang)[0]).render(ctx)
    text = gsm.transliterate(" ".join(raw.split()))
    parts = gsm.segments(text)
    if parts > SMS_MAX_SEGMENTS:
        raise MessageTooLong(f"{tid} renders to {parts} SMS segments (at most {SMS_MAX_SEGMENTS})",
                             segments=parts, template=tid)
    return dict(text=text, segments=parts)


def _email(purpose: Purpose, lang: str, ctx: Mapping[str, object]) -> dict[str, object]:
    html = environment().get_template(own_files(purpose, Channel.EMAIL, lang)[1]).render(ctx)
    return _email_text(purpose, lang, ctx) | dict(html=html)


def _email_text(purpose: Purpose, lang: str, ctx: Mapping[str, object]) -> dict[str, object]:
    text_file = own_files(purpose, Channel.EMAIL, lang)[0]
    first, _, body = environment().get_template(text_file).render(ctx).partition("\n")
    if not first.startswith("Subject: "):
        raise ValueError(f"{text_file} must begin with a 'Subject: ' line")
    body = re.sub(r"\n{3,}", "\n\n", "\n".join(line.rstrip() for line in body.splitlines())).strip()
    return dict(subject=" ".join(first.removeprefix("Subject: ").split()), text=body)


TELEGRAM_MAX_CHARS = 4096  # the Bot API's limit for one message's text


def _telegram(purpose: Purpose, lang: str, ctx: Mapping[str, object], tid: str) -> dict[str, object]:
    # The email's text part, without its unsubscribe link (a chat stops by STOP or /stop), and
    # `chat` set where the email's words name the email ("reply to this email").
    email = _email_text(purpose, lang, {**ctx, "optout_url": None, "chat": True})
    text = f"{email['subject']}\n\n{email['text']}"
    if len(text) > TELEGRAM_MAX_CHARS:
        raise MessageTooLong(f"{tid} renders to {len(text)} characters (Telegram takes {TELEGRAM_MAX_CHARS})",
                             code="telegram-too-long", template=tid)
    return dict(text=text)


def _language(language: str) -> str:
    if language not in LANGUAGES:
        raise InvalidInput(f"no templates in language {language!r} (only {', '.join(LANGUAGES)})",
                           code="template-language", key="language")
    return language


def render(purpose: Purpose | str, channel: Channel | str, language: str, params: Mapping[str, object]) -> Rendered:
    """The message for `purpose` on `channel` in `language`, from the current template version."""
    purpose, channel, lang = Purpose(purpose), Channel(channel), _language(language)
    ctx = context(purpose, channel, lang, check_params(purpose, params))
    tid, version = template_id(purpose, channel, lang), version_of(purpose, channel, lang)
    fields: dict[str, object] = dict(subject=None, html=None, whatsapp_template=None, whatsapp_language=None,
                                     whatsapp_params=(), segments=1)
    if channel is Channel.SMS:
        fields.update(_sms(purpose, lang, ctx, tid))
    elif channel is Channel.WHATSAPP:
        fields.update(_whatsapp(purpose, lang, ctx, version))
    elif channel is Channel.TELEGRAM:
        fields.update(_telegram(purpose, lang, ctx, tid))
    else:
        fields.update(_email(purpose, lang, ctx))
    return Rendered(purpose=purpose, channel=channel, language=lang, template=tid, version=version, **fields)


# -- sample data, for the console's preview and the tests ---------------------------------------

SAMPLE = {
    "office_name": "Kantor Imigrasi Kelas I TPI Manado", "office_phone": "(0431) 555 0123",
    "number": "MDO-20261201-0042", "timezone": "Asia/Makassar",
    "day": date(2026, 12, 1), "slot": "08:30", "what_to_bring": ("ktp", "kk", "birth_certificate", "old_passport"),
    "billing_code": "820261201004211", "amount": 650_000,
    "expires_at": datetime.fromisoformat("2026-12-01T10:30+08:00"),
    "pickup_day": date(2026, 12, 4), "pickup_slot": "10:00", "reason_code": "verification",
    "confirm_url": "https://kanim.example/k/7Qm2xZ", "change_url": "https://kanim.example/g/7Qm2xZ",
    "optout_url": "https://kanim.example/o/7Qm2xZ",
    "status_url": "https://kanim.example/status", "stop_url": "https://kanim.example/s/7qm2xzab/stop",
    "one_time_code": "482913",
}
SAMPLE_FIRST_NAMES = {"id": "Siti", "en": "Daniel"}
SAMPLE_REPLIES = {"id": "Paspor Anda sudah dicetak dan menunggu konfirmasi sistem nasional.",
                  "en": "Your passport is printed and waits for the national system's confirmation."}
SAMPLE_NOTICES = {
    "id": {"notice_title": "Gangguan: Sistem nasional tidak dapat dihubungi",
           "notice_text": "Diselidiki: paspor yang dicetak menunggu konfirmasi; pengambilan tetap buka.",
           "announcement": "Sistem nasional sudah pulih; jadwal pengambilan paspor Anda kami kirim segera."},
    "en": {"notice_title": "Incident: The national system cannot be reached",
           "notice_text": "Investigating: printed passports wait for confirmation; pickup stays open.",
           "announcement": "The national system is back; your pickup slot follows shortly."},
}


def sample_params(purpose: Purpose | str, language: str) -> dict[str, object]:
    """Realistic parameters for `purpose`: an office in Manado (WITA), a 10-year passport's fee."""
    purpose = Purpose(purpose)
    keys = common(purpose) + NEEDS[purpose] + OPTIONAL
    lang = _language(language)
    words = {"reply_text": SAMPLE_REPLIES[lang]} if "reply_text" in keys else {}
    notices = SAMPLE_NOTICES[lang]
    if "notice_title" in keys:
        words |= {"notice_title": notices["notice_title"], "notice_text": notices["notice_text"]}
    elif "notice_text" in keys:
        words |= {"notice_text": notices["announcement"]}
    names = {"first_name": SAMPLE_FIRST_NAMES[lang]} if "first_name" in keys else {}
    return {key: SAMPLE[key] for key in keys if key in SAMPLE} | names | words


def preview(purpose: Purpose | str, channel: Channel | str, language: str) -> Rendered:
    """What staff see when they open a template in the console."""
    return render(purpose, channel, language, sample_params(purpose, language))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m kanim.notify.render", description="Check, bump or preview the applicant message templates.",
        epilog="examples: python -m kanim.notify.render --check; python -m kanim.notify.render --bump; "
               "python -m kanim.notify.render --preview ready sms id")
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--check", action="store_true", help="list templates changed without a version bump (default)")
    group.add_argument("--bump", nargs="*", metavar="ID",
                       help="bump every changed template, and each ID given (e.g. ready/sms/id) even if unchanged")
    group.add_argument("--preview", nargs=3, metavar=("PURPOSE", "CHANNEL", "LANG"), help="render with sample data")
    args = parser.parse_args(argv)
    if args.preview:
        print(_preview_text(preview(*args.preview)))
        return 0
    if args.bump is not None:
        changed = versions.bump(args.bump)
        for line in changed:
            print(line)
        if any("/whatsapp/" in line for line in changed):
            print("submit the new WhatsApp template names to Meta for approval before deploying them")
        return 0
    changed = versions.stale()
    for tid in changed:
        print(f"{tid} changed without a version bump: run python -m kanim.notify.render --bump")
    return 1 if changed else 0


def _preview_text(message: Rendered) -> str:
    head = [f"{message.template} v{message.version}"]
    if message.subject:
        head.append(f"Subject: {message.subject}")
    if message.whatsapp_template:
        head.append(f"{message.whatsapp_template} ({message.whatsapp_language}) {list(message.whatsapp_params)}")
    if message.channel is Channel.SMS:
        head.append(f"{message.segments} segment(s), {gsm.count(message.text).encoding}")
    return "\n".join(head) + "\n\n" + message.text


if __name__ == "__main__":
    sys.exit(main())
