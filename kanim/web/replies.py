"""The bodies of successful answers that are not an application (those are in schemas.py with
the requests): what a generated client needs to read every answer without guessing."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any, Literal

from pydantic import BaseModel, Field

from kanim.domain.fingers import FingerException
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


class NotifyChannelCountOut(BaseModel):
    channel: str
    state: str
    count: int


class NotifyFailureOut(BaseModel):
    id: str
    number: str | None
    purpose: str
    channel: str
    to: str = Field(description="the address, masked")
    state: str
    reason: str | None
    at: datetime | None


class NotifyWaitsOut(BaseModel):
    quiet_hours: int = Field(description="due messages held until the quiet hours end")
    reminder: int = Field(description="reminders whose moment has not come")
    retry: int = Field(description="messages waiting for their next try after a failure")


class OfficeAlertOut(BaseModel):
    kind: str = Field(description="channel_refused | channel_unreachable | channel_back | test")
    channel: str
    reason: str | None
    state: str = Field(description="created | temporary-failure | sent | technical-failure")
    send_reason: str | None = Field(description="why sending the alert itself failed (not-configured, ...)")
    created_at: datetime
    sent_at: datetime | None


class NotifyStatusOut(BaseModel):
    by_state: dict[str, int] = Field(description="messages per state (GOV.UK Notify's, and `cancelled`)")
    by_channel: list[NotifyChannelCountOut]
    waiting: int = Field(description="messages still to send (created or temporary-failure)")
    events_queued: int = Field(description="domain events the rules have not read yet")
    events_dead: int = Field(description="events whose rules kept failing: they hold their application's later events")
    oldest_event_at: datetime | None
    oldest_waiting_at: datetime | None
    worker: str | None = Field(description="the notification worker holding the office's lease, if any")
    failures: list[NotifyFailureOut]
    waits: NotifyWaitsOut
    quiet_now: bool = Field(description="the office's quiet hours now: only urgent notices go out")
    quiet_hours: str = Field(description="the quiet hours in the office's zone, e.g. 21:00-07:00")
    alerts: list[OfficeAlertOut] = Field(description="the newest alerts to the office's own staff")


class MessageAttemptOut(BaseModel):
    channel: str
    at: datetime | None
    outcome: str
    reason: str


class MessageOut(BaseModel):
    id: str
    purpose: str
    channel: str
    to: str = Field(description="the address, masked")
    state: str
    reason: str | None
    template: str | None
    version: int | None
    language: str
    created_at: datetime | None
    sent_at: datetime | None
    delivered_at: datetime | None
    read_at: datetime | None
    not_before: datetime | None
    attempts: list[MessageAttemptOut]


class NotifyRuleOut(BaseModel):
    purpose: str
    enabled: bool


class WebhookOut(BaseModel):
    receipts: int
    matched: int = Field(description="receipts that concern a message of this office")
    replies: int


class TelegramAnswerOut(BaseModel):
    """What the office's bot says back, as Telegram reads a webhook's answer: a Bot API method
    and its parameters (core.telegram.org/bots/api#making-requests-when-getting-updates); an
    empty object when there is nothing to say."""

    method: Literal["sendMessage"] | None = None
    chat_id: int | None = None
    text: str | None = Field(default=None, max_length=4096)


class PickupSlotPersonOut(BaseModel):
    application_id: str
    number: str
    name: str
    state: str = Field(json_schema_extra={"enum": ["offered", "confirmed", "collected"]})
    collected: bool


class PickupSlotOut(BaseModel):
    slot: str
    people: list[PickupSlotPersonOut]


class PickupExtraOut(BaseModel):
    day: date
    slots: list[str]
    seats: int


class PickupAnswerOut(BaseModel):
    answer: str
    slots: int = Field(description="the pickup slots the answer touched")
