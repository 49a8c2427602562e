"""Booking desk: online appointments within the daily quota, walk-in queue tickets, check-in."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, replace
from datetime import date

from sqlalchemy import func, select

from kanim.bootstrap import Office
from kanim.domain.application import Application, Priority, Stage
from kanim.domain.booking import check_booking, parse_slot, slot_capacity
from kanim.domain.contact import Channel
from kanim.domain.errors import InvalidInput
from kanim.domain.mrz import name_field, split_name
from kanim.domain.names import PLACE_MAX_LENGTH, printable_name, printable_text
from kanim.domain.nik import check_nik_matches
from kanim.domain.passport import ApplicationType, PassportKind
from kanim.domain.people import Sex, check_birth_date, check_travel_date
from kanim.office.common import holidays, today, transition
from kanim.office.contact import contact
from kanim.store import tables as t
from kanim.store.repositories import next_counter
from kanim.store.uow import UnitOfWork


@dataclass(frozen=True)
class Applicant:
    full_name: str
    nik: str
    birth_date: date
    sex: Sex
    app_type: ApplicationType
    passport_kind: PassportKind
    birth_place: str = ""
    kk_number: str = ""
    priority: Priority = Priority.NONE
    travel_date: date | None = None


def book(office: Office, *, account_ref: str, day: date, slot: str, applicants: list[Applicant],
         actor: str, contact_phone: str | None = None, contact_email: str | None = None,
         preferred_channel: Channel | str | None = None, language: str = "id") -> list[Application]:
    """Book one slot for a family; the phone is stored in E.164 and the channel must have its
    contact (`kanim.office.contact`); `language` is the applicant's, for their messages."""
    if language not in ("id", "en"):
        raise InvalidInput(f"language {language!r}: id or en", code="language-unknown")
    slot_time = parse_slot(slot, office.settings.slot_times)
    reach = contact(phone=contact_phone, email=contact_email, channel=preferred_channel)
    applicants = [check_applicant(a) for a in applicants]
    with office.uow() as uow:
        for a in applicants:
            check_dates(a, today=today(office, uow))
        _check_quota(office, uow, day=day, slot=slot_time.strftime("%H:%M"), size=len(applicants))
        booking_id = str(uuid.uuid4())
        uow.session.execute(t.booking.insert().values(
            id=booking_id, account_ref=account_ref, appointment_on=day, slot=slot_time.strftime("%H:%M"),
            contact_phone=reach.phone, contact_email=reach.email,
            preferred_channel=reach.channel.value if reach.channel else None, language=language,
            created_at=uow.now(),
        ))
        apps = [_new_application(office, uow, a, booking_id=booking_id, day=day, actor=actor)
                for a in applicants]
        uow.commit()
    return apps


def walk_in(office: Office, *, applicant: Applicant, actor: str) -> Application:
    """A walk-in gets a queue ticket at once and goes straight to the intake counter."""
    applicant = check_applicant(applicant)
    with office.uow() as uow:
        day = today(office, uow)
        check_dates(applicant, today=day)
        app = _new_application(office, uow, applicant, booking_id=None, day=day, actor=actor)
        app.check_in(ticket=_ticket(uow, day, "W"), at=uow.now(), actor=actor)
        uow.commit()
    return app


def check_applicant(a: Applicant) -> Applicant:
    """Refuse at the door what could never be printed: a NIK that disagrees with the person, or
    a name or birth place a passport cannot print (caught here, not at the printer days later).
    Returns the applicant with the normalised name and birth place that are stored, printed on
    the data page and written into the MRZ (`kanim.domain.names`)."""
    full_name = printable_name(a.full_name)
    birth_place = printable_text(a.birth_place, field="birth_place", required=False,
                                 max_length=PLACE_MAX_LENGTH)
    check_nik_matches(a.nik, sex=a.sex, birth_date=a.birth_date)
    name_field(*split_name(full_name))
    return replace(a, full_name=full_name, birth_place=birth_place, nik=a.nik.strip())


def check_dates(a: Applicant, *, today: date) -> None:
    """The dates that depend on the office's day: birth (not future, not absurdly old), travel."""
    check_birth_date(a.birth_date, today=today)
    check_travel_date(a.travel_date, today=today)


def check_in(office: Office, *, application_id: str, actor: str) -> Application:
    return transition(office, application_id, lambda app, uow: app.check_in(
        ticket=_ticket(uow, today(office, uow), "A"), at=uow.now(), actor=actor))


def availability(office: Office, *, day: date) -> dict[str, int]:
    """Places left per slot on a day."""
    with office.uow() as uow:
        cap = slot_capacity(office.settings.daily_quota, office.settings.slot_times)
        taken = _taken_by_slot(uow, day)
        return {s.strftime("%H:%M"): max(0, cap - taken.get(s.strftime("%H:%M"), 0))
                for s in office.settings.slot_times}


def _check_quota(office: Office, uow: UnitOfWork, *, day: date, slot: str, size: int) -> None:
    # Take the day's booking row lock first: on PostgreSQL two bookings would otherwise both
    # count the same free places and overbook (SQLite's single writer is safe anyway).
    next_counter(uow.session, day=day, name="booking")
    taken = _taken_by_slot(uow, day)
    check_booking(
        day=day, today=today(office, uow), applicants=size,
        booked_that_day=sum(taken.values()), booked_in_slot=taken.get(slot, 0),
        daily_quota=office.settings.daily_quota,
        slot_cap=slot_capacity(office.settings.daily_quota, office.settings.slot_times),
        holidays=holidays(uow), max_applicants=office.settings.max_applicants_per_booking,
    )


def _taken_by_slot(uow: UnitOfWork, day: date) -> dict[str, int]:
    a, b = t.application.c, t.booking.c
    rows = uow.session.execute(
        select(b.slot, func.count(a.id)).join(t.application, a.booking_id == b.id)
        .where(b.appointment_on == day, a.stage != Stage.CANCELLED).group_by(b.slot)
    ).all()
    return {slot: n for slot, n in rows}


def _new_application(office: Office, uow: UnitOfWork, a: Applicant, *, booking_id: str | None,
                     day: date, actor: str) -> Application:
    now = uow.now()
    created_day = today(office, uow)
    n = next_counter(uow.session, day=created_day, name="application")
    app = Application(
        id=str(uuid.uuid4()),
        number=f"{office.settings.office_code}-{created_day:%Y%m%d}-{n:04d}",
        office_code=office.settings.office_code,
        full_name=a.full_name, nik=a.nik, birth_date=a.birth_date,
        sex=Sex(a.sex), app_type=ApplicationType(a.app_type), passport_kind=PassportKind(a.passport_kind),
        created_at=now, birth_place=a.birth_place, kk_number=a.kk_number, booking_id=booking_id,
        appointment_on=day, priority=Priority(a.priority), travel_date=a.travel_date,
        stage=Stage.BOOKED, updated_at=now,
    )
    uow.applications.add(app)
    app.booked(actor=actor)
    return app


def _ticket(uow: UnitOfWork, day: date, series: str) -> str:
    """Queue tickets: A-001 for appointments, W-001 for walk-ins, restarting each day."""
    return f"{series}-{next_counter(uow.session, day=day, name=f'ticket_{series}'):03d}"
