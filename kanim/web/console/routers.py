"""Which desk routers each node's console serves (one home for the list)."""

from __future__ import annotations

from fastapi import APIRouter


def office_desks() -> list[APIRouter]:
    from kanim.web.console import (admin, announce, biometrics, cashier, dashboard, front_desk, intake, interview,
                                   notifications, pickup, print_room, status, supervisor, tickets)

    return [front_desk.router, intake.router, cashier.router, biometrics.router, interview.router, supervisor.router,
            print_room.router, pickup.router, admin.router, dashboard.router, notifications.router,
            tickets.router, status.router, announce.router]


def central_desks() -> list[APIRouter]:
    from kanim.web.console import national

    return [national.router]
