"""Pydantic schemas of the API, kept apart from the tables and the domain objects."""

from __future__ import annotations

from datetime import date, datetime

from pydantic import BaseModel, ConfigDict, Field

from kanim.domain.application import Application, Priority, RecipientKind, Stage
from kanim.biometrics.fingerprint import FingerException
from kanim.domain.booklet import SpoilReason
from kanim.domain.passport import FEE_MAX, ApplicationType, PassportKind
from kanim.domain.people import Channel, Sex
from kanim.security.roles import Role
from kanim.web.wire import BILLING_CODE, SERIAL, IsoDate, IsoMoment, JsonInt


class TokenIn(BaseModel):
    username: str = Field(max_length=64)
    password: str = Field(max_length=200)


class TokenOut(BaseModel):
    access_token: str
    token_type: str = "bearer"
    username: str
    role: Role


class ApplicantIn(BaseModel):
    full_name: str = Field(min_length=1, max_length=200, examples=["Siti Rahmawati"])
    nik: str = Field(min_length=1, max_length=32, examples=["3171014508900001"])
    birth_date: IsoDate
    sex: Sex
    app_type: ApplicationType = ApplicationType.NEW
    passport_kind: PassportKind = PassportKind.ORDINARY
    birth_place: str = Field(default="", max_length=100)
    kk_number: str = Field(default="", pattern=r"^(\d{16})?$")
    priority: Priority = Priority.NONE
    travel_date: IsoDate | None = None


class BookingIn(BaseModel):
    account_ref: str = Field(min_length=1, max_length=80)
    day: IsoDate
    slot: str = Field(examples=["08:00"])
    applicants: list[ApplicantIn] = Field(min_length=1)
    contact_phone: str | None = Field(default=None, max_length=32)
    contact_email: str | None = Field(default=None, max_length=254)
    preferred_channel: Channel | None = None


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


class IntakeIn(BaseModel):
    name_changed: bool = Field(default=False, strict=True)


class BillingOut(BaseModel):
    application: ApplicationOut
    billing_code: str
    amount: int
    expires_at: datetime
    lines: list[tuple[str, int]]


class PaymentIn(BaseModel):
    billing_code: str = Field(examples=["812345678901234"], json_schema_extra=BILLING_CODE)
    receipt_ref: str = Field(min_length=1, max_length=64)


class FingerExceptionIn(BaseModel):
    exception: str = Field(examples=["injured"], json_schema_extra={"enum": list(FingerException)})


class NotesIn(BaseModel):
    notes: str = Field(min_length=1, max_length=5000)


class ReasonIn(BaseModel):
    reason: str = Field(min_length=1, max_length=2000)


class PrintIn(BaseModel):
    serial: str | None = Field(default=None, description="a specific booklet; default: next in stock",
                               json_schema_extra=SERIAL)


class QualityCheckIn(BaseModel):
    passed: bool = Field(strict=True)
    reason: str = ""


class HandoverIn(BaseModel):
    recipient_kind: RecipientKind
    recipient_name: str = Field(min_length=1, max_length=200)
    id_checked: str = Field(default="", max_length=120, description="which ID document was checked")
    recipient_kk_number: str | None = Field(default=None, pattern=r"^\d{16}$")
    attorney_letter_ref: str | None = Field(default=None, max_length=120)
    post_tracking: str | None = Field(default=None, max_length=64)
    post_address: str | None = Field(default=None, max_length=500)


class BookletBatchIn(BaseModel):
    first: str = Field(examples=["X1000001"], json_schema_extra=SERIAL)
    last: str = Field(examples=["X1000500"], json_schema_extra=SERIAL)


class SpoilIn(BaseModel):
    reason: str = Field(examples=["damaged_in_stock"], json_schema_extra={"enum": list(SpoilReason)})
    note: str = ""


class FeeIn(BaseModel):
    amount: JsonInt = Field(ge=0, le=FEE_MAX, description="rupiah")
    description: str = ""


class HolidayIn(BaseModel):
    day: IsoDate
    name: str = Field(min_length=1, max_length=120)


class UserIn(BaseModel):
    username: str = Field(pattern=r"^[a-z0-9._-]{2,64}$")
    full_name: str = Field(min_length=1, max_length=200)
    role: str = Field(json_schema_extra={"enum": list(Role)})
    password: str = Field(min_length=10, max_length=200)


class WatchlistOrderIn(BaseModel):
    subject_kind: str = Field(pattern=r"^(nik|passport)$")
    subject_value: str = Field(min_length=1, max_length=16)
    order_kind: str = Field(pattern=r"^(prevention|temporary|deterrence)$")
    agency: str = Field(min_length=1, max_length=64)
    starts_on: IsoDate
    ends_on: IsoDate
    reason: str = Field(min_length=1)


class WatchlistSnapshotIn(BaseModel):
    taken_at: IsoMoment
    source: str = Field(default="manual", max_length=64)
    orders: list[WatchlistOrderIn] = Field(default_factory=list)
