"""The pickup desk in the console, in process: the ready and waiting lists, the identity check
for each kind of recipient with the rule's words beside its field, the handover and its receipt."""

from __future__ import annotations

import html
import re
from datetime import date

import pytest
from sqlalchemy import func, select

from kanim.domain.application import Stage
from kanim.domain.passport import ApplicationType, PassportKind
from kanim.domain.people import Sex
from kanim.link.relay import sync_once
from kanim.office import booking, printing
from kanim.security.roles import Perm
from kanim.seed import advance
from kanim.store import tables as t
from kanim.web.console import pickup
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
from tests.integration.test_console_print_room import cheap_passwords
from tests.integration.test_workflow import SITI, book_one

DESK = "/staff/pickup"
PERMS = {("GET", DESK): Perm.HANDOVER, ("GET", f"{DESK}/lists"): Perm.HANDOVER,
         ("GET", f"{DESK}/handover/{{application_id}}"): Perm.HANDOVER,
         ("POST", f"{DESK}/handover/{{application_id}}"): Perm.HANDOVER,
         ("GET", f"{DESK}/receipt/{{application_id}}"): Perm.HANDOVER, ("GET", f"{DESK}/day"): Perm.HANDOVER}
BUDI = booking.Applicant(full_name="Budi Santoso", nik="3578011203850002", birth_date=date(1985, 3, 12), sex=Sex.M,
                         app_type=ApplicationType.NEW, passport_kind=PassportKind.ORDINARY)
HOLDER = {"recipient_kind": "holder", "recipient_name": "Siti Rahmawati", "id_checked": "KTP", "id_nik": SITI.nik}
FAMILY = {"recipient_kind": "family_same_kk", "recipient_name": "Budi Santoso", "id_checked": "KTP",
          "id_nik": BUDI.nik, "recipient_kk_number": SITI.kk_number}


@pytest.fixture
def office(tmp_path, clock, central, monkeypatch):  # noqa: ANN001, ANN201
    cheap_passwords(monkeypatch)
    o, _ = make_office(tmp_path, "sqlite", clock, central)
    add_every_role(o)
    printing.receive_booklets(o, first="X1000001", last="X1000010", actor="print_operator")
    yield o
    o.engine.dispose()


def ready(office, central, applicant=SITI):  # noqa: ANN001, ANN201
    """An application printed, checked and confirmed by the (simulated) central."""
    app = book_one(office, applicant)
    advance(office, app.id, "ready", app_type=app.app_type)
    sync_once(office, central)
    assert load(office, app.id).stage is Stage.READY
    return app


def load(office, app_id):  # noqa: ANN001, ANN201
    with office.uow(readonly=True) as uow:
        return uow.applications.get(app_id)


def handovers(office) -> int:  # noqa: ANN001
    with office.uow(readonly=True) as uow:
        return uow.session.execute(select(func.count()).select_from(t.audit_event)
                                   .where(t.audit_event.c.action == "PassportHandedOver")).scalar_one()


def post(c, app, data, key=None):  # noqa: ANN001, ANN201
    return c.post(f"{DESK}/handover/{app.id}", data=data, headers=htmx(csrf(c, DESK), "handover-form", key))


def beside(response, field: str) -> str:  # noqa: ANN001
    m = re.search(rf'id="handover-form-err-{field}" class="field-error" hx-swap-oob="true">([^<]*)<', response.text)
    return html.unescape(m.group(1)) if m else ""


def test_every_pickup_route_is_listed_here_with_its_permission() -> None:
    assert routes_of(pickup.router) == set(PERMS)


def test_every_pickup_route_refuses_another_role_and_sends_a_stranger_to_log_in(office, central) -> None:  # noqa: ANN001
    app = ready(office, central)
    assert refusals(office, PERMS, {"application_id": app.id}) == []


def test_the_handover_form_refuses_a_missing_csrf_token_and_hands_nothing_over(office, central) -> None:  # noqa: ANN001
    app = ready(office, central)
    assert without_csrf(browser(office, "pickup_desk"), office, [f"{DESK}/handover/{app.id}"], HOLDER) == []
    assert load(office, app.id).stage is Stage.READY


def test_the_desk_lists_ready_passports_and_says_what_the_others_wait_for(office, central) -> None:  # noqa: ANN001
    siti = ready(office, central)
    budi = book_one(office, BUDI)
    advance(office, budi.id, "printed", app_type=budi.app_type)
    c = browser(office, "pickup_desk")
    page = c.get(DESK).text
    assert "Loket pengambilan" in page and f'id="ready-{siti.id}"' in page and f'id="waiting-{budi.id}"' in page
    assert SITI.nik not in page and "3171••••••••0001" in page
    waiting = page[page.index(f'id="waiting-{budi.id}"'):]
    assert "pemeriksaan mutu di ruang cetak" in waiting[:600]
    printing.quality_check(office, application_id=budi.id, passed=True, actor="print_operator")
    waiting = c.get(f"{DESK}/lists").text
    row = waiting[waiting.index(f'id="waiting-{budi.id}"'):]
    assert "tercatat di pusat: menunggu, belum dikonfirmasi" in row[:1500]


def test_the_lists_narrow_to_a_number_or_a_name(office, central) -> None:  # noqa: ANN001
    siti = ready(office, central)
    c = browser(office, "pickup_desk")
    assert siti.number in c.get(f"{DESK}/lists", params={"q": "rahma"}).text
    assert siti.number in c.get(f"{DESK}/lists", params={"q": siti.number[:8]}).text
    miss = c.get(f"{DESK}/lists", params={"q": "budi"}).text
    assert siti.number not in miss and "Tidak ada paspor siap yang cocok" in miss


def test_the_handover_form_asks_each_kind_of_recipient_for_its_own_proof(office, central) -> None:  # noqa: ANN001
    app = ready(office, central)
    form = browser(office, "pickup_desk").get(f"{DESK}/handover/{app.id}").text
    for kind in ("holder", "family_same_kk", "power_of_attorney", "post"):
        assert f'id="handover-form-kind-{kind}"' in form
    for name in ("recipient_name", "id_nik", "id_checked", "recipient_kk_number", "attorney_letter_ref",
                 "post_tracking", "post_address"):
        assert f'name="{name}"' in form and f'id="handover-form-err-{name}"' in form
    assert "3171••••••••0001" in form and SITI.nik not in form


def test_a_ktp_that_is_not_the_holders_is_refused_with_each_reason_beside_its_field(office, central) -> None:  # noqa: ANN001
    app = ready(office, central)
    c = browser(office, "pickup_desk")
    before = audit_rows(office)
    r = post(c, app, {**HOLDER, "recipient_name": "Rina Marlina", "id_nik": "3174015010830011"})
    assert r.status_code == 409 and 'data-code="recipient-not-holder"' in r.text
    assert r.headers["HX-Retarget"] == "#handover-form-problem"
    assert beside(r, "id_nik") == "NIK pada KTP yang ditunjukkan bukan NIK pemilik paspor"
    assert beside(r, "recipient_name") == "nama penerima bukan nama pemilik paspor"
    assert "Identitas yang ditunjukkan bukan identitas pemilik paspor." in r.text
    r = post(c, app, {**HOLDER, "id_nik": "3174015010830011"})
    assert beside(r, "id_nik") and not beside(r, "recipient_name")
    assert audit_rows(office) == before and load(office, app.id).stage is Stage.READY


def test_a_family_member_needs_their_own_ktp_and_the_holders_kk(office, central) -> None:  # noqa: ANN001
    app = ready(office, central)
    c = browser(office, "pickup_desk")
    r = post(c, app, {**FAMILY, "recipient_kk_number": "7171011200000099"})
    assert r.status_code == 409
    assert beside(r, "recipient_kk_number") == "Nomor KK anggota keluarga bukan nomor KK pemohon."
    r = post(c, app, {**FAMILY, "id_nik": SITI.nik})
    assert 'data-code="recipient-nik-is-holder"' in r.text and beside(r, "id_nik")
    r = post(c, app, {**FAMILY, "id_nik": "12345"})
    assert 'data-code="nik-length"' in r.text and beside(r, "id_nik") == "NIK terdiri dari 16 angka."
    assert load(office, app.id).stage is Stage.READY
    r = post(c, app, FAMILY, key="family-1")
    assert r.status_code == 200 and 'id="handover-done"' in r.text and "anggota keluarga dalam KK yang sama" in r.text
    done = load(office, app.id)
    assert done.stage is Stage.HANDED_OVER and done.handover.recipient_kind.value == "family_same_kk"
    assert f'href="/staff/pickup/receipt/{app.id}"' in r.text
    assert 'id="lists" hx-swap-oob="innerHTML"' in r.text and f'id="ready-{app.id}"' not in r.text


def test_an_attorney_needs_the_letter_and_the_post_a_tracking_number(office, central) -> None:  # noqa: ANN001
    app = ready(office, central)
    c = browser(office, "pickup_desk")
    r = post(c, app, {**FAMILY, "recipient_kind": "power_of_attorney", "recipient_kk_number": ""})
    assert 'data-code="attorney-letter-missing"' in r.text
    assert beside(r, "attorney_letter_ref") == "Nomor surat kuasa wajib diisi."
    r = post(c, app, {"recipient_kind": "post", "recipient_name": "Siti Rahmawati",
                      "post_address": "Jl. Sam Ratulangi 1"})
    assert 'data-code="post-details-missing"' in r.text and beside(r, "post_tracking")
    r = post(c, app, {"recipient_kind": "post", "recipient_name": "Siti Rahmawati", "post_tracking": "RR123456789ID",
                      "post_address": "Jl. Sam Ratulangi 1, Manado"})
    assert r.status_code == 200 and load(office, app.id).handover.post_tracking == "RR123456789ID"


def test_a_handover_sent_twice_with_one_key_is_recorded_once(office, central) -> None:  # noqa: ANN001
    app = ready(office, central)
    c = browser(office, "pickup_desk")
    first, again = post(c, app, HOLDER, key="h-1"), post(c, app, HOLDER, key="h-1")
    assert first.status_code == again.status_code == 200 and again.headers.get("Idempotent-Replayed") == "true"
    assert handovers(office) == 1


def test_the_handover_receipt_names_the_passport_the_recipient_and_the_officer(office, central) -> None:  # noqa: ANN001
    app = ready(office, central)
    c = browser(office, "pickup_desk")
    post(c, app, FAMILY)
    page = c.get(f"{DESK}/receipt/{app.id}").text
    assert "Tanda terima penyerahan paspor" in page and "X1000001" in page and "Budi Santoso" in page
    assert "3578••••••••0002" in page and BUDI.nik not in page and SITI.kk_number not in page
    assert re.search(r"Petugas loket</th><td>pickup_desk<", page) and 'class="signatures"' in page


def test_a_passport_not_ready_cannot_be_handed_over(office) -> None:  # noqa: ANN001
    app = book_one(office)
    advance(office, app.id, "ready", app_type=app.app_type)  # checked, but the central has confirmed nothing
    c = browser(office, "pickup_desk")
    assert "belum siap: tidak dapat diserahkan" in c.get(f"{DESK}/handover/{app.id}").text
    r = post(c, app, HOLDER)
    assert r.status_code == 409 and 'data-code="handover-gate-closed"' in r.text
    assert "recorded_centrally is pending, needs confirmed" in r.text
    assert load(office, app.id).stage is Stage.QC_PASSED and handovers(office) == 0


def test_the_pickup_desk_speaks_english_and_says_the_rule_in_its_own_words(office, central) -> None:  # noqa: ANN001
    from tests.integration.console_desk_helpers import in_english

    app = ready(office, central)
    c = browser(office, "pickup_desk")
    in_english(c, DESK)
    assert "Ready to hand over" in c.get(DESK).text
    form = c.get(f"{DESK}/handover/{app.id}").text
    assert "Who collects it" in form and "a family member on the same KK" in form
    r = post(c, app, {**HOLDER, "id_nik": "3174015010830011"})
    assert beside(r, "id_nik") == "the NIK on the KTP shown is not the holder's NIK"
    assert "the identity shown is not the holder's" in html.unescape(r.text)  # the problem's own detail, in English
