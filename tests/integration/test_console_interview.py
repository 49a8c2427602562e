"""The interview desk in the console, in process: the queue of captured applications, the
applicant with the accepted photo (an audited read), the notes; roles, CSRF, Idempotency-Keys."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import func, select

from kanim.bootstrap import Office
from kanim.domain.application import Stage
from kanim.store import tables as t
from tests.console_desks import as_role, at_stage, client, csrf, field_error, get, htmx, staff_office


@pytest.fixture
def office(tmp_path, clock, monkeypatch):  # noqa: ANN001, ANN201
    o = staff_office(tmp_path, clock, monkeypatch)
    yield o
    o.engine.dispose()


def audits(office, action: str) -> int:  # noqa: ANN001
    with office.uow(readonly=True) as uow:
        return uow.session.execute(select(func.count()).where(t.audit_event.c.action == action)).scalar_one()


def notes(c, app_id: str, text: str, key: str | None = None):  # noqa: ANN001, ANN201
    return c.post(f"/staff/interview/{app_id}/notes", data={"notes": text},
                  headers=htmx(csrf(c), "interview-form", key=key))


def test_the_interview_desk_refuses_other_roles_and_strangers_go_to_log_in(office: Office) -> None:
    app = at_stage(office, "captured")
    pages = ["/staff/interview", f"/staff/interview/{app.id}", f"/staff/interview/{app.id}/photo.jpg"]
    stranger = client(office)
    for path in pages:
        r = stranger.get(path, follow_redirects=False)
        assert (r.status_code, r.headers["location"]) == (303, f"/staff/login?next={path}"), path
    r = stranger.post(f"/staff/interview/{app.id}/notes", data={"notes": "x"}, headers={"HX-Request": "true"})
    assert r.status_code == 204 and r.headers["HX-Redirect"].startswith("/staff/login")
    operator = as_role(office, "biometric_operator")
    for path in pages:
        r = operator.get(path)
        assert r.status_code == 403 and "Loket ini bukan untuk Anda" in r.text, path
    r = notes(operator, app.id, "Purpose: tourism.")
    assert r.status_code == 403
    assert get(office, app.id).stage is Stage.CAPTURED
    assert audits(office, "BiometricRead") == 0


def test_the_interview_queue_lists_captured_applications_only(office: Office) -> None:
    waiting = at_stage(office, "captured", 0)
    at_stage(office, "paid", 1)
    at_stage(office, "interviewed", 2)
    page = as_role(office, "interviewer").get("/staff/interview").text
    assert re.findall(r'id="interview-row-([^"]+)"', page) == [waiting.id]
    assert "3171••••••••0001" in page and waiting.nik not in page


def test_the_interview_page_shows_the_accepted_photo_through_an_audited_read(office: Office) -> None:
    app = at_stage(office, "captured")
    c = as_role(office, "interviewer")
    page = c.get(f"/staff/interview/{app.id}").text
    src = re.search(r'id="interview-photo" src="([^"]+)"', page).group(1)
    assert 'id="interview-form"' in page and "3171••••••••0001" in page
    image = c.get(src)
    assert image.status_code == 200 and image.content[:2] == b"\xff\xd8"
    with office.uow(readonly=True) as uow:
        (detail,) = uow.session.execute(select(t.audit_event.c.detail).where(
            t.audit_event.c.action == "BiometricRead", t.audit_event.c.actor == "interviewer")).scalars()
    assert detail["purpose"].startswith("interview")


def test_the_notes_form_refuses_a_missing_csrf_token_and_records_nothing(office: Office) -> None:
    app = at_stage(office, "captured")
    c = as_role(office, "interviewer")
    for headers in ({"HX-Request": "true"}, {"HX-Request": "true", "X-CSRF-Token": "0" * 40}):
        r = c.post(f"/staff/interview/{app.id}/notes", data={"notes": "Purpose: tourism."}, headers=headers)
        assert r.status_code == 403
    assert get(office, app.id).stage is Stage.CAPTURED


@pytest.mark.parametrize("text", ["", "   "])
def test_empty_notes_are_refused_beside_the_notes_field_and_nothing_is_recorded(office: Office, text: str) -> None:
    app = at_stage(office, "captured")
    c = as_role(office, "interviewer")
    r = notes(c, app.id, text)
    assert r.status_code == 422 and r.headers["HX-Retarget"] == "#interview-form-problem"
    assert field_error(r.text, "interview-form", "notes")
    assert get(office, app.id).stage is Stage.CAPTURED and audits(office, "InterviewRecorded") == 0


def test_notes_sent_twice_with_their_form_key_record_one_interview(office: Office) -> None:
    app = at_stage(office, "captured")
    c = as_role(office, "interviewer")
    first = notes(c, app.id, "Purpose: visiting family in Davao.", key="notes-1")
    again = notes(c, app.id, "Purpose: visiting family in Davao.", key="notes-1")
    assert first.status_code == again.status_code == 200 and again.headers.get("Idempotent-Replayed") == "true"
    assert 'id="interview-recorded"' in first.text and "Davao" in first.text
    done = get(office, app.id)
    assert done.stage is Stage.INTERVIEWED and done.interview_notes == "Purpose: visiting family in Davao."
    assert audits(office, "InterviewRecorded") == 1


def test_a_second_interview_with_a_new_key_is_refused_in_the_desks_words(office: Office) -> None:
    app = at_stage(office, "captured")
    c = as_role(office, "interviewer")
    assert notes(c, app.id, "First.", key="a").status_code == 200
    r = notes(c, app.id, "Second.", key="b")
    assert r.status_code == 409 and 'data-code="transition-out-of-order"' in r.text
    assert "tidak dapat dilakukan pada tahap" in r.text
    assert get(office, app.id).interview_notes == "First."
    page = c.get(f"/staff/interview/{app.id}").text
    assert 'id="interview-closed"' in page and 'id="interview-form"' not in page
