"""Pydantic schemas of the API, kept apart from the tables and the domain objects.

Every request body derives from `RequestBody`: a field the API does not know is refused
(422 request-invalid, the field named in `errors[].loc`), never silently dropped, so that a
client sending `stage` or `fee_total` learns that they are not its to set. Every free-text
field has a bound; the rules a field's content must meet (a NIK, a printable name, a billing
code) are the domain's, which answer with their own stable codes.
"""

from __future__ import annotations

from datetime import date, datetime

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StrictBool

from kanim.domain.application import Application, Priority, RecipientKind, Stage
from kanim.domain.booklet import SpoilReason
from kanim.domain.contact import Channel
from kanim.domain.fingers import FingerException
from kanim.domain.names import NAME_MAX_LENGTH, PLACE_MAX_LENGTH
from kanim.domain.passport import FEE_MAX, ApplicationType, PassportKind
from kanim.domain.people import Sex
from kanim.security.roles import Role
from kanim.http.wire import BILLING_CODE, SERIAL, IsoDate, IsoMoment, JsonInt

NOTE_MAX = 2000  # a reason, a note, a description: a paragraph, not a document
REF_MAX = 64  # a reference to something outside kanim (a receipt, a letter, a parcel)


class RequestBody(BaseModel):
    """A request body: unknown fields are refused."""

    model_config = ConfigDict(extra="forbid")


class TokenIn(RequestBody):
    username: str = Field(max_length=64)
    password: str = Field(max_length=200)


class TokenOut(BaseModel):
    access_token: str
    token_type: str = "bearer"
    username: str
    role: Role


class ApplicantIn(RequestBody):
    full_name: str = Field(min_length=1, max_length=NAME_MAX_LENGTH, examples=["Siti Rahmawati"],
                           description="as on the KTP: Latin letters (accents allowed), spaces, hyphens, "
                                       "apostrophes and full stops; stored in Unicode NFC, spaces collapsed")
    nik: str = Field(min_length=1, max_length=32, examples=["3171014508900001"])
    birth_date: IsoDate = Field(description="not after today, not more than 130 years ago")
    sex: Sex
    app_type: ApplicationType = ApplicationType.NEW
    passport_kind: PassportKind = PassportKind.ORDINARY
    birth_place: str = Field(default="", max_length=PLACE_MAX_LENGTH,
                             description="printed on the data page: the same characters as a name")
    kk_number: str = Field(default="", pattern=r"^(\d{16})?$")
    priority: Priority = Priority.NONE
    travel_date: IsoDate | None = Field(default=None, description="today or later")


class BookingIn(RequestBody):
    account_ref: str = Field(min_length=1, max_length=80, pattern=r"^[A-Za-z0-9][A-Za-z0-9._:@+-]*$")
    day: IsoDate
    slot: str = Field(max_length=5, examples=["08:00"])
    applicants: list[ApplicantIn] = Field(min_length=1, max_length=20)
    contact_phone: str | None = Field(default=None, max_length=32, examples=["0812 3456 7890"],
                                      description="stored in E.164 (+62...); without +country, an Indonesian number")
    contact_email: str | None = Field(default=None, max_length=254, examples=["siti@example.co.id"])
    preferred_channel: Channel | None = Field(
        default=None, description="whatsapp, sms and telegram need contact_phone (a mobile number), email "
        "contact_email; telegram's messages go to the phone until the applicant opens `telegram_url` and "
        "presses Start")
    language: str = Field(default="id", pattern=r"^(id|en)$",
                          description="the applicant's language for their messages: id (Indonesian) or en")


class ApplicationOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    number: str
    office_code: str
    full_name: str
    nik: str
    birth_date: date
    sex: Sex
    birth_place: str
    kk_number: str
    app_type: ApplicationType
    passport_kind: PassportKind
    priority: Priority
    travel_date: date | None
    appointment_on: date | None
    stage: Stage
    clearances: dict[str, str]
    queue_ticket: str | None
    fee_total: int | None
    billing_code: str | None
    billing_expires_at: datetime | None
    paid_at: datetime | None
    ready_by: date | None
    decision_reason: str | None
    booklet_serial: str | None
    mrz: list[str] | None
    issued_on: date | None
    expires_on: date | None
    hold_reason: str | None
    handed_over_at: datetime | None
    created_at: datetime
    updated_at: datetime | None

    @classmethod
    def of(cls, app: Application) -> ApplicationOut:
        data = {name: getattr(app, name) for name in cls.model_fields if hasattr(app, name)}
        data["clearances"] = app.clearances.as_dict()
        data["mrz"] = [app.mrz_line1, app.mrz_line2] if app.mrz_line1 else None
        return cls(**data)


class BookingOut(BaseModel):
    booking_id: str | None
    applications: list[ApplicationOut]
    telegram_url: str | None = Field(
        default=None, description="for a booking that prefers telegram, at an office with a bot: the link the "
        "applicant opens and presses Start in, so that their messages come to that chat")


class IntakeIn(RequestBody):
    name_changed: bool = Field(default=False, strict=True)


class BillingOut(BaseModel):
    application: ApplicationOut
    billing_code: str
    amount: int
    expires_at: datetime
    lines: list[tuple[str, int]]


class PaymentIn(RequestBody):
    billing_code: str = Field(max_length=32, examples=["812345678901234"], json_schema_extra=BILLING_CODE)
    receipt_ref: str = Field(min_length=1, max_length=REF_MAX, pattern=r"^[A-Za-z0-9][A-Za-z0-9 ./:_-]*$",
                             examples=["BRI-0012345"])


class FingerExceptionIn(RequestBody):
    exception: FingerException = Field(examples=["injured"])


class NotesIn(RequestBody):
    notes: str = Field(min_length=1, max_length=5000)


class ReasonIn(RequestBody):
    reason: str = Field(min_length=1, max_length=NOTE_MAX)


class PrintIn(RequestBody):
    serial: str | None = Field(default=None, max_length=16, examples=["X1000001"],
                               description="a specific booklet; default: next in stock", json_schema_extra=SERIAL)


class QualityCheckIn(RequestBody):
    passed: bool = Field(strict=True)
    reason: str = Field(default="", max_length=NOTE_MAX, description="required when passed is false")


class HandoverIn(RequestBody):
    recipient_kind: RecipientKind
    recipient_name: str = Field(min_length=1, max_length=NAME_MAX_LENGTH,
                                description="as on the KTP shown; for the holder, the holder's name")
    id_checked: str = Field(default="", max_length=120, examples=["KTP"], description="which ID document was checked")
    id_nik: str | None = Field(default=None, max_length=32, examples=["3171014508900001"],
                               description="the NIK on the KTP shown (required in person): the holder's own for "
                                           "the holder; a family member's or attorney's own otherwise")
    recipient_kk_number: str | None = Field(default=None, pattern=r"^\d{16}$")
    attorney_letter_ref: str | None = Field(default=None, max_length=120)
    post_tracking: str | None = Field(default=None, max_length=REF_MAX, pattern=r"^[A-Za-z0-9][A-Za-z0-9 -]*$")
    post_address: str | None = Field(default=None, max_length=500)


class BookletBatchIn(RequestBody):
    first: str = Field(max_length=16, examples=["X1000001"], json_schema_extra=SERIAL)
    last: str = Field(max_length=16, examples=["X1000500"], json_schema_extra=SERIAL)


class SpoilIn(RequestBody):
    reason: SpoilReason = Field(examples=["damaged_in_stock"])
    note: str = Field(default="", max_length=NOTE_MAX)


class FeeIn(RequestBody):
    amount: JsonInt = Field(ge=0, le=FEE_MAX, description="rupiah")
    description: str = Field(default="", max_length=200)


class HolidayIn(RequestBody):
    day: IsoDate
    name: str = Field(min_length=1, max_length=120)


class UserIn(RequestBody):
    username: str = Field(pattern=r"^[a-z0-9._-]{2,64}$")
    full_name: str = Field(min_length=1, max_length=200)
    role: Role
    password: str = Field(min_length=10, max_length=200)


class WatchlistOrderIn(RequestBody):
    subject_kind: str = Field(pattern=r"^(nik|passport)$")
    subject_value: str = Field(min_length=1, max_length=16)
    order_kind: str = Field(pattern=r"^(prevention|temporary|deterrence)$")
    agency: str = Field(min_length=1, max_length=64)
    starts_on: IsoDate
    ends_on: IsoDate
    reason: str = Field(min_length=1, max_length=NOTE_MAX)


class WatchlistSnapshotIn(RequestBody):
    taken_at: IsoMoment
    source: str = Field(default="manual", max_length=64)
    orders: list[WatchlistOrderIn] = Field(default_factory=list, max_length=100_000)


class NotifyRuleIn(RequestBody):
    enabled: StrictBool  # true or false: 0, "yes" and "on" are not switches


class PickupExtraIn(RequestBody):
    day: date
    slots: list[Annotated[str, Field(max_length=5)]] = Field(
        min_length=1, max_length=24, examples=[["09:00", "10:00", "11:00"]],
        description='slot times "HH:MM", each once (pickup-slot-format, pickup-slot-repeated)')
    seats: int = Field(ge=1, le=1000, examples=[20])


class PickupAnswerIn(RequestBody):
    answer: str = Field(pattern=r"^(confirm|change)$", examples=["confirm"])
