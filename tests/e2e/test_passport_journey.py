"""One passport application from booking to handover, over HTTP against a running `kanim serve`,
each desk logged in as its own role. The simulated central is reached only through the server's
own link thread: the test never syncs anything itself."""

from __future__ import annotations

import io
from concurrent.futures import ThreadPoolExecutor

from mrz.checker.td3 import TD3CodeChecker
from PIL import Image

from tests import photos
from tests.e2e.conftest import ROLES
from tests.e2e.desks import (
    ALL_CLEARANCES,
    PDF_SCAN,
    file,
    get_app,
    next_working_day,
    ok,
    person,
    wait_for,
)


def test_an_application_goes_from_booking_to_handover_through_every_desk(server) -> None:  # noqa: ANN001
    siti = person("F", name="Siti Rahmawati")
    with ThreadPoolExecutor(len(ROLES)) as pool:  # every desk logs in with its own account
        desks = dict(zip(ROLES, pool.map(server.log_in, ROLES), strict=True))
    fd, cashier, bio = desks["front_desk"], desks["cashier"], desks["biometric_operator"]
    interviewer, supervisor = desks["interviewer"], desks["supervisor"]
    printer, pickup, admin = desks["print_operator"], desks["pickup_desk"], desks["admin"]
    booklets_before = ok(printer.get("/booklets/report"))

    # Front desk: an online booking, then the applicant arrives on the day.
    day = next_working_day()
    places = ok(fd.get("/bookings/availability", params={"day": day.isoformat()}))["slots"]["08:00"]
    booked = ok(fd.post("/bookings", json={
        "account_ref": "online-account-siti", "day": day.isoformat(), "slot": "08:00",
        "applicants": [siti.applicant(passport_kind="electronic")], "contact_phone": "+6281234567890",
    }), 201)
    app = booked["applications"][0]
    app_id = app["id"]
    assert app["stage"] == "booked" and app["office_code"] == "MND" and app["number"].startswith("MND-")
    assert app["appointment_on"] == day.isoformat()
    assert ok(fd.get("/bookings/availability", params={"day": day.isoformat()}))["slots"]["08:00"] == places - 1

    app = ok(fd.post(f"/applications/{app_id}/check-in"))
    assert app["stage"] == "checked_in" and app["queue_ticket"].startswith("A-")

    # Intake: three scans, one of each type the counter accepts; then the checklist is met.
    assert len(ok(fd.get(f"/applications/{app_id}/checklist"))["missing"]) == 3
    scans = {"ktp": (photos.passport_photo_jpeg(), "image/jpeg"), "kk": (photos.fingerprint_png(), "image/png"),
             "birth_certificate": (PDF_SCAN, "application/pdf")}
    for kind, (data, content_type) in scans.items():
        stored = ok(fd.put(f"/applications/{app_id}/documents/{kind}", files=file(data, f"{kind}.bin")), 201)
        assert (stored["kind"], stored["content_type"], stored["size_bytes"]) == (kind, content_type, len(data))
    assert sorted(d["kind"] for d in ok(fd.get(f"/applications/{app_id}/documents"))) == sorted(scans)
    assert ok(fd.get(f"/applications/{app_id}/checklist"))["missing"] == []
    app = ok(fd.post(f"/applications/{app_id}/intake", json={"name_changed": False}))
    assert app["stage"] == "intake_done"
    assert {k: app["clearances"][k] for k in ("nik_verified", "watchlist_clear", "not_duplicate")} == {
        "nik_verified": "provisional", "watchlist_clear": "provisional", "not_duplicate": "provisional"}

    # Cashier: a billing code for the fee (electronic, 10 years: Rp950.000), then the receipt.
    bill = ok(cashier.post(f"/applications/{app_id}/billing"), 201)
    assert len(bill["billing_code"]) == 15 and bill["billing_code"].isdigit()
    assert bill["amount"] == 950_000 and bill["application"]["fee_total"] == 950_000
    app = ok(cashier.post("/payments", json={"billing_code": bill["billing_code"], "receipt_ref": "BNI-778812"}))
    assert app["paid_at"] is not None and app["clearances"]["payment_confirmed"] == "provisional"

    # Biometrics: the face photo, nine fingers, and an exception for the tenth.
    shot = ok(bio.put(f"/applications/{app_id}/photo", files=file(photos.passport_photo_jpeg(), "face.jpg",
                                                                   "image/jpeg")), 201)
    assert 0.65 <= shot["quality"]["face_height_ratio"] <= 0.85
    for pos in range(1, 10):
        ok(bio.put(f"/applications/{app_id}/fingerprints/{pos}", files=file(photos.fingerprint_png(), "f.png",
                                                                             "image/png")), 201)
    ok(bio.post(f"/applications/{app_id}/fingerprints/10/exception", json={"exception": "injured"}), 201)
    captured = ok(bio.get(f"/applications/{app_id}/biometrics"))
    assert captured["photo"]["width"] == 420 and captured["photo"]["height"] == 540
    assert sorted((f["position"], f["exception"] or "") for f in captured["fingerprints"]) == \
        [(p, "") for p in range(1, 10)] + [(10, "injured")]
    app = ok(bio.post(f"/applications/{app_id}/capture"))
    assert app["stage"] == "captured"

    # Interview and adjudication.
    app = ok(interviewer.post(f"/applications/{app_id}/interview",
                              json={"notes": "Purpose: umrah in March. Documents consistent."}))
    assert app["stage"] == "interviewed" and app["ready_by"] is not None
    app = ok(supervisor.post(f"/applications/{app_id}/approve"))
    assert app["stage"] == "approved"

    # Print room: personalise the next booklet, check the MRZ independently, preview, QC.
    app = ok(printer.post(f"/applications/{app_id}/print", json={}))
    assert app["stage"] == "printed"
    serial = app["booklet_serial"]
    assert serial and app["issued_on"] and app["expires_on"]
    line1, line2 = app["mrz"]
    checker = TD3CodeChecker(f"{line1}\n{line2}")
    assert bool(checker), checker.report.errors
    fields = checker.fields()
    assert (fields.document_type, fields.country, fields.nationality) == ("P", "IDN", "IDN")
    assert (fields.surname, fields.name) == ("RAHMAWATI", "SITI")
    assert fields.document_number == serial
    assert fields.birth_date == siti.birth_date.strftime("%y%m%d") and fields.sex == "F"
    assert fields.expiry_date == app["expires_on"][2:].replace("-", "")

    preview = printer.get(f"/applications/{app_id}/data-page.png")
    assert preview.status_code == 200 and preview.headers["content-type"] == "image/png"
    assert preview.headers["cache-control"] == "no-store"
    with Image.open(io.BytesIO(preview.content)) as page:
        page.load()  # decodes every pixel, not just the header
        assert page.format == "PNG" and page.width > 400 and page.height > 200

    app = ok(printer.post(f"/applications/{app_id}/quality-check", json={"passed": True}))
    assert app["stage"] in ("qc_passed", "ready")  # ready at once if the central already confirmed all

    # The server's link thread pushes the outbox to the simulated central and applies its
    # confirmations; the last one makes the checked passport ready by itself.
    app = wait_for("the link thread to make the passport ready",
                   lambda: (a := get_app(server, app_id))["stage"] == "ready" and a, timeout=20)
    assert app["clearances"] == {k: "confirmed" for k in ALL_CLEARANCES}
    drained = wait_for("the link thread to push every outbox row",
                       lambda: (o := ok(admin.get("/outbox"))["by_status"]).get("pending", 0) == 0 and o)
    assert drained.get("sent", 0) >= 10 and drained.get("dead", 0) == 0, drained

    # Reading the photo is audited, and the audit chain stays intact.
    audit_before = ok(admin.get("/audit/verify"))
    assert audit_before["ok"], audit_before["problems"]
    face = supervisor.get(f"/applications/{app_id}/photo")
    assert face.status_code == 200 and face.headers["content-type"] == "image/jpeg"
    assert face.headers["cache-control"] == "no-store"
    with Image.open(io.BytesIO(face.content)) as stored:
        assert (stored.format, stored.size) == ("JPEG", (420, 540))
    audit_after = ok(admin.get("/audit/verify"))
    assert audit_after["ok"], audit_after["problems"]
    assert audit_after["rows"] > audit_before["rows"]

    # Pickup desk: the holder collects the passport.
    app = ok(pickup.post(f"/applications/{app_id}/handover", json={
        "recipient_kind": "holder", "recipient_name": siti.full_name, "id_checked": "KTP", "id_nik": siti.nik}))
    assert app["stage"] == "handed_over" and app["handed_over_at"] is not None
    assert get_app(server, app_id)["stage"] == "handed_over"

    receipt = fd.get(f"/applications/{app_id}/receipt.pdf")
    assert receipt.status_code == 200 and receipt.headers["content-type"] == "application/pdf"
    assert receipt.content.startswith(b"%PDF") and receipt.headers["cache-control"] == "no-store"

    # Every booklet is accounted for: this one moved from stock to issued.
    report = ok(printer.get("/booklets/report"))
    assert report["balanced"] is True
    assert report["received"] == report["issued"] + report["spoiled"] + report["in_stock"]
    assert report["issued"] == booklets_before["issued"] + 1
    assert report["in_stock"] == booklets_before["in_stock"] - 1
    assert ok(admin.get("/audit/verify"))["ok"]
