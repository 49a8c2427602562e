"""Idempotency-Key over real HTTP: a retried walk-in, payment, billing, upload or print with the
same key makes one effect and gets the first answer; four at once make one; a key used again
for another request is refused; keys are per staff user. (Dying half-way is in
tests/integration/test_idempotency.py, where it can be staged.)"""

from __future__ import annotations

import threading
import uuid

import httpx
import pytest

from tests.e2e.desks import (
    PDF_SCAN,
    file,
    get_app,
    leaves_no_trace,
    ok,
    person,
    problem,
    walk_in_to,
)

REPLAYED = "idempotent-replayed"


def key() -> dict[str, str]:
    return {"Idempotency-Key": f'"{uuid.uuid4()}"'}  # the draft's structured-field string


def application_count(server) -> int:  # noqa: ANN001
    return len(ok(server.desk("front_desk").get("/applications", params={"limit": 500})))


def test_a_walk_in_sent_twice_with_one_key_makes_one_application_and_replays_the_first_answer(
        offline_server) -> None:  # noqa: ANN001
    fd, k, applicant = offline_server.desk("front_desk"), key(), person().applicant()
    before = application_count(offline_server)
    first = fd.post("/walk-ins", json=applicant, headers=k)
    again = fd.post("/walk-ins", json=dict(reversed(applicant.items())), headers=k)  # same JSON, other order
    assert (first.status_code, again.status_code) == (201, 201), again.text
    assert again.json() == first.json()
    assert again.headers[REPLAYED] == "true" and REPLAYED not in first.headers
    assert again.headers["content-type"] == first.headers["content-type"] == "application/json"
    assert application_count(offline_server) == before + 1


def test_a_walk_in_sent_four_times_at_once_with_one_key_makes_one_application(offline_server) -> None:  # noqa: ANN001
    k, applicant = key(), person().applicant()
    before = application_count(offline_server)
    barrier, answers = threading.Barrier(4), []

    def send() -> None:
        with httpx.Client(base_url=offline_server.api, timeout=30,
                          headers={"Authorization": f"Bearer {offline_server.tokens['front_desk']}"}) as c:
            barrier.wait()
            answers.append(c.post("/walk-ins", json=applicant, headers=k))

    threads = [threading.Thread(target=send) for _ in range(4)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    made = [r for r in answers if r.status_code == 201]
    busy = [r for r in answers if r.status_code == 409]
    assert len(made) + len(busy) == 4, [r.text for r in answers]
    assert len({r.json()["id"] for r in made}) == 1
    assert [r.headers.get(REPLAYED) for r in made].count(None) == 1  # one made it, the others replayed it
    for r in busy:
        problem(r, 409, "idempotency-key-in-flight")
        assert r.headers["retry-after"] == "1"
    assert application_count(offline_server) == before + 1


def test_a_key_sent_again_with_another_request_is_refused_and_changes_nothing(offline_server) -> None:  # noqa: ANN001
    fd, k = offline_server.desk("front_desk"), key()
    ok(fd.post("/walk-ins", json=person().applicant(), headers=k), 201)
    with leaves_no_trace(offline_server):
        problem(fd.post("/walk-ins", json=person().applicant(), headers=k), 422, "idempotency-key-reused")


def test_a_refused_request_keeps_nothing_and_frees_its_key(offline_server) -> None:  # noqa: ANN001
    fd, k = offline_server.desk("front_desk"), key()
    bad = {**person().applicant(), "nik": "123"}
    with leaves_no_trace(offline_server):
        problem(fd.post("/walk-ins", json=bad, headers=k), 422, "nik-length")
    r = ok(fd.post("/walk-ins", json=person().applicant(), headers=k), 201)
    assert get_app(offline_server, r["id"])["stage"] == "checked_in"


def test_keys_belong_to_the_staff_user_who_sent_them(offline_server) -> None:  # noqa: ANN001
    k = key()
    app = walk_in_to(offline_server, "intake_done")
    bill = ok(offline_server.desk("cashier").post(f"/applications/{app['id']}/billing", headers=k), 201)
    walked = ok(offline_server.desk("front_desk").post("/walk-ins", json=person().applicant(), headers=k), 201)
    assert walked["id"] != app["id"] and bill["application"]["id"] == app["id"]


def test_a_billing_retried_with_its_key_keeps_the_first_code(offline_server) -> None:  # noqa: ANN001
    app, k = walk_in_to(offline_server, "intake_done"), key()
    cashier = offline_server.desk("cashier")
    first = ok(cashier.post(f"/applications/{app['id']}/billing", headers=k), 201)
    again = cashier.post(f"/applications/{app['id']}/billing", headers=k)
    assert again.status_code == 201 and again.json() == first
    assert get_app(offline_server, app["id"])["billing_code"] == first["billing_code"]


def test_a_payment_retried_with_its_key_is_recorded_once_and_answered_alike(offline_server) -> None:  # noqa: ANN001
    app, k = walk_in_to(offline_server, "intake_done"), key()
    cashier = offline_server.desk("cashier")
    bill = ok(cashier.post(f"/applications/{app['id']}/billing"), 201)
    pay = {"billing_code": bill["billing_code"], "receipt_ref": "BRI-77"}
    first = ok(cashier.post("/payments", json=pay, headers=k))
    with leaves_no_trace(offline_server, app["id"]):
        again = cashier.post("/payments", json=pay, headers=k)
    assert again.status_code == 200 and again.json() == first and again.headers[REPLAYED] == "true"
    problem(cashier.post("/payments", json=pay), 409, "already-paid")  # without a key: paid already


def test_an_upload_retried_with_its_key_stores_one_file(offline_server) -> None:  # noqa: ANN001
    """httpx draws a new multipart boundary for each request, as a browser does: the key's
    fingerprint is the parts, not the raw bytes."""
    fd, k = offline_server.desk("front_desk"), key()
    walked = ok(fd.post("/walk-ins", json=person().applicant()), 201)
    files_before = offline_server.vault_files()
    first = ok(fd.put(f"/applications/{walked['id']}/documents/ktp", files=file(PDF_SCAN, "ktp.pdf"), headers=k),
               201)
    again = fd.put(f"/applications/{walked['id']}/documents/ktp", files=file(PDF_SCAN, "ktp.pdf"), headers=k)
    assert again.status_code == 201 and again.json() == first and again.headers[REPLAYED] == "true"
    assert len(offline_server.vault_files() - files_before) == 1
    other = fd.put(f"/applications/{walked['id']}/documents/ktp", files=file(PDF_SCAN + b"%", "ktp.pdf"), headers=k)
    problem(other, 422, "idempotency-key-reused")


@pytest.fixture
def approved(offline_server) -> dict:  # noqa: ANN001
    from tests.e2e.desks import approve, capture, interview

    app = walk_in_to(offline_server, "paid")
    for step in (capture, interview, approve):
        app = step(offline_server, app["id"])
    return app


def test_a_print_retried_with_its_key_uses_one_booklet(offline_server, approved) -> None:  # noqa: ANN001
    printer, k = offline_server.desk("print_operator"), key()
    stock = ok(printer.get("/booklets/report"))["in_stock"]
    first = ok(printer.post(f"/applications/{approved['id']}/print", json={}, headers=k))
    again = printer.post(f"/applications/{approved['id']}/print", json={}, headers=k)
    assert again.status_code == 200 and again.json()["booklet_serial"] == first["booklet_serial"]
    assert ok(printer.get("/booklets/report"))["in_stock"] == stock - 1


@pytest.mark.parametrize("value", ["", "has space", "x" * 256, '"unterminated'], ids=["empty", "space", "long",
                                                                                     "quote"])
def test_a_malformed_idempotency_key_is_refused(offline_server, value) -> None:  # noqa: ANN001
    with leaves_no_trace(offline_server):
        r = offline_server.desk("front_desk").post("/walk-ins", json=person().applicant(),
                                                   headers={"Idempotency-Key": value})
        body = problem(r, 422, "request-invalid")
    assert body["errors"][0]["loc"] == ["header", "Idempotency-Key"]
