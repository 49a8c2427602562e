"""The pure rules of the public side: the status page's levels (kanim/domain/status_page.py)
and the lookup's plain states (kanim/domain/tracking.py)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from kanim.domain.application import Stage
from kanim.domain.clearances import ClearanceState
from kanim.domain.passport import ApplicationType
from kanim.domain.status_page import (
    Cause,
    Component,
    Impact,
    IncidentState,
    Level,
    NodeFacts,
    Override,
    derive,
    next_states,
    overall,
)
from kanim.domain.tracking import Bring, Pickup, PublicState, TrackFacts, answer, first_name, public_state

NOW = datetime(2026, 12, 1, 3, 0, tzinfo=UTC)
CALM = NodeFacts(link_state="up", guardrails_closed=0, dead_letters=0, pickup_days_ahead=3)
C = ClearanceState


def levels(facts: NodeFacts, impacts=(), overrides=()) -> dict[Component, Level]:  # noqa: ANN001
    return {s.component: s.level for s in derive(facts, list(impacts), list(overrides), NOW)}


def test_a_calm_node_is_operational_everywhere() -> None:
    statuses = derive(CALM, [], [], NOW)
    assert {s.level for s in statuses} == {Level.OPERATIONAL} and overall(statuses) is Level.OPERATIONAL
    assert [s.component for s in statuses] == list(Component)


@pytest.mark.parametrize(("link", "payment", "pickup"), [
    ("down", Level.MAJOR_OUTAGE, Level.PARTIAL_OUTAGE), ("unlinked", Level.MAJOR_OUTAGE, Level.PARTIAL_OUTAGE),
    ("stalled", Level.PARTIAL_OUTAGE, Level.PARTIAL_OUTAGE), ("degraded", Level.DEGRADED, Level.DEGRADED)])
def test_the_link_decides_payment_confirmation_and_part_of_pickup_but_never_the_desks(link, payment, pickup) -> None:  # noqa: ANN001
    got = levels(NodeFacts(link, 0, 0, None))
    assert got[Component.PAYMENT_CONFIRMATION] is payment and got[Component.PICKUP] is pickup
    for desk in (Component.BOOKING, Component.INTAKE_PAYMENT, Component.BIOMETRICS, Component.PRINTING):
        assert got[desk] is Level.OPERATIONAL, "the office's own desks work through an outage"


def test_a_closed_guardrail_is_a_partial_outage_of_printing_with_its_cause() -> None:
    printing = next(s for s in derive(NodeFacts("up", 1, 0, None), [], [], NOW) if s.component is Component.PRINTING)
    assert printing.level is Level.PARTIAL_OUTAGE and printing.causes == [Cause.GUARDRAIL]


def test_dead_letters_and_a_long_pickup_queue_degrade_pickup_the_worst_wins() -> None:
    got = derive(NodeFacts("up", 0, 2, 30), [], [], NOW)
    pickup = next(s for s in got if s.component is Component.PICKUP)
    assert pickup.level is Level.PARTIAL_OUTAGE and set(pickup.causes) == {Cause.DEAD_LETTERS, Cause.PICKUP_BACKLOG}
    assert levels(NodeFacts("up", 0, 0, 13))[Component.PICKUP] is Level.OPERATIONAL
    assert levels(NodeFacts("up", 0, 0, 14))[Component.PICKUP] is Level.DEGRADED


def test_an_open_incident_raises_the_components_it_names_and_no_others() -> None:
    got = levels(CALM, [Impact(frozenset({Component.BIOMETRICS}), Level.MAJOR_OUTAGE)])
    assert got[Component.BIOMETRICS] is Level.MAJOR_OUTAGE and got[Component.BOOKING] is Level.OPERATIONAL
    # An incident milder than what the node says does not hide it.
    got = levels(NodeFacts("down", 0, 0, None), [Impact(frozenset({Component.PAYMENT_CONFIRMATION}), Level.DEGRADED)])
    assert got[Component.PAYMENT_CONFIRMATION] is Level.MAJOR_OUTAGE


def test_a_staff_override_wins_both_ways_until_it_runs_out() -> None:
    reason = {"id": "Printer macet", "en": "Printer jammed"}
    up = Override(Component.PRINTING, Level.MAJOR_OUTAGE, reason, NOW + timedelta(hours=1))
    down = Override(Component.PAYMENT_CONFIRMATION, Level.OPERATIONAL, reason, None)
    got = derive(NodeFacts("down", 0, 0, None), [], [up, down], NOW)
    by = {s.component: s for s in got}
    assert by[Component.PRINTING].level is Level.MAJOR_OUTAGE and by[Component.PRINTING].reason == reason
    assert by[Component.PAYMENT_CONFIRMATION].level is Level.OPERATIONAL
    expired = Override(Component.PRINTING, Level.MAJOR_OUTAGE, reason, NOW)
    assert levels(CALM, overrides=[expired])[Component.PRINTING] is Level.OPERATIONAL


def test_updates_move_an_incident_forward_and_a_resolved_one_takes_none() -> None:
    assert next_states(IncidentState.INVESTIGATING) == list(IncidentState)
    assert IncidentState.INVESTIGATING not in next_states(IncidentState.MONITORING)
    assert next_states(IncidentState.RESOLVED) == []


@pytest.mark.parametrize(("stage", "clearances", "state"), [
    (Stage.BOOKED, [C.PENDING] * 5, PublicState.RECEIVED),
    (Stage.CAPTURED, [C.PROVISIONAL] * 5, PublicState.IN_PROCESS),
    (Stage.QC_PASSED, [C.CONFIRMED] * 4 + [C.PENDING], PublicState.PRINTED_WAITING),
    (Stage.PRINTED, [C.CONFIRMED] * 5, PublicState.IN_PROCESS),
    (Stage.READY, [C.CONFIRMED] * 5, PublicState.READY),
    (Stage.HANDED_OVER, [C.CONFIRMED] * 5, PublicState.COLLECTED),
    (Stage.ON_HOLD, [C.FLAGGED] + [C.PROVISIONAL] * 4, PublicState.ON_HOLD),
    (Stage.REJECTED, [C.PROVISIONAL] * 5, PublicState.CLOSED)])
def test_every_stage_has_a_plain_public_state(stage, clearances, state) -> None:  # noqa: ANN001
    assert public_state(stage, clearances) is state


def test_every_stage_is_mapped() -> None:
    for stage in Stage:
        assert isinstance(public_state(stage, [C.PENDING] * 5), PublicState)


def facts(stage: Stage, **kw) -> TrackFacts:  # noqa: ANN003
    base = dict(number="MND-20261201-0001", full_name="Siti Nur Rahmawati", stage=stage, clearances=[C.CONFIRMED] * 5,
                app_type=ApplicationType.RENEWAL, appointment_on=date(2026, 12, 2), ready_by=date(2026, 12, 8),
                pickup=None)
    return TrackFacts(**{**base, **kw})


def test_the_answer_shows_the_first_name_only_and_the_date_kanim_knows() -> None:
    got = answer(facts(Stage.BOOKED))
    assert got.first_name == "Siti" and got.expected_on == date(2026, 12, 2)
    assert Bring.OLD_PASSPORT in got.bring, "a renewal brings the old passport"
    assert answer(facts(Stage.INTERVIEWED)).expected_on == date(2026, 12, 8)
    waiting = answer(facts(Stage.QC_PASSED, clearances=[C.PROVISIONAL] * 5))
    assert waiting.state is PublicState.PRINTED_WAITING and waiting.expected_on is None, "nobody knows when"
    ready = answer(facts(Stage.READY, pickup=Pickup(date(2026, 12, 9), "10:00")))
    assert ready.expected_on == date(2026, 12, 9) and ready.pickup.slot == "10:00" and ready.bring
    assert answer(facts(Stage.ON_HOLD)).bring == [] and first_name("Sukarno") == "Sukarno"
