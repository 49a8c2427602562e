"""The cashier of the staff console, in process: a billing code with its amount in rupiah, its
fee lines and a live countdown; the printable billing slip in the office's local time; recording
a payment by code and receipt with each refusal beside its field; the day's payments and the
applications waiting for billing or payment."""

from __future__ import annotations

import re
from datetime import date

import pytest
from sqlalchemy import func, select

from kanim.domain.billing import luhn_digit
from kanim.domain.passport import APPLICATION_LABELS, KIND_LABELS
from kanim.office import accounts, intake, payment
from kanim.security import passwords
from kanim.store import tables as t
from kanim.web.console import cashier as cashier_desk
from tests.conftest import make_office
from tests.integration.test_console import PASSWORD, client, csrf, htmx, log_in
from tests.integration.test_console_intake import audit_count, scan_all, walk_in

FORBIDDEN = "Loket ini bukan untuk Anda"


def make(tmp_path, clock, monkeypatch, **settings):  # noqa: ANN001, ANN003, ANN201
    from argon2 import PasswordHasher

    monkeypatch.setattr(passwords, "_hasher", PasswordHasher(time_cost=1, memory_cost=8, parallelism=1))
    o, _ = make_office(tmp_path, "sqlite", clock, None, **settings)
    for role in ("front_desk", "cashier"):
        accounts.add_user(o, username=role, full_name=f"{role} person", role=role, password=PASSWORD)
    return o


@pytest.fixture
def office(tmp_path, clock, monkeypatch):  # noqa: ANN001, ANN201
    o = make(tmp_path, clock, monkeypatch)
    yield o
    o.engine.dispose()


@pytest.fixture
def desk(office):  # noqa: ANN001, ANN201
    c = client(office)
    log_in(c, "cashier")
    return c


def past_intake(office, **fields):  # noqa: ANN001, ANN003, ANN201
    app = walk_in(office, **fields)
    kinds = ["ktp", "kk", "birth_certificate"] + (["police_report"] if fields.get("app_type") == "replacement_lost"
                                                    else [])
    scan_all(office, app.id, kinds=kinds)
    return intake.complete_intake(office, application_id=app.id, actor="front_desk")


def token(c) -> str:  # noqa: ANN001
    return csrf(c, "/staff/cashier")


def bill(c, application: str, *, key: str | None = None):  # noqa: ANN001, ANN201
    return c.post("/staff/cashier/billing", data={"application": application},
                  headers=htmx(token(c), "billing-form", key=key))


def pay(c, code: str, receipt: str = "BRI-0012345", *, key: str | None = None):  # noqa: ANN001, ANN201
    return c.post("/staff/cashier/payments", data={"billing_code": code, "receipt_ref": receipt},
                  headers=htmx(token(c), "payment-form", key=key))


def code_of(html: str) -> str:
    return re.search(r'id="billing-code" class="code">(\d{15})<', html).group(1)


def loaded(office, app_id: str):  # noqa: ANN001, ANN201
    with office.uow() as uow:
        return uow.applications.get(app_id)


def later(c, clock, **delta) -> None:  # noqa: ANN001, ANN003
    """Time passes at the desk: the clock moves, and the cashier logs in again after the idle timeout."""
    clock.advance(**delta)
    log_in(c, "cashier")


def field_error(html: str, form: str, name: str) -> str:
    m = re.search(rf'id="{form}-err-{name}" class="field-error" hx-swap-oob="true">([^<]*)<', html)
    return m.group(1) if m else ""


# -- who may -----------------------------------------------------------------------------------

def test_every_cashier_route_answers_another_role_with_the_403_page_and_a_stranger_with_the_login(office) -> None:  # noqa: ANN001
    app = past_intake(office)
    gets = ["/staff/cashier", "/staff/cashier/lists", f"/staff/cashier/bill/{app.id}", f"/staff/cashier/slip/{app.id}"]
    posts = {"/staff/cashier/billing": {"application": app.id},
             "/staff/cashier/payments": {"billing_code": "812345678901234", "receipt_ref": "X-1"}}
    front = client(office)
    log_in(front)
    tok = csrf(front)
    for path in gets:
        r = front.get(path)
        assert r.status_code == 403 and FORBIDDEN in r.text, path
    for path, data in posts.items():
        assert front.post(path, data=data, headers=htmx(tok, "billing-form")).status_code == 403, path
    stranger = client(office)
    for path in gets:
        r = stranger.get(path, follow_redirects=False)
        assert r.status_code == 303 and r.headers["location"].startswith("/staff/login?next=/staff/cashier"), path
    for path, data in posts.items():
        r = stranger.post(path, data=data, follow_redirects=False)
        assert r.status_code == 303 and r.headers["location"].startswith("/staff/login"), path
    assert loaded(office, app.id).billing_code is None


def test_a_cashier_form_without_its_csrf_token_is_refused_and_changes_nothing(office, desk) -> None:  # noqa: ANN001
    app = past_intake(office)
    r = desk.post("/staff/cashier/billing", data={"application": app.id}, headers={"HX-Request": "true"})
    assert r.status_code == 403 and "CSRF" in r.text
    assert loaded(office, app.id).billing_code is None
    billed, _ = payment.issue_billing(office, application_id=app.id, actor="cashier")
    r = desk.post("/staff/cashier/payments", data={"billing_code": billed.billing_code, "receipt_ref": "BRI-1"},
                  headers={"HX-Request": "true", "X-CSRF-Token": "0" * 40})
    assert r.status_code == 403
    assert loaded(office, app.id).paid_at is None


# -- billing -----------------------------------------------------------------------------------

def test_a_billing_code_shows_its_amount_in_rupiah_its_fee_line_and_a_countdown_to_its_expiry(office, desk) -> None:  # noqa: ANN001
    app = past_intake(office)
    r = bill(desk, app.number)
    assert r.status_code == 200 and f"Kode billing diterbitkan untuk {app.number}." in r.text
    stored = loaded(office, app.id)
    assert code_of(r.text) == stored.billing_code
    assert "<th scope=\"row\">Paspor biasa, 10 tahun</th><td class=\"num\">Rp650.000</td>" in r.text
    assert 'id="billing-amount">Rp650.000<' in r.text
    expiry = stored.billing_expires_at.isoformat()
    assert f'id="billing-countdown" class="countdown" data-countdown="{expiry}" datetime="{expiry}">120:00<' in r.text
    assert "Bayar sebelum <strong>10:00 WIB</strong>" in r.text  # 08:00 WIB + 2 hours
    assert f'href="/staff/cashier/slip/{app.id}"' in r.text
    # The waiting list and the day's totals ride along, out of band.
    assert 'id="cashier-waiting" hx-swap-oob="true"' in r.text and f'data-billing="valid"' in r.text
    assert 'id="billed-count">1<' in r.text and 'id="billed-total">Rp650.000<' in r.text


def test_a_lost_passport_is_billed_with_its_surcharge_as_a_second_line(office, desk) -> None:  # noqa: ANN001
    app = past_intake(office, app_type="replacement_lost", passport_kind="electronic")
    r = bill(desk, app.id)
    assert "Paspor elektronik, 10 tahun</th><td class=\"num\">Rp950.000" in r.text
    assert "Penggantian paspor hilang</th><td class=\"num\">Rp1.000.000" in r.text
    assert 'id="billing-amount">Rp1.950.000<' in r.text


def test_a_billing_code_issued_twice_with_one_key_is_one_code(office, desk) -> None:  # noqa: ANN001
    app = past_intake(office)
    tok = token(desk)
    first = desk.post("/staff/cashier/billing", data={"application": app.id}, headers=htmx(tok, "billing-form", key="b-1"))
    again = desk.post("/staff/cashier/billing", data={"application": app.id}, headers=htmx(tok, "billing-form", key="b-1"))
    assert again.headers.get("Idempotent-Replayed") == "true" and code_of(first.text) == code_of(again.text)
    assert audit_count(office, "BillingIssued", app.id) == 1
    r = bill(desk, app.id, key="b-2")  # a new request while the code is valid: refused beside the field
    assert r.status_code == 409 and 'data-code="billing-still-valid"' in r.text
    assert field_error(r.text, "billing-form", "application") == "Kode billing sebelumnya masih berlaku."


def test_the_billing_form_comes_back_with_a_fresh_key_for_the_next_application(office, desk) -> None:  # noqa: ANN001
    first, second = past_intake(office), past_intake(office, full_name="Budi Santoso", nik="3578011203850002",
                                                     birth_date=date(1985, 3, 12), sex="M")
    page = desk.get("/staff/cashier").text
    key = re.search(r'<form id="billing-form"[^>]*"Idempotency-Key": "([^"]+)"', page).group(1)
    r = bill(desk, first.number, key=key)
    assert r.status_code == 200
    next_key = re.search(r'<form id="billing-form"[^>]*"Idempotency-Key": "([^"]+)"', r.text).group(1)
    assert next_key != key
    r = bill(desk, second.number, key=next_key)
    assert r.status_code == 200 and code_of(r.text) == loaded(office, second.id).billing_code


def test_billing_an_application_not_past_intake_or_unknown_is_refused_beside_the_field(office, desk) -> None:  # noqa: ANN001
    app = walk_in(office)  # checked in, intake not done
    r = bill(desk, app.number)
    assert r.status_code == 409 and 'data-code="transition-out-of-order"' in r.text
    assert "cannot issue billing" in r.text and field_error(r.text, "billing-form", "application")
    r = bill(desk, "MND-20261130-9999")
    assert r.status_code == 404 and field_error(r.text, "billing-form", "application") == "Permohonan tidak ditemukan."
    assert loaded(office, app.id).billing_code is None


def test_an_expired_code_is_shown_expired_and_a_new_one_can_be_issued(office, desk, clock) -> None:  # noqa: ANN001
    app = past_intake(office)
    old = code_of(bill(desk, app.id).text)
    later(desk, clock, minutes=office.settings.billing_validity_minutes + 1)
    page = desk.get("/staff/cashier").text
    assert f'id="waiting-{app.id}" data-billing="expired"' in page and f'id="bill-{app.id}"' in page
    shown = desk.get(f"/staff/cashier/bill/{app.id}").text
    assert 'data-state="expired"' in shown and "Kode ini kedaluwarsa pukul 10:00 WIB" in shown
    new = code_of(bill(desk, app.id).text)
    assert new != old and loaded(office, app.id).billing_code == new


# -- the slip ----------------------------------------------------------------------------------

def test_the_billing_slip_names_office_applicant_number_code_amount_and_local_expiry(office, desk) -> None:  # noqa: ANN001
    app = past_intake(office)
    code = code_of(bill(desk, app.id).text)
    slip = desk.get(f"/staff/cashier/slip/{app.id}")
    assert slip.status_code == 200 and slip.headers["cache-control"] == "no-store"
    for text in ("Kantor Imigrasi Manado", "Slip tagihan", f'id="slip-applicant">{app.full_name}<',
                 f'id="slip-number">{app.number}<', f'id="slip-code" class="code big">{code}<',
                 'id="slip-amount">Rp650.000<', 'id="slip-expiry">30 November 2026, 10:00 WIB<'):
        assert text in slip.text, text
    assert 'class="actions no-print"' in slip.text  # the print button is not printed


def test_the_slip_says_the_expiry_in_the_offices_own_zone(tmp_path, clock, monkeypatch) -> None:  # noqa: ANN001
    office = make(tmp_path, clock, monkeypatch, timezone="Asia/Makassar")  # Manado keeps central Indonesian time
    c = client(office)
    log_in(c, "cashier")
    app = past_intake(office)
    bill(c, app.id)
    slip = c.get(f"/staff/cashier/slip/{app.id}").text
    assert 'id="slip-expiry">30 November 2026, 11:00 WITA<' in slip
    office.engine.dispose()


def test_a_slip_for_an_application_without_a_code_is_refused_on_a_page(office, desk) -> None:  # noqa: ANN001
    app = past_intake(office)
    r = desk.get(f"/staff/cashier/slip/{app.id}")
    assert r.status_code == 409 and "belum memiliki kode billing" in r.text and "Traceback" not in r.text


# -- payments ----------------------------------------------------------------------------------

def test_a_payment_is_recorded_by_code_and_receipt_and_counts_in_the_days_takings(office, desk) -> None:  # noqa: ANN001
    app = past_intake(office)
    code = code_of(bill(desk, app.id).text)
    r = pay(desk, code, "BRI-0012345")
    assert r.status_code == 200 and 'id="payment-recorded"' in r.text
    assert f"Pembayaran dicatat untuk {app.number}" in r.text and "Rp650.000, bukti BRI-0012345" in r.text
    stored = loaded(office, app.id)
    assert stored.paid_at is not None and stored.payment_receipt_ref == "BRI-0012345"
    assert stored.clearances.payment_confirmed.value == "provisional"
    assert 'id="billing" hx-swap-oob="true"' in r.text and 'id="billing-paid"' in r.text  # the bill says paid
    assert 'id="cashier-day" hx-swap-oob="true"' in r.text
    page = desk.get("/staff/cashier").text
    assert 'id="paid-count">1<' in page and 'id="paid-total">Rp650.000<' in page
    assert "BRI-0012345" in page.split('id="cashier-paid"')[1]
    assert f'id="waiting-{app.id}"' not in page  # paid: no longer waiting


def test_an_expired_code_is_refused_beside_its_field_and_records_nothing(office, desk, clock) -> None:  # noqa: ANN001
    app = past_intake(office)
    code = code_of(bill(desk, app.id).text)
    later(desk, clock, minutes=office.settings.billing_validity_minutes + 1)
    r = pay(desk, code)
    assert r.status_code == 410 and r.headers["HX-Retarget"] == "#payment-form-problem"
    assert 'data-code="billing-expired"' in r.text
    assert field_error(r.text, "payment-form", "billing_code") == "Kode billing sudah kedaluwarsa: terbitkan kode baru."
    assert f"billing code {code} expired at" in r.text  # the problem's own detail, under the words
    assert loaded(office, app.id).paid_at is None and audit_count(office, "PaymentRecorded", app.id) == 0


def test_an_unknown_or_mistyped_code_and_a_bad_receipt_are_refused_beside_their_fields(office, desk) -> None:  # noqa: ANN001
    app = past_intake(office)
    code = code_of(bill(desk, app.id).text)
    unknown = "81234567890123" + luhn_digit("81234567890123")
    r = pay(desk, unknown)
    assert r.status_code == 404 and 'data-code="billing-code-unknown"' in r.text
    assert field_error(r.text, "payment-form", "billing_code") == "Tidak ada permohonan dengan kode billing ini."
    mistyped = code[:-1] + str((int(code[-1]) + 1) % 10)
    r = pay(desk, mistyped)
    assert r.status_code == 422 and 'data-code="billing-code-check-digit"' in r.text
    assert field_error(r.text, "payment-form", "billing_code")
    r = pay(desk, code, receipt="<script>")
    assert r.status_code == 422 and 'data-code="request-invalid"' in r.text
    assert field_error(r.text, "payment-form", "receipt_ref") and "&lt;script&gt;" not in field_error(r.text, "payment-form", "billing_code")
    assert loaded(office, app.id).paid_at is None


def test_a_payment_sent_twice_with_one_key_is_recorded_once_and_a_third_is_already_paid(office, desk) -> None:  # noqa: ANN001
    app = past_intake(office)
    code = code_of(bill(desk, app.id).text)
    tok = token(desk)
    data = {"billing_code": code, "receipt_ref": "POS-77"}
    first = desk.post("/staff/cashier/payments", data=data, headers=htmx(tok, "payment-form", key="p-1"))
    again = desk.post("/staff/cashier/payments", data=data, headers=htmx(tok, "payment-form", key="p-1"))
    assert first.status_code == again.status_code == 200 and again.headers.get("Idempotent-Replayed") == "true"
    assert audit_count(office, "PaymentRecorded", app.id) == 1
    r = pay(desk, code, "POS-77", key="p-2")
    assert r.status_code == 409 and 'data-code="already-paid"' in r.text
    assert field_error(r.text, "payment-form", "billing_code") == "Permohonan ini sudah dibayar."


# -- the lists ---------------------------------------------------------------------------------

def test_the_waiting_list_holds_todays_applications_past_intake_and_not_yet_paid(office, desk) -> None:  # noqa: ANN001
    waiting = past_intake(office)
    checked_in = walk_in(office, full_name="Budi Santoso", nik="3578011203850002", birth_date=date(1985, 3, 12), sex="M")
    paid = past_intake(office, full_name="Sukarno", nik="7171010606780003", birth_date=date(1978, 6, 6), sex="M")
    billed, _ = payment.issue_billing(office, application_id=paid.id, actor="cashier")
    payment.record_payment(office, billing_code=billed.billing_code, receipt_ref="BNI-1", actor="cashier")
    page = desk.get("/staff/cashier/lists").text
    rows = page.split('id="cashier-day"')[0]
    assert f'id="waiting-{waiting.id}" data-billing="none"' in rows and f'id="bill-{waiting.id}"' in rows
    assert checked_in.number not in rows and paid.number not in rows
    assert 'id="paid-count">1<' in page and 'id="billed-count">1<' in page


def test_the_paid_list_keeps_to_today(office, desk, clock) -> None:  # noqa: ANN001
    app = past_intake(office)
    billed, _ = payment.issue_billing(office, application_id=app.id, actor="cashier")
    payment.record_payment(office, billing_code=billed.billing_code, receipt_ref="BNI-1", actor="cashier")
    later(desk, clock, days=1)
    page = desk.get("/staff/cashier").text
    assert 'id="paid-count">0<' in page and 'id="billed-count">0<' in page and "BNI-1" not in page


def test_every_fee_line_has_its_words_in_the_catalogs() -> None:
    assert set(KIND_LABELS.values()) | set(APPLICATION_LABELS.values()) <= set(cashier_desk.WORDS)


def test_a_cashier_page_holds_no_full_nik(office, desk) -> None:  # noqa: ANN001
    app = past_intake(office)
    code = code_of(bill(desk, app.id).text)
    pay(desk, code)
    for path in ("/staff/cashier", f"/staff/cashier/slip/{app.id}", f"/staff/cashier/bill/{app.id}"):
        assert app.nik not in desk.get(path).text, path


def test_the_cashier_counts_every_payment_in_the_total_even_beyond_the_list(office, desk, monkeypatch) -> None:  # noqa: ANN001
    from kanim.office.queries import cashier as queries

    monkeypatch.setattr(queries, "PAID_LIMIT", 1)
    people = [("Siti Rahmawati", "3171014508900001", date(1990, 8, 5), "F"),
              ("Budi Santoso", "3578011203850002", date(1985, 3, 12), "M")]
    for name, nik, born, sex in people:
        app = past_intake(office, full_name=name, nik=nik, birth_date=born, sex=sex)
        billed, _ = payment.issue_billing(office, application_id=app.id, actor="cashier")
        payment.record_payment(office, billing_code=billed.billing_code, receipt_ref=f"R-{nik[-4:]}", actor="cashier")
    page = desk.get("/staff/cashier").text
    assert 'id="paid-count">2<' in page and 'id="paid-total">Rp1.300.000<' in page
    assert "Ditampilkan 1 pembayaran terakhir dari 2." in page
    with office.uow() as uow:
        assert uow.session.scalar(select(func.count()).select_from(t.application).where(
            t.application.c.paid_at.is_not(None))) == 2
