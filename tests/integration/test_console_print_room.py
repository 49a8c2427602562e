"""The print room in the console, in process: the queue with what holds a job back, printing
with the data-page preview, the quality check, booklet stock and the accountability report."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import select

from kanim.domain.application import Stage
from kanim.office import printing
from kanim.security import passwords
from kanim.security.roles import Perm
from kanim.seed import advance
from kanim.store import tables as t
from kanim.web.console import print_room
from tests.conftest import make_office
from tests.integration.console_desk_helpers import (
    add_every_role,
    audit_rows,
    browser,
    csrf,
    htmx,
    refusals,
    routes_of,
    without_csrf,
)
from tests.integration.test_workflow import book_one

DESK = "/staff/print-room"
PERMS = {
    ("GET", DESK): Perm.PRINT, ("GET", f"{DESK}/work"): Perm.PRINT,
    ("POST", f"{DESK}/print/{{application_id}}"): Perm.PRINT, ("GET", f"{DESK}/job/{{application_id}}"): Perm.PRINT,
    ("GET", f"{DESK}/data-page/{{application_id}}.png"): Perm.PRINT,
    ("POST", f"{DESK}/qc/{{application_id}}/pass"): Perm.PRINT,
    ("POST", f"{DESK}/qc/{{application_id}}/fail"): Perm.PRINT,
    ("POST", f"{DESK}/booklets/receive"): Perm.MANAGE_BOOKLETS,
    ("POST", f"{DESK}/booklets/spoil"): Perm.MANAGE_BOOKLETS,
    ("GET", f"{DESK}/report"): Perm.MANAGE_BOOKLETS, ("GET", f"{DESK}/report.pdf"): Perm.MANAGE_BOOKLETS,
}


def cheap_passwords(monkeypatch) -> None:  # noqa: ANN001
    from argon2 import PasswordHasher

    monkeypatch.setattr(passwords, "_hasher", PasswordHasher(time_cost=1, memory_cost=8, parallelism=1))


@pytest.fixture
def office(tmp_path, clock, central, monkeypatch):  # noqa: ANN001, ANN201
    cheap_passwords(monkeypatch)
    o, _ = make_office(tmp_path, "sqlite", clock, central)
    add_every_role(o)
    printing.receive_booklets(o, first="X1000001", last="X1000010", actor="print_operator")
    yield o
    o.engine.dispose()


def approved(office):  # noqa: ANN001, ANN201
    app = book_one(office)
    advance(office, app.id, "approved", app_type=app.app_type)
    return app


def load(office, app_id):  # noqa: ANN001, ANN201
    with office.uow(readonly=True) as uow:
        return uow.applications.get(app_id)


def booklet(office, serial):  # noqa: ANN001, ANN201
    with office.uow(readonly=True) as uow:
        return uow.session.execute(select(t.booklet).where(t.booklet.c.serial == serial)).one()


def test_every_print_room_route_is_listed_here_with_its_permission() -> None:
    assert routes_of(print_room.router) == set(PERMS)


def test_every_print_room_route_refuses_another_role_and_sends_a_stranger_to_log_in(office) -> None:  # noqa: ANN001
    app = approved(office)
    assert refusals(office, PERMS, {"application_id": app.id}) == []


def test_every_print_room_form_refuses_a_missing_csrf_token_and_changes_nothing(office) -> None:  # noqa: ANN001
    app = approved(office)
    posts = [f"{DESK}/print/{app.id}", f"{DESK}/qc/{app.id}/pass", f"{DESK}/qc/{app.id}/fail",
             f"{DESK}/booklets/receive", f"{DESK}/booklets/spoil"]
    assert without_csrf(browser(office, "print_operator"), office, posts,
                        {"first": "X2000001", "last": "X2000002", "serial": "X1000001", "reason": "misprint"}) == []
    assert load(office, app.id).stage is Stage.APPROVED


def test_the_print_operator_lands_on_the_print_room_with_the_queue_and_the_stock(office) -> None:  # noqa: ANN001
    app = approved(office)
    c = browser(office)
    from tests.integration.test_console import log_in

    assert log_in(c, "print_operator").headers["location"] == DESK
    page = c.get(DESK).text
    assert "Ruang cetak" in page and "Antrean cetak" in page and app.number in page
    assert f'id="print-{app.id}"' in page
    assert re.search(r'id="stock-in">10<', page) and "berikutnya: X1000001" in page


def test_the_queue_shows_the_print_gates_reasons_and_offers_no_print_button(tmp_path, clock, central,
                                                                            monkeypatch) -> None:  # noqa: ANN001
    cheap_passwords(monkeypatch)
    strict, _ = make_office(tmp_path, "sqlite", clock, central, print_on_provisional=False)
    add_every_role(strict)
    printing.receive_booklets(strict, first="X1000001", last="X1000010", actor="print_operator")
    app = approved(strict)
    c = browser(strict, "print_operator")
    page = c.get(DESK).text
    assert f'id="print-{app.id}"' not in page and f'id="blockers-{app.id}"' in page
    assert "NIK terverifikasi: sementara; minimal harus terkonfirmasi" in page
    before = audit_rows(strict)
    r = c.post(f"{DESK}/print/{app.id}", data={"serial": ""}, headers=htmx(csrf(c, DESK), f"print-{app.id}"))
    assert r.status_code == 409 and 'data-code="print-gate-closed"' in r.text
    assert r.headers["HX-Retarget"] == f"#print-{app.id}-problem"
    assert "nik_verified is provisional, needs at least confirmed" in r.text  # the gate's reasons, listed
    assert audit_rows(strict) == before and load(strict, app.id).stage is Stage.APPROVED
    strict.engine.dispose()


def test_stopped_provisional_printing_shows_the_guardrails_reason(office, clock) -> None:  # noqa: ANN001
    app = approved(office)
    clock.advance(days=office.settings.watchlist_max_age_days + 1)
    page = browser(office, "print_operator").get(DESK).text
    assert 'id="guardrails"' in page and "Pencetakan sementara dihentikan" in page
    assert 'data-stop="snapshot_old"' in page
    assert "Salinan daftar cekal sudah berumur 8,0 hari (batasnya 7,0 hari)." in page
    assert f'id="print-{app.id}"' not in page and "sedang dihentikan" in page


def test_printing_takes_the_next_booklet_and_shows_the_data_page_whose_every_view_is_audited(office) -> None:  # noqa: ANN001
    app = approved(office)
    c = browser(office, "print_operator")
    r = c.post(f"{DESK}/print/{app.id}", data={"serial": ""}, headers=htmx(csrf(c, DESK), f"print-{app.id}", "k1"))
    assert r.status_code == 200 and 'id="work-notice"' in r.text
    assert "dicetak pada blangko X1000001" in r.text
    assert f'src="/staff/print-room/data-page/{app.id}.png"' in r.text
    assert load(office, app.id).stage is Stage.PRINTED and booklet(office, "X1000001").status.value == "issued"
    png = c.get(f"{DESK}/data-page/{app.id}.png")
    assert png.status_code == 200 and png.headers["content-type"] == "image/png" and png.content[:4] == b"\x89PNG"
    assert png.headers["cache-control"] == "no-store"
    with office.uow(readonly=True) as uow:
        a = t.audit_event.c
        reads = uow.session.execute(select(a.actor, a.detail)
                                    .where(a.subject == app.id, a.action == "BiometricRead")).all()
    assert [(actor, d["purpose"]) for actor, d in reads] == [("print_operator", "data page preview")]


def test_a_print_sent_twice_with_one_key_uses_one_booklet(office) -> None:  # noqa: ANN001
    app = approved(office)
    c = browser(office, "print_operator")
    h = htmx(csrf(c, DESK), f"print-{app.id}", "same-key")
    first = c.post(f"{DESK}/print/{app.id}", data={"serial": ""}, headers=h)
    again = c.post(f"{DESK}/print/{app.id}", data={"serial": ""}, headers=h)
    assert first.status_code == again.status_code == 200 and again.headers.get("Idempotent-Replayed") == "true"
    assert printing.accountability(office).issued == 1


def test_a_named_serial_prints_on_that_booklet_and_an_unknown_one_is_refused_beside_the_serial(office) -> None:  # noqa: ANN001
    app = approved(office)
    c = browser(office, "print_operator")
    token = csrf(c, DESK)
    r = c.post(f"{DESK}/print/{app.id}", data={"serial": "X9999999"}, headers=htmx(token, f"print-{app.id}"))
    assert r.status_code == 409 and 'data-code="booklet-out-of-range"' in r.text
    assert re.search(rf'id="print-{app.id}-err-serial" class="field-error" hx-swap-oob="true">\S', r.text)
    assert "Blangko ini tidak termasuk stok kantor ini." in r.text
    assert load(office, app.id).stage is Stage.APPROVED
    r = c.post(f"{DESK}/print/{app.id}", data={"serial": " x1000005 "}, headers=htmx(token, f"print-{app.id}"))
    assert r.status_code == 200 and load(office, app.id).booklet_serial == "X1000005"


def test_the_quality_check_passes_or_fails_with_a_reason_and_a_failure_spoils_the_booklet(office) -> None:  # noqa: ANN001
    first, second = approved(office), approved_again(office)
    for app in (first, second):
        printing.print_passport(office, application_id=app.id, actor="print_operator")
    c = browser(office, "print_operator")
    token = csrf(c, DESK)
    job = c.get(f"{DESK}/job/{first.id}").text
    assert f'id="qc-pass-{first.id}"' in job and f'id="qc-fail-{first.id}"' in job
    r = c.post(f"{DESK}/qc/{first.id}/pass", headers=htmx(token, f"qc-pass-{first.id}", region=f"qc-{first.id}"))
    assert r.status_code == 200 and load(office, first.id).stage is Stage.QC_PASSED
    before = audit_rows(office)
    r = c.post(f"{DESK}/qc/{second.id}/fail", data={"reason": "  "}, headers=htmx(token, f"qc-fail-{second.id}"))
    assert r.status_code == 422 and 'data-code="reason-missing"' in r.text
    assert re.search(rf'id="qc-fail-{second.id}-err-reason" class="field-error" hx-swap-oob="true">Alasan', r.text)
    assert audit_rows(office) == before and load(office, second.id).stage is Stage.PRINTED
    serial = load(office, second.id).booklet_serial
    r = c.post(f"{DESK}/qc/{second.id}/fail", data={"reason": "photo smeared"},
               headers=htmx(token, f"qc-fail-{second.id}"))
    assert r.status_code == 200 and "gagal pemeriksaan mutu" in r.text
    assert load(office, second.id).stage is Stage.APPROVED
    b = booklet(office, serial)
    assert (b.status.value, b.spoil_reason.value, b.spoil_note) == ("spoiled", "qc_failure", "photo smeared")


def approved_again(office):  # noqa: ANN001, ANN201
    from datetime import date

    from kanim.domain.passport import ApplicationType, PassportKind
    from kanim.domain.people import Sex
    from kanim.office import booking

    budi = booking.Applicant(full_name="Budi Santoso", nik="3578011203850002", birth_date=date(1985, 3, 12),
                             sex=Sex.M, app_type=ApplicationType.NEW, passport_kind=PassportKind.ORDINARY)
    app = book_one(office, budi)
    advance(office, app.id, "approved", app_type=app.app_type)
    return app


def test_receiving_a_delivery_adds_the_range_and_a_wrong_serial_is_refused_beside_its_own_field(office) -> None:  # noqa: ANN001
    c = browser(office, "print_operator")
    token = csrf(c, DESK)
    before = audit_rows(office)
    r = c.post(f"{DESK}/booklets/receive", data={"first": "X2000001", "last": "X20"},
               headers=htmx(token, "receive-form"))
    assert r.status_code == 422 and 'data-code="booklet-serial-format"' in r.text
    assert 'id="receive-form-err-last" class="field-error" hx-swap-oob="true">Nomor seri' in r.text
    assert 'id="receive-form-err-first"' not in r.text
    r = c.post(f"{DESK}/booklets/receive", data={"first": "X2000010", "last": "X2000001"},
               headers=htmx(token, "receive-form"))
    assert r.status_code == 422 and 'id="receive-form-err-last"' in r.text
    r = c.post(f"{DESK}/booklets/receive", data={"first": "X1000005", "last": "X1000020"},
               headers=htmx(token, "receive-form"))
    assert r.status_code == 409 and 'data-code="booklet-already-received"' in r.text
    assert audit_rows(office) == before and printing.accountability(office).received == 10
    r = c.post(f"{DESK}/booklets/receive", data={"first": "x2000001", "last": "X2000040"},
               headers=htmx(token, "receive-form", "receive-1"))
    assert r.status_code == 200 and "Diterima 40 blangko, X2000001 sampai X2000040." in r.text
    assert re.search(r'id="stock-in">50<', r.text)


def test_spoiling_a_booklet_from_stock_needs_a_reason_it_knows_and_refuses_an_issued_one(office) -> None:  # noqa: ANN001
    app = approved(office)
    printing.print_passport(office, application_id=app.id, actor="print_operator")  # takes X1000001
    c = browser(office, "print_operator")
    token = csrf(c, DESK)
    r = c.post(f"{DESK}/booklets/spoil", data={"serial": "X1000002", "reason": "stolen"},
               headers=htmx(token, "spoil-form"))
    assert r.status_code == 422 and 'id="spoil-form-err-reason"' in r.text
    r = c.post(f"{DESK}/booklets/spoil", data={"serial": "X1000001", "reason": "misprint"},
               headers=htmx(token, "spoil-form"))
    assert r.status_code == 409 and 'data-code="booklet-issued"' in r.text and 'id="spoil-form-err-serial"' in r.text
    r = c.post(f"{DESK}/booklets/spoil", data={"serial": "X1000002", "reason": "damaged_in_stock", "note": "torn"},
               headers=htmx(token, "spoil-form"))
    assert r.status_code == 200 and "Blangko X1000002 dicatat rusak: rusak di gudang." in r.text
    assert booklet(office, "X1000002").status.value == "spoiled"


def test_the_accountability_report_balances_as_a_page_and_as_a_pdf(office) -> None:  # noqa: ANN001
    app = approved(office)
    printing.print_passport(office, application_id=app.id, actor="print_operator")
    printing.spoil_booklet(office, serial="X1000010", reason="misprint", note="test run", actor="print_operator")
    c = browser(office, "print_operator")
    page = c.get(f"{DESK}/report").text
    assert 'data-balanced="true"' in page and "(10 = 1 + 1 + 8)" in page
    assert "X1000001 – X1000010" in page and "salah cetak" in page and "test run" in page
    pdf = c.get(f"{DESK}/report.pdf")
    assert pdf.status_code == 200 and pdf.headers["content-type"] == "application/pdf"
    assert pdf.content.startswith(b"%PDF") and b"/Count 1" in pdf.content
    assert rb"received 10 = issued 1 + spoiled 1 + in stock 8 \(balanced\)" in pdf.content  # its Subject
    assert pdf.headers["content-disposition"] == 'inline; filename="booklets-MND-20261130.pdf"'


def test_a_supervisor_may_read_the_report_but_not_print(office) -> None:  # noqa: ANN001
    c = browser(office, "supervisor")
    assert c.get(f"{DESK}/report").status_code == 200
    assert c.get(DESK).status_code == 403


def test_the_print_room_speaks_english_to_an_operator_who_chose_it(office) -> None:  # noqa: ANN001
    from tests.integration.console_desk_helpers import in_english

    app = approved(office)
    printing.spoil_booklet(office, serial="X1000010", reason="damaged_in_stock", note="", actor="print_operator")
    c = browser(office, "print_operator")
    in_english(c, DESK)
    page = c.get(DESK).text
    assert "Print queue" in page and "blank booklets in stock" in page and "Antrean cetak" not in page
    assert "Passport" in page and app.number in page
    report = c.get(f"{DESK}/report").text
    assert "Booklet accountability" in report and "damaged in stock" in report and "Balanced" in report
