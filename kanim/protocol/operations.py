"""The name of every operation an office may push, declared once.

The office's outbox writes these names (kanim/link/outbox.py maps each domain event to its
operation), the central's apply and handlers look them up (kanim/central/hub.py), and
kanim/protocol/schemas.py has a schema for each. The values are the wire names of protocol
version 1 (they happen to be the domain events' class names) and never change within a version:
renaming a domain event must not rename an operation.
"""

from __future__ import annotations

from enum import StrEnum


class Op(StrEnum):
    APPLICATION_BOOKED = "ApplicationBooked"
    APPLICANT_CHECKED_IN = "ApplicantCheckedIn"
    INTAKE_COMPLETED = "IntakeCompleted"
    BILLING_ISSUED = "BillingIssued"
    PAYMENT_RECORDED = "PaymentRecorded"
    BIOMETRICS_CAPTURED = "BiometricsCaptured"
    INTERVIEW_RECORDED = "InterviewRecorded"
    APPLICATION_APPROVED = "ApplicationApproved"
    APPLICATION_REJECTED = "ApplicationRejected"
    APPLICATION_CANCELLED = "ApplicationCancelled"
    PASSPORT_PRINTED = "PassportPrinted"
    QUALITY_CHECK_PASSED = "QualityCheckPassed"
    QUALITY_CHECK_FAILED = "QualityCheckFailed"
    PASSPORT_READY = "PassportReady"
    PASSPORT_HANDED_OVER = "PassportHandedOver"
    CLEARANCE_CHANGED = "ClearanceChanged"
    APPLICATION_PUT_ON_HOLD = "ApplicationPutOnHold"
    HOLD_RELEASED = "HoldReleased"
    BOOKLETS_RECEIVED = "BookletsReceived"
    BOOKLET_SPOILED = "BookletSpoiled"
    ALLOCATION_HELD = "AllocationHeld"
    CHIP_PERSONALISED = "ChipPersonalised"


# Operations about a booklet or an allocation rather than an application: their subject is a
# serial or an allocation id, and no application's order applies to them.
STOCK_OPS = frozenset({Op.BOOKLETS_RECEIVED, Op.BOOKLET_SPOILED, Op.ALLOCATION_HELD})


class EventKind(StrEnum):
    """What an item of the central's feed is (kanim/protocol/feed.py)."""

    CLEARANCE = "clearance"
    WATCHLIST = "watchlist"
    ALLOCATION = "allocation"
    REBUILD = "rebuild"
    CRL = "crl"
