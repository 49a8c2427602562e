"""Domain events: facts in the past tense, recorded by the aggregate that changed.

The unit of work writes every event to the outbox (for the central) and the audit log in the
same transaction as the change, so a crash can never keep one without the others.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import date, datetime
from enum import Enum
from typing import Any, ClassVar


def _plain(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [_plain(v) for v in value]
    return value


@dataclass(frozen=True)
class Event:
    """Base of all domain events. `subject` is the aggregate's id (an application id, a booklet
    serial), `actor` the staff username or "system", `at` when it happened."""

    subject: str
    at: datetime
    actor: str

    link_priority: ClassVar[int] = 0  # drain order at the link beyond the application's own

    @property
    def name(self) -> str:
        return type(self).__name__

    @property
    def order_key(self) -> str:
        """What the link keeps in order: by default the subject itself."""
        return self.subject

    def payload(self) -> dict[str, Any]:
        return {k: _plain(v) for k, v in asdict(self).items() if k not in ("subject", "at", "actor")}


@dataclass(frozen=True)
class ApplicationBooked(Event):
    """The application as opened. It carries the applicant's identity as the office took it, so
    that an office that lost its data gets the application back whole from the central, even
    one that never reached intake (kanim/backup/rebuild.py)."""

    number: str = ""
    app_type: str = ""
    passport_kind: str = ""
    appointment_on: date | None = None
    full_name: str = ""
    nik: str = ""
    birth_date: date | None = None
    birth_place: str = ""
    sex: str = ""
    kk_number: str = ""
    priority: str = ""
    travel_date: date | None = None


@dataclass(frozen=True)
class ApplicantCheckedIn(Event):
    queue_ticket: str = ""


@dataclass(frozen=True)
class IntakeCompleted(Event):
    """Carries what the central needs to verify: the NIK and the identity it must match."""

    nik: str = ""
    full_name: str = ""
    birth_date: date | None = None
    sex: str = ""
    kk_number: str = ""
    documents: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class BillingIssued(Event):
    billing_code: str = ""
    amount: int = 0
    expires_at: datetime | None = None


@dataclass(frozen=True)
class PaymentRecorded(Event):
    billing_code: str = ""
    amount: int = 0
    receipt_ref: str = ""


@dataclass(frozen=True)
class BiometricsCaptured(Event):
    fingerprints: int = 0
    finger_exceptions: int = 0


@dataclass(frozen=True)
class InterviewRecorded(Event):
    ready_by: date | None = None


@dataclass(frozen=True)
class ApplicationApproved(Event):
    pass


@dataclass(frozen=True)
class ApplicationRejected(Event):
    reason: str = ""


@dataclass(frozen=True)
class ApplicationCancelled(Event):
    reason: str = ""


@dataclass(frozen=True)
class PassportPrinted(Event):
    booklet_serial: str = ""
    issued_on: date | None = None
    expires_on: date | None = None


@dataclass(frozen=True)
class ChipPersonalised(Event):
    """An electronic booklet's chip content was signed: by which Document Signer (its
    certificate's SHA-256) and the SOD's SHA-256, for the national registry (docs/chip.md)."""

    booklet_serial: str = ""
    ds_fingerprint: str = ""
    sod_sha256: str = ""


@dataclass(frozen=True)
class QualityCheckPassed(Event):
    booklet_serial: str = ""


@dataclass(frozen=True)
class QualityCheckFailed(Event):
    booklet_serial: str = ""
    reason: str = ""


@dataclass(frozen=True)
class PassportReady(Event):
    booklet_serial: str = ""


@dataclass(frozen=True)
class PassportHandedOver(Event):
    booklet_serial: str = ""
    recipient_kind: str = ""


@dataclass(frozen=True)
class ClearanceChanged(Event):
    kind: str = ""
    old: str = ""
    new: str = ""
    reason: str = ""
    source: str = ""  # "office" for local (provisional) rules, "central" for decisions
    decision: str = ""  # the central's decision applied (its feed event's id): a rebuilt office skips it


@dataclass(frozen=True)
class ApplicationPutOnHold(Event):
    reason: str = ""
    booklet_to_void: str | None = None


@dataclass(frozen=True)
class HoldReleased(Event):
    back_to: str = ""


@dataclass(frozen=True)
class BookletsReceived(Event):
    first: str = ""
    last: str = ""
    count: int = 0


@dataclass(frozen=True)
class BookletSpoiled(Event):
    reason: str = ""
    application_id: str | None = None

    @property
    def order_key(self) -> str:
        # A personalised booklet is voided in its application's order: never before the
        # central has recorded it as printed.
        return self.application_id or self.subject


@dataclass(frozen=True)
class AllocationHeld(Event):
    """Sent when a rebuilt central asks for everything again: the serial ranges this office was
    allocated exist nowhere else, and the re-pushed prints are checked against them."""

    first: str = ""
    last: str = ""
    count: int = 0

    link_priority: ClassVar[int] = 10_000  # before any re-pushed print that needs it
