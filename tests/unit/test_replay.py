"""The fold of an office's history onto its rows (kanim/backup/replay.py), on the paths the
integration tests do not walk: a failed quality check, a flag that voids a print, a hold
released, a handover, a cancellation, booklets spoiled, and operations it must not guess at."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from itertools import count

from kanim.backup.replay import fold

T0 = datetime(2026, 12, 1, 1, 0, tzinfo=UTC)
_seq = count(1)


def op(name: str, subject: str = "a1", minutes: int = 0, *, of: str | None = None, **payload: object) -> dict:
    """An operation as the history gives it; `of` is the payload's own subject where it is not
    the operation's (a booklet spoiled in its application's order)."""
    n = next(_seq)
    return {"id": f"op{n}", "seq": n, "subject": subject, "op": name, "payload": {
        "subject": of or subject, "at": (T0 + timedelta(minutes=minutes)).isoformat(), "actor": "desk", **payload}}


BOOKED = dict(number="MND-20261201-0001", app_type="new", passport_kind="regular", full_name="Siti Rahmawati",
              nik="3171014508900001", birth_date="1990-08-05", sex="F", kk_number="7171011200000001")
PRINTED = dict(issued_on="2026-12-01", expires_on="2036-12-01")


def test_a_failed_check_a_reprint_a_voiding_flag_and_a_release_end_where_the_desks_left_it() -> None:
    history = [
        op("ApplicationBooked", **BOOKED),
        op("ApplicationApproved", minutes=1),
        op("PassportPrinted", minutes=2, booklet_serial="X1000001", **PRINTED),
        op("QualityCheckFailed", minutes=3, booklet_serial="X1000001", reason="smudged"),
        op("BookletSpoiled", "a1", minutes=3, of="X1000001", reason="qc_failure", application_id="a1"),
        op("PassportPrinted", minutes=4, booklet_serial="X1000002", **PRINTED),
        op("ClearanceChanged", minutes=5, kind="watchlist_clear", old="provisional", new="flagged", reason="order"),
        op("ApplicationPutOnHold", minutes=5, reason="watchlist_clear flagged", booklet_to_void="X1000002"),
        op("ClearanceChanged", minutes=6, kind="watchlist_clear", old="flagged", new="confirmed", reason="lifted"),
        op("HoldReleased", minutes=7, back_to="approved"),
    ]
    out = fold(history, {}, office_code="MND")
    row = out.applications["a1"]
    assert out.skipped == [] and out.changed == {"a1"}
    assert row["stage"] == "approved" and row["booklet_serial"] is None and row["issued_on"] is None
    assert row["printed_at"] is None
    assert row["watchlist_clear"] == "confirmed" and row["held_from"] is None and row["hold_reason"] is None
    assert row["updated_at"] == T0 + timedelta(minutes=7) and row["created_at"] == T0
    assert out.booklets["X1000001"]["status"] == "spoiled" and out.booklets["X1000001"]["spoil_reason"] == "qc_failure"
    assert out.booklets["X1000002"] == {"status": "issued", "application_id": "a1", "issued_at": T0 + timedelta(minutes=4)}


def test_a_handover_and_a_cancellation() -> None:
    history = [op("ApplicationBooked", **BOOKED), op("PassportReady", minutes=1, booklet_serial="X1"),
               op("PassportHandedOver", minutes=2, booklet_serial="X1", recipient_kind="holder"),
               op("ApplicationBooked", "a2", **{**BOOKED, "number": "MND-20261201-0002"}),
               op("ApplicationCancelled", "a2", minutes=3, reason="")]
    out = fold(history, {}, office_code="MND")
    assert out.applications["a1"]["stage"] == "handed_over"
    assert out.applications["a1"]["handed_over_at"] == T0 + timedelta(minutes=2)
    assert out.applications["a2"]["stage"] == "cancelled" and out.applications["a2"]["decision_reason"] == "cancelled"


def test_the_office_rows_are_the_starting_point_and_are_not_changed_in_place() -> None:
    held = {"a1": {"id": "a1", "stage": "captured", "full_name": "Siti", "birth_date": "1990-08-05", "sex": "F"}}
    out = fold([op("ApplicationBooked", **BOOKED), op("InterviewRecorded", minutes=1, ready_by="2026-12-05")],
               held, office_code="MND")
    assert held["a1"]["stage"] == "captured"  # the argument is left as it was
    assert out.applications["a1"]["stage"] == "interviewed"
    assert out.applications["a1"]["full_name"] == "Siti"  # its booking, seen again, changes nothing


def test_an_operation_of_an_application_the_history_never_opened_is_skipped_not_guessed() -> None:
    stray = op("ApplicationApproved", "ghost")
    out = fold([stray], {}, office_code="MND")
    assert out.applications == {} and out.changed == set()
    assert out.skipped == [(stray["id"], "application ghost is not at the office and its opening is not in the history")]


def test_a_later_capture_replaces_an_earlier_one_position_by_position() -> None:
    first = op("BiometricsCaptured", minutes=1, biometrics=[{"position": 0, "sha256": "a" * 64, "data": "x"},
                                                             {"position": 1, "sha256": "b" * 64}])
    second = op("BiometricsCaptured", minutes=2, biometrics=[{"position": 0, "sha256": "c" * 64, "data": "y"}])
    out = fold([op("ApplicationBooked", **BOOKED), first, second], {}, office_code="MND")
    positions = out.captures["a1"]
    assert positions[0]["sha256"] == "c" * 64 and positions[0]["captured_at"] == T0 + timedelta(minutes=2)
    assert positions[1]["sha256"] == "b" * 64
