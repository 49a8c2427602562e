"""The staff console at /staff: every desk in the browser, on the office's own network.

Server-rendered Jinja2 pages with htmx (one pinned version, vendored under
kanim/web/static/console/vendor with its licence), a stylesheet of kanim's own, no CDN and no
build step. Every action calls the same use cases as the JSON API (kanim/office); the web layer
holds no SQL. See docs/console.md.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles
from starlette.middleware.gzip import GZipMiddleware

from kanim.http import problems
from kanim.web.console import home
from kanim.web.console.errors import render_error
from kanim.web.console.session import PREFIX

STATIC = Path(__file__).resolve().parents[1] / "static" / "console"


class CachedStatic(StaticFiles):
    """The console's assets are versioned by name (htmx-2.0.11.min.js) or tiny: a desk's
    browser keeps them for a day instead of asking again on every page."""

    def file_response(self, *args, **kwargs):  # noqa: ANN002, ANN003, ANN201
        response = super().file_response(*args, **kwargs)
        response.headers["Cache-Control"] = "public, max-age=86400"
        return response


def install(app: FastAPI, *, node: str, routers: list) -> None:  # noqa: ANN001
    """Mount the console on `app` (node: office | central) with the desks' `routers`."""
    app.state.console_node = node
    # The assets compressed (htmx: 52 KB, 17 KB sent): a desk page with its assets stays under
    # 150 KB (bench/desk_pages.py). Pages are not: they carry the CSRF token beside text a
    # visitor chooses (a search), which compression would let an eavesdropper guess (BREACH).
    app.mount(f"{PREFIX}/static", GZipMiddleware(CachedStatic(directory=STATIC), minimum_size=512),
              name="console-static")
    problems.answer_html_under(app, PREFIX, render_error)
    app.include_router(home.router)
    for router in routers:
        app.include_router(router)
