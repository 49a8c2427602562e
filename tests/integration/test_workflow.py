"""One application through every desk on a real database (SQLite, and PostgreSQL when set):
each step's transaction writes the change, its outbox rows and its audit rows together."""

from __future__ import annotations

from datetime import date

import pytest
from sqlalchemy import func, select

from kanim.domain.application import Handover, RecipientKind, Stage
from kanim.domain.errors import Conflict, Expired, GateClosed, InvalidInput
from kanim.domain.mrz import verify_td3
from kanim.domain.passport import ApplicationType, DocumentKind, PassportKind
from kanim.domain.people import Sex
from kanim.link.relay import sync_once
from kanim.office import booking, capture, handover, intake, payment, printing
from kanim.security.audit import verify_chain
from kanim.seed import advance, face_photo, fingerprint_image
from kanim.store import tables as t

SITI = booking.Applicant(full_name="Siti Rahmawati", nik="3171014508900001", birth_date=date(1990, 8, 5),
                         sex=Sex.F, app_type=ApplicationType.NEW, passport_kind=PassportKind.ELECTRONIC,
                         kk_number="7171011200000001")


def book_one(office, applicant=SITI):  # noqa: ANN001, ANN201
    return booking.book(office, account_ref="acc-1", day=date(2026, 11, 30), slot="08:00",
                        applicants=[applicant], actor="frontdesk")[0]


def count(office, table, **where) -> int:  # noqa: ANN001
    with office.uow() as uow:
        q = select(func.count()).select_from(table)
        for k, v in where.items():
            q = q.where(table.c[k] == v)
        return uow.session.execute(q).scalar_one()


def test_one_application_goes_from_booking_to_handover(office, central) -> None:  # noqa: ANN001
    printing.receive_booklets(office, first="X1000001", last="X1000010", actor="printer")
    app = book_one(office)
    advance(office, app.id, "printed", app_type=app.app_type)
    with office.uow() as uow:
        printed = uow.applications.get(app.id)
    assert printed.stage is Stage.PRINTED
    assert printed.booklet_serial == "X1000001"
    assert verify_td3(printed.mrz_line1, printed.mrz_line2) == []
    assert printed.clearances.payment_confirmed.value == "provisional"

    printing.quality_check(office, application_id=app.id, passed=True, actor="printer")
    with pytest.raises(GateClosed) as gate:
        handover.hand_over(office, application_id=app.id, actor="pickup",
                           handover=Handover(RecipientKind.HOLDER, "Siti Rahmawati", "KTP", id_nik=SITI.nik))
    assert any("recorded_centrally" in r for r in gate.value.reasons)

    sync_once(office, central)
    with office.uow() as uow:
        assert uow.applications.get(app.id).stage is Stage.READY
    done = handover.hand_over(office, application_id=app.id, actor="pickup",
                              handover=Handover(RecipientKind.HOLDER, "Siti Rahmawati", "KTP", id_nik=SITI.nik))
    assert done.stage is Stage.HANDED_OVER
    assert count(office, t.outbox, subject=app.id, status="pending") >= 1  # the handover itself
    with office.uow() as uow:
        assert verify_chain(uow.session).ok
    report = printing.accountability(office)
    assert (report.received, report.issued, report.in_stock, report.balanced) == (10, 1, 9, True)


def test_every_transition_writes_outbox_and_audit_rows_in_its_transaction(office) -> None:  # noqa: ANN001
    app = book_one(office)
    booking.check_in(office, application_id=app.id, actor="frontdesk")
    assert count(office, t.outbox, subject=app.id) == 2  # booked, checked in
    assert count(office, t.audit_event, subject=app.id) == 2


def test_a_failed_step_leaves_nothing_half_written(office) -> None:  # noqa: ANN001
    app = book_one(office)
    before = (count(office, t.outbox), count(office, t.audit_event))
    booking.check_in(office, application_id=app.id, actor="frontdesk")
    with pytest.raises(InvalidInput) as e:  # documents missing
        intake.complete_intake(office, application_id=app.id, actor="frontdesk")
    assert e.value.code == "documents-missing"
    with office.uow() as uow:
        assert uow.applications.get(app.id).stage is Stage.CHECKED_IN
    assert count(office, t.outbox) == before[0] + 1  # only the check-in


def test_an_expired_billing_code_is_refused_and_a_new_one_can_be_issued(office, clock) -> None:  # noqa: ANN001
    app = book_one(office)
    advance(office, app.id, "intake_done", app_type=app.app_type)
    billed, quote = payment.issue_billing(office, application_id=app.id, actor="cashier")
    assert quote.total == 950_000  # electronic, 10 years (adult)
    clock.advance(hours=2, minutes=1)
    with pytest.raises(Expired):
        payment.record_payment(office, billing_code=billed.billing_code, receipt_ref="R1", actor="cashier")
    again, _ = payment.issue_billing(office, application_id=app.id, actor="cashier")
    assert again.billing_code != billed.billing_code
    paid = payment.record_payment(office, billing_code=again.billing_code, receipt_ref="R2", actor="cashier")
    assert paid.paid_at is not None


def test_a_booklet_cannot_be_used_twice_or_outside_the_stock(office) -> None:  # noqa: ANN001
    printing.receive_booklets(office, first="X1000001", last="X1000002", actor="printer")
    a, b = book_one(office), book_one(office, booking.Applicant(
        full_name="Budi Santoso", nik="3578011203850002", birth_date=date(1985, 3, 12), sex=Sex.M,
        app_type=ApplicationType.NEW, passport_kind=PassportKind.ORDINARY))
    for app in (a, b):
        advance(office, app.id, "approved", app_type=app.app_type)
    printing.print_passport(office, application_id=a.id, serial="X1000001", actor="printer")
    with pytest.raises(Conflict) as used:
        printing.print_passport(office, application_id=b.id, serial="X1000001", actor="printer")
    assert used.value.code == "booklet-not-in-stock"
    with pytest.raises(Conflict) as outside:
        printing.print_passport(office, application_id=b.id, serial="X9999999", actor="printer")
    assert outside.value.code == "booklet-out-of-range"
    with office.uow() as uow:
        assert uow.applications.get(b.id).stage is Stage.APPROVED


def test_a_failed_quality_check_spoils_the_booklet_and_requeues_the_job(office) -> None:  # noqa: ANN001
    printing.receive_booklets(office, first="X1000001", last="X1000005", actor="printer")
    app = book_one(office)
    advance(office, app.id, "printed", app_type=app.app_type)
    back = printing.quality_check(office, application_id=app.id, passed=False, reason="smudged MRZ", actor="printer")
    assert back.stage is Stage.APPROVED and back.booklet_serial is None
    again = printing.print_passport(office, application_id=app.id, actor="printer")
    assert again.booklet_serial == "X1000002"
    r = printing.accountability(office)
    assert (r.issued, r.spoiled, r.in_stock, r.spoiled_by_reason) == (1, 1, 3, {"qc_failure": 1})
    assert r.balanced


def test_a_central_flag_after_printing_voids_the_booklet(office, central) -> None:  # noqa: ANN001
    printing.receive_booklets(office, first="X1000001", last="X1000005", actor="printer")
    central.flag_niks[SITI.nik] = "prevention order issued after intake"
    app = book_one(office)
    advance(office, app.id, "printed", app_type=app.app_type)
    sync_once(office, central)
    with office.uow() as uow:
        held = uow.applications.get(app.id)
    assert held.stage is Stage.ON_HOLD and held.booklet_serial is None
    r = printing.accountability(office)
    assert r.spoiled_by_reason == {"voided_after_flag": 1} and r.balanced


def test_a_decision_delivered_twice_is_applied_once(office, central) -> None:  # noqa: ANN001
    app = book_one(office)
    advance(office, app.id, "intake_done", app_type=app.app_type)
    sync_once(office, central)
    from kanim.link import inbox
    from kanim.protocol.wire import InboxPage

    outcomes = inbox.apply_page(office, InboxPage(central.events, len(central.events)))
    assert outcomes == {"duplicate": len(central.events)}


def test_the_watch_list_snapshot_rejects_a_listed_applicant_at_intake(office, clock) -> None:  # noqa: ANN001
    from kanim.office import admin

    clock.advance(minutes=5)
    admin.load_watchlist_snapshot(office, taken_at=clock.now(), source="test", actor="sup",
                                  orders=[admin.WatchlistOrder("nik", SITI.nik, "prevention", "KPK",
                                                               date(2026, 11, 1), date(2027, 4, 30), "case 12")])
    app = book_one(office)
    advance(office, app.id, "intake_done", app_type=app.app_type)
    with office.uow() as uow:
        got = uow.applications.get(app.id)
    assert got.stage is Stage.REJECTED
    assert "KPK" in got.decision_reason and "case 12" in got.decision_reason


def test_biometric_reads_are_audited(office) -> None:  # noqa: ANN001
    app = book_one(office)
    advance(office, app.id, "captured", app_type=app.app_type)
    data = capture.read_biometric(office, application_id=app.id, kind="face", position=0, actor="sup",
                                  purpose="check")
    assert data[:3] == b"\xff\xd8\xff"
    assert count(office, t.audit_event, action="BiometricRead", subject=app.id) == 1


def test_biometric_files_are_encrypted_at_rest(office) -> None:  # noqa: ANN001
    app = book_one(office)
    advance(office, app.id, "captured", app_type=app.app_type)
    raw = b"".join(p.read_bytes() for p in office.vault.root.glob("*/*.bin"))
    assert face_photo()[:200] not in raw and fingerprint_image()[100:300] not in raw
    assert b"JFIF" not in raw and b"IHDR" not in raw
