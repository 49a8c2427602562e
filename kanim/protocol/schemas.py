"""The wire contract of the office ↔ central link: what an operation may carry, checked one
operation at a time (part of kanim/protocol, docs/protocol.md).

Both roles import this module: the office's relay builds operations from its outbox, the
central validates each one against its schema *before* applying it. A malformed operation is
that operation's permanent error (a dead letter at the office, with the reason), never the
batch's: one bad row must not take an office's link down.

Schemas are strict on the fields they name (types, lengths that fit the central's columns,
enumerations) and ignore fields they do not name, so that an office one release ahead can still
drain against this central. An operation type not listed here is refused for good.

Error messages name the field and the rule, never the value: operations carry NIKs, names and
images, and a refusal is stored, shown to staff and may be logged.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from datetime import datetime
from typing import Annotated, Any

from pydantic import (AfterValidator, BaseModel, ConfigDict, Field, TypeAdapter, ValidationError, field_validator,
                      model_validator)

from kanim.domain.application import Priority, RecipientKind
from kanim.domain.clearances import ClearanceKind, ClearanceState
from kanim.domain.passport import ApplicationType, PassportKind
from kanim.domain.people import Sex
from kanim.http.wire import IsoDate, IsoMoment, JsonInt
from kanim.protocol.operations import Op

MAX_SEQ = 2**63 - 1  # the office's outbox sequence is a 64-bit integer on both databases
MAX_OPERATIONS = 5000  # per push
BIOMETRIC_POSITIONS = range(0, 11)  # 0 the face, 1-10 the fingers (ISO/IEC 19794-4)


class OperationInvalid(ValueError):
    """The operation does not match the contract; `reason` is safe to store and show."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def _utc(v: datetime) -> datetime:
    if v.tzinfo is None:
        raise ValueError("a time must carry its UTC offset")
    return v


Id = Annotated[str, Field(min_length=1, max_length=36, pattern=r"^[A-Za-z0-9-]+$")]
# What an operation is about: an application (its id), a booklet (its serial) or an allocation;
# the registry keeps application ids in 36 characters.
Subject = Annotated[str, Field(min_length=1, max_length=36, pattern=r"^[A-Za-z0-9._-]+$")]
Actor = Annotated[str, Field(max_length=64)]
Serial = Annotated[str, Field(min_length=1, max_length=9, pattern=r"^[A-Z0-9]+$")]
BillingCode = Annotated[str, Field(pattern=r"^[0-9]{15}$")]
Reason = Annotated[str, Field(max_length=4000)]
Money = Annotated[JsonInt, Field(ge=0, le=2**31 - 1)]  # rupiah, in the registry's integer column
Count = Annotated[JsonInt, Field(ge=0, le=1_000_000)]
When = Annotated[IsoMoment, AfterValidator(_utc)]
Day = IsoDate  # an ISO 8601 date string, never a number read as a Unix time
_ID_CHECK = TypeAdapter(Id)


class Envelope(BaseModel):
    """One operation as pushed: `id` makes it idempotent (per office), `seq` orders it."""

    model_config = ConfigDict(extra="ignore")

    id: Id
    seq: JsonInt = Field(ge=0, le=MAX_SEQ)
    subject: Subject
    op: str = Field(min_length=1, max_length=48, pattern=r"^[A-Za-z]+$")
    payload: dict[str, Any]


class Payload(BaseModel):
    """Fields every operation carries (kanim.store.uow writes them with each outbox row)."""

    model_config = ConfigDict(extra="ignore")

    subject: Subject
    at: When
    actor: Actor = ""

    def checked(self) -> dict[str, Any]:
        """The fields the schema names in their checked form (dates as ISO strings,
        enumerations as their values): what the handlers read (`normalized`)."""
        return self.model_dump(mode="json")


class ApplicationBooked(Payload):
    number: str = Field(min_length=1, max_length=32)
    app_type: ApplicationType
    passport_kind: PassportKind
    appointment_on: Day | None = None
    # The applicant as the office opened the application (offices since 2026-12-02 send them;
    # older ones do not): kept for the office's history, read again by an office being rebuilt.
    full_name: str = Field(default="", max_length=200)
    nik: str = Field(default="", pattern=r"^([0-9]{16})?$")
    birth_date: Day | None = None
    birth_place: str = Field(default="", max_length=100)
    sex: Sex | None = None
    kk_number: str = Field(default="", pattern=r"^([0-9]{16})?$")
    priority: Priority = Priority.NONE
    travel_date: Day | None = None

    @field_validator("sex", mode="before")
    @classmethod
    def _no_sex_given(cls, v: Any) -> Any:
        return None if v == "" else v


class ApplicantCheckedIn(Payload):
    queue_ticket: str = Field(default="", max_length=16)


class IntakeCompleted(Payload):
    nik: str = Field(pattern=r"^[0-9]{16}$")
    full_name: str = Field(min_length=1, max_length=200)
    birth_date: Day
    sex: Sex
    kk_number: str = Field(default="", pattern=r"^([0-9]{16})?$")
    documents: list[Annotated[str, Field(max_length=32)]] = Field(default_factory=list, max_length=20)


class BillingIssued(Payload):
    billing_code: BillingCode
    amount: Money
    expires_at: When | None = None


class PaymentRecorded(Payload):
    billing_code: BillingCode
    amount: Money = 0
    receipt_ref: str = Field(default="", max_length=64)


class BiometricItem(BaseModel):
    """A face or a finger, decrypted from the office's vault at send time. The digest and size
    are checked against the data: a damaged image is refused, not stored."""

    model_config = ConfigDict(extra="ignore")

    position: JsonInt = Field(ge=0, le=10)
    exception: str | None = Field(default=None, pattern=r"^(missing|injured|unreadable)$")
    sha256: str | None = Field(default=None, pattern=r"^[0-9a-f]{64}$")
    size_bytes: JsonInt = Field(default=0, ge=0, le=100_000_000)
    # base64 in a JSON push (versions 1-2); the bytes themselves once a binary batch (version 3,
    # kanim/protocol/batch.py) is decoded.
    data: bytes | str | None = None

    @model_validator(mode="after")
    def _digest_matches(self) -> BiometricItem:
        if self.data is None:
            if self.exception is None:
                raise ValueError("an item without an image must name its exception")
            return self
        try:
            raw = self.image()
        except (binascii.Error, ValueError):
            raise ValueError("the image is not valid base64") from None
        if len(raw) != self.size_bytes or hashlib.sha256(raw).hexdigest() != self.sha256:
            raise ValueError("the image does not match its size and SHA-256 digest")
        return self

    def image(self) -> bytes | None:
        if isinstance(self.data, bytes):
            return self.data
        return base64.b64decode(self.data, validate=True) if self.data is not None else None


class BiometricsCaptured(Payload):
    fingerprints: Count = 0
    finger_exceptions: Count = 0
    biometrics: list[BiometricItem] = Field(default_factory=list, max_length=len(BIOMETRIC_POSITIONS))

    def checked(self) -> dict[str, Any]:
        # The images stay as they came (bytes or base64), not re-encoded for JSON.
        out = self.model_dump(mode="json", exclude={"biometrics": {"__all__": {"data"}}})
        for item, model in zip(out["biometrics"], self.biometrics, strict=True):
            item["data"] = model.data
        return out

    @model_validator(mode="after")
    def _positions_once(self) -> BiometricsCaptured:
        positions = [b.position for b in self.biometrics]
        if len(positions) != len(set(positions)):
            raise ValueError("a position appears twice")
        return self


class InterviewRecorded(Payload):
    ready_by: Day | None = None


class ApplicationApproved(Payload):
    pass


class ApplicationRejected(Payload):
    reason: Reason = ""


class ApplicationCancelled(Payload):
    reason: Reason = ""


class PassportPrinted(Payload):
    booklet_serial: Serial
    issued_on: Day
    expires_on: Day

    @model_validator(mode="after")
    def _expires_after_issue(self) -> PassportPrinted:
        if self.expires_on <= self.issued_on:
            raise ValueError("expires_on must be after issued_on")
        return self


class ChipPersonalised(Payload):
    booklet_serial: Serial
    ds_fingerprint: str = Field(pattern=r"^[0-9a-f]{64}$")
    sod_sha256: str = Field(pattern=r"^[0-9a-f]{64}$")


class QualityCheckPassed(Payload):
    booklet_serial: Serial


class QualityCheckFailed(Payload):
    booklet_serial: Serial
    reason: Reason = ""


class PassportReady(Payload):
    booklet_serial: Serial


class PassportHandedOver(Payload):
    booklet_serial: Serial
    recipient_kind: RecipientKind


class ClearanceChanged(Payload):
    kind: ClearanceKind
    old: ClearanceState
    new: ClearanceState
    reason: Reason = ""
    source: str = Field(default="", max_length=16)
    decision: str = Field(default="", max_length=64, pattern=r"^[A-Za-z0-9_.:-]*$")  # the feed event applied


class ApplicationPutOnHold(Payload):
    reason: Reason = ""
    booklet_to_void: Serial | None = None


class HoldReleased(Payload):
    back_to: str = Field(min_length=1, max_length=16)


class BookletsReceived(Payload):
    first: Serial
    last: Serial
    count: Count


class BookletSpoiled(Payload):
    reason: str = Field(min_length=1, max_length=32)
    application_id: Id | None = None


class AllocationHeld(Payload):
    first: Serial
    last: Serial
    count: Count


# Every operation type an office may send, by its declared name (kanim/protocol/operations.py).
# A test checks that every operation has its schema here and every domain event its operation.
SCHEMAS: dict[Op, type[Payload]] = {
    Op.APPLICATION_BOOKED: ApplicationBooked, Op.APPLICANT_CHECKED_IN: ApplicantCheckedIn,
    Op.INTAKE_COMPLETED: IntakeCompleted, Op.BILLING_ISSUED: BillingIssued, Op.PAYMENT_RECORDED: PaymentRecorded,
    Op.BIOMETRICS_CAPTURED: BiometricsCaptured, Op.INTERVIEW_RECORDED: InterviewRecorded,
    Op.APPLICATION_APPROVED: ApplicationApproved, Op.APPLICATION_REJECTED: ApplicationRejected,
    Op.APPLICATION_CANCELLED: ApplicationCancelled, Op.PASSPORT_PRINTED: PassportPrinted,
    Op.QUALITY_CHECK_PASSED: QualityCheckPassed, Op.QUALITY_CHECK_FAILED: QualityCheckFailed,
    Op.PASSPORT_READY: PassportReady, Op.PASSPORT_HANDED_OVER: PassportHandedOver,
    Op.CLEARANCE_CHANGED: ClearanceChanged, Op.APPLICATION_PUT_ON_HOLD: ApplicationPutOnHold,
    Op.HOLD_RELEASED: HoldReleased, Op.BOOKLETS_RECEIVED: BookletsReceived, Op.BOOKLET_SPOILED: BookletSpoiled,
    Op.ALLOCATION_HELD: AllocationHeld, Op.CHIP_PERSONALISED: ChipPersonalised,
}


def describe(error: ValidationError, *, prefix: str = "") -> str:
    """What is wrong, by field and rule, without the offending values (they may be a NIK)."""
    parts = []
    for e in error.errors(include_input=False, include_url=False):
        where = ".".join(str(p) for p in e.get("loc", ())) or "(operation)"
        parts.append(f"{prefix}{where}: {e.get('msg', 'invalid')}")
    return "; ".join(parts[:5]) + (f" (and {len(parts) - 5} more)" if len(parts) > 5 else "")


def _has_nul(value: Any) -> bool:
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(_has_nul(k) or _has_nul(v) for k, v in value.items())
    if isinstance(value, list):
        return any(_has_nul(v) for v in value)
    return False


def _not_finite(value: Any) -> bool:
    if isinstance(value, float):
        return value != value or value in (float("inf"), float("-inf"))
    if isinstance(value, dict):
        return any(_not_finite(v) for v in value.values())
    if isinstance(value, list):
        return any(_not_finite(v) for v in value)
    return False


def envelope(raw: Any) -> Envelope:
    """The envelope of one pushed operation, or OperationInvalid."""
    if not isinstance(raw, dict):
        raise OperationInvalid("an operation must be a JSON object")
    if _has_nul(raw):
        raise OperationInvalid("a text holds a NUL character, which no passport record can")
    if _not_finite(raw):
        # JSON has no NaN or Infinity (Python's parser reads them anyway): kept, it would come
        # back from the central's history as null and never verify again.
        raise OperationInvalid("a number is NaN or infinite, which JSON does not have")
    try:
        return Envelope.model_validate(raw)
    except ValidationError as e:
        raise OperationInvalid(describe(e)) from None


def payload(op: str, raw: dict[str, Any]) -> Payload:
    """The operation's payload checked against its type's schema, or OperationInvalid. Use
    `normalized` for what the handlers read."""
    schema = SCHEMAS.get(op)  # type: ignore[call-overload] - an Op is its name: a str looks it up
    if schema is None:
        raise OperationInvalid(f"unknown operation type {op!r}: this central does not apply it")
    try:
        return schema.model_validate(raw)
    except ValidationError as e:
        raise OperationInvalid(describe(e, prefix="payload.")) from None


def normalized(raw: dict[str, Any], model: Payload) -> dict[str, Any]:
    """The payload as the handlers read it: every field the schema names in its checked form
    (dates as ISO strings, enumerations as their values), the rest as sent."""
    return {**raw, **model.checked()}


def usable_id(raw: Any) -> str | None:
    """The id of an operation whose envelope is invalid, if it has one the central can answer by."""
    if isinstance(raw, dict) and isinstance(raw.get("id"), str):
        try:
            return _ID_CHECK.validate_python(raw["id"])
        except ValidationError:
            return None
    return None


def body_digest(seq: int, subject: str, op: str, payload_: dict[str, Any]) -> str:
    """What the central remembers of an operation's body, to tell a resend (the same body) from
    an id reused with another body. Images count by their digest, which the payload carries."""
    slim = dict(payload_)
    if isinstance(slim.get("biometrics"), list):
        slim["biometrics"] = [{k: v for k, v in b.items() if k != "data"} if isinstance(b, dict) else b
                              for b in slim["biometrics"]]
    doc = {"seq": seq, "subject": subject, "op": op, "payload": slim}
    return hashlib.sha256(json.dumps(doc, sort_keys=True, separators=(",", ":"), default=str).encode()).hexdigest()

