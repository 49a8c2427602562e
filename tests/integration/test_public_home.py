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
    assert '<html lang="id">' in c.get("/", params={"lang": "xx"}).text  # an unknown language: the default
    assert c.get("/", params={"lang": "x" * 50}).status_code == 422
