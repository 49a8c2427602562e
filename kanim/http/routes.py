"""What every route of either role's app documents about itself, so that the OpenAPI document
cannot drift from the code. A `Route` reads what its endpoint depends on:

- a session (a dependency marked `kanim_session`, kanim/web/deps.py's `current_user`): 401; a
  permission (a dependency marked `kanim_perm`): 403;
- any parameter or body: 422 `request-invalid`; a body: 413 (`BodyLimit` refuses it first);
- an `{application_id}` in the path: 404;
- a query parameter the route does not take: refused (422), never ignored;
- every route: 500 `internal-error`.

What only the route's use case knows, the route declares with `responses=errors(409, 410)`.
Every error is `application/problem+json` with the `Problem` schema of kanim/http/problems.py.
The office's staff routes add the Idempotency-Key on every change (kanim/web/contract.py).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import Annotated, Any, ClassVar, Protocol

from fastapi import Depends, FastAPI, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.dependencies.models import Dependant
from fastapi.dependencies.utils import get_dependant
from fastapi.params import File
from fastapi.routing import APIRoute

from kanim.http.problems import MEDIA_TYPE, Problem
from kanim.http.wire import INT64_MAX

Offset = Annotated[int, Query(ge=0, le=INT64_MAX, description="how many to skip")]

UNSAFE = {"POST", "PUT", "PATCH", "DELETE"}
PROBLEM = {MEDIA_TYPE: {"schema": {"$ref": "#/components/schemas/Problem"}}}
RETRY_AFTER = {"Retry-After": {"description": "seconds to wait before trying again",
                               "schema": {"type": "integer", "minimum": 0}}}
DESCRIPTIONS = {
    400: "`request-malformed`: the body is not the JSON or form it says it is",
    401: "`not-authenticated`: no session, or it has expired",
    403: "`forbidden`: the user's role may not do this",
    404: "Not found: `application-not-found` (by id or number) or what else the path names",
    409: "The current state forbids it (its `code` says which rule)",
    410: "Gone: it has expired",
    413: "`upload-too-large`: the body is over the upload limit",
    422: "`request-invalid` (each wrong field in `errors`), or a rule the input breaks (its own `code`)",
    429: "Too many attempts: wait `Retry-After` seconds",
    500: "`internal-error`: a fault or a bug; its `error_id` is in the server's log",
}
HEADERS = {401: {"WWW-Authenticate": {"description": "`Bearer`", "schema": {"type": "string"}}},
           409: RETRY_AFTER, 429: RETRY_AFTER}


def errors(*statuses: int | dict[int, str]) -> dict[int | str, dict[str, Any]]:
    """`responses=` for a route's own refusals: `errors(409, {410: "billing-expired: ..."})`."""
    out: dict[int | str, dict[str, Any]] = {}
    for s in statuses:
        for status, text in (s.items() if isinstance(s, dict) else [(s, DESCRIPTIONS[s])]):
            out[status] = _problem_response(status, text)
    return out


def _problem_response(status: int, description: str) -> dict[str, Any]:
    response: dict[str, Any] = {"description": description, "content": PROBLEM}
    if status in HEADERS:
        response["headers"] = HEADERS[status]
    return response


class Idempotency(Protocol):
    """How a route takes an Idempotency-Key (kanim/web/idempotency.py)."""

    def dependency(self, perm: Any) -> Any: ...  # noqa: ANN401

    def wrap(self, handler: Callable[..., Any]) -> Callable[..., Any]: ...


class Route(APIRoute):
    """An APIRoute that documents the statuses its dependencies can answer, and takes an
    Idempotency-Key when it is a permitted user's change and the class says how
    (`idempotency`: none here; kanim/web/contract.py's Route for staff routes)."""

    idempotency: ClassVar[Idempotency | None] = None

    def __init__(self, path: str, endpoint: Callable[..., Any], **kw: Any) -> None:
        dependant = get_dependant(path=path, call=endpoint)
        perm = next((d.call for d in walk(dependant) if hasattr(d.call, "kanim_perm")), None)
        self.idempotent = (self.idempotency is not None and perm is not None
                           and bool(set(kw.get("methods") or ()) & UNSAFE))
        dependencies = list(kw.pop("dependencies", None) or [])
        if self.idempotent and not any(hasattr(d.dependency, "kanim_idempotency") for d in dependencies):
            dependencies.append(self.idempotency.dependency(perm))
        dependencies.append(Depends(_known_query(dependant)))
        derived = errors(*_statuses(dependant, path, perm is not None, self.idempotent))
        kw["responses"] = {**derived, **(kw.get("responses") or {})}
        super().__init__(path, endpoint, dependencies=dependencies, **kw)

    def get_route_handler(self):  # noqa: ANN201
        handler = super().get_route_handler()
        return self.idempotency.wrap(handler) if self.idempotent else handler


def _known_query(dependant: Dependant) -> Callable[[Request], Any]:
    """A dependency that refuses query parameters the route does not take (a misspelt `ofset`
    would otherwise be ignored without a word), naming them."""
    known = {f.alias for d in walk(dependant) for f in d.query_params}

    async def known_query_parameters(request: Request) -> None:
        unknown = sorted(set(request.query_params) - known)
        if unknown:
            raise RequestValidationError([{"loc": ("query", name), "msg": "unknown query parameter",
                                           "type": "extra_forbidden"} for name in unknown])

    return known_query_parameters


def walk(d: Dependant) -> Iterator[Dependant]:
    yield d
    for sub in d.dependencies:
        yield from walk(sub)


def _statuses(dependant: Dependant, path: str, guarded: bool, idempotent: bool) -> list[int | dict[int, str]]:
    flat = list(walk(dependant))
    body = [f for d in flat for f in d.body_params]
    params = body or any(d.path_params or d.query_params or d.header_params or d.cookie_params for d in flat)
    statuses: list[int | dict[int, str]] = [500]
    if any(getattr(d.call, "kanim_session", False) for d in flat):
        statuses.append(401)
    if guarded:
        statuses.append(403)
    if "{application_id}" in path:
        statuses.append(404)
    if params or idempotent:
        statuses.append(422)
    if body:
        statuses.append(400)
        upload = any(isinstance(f.field_info, File) for f in body)
        statuses.append({413: DESCRIPTIONS[413] + (" (KANIM_MAX_UPLOAD_BYTES)" if upload else "")})
    if idempotent:
        statuses.append({409: "`idempotency-key-in-flight` (retry after `Retry-After`), `idempotency-answer-lost`, "
                              "or what the current state forbids (its `code` says which rule)"})
    return statuses


def install(app: FastAPI, *, finish: Sequence[Callable[[dict[str, Any]], None]] = ()) -> None:
    """The OpenAPI document, finished: the Problem schema among the components, upload bodies
    named, then what `finish` adds (kanim/web/contract.py: the replay header)."""
    build = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = build()
            _add_problem(schema)
            _name_upload_bodies(schema)
            for step in finish:
                step(schema)
            _sort_responses(schema)
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


def _add_problem(schema: dict[str, Any]) -> None:
    components = schema.setdefault("components", {}).setdefault("schemas", {})
    problem = Problem.model_json_schema(ref_template="#/components/schemas/{model}")
    components.update(problem.pop("$defs", {}))
    components["Problem"] = problem
    # FastAPI's own 422 schema, unless a route (of a router not made with Route) still uses it.
    for unused in ("HTTPValidationError", "ValidationError"):
        others = {k: v for k, v in components.items() if k != unused}
        if f"#/components/schemas/{unused}" not in str([schema["paths"], others]):
            components.pop(unused, None)


def _name_upload_bodies(schema: dict[str, Any]) -> None:
    """FastAPI names a multipart body after its route (`Body_upload_photo_api_v1_...`); all
    uploads here are one file in a part named `file`: call that schema `FileUpload`."""
    components = schema.get("components", {}).get("schemas", {})
    for name in [n for n in components if n.startswith("Body_")]:
        body = components[name]
        if set(body.get("properties", {})) != {"file"}:
            continue
        # `format: binary` beside 3.1's contentMediaType: the spelling generators of 3.0 clients read.
        body["properties"]["file"].setdefault("format", "binary")
        components.setdefault("FileUpload", {**body, "title": "FileUpload",
                                              "description": "one file, in a multipart part named `file`"})
        del components[name]
        for item in schema["paths"].values():
            for op in item.values():
                content = op.get("requestBody", {}).get("content", {}).get("multipart/form-data", {})
                if content.get("schema", {}).get("$ref", "").endswith(f"/{name}"):
                    content["schema"] = {"$ref": "#/components/schemas/FileUpload"}


def _sort_responses(schema: dict[str, Any]) -> None:
    for item in schema["paths"].values():
        for op in item.values():
            op["responses"] = dict(sorted(op["responses"].items()))
