"""Which desk routers each node's console serves (one home for the list)."""

from __future__ import annotations

from fastapi import APIRouter


def office_desks() -> list[APIRouter]:
    from kanim.web.console import admin, front_desk, pickup, print_room

    return [front_desk.router, print_room.router, pickup.router, admin.router]


def central_desks() -> list[APIRouter]:
    return []
