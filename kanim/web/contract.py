"""The office's API contract: kanim/http/routes.py (statuses per route, the Problem schema, the
bounds of integer inputs), plus the Idempotency-Key on every staff change
(kanim/web/idempotency.py): a staff route that changes something (POST, PUT, PATCH, DELETE)
takes the header, with its 409 and 422, and its answers document `Idempotent-Replayed`.

Every router of the office's app is an `APIRouter(route_class=Route)` of this module.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI

from kanim.http import routes
from kanim.http.routes import DESCRIPTIONS, PROBLEM, Offset, errors, walk  # noqa: F401 - the routers import them from here
from kanim.web import idempotency


class Route(routes.Route):
    """A route of the office's API: a staff user's change takes an Idempotency-Key."""

    idempotency = idempotency


def install(app: FastAPI) -> None:
    routes.install(app, finish=[_document_replays])


def _document_replays(schema: dict[str, Any]) -> None:
    header = {idempotency.REPLAYED: {"description": "`true` when this is the stored answer to an earlier "
                                     "request with the same Idempotency-Key", "schema": {"type": "string",
                                                                                          "enum": ["true"]}}}
    for item in schema["paths"].values():
        for op in item.values():
            if any(p.get("name") == idempotency.HEADER for p in op.get("parameters", [])):
                for status, response in op["responses"].items():
                    if status.startswith("2"):
                        response.setdefault("headers", {}).update(header)
