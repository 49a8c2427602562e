"""Announcements: a supervisor's one message to a set of applicants (docs/public.md).

The set is every application in a stage (`qc_passed`: printed, waiting for the national
confirmation), every application with a pickup slot on a day, or both, optionally only those
not yet collected. The message is written once in Indonesian and once in English; each
applicant gets it in their own language as a message of the notifications pipeline
(`Purpose.ANNOUNCEMENT`), so the worker sends it within the channels' rates, daily caps, the
per-recipient hourly cap and quiet hours, with retries and fallback. A message is one per
contact: its key is (purpose, announcement, address), so a family booked with one phone number
is told once.

`preview` counts without writing anything (the console's preview, `kanim notify announce`
without `--yes`); `send` writes the announcement and its messages in one transaction, audited.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from sqlalchemy import and_, exists, select

from kanim.bootstrap import Office
from kanim.domain.application import Stage
from kanim.domain.contact import Channel
from kanim.domain.errors import InvalidInput
from kanim.notify.purposes import Purpose
from kanim.office import notify
from kanim.store import tables as t
from kanim.store.uow import UnitOfWork

TEXT_MAX = 300  # one notice, not a letter: it must fit two SMS segments beside the greeting
LONGEST_NAME, LONGEST_NUMBER = "Muhammadiyahsah", "ABCDEFGH-20261230-0042"  # the SMS check's worst case


@dataclass(frozen=True)
class Selection:
    """Which applications an announcement goes to (every condition given must hold)."""

    stage: Stage | None = None
    pickup_on: date | None = None
    not_collected: bool = False

    def checked(self) -> Selection:
        if self.stage is None and self.pickup_on is None:
            raise InvalidInput("choose a stage, a pickup day, or both", code="announce-set-empty", field="stage")
        return self

    def as_dict(self) -> dict[str, Any]:
        return {"stage": self.stage.value if self.stage else None,
                "pickup_on": self.pickup_on.isoformat() if self.pickup_on else None,
                "not_collected": self.not_collected}


@dataclass(frozen=True)
class Preview:
    applications: int  # in the set
    recipients: int  # messages that would be written: one per contact
    no_channel: int  # applications whose applicant left no phone or email
    opted_out: int  # contacts that asked for no more messages (their messages are written cancelled)
    by_channel: dict[str, int] = field(default_factory=dict)  # recipients by their first channel
    rule_off: bool = False  # the announcement rule is switched off: nothing would be written


@dataclass(frozen=True)
class Sent:
    id: str
    preview: Preview
    written: int


def check_texts(office: Office, text_id: str, text_en: str) -> tuple[str, str]:
    """Both languages, on one line, at most TEXT_MAX characters, and each fits an SMS with the
    longest name and number: refused here, at the desk, rather than failing at the send."""
    from kanim.notify.render import MessageTooLong, render

    texts = []
    for lang, raw in (("id", text_id), ("en", text_en)):
        words = " ".join((raw or "").split())
        field_name = f"text_{lang}"
        if not words:
            raise InvalidInput("write the message in both languages (Indonesian and English)",
                               code="announce-text-missing", field=field_name)
        if len(words) > TEXT_MAX:
            raise InvalidInput(f"a message has at most {TEXT_MAX} characters", code="announce-text-too-long",
                               field=field_name)
        params = {**notify.base_params(office.settings, _sample_facts(lang)), "first_name": LONGEST_NAME,
                  "number": LONGEST_NUMBER, "notice_text": words}
        try:
            render(Purpose.ANNOUNCEMENT, Channel.SMS, lang, params)
        except MessageTooLong:
            raise InvalidInput("the message is too long for an SMS (two segments): shorten it",
                               code="announce-text-too-long", field=field_name) from None
        except InvalidInput as e:
            if e.extra.get("key") == "notice_text":
                raise InvalidInput(f"the message cannot be sent as written: {e}", code="announce-text-invalid",
                                   field=field_name) from None
        texts.append(words)
    return texts[0], texts[1]


def _sample_facts(lang: str) -> notify.AppFacts:
    return notify.AppFacts(id=None, number=LONGEST_NUMBER, full_name=LONGEST_NAME, birth_date=date.min, app_type="",
                           stage="", booking_id=None, billing_code=None, paid_at=None, phone=None, email=None,
                           channel=None, language=lang, appointment_on=None, slot=None)


def _members(uow: UnitOfWork, selection: Selection) -> list[notify.AppFacts]:
    a, p = t.application.c, t.pickup_assignment.c
    stmt = notify._facts_query()  # the rules' own read of an application, contact and language
    if selection.stage is not None:
        stmt = stmt.where(a.stage == selection.stage)
    if selection.pickup_on is not None:
        stmt = stmt.where(exists().where(and_(p.application_id == a.id, p.day == selection.pickup_on)))
    if selection.not_collected:
        stmt = stmt.where(a.stage != Stage.HANDED_OVER,
                          ~exists().where(and_(p.application_id == a.id, p.state == "collected")))
    return [notify._facts(row) for row in uow.session.execute(stmt.order_by(a.number))]


def _count(uow: UnitOfWork, members: list[notify.AppFacts]) -> Preview:
    first: dict[str, str] = {}
    no_channel = 0
    for f in members:
        routes = notify.channels_for(f)
        if not routes:
            no_channel += 1
        else:
            first.setdefault(routes[0][1], routes[0][0])
    by_channel: dict[str, int] = {}
    for channel in first.values():
        by_channel[channel] = by_channel.get(channel, 0) + 1
    return Preview(applications=len(members), recipients=len(first), no_channel=no_channel,
                   opted_out=len(notify.opted_out_among(uow, set(first))), by_channel=by_channel,
                   rule_off=not notify.enabled(uow, Purpose.ANNOUNCEMENT))


def preview(office: Office, selection: Selection) -> Preview:
    """How many the set holds and would be told, without writing anything."""
    with office.uow(readonly=True) as uow:
        return _count(uow, _members(uow, selection.checked()))


def send(office: Office, selection: Selection, *, text_id: str, text_en: str, actor: str,
         social: bool = False) -> Sent:
    """Write the announcement and one message per contact in the set, in one transaction."""
    text_id, text_en = check_texts(office, text_id, text_en)
    selection.checked()
    texts = {"id": text_id, "en": text_en}
    with office.uow() as uow:
        members = _members(uow, selection)
        counted = _count(uow, members)
        announcement_id = str(uuid.uuid4())
        wanted = [notify.Wanted(f, Purpose.ANNOUNCEMENT, scope=f"announcement:{announcement_id}",
                                params={"notice_text": texts.get(f.language, text_id)})
                  for f in members if notify.channels_for(f)]  # nobody to tell: counted, not written
        written = len(notify.create_many(uow, office.settings, wanted))
        posts = _post(office, uow, texts, announcement_id) if social else 0
        uow.session.execute(t.announcement.insert().values(
            id=announcement_id, selection=selection.as_dict(), text_id=text_id, text_en=text_en,
            applications=counted.applications, recipients=written, no_channel=counted.no_channel, social=posts,
            created_by=actor, created_at=uow.now()))
        uow.audit(actor=actor, action="announcement_sent", subject=announcement_id,
                  detail={**selection.as_dict(), "applications": counted.applications, "recipients": written,
                          "no_channel": counted.no_channel, "social_posts": posts})
        uow.commit()
    return Sent(announcement_id, counted, written)


def _post(office: Office, uow: UnitOfWork, texts: dict[str, str], source: str) -> int:
    from kanim.notify import alerts

    urls = office.settings.social_urls
    if not urls:
        return 0
    title = office.settings.office_name
    return len(alerts.post_social(uow, urls, title=title, body=f"{texts['id']}\n\n{texts['en']}", source=source))


@dataclass(frozen=True)
class Past:
    id: str
    selection: dict[str, Any]
    text_id: str
    text_en: str
    applications: int
    recipients: int
    no_channel: int
    social: int
    created_by: str
    created_at: datetime


def past(office: Office, limit: int = 20) -> list[Past]:
    """The latest announcements, newest first."""
    n = t.announcement.c
    with office.uow(readonly=True) as uow:
        rows = uow.session.execute(select(n.id, n.selection, n.text_id, n.text_en, n.applications, n.recipients,
                                          n.no_channel, n.social, n.created_by, n.created_at)
                                   .order_by(n.seq.desc()).limit(limit)).all()
    return [Past(*r) for r in rows]
