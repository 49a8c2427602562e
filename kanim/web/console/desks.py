"""The console's desks: where each is, who sees it, whose landing page it is.

Who may use a desk is the permission table's business (kanim.security.roles): a desk names the
permission its page needs, and the navigation shows a staff member only the desks their role
holds. Labels are message ids, translated where they are shown.
"""

from __future__ import annotations

from dataclasses import dataclass

from kanim.security.roles import Perm, Role, allowed


def N_(message: str) -> str:  # noqa: N802 - gettext's name for "translate later"
    return message


@dataclass(frozen=True)
class Desk:
    slug: str  # /staff/<slug>
    label: str  # a message id
    perm: Perm  # who may open it
    landing_for: frozenset[Role] = frozenset()
    node: str = "office"  # office | central


R = Role
DESKS: tuple[Desk, ...] = (
    Desk("front-desk", N_("Front desk"), Perm.CHECK_IN, frozenset({R.FRONT_DESK})),
    Desk("intake", N_("Intake"), Perm.INTAKE),
    Desk("cashier", N_("Cashier"), Perm.BILL, frozenset({R.CASHIER})),
    Desk("biometrics", N_("Photo and fingerprints"), Perm.CAPTURE, frozenset({R.BIOMETRIC_OPERATOR})),
    Desk("interview", N_("Interview"), Perm.INTERVIEW, frozenset({R.INTERVIEWER})),
    Desk("supervisor", N_("Supervisor"), Perm.ADJUDICATE, frozenset({R.SUPERVISOR})),
    Desk("print-room", N_("Print room"), Perm.PRINT, frozenset({R.PRINT_OPERATOR})),
    Desk("pickup", N_("Pickup desk"), Perm.HANDOVER, frozenset({R.PICKUP_DESK})),
    Desk("admin", N_("Administration"), Perm.MANAGE_USERS, frozenset({R.ADMIN})),
    Desk("dashboard", N_("Recovery dashboard"), Perm.VIEW_LINK),
    Desk("notifications", N_("Notifications"), Perm.VIEW_NOTIFY),
    Desk("tickets", N_("Complaints"), Perm.HANDLE_TICKETS),
    Desk("status", N_("Status page"), Perm.MANAGE_STATUS),
    Desk("national", N_("National view"), Perm.NATIONAL_VIEW, frozenset({R.ADMIN, R.SUPERVISOR, R.WATCHLIST}),
         node="central"),
    Desk("payments", N_("Payment mismatches"), Perm.NATIONAL_VIEW, node="central"),
)


def visible_desks(role: Role, *, node: str) -> list[Desk]:
    return [d for d in DESKS if d.node == node and allowed(role, d.perm)]


def landing(role: Role, *, node: str) -> Desk | None:
    """The desk a role lands on after logging in: its own, else the first it may open."""
    mine = [d for d in visible_desks(role, node=node) if role in d.landing_for]
    return (mine or visible_desks(role, node=node) or [None])[0]
