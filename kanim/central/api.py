"""The central hub's HTTP app: the link endpoints (signed by offices: kanim/central/link_api.py)
and the staff endpoints (bearer tokens, like the office's)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, FastAPI, Path, Query
from fastapi.responses import RedirectResponse, Response
from fastapi_offline import FastAPIOffline
from pydantic import BaseModel, Field

import kanim
from kanim.central import biometrics, service
from kanim.central.auth import SignedLink
from kanim.central.link_api import NodeDep, link
from kanim.central.node import CentralNode
from kanim.domain.clearances import ClearanceKind
from kanim.http import problems
from kanim.http.limits import BodyLimit
from kanim.http.wire import SERIAL
from kanim.security.roles import Perm

# The staff surface still borrows the office's web package (docs/protocol.md, "What is not
# decoupled yet"): logins, permissions, the console. The link routes (link_api) do not.
from kanim.web import console, contract
from kanim.web.console.routers import central_desks
from kanim.web.contract import Route, errors
from kanim.web.deps import Staff
from kanim.web.routers import auth
from kanim.web.schemas import RequestBody, WatchlistOrderIn

API = "/api/v1"
STAFF_MAX_BODY = 1_000_000  # a watch-list order or an office registration is a few hundred bytes


class OfficeIn(RequestBody):
    code: str = Field(pattern=r"^[A-Z0-9]{2,8}$")
    name: str = Field(min_length=1, max_length=200)
    public_key: str = Field(pattern=r"^[A-Za-z0-9+/]{43}=$", description="base64 of the office's Ed25519 "
                            "public key, as `kanim link key` prints it")


class AllocationIn(RequestBody):
    office_code: str = Field(pattern=r"^[A-Z0-9]{2,8}$")
    first: str = Field(max_length=16, json_schema_extra=SERIAL, examples=["X1000001"])
    last: str = Field(max_length=16, json_schema_extra=SERIAL, examples=["X1000500"])


staff = APIRouter(route_class=Route)


class CreatedOut(BaseModel):
    id: str


class OfficeCodeOut(BaseModel):
    code: str


class OfficeViewOut(BaseModel):
    code: str
    name: str
    link_state: str = Field(json_schema_extra={"enum": ["never", "up", "degraded", "down"]})
    reported_link_state: str | None
    last_contact_at: datetime | None
    backlog_by_stage: dict[str, int]
    oldest_waiting_since: datetime | None


class AllocationOut(BaseModel):
    id: str
    office_code: str
    first: str
    last: str
    count: int


class LiftOut(BaseModel):
    application_id: str
    kind: ClearanceKind
    state: str


class PaymentIssueOut(BaseModel):
    id: int
    billing_code: str
    kind: str = Field(json_schema_extra={"enum": ["amount", "unknown_code", "paid_twice"]})
    detail: str
    created_at: datetime
    resolved_at: datetime | None
    resolved_by: str | None


class HealthOut(BaseModel):
    status: str
    role: str


@staff.post("/watchlist/orders", status_code=201, tags=["watch-list"], response_model=CreatedOut)
def add_order(body: WatchlistOrderIn, node: NodeDep, user: Staff(Perm.MANAGE_CENTRAL_WATCHLIST)) -> dict:
    oid = service.add_watchlist_order(node, service.Order(**body.model_dump()), actor=user.username)
    return {"id": oid}


@staff.delete("/watchlist/orders/{order_id}", status_code=204, tags=["watch-list"], responses=errors(
    {404: "`watchlist-order-not-found`: no active order with that id"}))
def revoke_order(order_id: Annotated[str, Path(max_length=36)], node: NodeDep, user: Staff(Perm.MANAGE_CENTRAL_WATCHLIST)) -> None:
    service.revoke_watchlist_order(node, order_id, actor=user.username)


@staff.post("/offices", status_code=201, tags=["offices"], response_model=OfficeCodeOut)
def register_office(body: OfficeIn, node: NodeDep, user: Staff(Perm.MANAGE_OFFICES)) -> dict:
    service.register_office(node, code=body.code, name=body.name, public_key=body.public_key, actor=user.username)
    return {"code": body.code}


@staff.get("/offices", tags=["national view"], response_model=list[OfficeViewOut])
def offices(node: NodeDep, user: Staff(Perm.NATIONAL_VIEW)) -> list[dict]:
    """Per office: link state, last contact, backlog by stage, oldest waiting item."""
    return service.national_view(node)


@staff.post("/booklets/allocations", status_code=201, tags=["booklets"], response_model=AllocationOut,
            responses=errors({404: "`office-unknown`: no such office", 409: "`allocation-overlap`"}))
def allocate(body: AllocationIn, node: NodeDep, user: Staff(Perm.MANAGE_OFFICES)) -> dict:
    return service.allocate_booklets(node, office_code=body.office_code, first=body.first, last=body.last,
                                     actor=user.username)


class LiftIn(RequestBody):
    reason: str = Field(min_length=1, max_length=2000)


@staff.post("/registry/applications/{application_id}/clearances/{kind}/lift", status_code=202,
            tags=["registry"], response_model=LiftOut)
def lift_flag(application_id: Annotated[str, Path(max_length=36)], kind: ClearanceKind, body: LiftIn, node: NodeDep, user: Staff(Perm.LIFT_FLAG)) -> dict:
    """Lift a flag after review: the only way a flagged clearance becomes confirmed."""
    service.lift_flag(node, application_id=application_id, kind=kind.value, reason=body.reason, actor=user.username)
    return {"application_id": application_id, "kind": kind, "state": "confirmed"}


@staff.get("/registry/applications/{application_id}/biometrics/{position}", response_class=Response,
           tags=["registry"], responses={200: {"content": {"image/jpeg": {}, "image/png": {}}}})
def registry_biometric(application_id: Annotated[str, Path(max_length=36)],
                       position: Annotated[int, Path(ge=0, le=10, description="0 the face, 1-10 the fingers")],
                       purpose: Annotated[str, Query(min_length=3, max_length=200,
                                                     description="why it is looked at: written to the audit log")],
                       node: NodeDep, user: Staff(Perm.VIEW_REGISTRY_BIOMETRICS)) -> Response:
    """A face or a finger as the registry holds it (sealed at rest). Every read is audited."""
    data = biometrics.read(node, application_id=application_id, position=position, actor=user.username,
                           purpose=purpose)
    kind = "image/png" if data.startswith(b"\x89PNG") else "image/jpeg"
    return Response(data, media_type=kind, headers={"Cache-Control": "no-store"})


@staff.get("/payments/issues", tags=["payments"], response_model=list[PaymentIssueOut])
def payment_issues(node: NodeDep, user: Staff(Perm.NATIONAL_VIEW)) -> list[dict]:
    """Mismatches for a supervisor: wrong amount, unknown code, paid twice."""
    return service.payment_issues(node)


def create_central_app(node: CentralNode) -> FastAPI:
    app = FastAPIOffline(title="kanim central hub", version=kanim.__version__, openapi_url="/openapi.json")
    app.state.node = node
    app.state.office = node  # the staff routers' dependencies read `office.uow()` and settings
    # Staff bodies are small; the link's bodies are checked (size, signature) by SignedLink.
    app.add_middleware(BodyLimit, max_bytes=STAFF_MAX_BODY, exempt=f"{API}/link/")
    app.add_middleware(SignedLink, node=node, prefix=f"{API}/link/", max_body_bytes=node.settings.link_max_body_bytes)
    problems.install(app)  # after the other middleware: its catch-all is the outermost
    contract.install(app)  # the Problem schema the shared auth routes refer to
    for r in (auth.router, link, staff):
        app.include_router(r, prefix=API)

    @app.get(f"{API}/health", tags=["health"], response_model=HealthOut)
    def health() -> dict:
        return {"status": "ok", "role": "central"}

    # The central's staff console: the national view and the payment mismatches. Its sessions,
    # logins and language work as at an office, on the central's own accounts (app.state.office).
    console.install(app, node="central", routers=central_desks())

    @app.get("/", include_in_schema=False)
    def home() -> RedirectResponse:
        return RedirectResponse("/staff/")

    return app
