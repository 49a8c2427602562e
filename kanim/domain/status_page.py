"""The office's public status page: each service the public uses, at one of four levels, set
from the node's own state and overridden by staff. Pure rules; kanim/office/status_page.py
reads the facts and kanim/web/status_page.py shows them.

Why these rules: the office's own desks (booking, intake and payment at the counter, photo and
fingerprints) run on the office node and do not stop when the central does; what the central
decides (the treasury's payment confirmation, every clearance the handover gate needs) does.
So a link outage is an outage of online payment confirmation and, partly, of pickup; the
guardrails on provisional printing are a partial outage of printing (printing on confirmed
clearances goes on); dead letters hold back the applications they belong to.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum


class Component(StrEnum):
    BOOKING = "booking"
    INTAKE_PAYMENT = "intake_payment"
    BIOMETRICS = "biometrics"
    PRINTING = "printing"
    PICKUP = "pickup"
    PAYMENT_CONFIRMATION = "payment_confirmation"


class Level(StrEnum):
    OPERATIONAL = "operational"
    DEGRADED = "degraded"
    PARTIAL_OUTAGE = "partial_outage"
    MAJOR_OUTAGE = "major_outage"

    @property
    def rank(self) -> int:
        return list(Level).index(self)


class IncidentState(StrEnum):
    INVESTIGATING = "investigating"
    IDENTIFIED = "identified"
    MONITORING = "monitoring"
    RESOLVED = "resolved"


class Cause(StrEnum):
    """Why a component is not operational, when kanim decided it (the page says it in words)."""

    LINK_DOWN = "link_down"
    LINK_DEGRADED = "link_degraded"
    LINK_STALLED = "link_stalled"
    UNLINKED = "unlinked"
    GUARDRAIL = "guardrail"
    DEAD_LETTERS = "dead_letters"
    PICKUP_BACKLOG = "pickup_backlog"
    INCIDENT = "incident"
    MAINTENANCE = "maintenance"
    OVERRIDE = "override"


@dataclass(frozen=True)
class NodeFacts:
    link_state: str  # kanim.link.views.status: up | degraded | down | stalled | unlinked
    guardrails_closed: int  # reasons provisional printing is stopped now
    dead_letters: int
    pickup_days_ahead: int | None  # days from today to the latest pickup slot given; None: none given


@dataclass(frozen=True)
class Override:
    component: Component
    level: Level
    reason: dict[str, str]  # the reason by language: {"id": ..., "en": ...}
    until: datetime | None  # None: until staff clear it


@dataclass(frozen=True)
class Impact:
    """An open incident or a maintenance window now in progress, on the components it names."""

    components: frozenset[Component]
    level: Level
    maintenance: bool = False


@dataclass(frozen=True)
class ComponentStatus:
    component: Component
    level: Level
    causes: list[Cause] = field(default_factory=list)
    reason: dict[str, str] | None = None  # staff's words by language, when overridden


PICKUP_DEGRADED_DAYS = 14  # the latest slot given is this many days out: the desk is behind
PICKUP_PARTIAL_DAYS = 28
_LINK = {"down": (Level.MAJOR_OUTAGE, Cause.LINK_DOWN), "unlinked": (Level.MAJOR_OUTAGE, Cause.UNLINKED),
         "stalled": (Level.PARTIAL_OUTAGE, Cause.LINK_STALLED), "degraded": (Level.DEGRADED, Cause.LINK_DEGRADED)}


def automatic(facts: NodeFacts) -> dict[Component, list[tuple[Level, Cause]]]:
    """What the node's own state says, component by component (an empty list: operational)."""
    found: dict[Component, list[tuple[Level, Cause]]] = {c: [] for c in Component}
    if facts.link_state in _LINK:
        level, cause = _LINK[facts.link_state]
        found[Component.PAYMENT_CONFIRMATION].append((level, cause))
        # Passports already ready can still be collected; the ones printed meanwhile wait.
        found[Component.PICKUP].append((min(level, Level.PARTIAL_OUTAGE, key=lambda v: v.rank), cause))
    if facts.guardrails_closed:
        found[Component.PRINTING].append((Level.PARTIAL_OUTAGE, Cause.GUARDRAIL))
    if facts.dead_letters:
        found[Component.PAYMENT_CONFIRMATION].append((Level.DEGRADED, Cause.DEAD_LETTERS))
        found[Component.PICKUP].append((Level.DEGRADED, Cause.DEAD_LETTERS))
    days = facts.pickup_days_ahead
    if days is not None and days >= PICKUP_DEGRADED_DAYS:
        level = Level.PARTIAL_OUTAGE if days >= PICKUP_PARTIAL_DAYS else Level.DEGRADED
        found[Component.PICKUP].append((level, Cause.PICKUP_BACKLOG))
    return found


def derive(facts: NodeFacts, impacts: list[Impact], overrides: list[Override], now: datetime) -> list[ComponentStatus]:
    """Every component's level: the worst of what the node says and the open incidents and
    maintenance say, unless staff override it. A staff override wins both ways (a printer that
    jammed; a link alarm staff know to be harmless) until it runs out."""
    auto = automatic(facts)
    for impact in impacts:
        cause = Cause.MAINTENANCE if impact.maintenance else Cause.INCIDENT
        for c in impact.components:
            auto[c].append((impact.level, cause))
    live = {o.component: o for o in overrides if o.until is None or o.until > now}
    out = []
    for c in Component:
        if c in live:
            out.append(ComponentStatus(c, live[c].level, [Cause.OVERRIDE], live[c].reason))
            continue
        worst = max((level for level, _ in auto[c]), key=lambda v: v.rank, default=Level.OPERATIONAL)
        out.append(ComponentStatus(c, worst, [cause for _, cause in auto[c]]))
    return out


def overall(statuses: list[ComponentStatus]) -> Level:
    return max((s.level for s in statuses), key=lambda v: v.rank, default=Level.OPERATIONAL)


def next_states(state: IncidentState) -> list[IncidentState]:
    """An update moves an incident forward or keeps its state (a further note); a resolved
    incident takes no more updates. Skipping ahead is allowed (a fault found and fixed at once)."""
    if state is IncidentState.RESOLVED:
        return []
    order = list(IncidentState)
    return order[order.index(state):]
