"""Which desk routers each node's console serves (one home for the list)."""

from __future__ import annotations

from fastapi import APIRouter


def office_desks() -> list[APIRouter]:
    from kanim.web.console import dashboard, front_desk

    return [front_desk.router, dashboard.router]


def central_desks() -> list[APIRouter]:
    from kanim.web.console import national

    return [national.router]
