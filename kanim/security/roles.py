"""Staff roles and what each may do. A route names a permission; this table says which roles
hold it, so the whole policy can be read (and tested) in one place."""

from __future__ import annotations

from enum import StrEnum


class Role(StrEnum):
    FRONT_DESK = "front_desk"  # booking, check-in, intake
    CASHIER = "cashier"  # billing codes and receipts
    BIOMETRIC_OPERATOR = "biometric_operator"  # photo and fingerprints
    INTERVIEWER = "interviewer"
    SUPERVISOR = "supervisor"  # adjudication, holds, fees and holidays
    PRINT_OPERATOR = "print_operator"  # booklets, printing, quality check
    PICKUP_DESK = "pickup_desk"  # handover
    ADMIN = "admin"  # accounts, audit, office settings
    WATCHLIST = "watchlist"  # central staff who enter and revoke watch-list orders


class Perm(StrEnum):
    BOOK = "book"
    CHECK_IN = "check_in"
    INTAKE = "intake"
    VIEW_APPLICATION = "view_application"
    VIEW_SETTINGS = "view_settings"
    BILL = "bill"
    CAPTURE = "capture"
    VIEW_BIOMETRICS = "view_biometrics"
    INTERVIEW = "interview"
    ADJUDICATE = "adjudicate"
    PRINT = "print"
    MANAGE_BOOKLETS = "manage_booklets"
    HANDOVER = "handover"
    MANAGE_FEES = "manage_fees"
    MANAGE_USERS = "manage_users"
    VIEW_AUDIT = "view_audit"
    MANAGE_WATCHLIST = "manage_watchlist"
    VIEW_LINK = "view_link"
    MANAGE_LINK = "manage_link"
    VIEW_NOTIFY = "view_notify"  # the messages to applicants: queue, failures, history
    MANAGE_NOTIFY = "manage_notify"  # switch rules, retry, preview templates
    MANAGE_PICKUP = "manage_pickup"  # open extra pickup service, move a slot
    HANDLE_TICKETS = "handle_tickets"  # the complaint desk: log, answer, assign, report (docs/tickets.md)
    MANAGE_STATUS = "manage_status"  # the public status page: incidents, maintenance, overrides
    # central hub
    MANAGE_CENTRAL_WATCHLIST = "manage_central_watchlist"
    MANAGE_OFFICES = "manage_offices"
    NATIONAL_VIEW = "national_view"
    LIFT_FLAG = "lift_flag"
    VIEW_REGISTRY_BIOMETRICS = "view_registry_biometrics"  # a face or finger in the national registry


R = Role
GRANTS: dict[Perm, frozenset[Role]] = {
    Perm.BOOK: frozenset({R.FRONT_DESK}),
    Perm.CHECK_IN: frozenset({R.FRONT_DESK}),
    Perm.INTAKE: frozenset({R.FRONT_DESK}),
    Perm.VIEW_APPLICATION: frozenset(set(Role) - {R.ADMIN, R.WATCHLIST}),
    Perm.VIEW_SETTINGS: frozenset(set(Role) - {R.WATCHLIST}),  # watchlist staff work at the central
    Perm.BILL: frozenset({R.CASHIER}),
    Perm.CAPTURE: frozenset({R.BIOMETRIC_OPERATOR}),
    Perm.VIEW_BIOMETRICS: frozenset({R.BIOMETRIC_OPERATOR, R.INTERVIEWER, R.SUPERVISOR, R.PRINT_OPERATOR}),
    Perm.INTERVIEW: frozenset({R.INTERVIEWER}),
    Perm.ADJUDICATE: frozenset({R.SUPERVISOR}),
    Perm.PRINT: frozenset({R.PRINT_OPERATOR}),
    Perm.MANAGE_BOOKLETS: frozenset({R.PRINT_OPERATOR, R.SUPERVISOR}),
    Perm.HANDOVER: frozenset({R.PICKUP_DESK}),
    Perm.MANAGE_FEES: frozenset({R.SUPERVISOR, R.ADMIN}),
    Perm.MANAGE_USERS: frozenset({R.ADMIN}),
    Perm.VIEW_AUDIT: frozenset({R.ADMIN, R.SUPERVISOR}),
    Perm.MANAGE_WATCHLIST: frozenset({R.SUPERVISOR}),
    Perm.VIEW_LINK: frozenset({R.SUPERVISOR, R.ADMIN}),
    Perm.MANAGE_LINK: frozenset({R.ADMIN}),
    Perm.VIEW_NOTIFY: frozenset({R.SUPERVISOR, R.ADMIN, R.PICKUP_DESK}),
    Perm.MANAGE_NOTIFY: frozenset({R.SUPERVISOR}),
    Perm.MANAGE_PICKUP: frozenset({R.SUPERVISOR}),
    Perm.HANDLE_TICKETS: frozenset({R.FRONT_DESK, R.SUPERVISOR}),
    Perm.MANAGE_STATUS: frozenset({R.SUPERVISOR}),
    Perm.MANAGE_CENTRAL_WATCHLIST: frozenset({R.WATCHLIST}),
    Perm.MANAGE_OFFICES: frozenset({R.ADMIN}),
    Perm.NATIONAL_VIEW: frozenset({R.ADMIN, R.SUPERVISOR, R.WATCHLIST}),
    Perm.LIFT_FLAG: frozenset({R.SUPERVISOR}),
    Perm.VIEW_REGISTRY_BIOMETRICS: frozenset({R.SUPERVISOR}),
}


def allowed(role: Role, perm: Perm) -> bool:
    return role in GRANTS[perm]
