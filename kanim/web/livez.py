"""`GET /livez`: the process is up and its event loop turns, answered before anything else.

A bare ASGI endpoint in front of the whole application: no middleware, no routing, no database.
For a load balancer's liveness probe (a slow disk must not get a working node killed and
restarted: that is what `/api/v1/health`, with its database round trip, is for) and as the
reference of bench/public.py (the request rate of the server itself, which a page is measured
against).
"""

from __future__ import annotations

from typing import Any

PATH = "/livez"
BODY = b'{"status":"alive"}'
HEADERS = [(b"content-type", b"application/json"), (b"content-length", str(len(BODY)).encode()),
           (b"cache-control", b"no-store")]


class Livez:
    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http" or scope["path"] != PATH or scope["method"] not in ("GET", "HEAD"):
            await self.app(scope, receive, send)
            return
        await send({"type": "http.response.start", "status": 200, "headers": HEADERS})
        await send({"type": "http.response.body", "body": b"" if scope["method"] == "HEAD" else BODY})
