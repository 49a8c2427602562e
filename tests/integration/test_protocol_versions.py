"""Mixed protocol versions (docs/protocol.md): an office still on version 1 drains against this
central, and so do offices on version 2 (JSON, base64 images) and 3 (the binary batch); an
office newer than the central waits, its operations queued, until the central is upgraded.

The central runs in process (its ASGI app behind Starlette's TestClient), the office pushes
through its real HTTP link (`HttpCentral`: signed requests, the relay's classification).
"""

from __future__ import annotations

import base64
import dataclasses
import json
import time

import pytest
from sqlalchemy import func, select
from starlette.testclient import TestClient

from kanim.central import tables as ct
from kanim.central.api import create_central_app
from kanim.central.service import register_office
from kanim.link.http import HttpCentral
from kanim.link.relay import Relay
from kanim.link.views import status
from kanim.office import booking
from kanim.protocol import H_PROTOCOL, PROTOCOL_VERSION
from kanim.protocol.signing import load_or_create_key, public_b64, sign_request
from kanim.store import tables as t
from kanim.store.db import make_engine
from tests.conftest import _migrated_sqlite, make_office
from tests.integration.test_workflow import SITI, book_one, count
from tests.link_fixtures import make_central


@pytest.fixture
def linked(tmp_path, clock):  # noqa: ANN001, ANN201
    """An office, a central on a copy of the migrated schema, and the central's app in process."""
    db = tmp_path / "central" / "central.db"
    _migrated_sqlite(db)
    node = make_central(tmp_path, engine=make_engine(f"sqlite:///{db}"), clock=clock, central_treasury="trusting")
    office, _ = make_office(tmp_path, "sqlite", clock, None)
    key = load_or_create_key(office.settings.office_key_path)
    register_office(node, code="MND", name="Kantor Imigrasi Manado", public_key=public_b64(key), actor="test")
    office.settings.central_public_key = public_b64(node.signing_key)
    client = TestClient(create_central_app(node), base_url="http://central")
    yield office, node, key, client
    client.close()
    office.engine.dispose()
    node.engine.dispose()


def link_speaking(version: int | None, office, key, client: TestClient) -> tuple[HttpCentral, list[str | None]]:  # noqa: ANN001
    """The office's HTTP link to the in-process central, as an office on `version` sends it
    (None: no version header, as every office did before the version was declared)."""
    central = HttpCentral("http://central", office_code="MND", key=key, protocol=version)
    central.client = client
    sent: list[str | None] = []
    client.event_hooks = {"request": [lambda request: sent.append(request.headers.get(H_PROTOCOL))]}
    office.central = central
    return central, sent


def registry(node, table) -> int:  # noqa: ANN001
    with node.uow(readonly=True) as uow:
        return uow.session.execute(select(func.count()).select_from(table)).scalar_one()


def resend_everything(office) -> None:  # noqa: ANN001
    """As after a relay's crash once the central had answered: every row goes again."""
    with office.uow() as uow:
        uow.session.execute(t.outbox.update().values(status="pending", sent_at=None))
        uow.commit()


def test_an_office_on_version_1_and_then_on_version_2_drains_each_operation_exactly_once(linked) -> None:  # noqa: ANN001
    office, node, key, client = linked
    app = book_one(office)

    v1, sent = link_speaking(None, office, key, client)
    assert Relay(office, v1).run_once().error is None
    assert sent and set(sent) == {None}  # a version 1 office: no version header at all
    first = count(office, t.outbox, status="sent")
    assert first > 0 and registry(node, ct.central_operation) == first

    # The office is upgraded in the middle of its drain: its next operations go as version 2.
    booking.check_in(office, application_id=app.id, actor="frontdesk")
    v2, sent = link_speaking(PROTOCOL_VERSION, office, key, client)
    assert Relay(office, v2).run_once().error is None
    assert sent and set(sent) == {str(PROTOCOL_VERSION)}
    total = count(office, t.outbox, status="sent")
    assert total > first and count(office, t.outbox) == total
    assert registry(node, ct.central_operation) == total

    # Everything again, once as version 1 and once as version 2: the same answers, nothing doubled.
    for version in (None, PROTOCOL_VERSION):
        resend_everything(office)
        link, _ = link_speaking(version, office, key, client)
        assert Relay(office, link).run_once().error is None
        assert count(office, t.outbox, status="sent") == total
    assert registry(node, ct.central_operation) == total
    assert registry(node, ct.registry_application) == 1
    with node.uow(readonly=True) as uow:
        assert uow.session.execute(select(ct.registry_application.c.stage)).scalar_one() == "checked_in"


def test_a_version_newer_than_the_central_is_a_link_error_that_parks_nothing(linked) -> None:  # noqa: ANN001
    office, node, key, client = linked
    book_one(office)
    queued = count(office, t.outbox, status="pending")

    newer, _ = link_speaking(PROTOCOL_VERSION + 1, office, key, client)
    r = Relay(office, newer).run_once()
    assert r.error is not None and f"version {PROTOCOL_VERSION + 1}" in r.error and "upgrade the central" in r.error
    assert count(office, t.outbox, status="pending") == queued  # all still queued
    assert count(office, t.outbox, status="dead") == 0  # none parked, the batch was not split
    assert status(office)["state"] == "degraded"
    assert registry(node, ct.central_operation) == 0

    # Once the office speaks a version the central knows, the same queue drains.
    current, _ = link_speaking(PROTOCOL_VERSION, office, key, client)
    assert Relay(office, current).run_once().error is None
    assert count(office, t.outbox, status="sent") == queued


def signed_post(client: TestClient, key, body: bytes, **headers: str):  # noqa: ANN001, ANN201
    signed = sign_request(key, "MND", "POST", "/api/v1/link/operations", body, time.time())
    return client.post("/api/v1/link/operations", content=body,
                       headers={**signed, "content-type": "application/json", **headers})


# A batch exactly as a version 1 office writes it (kanim before the version was declared): the
# central must go on taking this, byte for byte, for as long as it accepts version 1.
V1_BATCH = (b'{"operations":[{"id":"0b7f7c1e-5d4a-4c55-9a43-6f1d2b8e0001","seq":1,'
            b'"subject":"7d1c2b3a-0000-4000-8000-000000000001","op":"ApplicationBooked",'
            b'"payload":{"subject":"7d1c2b3a-0000-4000-8000-000000000001","at":"2026-12-01T01:00:00+00:00",'
            b'"actor":"frontdesk","number":"MND-20261201-0001","app_type":"new","passport_kind":"ordinary",'
            b'"appointment_on":"2026-12-02"}}]}')


def test_a_batch_written_as_version_1_offices_write_it_is_applied_once(linked) -> None:  # noqa: ANN001
    _, node, key, client = linked
    for _ in range(2):
        r = signed_post(client, key, V1_BATCH)
        assert r.status_code == 200, r.text
        assert r.json()["results"] == [{"id": "0b7f7c1e-5d4a-4c55-9a43-6f1d2b8e0001", "ok": True,
                                        "permanent": False, "error": None}]
    assert registry(node, ct.registry_application) == registry(node, ct.central_operation) == 1


def test_an_unknown_version_is_a_problem_document_never_a_500(linked) -> None:  # noqa: ANN001
    _, node, key, client = linked
    for declared in (str(PROTOCOL_VERSION + 1), "0", "two", "9" * 40):
        r = signed_post(client, key, V1_BATCH, **{H_PROTOCOL: declared})
        assert r.status_code == 400, (declared, r.text)
        assert r.headers["content-type"].startswith("application/problem+json")
        assert r.json()["code"] == "protocol-version-unsupported"
    assert registry(node, ct.central_operation) == 0


def test_images_cross_as_bytes_in_version_3_and_as_base64_before_and_land_alike(linked) -> None:  # noqa: ANN001
    """Two captured applications, one drained as version 2 (JSON, base64 images) and one as
    version 3 (the binary batch); then everything resent under 3, 2 and 1: the same answers,
    nothing doubled, and the registry holds each image exactly as the office's vault does."""
    from kanim.central import biometrics
    from kanim.protocol import batch
    from kanim.seed import advance

    office, node, key, client = linked
    bodies: list[tuple[str | None, str, bytes]] = []

    def capturing(version: int | None) -> HttpCentral:
        link, _ = link_speaking(version, office, key, client)
        client.event_hooks = {"request": [lambda r: bodies.append(
            (r.headers.get(H_PROTOCOL), r.headers.get("content-type", ""), r.read()))
            if r.url.path.endswith("/operations") else None]}
        return link

    def drained(version: int | None) -> None:
        link = capturing(version)
        while count(office, t.outbox, status="pending"):
            assert Relay(office, link).run_once().error is None

    first = book_one(office)
    second = book_one(office, dataclasses.replace(SITI, full_name="Rina Wulandari", nik="3171014508900002"))
    advance(office, first.id, "captured", app_type=first.app_type)
    drained(2)
    advance(office, second.id, "captured", app_type=second.app_type)
    drained(3)
    total = count(office, t.outbox, status="sent")
    assert registry(node, ct.central_operation) == total

    with office.uow() as uow:
        vault = {(r.application_id, r.position): office.vault.get(r.file_ref)
                 for r in uow.session.execute(select(t.biometric)) if r.file_ref}
    face = vault[(first.id, 0)]
    assert any(v == "2" and ct_ == batch.JSON_TYPE and base64.b64encode(face) in b for v, ct_, b in bodies)
    v3 = [(ct_, b) for v, ct_, b in bodies if v == "3"]
    assert v3 and all(ct_ == batch.CONTENT_TYPE and b.startswith(batch.MAGIC) for ct_, b in v3)
    second_face = vault[(second.id, 0)]
    assert any(second_face in b for _, b in v3)  # as bytes, in the body as they are
    assert not any(base64.b64encode(second_face)[:4096] in b for _, b in v3)

    for version in (3, 2, None):
        resend_everything(office)
        drained(version)
        assert count(office, t.outbox, status="sent") == total
    assert registry(node, ct.central_operation) == total
    assert registry(node, ct.registry_application) == 2
    assert len(vault) == 2 * 10  # a face and 9 prints each (the tenth finger is an exception)
    for (app_id, position), image in vault.items():
        assert biometrics.read(node, application_id=app_id, position=position, actor="test",
                               purpose="compare") == image


def test_a_binary_batch_that_is_not_its_layout_is_refused_whole_and_writes_nothing(linked) -> None:  # noqa: ANN001
    from kanim.protocol import batch

    _, node, key, client = linked
    good = batch.encode_binary(json.loads(V1_BATCH)["operations"])
    for body in (V1_BATCH, b"KNB3", good[:-1] + b"", good + b"x", b"KNB3\x00\x00\x00\x05hello",
                 good.replace(batch.MAGIC, b"KNB2", 1)):
        r = signed_post(client, key, body, **{H_PROTOCOL: "3", "content-type": batch.CONTENT_TYPE})
        assert r.status_code == 400, (body[:20], r.text)
        assert r.headers["content-type"].startswith("application/problem+json")
        assert r.json()["code"] == "request-malformed" and "version 3" in r.json()["detail"]
    assert registry(node, ct.central_operation) == 0
    r = signed_post(client, key, good, **{H_PROTOCOL: "3"})
    assert r.status_code == 200 and r.json()["results"][0]["ok"] is True, r.text
