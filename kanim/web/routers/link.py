"""The office's view of its link to the central: health, queue, dead letters, incidents."""

from __future__ import annotations

from fastapi import APIRouter

from kanim.domain.errors import NotFound
from kanim.link import views
from kanim.security.roles import Perm
from kanim.web.contract import Route, errors
from kanim.web.deps import OfficeDep, Staff
from kanim.web.replies import DeadLetterOut, IncidentOut, LinkStatusOut, RetriedOut

router = APIRouter(prefix="/link", tags=["link"], route_class=Route)


@router.get("/status", response_model=LinkStatusOut)
def link_status(office: OfficeDep, user: Staff(Perm.VIEW_LINK)) -> dict:
    """Breaker state, queue depth, oldest unsent item, drain rate and ETA."""
    return views.status(office)


@router.get("/dead-letters", response_model=list[DeadLetterOut])
def dead_letters(office: OfficeDep, user: Staff(Perm.VIEW_LINK)) -> list[dict]:
    """Operations the central refused for good, with its reason; they hold back only their own
    application."""
    return views.dead_letters(office)


@router.post("/dead-letters/{op_id}/retry", response_model=RetriedOut,
             responses=errors({404: "`dead-letter-not-found`"}))
def retry(op_id: str, office: OfficeDep, user: Staff(Perm.MANAGE_LINK)) -> dict:
    if not views.retry_dead_letter(office, op_id, actor=user.username):
        raise NotFound(f"{op_id} is not a dead letter", code="dead-letter-not-found")
    return {"id": op_id, "status": "pending"}


@router.get("/incidents", response_model=list[IncidentOut])
def incidents(office: OfficeDep, user: Staff(Perm.VIEW_LINK)) -> list[dict]:
    """Every change of link health, newest first, with start and end."""
    return views.incidents(office)
