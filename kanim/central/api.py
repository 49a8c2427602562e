"""The central hub's HTTP API: the link endpoints (signed by offices) and the staff endpoints
(bearer tokens, like the office's)."""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, FastAPI, HTTPException, Path, Query, Request, Security
from fastapi.responses import RedirectResponse, Response
from fastapi.security import APIKeyHeader
from fastapi_offline import FastAPIOffline
from pydantic import BaseModel, Field

import kanim
from kanim.central import biometrics, service
from kanim.central.apply import TRANSIENT, BatchInvalid
from kanim.central.node import CentralNode
from kanim.protocol.schemas import MAX_OPERATIONS, MAX_SEQ, Envelope
from kanim.central.auth import OFFICE_SCOPE_KEY, SignedLink
from kanim.domain.clearances import ClearanceKind
from kanim.protocol.signing import H_DATE, H_LINK_STATE, H_NONCE, H_OFFICE, H_SIGNATURE
from kanim.security.roles import Perm
from kanim.http import problems
from kanim.web import console, contract
from kanim.web.console.routers import central_desks
from kanim.web.contract import Route, errors
from kanim.http.wire import SERIAL
from kanim.http.limits import BodyLimit
from kanim.web.deps import Staff
from kanim.web.routers import auth
from kanim.web.schemas import RequestBody, WatchlistOrderIn

API = "/api/v1"
log = logging.getLogger("kanim.central")
STAFF_MAX_BODY = 1_000_000  # a watch-list order or an office registration is a few hundred bytes


class PushIn(BaseModel):
    """A batch (fields it does not name are ignored: an office a release ahead may send more).
    Each operation is checked on its own against the wire contract
    (kanim.protocol.schemas: `Envelope` and the payload schema of its type) and answered on its
    own: one malformed operation is that operation's refusal, not the batch's."""

    # Each item is parsed on its own (kanim.central.apply); the document shows what a valid one is.
    operations: list[dict[str, Any]] = Field(max_length=MAX_OPERATIONS, json_schema_extra={
        "items": Envelope.model_json_schema()})


class OperationResultOut(BaseModel):
    id: str
    ok: bool
    permanent: bool = False
    error: str | None = None


class PushOut(BaseModel):
    results: list[OperationResultOut]


class OfficeIn(RequestBody):
    code: str = Field(pattern=r"^[A-Z0-9]{2,8}$")
    name: str = Field(min_length=1, max_length=200)
    public_key: str = Field(pattern=r"^[A-Za-z0-9+/]{43}=$", description="base64 of the office's Ed25519 "
                            "public key, as `kanim link key` prints it")


class AllocationIn(RequestBody):
    office_code: str = Field(pattern=r"^[A-Z0-9]{2,8}$")
    first: str = Field(max_length=16, json_schema_extra=SERIAL, examples=["X1000001"])
    last: str = Field(max_length=16, json_schema_extra=SERIAL, examples=["X1000500"])


def get_node(request: Request) -> CentralNode:
    return request.app.state.node


NodeDep = Annotated[CentralNode, Depends(get_node)]


# The four signature headers, as the OpenAPI document's security requirement of the link routes.
# kanim.central.auth checks them before the body is read; these only document them.
_SIGNATURE_HEADERS = [APIKeyHeader(name=name, scheme_name=name, auto_error=False, description=text) for name, text in (
    (H_OFFICE, "the office's code, as registered at the central"),
    (H_DATE, "seconds since the epoch; within 5 minutes of the central's clock"),
    (H_NONCE, "16-64 URL-safe characters, new for every request: a request is accepted once"),
    (H_SIGNATURE, "base64 Ed25519 over METHOD, path?query, date, nonce and the body's SHA-256 (docs/link.md)"),
)]
SIGNED_ERRORS = errors({400: "`protocol-version-unsupported`: the office declares an `X-Kanim-Protocol` version "
                             "this central does not speak (docs/protocol.md)",
                        401: "`not-authenticated`: a signature header missing or malformed, an unknown office, "
                             "a bad signature, a date outside the skew, or a request seen before",
                        413: "`body-too-large`: over KANIM_LINK_MAX_BODY_BYTES, refused before it is read"})


async def signed_office(request: Request, _office: Annotated[str | None, Security(_SIGNATURE_HEADERS[0])],
                        _date: Annotated[str | None, Security(_SIGNATURE_HEADERS[1])],
                        _nonce: Annotated[str | None, Security(_SIGNATURE_HEADERS[2])],
                        _signature: Annotated[str | None, Security(_SIGNATURE_HEADERS[3])]) -> str:
    """The office that signed this request (kanim.central.auth checked it before the body was
    read); 401 for anyone else."""
    office = request.scope.get(OFFICE_SCOPE_KEY)
    if office is None:
        raise HTTPException(401, "this route takes requests signed by an office")
    return office


SignedOffice = Annotated[str, Depends(signed_office)]
link = APIRouter(prefix="/link", tags=["link (signed by offices)"], route_class=Route)


class EventOut(BaseModel):
    id: str
    seq: int
    kind: str = Field(json_schema_extra={"enum": ["clearance", "watchlist", "allocation", "rebuild"]})
    subject: str
    payload: dict[str, Any] = Field(description="the event's content and its `feed_signature`")
    created_at: datetime


class EventsOut(BaseModel):
    events: list[EventOut]
    next: int = Field(description="the cursor to ask after next")
    central_id: str = Field(description="changes when the central was rebuilt from nothing")
    last_seq: int


class SnapshotOut(BaseModel):
    snapshot: dict[str, Any] = Field(description="`taken_at` and the `orders` in force")
    signature: str
    public_key: str


@link.post("/operations", response_model=PushOut, responses={**SIGNED_ERRORS, **errors(
    {422: "`batch-invalid` (an operation without a usable id) or `request-invalid`; a malformed operation "
          "with an id is answered in `results` instead",
     429: "`slow-down`: the office pushes faster than the central accepts; wait `Retry-After`",
     503: "`central-busy`: a transient database failure; retry"})})
def push(body: PushIn, office_code: SignedOffice, node: NodeDep, request: Request) -> Any:
    """Apply a batch of an office's operations, each exactly once per (office, operation id),
    each application's in sequence order; one answer per operation, in the batch's order."""
    wait = node.throttle.take(office_code, len(body.operations))
    if wait > 0:
        return problems.problem(429, "slow-down", f"office {office_code} is draining faster than the central "
                                f"accepts; retry after {wait:.1f}s", headers={"Retry-After": str(max(1, round(wait)))})
    try:
        results = service.push(node, office_code=office_code, operations=body.operations,
                               link_state=request.headers.get(H_LINK_STATE))
    except BatchInvalid as e:
        return problems.problem(422, "batch-invalid", str(e))
    except TRANSIENT:
        log.warning("central: a batch of office %s hit a transient database failure; the office retries", office_code)
        return problems.problem(503, "central-busy", "the central's database is busy or unreachable; retry later",
                                headers={"Retry-After": "2"})
    return {"results": [r.__dict__ for r in results]}


@link.get("/events", response_model=EventsOut, responses=SIGNED_ERRORS)
def events(office_code: SignedOffice, node: NodeDep, after: Annotated[int, Query(ge=0, le=MAX_SEQ)] = 0,
           limit: Annotated[int, Query(ge=1, le=5000)] = 1000) -> dict:
    """Central events for this office after its cursor: decisions, watch-list deltas, allocations."""
    page = service.events(node, office_code=office_code, after=after, limit=limit)
    return page.__dict__


@link.get("/watchlist", response_model=SnapshotOut, responses=SIGNED_ERRORS)
def watchlist(office_code: SignedOffice, node: NodeDep) -> dict:
    """The whole watch-list in force, signed and dated."""
    return service.watchlist_snapshot(node)


class NumbersOut(BaseModel):
    highest: dict[str, int]  # ISO day → the highest serial of that day the central holds


@link.get("/numbers", response_model=NumbersOut, responses=SIGNED_ERRORS)
def numbers(office_code: SignedOffice, node: NodeDep) -> dict:
    """The highest application number per day the central holds for this office: a restored
    office continues after them (`kanim backup rejoin`)."""
    return {"highest": service.highest_numbers(node, office_code=office_code)}


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
