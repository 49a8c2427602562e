"""The office node's web application."""

from __future__ import annotations

from fastapi import FastAPI
from fastapi_offline import FastAPIOffline

import kanim
from kanim.bootstrap import Office
from kanim.http import problems
from kanim.http.limits import BodyLimit
from kanim.web import console, contract, home, metrics, public, status_page, track
from kanim.web.console.routers import office_desks
from kanim.web.livez import Livez
from kanim.web.routers import applications, auth, booking, link, notify
from kanim.web.routers import office as office_router

API = "/api/v1"


def create_app(office: Office) -> FastAPI:
    # FastAPIOffline serves Swagger UI and ReDoc from the package: offices may have no internet.
    app = FastAPIOffline(
        title=f"kanim office node — {office.settings.office_name}",
        version=kanim.__version__,
        description="Passport services of an immigration office. Log in at POST /api/v1/auth/token, "
        "then send `Authorization: Bearer <token>`. Errors are RFC 9457 problem documents.",
        openapi_url="/openapi.json",
    )
    app.state.office = office
    app.add_middleware(BodyLimit, max_bytes=office.settings.max_upload_bytes)
    problems.install(app)  # after the other middleware: its catch-all is the outermost
    contract.install(app)
    app.add_middleware(Livez)  # the outermost: /livez answers before anything else runs
    for r in (auth.router, booking.router, applications.router, office_router.router, link.router, notify.router,
              notify.pickup_router, track.api_router):
        app.include_router(r, prefix=API)
    console.install(app, node="office", routers=office_desks())
    app.include_router(public.router)
    app.include_router(track.router)
    app.include_router(status_page.router)
    app.include_router(metrics.router)
    app.include_router(home.router)
    return app
