"""RFC 9457 problem details for every error, so a desk client can show the exact rule that
failed ("photo-several-faces", "billing-expired") instead of a generic "network error"."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.orm.exc import StaleDataError
from starlette.exceptions import HTTPException as StarletteHTTPException

from kanim.domain.errors import DomainError

MEDIA_TYPE = "application/problem+json"
TITLES = {400: "Bad request", 401: "Not authenticated", 403: "Forbidden", 404: "Not found",
          405: "Method not allowed", 409: "Conflict", 410: "Gone", 413: "Content too large",
          422: "Unprocessable content", 500: "Internal server error"}


def problem(status: int, code: str, detail: str, *, instance: str | None = None,
            headers: dict[str, str] | None = None, **extra: Any) -> JSONResponse:
    body = {"type": f"urn:kanim:problem:{code}", "title": TITLES.get(status, "Error"),
            "status": status, "detail": detail, "code": code}
    if instance:
        body["instance"] = instance
    body.update({k: v for k, v in extra.items() if v is not None})
    return JSONResponse(body, status_code=status, media_type=MEDIA_TYPE, headers=headers)


def install(app: FastAPI) -> None:
    @app.exception_handler(DomainError)
    async def _domain(request: Request, exc: DomainError) -> JSONResponse:
        return problem(exc.status, exc.code, exc.message, instance=request.url.path, **exc.extra)

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = [{"loc": list(e.get("loc", ())), "msg": e.get("msg", ""), "type": e.get("type", "")}
                  for e in exc.errors()]
        detail = "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in errors)
        return problem(422, "request-invalid", detail, instance=request.url.path, errors=errors)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = {401: "not-authenticated", 403: "forbidden", 404: "not-found",
                405: "method-not-allowed"}.get(exc.status_code, "http-error")
        return problem(exc.status_code, code, str(exc.detail), instance=request.url.path,
                       headers=getattr(exc, "headers", None))

    @app.exception_handler(StaleDataError)
    async def _stale(request: Request, exc: StaleDataError) -> JSONResponse:
        return problem(409, "concurrent-change", "another desk changed this application at the same "
                       "time; reload and try again", instance=request.url.path)
