"""The application aggregate on its own: no database, no clock, just datetimes.

Each test builds an `Application` directly and drives it through its methods, checking the rule
of each transition and the events it records (the unit of work turns those into outbox and
audit rows, so a missing or wrong event is a lost message to the central)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta

import pytest

from kanim.domain import events as ev
from kanim.domain.application import (
    BILLING_VALIDITY,
    CANCELLABLE,
    TERMINAL,
    WITH_BOOKLET,
    Application,
    Handover,
    Priority,
    RecipientKind,
    Stage,
)
from kanim.domain.clearances import ClearanceKind, Clearances, ClearanceState, PrintPolicy
from kanim.domain.errors import Conflict, Expired, GateClosed, InvalidInput
from kanim.domain.passport import ApplicationType, PassportKind
from kanim.domain.people import Sex

T0 = datetime(2026, 11, 30, 1, 0, tzinfo=UTC)  # Monday 08:00 in Jakarta
NIK = "3171014508900001"
KK = "7171011200000001"
CODE = "812345678901234"
OTHER_CODE = "899999999999990"
SERIAL = "X1000001"
MRZ = ("P<IDNRAHMAWATI<<SITI<<<<<<<<<<<<<<<<<<<<<<<<<", "X1000001<0IDN9008055F3611296<<<<<<<<<<<<<<04")
ALL_CONFIRMED = Clearances(**{k.value: ClearanceState.CONFIRMED for k in ClearanceKind})
ALL_PROVISIONAL = Clearances(**{k.value: ClearanceState.PROVISIONAL for k in ClearanceKind})
C, S = ClearanceKind, ClearanceState


def at(minutes: float = 0) -> datetime:
    return T0 + timedelta(minutes=minutes)


def new_app(**overrides: object) -> Application:
    fields: dict[str, object] = dict(
        id="app-1", number="MND-20261130-0001", office_code="MND", full_name="Siti Rahmawati",
        nik=NIK, birth_date=date(1990, 8, 5), sex=Sex.F, app_type=ApplicationType.NEW,
        passport_kind=PassportKind.ELECTRONIC, created_at=T0, kk_number=KK,
        appointment_on=date(2026, 11, 30),
    )
    fields.update(overrides)
    return Application(**fields)  # type: ignore[arg-type]


def names(app: Application) -> list[str]:
    return [e.name for e in app.events]


def of_type(app: Application, kind: type[ev.Event]) -> list:  # noqa: ANN001
    return [e for e in app.events if isinstance(e, kind)]


# -- walking the desks in order ------------------------------------------------------------------


def do_check_in(a: Application) -> None:
    a.check_in(ticket="A001", at=at(1), actor="frontdesk")


def do_intake(a: Application, *, hit: str | None = None, fresh: bool = True, dup: str | None = None) -> None:
    a.complete_intake(missing_documents=[], documents=["ktp", "kk", "birth_certificate"],
                      watchlist_hit=hit, watchlist_fresh=fresh, local_duplicate=dup, at=at(2),
                      actor="frontdesk")


def do_pay(a: Application) -> None:
    a.issue_billing(code=CODE, amount=950_000, at=at(3), actor="cashier")
    a.record_payment(code=CODE, receipt_ref="BANK-1", at=at(4), actor="cashier")


def do_capture(a: Application) -> None:
    a.complete_capture(has_photo=True, fingerprint_gaps=[], fingerprints=9, exceptions=1, at=at(5),
                       actor="bio")


def do_interview(a: Application) -> None:
    a.record_interview(notes="Purpose: tourism.", ready_by=date(2026, 12, 4), at=at(6), actor="interviewer")


def do_approve(a: Application) -> None:
    a.approve(at=at(7), actor="supervisor")


def do_print(a: Application, policy: PrintPolicy | None = None) -> None:
    a.print_booklet(serial=SERIAL, mrz=MRZ, issued_on=date(2026, 11, 30), expires_on=date(2036, 11, 30),
                    policy=policy or PrintPolicy(), at=at(8), actor="printer")


def do_qc(a: Application) -> None:
    a.pass_quality_check(at=at(9), actor="printer")


def do_pay_and_capture(a: Application) -> None:
    do_pay(a)
    do_capture(a)


# Each step and the stage it leads to; payment runs beside the stages, just before capture.
STEPS: list[tuple[Stage, Callable[[Application], None]]] = [
    (Stage.CHECKED_IN, do_check_in),
    (Stage.INTAKE_DONE, do_intake),
    (Stage.CAPTURED, do_pay_and_capture),
    (Stage.INTERVIEWED, do_interview),
    (Stage.APPROVED, do_approve),
    (Stage.PRINTED, do_print),
    (Stage.QC_PASSED, do_qc),
]


def walk_to(target: Stage) -> Application:
    """A new application taken through the desks, in order, until it reaches `target`."""
    app = new_app()
    for stage, step in STEPS:
        step(app)
        assert app.stage is stage
        if stage is target:
            return app
    raise AssertionError(f"no step leads to {target}")


def confirm(app: Application, *kinds: ClearanceKind, minutes: float = 20) -> list[bool]:
    return [app.apply_clearance(k, S.CONFIRMED, reason="central agrees", source="central", at=at(minutes),
                                actor="central") for k in (kinds or tuple(ClearanceKind))]


def ready_app() -> Application:
    app = walk_to(Stage.QC_PASSED)
    confirm(app)
    assert app.stage is Stage.READY
    app.events.clear()
    return app


def holder() -> Handover:
    return Handover(RecipientKind.HOLDER, "Siti Rahmawati", "KTP", id_nik=NIK)


# -- the whole lifecycle -------------------------------------------------------------------------


def test_it_records_the_booking_with_number_type_kind_appointment_and_applicant() -> None:
    app = new_app(priority=Priority.HAJJ_UMRAH, travel_date=date(2027, 1, 5), birth_place="Manado")
    app.booked(actor="frontdesk")
    (e,) = app.events
    assert isinstance(e, ev.ApplicationBooked)
    assert (e.subject, e.at, e.actor) == ("app-1", T0, "frontdesk")
    # The applicant too: an office rebuilt from the central gets the application back whole.
    assert e.payload() == {"number": "MND-20261130-0001", "app_type": "new", "passport_kind": "electronic",
                           "appointment_on": "2026-11-30", "full_name": "Siti Rahmawati", "nik": NIK,
                           "birth_date": "1990-08-05", "birth_place": "Manado", "sex": "F", "kk_number": KK,
                           "priority": "hajj_umrah", "travel_date": "2027-01-05"}
    assert app.stage is Stage.BOOKED


def test_it_walks_every_desk_in_order_and_records_each_event() -> None:
    app = new_app()
    do_check_in(app)
    assert app.stage is Stage.CHECKED_IN and app.queue_ticket == "A001"
    do_intake(app)
    assert app.stage is Stage.INTAKE_DONE
    do_pay(app)
    assert app.paid_at == at(4) and app.payment_receipt_ref == "BANK-1"
    do_capture(app)
    assert app.stage is Stage.CAPTURED
    do_interview(app)
    assert app.stage is Stage.INTERVIEWED and app.interview_notes == "Purpose: tourism."
    assert app.ready_by == date(2026, 12, 4)
    do_approve(app)
    assert (app.stage, app.decided_by, app.decided_at) == (Stage.APPROVED, "supervisor", at(7))
    do_print(app)
    assert (app.stage, app.booklet_serial, (app.mrz_line1, app.mrz_line2)) == (Stage.PRINTED, SERIAL, MRZ)
    assert app.printed_at == at(8) and app.expires_on == date(2036, 11, 30)
    do_qc(app)
    assert app.stage is Stage.QC_PASSED
    confirm(app)
    assert app.stage is Stage.READY
    app.hand_over(holder(), at=at(30), actor="pickup")
    assert app.stage is Stage.HANDED_OVER and app.handed_over_at == at(30)
    assert app.updated_at == at(30)

    assert names(app) == [
        "ApplicantCheckedIn",
        "IntakeCompleted", "ClearanceChanged", "ClearanceChanged", "ClearanceChanged",
        "BillingIssued", "PaymentRecorded", "ClearanceChanged",
        "BiometricsCaptured", "InterviewRecorded", "ApplicationApproved", "PassportPrinted",
        "QualityCheckPassed",
        *["ClearanceChanged"] * 5,
        "PassportReady", "PassportHandedOver",
    ]
    assert all(e.subject == "app-1" for e in app.events)


def test_each_event_carries_the_fields_the_central_needs() -> None:
    app = walk_to(Stage.QC_PASSED)
    confirm(app)
    app.hand_over(holder(), at=at(30), actor="pickup")
    by_name = {e.name: e for e in app.events}

    assert by_name["ApplicantCheckedIn"].payload() == {"queue_ticket": "A001"}
    intake = by_name["IntakeCompleted"].payload()
    assert intake["nik"] == NIK and intake["full_name"] == "Siti Rahmawati"
    assert intake["birth_date"] == "1990-08-05" and intake["sex"] == "F" and intake["kk_number"] == KK
    assert intake["documents"] == ["birth_certificate", "kk", "ktp"]  # sorted
    assert by_name["BillingIssued"].payload() == {
        "billing_code": CODE, "amount": 950_000, "expires_at": (at(3) + BILLING_VALIDITY).isoformat()}
    assert by_name["PaymentRecorded"].payload() == {"billing_code": CODE, "amount": 950_000,
                                                    "receipt_ref": "BANK-1"}
    assert by_name["BiometricsCaptured"].payload() == {"fingerprints": 9, "finger_exceptions": 1}
    assert by_name["InterviewRecorded"].payload() == {"ready_by": "2026-12-04"}
    assert by_name["ApplicationApproved"].actor == "supervisor"
    assert by_name["PassportPrinted"].payload() == {"booklet_serial": SERIAL, "issued_on": "2026-11-30",
                                                    "expires_on": "2036-11-30"}
    assert by_name["QualityCheckPassed"].payload() == {"booklet_serial": SERIAL}
    assert by_name["PassportReady"].payload() == {"booklet_serial": SERIAL}
    assert by_name["PassportHandedOver"].payload() == {"booklet_serial": SERIAL, "recipient_kind": "holder"}


def test_intake_and_payment_record_provisional_clearances_for_what_the_office_checked() -> None:
    app = walk_to(Stage.INTAKE_DONE)
    do_pay(app)
    changes = [e.payload() for e in of_type(app, ev.ClearanceChanged)]
    assert [(c["kind"], c["old"], c["new"], c["source"]) for c in changes] == [
        ("nik_verified", "pending", "provisional", "office"),
        ("watchlist_clear", "pending", "provisional", "office"),
        ("not_duplicate", "pending", "provisional", "office"),
        ("payment_confirmed", "pending", "provisional", "office"),
    ]
    assert app.clearances.recorded_centrally is S.PENDING  # only the central can record it


# -- out of order ----------------------------------------------------------------------------


def _hand_over_confirmed(a: Application) -> None:
    a.clearances = ALL_CONFIRMED  # so the stage rule, not the handover gate, is what refuses
    a.hand_over(holder(), at=at(50), actor="pickup")


TRANSITIONS: dict[str, tuple[frozenset[Stage], Callable[[Application], object]]] = {
    "check_in": (frozenset({Stage.BOOKED}), do_check_in),
    "complete_intake": (frozenset({Stage.CHECKED_IN}), do_intake),
    "issue_billing": (frozenset({Stage.INTAKE_DONE, Stage.CAPTURED, Stage.INTERVIEWED}),
                      lambda a: a.issue_billing(code=CODE, amount=1, at=at(50), actor="cashier")),
    "complete_capture": (frozenset({Stage.INTAKE_DONE}), do_capture),
    "record_interview": (frozenset({Stage.CAPTURED}), do_interview),
    "approve": (frozenset({Stage.INTERVIEWED}), do_approve),
    "reject": (frozenset(Stage) - TERMINAL - WITH_BOOKLET,
               lambda a: a.reject(reason="no", at=at(50), actor="supervisor")),
    "cancel": (CANCELLABLE, lambda a: a.cancel(reason="no show", at=at(50), actor="supervisor")),
    "print_booklet": (frozenset({Stage.APPROVED}), do_print),
    "pass_quality_check": (frozenset({Stage.PRINTED}), do_qc),
    "fail_quality_check": (frozenset({Stage.PRINTED}),
                           lambda a: a.fail_quality_check(reason="smudge", at=at(50), actor="printer")),
    "hand_over": (frozenset({Stage.READY}), _hand_over_confirmed),
    "release_hold": (frozenset({Stage.ON_HOLD}), lambda a: a.release_hold(at=at(50), actor="supervisor")),
}
OUT_OF_ORDER = [(name, stage) for name, (allowed, _) in TRANSITIONS.items() for stage in Stage
                if stage not in allowed]


@pytest.mark.parametrize(("transition", "stage"), OUT_OF_ORDER, ids=[f"{n}-from-{s.value}" for n, s in OUT_OF_ORDER])
def test_it_refuses_a_transition_out_of_order(transition: str, stage: Stage) -> None:
    # Paid and provisionally cleared, so only the stage can be the reason for refusing.
    app = new_app(stage=stage, clearances=ALL_PROVISIONAL, paid_at=at(0), billing_code=None)
    _, change = TRANSITIONS[transition]
    with pytest.raises(Conflict) as refused:
        change(app)
    assert refused.value.code == "transition-out-of-order"
    assert refused.value.status == 409
    assert app.stage is stage
    assert app.events == []


def test_the_out_of_order_table_covers_every_stage() -> None:
    assert len(OUT_OF_ORDER) > 100
    for stage in Stage:
        assert any(s is stage for _, s in OUT_OF_ORDER)


# -- intake ----------------------------------------------------------------------------------


def test_intake_with_missing_documents_is_refused_and_lists_them() -> None:
    app = walk_to(Stage.CHECKED_IN)
    app.events.clear()
    with pytest.raises(InvalidInput) as e:
        app.complete_intake(missing_documents=["KK (family card)", "old passport"], documents=["ktp"],
                            watchlist_hit=None, watchlist_fresh=True, local_duplicate=None, at=at(2),
                            actor="frontdesk")
    assert e.value.code == "documents-missing"
    assert e.value.extra["missing"] == ["KK (family card)", "old passport"]
    assert "KK (family card)" in str(e.value)
    assert app.stage is Stage.CHECKED_IN and app.events == []
    assert app.clearances == Clearances()


def test_a_watch_list_hit_rejects_the_application_with_the_reason() -> None:
    app = walk_to(Stage.CHECKED_IN)
    app.events.clear()
    do_intake(app, hit="prevention order by KPK until 2027-04-30: case 12")
    assert app.stage is Stage.REJECTED
    assert app.decision_reason == "watch-list match: prevention order by KPK until 2027-04-30: case 12"
    assert app.clearances.watchlist_clear is S.FLAGGED
    assert app.clearances.nik_verified is S.PROVISIONAL
    assert app.clearances.not_duplicate is S.PENDING  # a rejected application is not checked further
    rejected = of_type(app, ev.ApplicationRejected)
    assert [r.reason for r in rejected] == [app.decision_reason]
    flag = [e for e in of_type(app, ev.ClearanceChanged) if e.kind == "watchlist_clear"]
    assert [(f.new, f.reason) for f in flag] == [("flagged", "prevention order by KPK until 2027-04-30: case 12")]
    assert names(app)[-1] == "ApplicationRejected"


def test_a_watch_list_hit_rejects_even_with_a_stale_snapshot() -> None:
    app = walk_to(Stage.CHECKED_IN)
    do_intake(app, hit="temporary order by BNN", fresh=False)
    assert app.stage is Stage.REJECTED
    assert app.clearances.watchlist_clear is S.FLAGGED


def test_a_stale_snapshot_leaves_the_watch_list_pending_and_closes_the_print_gate() -> None:
    app = walk_to(Stage.CHECKED_IN)
    do_intake(app, fresh=False)
    assert app.stage is Stage.INTAKE_DONE
    assert app.clearances.watchlist_clear is S.PENDING
    assert app.clearances.not_duplicate is S.PROVISIONAL
    assert not [e for e in of_type(app, ev.ClearanceChanged) if e.kind == "watchlist_clear"]
    for step in (do_pay, do_capture, do_interview, do_approve):
        step(app)
    assert app.print_gate(PrintPolicy()) == ["watchlist_clear is pending, needs at least provisional"]
    with pytest.raises(GateClosed) as closed:
        do_print(app)
    assert closed.value.code == "print-gate-closed"
    assert closed.value.reasons == ["watchlist_clear is pending, needs at least provisional"]
    assert app.stage is Stage.APPROVED and app.booklet_serial is None


def test_a_local_duplicate_puts_the_application_on_hold_for_the_central_to_decide() -> None:
    app = walk_to(Stage.CHECKED_IN)
    app.events.clear()
    reason = "open application MND-20261130-0007 (captured) for the same NIK"
    do_intake(app, dup=reason)
    assert app.stage is Stage.ON_HOLD
    assert app.held_from is Stage.INTAKE_DONE and app.hold_reason == f"possible duplicate: {reason}"
    assert app.clearances.not_duplicate is S.PENDING  # not flagged: the national check decides
    (hold,) = of_type(app, ev.ApplicationPutOnHold)
    assert hold.reason == f"possible duplicate: {reason}" and hold.booklet_to_void is None


# -- payment ---------------------------------------------------------------------------------


@pytest.mark.parametrize("code", ["81234567890123", "8123456789012345", "81234567890123A", "", "8123 5678901234"])
def test_a_billing_code_must_have_exactly_15_digits(code: str) -> None:
    app = walk_to(Stage.INTAKE_DONE)
    app.events.clear()
    with pytest.raises(InvalidInput) as e:
        app.issue_billing(code=code, amount=1, at=at(3), actor="cashier")
    assert e.value.code == "billing-code-format"
    assert app.billing_code is None and app.events == []


def test_a_still_valid_billing_code_cannot_be_replaced() -> None:
    app = walk_to(Stage.INTAKE_DONE)
    app.issue_billing(code=CODE, amount=950_000, at=at(3), actor="cashier")
    with pytest.raises(Conflict) as e:
        app.issue_billing(code=OTHER_CODE, amount=950_000, at=at(3 + 119), actor="cashier")
    assert e.value.code == "billing-still-valid"
    assert app.billing_code == CODE


def test_an_expired_billing_code_can_be_replaced_with_a_new_expiry() -> None:
    app = walk_to(Stage.INTAKE_DONE)
    app.issue_billing(code=CODE, amount=950_000, at=at(3), actor="cashier")
    app.issue_billing(code=OTHER_CODE, amount=950_000, at=at(3 + 121), actor="cashier")
    assert app.billing_code == OTHER_CODE
    assert app.billing_expires_at == at(3 + 121) + BILLING_VALIDITY
    assert [e.billing_code for e in of_type(app, ev.BillingIssued)] == [CODE, OTHER_CODE]


def test_a_billing_code_valid_for_a_custom_period_expires_then() -> None:
    app = walk_to(Stage.INTAKE_DONE)
    app.issue_billing(code=CODE, amount=1, at=at(3), actor="cashier", valid_for=timedelta(minutes=30))
    assert app.billing_expires_at == at(33)


def test_a_payment_with_another_code_is_refused() -> None:
    app = walk_to(Stage.INTAKE_DONE)
    app.issue_billing(code=CODE, amount=950_000, at=at(3), actor="cashier")
    with pytest.raises(InvalidInput) as e:
        app.record_payment(code=OTHER_CODE, receipt_ref="BANK-1", at=at(4), actor="cashier")
    assert e.value.code == "billing-code-mismatch"
    assert app.paid_at is None


def test_a_payment_after_the_code_expired_raises_billing_expired() -> None:
    app = walk_to(Stage.INTAKE_DONE)
    app.issue_billing(code=CODE, amount=950_000, at=at(3), actor="cashier")
    app.events.clear()
    with pytest.raises(Expired) as e:
        app.record_payment(code=CODE, receipt_ref="BANK-1", at=at(3 + 121), actor="cashier")
    assert e.value.code == "billing-expired" and e.value.status == 410
    assert app.paid_at is None and app.events == []
    assert app.clearances.payment_confirmed is S.PENDING


def test_a_payment_at_the_last_moment_of_validity_is_accepted() -> None:
    app = walk_to(Stage.INTAKE_DONE)
    app.issue_billing(code=CODE, amount=950_000, at=at(3), actor="cashier")
    app.record_payment(code=CODE, receipt_ref="BANK-1", at=at(3) + BILLING_VALIDITY, actor="cashier")
    assert app.paid_at == at(3) + BILLING_VALIDITY


def test_a_payment_needs_a_billing_code_first() -> None:
    app = walk_to(Stage.INTAKE_DONE)
    with pytest.raises(Conflict) as e:
        app.record_payment(code=CODE, receipt_ref="BANK-1", at=at(4), actor="cashier")
    assert e.value.code == "no-billing"


def test_a_payment_needs_a_receipt_reference() -> None:
    app = walk_to(Stage.INTAKE_DONE)
    app.issue_billing(code=CODE, amount=950_000, at=at(3), actor="cashier")
    with pytest.raises(InvalidInput) as e:
        app.record_payment(code=CODE, receipt_ref="   ", at=at(4), actor="cashier")
    assert e.value.code == "receipt-missing"
    assert app.paid_at is None


def test_a_paid_application_can_be_neither_billed_nor_paid_again() -> None:
    app = walk_to(Stage.INTAKE_DONE)
    do_pay(app)
    with pytest.raises(Conflict) as billed:
        app.issue_billing(code=OTHER_CODE, amount=1, at=at(300), actor="cashier")
    with pytest.raises(Conflict) as paid:
        app.record_payment(code=CODE, receipt_ref="BANK-2", at=at(5), actor="cashier")
    assert (billed.value.code, paid.value.code) == ("already-paid", "already-paid")
    assert app.payment_receipt_ref == "BANK-1"


def test_a_recorded_payment_is_a_provisional_clearance_until_the_treasury_confirms() -> None:
    app = walk_to(Stage.INTAKE_DONE)
    app.issue_billing(code=CODE, amount=950_000, at=at(3), actor="cashier")
    app.record_payment(code=CODE, receipt_ref="  BANK-1 ", at=at(4), actor="cashier")
    assert app.payment_receipt_ref == "BANK-1"
    assert app.clearances.payment_confirmed is S.PROVISIONAL


# -- capture and interview -------------------------------------------------------------------


def test_capture_requires_payment() -> None:
    app = walk_to(Stage.INTAKE_DONE)
    with pytest.raises(Conflict) as e:
        app.require_capture_open()
    assert e.value.code == "payment-required"
    with pytest.raises(Conflict) as e2:
        do_capture(app)
    assert e2.value.code == "payment-required"
    assert app.stage is Stage.INTAKE_DONE


def test_capture_needs_a_photo_and_every_finger() -> None:
    app = walk_to(Stage.INTAKE_DONE)
    do_pay(app)
    with pytest.raises(InvalidInput) as no_photo:
        app.complete_capture(has_photo=False, fingerprint_gaps=[], fingerprints=10, exceptions=0, at=at(5),
                             actor="bio")
    with pytest.raises(InvalidInput) as gaps:
        app.complete_capture(has_photo=True, fingerprint_gaps=["3", "7"], fingerprints=8, exceptions=0,
                             at=at(5), actor="bio")
    assert no_photo.value.code == "photo-missing"
    assert gaps.value.code == "fingerprints-incomplete" and gaps.value.extra["missing"] == ["3", "7"]
    assert app.stage is Stage.INTAKE_DONE


@pytest.mark.parametrize("notes", ["", "   ", "\n\t"])
def test_interview_notes_are_required(notes: str) -> None:
    app = walk_to(Stage.CAPTURED)
    app.events.clear()
    with pytest.raises(InvalidInput) as e:
        app.record_interview(notes=notes, ready_by=date(2026, 12, 4), at=at(6), actor="interviewer")
    assert e.value.code == "notes-missing"
    assert app.stage is Stage.CAPTURED and app.interviewed_at is None and app.events == []


# -- adjudication ----------------------------------------------------------------------------


def test_approval_is_refused_while_a_clearance_is_flagged() -> None:
    app = new_app(stage=Stage.INTERVIEWED, clearances=ALL_PROVISIONAL.with_state(C.NIK_VERIFIED, S.FLAGGED))
    with pytest.raises(Conflict) as e:
        do_approve(app)
    assert e.value.code == "flagged"
    assert "nik_verified" in str(e.value)
    assert app.stage is Stage.INTERVIEWED and app.decided_at is None and app.events == []


def test_a_rejection_needs_a_written_reason() -> None:
    app = walk_to(Stage.INTERVIEWED)
    with pytest.raises(InvalidInput) as e:
        app.reject(reason="  ", at=at(7), actor="supervisor")
    assert e.value.code == "reason-missing"
    app.reject(reason=" applicant holds a valid passport ", at=at(7), actor="supervisor")
    assert app.stage is Stage.REJECTED and app.decision_reason == "applicant holds a valid passport"
    assert of_type(app, ev.ApplicationRejected)[-1].reason == "applicant holds a valid passport"


def test_a_cancellation_without_a_reason_says_cancelled() -> None:
    app = walk_to(Stage.CHECKED_IN)
    app.cancel(reason=" ", at=at(3), actor="supervisor")
    assert app.stage is Stage.CANCELLED
    assert of_type(app, ev.ApplicationCancelled)[-1].reason == "cancelled"


# -- the print gate --------------------------------------------------------------------------


def test_the_default_print_policy_prints_on_provisional_clearances() -> None:
    app = walk_to(Stage.APPROVED)
    assert app.clearances.recorded_centrally is S.PENDING  # not required by the default policy
    assert app.print_gate(PrintPolicy()) == []
    do_print(app)
    assert app.stage is Stage.PRINTED


def test_the_print_gate_is_closed_before_approval() -> None:
    app = walk_to(Stage.INTERVIEWED)
    assert app.print_gate(PrintPolicy()) == ["application is interviewed, needs approved"]


def test_a_policy_without_provisional_printing_waits_for_confirmations() -> None:
    policy = PrintPolicy(allow_provisional=False)
    app = walk_to(Stage.APPROVED)
    blockers = app.print_gate(policy)
    assert blockers == [f"{k} is provisional, needs at least confirmed"
                        for k in ("nik_verified", "not_duplicate", "payment_confirmed", "watchlist_clear")]
    with pytest.raises(GateClosed) as closed:
        do_print(app, policy)
    assert closed.value.code == "print-gate-closed" and closed.value.reasons == blockers
    assert app.stage is Stage.APPROVED
    confirm(app, C.NIK_VERIFIED, C.WATCHLIST_CLEAR, C.NOT_DUPLICATE, C.PAYMENT_CONFIRMED)
    assert app.print_gate(policy) == []
    do_print(app, policy)
    assert app.stage is Stage.PRINTED


def test_a_flagged_clearance_blocks_printing_even_when_the_policy_does_not_require_it() -> None:
    policy = PrintPolicy(required=frozenset({C.NIK_VERIFIED}))
    app = new_app(stage=Stage.APPROVED, clearances=ALL_CONFIRMED.with_state(C.RECORDED_CENTRALLY, S.FLAGGED))
    assert app.print_gate(policy) == ["recorded_centrally is flagged by the central"]
    with pytest.raises(GateClosed):
        do_print(app, policy)
    assert app.booklet_serial is None


# -- quality check and ready -----------------------------------------------------------------


def test_a_failed_quality_check_returns_the_serial_and_goes_back_to_approved() -> None:
    app = walk_to(Stage.PRINTED)
    app.events.clear()
    serial = app.fail_quality_check(reason="smudged MRZ", at=at(9), actor="printer")
    assert serial == SERIAL
    assert app.stage is Stage.APPROVED
    assert (app.booklet_serial, app.mrz_line1, app.mrz_line2, app.printed_at) == (None, None, None, None)
    assert (app.issued_on, app.expires_on) == (None, None)
    (failed,) = app.events
    assert isinstance(failed, ev.QualityCheckFailed)
    assert failed.payload() == {"booklet_serial": SERIAL, "reason": "smudged MRZ"}
    app.print_booklet(serial="X1000002", mrz=MRZ, issued_on=date(2026, 11, 30), expires_on=date(2036, 11, 30),
                      policy=PrintPolicy(), at=at(10), actor="printer")
    assert app.booklet_serial == "X1000002"


def test_a_failed_quality_check_needs_a_reason() -> None:
    app = walk_to(Stage.PRINTED)
    with pytest.raises(InvalidInput) as e:
        app.fail_quality_check(reason=" ", at=at(9), actor="printer")
    assert e.value.code == "reason-missing"
    assert app.stage is Stage.PRINTED and app.booklet_serial == SERIAL


def test_it_becomes_ready_when_the_last_confirmation_arrives_after_the_quality_check() -> None:
    app = walk_to(Stage.QC_PASSED)
    app.events.clear()
    kinds = list(ClearanceKind)
    assert confirm(app, *kinds[:-1]) == [True] * 4
    assert app.stage is Stage.QC_PASSED
    assert not of_type(app, ev.PassportReady)
    assert confirm(app, kinds[-1]) == [True]
    assert app.stage is Stage.READY
    assert names(app)[-2:] == ["ClearanceChanged", "PassportReady"]
    assert of_type(app, ev.PassportReady)[0].booklet_serial == SERIAL


def test_it_becomes_ready_at_the_quality_check_when_everything_was_already_confirmed() -> None:
    app = walk_to(Stage.PRINTED)
    confirm(app)
    assert app.stage is Stage.PRINTED  # confirmed but not checked yet
    app.events.clear()
    do_qc(app)
    assert app.stage is Stage.READY
    assert names(app) == ["QualityCheckPassed", "PassportReady"]


def test_confirmations_before_printing_do_not_skip_the_print_or_the_quality_check() -> None:
    app = walk_to(Stage.APPROVED)
    confirm(app)
    assert app.stage is Stage.APPROVED
    do_print(app)
    assert app.stage is Stage.PRINTED
    do_qc(app)
    assert app.stage is Stage.READY


def test_it_stays_qc_passed_while_one_clearance_is_only_provisional() -> None:
    app = walk_to(Stage.QC_PASSED)
    confirm(app, C.NIK_VERIFIED, C.WATCHLIST_CLEAR, C.NOT_DUPLICATE, C.RECORDED_CENTRALLY)
    assert app.stage is Stage.QC_PASSED
    with pytest.raises(GateClosed) as closed:
        app.hand_over(holder(), at=at(30), actor="pickup")
    assert closed.value.code == "handover-gate-closed"
    assert closed.value.reasons == ["payment_confirmed is provisional, needs confirmed"]


# -- handover --------------------------------------------------------------------------------


def test_the_holder_collects_the_passport() -> None:
    app = ready_app()
    app.hand_over(holder(), at=at(30), actor="pickup")
    assert app.stage is Stage.HANDED_OVER and app.handover == holder()


def test_the_handover_gate_needs_every_clearance_confirmed() -> None:
    app = new_app(stage=Stage.READY, booklet_serial=SERIAL,
                  clearances=ALL_CONFIRMED.with_state(C.RECORDED_CENTRALLY, S.PENDING))
    with pytest.raises(GateClosed) as closed:
        app.hand_over(holder(), at=at(30), actor="pickup")
    assert closed.value.reasons == ["recorded_centrally is pending, needs confirmed"]
    assert app.stage is Stage.READY and app.handed_over_at is None


def test_a_family_member_on_the_same_kk_collects_the_passport() -> None:
    app = ready_app()
    app.hand_over(Handover(RecipientKind.FAMILY_SAME_KK, "Budi Rahmawan", "KTP", id_nik="3171011203850002",
                           recipient_kk_number=KK), at=at(30), actor="pickup")
    assert app.stage is Stage.HANDED_OVER
    assert of_type(app, ev.PassportHandedOver)[0].recipient_kind == "family_same_kk"


def test_a_family_member_on_another_kk_is_refused() -> None:
    app = ready_app()
    with pytest.raises(Conflict) as e:
        app.hand_over(Handover(RecipientKind.FAMILY_SAME_KK, "Budi Rahmawan", "KTP", id_nik="3171011203850002",
                               recipient_kk_number="7171011299999999"), at=at(30), actor="pickup")
    assert e.value.code == "kk-mismatch"
    assert app.stage is Stage.READY and app.handover is None and app.events == []


def test_a_family_member_is_refused_when_the_applicant_has_no_kk_number_on_record() -> None:
    app = ready_app()
    app.kk_number = ""
    with pytest.raises((Conflict, InvalidInput)):
        app.hand_over(Handover(RecipientKind.FAMILY_SAME_KK, "Budi Rahmawan", "KTP", id_nik="3171011203850002",
                               recipient_kk_number=""), at=at(30), actor="pickup")
    assert app.stage is Stage.READY


def test_a_power_of_attorney_needs_the_letter() -> None:
    app = ready_app()
    with pytest.raises(InvalidInput) as e:
        app.hand_over(Handover(RecipientKind.POWER_OF_ATTORNEY, "Andi Pangerang", "KTP", id_nik="7371012504750009",
                               attorney_letter_ref="  "), at=at(30), actor="pickup")
    assert e.value.code == "attorney-letter-missing"
    assert app.stage is Stage.READY
    app.hand_over(Handover(RecipientKind.POWER_OF_ATTORNEY, "Andi Pangerang", "KTP", id_nik="7371012504750009",
                           attorney_letter_ref="SK-2026/11/0042"), at=at(31), actor="pickup")
    assert app.stage is Stage.HANDED_OVER


def test_post_delivery_needs_a_tracking_number_and_an_address() -> None:
    app = ready_app()
    for tracking, address in [(None, "Jl. Sam Ratulangi 1, Manado"), ("POS123", None), ("", "Jl. X")]:
        with pytest.raises(InvalidInput) as e:
            app.hand_over(Handover(RecipientKind.POST, "Siti Rahmawati", "", post_tracking=tracking,
                                   post_address=address), at=at(30), actor="pickup")
        assert e.value.code == "post-details-missing"
    assert app.stage is Stage.READY
    app.hand_over(Handover(RecipientKind.POST, "Siti Rahmawati", "", post_tracking="POS123",
                           post_address="Jl. Sam Ratulangi 1, Manado"), at=at(31), actor="pickup")
    assert app.stage is Stage.HANDED_OVER  # no ID is checked at a post office counter


def test_a_handover_records_the_recipient_and_which_id_was_checked() -> None:
    app = ready_app()
    with pytest.raises(InvalidInput) as nameless:
        app.hand_over(Handover(RecipientKind.HOLDER, " ", "KTP"), at=at(30), actor="pickup")
    with pytest.raises(InvalidInput) as unchecked:
        app.hand_over(Handover(RecipientKind.HOLDER, "Siti Rahmawati", " "), at=at(30), actor="pickup")
    assert (nameless.value.code, unchecked.value.code) == ("recipient-missing", "id-not-checked")
    assert app.stage is Stage.READY


def test_a_handover_to_the_holder_with_another_persons_name_is_refused() -> None:
    app = ready_app()
    with pytest.raises(Conflict) as e:
        app.hand_over(Handover(RecipientKind.HOLDER, "Rudi Hartono", "KTP", id_nik=NIK), at=at(30), actor="pickup")
    assert e.value.code == "recipient-not-holder"
    assert e.value.extra["reasons"] == ["the recipient's name is not the holder's name"]
    assert app.stage is Stage.READY and app.handover is None and app.events == []


def test_a_handover_to_the_holder_on_someone_elses_ktp_is_refused() -> None:
    app = ready_app()
    with pytest.raises(Conflict) as e:
        app.hand_over(Handover(RecipientKind.HOLDER, "Rudi Hartono", "KTP", id_nik="3171011203850002"),
                      at=at(30), actor="pickup")
    assert e.value.code == "recipient-not-holder"
    assert e.value.extra["reasons"] == ["the NIK on the KTP shown is not the holder's NIK",
                                        "the recipient's name is not the holder's name"]
    assert NIK not in str(e.value) and "Rudi" not in str(e.value)  # a refusal names no one
    assert app.stage is Stage.READY and app.handover is None


def test_a_handover_in_person_needs_the_nik_on_the_ktp_shown() -> None:
    app = ready_app()
    for kind in (RecipientKind.HOLDER, RecipientKind.FAMILY_SAME_KK, RecipientKind.POWER_OF_ATTORNEY):
        with pytest.raises(InvalidInput) as e:
            app.hand_over(Handover(kind, "Siti Rahmawati", "KTP", recipient_kk_number=KK,
                                   attorney_letter_ref="SK-1"), at=at(30), actor="pickup")
        assert e.value.code == "recipient-nik-missing"
    with pytest.raises(InvalidInput) as malformed:
        app.hand_over(Handover(RecipientKind.HOLDER, "Siti Rahmawati", "KTP", id_nik="31710145"),
                      at=at(30), actor="pickup")
    assert malformed.value.code == "nik-length"
    assert app.stage is Stage.READY


def test_the_holders_name_is_compared_as_written_on_the_ktp() -> None:
    """The KTP prints names in capitals without accents; spacing and case are not a mismatch."""
    app = ready_app()
    app.hand_over(Handover(RecipientKind.HOLDER, "  SITI   RAHMAWATI ", "KTP", id_nik=NIK), at=at(30), actor="pickup")
    assert app.stage is Stage.HANDED_OVER
    assert app.handover.recipient_name == "SITI RAHMAWATI"  # recorded in its normalised form


def test_a_family_member_shows_their_own_ktp_not_the_holders() -> None:
    app = ready_app()
    with pytest.raises(Conflict) as e:
        app.hand_over(Handover(RecipientKind.FAMILY_SAME_KK, "Budi Rahmawan", "KTP", id_nik=NIK,
                               recipient_kk_number=KK), at=at(30), actor="pickup")
    assert e.value.code == "recipient-nik-is-holder"
    assert app.stage is Stage.READY


def test_a_recipient_name_a_passport_could_not_print_is_refused() -> None:
    app = ready_app()
    with pytest.raises(InvalidInput) as e:
        app.hand_over(Handover(RecipientKind.HOLDER, "Siti\u202eRahmawati", "KTP", id_nik=NIK), at=at(30),
                      actor="pickup")
    assert (e.value.code, e.value.extra["field"]) == ("name-character", "recipient_name")
    assert app.stage is Stage.READY


# -- central decisions -----------------------------------------------------------------------


@pytest.mark.parametrize("stage", [Stage.PRINTED, Stage.QC_PASSED, Stage.READY])
def test_a_central_flag_on_a_printed_passport_holds_it_and_voids_the_booklet(stage: Stage) -> None:
    app = walk_to(Stage.QC_PASSED) if stage is not Stage.PRINTED else walk_to(Stage.PRINTED)
    if stage is Stage.READY:
        confirm(app)
    assert app.stage is stage
    app.events.clear()
    changed = app.apply_clearance(C.WATCHLIST_CLEAR, S.FLAGGED, reason="prevention order (KPK)",
                                  source="central", at=at(40), actor="central")
    assert changed is True
    assert app.stage is Stage.ON_HOLD and app.held_from is stage
    assert app.booklet_serial is None and app.mrz_line1 is None and app.printed_at is None
    assert app.hold_reason == "watchlist_clear flagged: prevention order (KPK)"
    assert names(app) == ["ClearanceChanged", "ApplicationPutOnHold"]
    hold = of_type(app, ev.ApplicationPutOnHold)[0]
    assert hold.booklet_to_void == SERIAL
    assert hold.reason == "watchlist_clear flagged: prevention order (KPK)"


def test_a_central_flag_before_printing_holds_without_a_booklet_to_void() -> None:
    app = walk_to(Stage.APPROVED)
    app.events.clear()
    app.apply_clearance(C.NOT_DUPLICATE, S.FLAGGED, reason="valid passport X0999999", source="central",
                        at=at(40), actor="central")
    assert app.stage is Stage.ON_HOLD and app.held_from is Stage.APPROVED
    assert of_type(app, ev.ApplicationPutOnHold)[0].booklet_to_void is None


def test_a_hold_is_released_to_approved_when_it_held_a_booklet() -> None:
    app = walk_to(Stage.QC_PASSED)
    confirm(app)
    app.apply_clearance(C.WATCHLIST_CLEAR, S.FLAGGED, reason="order", source="central", at=at(40),
                        actor="central")
    with pytest.raises(Conflict) as still:
        app.release_hold(at=at(41), actor="supervisor")
    assert still.value.code == "flagged" and app.stage is Stage.ON_HOLD
    assert app.apply_clearance(C.WATCHLIST_CLEAR, S.CONFIRMED, reason="order lifted", source="central",
                               at=at(42), actor="central", lifts_flag=True) is True
    assert app.stage is Stage.ON_HOLD  # a supervisor releases it, not the central
    app.events.clear()
    app.release_hold(at=at(43), actor="supervisor")
    assert app.stage is Stage.APPROVED
    assert (app.held_from, app.hold_reason) == (None, None)
    (released,) = app.events
    assert isinstance(released, ev.HoldReleased) and released.back_to == "approved"
    do_print(app)  # goes back to the print queue with a new booklet
    assert app.stage is Stage.PRINTED


def test_a_hold_at_intake_is_released_back_to_intake_done() -> None:
    app = walk_to(Stage.CHECKED_IN)
    do_intake(app, dup="open application MND-20261130-0007")
    app.apply_clearance(C.NOT_DUPLICATE, S.CONFIRMED, reason="the other application was cancelled",
                        source="central", at=at(10), actor="central")
    app.release_hold(at=at(11), actor="supervisor")
    assert app.stage is Stage.INTAKE_DONE
    assert of_type(app, ev.HoldReleased)[0].back_to == "intake_done"


def test_a_flag_on_a_held_application_does_not_hold_it_twice() -> None:
    app = walk_to(Stage.APPROVED)
    app.apply_clearance(C.WATCHLIST_CLEAR, S.FLAGGED, reason="a", source="central", at=at(40), actor="central")
    app.apply_clearance(C.NIK_VERIFIED, S.FLAGGED, reason="b", source="central", at=at(41), actor="central")
    assert len(of_type(app, ev.ApplicationPutOnHold)) == 1
    assert app.held_from is Stage.APPROVED


def test_a_late_provisional_never_downgrades_a_confirmation() -> None:
    app = walk_to(Stage.INTAKE_DONE)
    confirm(app, C.NIK_VERIFIED)
    app.events.clear()
    changed = app.apply_clearance(C.NIK_VERIFIED, S.PROVISIONAL, reason="late local check", source="office",
                                  at=at(30), actor="frontdesk")
    assert changed is False
    assert app.clearances.nik_verified is S.CONFIRMED and app.events == []


def test_a_reviewed_confirmation_may_lift_a_flag_but_an_automatic_one_or_a_provisional_may_not() -> None:
    app = walk_to(Stage.APPROVED)
    app.apply_clearance(C.WATCHLIST_CLEAR, S.FLAGGED, reason="x", source="central", at=at(40), actor="central")
    app.events.clear()
    assert app.apply_clearance(C.WATCHLIST_CLEAR, S.PROVISIONAL, reason="snapshot", source="office",
                               at=at(41), actor="frontdesk") is False
    assert app.clearances.watchlist_clear is S.FLAGGED and app.events == []
    assert app.apply_clearance(C.WATCHLIST_CLEAR, S.CONFIRMED, reason="re-check", source="central",
                               at=at(42), actor="central") is False
    assert app.apply_clearance(C.WATCHLIST_CLEAR, S.CONFIRMED, reason="lifted", source="central",
                               at=at(42), actor="central", lifts_flag=True) is True
    assert app.clearances.watchlist_clear is S.CONFIRMED
    (change,) = app.events
    assert (change.kind, change.old, change.new, change.source) == ("watchlist_clear", "flagged", "confirmed",
                                                                     "central")


@pytest.mark.parametrize("state", [S.PROVISIONAL, S.CONFIRMED, S.FLAGGED])
def test_a_decision_delivered_twice_changes_nothing_the_second_time(state: ClearanceState) -> None:
    app = walk_to(Stage.APPROVED)
    app.clearances = app.clearances.with_state(C.RECORDED_CENTRALLY, S.PENDING)
    first = app.apply_clearance(C.RECORDED_CENTRALLY, state, reason="r", source="central", at=at(40),
                                actor="central")
    snapshot = (app.stage, app.clearances, len(app.events), app.updated_at)
    second = app.apply_clearance(C.RECORDED_CENTRALLY, state, reason="r", source="central", at=at(41),
                                 actor="central")
    assert (first, second) == (True, False)
    assert (app.stage, app.clearances, len(app.events), app.updated_at) == snapshot


def test_a_flag_after_handover_or_cancellation_is_recorded_without_a_hold() -> None:
    # Nothing is dropped silently: the flag is on record (the border needs it), but a closed
    # application has nothing left to hold.
    done = ready_app()
    done.hand_over(holder(), at=at(30), actor="pickup")
    cancelled = walk_to(Stage.CHECKED_IN)
    cancelled.cancel(reason="no show", at=at(3), actor="supervisor")
    for app in (done, cancelled):
        stage, events = app.stage, len(app.events)
        assert app.apply_clearance(C.WATCHLIST_CLEAR, S.FLAGGED, reason="late order", source="central",
                                   at=at(60), actor="central") is True
        assert app.stage is stage
        assert app.clearances.watchlist_clear is S.FLAGGED
        assert [e.name for e in app.events[events:]] == ["ClearanceChanged"]


def test_a_flag_on_a_rejected_application_is_recorded_but_does_not_hold_it() -> None:
    app = walk_to(Stage.INTERVIEWED)
    app.reject(reason="no", at=at(7), actor="supervisor")
    app.events.clear()
    assert app.apply_clearance(C.NIK_VERIFIED, S.FLAGGED, reason="mismatch", source="central", at=at(8),
                               actor="central") is True
    assert app.stage is Stage.REJECTED
    assert names(app) == ["ClearanceChanged"]


# -- drain order after an outage ---------------------------------------------------------------

def test_the_drain_order_is_medical_then_hajj_then_travel_by_date_then_the_rest() -> None:
    from kanim.domain.application import Priority, drain_priority

    today = date(2026, 11, 30)
    order = [
        drain_priority(Priority.MEDICAL, None, today),
        drain_priority(Priority.HAJJ_UMRAH, date(2027, 5, 1), today),
        drain_priority(Priority.TRAVEL, date(2026, 12, 2), today),
        drain_priority(Priority.NONE, date(2026, 12, 20), today),  # a near date lifts it into travel
        drain_priority(Priority.TRAVEL, None, today),
        drain_priority(Priority.NONE, date(2027, 6, 1), today),  # far away: nothing urgent
    ]
    assert order == sorted(order, reverse=True) and len(set(order)) == len(order)
    assert drain_priority(Priority.NONE, None, today) == order[-1] == 0
