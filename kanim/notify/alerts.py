"""What the office's own staff are told: a channel whose provider refused the office's setup, a
channel not reached for minutes, and that it came back.

Applicants' messages fall back and wait by themselves; what they cannot do is fix a revoked
WhatsApp token or a dead gateway. For that kanim writes an alert to the office's own Apprise URL
(`notify_office_url`: a Telegram group of the office's staff is the usual one,
`tgram://BOT_TOKEN/CHAT_ID`; a staff mailbox works as well). An alert is a row written in the
transaction that noticed the problem, sent by the notification worker with retries like any
message, and listed on the console's notifications page whether or not it could be sent: an
office without the URL still sees its alerts there.

An alert names a channel and a reason code, never an applicant, an address or a message text.
One alert per (kind, channel) within `REPEAT_AFTER`: a channel that keeps failing is one alert,
not one per message.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from sqlalchemy import or_, select, update

from kanim.notify.purposes import State
from kanim.store import tables as t
from kanim.store.uow import UnitOfWork

REPEAT_AFTER = timedelta(hours=6)
UNREACHABLE_ALERT_AFTER = timedelta(minutes=2)  # a blip of a few seconds is not worth waking anyone
GIVE_UP_AFTER = timedelta(hours=24)  # an alert still unsent a day later is stale news
RETRY_AFTER = timedelta(minutes=1)
CHANNEL_NAMES = {"whatsapp": "WhatsApp", "sms": "SMS", "email": "Email"}


class Kind(StrEnum):
    CHANNEL_REFUSED = "channel_refused"  # a final technical failure: token, template, sender, setup
    CHANNEL_UNREACHABLE = "channel_unreachable"  # not reached at all for UNREACHABLE_ALERT_AFTER
    CHANNEL_BACK = "channel_back"  # reached again after an unreachable alert
    TEMPLATE_FAILED = "template_failed"  # a message could not be rendered (too long, a setting missing)
    TEST = "test"  # `kanim notify test-office`
    SOCIAL_POST = "social_post"  # an incident or announcement to the office's social channels (subject social:<n>)
    BACKUP_WARNING = "backup_warning"  # a stale backup, a failed drill, a target not reached (kanim/backup/watch.py)


# Each alert in both languages: an office's staff group reads Indonesian, its IT contractor
# often English, and a short alert costs nothing to give twice.
_TEXTS: dict[Kind, tuple[str, str, str]] = {
    Kind.CHANNEL_REFUSED: (
        "{channel}: refused by the provider ({reason})",
        "Pesan {channel} ditolak penyedia karena pengaturan kantor ({reason}). Pesan pemohon dialihkan ke "
        "saluran berikutnya. Periksa token, templat, atau nomor pengirim.",
        "{channel} messages are refused by the provider because of the office's setup ({reason}). Applicants' "
        "messages fall back to their next channel. Check the token, the templates or the sender number."),
    Kind.CHANNEL_UNREACHABLE: (
        "{channel}: not reachable since {since}",
        "{channel} tidak dapat dihubungi sejak {since} ({reason}). Pesan menunggu berurutan dan dikirim "
        "begitu saluran kembali; tidak ada yang hilang.",
        "{channel} cannot be reached since {since} ({reason}). Messages wait in order and go out as soon as "
        "the channel answers; nothing is lost."),
    Kind.CHANNEL_BACK: (
        "{channel}: reachable again",
        "{channel} dapat dihubungi lagi. Pesan yang menunggu sedang dikirim.",
        "{channel} answers again. The waiting messages are going out."),
    Kind.TEMPLATE_FAILED: (
        "{channel}: a message could not be written ({reason})",
        "Sebuah pesan {channel} tidak dapat disusun dari templatnya ({reason}); pesan itu dialihkan ke saluran "
        "berikutnya. Periksa templat dan pengaturan kantor (nama, telepon, alamat publik).",
        "A {channel} message could not be written from its template ({reason}); it falls back to the next "
        "channel. Check the templates and the office's settings (name, phone, public address)."),
    Kind.BACKUP_WARNING: (
        "backup: {reason}",
        "Cadangan data kantor perlu diperiksa: {channel}: {reason}. Jalankan `kanim backup status` dan ikuti "
        "docs/recovery-runbook.md; tanpa cadangan yang baru, data yang hilang tidak dapat dipulihkan.",
        "The office's backups need a look: {channel}: {reason}. Run `kanim backup status` and follow "
        "docs/recovery-runbook.md; without a recent backup, lost data cannot be brought back."),
    Kind.TEST: (
        "Test alert",
        "Uji peringatan kanim untuk {office_name}: saluran peringatan kantor berfungsi.",
        "kanim test alert for {office_name}: the office's alert channel works."),
}


@dataclass(frozen=True)
class Alert:
    title: str
    body: str


def text(kind: Kind | str, params: Mapping[str, Any], office_name: str) -> Alert:
    """The alert as staff read it (pure: what `params` hold, nothing looked up)."""
    if Kind(kind) is Kind.SOCIAL_POST:  # the office's public words, written by staff
        return Alert(title=str(params.get("title", "")), body=str(params.get("body", "")))
    title, indonesian, english = _TEXTS[Kind(kind)]
    values = {"office_name": office_name, "reason": "", "since": "", **params}
    values["channel"] = CHANNEL_NAMES.get(str(values.get("channel", "")), str(values.get("channel", "")))
    return Alert(title=f"kanim {office_name}: " + title.format(**values),
                 body=indonesian.format(**values) + "\n\n" + english.format(**values))


def raise_alert(uow: UnitOfWork, kind: Kind, subject: str, params: Mapping[str, Any]) -> str | None:
    """Write the alert, unless one of this kind for this subject was written within REPEAT_AFTER.
    Returns its id, or None when it repeats one."""
    now = uow.now()
    a = t.notify_alert.c
    recent = uow.session.scalar(select(a.id).where(a.kind == kind.value, a.subject == subject,
                                                   a.created_at > now - REPEAT_AFTER).limit(1))
    if recent is not None:
        return None
    alert_id = str(uuid.uuid4())
    uow.session.execute(t.notify_alert.insert().values(
        id=alert_id, kind=kind.value, subject=subject, params=dict(params), state=State.CREATED.value, attempts=0,
        created_at=now, updated_at=now))
    return alert_id


SOCIAL_MAX = 480  # characters of a post: Mastodon takes 500; longer posts are cut at a word


def post_social(uow: UnitOfWork, urls: list[str], *, title: str, body: str, source: str) -> list[str]:
    """A post to each of the office's social channels (`status_social_urls`), one row each, sent
    by the worker like an alert (retried a day); `source` names what it tells (an incident's id,
    an announcement's). Public words only: never an applicant."""
    now = uow.now()
    text = body if len(body) <= SOCIAL_MAX else body[:SOCIAL_MAX - 3].rsplit(" ", 1)[0] + "..."
    made = []
    for n, _ in enumerate(urls):
        alert_id = str(uuid.uuid4())
        uow.session.execute(t.notify_alert.insert().values(
            id=alert_id, kind=Kind.SOCIAL_POST.value, subject=f"social:{n}",
            params={"title": title[:200], "body": text, "source": source}, state=State.CREATED.value, attempts=0,
            created_at=now, updated_at=now))
        made.append(alert_id)
    return made


def social_posts(uow: UnitOfWork, limit: int = 10) -> list[Any]:
    """The newest posts to the social channels, for the status desk."""
    a = t.notify_alert.c
    return list(uow.session.execute(select(a.subject, a.params, a.state, a.reason, a.attempts, a.created_at, a.sent_at)
                                    .where(a.kind == Kind.SOCIAL_POST.value).order_by(a.seq.desc()).limit(limit)))


def raise_back(uow: UnitOfWork, subject: str) -> str | None:
    """'Reachable again', only after an unreachable alert that no 'back' has answered yet."""
    a = t.notify_alert.c
    last = uow.session.execute(select(a.kind).where(
        a.subject == subject, a.kind.in_((Kind.CHANNEL_UNREACHABLE.value, Kind.CHANNEL_BACK.value)))
        .order_by(a.seq.desc()).limit(1)).scalar()
    if last != Kind.CHANNEL_UNREACHABLE.value:
        return None
    alert_id = str(uuid.uuid4())
    now = uow.now()
    uow.session.execute(t.notify_alert.insert().values(
        id=alert_id, kind=Kind.CHANNEL_BACK.value, subject=subject, params={"channel": subject},
        state=State.CREATED.value, attempts=0, created_at=now, updated_at=now))
    return alert_id


def due_stmt(now: datetime):  # noqa: ANN201 - a Select
    a = t.notify_alert.c
    return (select(a.id, a.kind, a.subject, a.params, a.attempts, a.created_at)
            .where(a.state.in_((State.CREATED.value, State.TEMPORARY_FAILURE.value)),
                   or_(a.next_attempt_at.is_(None), a.next_attempt_at <= now))
            .order_by(a.seq))


def record(uow: UnitOfWork, alert_id: str, *, attempts: int, created_at: datetime, outcome: str,
           reason: str) -> None:
    """The send's outcome: sent; retried a minute later; or final (refused, not configured, stale)."""
    now = uow.now()
    values: dict[str, Any] = {"attempts": attempts + 1, "reason": reason[:120], "updated_at": now}
    if outcome == "accepted":
        values |= {"state": State.SENT.value, "sent_at": now, "reason": None}
    elif outcome == "temporary" and now - created_at < GIVE_UP_AFTER:
        values |= {"state": State.TEMPORARY_FAILURE.value, "next_attempt_at": now + RETRY_AFTER}
    else:
        final = reason if outcome != "temporary" else f"stale:{reason}"
        values |= {"state": State.TECHNICAL_FAILURE.value, "reason": final[:120]}
    uow.session.execute(update(t.notify_alert).where(t.notify_alert.c.id == alert_id).values(**values))


def recent(uow: UnitOfWork, limit: int = 10) -> list[Any]:
    """The newest alerts, for the console and `kanim notify status`."""
    a = t.notify_alert.c
    return list(uow.session.execute(select(a.kind, a.subject, a.params, a.state, a.reason, a.created_at, a.sent_at)
                                    .where(a.kind != Kind.SOCIAL_POST.value).order_by(a.seq.desc()).limit(limit)))
