"""The central's side of the link: the routes offices call, signed (kanim/central/auth.py has
checked the signature and the protocol version before a route runs). It uses only the
protocol (kanim/protocol) and the HTTP helpers both roles share (kanim/http), nothing of the
office's web package (tests/unit/test_import_rules.py)."""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Query, Request, Security
from fastapi.security import APIKeyHeader
from pydantic import BaseModel, Field

from kanim.central import service
from kanim.central.apply import TRANSIENT, BatchInvalid
from kanim.central.auth import OFFICE_SCOPE_KEY, PROTOCOL_SCOPE_KEY
from kanim.central.node import CentralNode
from kanim.http import problems
from kanim.http.routes import Route, errors
from kanim.protocol import batch
from kanim.protocol.schemas import MAX_OPERATIONS, MAX_SEQ, Envelope
from kanim.protocol.signing import H_DATE, H_LINK_STATE, H_NONCE, H_OFFICE, H_SIGNATURE

log = logging.getLogger("kanim.central")


class PushIn(BaseModel):
    """A batch (fields it does not name are ignored: an office a release ahead may send more).
    Each operation is checked on its own against the wire contract
    (kanim.protocol.schemas: `Envelope` and the payload schema of its type) and answered on its
    own: one malformed operation is that operation's refusal, not the batch's."""

    # Each item is parsed on its own (kanim.central.apply); the document shows what a valid one is.
    operations: list[dict[str, Any]] = Field(max_length=MAX_OPERATIONS, json_schema_extra={
        "items": Envelope.model_json_schema()})


async def pushed_operations(request: Request) -> list[Any]:
    """The batch's operations, read from the body by the version the office declared
    (kanim/protocol/batch.py): JSON up to version 2, the binary batch from version 3. A body that
    is not its version's layout is refused whole (400 `request-malformed`)."""
    version = request.scope.get(PROTOCOL_SCOPE_KEY, 1)
    try:
        return batch.decode(await request.body(), version=version,
                            max_document=request.app.state.node.settings.link_max_body_bytes)
    except batch.BodyMalformed as e:
        raise HTTPException(400, f"{e} (protocol version {version})") from None


# The body as OpenAPI documents it: the route reads it itself (`pushed_operations`), by version.
PUSH_BODY = {"requestBody": {"required": True, "content": {
    batch.JSON_TYPE: {"schema": PushIn.model_json_schema()},
    batch.CONTENT_TYPE: {"schema": {
        "type": "string", "format": "binary",
        "description": "protocol version 3: the binary batch (docs/protocol.md, \"The push body\")"}}}}}


class OperationResultOut(BaseModel):
    id: str
    ok: bool
    permanent: bool = False
    error: str | None = None


class PushOut(BaseModel):
    results: list[OperationResultOut]


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
VERSION_REFUSED = ("`protocol-version-unsupported`: the office declares an `X-Kanim-Protocol` version this "
                   "central does not speak (docs/protocol.md)")
SIGNED_ERRORS = errors({400: VERSION_REFUSED,
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


@link.post("/operations", response_model=PushOut, openapi_extra=PUSH_BODY, responses={**SIGNED_ERRORS, **errors(
    {400: "`request-malformed`: the body is not its protocol version's layout (JSON up to version 2, the binary "
          "batch from version 3); or " + VERSION_REFUSED,
     422: "`batch-invalid`: an operation without a usable id; a malformed operation with an id is answered in "
          "`results` instead",
     429: "`slow-down`: the office pushes faster than the central accepts; wait `Retry-After`",
     503: "`central-busy`: a transient database failure; retry"})})
def push(office_code: SignedOffice, operations: Annotated[list[Any], Depends(pushed_operations)], node: NodeDep,
         request: Request) -> Any:
    """Apply a batch of an office's operations, each exactly once per (office, operation id),
    each application's in sequence order; one answer per operation, in the batch's order."""
    wait = node.throttle.take(office_code, len(operations))
    if wait > 0:
        return problems.problem(429, "slow-down", f"office {office_code} is draining faster than the central "
                                f"accepts; retry after {wait:.1f}s", headers={"Retry-After": str(max(1, round(wait)))})
    try:
        results = service.push(node, office_code=office_code, operations=operations,
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


class HistoryOperationOut(BaseModel):
    id: str
    seq: int
    subject: str
    op: str
    payload: dict[str, Any] = Field(description="as the central applied it; a capture's images where the "
                                                "registry still holds them (base64)")


class HistoryOut(BaseModel):
    office: str
    after: int
    after_id: str
    challenge: str = Field(description="the request's, signed with the rest: a page cannot be played back")
    operations: list[HistoryOperationOut]
    next: int = Field(description="with `next_id`, where to ask after next")
    next_id: str
    more: bool
    last_seq: int = Field(description="the highest sequence the central holds for this office")
    feed_cursor: int = Field(description="the feed's events this office had applied: their effects are in the history")
    not_kept: int = Field(description="operations applied before the central kept their bodies: not given back")
    signature: str = Field(description="Ed25519 by the central's key over the rest of the document (docs/backup.md)")


@link.get("/history", response_model=HistoryOut, responses=SIGNED_ERRORS)
def history(office_code: SignedOffice, node: NodeDep, after: Annotated[int, Query(ge=0, le=MAX_SEQ)] = 0,
            after_id: Annotated[str, Query(max_length=36, pattern=r"^[A-Za-z0-9-]*$")] = "",
            limit: Annotated[int, Query(ge=1, le=2000)] = 500,
            challenge: Annotated[str, Query(max_length=64, pattern=r"^[A-Za-z0-9_-]*$")] = "") -> dict:
    """What this office sent after (`after`, `after_id`), in its order, signed: an office that lost
    its data is rebuilt from it (`kanim backup rejoin`). Every image given back is an audited read."""
    return service.history(node, office_code=office_code, after=after, after_id=after_id, limit=limit,
                           challenge=challenge)
