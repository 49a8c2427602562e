"""`/` is the public side's front door (kanim/web/home.py): the lookup and the status page,
without a login, in Indonesian by default and English on request; staff have /staff/."""

from __future__ import annotations

from fastapi.testclient import TestClient

from kanim.web.app import create_app


def test_the_front_door_leads_to_the_lookup_and_the_status_page_in_the_language_asked(sqlite_office) -> None:  # noqa: ANN001
    c = TestClient(create_app(sqlite_office))
    r = c.get("/", follow_redirects=False)
    assert r.status_code == 200 and r.headers["cache-control"] == "public, max-age=300"
    assert '<html lang="id">' in r.text and 'href="/track?lang=id"' in r.text and 'href="/status?lang=id"' in r.text
    assert "Cek permohonan Anda" in r.text and 'href="/staff/"' in r.text
    en = c.get("/", params={"lang": "en"}).text
    assert '<html lang="en">' in en and "Check your application" in en and 'href="/track?lang=en"' in en
    for odd in ("xx", "english", "x" * 500):  # a page answers whatever it is asked: the default language
        assert '<html lang="id">' in c.get("/", params={"lang": odd}).text
    head = c.head("/")
    assert head.status_code == 200 and head.headers["cache-control"] == "public, max-age=300"


def test_livez_answers_from_in_front_of_the_whole_app_and_sends_no_body_to_a_head(sqlite_office) -> None:  # noqa: ANN001
    import asyncio

    app = create_app(sqlite_office)
    sqlite_office.engine.dispose()  # no database is needed to answer it
    assert TestClient(app).get("/livez").json() == {"status": "alive"}
    sent: list[dict] = []

    async def head() -> None:
        async def receive() -> dict:
            return {"type": "http.request", "body": b"", "more_body": False}

        async def send(message: dict) -> None:
            sent.append(message)

        await app({"type": "http", "method": "HEAD", "path": "/livez", "raw_path": b"/livez", "query_string": b"",
                   "headers": [], "scheme": "http", "server": ("kanim.test", 80), "client": ("127.0.0.1", 1),
                   "http_version": "1.1", "asgi": {"version": "3.0"}, "root_path": ""}, receive, send)

    asyncio.run(head())
    assert sent[0]["status"] == 200 and sent[1]["body"] == b""
