"""Clearances: what only the central can decide, held on the application beside its stage.

Each clearance is `pending` (nothing known yet), `provisional` (the office's own rules pass:
good enough to print during an outage), `confirmed` (the central agreed) or `flagged` (the
central found a problem: the application goes on hold for a supervisor).

Two gates read them (see docs/architecture.md):
- the print gate (office policy): every clearance in the policy at least provisional;
- the handover gate (law, not configurable): every clearance confirmed.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from enum import StrEnum


class ClearanceKind(StrEnum):
    NIK_VERIFIED = "nik_verified"  # civil registry (Dukcapil) agrees with the NIK and identity
    WATCHLIST_CLEAR = "watchlist_clear"  # no prevention/deterrence order (cekal) names the applicant
    NOT_DUPLICATE = "not_duplicate"  # no other open application or valid passport for this NIK
    PAYMENT_CONFIRMED = "payment_confirmed"  # treasury confirmed the billing code was paid
    RECORDED_CENTRALLY = "recorded_centrally"  # the national registry holds the application


class ClearanceState(StrEnum):
    PENDING = "pending"
    PROVISIONAL = "provisional"
    CONFIRMED = "confirmed"
    FLAGGED = "flagged"


# The order in which a clearance may move on. A confirmed clearance can still be flagged later
# (a watch-list order issued after confirmation), but nothing ever moves back to pending.
_RANK = {
    ClearanceState.PENDING: 0,
    ClearanceState.PROVISIONAL: 1,
    ClearanceState.CONFIRMED: 2,
    ClearanceState.FLAGGED: 3,
}


@dataclass(frozen=True)
class Clearances:
    """The five clearances of one application. Immutable: `with_state` returns a new value."""

    nik_verified: ClearanceState = ClearanceState.PENDING
    watchlist_clear: ClearanceState = ClearanceState.PENDING
    not_duplicate: ClearanceState = ClearanceState.PENDING
    payment_confirmed: ClearanceState = ClearanceState.PENDING
    recorded_centrally: ClearanceState = ClearanceState.PENDING

    def state(self, kind: ClearanceKind) -> ClearanceState:
        return ClearanceState(getattr(self, kind.value))

    def with_state(self, kind: ClearanceKind, state: ClearanceState) -> Clearances:
        return replace(self, **{kind.value: ClearanceState(state)})

    def as_dict(self) -> dict[str, str]:
        return {k.value: self.state(k).value for k in ClearanceKind}

    def flagged(self) -> list[ClearanceKind]:
        return [k for k in ClearanceKind if self.state(k) is ClearanceState.FLAGGED]

    def all_confirmed(self) -> bool:
        return all(self.state(k) is ClearanceState.CONFIRMED for k in ClearanceKind)


def can_move(current: ClearanceState, new: ClearanceState, *, lifts_flag: bool = False) -> bool:
    """A decision may raise a clearance (pending → provisional → confirmed) or flag it.

    A late or repeated provisional never downgrades a confirmation. A flag is lifted only by a
    decision made to lift it (a person at the central reviewed the case, `lifts_flag`), never by
    an automatic re-check: a central rebuilt from nothing re-checks against whatever it has, and
    an empty watch-list must not clear a prevention order.
    """
    if new is ClearanceState.FLAGGED:
        return True
    if current is ClearanceState.FLAGGED:
        return new is ClearanceState.CONFIRMED and lifts_flag
    return _RANK[new] >= _RANK[current]


@dataclass(frozen=True)
class PrintPolicy:
    """Which clearances must be at least provisional before a booklet is printed.

    `recorded_centrally` is not in the default: an office that may print during an outage
    cannot wait for the registry, and the handover gate still waits for it.
    """

    required: frozenset[ClearanceKind] = field(
        default_factory=lambda: frozenset(
            {
                ClearanceKind.NIK_VERIFIED,
                ClearanceKind.WATCHLIST_CLEAR,
                ClearanceKind.NOT_DUPLICATE,
                ClearanceKind.PAYMENT_CONFIRMED,
            }
        )
    )
    allow_provisional: bool = True  # False: print only on confirmed clearances (no outage printing)

    @classmethod
    def from_names(cls, names: Iterable[str], *, allow_provisional: bool = True) -> PrintPolicy:
        return cls(frozenset(ClearanceKind(n) for n in names), allow_provisional)


@dataclass(frozen=True)
class Shortfall:
    """One clearance that holds the print gate shut: flagged by the central (`needs` None), or
    below the state the policy needs. A desk shows it in its own words."""

    kind: ClearanceKind
    state: ClearanceState
    needs: ClearanceState | None = None

    @property
    def reason(self) -> str:
        if self.needs is None:
            return f"{self.kind.value} is flagged by the central"
        return f"{self.kind.value} is {self.state.value}, needs at least {self.needs.value}"


def print_gate_shortfalls(c: Clearances, policy: PrintPolicy) -> list[Shortfall]:
    """What holds the print gate shut, flags first; empty when printing may go ahead."""
    out = [Shortfall(k, ClearanceState.FLAGGED) for k in c.flagged()]
    least = ClearanceState.PROVISIONAL if policy.allow_provisional else ClearanceState.CONFIRMED
    for kind in sorted(policy.required):
        state = c.state(kind)
        if state is not ClearanceState.FLAGGED and _RANK[state] < _RANK[least]:
            out.append(Shortfall(kind, state, least))
    return out


def print_gate_blockers(c: Clearances, policy: PrintPolicy) -> list[str]:
    """Reasons the print gate is closed; empty when printing may go ahead."""
    return [s.reason for s in print_gate_shortfalls(c, policy)]


def handover_gate_blockers(c: Clearances) -> list[str]:
    """The handover gate is the law's: every clearance confirmed by the central."""
    return [
        f"{k.value} is {c.state(k).value}, needs confirmed"
        for k in ClearanceKind
        if c.state(k) is not ClearanceState.CONFIRMED
    ]


def clearances_from_mapping(values: Mapping[str, str]) -> Clearances:
    return Clearances(**{k.value: ClearanceState(values[k.value]) for k in ClearanceKind if k.value in values})
