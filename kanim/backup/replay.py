"""An office's own operations, as the central gives them back, folded onto the office's rows.

Pure: no database, no vault. kanim/backup/rebuild.py loads the rows a page of history touches,
folds the page with `fold` and writes what it returns. Each operation does to the rows what the
desk that recorded it did (kanim/domain/application.py), as far as the operation tells: what
never left the office — interview notes, who collected a passport and with which KTP, a
booking's contact data, document scans — cannot come back, and stays empty.

Operations arrive in the office's own sequence order, so an application's history is replayed
in the order it happened; an operation whose application is not there (its ApplicationBooked
was applied before the central kept history) is skipped with its reason, never guessed.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from kanim.domain.application import WITH_BOOKLET, Stage
from kanim.domain.clearances import ClearanceKind
from kanim.protocol.operations import Op

PENDING = "pending"
FACE, FINGERPRINT = "face", "fingerprint"
# Why an application's identity may be missing: it was booked by an office before its
# ApplicationBooked carried the applicant, and never reached intake.
NO_IDENTITY = "the central holds no identity for it (booked before offices sent one, no intake yet)"


@dataclass
class Folded:
    """What a page of history did to the office's rows (each a table's columns by name)."""

    applications: dict[str, dict[str, Any]]  # by id: every row the page touched, in its new state
    captures: dict[str, dict[int, dict[str, Any]]] = field(default_factory=dict)  # id → position → item
    batches: list[dict[str, Any]] = field(default_factory=list)  # booklet batches received
    booklets: dict[str, dict[str, Any]] = field(default_factory=dict)  # serial → the columns that changed
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (operation id, why)
    changed: set[str] = field(default_factory=set)  # application ids whose row changed


def fold(operations: Iterable[dict[str, Any]], applications: dict[str, dict[str, Any]], *,
         office_code: str) -> Folded:
    """Replay `operations` (id, seq, subject, op, payload) onto `applications` (the rows they
    name, as the office holds them; a copy is changed, never the argument)."""
    out = Folded({k: dict(v) for k, v in applications.items()})
    for o in operations:
        handler = _HANDLERS.get(o["op"])
        if handler is None:
            continue  # an operation that changes no office row (a chip's record, say)
        p = o["payload"]
        at = datetime.fromisoformat(p["at"])
        why = handler(out, o["subject"], p, at, office_code)
        if why:
            out.skipped.append((o["id"], why))
    for app_id in list(out.changed):
        row = out.applications[app_id]
        if not row.get("full_name") or row.get("birth_date") is None or not row.get("sex"):
            out.changed.discard(app_id)
            out.skipped.append((app_id, NO_IDENTITY))
    return out


# -- applications ------------------------------------------------------------------------------

def _day(v: Any) -> date | None:
    return date.fromisoformat(v) if v else None


def _app(out: Folded, subject: str) -> dict[str, Any] | None:
    return out.applications.get(subject)


def _change(out: Folded, subject: str, at: datetime, **values: Any) -> str | None:
    row = _app(out, subject)
    if row is None:
        return f"application {subject} is not at the office and its opening is not in the history"
    row.update(values, updated_at=at)
    out.changed.add(subject)
    return None


def _booked(out: Folded, subject: str, p: dict[str, Any], at: datetime, office_code: str) -> str | None:
    if subject in out.applications:
        return None  # the office has it already (restored from its backup)
    out.applications[subject] = dict(
        id=subject, number=p["number"], office_code=office_code, booking_id=None,
        full_name=p.get("full_name", ""), nik=p.get("nik", ""), birth_date=_day(p.get("birth_date")),
        birth_place=p.get("birth_place", ""), sex=p.get("sex") or "", kk_number=p.get("kk_number", ""),
        app_type=p["app_type"], passport_kind=p["passport_kind"], appointment_on=_day(p.get("appointment_on")),
        priority=p.get("priority") or "none", travel_date=_day(p.get("travel_date")), stage=Stage.BOOKED.value,
        **{k.value: PENDING for k in ClearanceKind}, created_at=at, updated_at=at, version=1)
    out.changed.add(subject)
    return None


def _stage(stage: Stage, **fixed: Any) -> Callable[..., str | None]:
    def handler(out: Folded, subject: str, p: dict[str, Any], at: datetime, _office: str) -> str | None:
        return _change(out, subject, at, stage=stage.value, **fixed)
    return handler


def _checked_in(out: Folded, subject: str, p: dict[str, Any], at: datetime, _office: str) -> str | None:
    return _change(out, subject, at, stage=Stage.CHECKED_IN.value, queue_ticket=p.get("queue_ticket") or None)


def _intake(out: Folded, subject: str, p: dict[str, Any], at: datetime, _office: str) -> str | None:
    return _change(out, subject, at, stage=Stage.INTAKE_DONE.value, nik=p["nik"], full_name=p["full_name"],
                   birth_date=_day(p["birth_date"]), sex=p["sex"], kk_number=p.get("kk_number", ""))


def _billing(out: Folded, subject: str, p: dict[str, Any], at: datetime, _office: str) -> str | None:
    expires = p.get("expires_at")
    return _change(out, subject, at, billing_code=p["billing_code"], fee_total=p["amount"],
                   billing_expires_at=datetime.fromisoformat(expires) if expires else None)


def _paid(out: Folded, subject: str, p: dict[str, Any], at: datetime, _office: str) -> str | None:
    return _change(out, subject, at, paid_at=at, payment_receipt_ref=p.get("receipt_ref") or None)


def _captured(out: Folded, subject: str, p: dict[str, Any], at: datetime, office: str) -> str | None:
    why = _change(out, subject, at, stage=Stage.CAPTURED.value)
    if why is None:
        # A later capture replaces an earlier one position by position, as at the desk.
        positions = out.captures.setdefault(subject, {})
        for item in p.get("biometrics", []):
            positions[item["position"]] = {**item, "captured_at": at, "captured_by": p.get("actor", "")}
    return why


def _interviewed(out: Folded, subject: str, p: dict[str, Any], at: datetime, _office: str) -> str | None:
    return _change(out, subject, at, stage=Stage.INTERVIEWED.value, interviewed_at=at,
                   ready_by=_day(p.get("ready_by")))


def _decided(stage: Stage) -> Callable[..., str | None]:
    def handler(out: Folded, subject: str, p: dict[str, Any], at: datetime, _office: str) -> str | None:
        return _change(out, subject, at, stage=stage.value, decided_at=at, decided_by=p.get("actor", ""),
                       decision_reason=p.get("reason") or None)
    return handler


def _cancelled(out: Folded, subject: str, p: dict[str, Any], at: datetime, _office: str) -> str | None:
    return _change(out, subject, at, stage=Stage.CANCELLED.value, decision_reason=p.get("reason") or "cancelled")


# What the domain's _clear_print empties (a failed quality check, a print voided by a flag).
_NO_PRINT = dict(booklet_serial=None, mrz_line1=None, mrz_line2=None, issued_on=None, expires_on=None, printed_at=None)


def _printed(out: Folded, subject: str, p: dict[str, Any], at: datetime, _office: str) -> str | None:
    serial = p["booklet_serial"]
    why = _change(out, subject, at, stage=Stage.PRINTED.value, booklet_serial=serial, mrz_line1=None,
                  mrz_line2=None, issued_on=_day(p["issued_on"]), expires_on=_day(p["expires_on"]), printed_at=at)
    if why is None:
        # The MRZ is not sent: rebuild.py computes it again from the row, as the print room did.
        out.booklets.setdefault(serial, {}).update(status="issued", application_id=subject, issued_at=at)
    return why


def _qc_failed(out: Folded, subject: str, p: dict[str, Any], at: datetime, _office: str) -> str | None:
    return _change(out, subject, at, stage=Stage.APPROVED.value, **_NO_PRINT)


def _handed_over(out: Folded, subject: str, p: dict[str, Any], at: datetime, _office: str) -> str | None:
    return _change(out, subject, at, stage=Stage.HANDED_OVER.value, handed_over_at=at)


def _clearance(out: Folded, subject: str, p: dict[str, Any], at: datetime, _office: str) -> str | None:
    kind = ClearanceKind(p["kind"])
    return _change(out, subject, at, **{kind.value: p["new"]})


def _on_hold(out: Folded, subject: str, p: dict[str, Any], at: datetime, _office: str) -> str | None:
    row = _app(out, subject)
    if row is None:
        return _change(out, subject, at)
    voided = p.get("booklet_to_void") and Stage(row["stage"]) in WITH_BOOKLET
    return _change(out, subject, at, stage=Stage.ON_HOLD.value, held_from=row["stage"], hold_reason=p.get("reason"),
                   **(_NO_PRINT if voided else {}))


def _released(out: Folded, subject: str, p: dict[str, Any], at: datetime, _office: str) -> str | None:
    return _change(out, subject, at, stage=p["back_to"], held_from=None, hold_reason=None)


# -- booklets ----------------------------------------------------------------------------------

def _received(out: Folded, subject: str, p: dict[str, Any], at: datetime, _office: str) -> str | None:
    out.batches.append(dict(id=p.get("subject") or subject, first_serial=p["first"], last_serial=p["last"],
                            count=p["count"], received_at=at, received_by=p.get("actor", "")))
    return None


def _spoiled(out: Folded, subject: str, p: dict[str, Any], at: datetime, _office: str) -> str | None:
    # A personalised booklet is spoiled in its application's order: the operation's subject is
    # then the application, and the booklet's serial is the payload's own subject.
    serial = p.get("subject") or subject
    out.booklets.setdefault(serial, {}).update(status="spoiled", spoiled_at=at, spoil_reason=p.get("reason") or None)
    return None


_HANDLERS: dict[str, Callable[..., str | None]] = {
    Op.APPLICATION_BOOKED: _booked,
    Op.APPLICANT_CHECKED_IN: _checked_in,
    Op.INTAKE_COMPLETED: _intake,
    Op.BILLING_ISSUED: _billing,
    Op.PAYMENT_RECORDED: _paid,
    Op.BIOMETRICS_CAPTURED: _captured,
    Op.INTERVIEW_RECORDED: _interviewed,
    Op.APPLICATION_APPROVED: _decided(Stage.APPROVED),
    Op.APPLICATION_REJECTED: _decided(Stage.REJECTED),
    Op.APPLICATION_CANCELLED: _cancelled,
    Op.PASSPORT_PRINTED: _printed,
    Op.QUALITY_CHECK_PASSED: _stage(Stage.QC_PASSED),
    Op.QUALITY_CHECK_FAILED: _qc_failed,
    Op.PASSPORT_READY: _stage(Stage.READY),
    Op.PASSPORT_HANDED_OVER: _handed_over,
    Op.CLEARANCE_CHANGED: _clearance,
    Op.APPLICATION_PUT_ON_HOLD: _on_hold,
    Op.HOLD_RELEASED: _released,
    Op.BOOKLETS_RECEIVED: _received,
    Op.BOOKLET_SPOILED: _spoiled,
}


def biometric_kind(position: int) -> str:
    return FACE if position == 0 else FINGERPRINT
