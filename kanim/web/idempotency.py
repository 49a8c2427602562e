"""The `Idempotency-Key` request header (IETF httpapi, draft-ietf-httpapi-idempotency-key-header)
on every staff request that changes something: a desk whose answer got lost (a double click, a
timeout, a flaky Wi-Fi) sends the same request with the same key again, and gets the first
answer instead of a second walk-in, payment or booklet.

- The key is optional; without it a request runs as before. It is 1-255 printable ASCII
  characters, quoted as the draft's structured-field string or bare.
- Keys belong to the staff user who sent them (two desks may use the same key) and are kept
  `KANIM_IDEMPOTENCY_HOURS` (at least 24).
- The same key with the same request (method, path, query and body) replays the first answer:
  its status, body, `Content-Type`, `Cache-Control` and `Location`, plus `Idempotent-Replayed: true`.
- The same key with another request: 422 `idempotency-key-reused`.
- While the first request with a key is running, others get 409 `idempotency-key-in-flight` with
  `Retry-After: 1` (the draft's answer; waiting would hold a worker per retry). So four clicks at
  once make one effect.
- A refused request changes nothing and keeps nothing: its key is free again.
- Multipart uploads are fingerprinted by their parts (names, file names, content types and the
  files' SHA-256), not by their raw bytes: a client's retry picks a new multipart boundary.

How the claim is stored, and what happens when the process dies half-way, is explained in
kanim/store/idempotency.py.
"""

# No `from __future__ import annotations`: FastAPI must read the dependency's signature, which
# names a local (the route's permission check).
import hashlib
import json
from collections.abc import Callable, Coroutine
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import timedelta
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import Depends, Header, Request, Response
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile

from kanim.office.accounts import StaffUser
from kanim.store import idempotency as store
from kanim.store import uow
from kanim.http.problems import problem

HEADER = "Idempotency-Key"
KEY_PATTERN = r'^(?:"[!#-~]{1,255}"|[!#-~]{1,255})$'  # printable ASCII without `"`, maybe quoted
KEPT_HEADERS = ("content-type", "cache-control", "location")
REPLAYED = "Idempotent-Replayed"
Handler = Callable[[Request], Coroutine[Any, Any, Response]]


@dataclass
class Holder:
    """This request's claim, joined to the next unit of work that commits (see store/uow.py)."""

    claim: store.Claim | None = None

    def __call__(self, session: Session) -> None:
        if self.claim is not None:
            self.claim.join(session)


_holder: ContextVar[Holder | None] = ContextVar("kanim_idempotency_holder", default=None)


class Answered(Exception):
    """The key decides the answer before the route runs: a replay or a refusal."""

    def __init__(self, response: Response) -> None:
        self.response = response


def dependency(perm_check: Callable[..., Any]) -> Any:
    """The header's dependency for a route guarded by `perm_check` (the route's Staff(...)
    check): it runs after it, so a key is claimed only for a request the user may make."""

    async def idempotency_key(request: Request, user: Annotated[StaffUser, Depends(perm_check)],
                              key: Annotated[str, Header(
                                  alias=HEADER, pattern=KEY_PATTERN, max_length=257,
                                  description="makes a retry safe: the same key and request replay the first "
                                  "answer (see docs/api.md)", examples=['"5f0c8a7e-walk-in-1"'])] = None) -> None:
        holder = _holder.get()
        if key is None or holder is None:
            return
        office = request.app.state.office
        found, value = await run_in_threadpool(
            store.claim, office.session_factory, username=user.username, key=key.strip('"'),
            fingerprint=await fingerprint(request), now=office.clock.now(),
            keep=timedelta(hours=office.settings.idempotency_hours))
        if found is store.Found.CLAIMED:
            holder.claim = value
            return
        raise Answered(_refusal(found, value, request.url.path))

    idempotency_key.kanim_idempotency = True  # type: ignore[attr-defined]
    return Depends(idempotency_key)


def _refusal(found: store.Found, value: Any, path: str) -> Response:
    if found is store.Found.REPLAY:
        return Response(value.body, status_code=value.status, headers={**value.headers, REPLAYED: "true"})
    if found is store.Found.REUSED:
        return problem(422, "idempotency-key-reused", "this Idempotency-Key came with another request before; "
                       "use a new key for a new request", instance=path)
    if found is store.Found.LOST:
        return problem(409, "idempotency-answer-lost", "the first request with this Idempotency-Key took effect, "
                       "but the server stopped before it could answer; look the result up instead of retrying",
                       instance=path)
    return problem(409, "idempotency-key-in-flight", "a request with this Idempotency-Key is still running; "
                   "retry in a moment to get its answer", instance=path, headers={"Retry-After": "1"})


async def fingerprint(request: Request) -> str:
    """SHA-256 of the method, path, query and body; JSON bodies in canonical form (key order and
    spacing do not make another request), form bodies part by part."""
    h = hashlib.sha256()

    def part(data: bytes) -> None:
        h.update(len(data).to_bytes(8, "big") + data)

    part(request.method.encode())
    part(request.url.path.encode())
    part(urlencode(sorted(request.query_params.multi_items())).encode())
    content_type = request.headers.get("content-type", "")
    if content_type.startswith(("multipart/form-data", "application/x-www-form-urlencoded")):
        for name, value in (await request.form()).multi_items():  # parsed (and cached) by FastAPI already
            part(name.encode())
            if isinstance(value, UploadFile):
                data = await value.read()
                await value.seek(0)
                part(f"{value.filename}\0{value.content_type}".encode())
                part(hashlib.sha256(data).digest())
            else:
                part(value.encode())
    else:
        part(_canonical(await request.body()))
    return h.hexdigest()


def _canonical(body: bytes) -> bytes:
    try:
        return json.dumps(json.loads(body), sort_keys=True, separators=(",", ":")).encode()
    except ValueError:
        return body


def wrap(handler: Handler) -> Handler:
    """The route's handler, with its claim kept (answer stored) or released (request refused)."""

    async def idempotent(request: Request) -> Response:
        holder = Holder()
        holder_token, join_token = _holder.set(holder), uow.joining.set(holder)
        try:
            try:
                response = await handler(request)
            except Answered as answered:
                return answered.response
            except BaseException:
                await _release(request, holder)
                raise
            body = getattr(response, "body", None)  # a streamed answer cannot be kept: it stays "applied"
            if holder.claim is not None and body is not None:
                answer = store.Answer(response.status_code, _kept(response), bytes(body))
                await run_in_threadpool(store.store_answer, request.app.state.office.session_factory,
                                        holder.claim, answer)
            return response
        finally:
            _holder.reset(holder_token)
            uow.joining.reset(join_token)

    return idempotent


async def _release(request: Request, holder: Holder) -> None:
    if holder.claim is not None and not holder.claim.applied:
        await run_in_threadpool(store.release, request.app.state.office.session_factory, holder.claim)


def _kept(response: Response) -> dict[str, str]:
    return {k: v for k, v in response.headers.items() if k in KEPT_HEADERS}
