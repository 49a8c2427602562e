"""What an applicant is told about their application at `/track`: a handful of plain public
states instead of the desk's thirteen stages (after MOSIP's resident status lookup), the date
kanim expects, and what to bring. Pure rules; kanim/office/track.py reads the application.

Nothing here says *why* an application is held or was refused: a hold may name a watch list,
and the office says it in person.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from enum import StrEnum

from kanim.domain.application import Stage
from kanim.domain.clearances import ClearanceState
from kanim.domain.passport import ApplicationType


class PublicState(StrEnum):
    RECEIVED = "received"  # booked or checked in: the office has it, work has not started
    IN_PROCESS = "in_process"  # intake to printing
    PRINTED_WAITING = "printed_waiting"  # printed; the national confirmation has not arrived
    READY = "ready"  # may be collected (in its pickup slot, when it has one)
    COLLECTED = "collected"
    ON_HOLD = "on_hold"  # please contact the office
    CLOSED = "closed"  # refused or cancelled: please contact the office


_BY_STAGE = {
    Stage.BOOKED: PublicState.RECEIVED, Stage.CHECKED_IN: PublicState.RECEIVED,
    Stage.INTAKE_DONE: PublicState.IN_PROCESS, Stage.CAPTURED: PublicState.IN_PROCESS,
    Stage.INTERVIEWED: PublicState.IN_PROCESS, Stage.APPROVED: PublicState.IN_PROCESS,
    Stage.READY: PublicState.READY, Stage.HANDED_OVER: PublicState.COLLECTED,
    Stage.ON_HOLD: PublicState.ON_HOLD, Stage.REJECTED: PublicState.CLOSED, Stage.CANCELLED: PublicState.CLOSED,
}


def public_state(stage: Stage, clearances: list[ClearanceState]) -> PublicState:
    """The public word for a stage. A printed booklet is "waiting for national confirmation"
    only while a clearance is still unconfirmed; once all are, it is only waiting for the
    quality check, which is still the office's own work."""
    if stage in (Stage.PRINTED, Stage.QC_PASSED):
        confirmed = all(c is ClearanceState.CONFIRMED for c in clearances)
        return PublicState.IN_PROCESS if confirmed else PublicState.PRINTED_WAITING
    return _BY_STAGE[stage]


class Bring(StrEnum):
    """What to bring to the office (the page says it in words)."""

    KTP = "ktp"
    KK = "kk"
    CIVIL_DOCUMENT = "civil_document"  # birth or marriage certificate, diploma or baptism letter
    OLD_PASSPORT = "old_passport"
    RECEIPT = "receipt"
    PROXY = "proxy"  # someone collecting for the holder: their KTP and the KK, or a power of attorney


@dataclass(frozen=True)
class Pickup:
    day: date
    slot: str  # HH:MM, the office's local time


@dataclass(frozen=True)
class TrackFacts:
    """What the office holds that the answer is made from (read by kanim/office/track.py)."""

    number: str
    full_name: str
    stage: Stage
    clearances: list[ClearanceState]
    app_type: ApplicationType
    appointment_on: date | None
    ready_by: date | None
    pickup: Pickup | None


@dataclass(frozen=True)
class TrackAnswer:
    number: str
    first_name: str
    state: PublicState
    expected_on: date | None  # the appointment, the expected ready date, or the pickup day
    pickup: Pickup | None
    bring: list[Bring]


def first_name(full_name: str) -> str:
    """The first word of the name: enough for the applicant to know it is theirs, no more.
    Many Indonesians have one name; then that is what is shown."""
    words = full_name.split()
    return words[0] if words else ""


def answer(facts: TrackFacts) -> TrackAnswer:
    state = public_state(facts.stage, facts.clearances)
    return TrackAnswer(facts.number, first_name(facts.full_name), state, expected_on(state, facts),
                       facts.pickup if state is PublicState.READY else None, to_bring(state, facts.app_type))


def expected_on(state: PublicState, facts: TrackFacts) -> date | None:
    """Only a date kanim knows: the appointment before intake, the interview's "ready by"
    while in process (never for a passport waiting on the central: nobody knows when it
    returns), the pickup day once ready."""
    if state is PublicState.RECEIVED:
        return facts.appointment_on
    if state is PublicState.IN_PROCESS:
        return facts.ready_by
    if state is PublicState.READY and facts.pickup is not None:
        return facts.pickup.day
    return None


def to_bring(state: PublicState, app_type: ApplicationType) -> list[Bring]:
    if state is PublicState.RECEIVED:
        docs = [Bring.KTP, Bring.KK, Bring.CIVIL_DOCUMENT]
        return docs if app_type is ApplicationType.NEW else [*docs, Bring.OLD_PASSPORT]
    if state is PublicState.READY:
        # The handover rules of kanim/domain/application.py: the holder, a family member on the
        # same KK, or an attorney.
        return [Bring.RECEIPT, Bring.KTP, Bring.PROXY]
    return []
