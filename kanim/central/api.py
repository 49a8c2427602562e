"""The central hub's HTTP API: the link endpoints (signed by offices) and the staff endpoints
(bearer tokens, like the office's)."""

from __future__ import annotations

import time
from typing import Annotated, Any

from fastapi import APIRouter, Depends, FastAPI, HTTPException, Query, Request
from fastapi_offline import FastAPIOffline
from pydantic import BaseModel, Field

import kanim
from kanim.central import service
from kanim.central.node import CentralNode
from kanim.link.signing import H_OFFICE, SignatureError, verify_request
from kanim.office.ports import Operation
from kanim.security.roles import Perm
from kanim.web import contract, problems
from kanim.web.wire import INT64_MAX
from kanim.web.deps import Staff
from kanim.web.routers import auth
from kanim.web.schemas import WatchlistOrderIn

API = "/api/v1"


class OperationIn(BaseModel):
    id: str = Field(min_length=1, max_length=36)
    seq: int = Field(ge=0, le=INT64_MAX)
    subject: str = Field(min_length=1, max_length=64)
    op: str = Field(min_length=1, max_length=48)
    payload: dict[str, Any]


class PushIn(BaseModel):
    operations: list[OperationIn] = Field(max_length=5000)


class OfficeIn(BaseModel):
    code: str = Field(pattern=r"^[A-Z0-9]{2,8}$")
    name: str = Field(min_length=1, max_length=200)
    public_key: str


class AllocationIn(BaseModel):
    office_code: str
    first: str
    last: str


def get_node(request: Request) -> CentralNode:
    return request.app.state.node


NodeDep = Annotated[CentralNode, Depends(get_node)]


async def signed_office(request: Request) -> str:
    """The office that signed this request; 401 for anyone else."""
    node: CentralNode = request.app.state.node
    code = request.headers.get(H_OFFICE, "")
    key = service.office_key(node, code) if code else None
    if key is None:
        raise HTTPException(401, f"unknown or inactive office {code!r}")
    body = await request.body()
    path = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    try:
        verify_request(key, request.method, path, body, request.headers, time.time())
    except SignatureError as e:
        raise HTTPException(401, str(e)) from None
    return code


SignedOffice = Annotated[str, Depends(signed_office)]
link = APIRouter(prefix="/link", tags=["link (signed by offices)"])


@link.post("/operations")
def push(body: PushIn, office_code: SignedOffice, node: NodeDep, request: Request) -> Any:
    """Apply a batch of an office's operations, each exactly once by its id."""
    wait = node.throttle.take(office_code, len(body.operations))
    if wait > 0:
        return problems.problem(429, "slow-down", f"office {office_code} is draining faster than the central "
                                f"accepts; retry after {wait:.1f}s", headers={"Retry-After": str(max(1, round(wait)))})
    ops = [Operation(o.id, o.seq, o.subject, o.op, o.payload, office_code) for o in body.operations]
    results = service.push(node, office_code=office_code, operations=ops,
                           link_state=request.headers.get("X-Kanim-Link-State"))
    return {"results": [r.__dict__ for r in results]}


@link.get("/events")
def events(office_code: SignedOffice, node: NodeDep, after: Annotated[int, Query(ge=0, le=INT64_MAX)] = 0,
           limit: Annotated[int, Query(ge=1, le=5000)] = 1000) -> dict:
    """Central events for this office after its cursor: decisions, watch-list deltas, allocations."""
    page = service.events(node, office_code=office_code, after=after, limit=limit)
    return page.__dict__


@link.get("/watchlist")
def watchlist(office_code: SignedOffice, node: NodeDep) -> dict:
    """The whole watch-list in force, signed and dated."""
    return service.watchlist_snapshot(node)


staff = APIRouter()


@staff.post("/watchlist/orders", status_code=201, tags=["watch-list"])
def add_order(body: WatchlistOrderIn, node: NodeDep, user: Staff(Perm.MANAGE_CENTRAL_WATCHLIST)) -> dict:
    oid = service.add_watchlist_order(node, service.Order(**body.model_dump()), actor=user.username)
    return {"id": oid}


@staff.delete("/watchlist/orders/{order_id}", status_code=204, tags=["watch-list"])
def revoke_order(order_id: str, node: NodeDep, user: Staff(Perm.MANAGE_CENTRAL_WATCHLIST)) -> None:
    service.revoke_watchlist_order(node, order_id, actor=user.username)


@staff.post("/offices", status_code=201, tags=["offices"])
def register_office(body: OfficeIn, node: NodeDep, user: Staff(Perm.MANAGE_OFFICES)) -> dict:
    service.register_office(node, code=body.code, name=body.name, public_key=body.public_key, actor=user.username)
    return {"code": body.code}


@staff.get("/offices", tags=["national view"])
def offices(node: NodeDep, user: Staff(Perm.NATIONAL_VIEW)) -> list[dict]:
    """Per office: link state, last contact, backlog by stage, oldest waiting item."""
    return service.national_view(node)


@staff.post("/booklets/allocations", status_code=201, tags=["booklets"])
def allocate(body: AllocationIn, node: NodeDep, user: Staff(Perm.MANAGE_OFFICES)) -> dict:
    return service.allocate_booklets(node, office_code=body.office_code, first=body.first, last=body.last,
                                     actor=user.username)


class LiftIn(BaseModel):
    reason: str = Field(min_length=1, max_length=2000)


@staff.post("/registry/applications/{application_id}/clearances/{kind}/lift", status_code=202,
            tags=["registry"])
def lift_flag(application_id: str, kind: str, body: LiftIn, node: NodeDep, user: Staff(Perm.LIFT_FLAG)) -> dict:
    """Lift a flag after review: the only way a flagged clearance becomes confirmed."""
    service.lift_flag(node, application_id=application_id, kind=kind, reason=body.reason, actor=user.username)
    return {"application_id": application_id, "kind": kind, "state": "confirmed"}


@staff.get("/payments/issues", tags=["payments"])
def payment_issues(node: NodeDep, user: Staff(Perm.NATIONAL_VIEW)) -> list[dict]:
    """Mismatches for a supervisor: wrong amount, unknown code, paid twice."""
    return service.payment_issues(node)


def create_central_app(node: CentralNode) -> FastAPI:
    app = FastAPIOffline(title="kanim central hub", version=kanim.__version__, openapi_url="/openapi.json")
    app.state.node = node
    app.state.office = node  # the staff routers' dependencies read `office.uow()` and settings
    problems.install(app)
    contract.install(app)  # the Problem schema the shared auth routes refer to
    for r in (auth.router, link, staff):
        app.include_router(r, prefix=API)

    @app.get(f"{API}/health", tags=["health"])
    def health() -> dict:
        return {"status": "ok", "role": "central"}

    return app
