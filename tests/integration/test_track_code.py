"""The one-time code of /track (KANIM_TRACK_CODE, kanim/office/track.py): off by default; on, a
matching lookup sends a 6-digit code to the applicant's channel through the pipeline and shows
the answer only for that code, within 10 minutes, once, in 5 tries."""

from __future__ import annotations

import re

from fastapi.testclient import TestClient

from kanim.notify.purposes import Purpose
from kanim.web.app import create_app
from tests.conftest import make_office
from tests.integration.test_notify_flow import book, messages

BORN = "1990-08-05"


def sent_code(office) -> str:  # noqa: ANN001
    """The code as the applicant reads it (the message's parameters: kanim keeps no rendered text)."""
    return messages(office, purpose=Purpose.TRACK_CODE.value)[-1].params["one_time_code"]


def test_with_the_code_on_the_answer_waits_for_the_code_sent_to_the_applicant(tmp_path, backend, clock) -> None:  # noqa: ANN001
    office, cleanup = make_office(tmp_path, backend, clock, None, track_code=True)
    app = book(office)[0]
    client = TestClient(create_app(office))
    page = client.post("/track?lang=en", data={"number": app.number, "birth_date": BORN})
    assert page.status_code == 200 and 'id="code-form"' in page.text and 'data-state=' not in page.text
    assert "WhatsApp" in page.text and "+62" not in page.text, "the channel, never the address"
    challenge = re.search(r'name="challenge" value="([^"]+)"', page.text).group(1)
    [msg] = messages(office, purpose=Purpose.TRACK_CODE.value)
    assert msg.urgent and msg.channel == "whatsapp" and msg.application_id == app.id
    code = sent_code(office)
    wrong = f"{(int(code) + 1) % 1_000_000:06d}"
    r = client.post("/track/code?lang=en", data={"challenge": challenge, "code": wrong, "channel": "whatsapp"})
    assert r.status_code == 401 and 'id="code-wrong"' in r.text and "Tries left: 4" in r.text
    r = client.post("/track/code?lang=en", data={"challenge": challenge, "code": code, "channel": "whatsapp"})
    assert r.status_code == 200 and 'data-state="received"' in r.text
    again = client.post("/track/code", data={"challenge": challenge, "code": code})
    assert again.status_code == 410 and 'id="code-gone"' in again.text, "used once"

    api = client.post("/api/v1/track", json={"number": app.number, "birth_date": BORN})
    assert api.status_code == 401 and api.json()["code"] == "track-code-sent" and api.json()["channel"] == "whatsapp"
    challenge = api.json()["challenge"]
    clock.advance(minutes=11)
    late = client.post("/api/v1/track", json={"number": app.number, "birth_date": BORN, "challenge": challenge,
                                              "code": sent_code(office)})
    assert late.status_code == 410 and late.json()["code"] == "track-code-expired"
    api = client.post("/api/v1/track", json={"number": app.number, "birth_date": BORN})
    for _ in range(4):
        client.post("/api/v1/track", json={"number": app.number, "birth_date": BORN,
                                           "challenge": api.json()["challenge"], "code": "000000"})
    fifth = client.post("/api/v1/track", json={"number": app.number, "birth_date": BORN,
                                               "challenge": api.json()["challenge"], "code": "000001"})
    assert fifth.status_code in (401, 410)
    last = client.post("/api/v1/track", json={"number": app.number, "birth_date": BORN,
                                              "challenge": api.json()["challenge"], "code": sent_code(office)})
    assert last.status_code == 410, "five tries, then the code is gone"
    assert client.post("/api/v1/track", json={"number": app.number, "birth_date": BORN}).status_code == 429, \
        "three codes an hour per application"
    walk_in = book(office, channel=None, phone=None, email=None)[0]
    none = client.post("/track", data={"number": walk_in.number, "birth_date": BORN})
    assert none.status_code == 409 and 'id="no-code"' in none.text
    office.engine.dispose()
    cleanup()
