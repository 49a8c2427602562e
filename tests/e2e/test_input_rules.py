"""Input the office refuses or normalises, over real HTTP (issue 7, items 9-13): names a passport
cannot print, impossible dates, contact data, unknown fields, unbounded text, a face uploaded as
a fingerprint. Each refusal is a problem document with a stable code and leaves nothing
half-written (`leaves_no_trace`, on the office without a central). The handover identity rules
are in test_errors.py beside the other pickup-desk refusals (they need a ready passport)."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from kanim.domain.mrz import name_field, split_name
from kanim.seed import face_photo
from tests import photos
from tests.e2e.desks import file, leaves_no_trace, next_working_day, ok, person, problem, walk_in_to

# -- names (item 9) ------------------------------------------------------------------------------

UNPRINTABLE = {
    "bidi-override": ("LIVE NAME\u202e\u2066EVIL\u2069", "U+202E RIGHT-TO-LEFT OVERRIDE", 10),
    "zero-width-space": ("Siti\u200bRahmawati", "U+200B ZERO WIDTH SPACE", 5),
    "nul": ("Siti\u0000Rahmawati", "U+0000 control character", 5),
    "emoji": ("Siti \U0001f600", "U+1F600 GRINNING FACE", 6),
    "full-width": ("\uff33iti Rahmawati", "U+FF33 FULLWIDTH LATIN CAPITAL LETTER S", 1),
}


@pytest.mark.parametrize("case", UNPRINTABLE, ids=list(UNPRINTABLE))
def test_a_walk_in_whose_name_a_passport_cannot_print_is_refused_naming_the_character(offline_server, case) -> None:  # noqa: ANN001
    name, character, position = UNPRINTABLE[case]
    with leaves_no_trace(offline_server):
        body = problem(offline_server.desk("front_desk").post("/walk-ins", json=person().applicant(full_name=name)),
                       422, "name-character")
    assert (body["field"], body["character"], body["position"]) == ("full_name", character, position)
    assert character in body["detail"]


def test_a_booking_whose_birth_place_a_passport_cannot_print_is_refused(offline_server) -> None:  # noqa: ANN001
    applicant = person().applicant(birth_place="Manado\u202e")
    with leaves_no_trace(offline_server):
        body = problem(offline_server.desk("front_desk").post("/bookings", json={
            "account_ref": "acc-place", "day": next_working_day().isoformat(), "slot": "08:00",
            "applicants": [applicant]}), 422, "name-character")
    assert body["field"] == "birth_place"


def test_a_name_is_stored_printed_and_written_into_the_mrz_in_one_normalised_form(offline_server) -> None:  # noqa: ANN001
    who = person(name="  Jose\u0301   Ramírez\u00a0O\u2019Neil ")
    printed = walk_in_to(offline_server, "printed", who)
    assert printed["full_name"] == "José Ramírez O'Neil"
    assert printed["birth_place"] == "Manado"
    assert printed["mrz"][0][5:] == name_field(*split_name("José Ramírez O'Neil"))
    assert printed["mrz"][0][5:].startswith("ONEIL<<JOSE<RAMIREZ<")


# -- dates and contact (item 10) -----------------------------------------------------------------


def _office_today() -> date:
    return datetime.now(ZoneInfo("Asia/Jakarta")).date()


def test_a_walk_in_born_in_the_future_is_refused(offline_server) -> None:  # noqa: ANN001
    unborn = person("F", _office_today() + timedelta(days=2))
    with leaves_no_trace(offline_server):
        problem(offline_server.desk("front_desk").post("/walk-ins", json=unborn.applicant()), 422,
                "birth-date-future")


def test_a_walk_in_with_a_travel_date_in_the_past_is_refused(offline_server) -> None:  # noqa: ANN001
    applicant = person().applicant(travel_date=(_office_today() - timedelta(days=1)).isoformat())
    with leaves_no_trace(offline_server):
        problem(offline_server.desk("front_desk").post("/walk-ins", json=applicant), 422, "travel-date-past")


CONTACTS = {
    "not-an-email": ({"contact_email": "not-an-email"}, "contact-email"),
    "phone-abc": ({"contact_phone": "abc"}, "contact-phone"),
    "whatsapp-without-phone": ({"contact_email": "siti@example.co.id", "preferred_channel": "whatsapp"},
                               "contact-missing"),
    "email-without-address": ({"contact_phone": "0812 3456 7890", "preferred_channel": "email"}, "contact-missing"),
}


@pytest.mark.parametrize("case", CONTACTS, ids=list(CONTACTS))
def test_a_booking_with_bad_contact_data_is_refused_and_books_nothing(offline_server, case) -> None:  # noqa: ANN001
    contact, code = CONTACTS[case]
    with leaves_no_trace(offline_server):
        problem(offline_server.desk("front_desk").post("/bookings", json={
            "account_ref": "acc-contact", "day": next_working_day().isoformat(), "slot": "09:00",
            "applicants": [person().applicant()], **contact}), 422, code)


def test_a_booking_with_an_unknown_channel_is_refused_naming_the_field(offline_server) -> None:  # noqa: ANN001
    with leaves_no_trace(offline_server):
        body = problem(offline_server.desk("front_desk").post("/bookings", json={
            "account_ref": "acc-pigeon", "day": next_working_day().isoformat(), "slot": "09:00",
            "applicants": [person().applicant()], "contact_phone": "0812 3456 7890",
            "preferred_channel": "pigeon"}), 422, "request-invalid")
    assert [e["loc"] for e in body["errors"]] == [["body", "preferred_channel"]]


def test_a_booking_with_a_phone_and_its_channel_is_taken(offline_server) -> None:  # noqa: ANN001
    booked = ok(offline_server.desk("front_desk").post("/bookings", json={
        "account_ref": "acc-wa", "day": next_working_day().isoformat(), "slot": "09:00",
        "applicants": [person().applicant()], "contact_phone": "0812-3456-7890", "preferred_channel": "whatsapp"}),
        201)
    assert booked["applications"][0]["stage"] == "booked"


# -- unknown fields and bounds (item 11) ---------------------------------------------------------


def test_a_walk_in_naming_its_own_stage_and_fee_is_refused_naming_both_fields(offline_server) -> None:  # noqa: ANN001
    applicant = person().applicant(stage="approved", fee_total=0)
    with leaves_no_trace(offline_server):
        body = problem(offline_server.desk("front_desk").post("/walk-ins", json=applicant), 422, "request-invalid")
    assert sorted(e["loc"][-1] for e in body["errors"]) == ["fee_total", "stage"]
    assert all(e["type"] == "extra_forbidden" for e in body["errors"])
    assert "stage" in body["detail"] and "fee_total" in body["detail"]


def test_a_100000_character_spoil_note_is_refused(offline_server) -> None:  # noqa: ANN001
    with leaves_no_trace(offline_server):
        body = problem(offline_server.desk("print_operator").post("/booklets/X1000400/spoil", json={
            "reason": "damaged_in_stock", "note": "x" * 100_000}), 422, "request-invalid")
    assert body["errors"][0]["loc"] == ["body", "note"]


# -- fingerprints (item 12) ----------------------------------------------------------------------


@pytest.fixture(scope="module")
def paid(offline_server) -> dict:  # noqa: ANN001
    return walk_in_to(offline_server, "paid")


@pytest.mark.parametrize(("image", "code"), [
    (face_photo, "fingerprint-colour"),
    (photos.small_face_jpeg, "fingerprint-colour"),
], ids=["seed-face", "astronaut"])
def test_a_face_photo_uploaded_as_a_fingerprint_is_refused(offline_server, paid, image, code) -> None:  # noqa: ANN001
    with leaves_no_trace(offline_server, paid["id"]) as before:
        r = offline_server.desk("biometric_operator").put(f"/applications/{paid['id']}/fingerprints/1",
                                                          files=file(image(), "finger.jpg", "image/jpeg"))
        problem(r, 422, code)
    assert before["biometrics"][paid["id"]]["fingerprints"] == []


def test_a_real_fingerprint_upload_is_taken(offline_server, paid) -> None:  # noqa: ANN001
    r = offline_server.desk("biometric_operator").put(f"/applications/{paid['id']}/fingerprints/2",
                                                      files=file(photos.fingerprint_png(), "finger.png", "image/png"))
    assert ok(r, 201)["quality"]["ridge_share"] >= 0.4
