"""The supervisor's desk in the console, in process: the approval queue (approve, reject and
cancel with a reason), the holds with the office's and the central's reasons and releasing one
once nothing is flagged, the link's dead letters (seen by supervisors, retried by whoever holds
Perm.MANAGE_LINK); roles, CSRF, Idempotency-Keys."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import func, select, update

from kanim.bootstrap import Office
from kanim.clock import FakeClock
from kanim.domain.application import Stage
from kanim.domain.clearances import ClearanceKind, ClearanceState
from kanim.store import tables as t
from tests.console_desks import (
    applicant,
    as_role,
    at_stage,
    central_decision,
    client,
    csrf,
    field_error,
    get,
    htmx,
    staff_office,
)

REFUSED = "the central's registry refused this operation: schema 3 expected"


@pytest.fixture
def office(tmp_path, clock, monkeypatch):  # noqa: ANN001, ANN201
    o = staff_office(tmp_path, clock, monkeypatch)
    yield o
    o.engine.dispose()


def audits(office, action: str) -> int:  # noqa: ANN001
    with office.uow(readonly=True) as uow:
        return uow.session.execute(select(func.count()).where(t.audit_event.c.action == action)).scalar_one()


def act(c, app_id: str, action: str, form: str, target: str = "decision",  # noqa: ANN001, ANN201
        key: str | None = None, **data: str):
    return c.post(f"/staff/supervisor/{app_id}/{action}", data=data or None,
                  headers=htmx(csrf(c), form, key=key, target=target))


def flagged_hold(office):  # noqa: ANN001, ANN201
    """An interviewed application the central flagged (a watch-list order): on hold."""
    app = at_stage(office, "interviewed")
    central_decision(office, app.id, ClearanceKind.WATCHLIST_CLEAR, ClearanceState.FLAGGED,
                     "prevention order 2026/117 names the applicant")
    return get(office, app.id)


def dead_letter(office, app_id: str) -> str:  # noqa: ANN001
    """The application's first operation, refused by the central for good."""
    with office.uow() as uow:
        c = t.outbox.c
        op = uow.session.execute(select(c.id).where(c.subject == app_id).order_by(c.seq).limit(1)).scalar_one()
        uow.session.execute(update(t.outbox).where(c.id == op).values(status="dead", attempts=3, last_error=REFUSED))
        uow.commit()
    return op


def test_the_supervisor_desk_refuses_other_roles_and_strangers_go_to_log_in(office: Office) -> None:
    app = at_stage(office, "interviewed")
    pages = ["/staff/supervisor", "/staff/supervisor/approvals", "/staff/supervisor/holds",
             f"/staff/supervisor/{app.id}", f"/staff/supervisor/{app.id}/photo.jpg"]
    actions = [f"/staff/supervisor/{app.id}/{a}" for a in ("approve", "reject", "cancel", "release-hold")]
    stranger = client(office)
    for path in [*pages, "/staff/supervisor/dead-letters"]:
        r = stranger.get(path, follow_redirects=False)
        assert (r.status_code, r.headers["location"]) == (303, f"/staff/login?next={path}"), path
    for path in actions:
        r = stranger.post(path, headers={"HX-Request": "true"})
        assert r.status_code == 204 and r.headers["HX-Redirect"].startswith("/staff/login"), path
    for role in ("interviewer", "admin"):
        c = as_role(office, role)
        token = csrf(c, "/staff/supervisor/dead-letters" if role == "admin" else "/staff/")
        for path in pages:
            r = c.get(path)
            assert r.status_code == 403 and "Loket ini bukan untuk Anda" in r.text, (role, path)
        for path in actions:
            assert c.post(path, data={"reason": "x"}, headers=htmx(token, "x")).status_code == 403, (role, path)
    assert get(office, app.id).stage is Stage.INTERVIEWED


def test_every_decision_form_refuses_a_missing_csrf_token_and_changes_nothing(office: Office) -> None:
    app = at_stage(office, "interviewed")
    op = dead_letter(office, app.id)
    supervisor, admin = as_role(office, "supervisor"), as_role(office, "admin")
    sends = [(supervisor, f"/staff/supervisor/{app.id}/{a}") for a in ("approve", "reject", "cancel", "release-hold")]
    sends.append((admin, f"/staff/supervisor/dead-letters/{op}/retry"))
    for c, path in sends:
        for headers in ({"HX-Request": "true"}, {"HX-Request": "true", "X-CSRF-Token": "0" * 40}):
            assert c.post(path, data={"reason": "because"}, headers=headers).status_code == 403, path
    assert get(office, app.id).stage is Stage.INTERVIEWED
    with office.uow(readonly=True) as uow:
        assert uow.session.execute(select(t.outbox.c.status).where(t.outbox.c.id == op)).scalar_one() == "dead"


def test_the_supervisor_lands_on_the_approval_queue_with_the_interview_and_clearances(office: Office) -> None:
    app = at_stage(office, "interviewed")
    at_stage(office, "captured", 1)
    page = as_role(office, "supervisor").get("/staff/supervisor").text
    assert re.findall(r'id="approval-row-([^"]+)"', page) == [app.id]
    assert "Purpose: tourism" in page  # the seed's interview notes
    assert 'data-clearance="nik_verified" data-state="provisional"' in page
    assert app.nik not in page and "3171••••••••0001" in page


def test_an_approval_sent_twice_with_its_form_key_approves_once(office: Office) -> None:
    app = at_stage(office, "interviewed")
    c = as_role(office, "supervisor")
    first = act(c, app.id, "approve", f"approve-{app.id}", target="approvals", key="approve-1")
    again = act(c, app.id, "approve", f"approve-{app.id}", target="approvals", key="approve-1")
    assert first.status_code == again.status_code == 200 and again.headers.get("Idempotent-Replayed") == "true"
    assert 'data-done="approved"' in first.text and 'id="approval-queue-empty"' in first.text
    assert get(office, app.id).stage is Stage.APPROVED and audits(office, "ApplicationApproved") == 1


def test_a_rejection_without_a_reason_is_refused_beside_the_reason_and_changes_nothing(office: Office) -> None:
    app = at_stage(office, "interviewed")
    c = as_role(office, "supervisor")
    for reason in ("", "   "):
        r = act(c, app.id, "reject", "reject-form", reason=reason)
        assert r.status_code == 422 and r.headers["HX-Retarget"] == "#reject-form-problem", reason
        assert field_error(r.text, "reject-form", "reason"), reason
    assert get(office, app.id).stage is Stage.INTERVIEWED
    r = act(c, app.id, "reject", "reject-form", reason="the old passport was reported stolen")
    assert r.status_code == 200 and 'data-done="rejected"' in r.text
    done = get(office, app.id)
    assert done.stage is Stage.REJECTED and done.decision_reason == "the old passport was reported stolen"


def test_a_cancellation_with_its_reason_cancels_and_the_review_shows_no_decision_left(office: Office) -> None:
    app = at_stage(office, "interviewed")
    c = as_role(office, "supervisor")
    page = c.get(f"/staff/supervisor/{app.id}").text
    assert all(f'id="{f}"' in page for f in ("approve-form", "reject-form", "cancel-form"))
    r = act(c, app.id, "cancel", "cancel-form", reason="the applicant withdrew")
    assert r.status_code == 200 and 'data-done="cancelled"' in r.text
    assert get(office, app.id).stage is Stage.CANCELLED
    page = c.get(f"/staff/supervisor/{app.id}").text
    assert 'id="decision-none"' in page and 'id="approve-form"' not in page


def test_a_flagged_application_cannot_be_approved_and_says_why_in_the_desks_words(office: Office) -> None:
    app = at_stage(office, "interviewed")
    with office.uow() as uow:  # flagged but, as on a racing desk, not yet held
        loaded = uow.applications.get(app.id)
        loaded.clearances = loaded.clearances.with_state(ClearanceKind.WATCHLIST_CLEAR, ClearanceState.FLAGGED)
        uow.commit()
    r = act(as_role(office, "supervisor"), app.id, "approve", "approve-form")
    assert r.status_code == 409 and 'data-code="flagged"' in r.text and "Masih ditandai oleh pusat" in r.text
    assert get(office, app.id).stage is Stage.INTERVIEWED


def test_a_hold_shows_its_reason_the_badges_and_the_centrals_words_and_is_released_only_once_lifted(
        office: Office, clock: FakeClock) -> None:
    app = flagged_hold(office)  # at 08:00 WIB
    clock.advance(hours=2)
    central_decision(office, app.id, ClearanceKind.RECORDED_CENTRALLY, ClearanceState.CONFIRMED, "in the registry")
    c = as_role(office, "supervisor")
    page = c.get("/staff/supervisor").text
    row = re.search(rf'<tr id="hold-row-{app.id}">.*?</tr>', page, re.S).group(0)
    assert "watchlist_clear flagged: prevention order 2026/117" in row  # the hold reason
    assert 'data-clearance="watchlist_clear" data-state="flagged"' in row
    assert "prevention order 2026/117 names the applicant" in row.split('class="decisions"')[1]
    assert f'id="hold-{app.id}-flagged"' in row and f'id="release-{app.id}"' not in row
    assert "ditahan sejak 30 November 2026, 08:00 WIB" in row  # when it was held, not its last change
    r = act(c, app.id, "release-hold", f"release-{app.id}", target="holds")
    assert r.status_code == 409 and 'data-code="flagged"' in r.text
    assert get(office, app.id).stage is Stage.ON_HOLD

    central_decision(office, app.id, ClearanceKind.WATCHLIST_CLEAR, ClearanceState.CONFIRMED,
                     "order 2026/117 revoked after review", lifts_flag=True)
    page = c.get("/staff/supervisor/holds").text
    assert f'id="release-{app.id}"' in page and "order 2026/117 revoked after review" in page
    r = act(c, app.id, "release-hold", f"release-{app.id}", target="holds", key="release-1")
    assert r.status_code == 200 and 'data-done="released"' in r.text and 'id="hold-list-empty"' in r.text
    assert get(office, app.id).stage is Stage.INTERVIEWED
    again = act(c, app.id, "release-hold", f"release-{app.id}", target="holds", key="release-1")
    assert again.headers.get("Idempotent-Replayed") == "true" and audits(office, "HoldReleased") == 1


def test_a_possible_duplicate_is_held_without_a_flag_and_released_from_its_review(office: Office) -> None:
    at_stage(office, "checked_in", 0)
    second = at_stage(office, "intake_done", 1, a=applicant(0))  # the same NIK again
    assert second.stage is Stage.ON_HOLD
    c = as_role(office, "supervisor")
    review = c.get(f"/staff/supervisor/{second.id}").text
    assert "possible duplicate" in review and 'id="release-form"' in review
    assert 'id="cancel-form"' not in review  # a held application is rejected or released, not cancelled
    r = act(c, second.id, "release-hold", "release-form")
    assert r.status_code == 200 and 'data-done="released"' in r.text
    assert get(office, second.id).stage is Stage.INTAKE_DONE


def test_dead_letters_are_shown_to_a_supervisor_and_retried_only_by_an_administrator(office: Office) -> None:
    app = at_stage(office, "interviewed")
    op = dead_letter(office, app.id)
    supervisor = as_role(office, "supervisor")
    page = supervisor.get("/staff/supervisor").text
    assert f'id="dead-letter-{op}"' in page and REFUSED.replace("'", "&#39;") in page and app.number in page
    assert f'id="retry-{op}"' not in page and 'id="dead-letter-who-retries"' in page
    r = supervisor.post(f"/staff/supervisor/dead-letters/{op}/retry", headers=htmx(csrf(supervisor), f"retry-{op}"))
    assert r.status_code == 403

    admin = as_role(office, "admin")
    page = admin.get("/staff/supervisor/dead-letters").text
    assert f'id="retry-{op}"' in page
    retry = {"Idempotency-Key": "retry-1", "X-Problem-Region": "dead-letter"}
    token = csrf(admin, "/staff/supervisor/dead-letters")
    r = admin.post(f"/staff/supervisor/dead-letters/{op}/retry", headers={**htmx(token, f"retry-{op}"), **retry})
    assert r.status_code == 200 and 'id="dead-letter-retried"' in r.text and 'id="dead-letter-list-empty"' in r.text
    with office.uow(readonly=True) as uow:
        assert uow.session.execute(select(t.outbox.c.status).where(t.outbox.c.id == op)).scalar_one() == "pending"
    again = admin.post(f"/staff/supervisor/dead-letters/{op}/retry", headers={**htmx(token, f"retry-{op}"), **retry})
    assert again.headers.get("Idempotent-Replayed") == "true" and audits(office, "DeadLetterRetried") == 1
    r = admin.post(f"/staff/supervisor/dead-letters/{op}/retry", headers={**htmx(token, f"retry-{op}"),
                                                                            "X-Problem-Region": "dead-letter"})
    assert r.status_code == 404 and r.headers["HX-Retarget"] == "#dead-letter-problem"
    assert 'data-code="dead-letter-not-found"' in r.text


def test_the_review_shows_the_photo_through_an_audited_read_and_every_clearance_decision(office: Office) -> None:
    app = flagged_hold(office)
    c = as_role(office, "supervisor")
    page = c.get(f"/staff/supervisor/{app.id}").text
    assert "prevention order 2026/117 names the applicant" in page and "pusat" in page  # decided by the central
    assert "local NIK rules pass" in page  # the office's own provisional decision
    src = re.search(r'id="review-photo" src="([^"]+)"', page).group(1)
    assert c.get(src).content[:2] == b"\xff\xd8"
    with office.uow(readonly=True) as uow:
        (purpose,) = [d["purpose"] for d in uow.session.execute(select(t.audit_event.c.detail).where(
            t.audit_event.c.action == "BiometricRead")).scalars()]
    assert purpose.startswith("supervisor")
