"""Refusals over real HTTP: each is an RFC 9457 problem document (application/problem+json with
type, title, status, detail and a stable `code`) and leaves nothing half-written.

"Nothing half-written" is checked with `leaves_no_trace`: the application (every field), its
scans and biometrics, the number of applications, the outbox, the audit chain, the booklet stock
and the encrypted files in the vault are exactly as before. That is exact only on servers without
a central (no link thread applying decisions in the background), so most cases run against the
office during an outage (`offline_server`); the rules they check are the same either way.
"""

from __future__ import annotations

import socket
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, date, datetime, timedelta

import httpx
import pytest

from tests import photos
from tests.e2e.conftest import MAX_UPLOAD_BYTES, load_watchlist, password_for
from tests.e2e.desks import (
    PDF_SCAN,
    approve,
    capture,
    face_jpeg,
    file,
    get_app,
    interview,
    leaves_no_trace,
    next_working_day,
    ok,
    pay,
    person,
    print_passport,
    problem,
    upload_documents,
    wait_for,
    walk_in,
    walk_in_to,
)

# -- NIK -----------------------------------------------------------------------------------------


BAD_NIKS = {
    # case: (change to a valid man born 12 March 1985, expected code)
    "15-digits": (lambda a: {**a, "nik": a["nik"][:15]}, "nik-length"),
    "not-digits": (lambda a: {**a, "nik": a["nik"][:12] + "00.1"}, "nik-not-digits"),
    "day-32": (lambda a: {**a, "nik": a["nik"][:6] + "32" + a["nik"][8:]}, "nik-day"),
    "month-13": (lambda a: {**a, "nik": a["nik"][:8] + "13" + a["nik"][10:]}, "nik-month"),
    "sex-mismatch": (lambda a: {**a, "sex": "F"}, "nik-sex-mismatch"),
    "birth-date-mismatch": (lambda a: {**a, "birth_date": "1985-03-13"}, "nik-birthdate-mismatch"),
}


@pytest.mark.parametrize("case", BAD_NIKS, ids=list(BAD_NIKS))
def test_a_booking_with_an_invalid_nik_is_refused_and_books_nothing(offline_server, case) -> None:  # noqa: ANN001
    change, code = BAD_NIKS[case]
    applicant = change(person("M", date(1985, 3, 12), name="Budi Santoso").applicant())
    fd = offline_server.desk("front_desk")
    day = next_working_day().isoformat()
    places = ok(fd.get("/bookings/availability", params={"day": day}))
    with leaves_no_trace(offline_server):
        r = fd.post("/bookings", json={"account_ref": "acc-budi", "day": day, "slot": "09:00",
                                       "applicants": [applicant]})
        body = problem(r, 422, code)
    assert body["instance"] == "/api/v1/bookings"
    assert ok(fd.get("/bookings/availability", params={"day": day})) == places


@pytest.mark.parametrize("case", ["15-digits", "day-32", "sex-mismatch"])
def test_a_walk_in_with_an_invalid_nik_gets_no_queue_ticket(offline_server, case) -> None:  # noqa: ANN001
    change, code = BAD_NIKS[case]
    applicant = change(person("M", date(1985, 3, 12), name="Budi Santoso").applicant())
    with leaves_no_trace(offline_server):
        problem(offline_server.desk("front_desk").post("/walk-ins", json=applicant), 422, code)


def test_one_bad_nik_in_a_family_booking_books_none_of_the_family(offline_server) -> None:  # noqa: ANN001
    family = [person("F").applicant(), person("M", date(1984, 1, 2)).applicant(), person("F").applicant()]
    family[2]["nik"] = family[2]["nik"][:15]
    with leaves_no_trace(offline_server):
        r = offline_server.desk("front_desk").post("/bookings", json={
            "account_ref": "acc-family", "day": next_working_day().isoformat(), "slot": "10:00",
            "applicants": family})
        problem(r, 422, "nik-length")


def _next_saturday() -> date:
    day = next_working_day()
    return day + timedelta(days=(5 - day.weekday()) % 7)


BOOKING_RULES = {
    # case: (change to a valid one-person booking, status, code)
    "closed-day": (lambda b: {**b, "day": _next_saturday().isoformat()}, 422, "office-closed"),
    "in-the-past": (lambda b: {**b, "day": "2020-01-06"}, 422, "booking-in-past"),
    "unknown-slot": (lambda b: {**b, "slot": "12:00"}, 422, "slot-unknown"),
    "six-applicants": (lambda b: {**b, "applicants": [person().applicant() for _ in range(6)]}, 422, "booking-size"),
}


@pytest.mark.parametrize("case", BOOKING_RULES, ids=list(BOOKING_RULES))
def test_a_booking_breaking_a_booking_rule_is_refused_and_books_nothing(offline_server, case) -> None:  # noqa: ANN001
    change, status, code = BOOKING_RULES[case]
    booking = change({"account_ref": "acc-rules", "day": next_working_day().isoformat(), "slot": "11:00",
                      "applicants": [person().applicant()]})
    with leaves_no_trace(offline_server):
        problem(offline_server.desk("front_desk").post("/bookings", json=booking), status, code)


# -- transitions ---------------------------------------------------------------------------------


def test_approving_a_booked_application_is_refused_as_out_of_order(offline_server) -> None:  # noqa: ANN001
    fd = offline_server.desk("front_desk")
    booked = ok(fd.post("/bookings", json={"account_ref": "acc-x", "day": next_working_day().isoformat(),
                                           "slot": "13:00", "applicants": [person().applicant()]}), 201)
    app_id = booked["applications"][0]["id"]
    with leaves_no_trace(offline_server, app_id):
        body = problem(offline_server.desk("supervisor").post(f"/applications/{app_id}/approve"),
                       409, "transition-out-of-order")
    assert "booked" in body["detail"] and "interviewed" in body["detail"]
    assert get_app(offline_server, app_id)["stage"] == "booked"


def test_a_scan_after_intake_is_refused_and_leaves_no_file_in_the_vault(offline_server) -> None:  # noqa: ANN001
    """The scan is encrypted to disk before the transaction; when the transaction refuses it,
    the file must go too."""
    app = walk_in_to(offline_server, "intake_done")
    with leaves_no_trace(offline_server, app["id"]):
        r = offline_server.desk("front_desk").put(f"/applications/{app['id']}/documents/old_passport",
                                                  files=file(PDF_SCAN, "old.pdf"))
        problem(r, 409, "transition-out-of-order")


def test_a_photo_before_payment_is_refused_and_leaves_no_file_in_the_vault(offline_server) -> None:  # noqa: ANN001
    app = walk_in_to(offline_server, "intake_done")
    with leaves_no_trace(offline_server, app["id"]):
        r = offline_server.desk("biometric_operator").put(
            f"/applications/{app['id']}/photo", files=file(face_jpeg(), "face.jpg", "image/jpeg"))
        problem(r, 409, "payment-required")


def test_intake_with_documents_missing_is_refused_and_says_which(offline_server) -> None:  # noqa: ANN001
    app = walk_in(offline_server)
    upload_documents(offline_server, app["id"], kinds=("ktp",))
    fd = offline_server.desk("front_desk")
    expected = ok(fd.get(f"/applications/{app['id']}/checklist"))["missing"]
    assert len(expected) == 2
    with leaves_no_trace(offline_server, app["id"]) as before:
        body = problem(fd.post(f"/applications/{app['id']}/intake", json={}), 422, "documents-missing")
    assert body["missing"] == expected
    assert all(m in body["detail"] for m in expected)
    unchanged = before["applications"][app["id"]]
    assert unchanged["stage"] == "checked_in"
    assert set(unchanged["clearances"].values()) == {"pending"}


# -- uploads -------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def checked_in(offline_server) -> dict:  # noqa: ANN001
    return walk_in(offline_server)


@pytest.fixture(scope="module")
def paid(offline_server) -> dict:  # noqa: ANN001
    """Intake done and paid: photo and fingerprints may be captured."""
    return walk_in_to(offline_server, "paid")


def test_the_e2e_photo_is_within_the_upload_limit() -> None:
    assert len(photos.passport_photo_jpeg()) < MAX_UPLOAD_BYTES
    assert len(photos.fingerprint_png()) < MAX_UPLOAD_BYTES


def _too_large() -> bytes:
    """A JPEG header and then one byte more than the server's limit."""
    return b"\xff\xd8\xff\xe0" + b"\0" * (MAX_UPLOAD_BYTES - 3)


@pytest.mark.parametrize("target", ["document", "photo", "fingerprint"])
def test_an_upload_over_the_size_limit_is_refused_with_413(offline_server, checked_in, paid, target) -> None:  # noqa: ANN001
    app_id, role, path = {
        "document": (checked_in["id"], "front_desk", "documents/ktp"),
        "photo": (paid["id"], "biometric_operator", "photo"),
        "fingerprint": (paid["id"], "biometric_operator", "fingerprints/3"),
    }[target]
    data = _too_large()
    assert len(data) == MAX_UPLOAD_BYTES + 1
    with leaves_no_trace(offline_server, app_id):
        r = offline_server.desk(role).put(f"/applications/{app_id}/{path}", files=file(data, "big.jpg", "image/jpeg"))
        body = problem(r, 413, "upload-too-large")
    assert str(MAX_UPLOAD_BYTES) in body["detail"]


def test_an_empty_upload_is_refused(offline_server, checked_in) -> None:  # noqa: ANN001
    with leaves_no_trace(offline_server, checked_in["id"]):
        r = offline_server.desk("front_desk").put(f"/applications/{checked_in['id']}/documents/ktp",
                                                  files=file(b"", "empty.pdf", "application/pdf"))
        problem(r, 422, "upload-empty")


def _answer_to_a_huge_declared_upload(server, path: str, token: str | None, wait: float = 1.5) -> bytes:  # noqa: ANN001
    """Declare a multipart body of 50 times the limit, send its first 64 kB, and return what the
    server answers within `wait` seconds: b"" when it just keeps reading, b"reset" when it
    dropped the connection."""
    boundary = "e2e-boundary"
    head = (f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="big.pdf"\r\n'
            "Content-Type: application/pdf\r\n\r\n").encode() + b"%PDF-"
    auth = f"Authorization: Bearer {token}\r\n" if token else ""
    host, port = server.base_url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=wait) as s:
        s.sendall((f"PUT /api/v1{path} HTTP/1.1\r\nHost: {host}\r\n{auth}Connection: close\r\n"
                   f"Content-Type: multipart/form-data; boundary={boundary}\r\n"
                   f"Content-Length: {50 * MAX_UPLOAD_BYTES}\r\n\r\n").encode() + head + b"\0" * 65_536)
        try:
            return s.recv(4096)
        except TimeoutError:
            return b""
        except ConnectionResetError:  # refused and closed before our bytes were read: also early
            return b"reset"


@pytest.mark.parametrize("authenticated", [True, False], ids=["front-desk", "anonymous"])
def test_an_upload_declared_far_over_the_limit_is_refused_before_its_body_arrives(
        offline_server, checked_in, authenticated) -> None:  # noqa: ANN001
    token = offline_server.tokens["front_desk"] if authenticated else None
    answer = _answer_to_a_huge_declared_upload(offline_server, f"/applications/{checked_in['id']}/documents/ktp",
                                               token)
    expected = (b"HTTP/1.1 413 ",) if authenticated else (b"HTTP/1.1 401 ", b"HTTP/1.1 413 ")
    assert answer.startswith(expected) or answer == b"reset", \
        answer[:200] or "no answer within 1.5 s: the server went on reading the body"


@pytest.mark.parametrize("data", [b"GIF89a" + b"\0" * 64, b"just some text, not a scan\n", b"PK\x03\x04docx"],
                         ids=["gif", "text", "zip"])
def test_a_scan_that_is_not_jpeg_png_or_pdf_is_refused(offline_server, checked_in, data) -> None:  # noqa: ANN001
    with leaves_no_trace(offline_server, checked_in["id"]):
        r = offline_server.desk("front_desk").put(f"/applications/{checked_in['id']}/documents/kk",
                                                  files=file(data, "scan.jpg", "image/jpeg"))
        problem(r, 422, "scan-type")


PHOTO_REFUSALS = {
    "not-an-image": (photos.not_an_image, "photo-not-an-image"),
    "no-face": (photos.no_face_jpeg, "photo-no-face"),
    "two-faces": (photos.two_faces_jpeg, "photo-several-faces"),
    "dark-background": (photos.dark_background_jpeg, "photo-background"),
}


@pytest.mark.parametrize("case", PHOTO_REFUSALS, ids=list(PHOTO_REFUSALS))
def test_a_photo_breaking_a_rule_is_refused_with_that_rule(offline_server, paid, case) -> None:  # noqa: ANN001
    make, code = PHOTO_REFUSALS[case]
    with leaves_no_trace(offline_server, paid["id"]) as before:
        r = offline_server.desk("biometric_operator").put(f"/applications/{paid['id']}/photo",
                                                          files=file(make(), "face.jpg", "image/jpeg"))
        problem(r, 422, code)
    assert before["biometrics"][paid["id"]]["photo"] is None


def test_a_fingerprint_that_is_not_an_image_is_refused(offline_server, paid) -> None:  # noqa: ANN001
    with leaves_no_trace(offline_server, paid["id"]):
        r = offline_server.desk("biometric_operator").put(f"/applications/{paid['id']}/fingerprints/2",
                                                          files=file(photos.not_an_image(), "f.png", "image/png"))
        problem(r, 422, "fingerprint-not-an-image")


# -- payment -------------------------------------------------------------------------------------


def test_an_expired_billing_code_is_refused_with_410_and_a_new_one_can_be_paid(short_billing_server) -> None:  # noqa: ANN001
    server = short_billing_server
    app = walk_in_to(server, "intake_done")
    cashier = server.desk("cashier")
    bill = ok(cashier.post(f"/applications/{app['id']}/billing"), 201)
    expires_at = datetime.fromisoformat(bill["expires_at"])
    assert 1.0 <= (expires_at - datetime.fromisoformat(bill["application"]["updated_at"])).total_seconds() <= 1.5
    time.sleep(1.4)  # past the 1.2 s validity (KANIM_BILLING_VALIDITY_MINUTES=0.02)
    with leaves_no_trace(server, app["id"]) as before:
        r = cashier.post("/payments", json={"billing_code": bill["billing_code"], "receipt_ref": "BRI-1"})
        body = problem(r, 410, "billing-expired")
    assert bill["billing_code"] in body["detail"]
    unpaid = before["applications"][app["id"]]
    assert unpaid["paid_at"] is None and unpaid["clearances"]["payment_confirmed"] == "pending"

    # Starting over: a new code, paid in time.
    again = ok(cashier.post(f"/applications/{app['id']}/billing"), 201)
    assert again["billing_code"] != bill["billing_code"]
    paid = ok(cashier.post("/payments", json={"billing_code": again["billing_code"], "receipt_ref": "BRI-2"}))
    assert paid["paid_at"] is not None and paid["clearances"]["payment_confirmed"] == "provisional"


# -- booklets ------------------------------------------------------------------------------------


def _approved(server) -> dict:  # noqa: ANN001
    app = walk_in_to(server, "paid")
    for step in (capture, interview, approve):
        app = step(server, app["id"])
    assert app["stage"] == "approved"
    return app


@pytest.mark.parametrize(("serial", "status", "code"), [
    ("X9999999", 409, "booklet-out-of-range"),  # well-formed, never received by this office
    ("Y1000001", 409, "booklet-out-of-range"),
    ("not-a-serial", 422, "booklet-serial-format"),
])
def test_printing_on_a_booklet_outside_the_stock_is_refused(offline_server, serial, status, code) -> None:  # noqa: ANN001
    app = _approved(offline_server)
    with leaves_no_trace(offline_server, app["id"]):
        r = offline_server.desk("print_operator").post(f"/applications/{app['id']}/print", json={"serial": serial})
        problem(r, status, code)


def test_printing_on_a_booklet_already_issued_is_refused(offline_server) -> None:  # noqa: ANN001
    first = print_passport(offline_server, _approved(offline_server)["id"])
    used = first["booklet_serial"]
    second = _approved(offline_server)
    with leaves_no_trace(offline_server, first["id"], second["id"]) as before:
        r = offline_server.desk("print_operator").post(f"/applications/{second['id']}/print", json={"serial": used})
        body = problem(r, 409, "booklet-not-in-stock")
    assert used in body["detail"]
    assert before["applications"][second["id"]]["booklet_serial"] is None
    assert before["applications"][first["id"]]["booklet_serial"] == used


# -- gates ---------------------------------------------------------------------------------------


def test_handover_before_every_clearance_is_confirmed_is_refused_with_the_reasons(offline_server) -> None:  # noqa: ANN001
    """During an outage a passport prints on provisional clearances, but the handover gate is
    the law's: every clearance confirmed by the central."""
    app = print_passport(offline_server, _approved(offline_server)["id"])
    app = ok(offline_server.desk("print_operator").post(f"/applications/{app['id']}/quality-check",
                                                        json={"passed": True}))
    assert app["stage"] == "qc_passed"
    with leaves_no_trace(offline_server, app["id"]):
        r = offline_server.desk("pickup_desk").post(f"/applications/{app['id']}/handover", json={
            "recipient_kind": "holder", "recipient_name": app["full_name"], "id_checked": "KTP", "id_nik": app["nik"]})
        body = problem(r, 409, "handover-gate-closed")
    assert sorted(body["reasons"]) == sorted([
        "nik_verified is provisional, needs confirmed",
        "watchlist_clear is provisional, needs confirmed",
        "not_duplicate is provisional, needs confirmed",
        "payment_confirmed is provisional, needs confirmed",
        "recorded_centrally is pending, needs confirmed",
    ])
    assert get_app(offline_server, app["id"])["handed_over_at"] is None


def test_an_applicant_named_on_the_watch_list_is_rejected_at_intake_with_the_orders_reason(offline_server) -> None:  # noqa: ANN001
    """Not an error response: the law wants a decision with a written reason, so intake answers
    200 and the application is rejected. The order names only this applicant: the snapshot
    stays fresh and empty for everyone else on this server."""
    listed = person("M", date(1979, 4, 1))
    today = datetime.now(UTC).date()
    r = offline_server.desk("supervisor").post("/watchlist/snapshots", json={
        "taken_at": datetime.now(UTC).isoformat(), "source": "e2e", "orders": [{
            "subject_kind": "nik", "subject_value": listed.nik, "order_kind": "prevention", "agency": "KPK",
            "starts_on": (today - timedelta(days=30)).isoformat(), "ends_on": (today + timedelta(days=150)).isoformat(),
            "reason": "case 12/2026"}]})
    assert ok(r, 201)["entries"] == 1
    app = walk_in_to(offline_server, "intake_done", listed)
    assert app["stage"] == "rejected"
    assert app["clearances"]["watchlist_clear"] == "flagged"
    assert "KPK" in app["decision_reason"] and "case 12/2026" in app["decision_reason"]
    problem(offline_server.desk("cashier").post(f"/applications/{app['id']}/billing"), 409, "transition-out-of-order")


def test_without_a_fresh_watchlist_snapshot_the_watchlist_clearance_stays_pending(stale_watchlist_server) -> None:  # noqa: ANN001
    app = walk_in_to(stale_watchlist_server, "intake_done")
    assert app["clearances"]["watchlist_clear"] == "pending"
    assert app["clearances"]["nik_verified"] == "provisional"
    assert app["clearances"]["not_duplicate"] == "provisional"


def test_printing_with_a_stale_watchlist_snapshot_is_stopped_by_the_guardrail(stale_watchlist_server) -> None:  # noqa: ANN001
    server = stale_watchlist_server
    app = _approved(server)
    with leaves_no_trace(server, app["id"]):
        body = problem(server.desk("print_operator").post(f"/applications/{app['id']}/print", json={}),
                       409, "guardrail")
    assert body["reasons"] == ["watch-list snapshot is 8.0 days old (limit 7.0 days)"]


def test_printing_an_application_taken_in_before_a_fresh_snapshot_is_refused_by_the_print_gate(
        renewed_watchlist_server) -> None:  # noqa: ANN001
    """Intake under a stale snapshot leaves the watch-list clearance pending; a fresh snapshot
    loaded afterwards lifts the guardrail but does not clear that application retroactively:
    only the central can, so the print gate stays closed for it."""
    server = renewed_watchlist_server
    app = walk_in_to(server, "intake_done")
    assert app["clearances"]["watchlist_clear"] == "pending"
    load_watchlist(server, age=timedelta(0))
    for step in (pay, capture, interview, approve):
        app = step(server, app["id"])
    assert app["clearances"]["watchlist_clear"] == "pending"
    with leaves_no_trace(server, app["id"]) as before:
        body = problem(server.desk("print_operator").post(f"/applications/{app['id']}/print", json={}),
                       409, "print-gate-closed")
    assert body["reasons"] == ["watchlist_clear is pending, needs at least provisional"]
    assert before["applications"][app["id"]]["booklet_serial"] is None
    assert before["applications"][app["id"]]["mrz"] is None


# -- authentication and roles --------------------------------------------------------------------


@pytest.mark.parametrize(("method", "path"), [
    ("GET", "/applications"),
    ("POST", "/walk-ins"),
    ("GET", "/applications/{id}/photo"),
    ("GET", "/audit/verify"),
])
@pytest.mark.parametrize("token", [None, "not-a-token-anyone-was-given"], ids=["no-token", "unknown-token"])
def test_a_request_without_a_valid_session_gets_a_401_problem(offline_server, paid, method, path, token) -> None:  # noqa: ANN001
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    with leaves_no_trace(offline_server, paid["id"]), httpx.Client(base_url=offline_server.api, headers=headers) as c:
        r = c.request(method, path.format(id=paid["id"]), json=person().applicant() if method == "POST" else None)
        problem(r, 401, "not-authenticated")
    assert r.headers["www-authenticate"] == "Bearer"


def test_a_wrong_password_gets_a_401_problem_and_is_audited(offline_server) -> None:  # noqa: ANN001
    admin = offline_server.desk("admin")
    rows = ok(admin.get("/audit/verify"))["rows"]
    r = httpx.post(f"{offline_server.api}/auth/token", json={"username": "cashier", "password": "wrong-password-0"})
    problem(r, 401, "login-failed")
    r = httpx.post(f"{offline_server.api}/auth/token", json={"username": "nobody", "password": "wrong-password-0"})
    assert problem(r, 401, "login-failed")["detail"] == "wrong username or password"
    assert ok(admin.get("/audit/verify"))["rows"] == rows + 2


def test_a_token_stops_working_after_logout(offline_server) -> None:  # noqa: ANN001
    r = ok(httpx.post(f"{offline_server.api}/auth/token",
                      json={"username": "interviewer", "password": password_for("interviewer")}))
    with httpx.Client(base_url=offline_server.api, headers={"Authorization": f"Bearer {r['access_token']}"}) as c:
        assert ok(c.get("/auth/me"))["role"] == "interviewer"
        assert c.post("/auth/logout").status_code == 204
        problem(c.get("/auth/me"), 401, "not-authenticated")


@pytest.mark.parametrize(("role", "method", "path", "body"), [
    ("cashier", "POST", "/walk-ins", "applicant"),
    ("front_desk", "POST", "/applications/{id}/approve", None),
    ("supervisor", "POST", "/applications/{id}/billing", None),
    ("pickup_desk", "GET", "/applications/{id}/photo", None),
    ("admin", "GET", "/applications/{id}", None),
    ("interviewer", "POST", "/booklets/batches", {"first": "Z1000001", "last": "Z1000009"}),
    ("front_desk", "POST", "/users", {"username": "mallory", "full_name": "M", "role": "admin",
                                      "password": "a-long-password-1"}),
], ids=["cashier-walk-in", "front-desk-approves", "supervisor-bills", "pickup-desk-views-photo",
        "admin-reads-application", "interviewer-receives-booklets", "front-desk-adds-user"])
def test_a_desk_outside_its_role_gets_a_403_problem(offline_server, paid, role, method, path, body) -> None:  # noqa: ANN001
    json = person().applicant() if body == "applicant" else body
    with leaves_no_trace(offline_server, paid["id"]):
        r = offline_server.desk(role).request(method, path.format(id=paid["id"]), json=json)
        problem(r, 403, "forbidden")
    assert role in r.json()["detail"]


def test_an_unknown_application_is_a_404_problem(offline_server) -> None:  # noqa: ANN001
    body = problem(offline_server.desk("front_desk").get("/applications/MND-20260101-9999"), 404,
                   "application-not-found")
    assert body["instance"] == "/api/v1/applications/MND-20260101-9999"


def test_an_unknown_route_and_a_wrong_method_are_problems_too(offline_server) -> None:  # noqa: ANN001
    fd = offline_server.desk("front_desk")
    problem(fd.get("/no-such-thing"), 404, "not-found")
    problem(fd.delete("/applications"), 405, "method-not-allowed")


def test_a_malformed_request_body_is_a_422_problem_listing_each_field(offline_server) -> None:  # noqa: ANN001
    applicant = {**person().applicant(), "kk_number": "12345", "birth_date": "1990-02-30"}
    with leaves_no_trace(offline_server):
        body = problem(offline_server.desk("front_desk").post("/walk-ins", json=applicant), 422, "request-invalid")
    assert sorted(e["loc"][-1] for e in body["errors"]) == ["birth_date", "kk_number"]


# -- more refusals on the way ------------------------------------------------------------------


def _with_check_digit(body: str) -> str:
    """Append the Luhn check digit (written out here, not taken from kanim)."""
    total = 0
    for i, ch in enumerate(reversed(body)):
        d = int(ch) * (2 if i % 2 == 0 else 1)
        total += d - 9 if d > 9 else d
    return body + str((10 - total % 10) % 10)


@pytest.mark.parametrize(("code_of", "status", "code"), [
    (lambda real: real[:-1] + str((int(real[-1]) + 1) % 10), 422, "billing-code-check-digit"),  # a typo
    (lambda real: real[:14], 422, "billing-code-format"),
    (lambda real: _with_check_digit("81234567890123"), 404, "billing-code-unknown"),  # never issued
], ids=["typo", "14-digits", "unknown"])
def test_a_payment_against_a_wrong_billing_code_is_refused(offline_server, code_of, status, code) -> None:  # noqa: ANN001
    app = walk_in_to(offline_server, "intake_done")
    bill = ok(offline_server.desk("cashier").post(f"/applications/{app['id']}/billing"), 201)
    with leaves_no_trace(offline_server, app["id"]):
        r = offline_server.desk("cashier").post("/payments", json={"billing_code": code_of(bill["billing_code"]),
                                                                   "receipt_ref": "BNI-1"})
        problem(r, status, code)


def test_a_data_page_preview_before_printing_is_refused(offline_server) -> None:  # noqa: ANN001
    app = _approved(offline_server)
    with leaves_no_trace(offline_server, app["id"]):
        problem(offline_server.desk("print_operator").get(f"/applications/{app['id']}/data-page.png"),
                409, "not-printed")


def test_an_unknown_document_kind_is_refused(offline_server, checked_in) -> None:  # noqa: ANN001
    with leaves_no_trace(offline_server, checked_in["id"]):
        r = offline_server.desk("front_desk").put(f"/applications/{checked_in['id']}/documents/selfie",
                                                  files=file(PDF_SCAN, "x.pdf"))
        problem(r, 422, "document-kind")


# -- the pickup desk, on the normal office (the passport must be ready first) --------------------


@pytest.fixture(scope="module")
def ready(server) -> dict:  # noqa: ANN001
    app = print_passport(server, walk_in_to(server, "approved")["id"])
    ok(server.desk("print_operator").post(f"/applications/{app['id']}/quality-check", json={"passed": True}))
    return wait_for("the link thread to make the passport ready",
                    lambda: (a := get_app(server, app["id"]))["stage"] == "ready" and a)


@pytest.mark.parametrize(("recipient", "status", "code"), [
    ({"recipient_kind": "family_same_kk", "recipient_kk_number": "7171010000009999"}, 409, "kk-mismatch"),
    ({"recipient_kind": "power_of_attorney"}, 422, "attorney-letter-missing"),
    ({"recipient_kind": "holder", "id_checked": " "}, 422, "id-not-checked"),
    ({"recipient_kind": "post", "post_address": "Jl. Sam Ratulangi 1, Manado"}, 422, "post-details-missing"),
], ids=["family-with-another-kk", "attorney-without-letter", "no-id-checked", "post-without-tracking"])
def test_a_passport_is_not_handed_to_someone_the_law_does_not_allow(server, ready, recipient, status, code) -> None:  # noqa: ANN001
    body = {"recipient_name": "Rudi", "id_checked": "KTP", "id_nik": "7171010101800001", **recipient}
    r = server.desk("pickup_desk").post(f"/applications/{ready['id']}/handover", json=body)
    problem(r, status, code)
    assert get_app(server, ready["id"]) == ready  # settled (all confirmed): nothing else moves it


@pytest.mark.parametrize(("recipient", "reasons"), [
    ({"recipient_name": "Rudi Hartono"}, ["the recipient's name is not the holder's name"]),
    ({"id_nik": "7171010101800001"}, ["the NIK on the KTP shown is not the holder's NIK"]),
    ({"recipient_name": "Rudi Hartono", "id_nik": "7171010101800001"},
     ["the NIK on the KTP shown is not the holder's NIK", "the recipient's name is not the holder's name"]),
], ids=["another-name", "another-nik", "another-person"])
def test_a_handover_to_the_holder_on_an_identity_that_is_not_the_holders_is_refused_with_the_reason(
        server, ready, recipient, reasons) -> None:  # noqa: ANN001
    body = {"recipient_kind": "holder", "recipient_name": ready["full_name"].upper(), "id_checked": "KTP",
            "id_nik": ready["nik"], **recipient}
    r = server.desk("pickup_desk").post(f"/applications/{ready['id']}/handover", json=body)
    assert problem(r, 409, "recipient-not-holder")["reasons"] == reasons
    assert get_app(server, ready["id"]) == ready


def test_a_handover_in_person_without_the_nik_of_the_ktp_shown_is_refused(server, ready) -> None:  # noqa: ANN001
    r = server.desk("pickup_desk").post(f"/applications/{ready['id']}/handover", json={
        "recipient_kind": "holder", "recipient_name": ready["full_name"], "id_checked": "KTP"})
    problem(r, 422, "recipient-nik-missing")
    assert get_app(server, ready["id"]) == ready


# -- two desks at once ---------------------------------------------------------------------------


def _at_once(*calls):  # noqa: ANN001, ANN202
    """Run the calls in parallel threads released together; return their responses in order."""
    barrier = threading.Barrier(len(calls))

    def run(call):  # noqa: ANN001, ANN202
        barrier.wait()
        return call()

    with ThreadPoolExecutor(len(calls)) as pool:
        return [f.result() for f in [pool.submit(run, c) for c in calls]]


def test_two_print_operators_racing_for_one_booklet_issue_it_once(offline_server) -> None:  # noqa: ANN001
    ok(offline_server.desk("print_operator").post("/booklets/batches", json={"first": "R1000001", "last": "R1000002"}),
       201)
    a, b = _approved(offline_server), _approved(offline_server)
    report = ok(offline_server.desk("print_operator").get("/booklets/report"))
    clients = [offline_server.client(offline_server.tokens["print_operator"]) for _ in range(2)]
    responses = _at_once(*[lambda c=c, app=app: c.post(f"/applications/{app['id']}/print", json={"serial": "R1000001"})
                           for c, app in zip(clients, (a, b), strict=True)])
    assert sorted(r.status_code for r in responses) == [200, 409], [r.text for r in responses]
    loser = next(r for r in responses if r.status_code == 409)
    problem(loser, 409, "booklet-not-in-stock")
    winner = next(r for r in responses if r.status_code == 200).json()
    other = b if winner["id"] == a["id"] else a
    assert winner["booklet_serial"] == "R1000001"
    assert get_app(offline_server, other["id"]) == other  # still approved, no booklet, no MRZ
    after = ok(offline_server.desk("print_operator").get("/booklets/report"))
    assert (after["issued"], after["in_stock"], after["balanced"]) == (report["issued"] + 1, report["in_stock"] - 1,
                                                                       True)


def test_two_print_operators_printing_one_application_at_once_use_one_booklet(offline_server) -> None:  # noqa: ANN001
    app = _approved(offline_server)
    report = ok(offline_server.desk("print_operator").get("/booklets/report"))
    clients = [offline_server.client(offline_server.tokens["print_operator"]) for _ in range(2)]
    responses = _at_once(*[lambda c=c: c.post(f"/applications/{app['id']}/print", json={}) for c in clients])
    assert sorted(r.status_code for r in responses) == [200, 409], [r.text for r in responses]
    loser = next(r for r in responses if r.status_code == 409)
    assert loser.json()["code"] in ("transition-out-of-order", "concurrent-change"), loser.text
    problem(loser, 409, loser.json()["code"])
    winner = next(r for r in responses if r.status_code == 200).json()
    assert get_app(offline_server, app["id"])["booklet_serial"] == winner["booklet_serial"]
    after = ok(offline_server.desk("print_operator").get("/booklets/report"))
    assert (after["issued"], after["in_stock"], after["balanced"]) == (report["issued"] + 1, report["in_stock"] - 1,
                                                                       True)
