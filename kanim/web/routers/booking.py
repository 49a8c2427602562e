from __future__ import annotations

from fastapi import APIRouter

from kanim.office import booking, telegram
from kanim.security.roles import Perm
from kanim.web.contract import Route, errors
from kanim.web.deps import OfficeDep, Staff
from kanim.web.replies import AvailabilityOut
from kanim.http.wire import IsoDate
from kanim.web.schemas import ApplicantIn, ApplicationOut, BookingIn, BookingOut

router = APIRouter(tags=["booking"], route_class=Route)


def _applicant(a: ApplicantIn) -> booking.Applicant:
    return booking.Applicant(**a.model_dump())


@router.get("/bookings/availability", response_model=AvailabilityOut)
def availability(day: IsoDate, office: OfficeDep, user: Staff(Perm.BOOK)) -> dict:
    """Places left per slot on `day`."""
    return {"day": day, "slots": booking.availability(office, day=day)}


@router.post("/bookings", response_model=BookingOut, status_code=201,
             responses=errors({409: "the day or the slot is full"}))
def book(body: BookingIn, office: OfficeDep, user: Staff(Perm.BOOK)) -> BookingOut:
    """Book one slot for 1 to 5 applicants (one online account books for a family)."""
    apps = booking.book(
        office, account_ref=body.account_ref, day=body.day, slot=body.slot,
        applicants=[_applicant(a) for a in body.applicants], actor=user.username,
        contact_phone=body.contact_phone, contact_email=body.contact_email,
        preferred_channel=body.preferred_channel, language=body.language,
    )
    link = telegram.start_url(office.settings, apps[0].booking_id, body.preferred_channel)
    return BookingOut(booking_id=apps[0].booking_id, applications=[ApplicationOut.of(a) for a in apps],
                      telegram_url=link)


@router.post("/walk-ins", response_model=ApplicationOut, status_code=201)
def walk_in(body: ApplicantIn, office: OfficeDep, user: Staff(Perm.CHECK_IN)) -> ApplicationOut:
    """A walk-in applicant: a W-series queue ticket, straight to intake."""
    return ApplicationOut.of(booking.walk_in(office, applicant=_applicant(body), actor=user.username))


@router.post("/applications/{application_id}/check-in", response_model=ApplicationOut, responses=errors(409))
def check_in(application_id: str, office: OfficeDep, user: Staff(Perm.CHECK_IN)) -> ApplicationOut:
    """The applicant with an appointment arrives: an A-series queue ticket."""
    return ApplicationOut.of(booking.check_in(office, application_id=application_id, actor=user.username))


