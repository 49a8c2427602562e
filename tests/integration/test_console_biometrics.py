"""The photo and fingerprint desk in the console, in process: the queue, the photo's checks
with their words, the accepted photo read back through an audited read, ten fingers with
exceptions, completing capture; roles, CSRF and Idempotency-Keys. The camera path runs in a
real Chromium (tests/e2e)."""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest
from sqlalchemy import func, select

from kanim.bootstrap import Office
from kanim.domain.application import Stage
from kanim.seed import face_photo, fingerprint_image
from kanim.store import tables as t
from tests import photos
from tests.console_desks import PASSWORD, as_role, at_stage, client, csrf, field_error, get, htmx, staff_office


@pytest.fixture
def office(tmp_path, clock, monkeypatch):  # noqa: ANN001, ANN201
    o = staff_office(tmp_path, clock, monkeypatch)
    yield o
    o.engine.dispose()


def count(office, table, **where) -> int:  # noqa: ANN001
    with office.uow(readonly=True) as uow:
        q = select(func.count()).select_from(table)
        for k, v in where.items():
            q = q.where(table.c[k] == v)
        return uow.session.execute(q).scalar_one()


def photo_upload(c, app_id: str, data: bytes, key: str | None = None, name: str = "photo.jpg"):  # noqa: ANN001, ANN201
    return c.post(f"/staff/biometrics/{app_id}/photo", files={"file": (name, data, "image/jpeg")},
                  headers=htmx(csrf(c), "photo-form", key=key))


def finger_upload(c, app_id: str, position: int, data: bytes, key: str | None = None):  # noqa: ANN001, ANN201
    return c.post(f"/staff/biometrics/{app_id}/fingers/{position}", files={"file": ("f.png", data, "image/png")},
                  headers=htmx(csrf(c), f"finger-{position}-form", key=key))


def test_the_capture_desk_refuses_other_roles_with_its_403_page_and_strangers_go_to_log_in(office: Office) -> None:
    app = at_stage(office, "paid")
    pages = ["/staff/biometrics", f"/staff/biometrics/{app.id}", f"/staff/biometrics/{app.id}/photo.jpg"]
    actions = [f"/staff/biometrics/{app.id}/photo", f"/staff/biometrics/{app.id}/fingers/1",
               f"/staff/biometrics/{app.id}/fingers/1/exception", f"/staff/biometrics/{app.id}/complete"]
    stranger = client(office)
    for path in pages:
        r = stranger.get(path, follow_redirects=False)
        assert (r.status_code, r.headers["location"]) == (303, f"/staff/login?next={path}"), path
    for path in actions:
        r = stranger.post(path, headers={"HX-Request": "true"}, follow_redirects=False)
        assert r.status_code == 204 and r.headers["HX-Redirect"].startswith("/staff/login"), path
    interviewer = as_role(office, "interviewer")
    token = csrf(interviewer)
    for path in pages:
        r = interviewer.get(path)
        assert r.status_code == 403 and "Loket ini bukan untuk Anda" in r.text, path
    for path in actions:
        r = interviewer.post(path, data={"exception": "injured"}, headers=htmx(token, "x"))
        assert r.status_code == 403, path
    assert count(office, t.biometric) == 0


def test_the_biometric_operator_lands_on_the_capture_queue(office: Office) -> None:
    c = client(office)
    token = re.search(r'name="csrf_token" value="([^"]+)"', c.get("/staff/login").text).group(1)
    r = c.post("/staff/login", data={"username": "biometric_operator", "password": PASSWORD, "csrf_token": token},
               follow_redirects=False)
    assert r.headers["location"] == "/staff/biometrics"


def test_the_queue_lists_paid_applications_first_and_an_unpaid_one_without_a_capture_link(office: Office) -> None:
    unpaid = at_stage(office, "intake_done", 0)
    paid = at_stage(office, "paid", 1)
    at_stage(office, "captured", 2)  # no longer waiting
    page = as_role(office, "biometric_operator").get("/staff/biometrics").text
    rows = re.findall(r'id="capture-row-([^"]+)"', page)
    assert rows == [paid.id, unpaid.id]
    assert f'id="capture-open-{paid.id}"' in page and f'id="capture-open-{unpaid.id}"' not in page
    assert "menunggu kasir" in page and "3578••••••••0002" in page and paid.nik not in page


def test_every_capture_form_refuses_a_missing_csrf_token_and_writes_nothing(office: Office) -> None:
    app = at_stage(office, "paid")
    c = as_role(office, "biometric_operator")
    sends = [
        lambda h: c.post(f"/staff/biometrics/{app.id}/photo", files={"file": ("p.jpg", face_photo(), "image/jpeg")},
                         headers=h),
        lambda h: c.post(f"/staff/biometrics/{app.id}/fingers/1", files={"file": ("f.png", fingerprint_image(),
                                                                                   "image/png")}, headers=h),
        lambda h: c.post(f"/staff/biometrics/{app.id}/fingers/1/exception", data={"exception": "injured"}, headers=h),
        lambda h: c.post(f"/staff/biometrics/{app.id}/complete", headers=h),
    ]
    for send in sends:
        assert send({"HX-Request": "true"}).status_code == 403
        assert send({"HX-Request": "true", "X-CSRF-Token": "0" * 40}).status_code == 403
    assert count(office, t.biometric) == 0 and get(office, app.id).stage is Stage.INTAKE_DONE


def test_a_photo_with_two_faces_is_refused_in_the_desks_words_with_each_check_and_nothing_is_kept(
        office: Office) -> None:
    app = at_stage(office, "paid")
    c = as_role(office, "biometric_operator")
    r = photo_upload(c, app.id, photos.two_faces_jpeg())
    assert r.status_code == 422 and r.headers["HX-Retarget"] == "#photo-form-problem"
    assert 'data-code="photo-several-faces"' in r.text
    assert "Lebih dari satu wajah" in r.text  # problem:photo-several-faces in Indonesian
    assert field_error(r.text, "photo-form", "file")
    reasons = re.findall(r"<li>([^<]+)</li>", r.text)
    assert reasons == ["✓ Berkas gambar (JPEG atau PNG): lolos", "✓ Resolusi: lolos", "✗ Satu wajah: ditolak",
                       "– Ukuran wajah (dagu sampai ubun-ubun): belum diperiksa",
                       "– Latar polos dan terang: belum diperiksa"]
    assert count(office, t.biometric) == 0


@pytest.mark.parametrize(("image", "code"), [
    (photos.no_face_jpeg, "photo-no-face"),
    (photos.dark_background_jpeg, "photo-background"),
    (photos.small_face_jpeg, "photo-face-size"),
    (photos.tiny_jpeg, "photo-resolution"),
    (photos.not_an_image, "photo-not-an-image"),
])
def test_each_photo_rule_is_refused_with_its_own_code_and_english_words_for_an_english_desk(
        office: Office, image: Callable[[], bytes], code: str) -> None:
    app = at_stage(office, "paid")
    c = as_role(office, "biometric_operator")
    c.post("/staff/language", data={"language": "en"}, headers=htmx(csrf(c), "language"))
    r = photo_upload(c, app.id, image())
    assert r.status_code == 422 and f'data-code="{code}"' in r.text
    assert "✗" in r.text and ": refused" in r.text
    assert count(office, t.biometric) == 0


def test_an_accepted_photo_shows_its_checks_and_is_read_back_through_an_audited_read(office: Office) -> None:
    app = at_stage(office, "paid")
    c = as_role(office, "biometric_operator")
    r = photo_upload(c, app.id, photos.passport_photo_jpeg())
    assert r.status_code == 200 and 'id="photo-ok"' in r.text
    assert len(re.findall(r'<span class="badge ok">lolos</span>', r.text)) == 5
    assert 'id="photo-form-wrap" hx-swap-oob="true"' in r.text and 'id="capture-status"' in r.text
    src = re.search(r'id="photo-image" src="([^"]+)"', r.text).group(1)
    before = count(office, t.audit_event, action="BiometricRead")
    image = c.get(src)
    assert image.status_code == 200 and image.headers["content-type"] == "image/jpeg"
    assert image.content[:2] == b"\xff\xd8" and image.headers["cache-control"] == "no-store"
    assert count(office, t.audit_event, action="BiometricRead") == before + 1
    with office.uow(readonly=True) as uow:
        detail = uow.session.execute(select(t.audit_event.c.detail).where(
            t.audit_event.c.action == "BiometricRead")).scalar_one()
    assert detail["purpose"].startswith("capture desk")


def test_a_photo_sent_twice_with_its_form_key_is_kept_once(office: Office) -> None:
    app = at_stage(office, "paid")
    c = as_role(office, "biometric_operator")
    first = photo_upload(c, app.id, photos.passport_photo_jpeg(), key="photo-1")
    again = photo_upload(c, app.id, photos.passport_photo_jpeg(), key="photo-1")
    assert first.status_code == again.status_code == 200 and again.headers.get("Idempotent-Replayed") == "true"
    assert count(office, t.audit_event, action="BiometricCaptured") == 1


def test_a_refused_photo_frees_its_key_for_the_retake(office: Office) -> None:
    app = at_stage(office, "paid")
    c = as_role(office, "biometric_operator")
    assert photo_upload(c, app.id, photos.two_faces_jpeg(), key="photo-1").status_code == 422
    assert photo_upload(c, app.id, photos.passport_photo_jpeg(), key="photo-1").status_code == 200
    assert count(office, t.biometric, kind="face") == 1


def test_a_colour_photo_as_a_fingerprint_is_refused_beside_its_file_and_nothing_is_kept(office: Office) -> None:
    app = at_stage(office, "paid")
    c = as_role(office, "biometric_operator")
    r = finger_upload(c, app.id, 3, face_photo())
    assert r.status_code == 422 and r.headers["HX-Retarget"] == "#finger-3-form-problem"
    assert 'data-code="fingerprint-colour"' in r.text and "berwarna" in r.text
    assert field_error(r.text, "finger-3-form", "file")
    assert count(office, t.biometric) == 0


def test_an_unknown_exception_is_refused_beside_its_select(office: Office) -> None:
    app = at_stage(office, "paid")
    c = as_role(office, "biometric_operator")
    r = c.post(f"/staff/biometrics/{app.id}/fingers/4/exception", data={"exception": "lost"},
               headers=htmx(csrf(c), "finger-4-exception-form"))
    assert r.status_code == 422 and field_error(r.text, "finger-4-exception-form", "exception")
    assert count(office, t.biometric) == 0


def test_ten_fingers_with_one_exception_complete_the_capture_and_a_gap_is_named_in_the_desks_words(
        office: Office) -> None:
    app = at_stage(office, "paid")
    c = as_role(office, "biometric_operator")
    assert photo_upload(c, app.id, face_photo()).status_code == 200
    for position in range(1, 10):
        r = finger_upload(c, app.id, position, fingerprint_image())
        assert r.status_code == 200 and f'id="finger-{position}" class="finger finger-captured"' in r.text
    r = c.post(f"/staff/biometrics/{app.id}/complete", headers=htmx(csrf(c), "complete-form"))
    assert r.status_code == 422 and 'data-code="fingerprints-incomplete"' in r.text
    assert "<li>kelingking kiri</li>" in r.text  # position 10, in the desk's words
    assert get(office, app.id).stage is Stage.INTAKE_DONE
    r = c.post(f"/staff/biometrics/{app.id}/fingers/10/exception", data={"exception": "injured"},
               headers=htmx(csrf(c), "finger-10-exception-form"))
    assert r.status_code == 200 and 'data-state="excepted"' in r.text and "cedera" in r.text
    assert "Jari: 10 dari 10" in r.text  # the status, swapped out of band
    r = c.post(f"/staff/biometrics/{app.id}/complete", headers=htmx(csrf(c), "complete-form"))
    assert r.status_code == 200 and 'id="capture-done"' in r.text
    assert get(office, app.id).stage is Stage.CAPTURED
    page = c.get(f"/staff/biometrics/{app.id}").text
    assert 'id="capture-closed"' in page and 'id="photo-form"' not in page


def test_capture_waits_for_the_payment_and_says_so(office: Office) -> None:
    app = at_stage(office, "intake_done")
    c = as_role(office, "biometric_operator")
    page = c.get(f"/staff/biometrics/{app.id}").text
    assert 'id="capture-closed"' in page and 'id="photo-form"' not in page and 'id="finger-1-form"' not in page
    r = photo_upload(c, app.id, face_photo())
    assert r.status_code == 409 and 'data-code="payment-required"' in r.text
    assert count(office, t.biometric) == 0


def test_the_capture_page_shows_each_finger_by_its_name_and_state(office: Office) -> None:
    app = at_stage(office, "paid")
    c = as_role(office, "biometric_operator")
    finger_upload(c, app.id, 1, fingerprint_image())
    c.post(f"/staff/biometrics/{app.id}/fingers/6/exception", data={"exception": "missing"},
           headers=htmx(csrf(c), "finger-6-exception-form"))
    page = c.get(f"/staff/biometrics/{app.id}").text
    states = dict(re.findall(r'<li id="finger-(\d+)" class="finger finger-\w+" data-state="(\w+)"', page))
    assert states == {"1": "captured", "6": "excepted", **{str(p): "waiting" for p in (2, 3, 4, 5, 7, 8, 9, 10)}}
    assert "ibu jari kanan" in page and "kelingking kiri" in page
