"""RFC 9457 problem details for every error, so a desk client can show the exact rule that
failed ("photo-several-faces", "billing-expired") instead of a generic "network error".

`Problem` is the one schema of every error body, as sent and as documented in OpenAPI. An
exception no handler knows (a bug, a full disk) is still a problem: 500 with an `error_id` that
the server's log names beside the stack, so an administrator can find it. The log gets the
exception's type and where it happened, never its message: messages of SQLAlchemy, pydantic and
the standard library quote the values they choke on, and those values may be a NIK or a name.
"""

from __future__ import annotations

import logging
import traceback
import uuid
from collections.abc import Callable
from typing import Any

from fastapi import FastAPI, Request, routing
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, ConfigDict, Field
from pydantic.json_schema import SkipJsonSchema
from sqlalchemy.orm.exc import StaleDataError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from kanim.domain.errors import DomainError

MEDIA_TYPE = "application/problem+json"
TITLES = {400: "Bad request", 401: "Not authenticated", 403: "Forbidden", 404: "Not found",
          405: "Method not allowed", 409: "Conflict", 410: "Gone", 413: "Content too large",
          422: "Unprocessable content", 429: "Too many requests", 500: "Internal server error"}
HTTP_CODES = {400: "request-malformed", 401: "not-authenticated", 403: "forbidden", 404: "not-found",
              405: "method-not-allowed"}

log = logging.getLogger("kanim.web")


class ProblemError(BaseModel):
    """One field a request got wrong (only in `request-invalid` problems)."""

    loc: list[str | int] = Field(description="where: `body`, `query`, `path` or `header`, then the field's path",
                                 examples=[["body", "birth_date"]])
    msg: str = Field(examples=["Input should be a valid date"])
    type: str = Field(description="pydantic's error type", examples=["date_from_datetime_parsing"])


class Problem(BaseModel):
    """An RFC 9457 problem document: the body of every error answer (`application/problem+json`).

    `code` is stable and machine-readable; `detail` is one line for people. Some problems carry
    more members, named here; a client should ignore members it does not know."""

    model_config = ConfigDict(extra="allow", title="Problem")

    type: str = Field(description="`urn:kanim:problem:<code>`", examples=["urn:kanim:problem:billing-expired"])
    title: str = Field(description="the HTTP status in words", examples=["Gone"])
    status: int = Field(ge=400, le=599, examples=[410])
    detail: str = Field(examples=["billing code 812345678901234 expired at 10:03"])
    code: str = Field(pattern=r"^[a-z0-9]+(-[a-z0-9]+)*$", examples=["billing-expired"])
    instance: str | SkipJsonSchema[None] = Field(default=None, description="the request's path",
                                                 examples=["/api/v1/payments"])
    errors: list[ProblemError] | SkipJsonSchema[None] = Field(
        default=None, description="`request-invalid`: each field that is wrong")
    reasons: list[str] | SkipJsonSchema[None] = Field(
        default=None, description="a closed gate or guardrail (`print-gate-closed`, `handover-gate-closed`, "
        "`guardrail`): each clearance or rule that holds it shut")
    missing: list[str] | SkipJsonSchema[None] = Field(
        default=None, description="`documents-missing`, `fingerprints-incomplete`: what is still missing")
    error_id: str | SkipJsonSchema[None] = Field(
        default=None, description="`internal-error`: the id under which the server logged what went wrong")


def problem(status: int, code: str, detail: str, *, instance: str | None = None,
            headers: dict[str, str] | None = None, **extra: Any) -> JSONResponse:
    body = {"type": f"urn:kanim:problem:{code}", "title": TITLES.get(status, "Error"),
            "status": status, "detail": detail, "code": code}
    if instance:
        body["instance"] = instance
    body.update({k: v for k, v in extra.items() if v is not None})
    return JSONResponse(body, status_code=status, media_type=MEDIA_TYPE, headers=headers)


def install(app: FastAPI) -> None:
    """The exception handlers, and the catch-all for everything else. Call it after adding the
    app's other middleware: the catch-all must be outermost, or it would turn an exception that
    an outer middleware answers itself (BodyLimit's "too large") into a 500."""

    @app.exception_handler(DomainError)
    async def _domain(request: Request, exc: DomainError) -> Response:
        return _answer(request, exc.status, exc.code, exc.message, **exc.extra)

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> Response:
        errors = [{"loc": list(e.get("loc", ())), "msg": e.get("msg", ""), "type": e.get("type", "")}
                  for e in exc.errors()]
        detail = "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in errors)
        return _answer(request, 422, "request-invalid", detail, errors=errors)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> Response:
        code = HTTP_CODES.get(exc.status_code, "http-error")
        headers = getattr(exc, "headers", None)
        if exc.status_code == 405:
            headers = {**(headers or {}), "Allow": _allowed_methods(request)}
        return _answer(request, exc.status_code, code, str(exc.detail), headers=headers)

    @app.exception_handler(StaleDataError)
    async def _stale(request: Request, exc: StaleDataError) -> Response:
        return _answer(request, 409, "concurrent-change", "another desk changed this application at the same "
                       "time; reload and try again")

    app.add_middleware(UnexpectedErrors)


# Where a path prefix answers errors as pages rather than problem documents (the staff console,
# kanim/web/console): prefix → (request, status, code, detail, extras) → Response.
HtmlErrors = Callable[..., Response]


def answer_html_under(app: FastAPI, prefix: str, render: HtmlErrors) -> None:
    app.state.html_errors = (prefix, render)


def _answer(request: Request, status: int, code: str, detail: str, *, headers: dict[str, str] | None = None,
            **extra: Any) -> Response:
    html = getattr(request.app.state, "html_errors", None)
    if html is not None and request.url.path.startswith(html[0]):
        return html[1](request, status, code, detail, headers=headers, **extra)
    return problem(status, code, detail, instance=request.url.path, headers=headers, **extra)


def _allowed_methods(request: Request) -> str:
    """Every method of the path. Starlette's own `Allow` names only the first route that
    matches the path, so a path with a GET and a PUT route answered a DELETE with `Allow: GET`."""
    contexts = getattr(routing, "iter_route_contexts", list)(request.app.routes)  # FastAPI >= 0.16x
    path, methods = request.scope.get("path", ""), set()
    for route in contexts:
        regex = getattr(route, "path_regex", None)
        if regex is not None and regex.match(path):
            methods |= set(getattr(route, "methods", None) or ())
    return ", ".join(sorted(methods))


class UnexpectedErrors:
    """Answer an exception that no handler took as a 500 problem, and log it under an error id.

    Without this, Starlette answers `text/plain` "Internal Server Error" and uvicorn logs the
    exception with its message (which may quote a NIK or a name: see the module docstring)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def tracking_send(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, receive, tracking_send)
        except Exception as exc:  # noqa: BLE001 - the last line: nothing may escape as text/plain
            error_id = uuid.uuid4().hex
            log_unexpected(error_id, scope, exc)
            if started:
                return  # too late for a problem document: the client sees a cut-off answer
            path = scope.get("path", "")
            response = problem(500, "internal-error", "an unexpected error stopped this request; nothing was "
                               f"changed by it unless a later read says so; quote error id {error_id} to the "
                               "office's administrator", instance=path, error_id=error_id)
            await response(scope, receive, send)


def log_unexpected(error_id: str, scope: Scope, exc: BaseException) -> None:
    """The error id, the request line without its query string, the chain of exception types and
    the stack: enough to find the bug, with no input value in it."""
    chain, seen = [], set()
    e: BaseException | None = exc
    while e is not None and id(e) not in seen:
        seen.add(id(e))
        chain.append(f"{type(e).__module__}.{type(e).__qualname__}")
        e = e.__cause__ or e.__context__
    stack = "".join(traceback.format_list(traceback.extract_tb(exc.__traceback__)))
    log.error("error %s: %s %s failed with %s\n%s", error_id, scope.get("method", ""), scope.get("path", ""),
              " <- ".join(chain), stack)
