"""The office and the real central hub over real HTTP (the central in a uvicorn thread)."""

from __future__ import annotations

from datetime import date

import pytest
from sqlalchemy import func, select

from kanim.central import tables as ct
from kanim.central.service import load_civil_registry
from kanim.domain.application import Handover, RecipientKind, Stage
from kanim.link.relay import Relay, status
from kanim.office import booking, handover, printing
from kanim.seed import advance
from kanim.store import tables as t
from tests.integration.test_workflow import SITI, book_one
from tests.conftest import make_office
from tests.link_fixtures import central_server, connect, make_central


@pytest.fixture
def central_node(tmp_path, clock):  # noqa: ANN001, ANN201
    node = make_central(tmp_path, clock=clock, central_treasury="trusting")
    csv = tmp_path / "dukcapil.csv"
    csv.write_text("nik,full_name,birth_date,sex\n3171014508900001,Siti Rahmawati,1990-08-05,F\n")
    load_civil_registry(node, csv)
    yield node
    node.engine.dispose()


def test_a_passport_printed_offline_becomes_ready_when_the_central_confirms(tmp_path, clock, central_node) -> None:  # noqa: ANN001
    office, _ = make_office(tmp_path, "sqlite", clock, None)
    from kanim.central.service import allocate_booklets

    with central_server(central_node) as url:
        link = connect(office, central_node, url)
        allocate_booklets(central_node, office_code="MND", first="X1000001", last="X1000010", actor="t")
        relay = Relay(office, link)
        printing.receive_booklets(office, first="X1000001", last="X1000010", actor="printer")
        app = book_one(office)
        advance(office, app.id, "ready", app_type=app.app_type)  # QC passed; waits at the gate
        with office.uow() as uow:
            assert uow.applications.get(app.id).stage is Stage.QC_PASSED
        r = relay.run_once()
        assert r.error is None, r.error
        relay.run_once()
        with office.uow() as uow:
            got = uow.applications.get(app.id)
        assert got.stage is Stage.READY, got.clearances
        handover.hand_over(office, application_id=app.id, actor="pickup",
                           handover=Handover(RecipientKind.HOLDER, "Siti Rahmawati", "KTP"))
        relay.run_once()
        assert status(office)["queue_depth"] == 0
    with central_node.uow() as uow:
        n = uow.session.execute(select(func.count()).select_from(ct.registry_application)).scalar_one()
        stage = uow.session.execute(select(ct.registry_application.c.stage)).scalar_one()
    assert (n, stage) == (1, "handed_over")
