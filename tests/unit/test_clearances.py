"""Clearances and the two gates that read them (kanim/domain/clearances.py)."""

from __future__ import annotations

from itertools import product

import pytest

from kanim.domain.clearances import (
    ClearanceKind,
    Clearances,
    ClearanceState,
    PrintPolicy,
    can_move,
    clearances_from_mapping,
    handover_gate_blockers,
    print_gate_blockers,
)

C, S = ClearanceKind, ClearanceState
PENDING, PROVISIONAL, CONFIRMED, FLAGGED = S.PENDING, S.PROVISIONAL, S.CONFIRMED, S.FLAGGED


def every(state: ClearanceState) -> Clearances:
    return Clearances(**{k.value: state for k in ClearanceKind})


# -- the value -------------------------------------------------------------------------------


def test_a_new_application_has_every_clearance_pending() -> None:
    c = Clearances()
    assert c.as_dict() == {k.value: "pending" for k in ClearanceKind}
    assert c.flagged() == [] and not c.all_confirmed()


def test_with_state_returns_a_new_value_and_leaves_the_old_one_alone() -> None:
    before = Clearances()
    after = before.with_state(C.PAYMENT_CONFIRMED, PROVISIONAL)
    assert before.payment_confirmed is PENDING
    assert after.payment_confirmed is PROVISIONAL and after.state(C.PAYMENT_CONFIRMED) is PROVISIONAL
    assert after != before
    with pytest.raises(AttributeError):
        after.nik_verified = CONFIRMED  # type: ignore[misc]


def test_with_state_accepts_the_state_as_a_string() -> None:
    c = Clearances().with_state(C.NIK_VERIFIED, "confirmed")  # type: ignore[arg-type]
    assert c.nik_verified is CONFIRMED


def test_flagged_lists_the_flagged_kinds_in_a_stable_order() -> None:
    c = every(CONFIRMED).with_state(C.RECORDED_CENTRALLY, FLAGGED).with_state(C.NIK_VERIFIED, FLAGGED)
    assert c.flagged() == [C.NIK_VERIFIED, C.RECORDED_CENTRALLY]


def test_all_confirmed_needs_all_five() -> None:
    assert every(CONFIRMED).all_confirmed()
    for kind in ClearanceKind:
        assert not every(CONFIRMED).with_state(kind, PROVISIONAL).all_confirmed()


def test_clearances_are_rebuilt_from_a_stored_mapping() -> None:
    c = clearances_from_mapping({"nik_verified": "confirmed", "watchlist_clear": "flagged"})
    assert c.nik_verified is CONFIRMED and c.watchlist_clear is FLAGGED
    assert c.not_duplicate is PENDING  # missing keys keep the default
    assert clearances_from_mapping(every(PROVISIONAL).as_dict()) == every(PROVISIONAL)


def test_an_unknown_state_in_storage_is_refused() -> None:
    with pytest.raises(ValueError):
        clearances_from_mapping({"nik_verified": "maybe"})


# -- can_move: decisions only move forward ----------------------------------------------------

MOVES = {
    (PENDING, PENDING): True, (PENDING, PROVISIONAL): True, (PENDING, CONFIRMED): True, (PENDING, FLAGGED): True,
    (PROVISIONAL, PENDING): False, (PROVISIONAL, PROVISIONAL): True, (PROVISIONAL, CONFIRMED): True,
    (PROVISIONAL, FLAGGED): True,
    (CONFIRMED, PENDING): False, (CONFIRMED, PROVISIONAL): False, (CONFIRMED, CONFIRMED): True,
    (CONFIRMED, FLAGGED): True,
    (FLAGGED, PENDING): False, (FLAGGED, PROVISIONAL): False, (FLAGGED, CONFIRMED): False, (FLAGGED, FLAGGED): True,
}


def test_the_move_table_covers_every_pair_of_states() -> None:
    assert set(MOVES) == set(product(ClearanceState, repeat=2))


@pytest.mark.parametrize(("current", "new"), list(MOVES), ids=[f"{a.value}->{b.value}" for a, b in MOVES])
def test_can_move_only_raises_or_flags_a_clearance(current: ClearanceState, new: ClearanceState) -> None:
    assert can_move(current, new) is MOVES[(current, new)]


def test_nothing_ever_moves_back_to_pending() -> None:
    assert not any(can_move(s, PENDING) for s in ClearanceState if s is not PENDING)


def test_a_late_provisional_never_downgrades_a_confirmation() -> None:
    assert can_move(CONFIRMED, PROVISIONAL) is False


def test_only_a_decision_made_to_lift_a_flag_may_confirm_a_flagged_clearance() -> None:
    assert can_move(FLAGGED, CONFIRMED) is False  # an automatic re-check (e.g. after a rebuild)
    assert can_move(FLAGGED, CONFIRMED, lifts_flag=True) is True
    assert can_move(FLAGGED, PROVISIONAL, lifts_flag=True) is False


# -- the print gate --------------------------------------------------------------------------


def test_the_default_print_policy_requires_four_clearances_but_not_central_recording() -> None:
    p = PrintPolicy()
    assert p.required == {C.NIK_VERIFIED, C.WATCHLIST_CLEAR, C.NOT_DUPLICATE, C.PAYMENT_CONFIRMED}
    assert p.allow_provisional is True


def test_a_print_policy_is_built_from_setting_names() -> None:
    p = PrintPolicy.from_names(["nik_verified", "recorded_centrally"], allow_provisional=False)
    assert p.required == {C.NIK_VERIFIED, C.RECORDED_CENTRALLY} and p.allow_provisional is False


def test_an_unknown_clearance_name_in_the_policy_is_refused() -> None:
    with pytest.raises(ValueError):
        PrintPolicy.from_names(["nik_verified", "moon_phase"])


def test_the_print_gate_opens_on_provisional_clearances_by_default() -> None:
    c = every(PROVISIONAL).with_state(C.RECORDED_CENTRALLY, PENDING)
    assert print_gate_blockers(c, PrintPolicy()) == []


def test_the_print_gate_names_each_pending_required_clearance() -> None:
    assert print_gate_blockers(Clearances(), PrintPolicy()) == [
        "nik_verified is pending, needs at least provisional",
        "not_duplicate is pending, needs at least provisional",
        "payment_confirmed is pending, needs at least provisional",
        "watchlist_clear is pending, needs at least provisional",
    ]


def test_without_provisional_printing_the_gate_needs_confirmations() -> None:
    policy = PrintPolicy(allow_provisional=False)
    c = every(PROVISIONAL).with_state(C.NIK_VERIFIED, CONFIRMED)
    assert print_gate_blockers(c, policy) == [
        "not_duplicate is provisional, needs at least confirmed",
        "payment_confirmed is provisional, needs at least confirmed",
        "watchlist_clear is provisional, needs at least confirmed",
    ]
    assert print_gate_blockers(every(CONFIRMED), policy) == []


def test_a_flagged_clearance_closes_the_print_gate_whatever_the_policy_requires() -> None:
    policy = PrintPolicy(required=frozenset())
    c = every(CONFIRMED).with_state(C.RECORDED_CENTRALLY, FLAGGED)
    assert print_gate_blockers(c, policy) == ["recorded_centrally is flagged by the central"]


def test_a_flagged_required_clearance_is_reported_once_as_flagged() -> None:
    c = every(PROVISIONAL).with_state(C.WATCHLIST_CLEAR, FLAGGED)
    assert print_gate_blockers(c, PrintPolicy(allow_provisional=False)).count(
        "watchlist_clear is flagged by the central") == 1
    assert not any(r.startswith("watchlist_clear is flagged,") for r in print_gate_blockers(c, PrintPolicy()))
    assert print_gate_blockers(c, PrintPolicy()) == ["watchlist_clear is flagged by the central"]


# -- the handover gate -----------------------------------------------------------------------


def test_the_handover_gate_opens_only_when_all_five_are_confirmed() -> None:
    assert handover_gate_blockers(every(CONFIRMED)) == []
    assert handover_gate_blockers(every(PROVISIONAL)) == [
        f"{k.value} is provisional, needs confirmed" for k in ClearanceKind]


def test_the_handover_gate_is_closed_by_a_flag_or_a_pending_registry_record() -> None:
    c = every(CONFIRMED).with_state(C.WATCHLIST_CLEAR, FLAGGED).with_state(C.RECORDED_CENTRALLY, PENDING)
    assert handover_gate_blockers(c) == ["watchlist_clear is flagged, needs confirmed",
                                         "recorded_centrally is pending, needs confirmed"]


def test_the_print_gates_shortfalls_name_each_clearance_its_state_and_what_it_needs() -> None:
    from kanim.domain.clearances import Shortfall, print_gate_shortfalls

    c = Clearances(nik_verified=ClearanceState.FLAGGED, payment_confirmed=ClearanceState.PROVISIONAL)
    strict = PrintPolicy(allow_provisional=False)
    got = print_gate_shortfalls(c, strict)
    assert got[0] == Shortfall(ClearanceKind.NIK_VERIFIED, ClearanceState.FLAGGED)
    assert Shortfall(ClearanceKind.PAYMENT_CONFIRMED, ClearanceState.PROVISIONAL, ClearanceState.CONFIRMED) in got
    assert [s.reason for s in got] == print_gate_blockers(c, strict)
    assert got[0].reason == "nik_verified is flagged by the central"
