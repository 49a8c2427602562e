"""The bodies of successful answers that are not an application (those are in schemas.py with
the requests): what a generated client needs to read every answer without guessing."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from pydantic import BaseModel, Field

from kanim.biometrics.fingerprint import FingerException
from kanim.domain.booklet import BookletStatus, SpoilReason
from kanim.domain.passport import DocumentKind
from kanim.security.roles import Role


class MeOut(BaseModel):
    username: str
    full_name: str
    role: Role


class AvailabilityOut(BaseModel):
    day: date
    slots: dict[str, int] = Field(description="places left per slot (`08:00` → 12)")


class DocumentOut(BaseModel):
    id: str
    application_id: str
    kind: DocumentKind
    content_type: str = Field(examples=["application/pdf"])
    size_bytes: int
    sha256: str
    uploaded_at: datetime
    uploaded_by: str


class RequirementOut(BaseModel):
    description: str
    met: bool


class ChecklistOut(BaseModel):
    requirements: list[RequirementOut]
    missing: list[str] = Field(description="what is still missing, in words")


class BiometricOut(BaseModel):
    """One captured image (never the image itself) or one finger's exception."""

    id: str
    application_id: str
    kind: str = Field(json_schema_extra={"enum": ["face", "fingerprint"]})
    position: int = Field(ge=0, le=10, description="0 for the face; ISO/IEC 19794-4 finger position 1-10")
    exception: FingerException | None
    width: int | None
    height: int | None
    quality: dict[str, Any]
    captured_at: datetime
    captured_by: str


class PhotoSummaryOut(BaseModel):
    width: int
    height: int
    quality: dict[str, Any]
    captured_at: datetime


class FingerSummaryOut(BaseModel):
    position: int = Field(ge=1, le=10)
    label: str = Field(examples=["right thumb"])
    exception: FingerException | None
    captured_at: datetime


class BiometricsOut(BaseModel):
    photo: PhotoSummaryOut | None
    fingerprints: list[FingerSummaryOut]


class BookletBatchOut(BaseModel):
    batch_id: str
    first: str
    last: str
    count: int


class SpoiledBookletOut(BaseModel):
    serial: str
    status: BookletStatus
    spoil_reason: SpoilReason


class BookletReportOut(BaseModel):
    received: int
    issued: int
    spoiled: int
    in_stock: int
    spoiled_by_reason: dict[str, int]
    balanced: bool = Field(description="received = issued + spoiled + in stock")


class FeeOut(BaseModel):
    code: str = Field(examples=["passport.ordinary.10y"])
    amount: int = Field(description="rupiah")


class HolidayOut(BaseModel):
    day: date
    name: str


class UserOut(BaseModel):
    id: str
    username: str
    role: Role


class WatchlistSnapshotOut(BaseModel):
    id: str
    entries: int


class AuditReportOut(BaseModel):
    ok: bool
    rows: int
    problems: list[str]


class OutboxOut(BaseModel):
    by_status: dict[str, int] = Field(description="rows per status: pending, sent, dead")
    oldest_pending_at: datetime | None


class HealthOut(BaseModel):
    status: str = Field(json_schema_extra={"enum": ["ok"]})
    office: str
    central: str


class HeldBackOut(BaseModel):
    behind_dead_letters: int = Field(description="queued operations behind a dead letter of their application")
    waiting_for_retry: int = Field(description="queued operations waiting for a retry (or behind one)")
    applications: int = Field(description="applications held back behind dead letters")


class FeedBlockedOut(BaseModel):
    event: str
    seq: int | None
    kind: str
    why: str
    since: datetime


class LinkStatusOut(BaseModel):
    state: str = Field(json_schema_extra={"enum": ["up", "degraded", "down", "stalled", "unlinked"]},
                       description="the breaker's state, or `stalled` when work is queued but not moving, "
                                   "or `unlinked` with no central configured; `reason` says why")
    since: datetime | None
    reason: str | None
    queue_depth: int
    sendable: int = Field(description="queued operations that can be sent now")
    held_back: HeldBackOut
    dead_letters: int
    sent: int
    oldest_unsent_at: datetime | None
    drain_rate_per_s: float
    eta_seconds: int | None
    relay: str | None = Field(description="the relay holding the office's link (host:pid:id), if any")
    feed_blocked: FeedBlockedOut | None = Field(
        description="the central's event the office's cursor waits on because it does not verify")
    watchlist_snapshot_at: datetime | None
    watchlist_problem: str | None


class DeadLetterOut(BaseModel):
    id: str
    seq: int
    subject: str
    op: str
    attempts: int
    error: str | None
    created_at: datetime


class RetriedOut(BaseModel):
    id: str
    status: str = Field(json_schema_extra={"enum": ["pending"]})


class IncidentOut(BaseModel):
    id: int
    state: str = Field(json_schema_extra={"enum": ["degraded", "down"]})
    reason: str
    started_at: datetime
    ended_at: datetime | None
