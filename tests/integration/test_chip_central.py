"""The chip at the central: the registry keeps each chip's Document Signer and SOD hash from the
`ChipPersonalised` operation, and a CSCA revocation list published at the central reaches an
office through the signed feed, over real HTTP."""

from __future__ import annotations

from datetime import timedelta

import pytest
from cryptography.hazmat.primitives import serialization
from sqlalchemy import select

from kanim.chip import ceremony
from kanim.office import chip
from kanim.store import tables as t
from kanim.store.chip_tables import registry_chip
from kanim.central import service
from tests.integration.test_central import (  # noqa: F401  (fixtures)
    SITI,
    Ops,
    drain,
    hub_node,
    linked,
    lone_office,
    new_central,
    new_application,
    pg_central_engine,
    push,
    register,
    rows,
    sqlite_hub,
    sqlite_template,
)

FP, SOD = "a" * 64, "b" * 64


@pytest.fixture
def hub(hub_node):  # noqa: ANN001, ANN201
    """The central of test_central.py, whose PostgreSQL schema is shared by the module and
    emptied table by table of kanim.central.tables: this file's table is emptied here."""
    with hub_node.uow() as uow:
        uow.session.execute(registry_chip.delete())
        uow.commit()
    return hub_node


def printed(node, ops: Ops) -> str:  # noqa: ANN001
    register(node, "MND")
    service.allocate_booklets(node, office_code="MND", first="X1000001", last="X1000005", actor="t")
    app_id = new_application(node, ops, nik=SITI.nik, name=SITI.full_name, birth="1990-08-05", sex="F")
    assert push(node, [ops(app_id, "PassportPrinted", booklet_serial="X1000001", issued_on="2026-11-30",
                           expires_on="2036-11-29")])[0].ok
    return app_id


def test_the_registry_records_which_document_signer_signed_a_chip_and_its_sod_hash(hub) -> None:  # noqa: ANN001
    ops = Ops()
    app_id = printed(hub, ops)
    (result,) = push(hub, [ops(app_id, "ChipPersonalised", booklet_serial="X1000001", ds_fingerprint=FP,
                                    sod_sha256=SOD)])
    assert result.ok, result.error
    (row,) = rows(hub, registry_chip)
    assert (row.serial, row.application_id, row.office_code, row.ds_fingerprint, row.sod_sha256) == \
        ("X1000001", app_id, "MND", FP, SOD)


def test_a_chip_for_a_booklet_not_yet_printed_waits_and_a_malformed_one_is_refused_for_good(hub) -> None:  # noqa: ANN001
    ops = Ops()
    register(hub, "MND")
    app_id = new_application(hub, ops, nik=SITI.nik, name=SITI.full_name, birth="1990-08-05", sex="F")
    (early,) = push(hub, [ops(app_id, "ChipPersonalised", booklet_serial="X1000001", ds_fingerprint=FP,
                                   sod_sha256=SOD)])
    assert (early.ok, early.permanent) == (False, False)
    (bad,) = push(hub, [ops(app_id, "ChipPersonalised", booklet_serial="X1000001", ds_fingerprint="not-hex",
                                 sod_sha256=SOD)])
    assert (bad.ok, bad.permanent) == (False, True) and "ds_fingerprint" in bad.error
    assert rows(hub, registry_chip) == []


def test_a_revocation_list_published_at_the_central_reaches_the_office_with_the_feed(lone_office, sqlite_hub,  # noqa: ANN001
                                                                                      tmp_path, clock) -> None:
    folder = tmp_path / "csca"
    csca = ceremony.create(folder, passphrase=b"twelve chars or more", now=clock.now() - timedelta(days=1))
    chip.trust_csca(lone_office, certificate=csca.public_bytes(serialization.Encoding.PEM), actor="it")
    der = ceremony.revoke_and_publish(folder, passphrase=b"twelve chars or more", now=clock.now())
    assert ceremony.publish_crl(sqlite_hub, der, csca=csca.public_bytes(serialization.Encoding.PEM),
                                actor="operator") == 1
    with linked(lone_office, sqlite_hub) as relay:
        drain(relay)
    with lone_office.uow(readonly=True) as uow:
        kept = uow.session.execute(select(t.csca_crl)).one()
        audited = uow.session.execute(select(t.audit_event.c.action).where(t.audit_event.c.action == "CrlReceived")).all()
    assert kept.number == 1 and kept.der == der and len(audited) == 1


def test_a_revocation_list_that_does_not_verify_is_refused_and_the_feed_goes_on(lone_office, sqlite_hub,  # noqa: ANN001
                                                                                tmp_path, clock) -> None:
    # Before: the office's feed waited on such a list for ever, holding back everything after it.
    import base64

    from kanim.chip import pki
    from kanim.link.inbox import feed_blocked
    folder, pw = tmp_path / "csca", b"twelve chars or more"
    csca = ceremony.create(folder, passphrase=pw, now=clock.now() - timedelta(days=1))
    pem = csca.public_bytes(serialization.Encoding.PEM)
    chip.trust_csca(lone_office, certificate=pem, actor="it")
    impostor_key, impostor = pki.create_csca(now=clock.now() - timedelta(days=1))  # the CSCA's name, another key
    forged = pki.build_crl(csca_key=impostor_key, csca=impostor, revoked={42: clock.now()}, number=7,
                           now=clock.now()).public_bytes(serialization.Encoding.DER)
    with pytest.raises(ceremony.CeremonyError, match="does not verify with the CSCA"):
        ceremony.publish_crl(sqlite_hub, forged, csca=pem, actor="operator")  # the central checks it first
    with sqlite_hub.uow() as uow:  # as if an older central had published it anyway
        service.emit(uow, kind="crl", subject="crl-7", payload={"der": base64.b64encode(forged).decode()},
                     office_code=None)
        uow.commit()
    good = ceremony.revoke_and_publish(folder, passphrase=pw, now=clock.now())
    assert ceremony.publish_crl(sqlite_hub, good, csca=pem, actor="operator") == 1
    with linked(lone_office, sqlite_hub) as relay:
        drain(relay)
    with lone_office.uow(readonly=True) as uow:
        assert feed_blocked(uow) is None
        assert [r.der for r in uow.session.execute(select(t.csca_crl))] == [good]  # the good one after it arrived
        refused = uow.session.execute(select(t.audit_event.c.detail).where(t.audit_event.c.action == "CrlRefused")).scalar_one()
    assert "does not verify with its key" in refused["why"]
