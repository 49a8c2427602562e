"""The passport application: its stages, the rules of each transition, and the events they
record. Payment and clearances run beside the stages, not as stages.

booked → checked_in → intake_done → captured → interviewed → approved | rejected → printed →
qc_passed → ready → handed_over, plus cancelled and on_hold (flagged by the central).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta
from enum import StrEnum

from kanim.domain import events as ev
from kanim.domain.clearances import (
    ClearanceKind,
    Clearances,
    ClearanceState,
    PrintPolicy,
    can_move,
    handover_gate_blockers,
    print_gate_blockers,
)
from kanim.domain.errors import Conflict, Expired, GateClosed, InvalidInput
from kanim.domain.names import printable_name, same_name
from kanim.domain.nik import parse_nik
from kanim.domain.passport import ApplicationType, PassportKind
from kanim.domain.people import Sex

BILLING_VALIDITY = timedelta(hours=2)  # the law's default: a billing code is paid within 2 hours


class Stage(StrEnum):
    BOOKED = "booked"
    CHECKED_IN = "checked_in"
    INTAKE_DONE = "intake_done"
    CAPTURED = "captured"
    INTERVIEWED = "interviewed"
    APPROVED = "approved"
    REJECTED = "rejected"
    PRINTED = "printed"
    QC_PASSED = "qc_passed"
    READY = "ready"
    HANDED_OVER = "handed_over"
    CANCELLED = "cancelled"
    ON_HOLD = "on_hold"


TERMINAL = frozenset({Stage.REJECTED, Stage.HANDED_OVER, Stage.CANCELLED})
# Stages in which a booklet is personalised for the applicant: a central flag voids it.
WITH_BOOKLET = frozenset({Stage.PRINTED, Stage.QC_PASSED, Stage.READY})
CANCELLABLE = frozenset(
    {Stage.BOOKED, Stage.CHECKED_IN, Stage.INTAKE_DONE, Stage.CAPTURED, Stage.INTERVIEWED}
)


class Priority(StrEnum):
    """Why an application drains first after an outage (most urgent first)."""

    NONE = "none"
    TRAVEL = "travel"  # a travel date is near
    HAJJ_UMRAH = "hajj_umrah"  # pilgrimage departures are fixed by the ministry
    MEDICAL = "medical"  # treatment abroad


_PRIORITY_BASE = {Priority.MEDICAL: 3000, Priority.HAJJ_UMRAH: 2000, Priority.TRAVEL: 1000, Priority.NONE: 0}
TRAVEL_HORIZON_DAYS = 60


def drain_priority(priority: Priority, travel_date: date | None, today: date) -> int:
    """How urgently the link sends an application's work after an outage (higher first):
    medical, then hajj/umrah, then travel; within each, the sooner the travel date the sooner.
    A near travel date lifts an application with no stated priority into the travel group."""
    base = _PRIORITY_BASE[Priority(priority)]
    if travel_date is None:
        return base
    days = (travel_date - today).days
    if days > TRAVEL_HORIZON_DAYS:
        return base
    return max(base, _PRIORITY_BASE[Priority.TRAVEL]) + TRAVEL_HORIZON_DAYS - max(days, 0)


def is_urgent(rank: int) -> bool:
    """Whether a drain rank is urgent work: medical, hajj/umrah, a near travel date (or the
    link's own operations, which rank above them all)."""
    return rank >= _PRIORITY_BASE[Priority.TRAVEL]


def priority_group(rank: int) -> Priority | None:
    """The group a queued operation's drain rank (drain_priority) falls in: its application's
    priority, or travel where a near travel date lifted it. None for the link's own operations
    that go before any application's (an allocation re-sent for a rebuild)."""
    for priority in (Priority.MEDICAL, Priority.HAJJ_UMRAH, Priority.TRAVEL):
        base = _PRIORITY_BASE[priority]
        if base <= rank <= base + TRAVEL_HORIZON_DAYS:
            return priority
    return Priority.NONE if rank < _PRIORITY_BASE[Priority.TRAVEL] else None


class RecipientKind(StrEnum):
    """Who may collect a passport (handover, "penyerahan")."""

    HOLDER = "holder"
    FAMILY_SAME_KK = "family_same_kk"  # on the same family card (KK), with receipt, KTP and KK
    POWER_OF_ATTORNEY = "power_of_attorney"
    POST = "post"


@dataclass
class Handover:
    """Who collected the passport and how they proved it.

    In person (holder, family member, attorney) the desk checks a KTP and records its NIK
    (`id_nik`): for the holder it must be the holder's NIK, and the name on it the holder's
    name; a family member or an attorney shows their own KTP (a family member's NIK is not the
    holder's, and their KK number is the holder's KK number)."""

    recipient_kind: RecipientKind
    recipient_name: str
    id_checked: str  # which document was checked, e.g. "KTP"
    recipient_kk_number: str | None = None
    attorney_letter_ref: str | None = None
    post_tracking: str | None = None
    post_address: str | None = None
    id_nik: str | None = None  # the NIK on the KTP shown (None by post, and on older records)


@dataclass(eq=False)
class Application:
    """One applicant's passport application at one office. Every method checks its rule and
    records an event; the unit of work persists the object with its outbox and audit rows."""

    id: str
    number: str
    office_code: str
    full_name: str
    nik: str
    birth_date: date
    sex: Sex
    app_type: ApplicationType
    passport_kind: PassportKind
    created_at: datetime
    birth_place: str = ""
    kk_number: str = ""
    booking_id: str | None = None
    appointment_on: date | None = None
    priority: Priority = Priority.NONE
    travel_date: date | None = None
    stage: Stage = Stage.BOOKED
    clearances: Clearances = field(default_factory=Clearances)
    queue_ticket: str | None = None
    fee_total: int | None = None
    billing_code: str | None = None
    billing_expires_at: datetime | None = None
    paid_at: datetime | None = None
    payment_receipt_ref: str | None = None
    interviewed_at: datetime | None = None
    interview_notes: str | None = None
    ready_by: date | None = None
    decided_at: datetime | None = None
    decided_by: str | None = None
    decision_reason: str | None = None
    booklet_serial: str | None = None
    mrz_line1: str | None = None
    mrz_line2: str | None = None
    issued_on: date | None = None
    expires_on: date | None = None
    printed_at: datetime | None = None
    handed_over_at: datetime | None = None
    handover: Handover | None = None
    held_from: Stage | None = None
    hold_reason: str | None = None
    updated_at: datetime | None = None
    events: list[ev.Event] = field(default_factory=list, repr=False)

    # -- helpers -----------------------------------------------------------------------------

    def _require(self, *stages: Stage, action: str) -> None:
        if self.stage not in stages:
            allowed = ", ".join(s.value for s in stages)
            raise Conflict(
                f"cannot {action}: application {self.number} is {self.stage.value}, "
                f"needs {allowed}",
                code="transition-out-of-order",
            )

    def _move(self, stage: Stage, at: datetime) -> None:
        self.stage = stage
        self.updated_at = at

    def _record(self, event: ev.Event) -> None:
        self.events.append(event)

    # -- desks -------------------------------------------------------------------------------

    def booked(self, *, actor: str) -> None:
        self._record(
            ev.ApplicationBooked(
                self.id, self.created_at, actor, number=self.number, app_type=self.app_type.value,
                passport_kind=self.passport_kind.value, appointment_on=self.appointment_on,
                full_name=self.full_name, nik=self.nik, birth_date=self.birth_date, birth_place=self.birth_place,
                sex=self.sex.value, kk_number=self.kk_number, priority=self.priority.value,
                travel_date=self.travel_date,
            )
        )

    def check_in(self, *, ticket: str, at: datetime, actor: str) -> None:
        self._require(Stage.BOOKED, action="check in")
        self.queue_ticket = ticket
        self._move(Stage.CHECKED_IN, at)
        self._record(ev.ApplicantCheckedIn(self.id, at, actor, queue_ticket=ticket))

    def require_intake_open(self) -> None:
        self._require(Stage.CHECKED_IN, action="change intake documents")

    def require_capture_open(self) -> None:
        self._require(Stage.INTAKE_DONE, action="capture photo or fingerprints")
        if self.paid_at is None:
            raise Conflict("payment must be recorded before photo and fingerprints",
                           code="payment-required")

    def complete_intake(
        self,
        *,
        missing_documents: list[str],
        documents: list[str],
        watchlist_hit: str | None,
        watchlist_fresh: bool,
        local_duplicate: str | None,
        at: datetime,
        actor: str,
    ) -> None:
        """Documents checked and the NIK passed the local rules (the caller checked it).

        A watch-list match rejects the application with a written reason, as the law says.
        What the office could check itself becomes a provisional clearance.
        """
        self._require(Stage.CHECKED_IN, action="complete intake")
        if missing_documents:
            raise InvalidInput(
                "documents missing: " + "; ".join(missing_documents),
                code="documents-missing",
                missing=missing_documents,
            )
        self._move(Stage.INTAKE_DONE, at)
        self._record(
            ev.IntakeCompleted(
                self.id, at, actor, nik=self.nik, full_name=self.full_name,
                birth_date=self.birth_date, sex=self.sex.value, kk_number=self.kk_number,
                documents=sorted(documents),
            )
        )
        self._set_clearance(ClearanceKind.NIK_VERIFIED, ClearanceState.PROVISIONAL,
                            reason="local NIK rules pass", source="office", at=at, actor=actor)
        if watchlist_hit:
            self._set_clearance(ClearanceKind.WATCHLIST_CLEAR, ClearanceState.FLAGGED,
                                reason=watchlist_hit, source="office", at=at, actor=actor)
            self.reject(reason=f"watch-list match: {watchlist_hit}", at=at, actor=actor)
            return
        if watchlist_fresh:
            self._set_clearance(ClearanceKind.WATCHLIST_CLEAR, ClearanceState.PROVISIONAL,
                                reason="no match in the office's watch-list snapshot",
                                source="office", at=at, actor=actor)
        if local_duplicate is None:
            self._set_clearance(ClearanceKind.NOT_DUPLICATE, ClearanceState.PROVISIONAL,
                                reason="no other open application or valid passport at this office",
                                source="office", at=at, actor=actor)
        else:
            # Held for a supervisor, but not flagged: only the central's national check can say
            # it is a duplicate (the other application may be cancelled by then), and its
            # answer raises the clearance from pending either way.
            self._put_on_hold(reason=f"possible duplicate: {local_duplicate}", at=at, actor=actor)

    def issue_billing(self, *, code: str, amount: int, at: datetime, actor: str,
                      valid_for: timedelta = BILLING_VALIDITY) -> None:
        """A new 15-digit billing code; an expired unpaid one may be replaced ("start over")."""
        self._require(Stage.INTAKE_DONE, Stage.CAPTURED, Stage.INTERVIEWED, action="issue billing")
        if self.paid_at is not None:
            raise Conflict(f"application {self.number} is already paid", code="already-paid")
        if self.billing_code and self.billing_expires_at and at <= self.billing_expires_at:
            raise Conflict(
                f"billing code {self.billing_code} is still valid until "
                f"{self.billing_expires_at.isoformat()}",
                code="billing-still-valid",
            )
        if len(code) != 15 or not (code.isascii() and code.isdigit()):
            raise InvalidInput("a billing code has exactly 15 digits", code="billing-code-format")
        self.fee_total = amount
        self.billing_code = code
        self.billing_expires_at = at + valid_for
        self.updated_at = at
        self._record(ev.BillingIssued(self.id, at, actor, billing_code=code, amount=amount,
                                      expires_at=self.billing_expires_at))

    def record_payment(self, *, code: str, receipt_ref: str, at: datetime, actor: str) -> None:
        """The receipt is recorded at the office: payment is provisional until the treasury
        confirms it through the central."""
        self._require(Stage.INTAKE_DONE, Stage.CAPTURED, Stage.INTERVIEWED, action="record a payment")
        if self.billing_code is None or self.billing_expires_at is None:
            raise Conflict(f"application {self.number} has no billing code", code="no-billing")
        if self.paid_at is not None:
            raise Conflict(f"application {self.number} is already paid", code="already-paid")
        if code != self.billing_code:
            raise InvalidInput(f"billing code {code} does not belong to application {self.number}",
                               code="billing-code-mismatch")
        if at > self.billing_expires_at:
            raise Expired(
                f"billing code {code} expired at {self.billing_expires_at.isoformat()}: "
                "issue a new one",
                code="billing-expired",
            )
        if not receipt_ref.strip():
            raise InvalidInput("a receipt reference is required", code="receipt-missing")
        self.paid_at = at
        self.payment_receipt_ref = receipt_ref.strip()
        self.updated_at = at
        self._record(ev.PaymentRecorded(self.id, at, actor, billing_code=code,
                                        amount=self.fee_total or 0, receipt_ref=self.payment_receipt_ref))
        self._set_clearance(ClearanceKind.PAYMENT_CONFIRMED, ClearanceState.PROVISIONAL,
                            reason="receipt recorded at the office", source="office", at=at, actor=actor)

    def complete_capture(self, *, has_photo: bool, fingerprint_gaps: list[str],
                         fingerprints: int, exceptions: int, at: datetime, actor: str) -> None:
        self.require_capture_open()
        if not has_photo:
            raise InvalidInput("no face photo has been accepted yet", code="photo-missing")
        if fingerprint_gaps:
            raise InvalidInput("fingerprints missing for: " + ", ".join(fingerprint_gaps),
                               code="fingerprints-incomplete", missing=fingerprint_gaps)
        self._move(Stage.CAPTURED, at)
        self._record(ev.BiometricsCaptured(self.id, at, actor, fingerprints=fingerprints,
                                           finger_exceptions=exceptions))

    def record_interview(self, *, notes: str, ready_by: date, at: datetime, actor: str) -> None:
        self._require(Stage.CAPTURED, action="record the interview")
        if not notes.strip():
            raise InvalidInput("interview notes are required", code="notes-missing")
        self.interview_notes = notes.strip()
        self.interviewed_at = at
        self.ready_by = ready_by
        self._move(Stage.INTERVIEWED, at)
        self._record(ev.InterviewRecorded(self.id, at, actor, ready_by=ready_by))

    def approve(self, *, at: datetime, actor: str) -> None:
        self._require(Stage.INTERVIEWED, action="approve")
        if flagged := self.clearances.flagged():
            raise Conflict("cannot approve while flagged: " + ", ".join(flagged), code="flagged")
        self.decided_at, self.decided_by, self.decision_reason = at, actor, None
        self._move(Stage.APPROVED, at)
        self._record(ev.ApplicationApproved(self.id, at, actor))

    def reject(self, *, reason: str, at: datetime, actor: str) -> None:
        if self.stage in TERMINAL or self.stage in WITH_BOOKLET:
            raise Conflict(f"cannot reject: application {self.number} is {self.stage.value}",
                           code="transition-out-of-order")
        if not reason.strip():
            raise InvalidInput("a rejection needs a written reason", code="reason-missing")
        self.decided_at, self.decided_by, self.decision_reason = at, actor, reason.strip()
        self._move(Stage.REJECTED, at)
        self._record(ev.ApplicationRejected(self.id, at, actor, reason=reason.strip()))

    def cancel(self, *, reason: str, at: datetime, actor: str) -> None:
        self._require(*sorted(CANCELLABLE), action="cancel")
        self.decision_reason = reason.strip() or "cancelled"
        self._move(Stage.CANCELLED, at)
        self._record(ev.ApplicationCancelled(self.id, at, actor, reason=self.decision_reason))

    # -- printing and handover ---------------------------------------------------------------

    def clearances_confirmed(self, kinds: frozenset[ClearanceKind]) -> bool:
        return all(self.clearances.state(k) is ClearanceState.CONFIRMED for k in kinds)

    def print_gate(self, policy: PrintPolicy) -> list[str]:
        if self.stage is not Stage.APPROVED:
            return [f"application is {self.stage.value}, needs approved"]
        return print_gate_blockers(self.clearances, policy)

    def print_booklet(self, *, serial: str, mrz: tuple[str, str], issued_on: date,
                      expires_on: date, policy: PrintPolicy, at: datetime, actor: str) -> None:
        self._require(Stage.APPROVED, action="print")
        if blockers := print_gate_blockers(self.clearances, policy):
            raise GateClosed(f"print gate closed for {self.number}", reasons=blockers,
                             code="print-gate-closed")
        self.booklet_serial = serial
        self.mrz_line1, self.mrz_line2 = mrz
        self.issued_on, self.expires_on = issued_on, expires_on
        self.printed_at = at
        self._move(Stage.PRINTED, at)
        self._record(ev.PassportPrinted(self.id, at, actor, booklet_serial=serial,
                                        issued_on=issued_on, expires_on=expires_on))

    def pass_quality_check(self, *, at: datetime, actor: str) -> None:
        self._require(Stage.PRINTED, action="pass quality check")
        self._move(Stage.QC_PASSED, at)
        self._record(ev.QualityCheckPassed(self.id, at, actor, booklet_serial=self.booklet_serial or ""))
        self._become_ready_if_cleared(at=at, actor=actor)

    def fail_quality_check(self, *, reason: str, at: datetime, actor: str) -> str:
        """The booklet is spoiled (by the caller, in the same transaction) and the print job
        goes back to the queue. Returns the spoiled serial."""
        self._require(Stage.PRINTED, action="fail quality check")
        if not reason.strip():
            raise InvalidInput("a failed quality check needs a reason", code="reason-missing")
        serial = self.booklet_serial or ""
        self._record(ev.QualityCheckFailed(self.id, at, actor, booklet_serial=serial, reason=reason))
        self._clear_print()
        self._move(Stage.APPROVED, at)
        return serial

    def hand_over(self, handover: Handover, *, at: datetime, actor: str) -> None:
        if blockers := handover_gate_blockers(self.clearances):
            raise GateClosed(f"handover gate closed for {self.number}", reasons=blockers,
                             code="handover-gate-closed")
        self._require(Stage.READY, action="hand over")
        handover = _check_recipient(handover, holder_name=self.full_name, holder_nik=self.nik,
                                    holder_kk=self.kk_number, today=at.date())
        self.handover = handover
        self.handed_over_at = at
        self._move(Stage.HANDED_OVER, at)
        self._record(ev.PassportHandedOver(self.id, at, actor, booklet_serial=self.booklet_serial or "",
                                           recipient_kind=handover.recipient_kind.value))

    # -- clearances --------------------------------------------------------------------------

    def apply_clearance(self, kind: ClearanceKind, state: ClearanceState, *, reason: str,
                        source: str, at: datetime, actor: str, lifts_flag: bool = False,
                        decision: str = "") -> bool:
        """Apply a decision (usually the central's). Returns False when it changes nothing,
        so that a decision delivered twice is harmless. A flag puts the application on hold and
        voids a printed booklet; the last confirmation makes a checked passport ready."""
        if not self._set_clearance(kind, state, reason=reason, source=source, at=at, actor=actor,
                                   lifts_flag=lifts_flag, decision=decision):
            return False
        if state is ClearanceState.FLAGGED and self.stage not in TERMINAL:
            self._put_on_hold(reason=f"{kind.value} flagged: {reason}", at=at, actor=actor)
        else:
            self._become_ready_if_cleared(at=at, actor=actor)
        return True

    def release_hold(self, *, at: datetime, actor: str) -> None:
        """A supervisor sends a held application back once nothing is flagged any more.
        If its booklet was voided it goes back to the print queue."""
        self._require(Stage.ON_HOLD, action="release the hold")
        if flagged := self.clearances.flagged():
            raise Conflict("still flagged: " + ", ".join(flagged) + "; reject it or wait for the central",
                           code="flagged")
        back = self.held_from or Stage.CHECKED_IN
        if back in WITH_BOOKLET:
            back = Stage.APPROVED
        self.held_from, self.hold_reason = None, None
        self._move(back, at)
        self._record(ev.HoldReleased(self.id, at, actor, back_to=back.value))

    def _set_clearance(self, kind: ClearanceKind, state: ClearanceState, *, reason: str,
                       source: str, at: datetime, actor: str, lifts_flag: bool = False,
                       decision: str = "") -> bool:
        old = self.clearances.state(kind)
        if old is state or not can_move(old, state, lifts_flag=lifts_flag):
            return False
        self.clearances = self.clearances.with_state(kind, state)
        self.updated_at = at
        self._record(ev.ClearanceChanged(self.id, at, actor, kind=kind.value, old=old.value,
                                         new=state.value, reason=reason, source=source, decision=decision))
        return True

    def _put_on_hold(self, *, reason: str, at: datetime, actor: str) -> None:
        if self.stage is Stage.ON_HOLD:
            return
        voided = self.booklet_serial if self.stage in WITH_BOOKLET else None
        self.held_from = self.stage
        self.hold_reason = reason
        if voided:
            self._clear_print()
        self._move(Stage.ON_HOLD, at)
        self._record(ev.ApplicationPutOnHold(self.id, at, actor, reason=reason, booklet_to_void=voided))

    def _become_ready_if_cleared(self, *, at: datetime, actor: str) -> None:
        if self.stage is Stage.QC_PASSED and self.clearances.all_confirmed():
            self._move(Stage.READY, at)
            self._record(ev.PassportReady(self.id, at, actor, booklet_serial=self.booklet_serial or ""))

    def _clear_print(self) -> None:
        self.booklet_serial = None
        self.mrz_line1 = self.mrz_line2 = None
        self.issued_on = self.expires_on = None
        self.printed_at = None


def _check_recipient(h: Handover, *, holder_name: str, holder_nik: str, holder_kk: str,
                     today: date) -> Handover:
    """The handover as recorded (recipient name normalised), or the rule it breaks."""
    if not h.recipient_name.strip():
        raise InvalidInput("the recipient's name is required", code="recipient-missing")
    h = replace(h, recipient_name=printable_name(h.recipient_name, field="recipient_name"))
    if h.recipient_kind is RecipientKind.POST:
        if not (h.post_tracking and h.post_address):
            raise InvalidInput("post delivery needs an address and a tracking number",
                               code="post-details-missing")
        return h
    if not h.id_checked.strip():
        raise InvalidInput("record which ID document was checked", code="id-not-checked")
    if not (h.id_nik or "").strip():
        raise InvalidInput("record the NIK on the KTP that was shown (id_nik)", code="recipient-nik-missing")
    h = replace(h, id_nik=h.id_nik.strip())
    parse_nik(h.id_nik, today=today)
    if h.recipient_kind is RecipientKind.HOLDER:
        _check_is_holder(h, holder_name=holder_name, holder_nik=holder_nik)
    elif h.id_nik == holder_nik:
        raise Conflict(f"a {h.recipient_kind.value} recipient shows their own KTP; this is the holder's NIK "
                       "(record the handover to the holder instead)", code="recipient-nik-is-holder")
    if h.recipient_kind is RecipientKind.FAMILY_SAME_KK and (not holder_kk or h.recipient_kk_number != holder_kk):
        raise Conflict("the family member's KK number is not the applicant's KK",
                       code="kk-mismatch")
    if h.recipient_kind is RecipientKind.POWER_OF_ATTORNEY and not (h.attorney_letter_ref or "").strip():
        raise InvalidInput("a power of attorney reference is required", code="attorney-letter-missing")
    return h


def _check_is_holder(h: Handover, *, holder_name: str, holder_nik: str) -> None:
    """The KTP shown is the holder's: same NIK, same name (compared by `same_name`). The reasons
    name no NIK or name: problem bodies may be logged by a client."""
    reasons = []
    if h.id_nik != holder_nik:
        reasons.append("the NIK on the KTP shown is not the holder's NIK")
    if not same_name(h.recipient_name, holder_name):
        reasons.append("the recipient's name is not the holder's name")
    if reasons:
        raise Conflict("the identity shown is not the holder's: " + "; ".join(reasons),
                       code="recipient-not-holder", reasons=reasons)
