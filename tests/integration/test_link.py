"""The office and the real central hub over real HTTP (the central in a uvicorn thread)."""

from __future__ import annotations

from datetime import date

import pytest
from sqlalchemy import func, select

from kanim.central import tables as ct
from kanim.central.service import load_civil_registry
from kanim.domain.application import Handover, RecipientKind, Stage
from kanim.domain.people import Sex
from kanim.link.relay import Relay
from kanim.link.views import status
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
                           handover=Handover(RecipientKind.HOLDER, "Siti Rahmawati", "KTP", id_nik="3171014508900001"))
        relay.run_once()
        assert status(office)["queue_depth"] == 0
    with central_node.uow() as uow:
        n = uow.session.execute(select(func.count()).select_from(ct.registry_application)).scalar_one()
        stage = uow.session.execute(select(ct.registry_application.c.stage)).scalar_one()
    assert (n, stage) == (1, "handed_over")


def test_an_unreadable_vault_file_parks_only_its_own_application(tmp_path, clock, central_node) -> None:  # noqa: ANN001
    from kanim.link.views import dead_letters

    office, _ = make_office(tmp_path, "sqlite", clock, None)
    with central_server(central_node) as url:
        relay = Relay(office, connect(office, central_node, url))
        broken, fine = book_one(office), book_one(office, booking.Applicant(
            full_name="Budi Santoso", nik="3578011203850002", birth_date=date(1985, 3, 12), sex=Sex.M,
            app_type=SITI.app_type, passport_kind=SITI.passport_kind))
        for app in (broken, fine):
            advance(office, app.id, "captured", app_type=app.app_type)
        with office.uow() as uow:
            ref = uow.session.execute(select(t.biometric.c.file_ref).where(
                t.biometric.c.application_id == broken.id, t.biometric.c.kind == "face")).scalar()
        office.vault.delete(ref)  # lost to a disk fault (or ransomware)
        for _ in range(4):
            relay.run_once()
        (dead,) = dead_letters(office)
        assert (dead["subject"], dead["op"]) == (broken.id, "BiometricsCaptured")
        assert "cannot be sent" in dead["error"]
        with office.uow() as uow:
            held = uow.applications.get(broken.id)
        assert held.stage is Stage.ON_HOLD and held.clearances.recorded_centrally.value == "flagged"
        assert [r.status for r in _outbox(office, fine.id)] == ["sent"] * len(_outbox(office, fine.id))


def test_a_batch_the_central_refuses_whole_is_split_until_the_culprit_is_parked(tmp_path, clock, central_node) -> None:  # noqa: ANN001
    from kanim.link.views import dead_letters
    from kanim.office.ports import BatchRefused

    office, _ = make_office(tmp_path, "sqlite", clock, None)
    with central_server(central_node) as url:
        link = connect(office, central_node, url)
        culprit = book_one(office)
        others = [book_one(office) for _ in range(3)]

        class Picky:  # a proxy that refuses any request carrying the culprit's booking
            def push(self, ops, urgent=False):  # noqa: ANN001, ANN202
                if any(o.subject == culprit.id for o in ops):
                    raise BatchRefused("central answered 413: request too large")
                return link.push(ops, urgent=urgent)

            def pull(self, **kw):  # noqa: ANN003, ANN202
                return link.pull(**kw)

            def watchlist(self):  # noqa: ANN202
                return link.watchlist()

        relay = Relay(office, Picky())
        for _ in range(10):
            relay.run_once()
    (dead,) = dead_letters(office)
    assert dead["subject"] == culprit.id and "413" in dead["error"]
    for app in others:
        assert {r.status for r in _outbox(office, app.id)} == {"sent"}


def _outbox(office, app_id):  # noqa: ANN001, ANN202
    with office.uow() as uow:
        return list(uow.session.execute(select(t.outbox).where(t.outbox.c.subject == app_id).order_by(t.outbox.c.seq)))
