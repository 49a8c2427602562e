"""`chip_required` (docs/chip.md): an office that requires chip content never hands out an
electronic passport with a blank chip; an office that does not (the default for now) prints
one and says so. No token needed: the office here has no Document Signer at all."""

from __future__ import annotations

import dataclasses

import pytest
from sqlalchemy import select

from kanim.domain.application import Stage
from kanim.domain.errors import Conflict, GateClosed
from kanim.domain.passport import PassportKind
from kanim.office import accounts, printing
from kanim.seed import advance
from kanim.store import tables as t
from tests.conftest import make_office
from tests.integration.console_desk_helpers import PASSWORD, browser
from tests.integration.test_console_print_room import cheap_passwords
from tests.integration.test_workflow import SITI, book_one

DEWI = dataclasses.replace(SITI, nik="3171014508900002", full_name="Dewi Lestari", passport_kind=PassportKind.ORDINARY)


@pytest.fixture
def office(tmp_path, clock, central):  # noqa: ANN001, ANN201
    o, _ = make_office(tmp_path, "sqlite", clock, central, chip_required=True)
    printing.receive_booklets(o, first="X1000001", last="X1000010", actor="printer")
    yield o
    o.engine.dispose()


def test_without_a_document_signer_an_electronic_print_is_refused_and_an_ordinary_one_prints(office, monkeypatch) -> None:  # noqa: ANN001
    cheap_passwords(monkeypatch)
    accounts.add_user(office, username="print_operator", full_name="Printer", role="print_operator", password=PASSWORD)
    page = browser(office, "print_operator").get("/staff/print-room").text
    assert 'id="chip-signer" data-kind="required"' in page and "kantor ini mewajibkan isi cip" in page  # Indonesian first
    electronic, ordinary = book_one(office), book_one(office, DEWI)
    for app in (electronic, ordinary):
        advance(office, app.id, "approved", app_type=app.app_type)
    with pytest.raises(GateClosed) as refused:
        printing.print_passport(office, application_id=electronic.id, actor="printer")
    assert refused.value.status == 409 and refused.value.code == "chip-signer-unusable"
    assert "no Document Signer is installed" in refused.value.message
    printing.print_passport(office, application_id=ordinary.id, actor="printer")
    with office.uow(readonly=True) as uow:
        assert uow.applications.get(electronic.id).stage is Stage.APPROVED  # no booklet was taken
        assert uow.applications.get(ordinary.id).stage is Stage.PRINTED


def test_an_electronic_booklet_printed_before_chips_were_required_fails_qc(office) -> None:  # noqa: ANN001
    app = book_one(office)
    advance(office, app.id, "approved", app_type=app.app_type)
    office.settings.chip_required = False  # printed blank-chipped while the office did not require chips
    printing.print_passport(office, application_id=app.id, actor="printer")
    office.settings.chip_required = True
    with pytest.raises(Conflict) as failed:
        printing.quality_check(office, application_id=app.id, passed=True, actor="printer")
    assert failed.value.code == "chip-qc-failed" and "no chip personalisation job" in failed.value.message
    with office.uow(readonly=True) as uow:
        assert uow.session.execute(select(t.booklet.c.status).where(t.booklet.c.serial == "X1000001")).scalar() \
            .value == "spoiled"
