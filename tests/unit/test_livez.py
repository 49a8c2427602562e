"""`/livez` answers before the application runs: no database, no middleware (kanim/web/livez.py)."""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.testclient import TestClient

from kanim.web.livez import Livez


def _app() -> tuple[FastAPI, list[str]]:
    reached: list[str] = []
    app = FastAPI()

    @app.middleware("http")
    async def record(request, call_next):  # noqa: ANN001, ANN202
        reached.append(request.url.path)
        return await call_next(request)

    @app.get("/health")
    def health() -> dict:
        return {"status": "ok"}

    app.add_middleware(Livez)
    return app, reached


def test_livez_answers_without_reaching_the_application() -> None:
    app, reached = _app()
    with TestClient(app) as c:
        r = c.get("/livez")
    assert (r.status_code, r.json(), r.headers["cache-control"]) == (200, {"status": "alive"}, "no-store")
    assert reached == []


def test_every_other_request_goes_on_to_the_application() -> None:
    app, reached = _app()
    with TestClient(app) as c:
        assert c.get("/health").json() == {"status": "ok"}
        assert c.post("/livez").status_code == 404  # only GET and HEAD are the probe's: the app has no such route
        assert c.get("/livez/x").status_code == 404
    assert reached == ["/health", "/livez", "/livez/x"]
