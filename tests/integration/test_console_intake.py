"""The intake desk of the staff console, in process: today's waiting list and opening an
application by number, the checklist for the application type, scans through upload_document
(a camera picture is a JPEG in the same form), the NIK check with the rule it breaks, and
completing intake with duplicates held and watch-list matches rejected, each with its reason."""

from __future__ import annotations

import re
from datetime import date

import pytest
from sqlalchemy import func, select, update

from kanim.domain.application import Stage
from kanim.office import accounts, admin, booking, intake
from kanim.security import passwords
from kanim.seed import face_photo
from kanim.store import tables as t
from tests.conftest import make_office
from tests.integration.test_console import PASSWORD, WALK_IN, client, csrf, htmx, log_in

JPEG = face_photo()
PNG = b"\x89PNG\r\n\x1a\n" + b"\0" * 64
PDF = b"%PDF-1.4\n%scan\n"
FORBIDDEN = "Loket ini bukan untuk Anda"


@pytest.fixture
def office(tmp_path, clock, monkeypatch):  # noqa: ANN001, ANN201
    from argon2 import PasswordHasher

    monkeypatch.setattr(passwords, "_hasher", PasswordHasher(time_cost=1, memory_cost=8, parallelism=1))
    o, _ = make_office(tmp_path, "sqlite", clock, None)
    for role in ("front_desk", "cashier"):
        accounts.add_user(o, username=role, full_name=f"{role} person", role=role, password=PASSWORD)
    yield o
    o.engine.dispose()


def walk_in(office, **fields):  # noqa: ANN001, ANN003, ANN201
    return booking.walk_in(office, applicant=booking.Applicant(**{**WALK_IN, "birth_date": date(1990, 8, 5),
                                                                  **fields}), actor="front_desk")


@pytest.fixture
def desk(office):  # noqa: ANN001, ANN201
    c = client(office)
    log_in(c)
    return c


def token(c) -> str:  # noqa: ANN001
    return csrf(c, "/staff/intake")


def upload(c, app_id: str, kind: str, data: bytes = JPEG, *, key: str | None = None, name: str = "scan.jpg",
           tok: str | None = None, **form):  # noqa: ANN001, ANN003, ANN201
    return c.post(f"/staff/intake/{app_id}/documents", data={"kind": kind, **form},
                  files={"file": (name, data, "application/octet-stream")},
                  headers=htmx(tok or token(c), "scan-form", key=key))


def complete(c, app_id: str, *, key: str | None = None, **form):  # noqa: ANN001, ANN003, ANN201
    return c.post(f"/staff/intake/{app_id}/complete", data=form, headers=htmx(token(c), "intake-form", key=key))


def scan_all(office, app_id: str, kinds=("ktp", "kk", "birth_certificate")) -> None:  # noqa: ANN001
    for kind in kinds:
        intake.upload_document(office, application_id=app_id, kind=kind, data=JPEG, actor="front_desk")


def audit_count(office, action: str, subject: str) -> int:  # noqa: ANN001
    with office.uow() as uow:
        e = t.audit_event.c
        return uow.session.scalar(select(func.count()).where(e.action == action, e.subject == subject))


def stage(office, app_id: str) -> Stage:  # noqa: ANN001
    with office.uow() as uow:
        return uow.applications.get(app_id).stage


# -- who may -----------------------------------------------------------------------------------

def test_every_intake_route_answers_another_role_with_the_403_page_and_a_stranger_with_the_login(office) -> None:  # noqa: ANN001
    app = walk_in(office)
    gets = ["/staff/intake", "/staff/intake/waiting", f"/staff/intake/open?number={app.number}",
            f"/staff/intake/{app.id}", f"/staff/intake/{app.id}/file"]
    posts = [f"/staff/intake/{app.id}/documents", f"/staff/intake/{app.id}/complete"]
    cashier = client(office)
    log_in(cashier, "cashier")
    tok = csrf(cashier, "/staff/cashier")
    for path in gets:
        r = cashier.get(path)
        assert r.status_code == 403 and FORBIDDEN in r.text, path
    for path in posts:
        r = cashier.post(path, data={"kind": "ktp"}, files={"file": ("a.jpg", JPEG)}, headers=htmx(tok, "scan-form"))
        assert r.status_code == 403, path
    stranger = client(office)
    for path in gets:
        r = stranger.get(path, follow_redirects=False)
        assert r.status_code == 303 and r.headers["location"].startswith("/staff/login?next=/staff/intake"), path
    for path in posts:
        r = stranger.post(path, headers={"HX-Request": "true"})
        assert r.status_code == 204 and r.headers["HX-Redirect"].startswith("/staff/login"), path
    with office.uow() as uow:
        assert uow.session.scalar(select(func.count()).select_from(t.document_scan)) == 0
    assert stage(office, app.id) is Stage.CHECKED_IN


def test_an_intake_form_without_its_csrf_token_is_refused_and_writes_nothing(office, desk) -> None:  # noqa: ANN001
    app = walk_in(office)
    scan_all(office, app.id)
    r = desk.post(f"/staff/intake/{app.id}/documents", data={"kind": "old_passport"},
                  files={"file": ("a.jpg", JPEG)}, headers={"HX-Request": "true"})
    assert r.status_code == 403 and "CSRF" in r.text
    r = desk.post(f"/staff/intake/{app.id}/complete", headers={"HX-Request": "true", "X-CSRF-Token": "f" * 40})
    assert r.status_code == 403
    assert audit_count(office, "DocumentScanned", app.id) == 3
    assert stage(office, app.id) is Stage.CHECKED_IN


# -- the list and opening one ------------------------------------------------------------------

def test_the_list_shows_todays_checked_in_applicants_first_come_first_served(office, desk, clock) -> None:  # noqa: ANN001
    first = walk_in(office)
    clock.advance(minutes=5)
    second = walk_in(office, full_name="Budi Santoso", nik="3578011203850002", birth_date=date(1985, 3, 12), sex="M")
    done = walk_in(office, full_name="Sukarno", nik="7171010606780003", birth_date=date(1978, 6, 6), sex="M")
    scan_all(office, done.id)
    intake.complete_intake(office, application_id=done.id, actor="front_desk")
    page = desk.get("/staff/intake").text
    assert page.index(f'id="waiting-{first.id}"') < page.index(f'id="waiting-{second.id}"')
    assert f'id="waiting-{done.id}"' not in page
    assert 'id="waiting-count">2<' in page
    assert WALK_IN["nik"] not in page and "3171••••••••0001" in page  # a list masks NIKs
    assert f'href="/staff/intake/{first.id}"' in page


def test_an_application_is_opened_by_its_number_and_an_unknown_one_is_said_beside_the_field(office, desk) -> None:  # noqa: ANN001
    app = walk_in(office)
    r = desk.get("/staff/intake/open", params={"number": app.number}, headers={"HX-Request": "true"})
    assert r.status_code == 204 and r.headers["HX-Redirect"] == f"/staff/intake/{app.id}"
    r = desk.get("/staff/intake/open", params={"number": app.number}, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == f"/staff/intake/{app.id}"
    r = desk.get("/staff/intake/open", params={"number": "MND-20261130-9999"},
                 headers={"HX-Request": "true", "HX-Trigger": "open-form"})
    assert r.status_code == 404 and r.headers["HX-Retarget"] == "#open-form-problem"
    assert 'data-code="application-not-found"' in r.text and "Permohonan tidak ditemukan" in r.text
    assert re.search(r'id="open-form-err-number" class="field-error" hx-swap-oob="true">\S', r.text)


# -- the checklist and the scans ---------------------------------------------------------------

def test_the_checklist_follows_the_application_type_and_the_name_change(office, desk) -> None:  # noqa: ANN001
    app = walk_in(office, app_type="replacement_lost")
    page = desk.get(f"/staff/intake/{app.id}").text
    for key in ("ktp", "kk", "identity_proof", "police_report"):
        assert f'id="requirement-{key}" data-met="false"' in page, key
    assert "requirement-name_change_decree" not in page and "requirement-old_passport" not in page
    assert "Surat keterangan hilang dari kepolisian" in page
    changed = desk.get(f"/staff/intake/{app.id}/file", params={"name_changed": "true"}).text
    assert 'id="requirement-name_change_decree" data-met="false"' in changed
    assert 'name="name_changed" type="checkbox" value="true" checked' in changed


def test_a_scan_by_file_goes_through_upload_document_and_meets_its_line(office, desk) -> None:  # noqa: ANN001
    app = walk_in(office)
    r = upload(desk, app.id, "ktp", PNG, name="ktp.png")
    assert r.status_code == 200 and "KTP sudah dipindai." in r.text
    assert 'id="requirement-ktp" data-met="true"' in r.text and 'id="document-ktp" data-state="scanned"' in r.text
    assert 'id="requirement-kk" data-met="false"' in r.text
    # The form comes back with the next document chosen and a fresh key, for the next scan.
    assert re.search(r'<option value="kk" selected>', r.text)
    keys = [re.search(r'<form id="scan-form"[^>]*"Idempotency-Key": "([^"]+)"', html).group(1)
            for html in (desk.get(f"/staff/intake/{app.id}").text, r.text)]
    assert keys[0] != keys[1]
    r = upload(desk, app.id, "birth_certificate", PDF, name="akta.pdf")
    assert 'id="requirement-identity_proof" data-met="true"' in r.text
    with office.uow() as uow:
        rows = {d["kind"]: d["content_type"] for d in intake.documents(uow, app.id)}
    assert rows == {"ktp": "image/png", "birth_certificate": "application/pdf"}
    assert audit_count(office, "DocumentScanned", app.id) == 2


def test_a_camera_picture_is_a_jpeg_scan_of_the_chosen_document(office, desk) -> None:  # noqa: ANN001
    """What the page's capture button sends: the canvas's JPEG as `camera.jpg` in the scan form."""
    app = walk_in(office)
    page = desk.get(f"/staff/intake/{app.id}").text
    assert 'id="camera-preview"' in page and 'data-camera="capture"' in page and 'id="scan-form"' in page
    r = desk.post(f"/staff/intake/{app.id}/documents", data={"kind": "kk"},
                  files={"file": ("camera.jpg", JPEG, "image/jpeg")}, headers=htmx(token(desk), "scan-form"))
    assert r.status_code == 200 and 'id="document-kk" data-state="scanned"' in r.text
    with office.uow() as uow:
        assert [(d["kind"], d["content_type"], d["size_bytes"]) for d in intake.documents(uow, app.id)] == [
            ("kk", "image/jpeg", len(JPEG))]


@pytest.mark.parametrize(("data", "code"), [(b"GIF89a not a scan", "scan-type"), (b"", "upload-empty")])
def test_a_scan_that_is_not_a_jpeg_png_or_pdf_is_refused_beside_the_file_field(office, desk, data, code) -> None:  # noqa: ANN001
    app = walk_in(office)
    r = upload(desk, app.id, "ktp", data, name="ktp.gif")
    assert r.status_code == 422 and r.headers["HX-Retarget"] == "#scan-form-problem"
    assert f'data-code="{code}"' in r.text
    assert re.search(r'id="scan-form-err-file" class="field-error" hx-swap-oob="true">\S', r.text)
    assert audit_count(office, "DocumentScanned", app.id) == 0


def test_an_unknown_document_kind_is_refused_and_writes_nothing(office, desk) -> None:  # noqa: ANN001
    app = walk_in(office)
    r = upload(desk, app.id, "selfie")
    assert r.status_code == 422 and 'data-code="document-kind"' in r.text and "Jenis dokumen tidak dikenal" in r.text
    assert audit_count(office, "DocumentScanned", app.id) == 0


def test_a_scan_sent_twice_with_its_form_key_is_stored_once(office, desk) -> None:  # noqa: ANN001
    app = walk_in(office)
    tok = token(desk)
    first = upload(desk, app.id, "ktp", key="scan-1", tok=tok)
    again = upload(desk, app.id, "ktp", key="scan-1", tok=tok)
    assert first.status_code == again.status_code == 200 and again.headers.get("Idempotent-Replayed") == "true"
    assert audit_count(office, "DocumentScanned", app.id) == 1


# -- the NIK check and completing --------------------------------------------------------------

def test_a_nik_that_breaks_a_rule_is_shown_with_the_rule_and_intake_is_refused(office, desk) -> None:  # noqa: ANN001
    app = walk_in(office)
    scan_all(office, app.id)
    with office.uow() as uow:  # an application whose entered birth date no longer matches its NIK
        uow.session.execute(update(t.application).where(t.application.c.id == app.id)
                            .values(birth_date=date(1990, 8, 6)))
        uow.session.commit()
    page = desk.get(f"/staff/intake/{app.id}").text
    assert 'id="nik-check" data-passed="false"' in page and 'data-code="nik-birthdate-mismatch"' in page
    assert "Tanggal lahir pada NIK tidak sama" in page
    assert "NIK encodes birth date 5 August 1990 but 6 August 1990 was entered." in page
    r = complete(desk, app.id)
    assert r.status_code == 422 and r.headers["HX-Retarget"] == "#intake-form-problem"
    assert 'data-code="nik-birthdate-mismatch"' in r.text
    assert "NIK encodes birth date 5 August 1990 but 6 August 1990 was entered." in r.text
    assert re.search(r'id="intake-form-err-nik" class="field-error" hx-swap-oob="true">Tanggal lahir', r.text)
    assert stage(office, app.id) is Stage.CHECKED_IN


def test_a_nik_that_passes_says_so(office, desk) -> None:  # noqa: ANN001
    app = walk_in(office)
    page = desk.get(f"/staff/intake/{app.id}").text
    assert 'id="nik-check" data-passed="true"' in page and "NIK sesuai" in page


def test_intake_with_a_document_missing_is_refused_and_the_stage_stays(office, desk) -> None:  # noqa: ANN001
    app = walk_in(office, app_type="renewal")
    scan_all(office, app.id)
    r = complete(desk, app.id)
    assert r.status_code == 422 and 'data-code="documents-missing"' in r.text and "Dokumen belum lengkap" in r.text
    assert "old passport" in r.text  # the problem's own words name what is missing
    assert stage(office, app.id) is Stage.CHECKED_IN


def test_completing_intake_sends_the_applicant_to_the_cashier_with_the_clearances_as_badges(office, desk) -> None:  # noqa: ANN001
    app = walk_in(office)
    scan_all(office, app.id)
    r = complete(desk, app.id)
    assert r.status_code == 200 and 'data-outcome="done"' in r.text and "arahkan pemohon ke kasir" in r.text
    assert 'id="clearance-nik_verified" data-state="provisional"' in r.text
    assert 'id="clearance-payment_confirmed" data-state="pending"' in r.text
    assert 'id="scan-form"' not in r.text and 'id="intake-form"' not in r.text  # intake is closed
    assert '<div id="camera" hx-swap-oob="true" hidden>' in r.text  # and so is the camera
    assert stage(office, app.id) is Stage.INTAKE_DONE
    assert f'id="waiting-{app.id}"' not in desk.get("/staff/intake").text


def test_completing_intake_with_the_name_changed_needs_the_decree(office, desk) -> None:  # noqa: ANN001
    app = walk_in(office)
    scan_all(office, app.id)
    r = complete(desk, app.id, name_changed="true")
    assert r.status_code == 422 and 'data-code="documents-missing"' in r.text
    scan_all(office, app.id, kinds=("name_change_decree",))
    r = complete(desk, app.id, name_changed="true")
    assert r.status_code == 200 and 'data-outcome="done"' in r.text


def test_completing_intake_twice_with_one_key_completes_it_once(office, desk) -> None:  # noqa: ANN001
    app = walk_in(office)
    scan_all(office, app.id)
    first = complete(desk, app.id, key="intake-1")
    again = complete(desk, app.id, key="intake-1")
    assert first.status_code == again.status_code == 200 and again.headers.get("Idempotent-Replayed") == "true"
    assert audit_count(office, "IntakeCompleted", app.id) == 1
    r = complete(desk, app.id, key="intake-2")  # a new click on a closed intake: refused, said why
    assert r.status_code == 409 and 'data-code="transition-out-of-order"' in r.text


def test_a_possible_duplicate_is_held_with_its_reason_and_its_clearances(office, desk) -> None:  # noqa: ANN001
    earlier = walk_in(office)
    app = walk_in(office)  # the same person again
    page = desk.get(f"/staff/intake/{app.id}").text
    assert earlier.number in page.split('id="same-nik"')[1].split("</table>")[0]
    scan_all(office, app.id)
    r = complete(desk, app.id)
    assert r.status_code == 200 and 'data-outcome="held"' in r.text
    reason = re.search(r'<p id="hold-reason">([^<]+)</p>', r.text).group(1)
    assert reason == f"possible duplicate: open application {earlier.number} (checked_in) for the same NIK"
    assert 'id="clearance-not_duplicate" data-state="pending"' in r.text
    assert 'id="clearance-nik_verified" data-state="provisional"' in r.text
    held = desk.get("/staff/intake").text.split('id="intake-held"')[1]
    assert app.number in held and "possible duplicate" in held


def test_a_watch_list_match_rejects_at_intake_with_its_reason(office, desk, clock) -> None:  # noqa: ANN001
    clock.advance(minutes=1)  # a newer snapshot than the office's empty one
    admin.load_watchlist_snapshot(office, taken_at=clock.now(), source="test", actor="test", orders=[
        admin.WatchlistOrder("nik", WALK_IN["nik"], "prevention", "KPK", date(2026, 11, 1), date(2027, 4, 30),
                             "case 12")])
    app = walk_in(office)
    scan_all(office, app.id)
    r = complete(desk, app.id)
    assert r.status_code == 200 and 'data-outcome="rejected"' in r.text
    assert "watch-list match: prevention order by KPK until 2027-04-30: case 12" in r.text
    assert 'id="clearance-watchlist_clear" data-state="flagged"' in r.text
    assert stage(office, app.id) is Stage.REJECTED


def test_the_intake_desk_speaks_english_to_who_chose_it(office, desk) -> None:  # noqa: ANN001
    app = walk_in(office, app_type="renewal")
    desk.post("/staff/language", data={"language": "en"}, headers=htmx(token(desk), "language"))
    page = desk.get(f"/staff/intake/{app.id}").text
    assert "Checklist" in page and "Old passport" in page and "Daftar periksa" not in page
    r = complete(desk, app.id)  # no Indonesian words in English: the problem's own
    assert 'class="problem" data-code="documents-missing">documents missing: KTP (identity card)' in r.text


def test_a_file_past_intake_says_so_and_an_unknown_one_answers_a_not_found_page(office, desk) -> None:  # noqa: ANN001
    from kanim.office import payment

    app = walk_in(office)
    scan_all(office, app.id)
    intake.complete_intake(office, application_id=app.id, actor="front_desk")
    billed, _ = payment.issue_billing(office, application_id=app.id, actor="cashier")
    payment.record_payment(office, billing_code=billed.billing_code, receipt_ref="BRI-1", actor="cashier")
    with office.uow() as uow:  # on to the photo desk's stage, as if captured
        uow.session.execute(update(t.application).where(t.application.c.id == app.id).values(stage=Stage.CAPTURED))
        uow.session.commit()
    page = desk.get(f"/staff/intake/{app.id}").text
    assert 'data-outcome="past"' in page and 'id="scan-form"' not in page and 'id="camera"' not in page
    assert 'id="clearance-payment_confirmed" data-state="provisional"' in page
    r = desk.get("/staff/intake/00000000-0000-0000-0000-000000000000")
    assert r.status_code == 404 and "Permohonan tidak ditemukan" in r.text and "Traceback" not in r.text
