"""The central under bad input: every operation is checked against the wire contract and
answered on its own; idempotency is per office; an application's operations apply in sequence
order; unknown types are refused; a database failure is one operation's refusal; the registry
keeps biometrics sealed and audits every read. In process, on SQLite and PostgreSQL (the same
fixtures as test_central.py); the same behaviours over real processes are in
tests/e2e/test_link_abuse.py."""

from __future__ import annotations

import base64
import hashlib
import uuid

import pytest
from sqlalchemy import text

from kanim.central import biometrics, tables as ct
from kanim.central.node import bootstrap_central
from kanim.config import Settings
from kanim.domain import events
from kanim.protocol import schemas as contract
from kanim.seed import face_photo
from tests.integration.test_central import (  # noqa: F401 - fixtures
    Ops,
    count,
    hub_node,
    load_registry,
    new_central,
    pg_central_engine,
    push,
    rows,
    sqlite_hub,
    sqlite_template,
)
from tests.integration.test_workflow import SITI

AT = "2026-11-30T01:00:00+00:00"


def raw(op_id: str, seq: int, subject: str, op: str, **payload) -> dict:  # noqa: ANN003
    return {"id": op_id, "seq": seq, "subject": subject, "op": op,
            "payload": {"subject": subject, "at": AT, "actor": "test", **payload}}


def booked(subject: str, seq: int = 1, op_id: str | None = None) -> dict:
    return raw(op_id or str(uuid.uuid4()), seq, subject, "ApplicationBooked", number="MND-1", app_type="new",
               passport_kind="ordinary")


# -- the contract itself --------------------------------------------------------------------------

def test_every_domain_event_an_office_sends_has_an_operation_a_schema_and_a_handler() -> None:
    from kanim.central.hub import HANDLERS
    from kanim.link.outbox import OPERATION_OF
    from kanim.protocol.operations import Op

    sent = {c for c in vars(events).values()
            if isinstance(c, type) and issubclass(c, events.Event) and c is not events.Event}
    assert set(OPERATION_OF) == sent
    assert set(OPERATION_OF.values()) == set(Op) == set(contract.SCHEMAS) == set(HANDLERS)


def test_a_refusal_names_the_field_and_never_the_value() -> None:
    with pytest.raises(contract.OperationInvalid) as e:
        contract.payload("IntakeCompleted", {"subject": "a", "at": AT, "nik": "31710145089000019999",
                                             "full_name": "Siti Rahmawati", "birth_date": "31-31-1990", "sex": "F"})
    assert "payload.nik" in e.value.reason and "payload.birth_date" in e.value.reason
    assert "3171014508900001" not in e.value.reason and "31-31-1990" not in e.value.reason


# -- 1. one malformed operation is that operation's answer -----------------------------------------

MALFORMED = {
    "a billing without its code": ("BillingIssued", {"amount": 350000}),
    "an unparseable birth date": ("IntakeCompleted", {"nik": SITI.nik, "full_name": SITI.full_name,
                                                      "birth_date": "1990-13-45", "sex": "F"}),
    "a print without a serial": ("PassportPrinted", {"issued_on": "2026-11-30", "expires_on": "2036-11-29"}),
    "a name longer than its column": ("IntakeCompleted", {"nik": SITI.nik, "full_name": "A" * 201,
                                                          "birth_date": "1990-08-05", "sex": "F"}),
    "an image that does not match its digest": ("BiometricsCaptured", {"biometrics": [
        {"position": 0, "sha256": "0" * 64, "size_bytes": 3, "data": base64.b64encode(b"abc").decode()}]}),
}


@pytest.mark.parametrize("case", list(MALFORMED))
def test_a_malformed_operation_is_refused_alone_and_the_rest_of_the_batch_applies(hub_node, case) -> None:  # noqa: ANN001
    op_name, fields = MALFORMED[case]
    bad_app, good_app = str(uuid.uuid4()), str(uuid.uuid4())
    batch = [booked(bad_app, 1), raw(str(uuid.uuid4()), 2, bad_app, op_name, **fields),
             raw(str(uuid.uuid4()), 3, bad_app, "ApplicantCheckedIn", queue_ticket="A-001"),
             booked(good_app, 4), raw(str(uuid.uuid4()), 5, good_app, "ApplicantCheckedIn", queue_ticket="A-002")]
    results = push(hub_node, batch)
    assert [(r.ok, r.permanent) for r in results] == [(True, False), (False, True), (False, False),
                                                       (True, False), (True, False)], results
    assert results[1].error.startswith("payload.") or "payload" in results[1].error, results[1].error
    assert "waiting for an earlier operation" in results[2].error
    stages = {r.id: r.stage for r in rows(hub_node, ct.registry_application)}
    assert stages == {bad_app: "booked", good_app: "checked_in"}


def test_an_operation_without_a_usable_id_refuses_the_batch_and_changes_nothing(hub_node) -> None:  # noqa: ANN001
    from kanim.central.apply import BatchInvalid

    with pytest.raises(BatchInvalid, match="operation 1 has no usable id"):
        push(hub_node, [booked(str(uuid.uuid4())), {"seq": 2, "op": "ApplicantCheckedIn"}])
    assert count(hub_node, ct.registry_application) == 0 and count(hub_node, ct.central_operation) == 0


def test_a_database_failure_inside_one_operation_is_that_operations_refusal(hub_node) -> None:  # noqa: ANN001
    """The registry refuses a row the contract allowed (a constraint the handlers do not know):
    the batch is applied again operation by operation and only that one is refused, with an
    error id and no data in its reason."""
    sqlite_events = ("UPDATE", "INSERT")  # a batch writes a new application with its first touches in its INSERT
    with hub_node.engine.begin() as conn:
        if conn.dialect.name == "sqlite":
            for event in sqlite_events:
                conn.execute(text(f"CREATE TRIGGER poison_{event} BEFORE {event} ON registry_application FOR EACH ROW "
                                  "WHEN (NEW.full_name = 'Poison Name') BEGIN SELECT RAISE(ABORT, 'poison'); END"))
        else:
            conn.execute(text("ALTER TABLE registry_application ADD CONSTRAINT poison CHECK (full_name <> 'Poison Name')"))
    try:
        bad, good = str(uuid.uuid4()), str(uuid.uuid4())
        results = push(hub_node, [booked(bad, 1), booked(good, 2),
                                  raw(str(uuid.uuid4()), 3, bad, "IntakeCompleted", nik="3171014508900099",
                                      full_name="Poison Name", birth_date="1990-08-05", sex="F"),
                                  raw(str(uuid.uuid4()), 4, good, "ApplicantCheckedIn")])
    finally:
        with hub_node.engine.begin() as conn:
            for statement in ([f"DROP TRIGGER poison_{e}" for e in sqlite_events] if conn.dialect.name == "sqlite"
                              else ["ALTER TABLE registry_application DROP CONSTRAINT poison"]):
                conn.execute(text(statement))
    assert [(r.ok, r.permanent) for r in results] == [(True, False), (True, False), (False, True), (True, False)]
    assert "the central could not apply it" in results[2].error and "error id" in results[2].error
    assert "Poison" not in results[2].error and "3171014508900099" not in results[2].error
    stages = {r.id: (r.stage, r.full_name) for r in rows(hub_node, ct.registry_application)}
    assert stages == {bad: ("booked", None), good: ("checked_in", None)}
    stored = {r.id: r.ok for r in rows(hub_node, ct.central_operation)}
    assert sorted(stored.values()) == [False, True, True, True]


# -- 3. idempotency per office ------------------------------------------------------------------

def test_another_office_reusing_an_operation_id_gets_its_own_operation_applied(hub_node) -> None:  # noqa: ANN001
    from tests.integration.test_central import register

    register(hub_node, "BBB")
    shared_id = str(uuid.uuid4())
    a_app, b_app = str(uuid.uuid4()), str(uuid.uuid4())
    assert push(hub_node, [booked(a_app, op_id=shared_id)], "MND")[0].ok
    assert push(hub_node, [booked(b_app, op_id=shared_id)], "BBB")[0].ok
    owners = {r.id: r.office_code for r in rows(hub_node, ct.registry_application)}
    assert owners == {a_app: "MND", b_app: "BBB"}
    assert sorted(r.office_code for r in rows(hub_node, ct.central_operation)) == ["BBB", "MND"]


def test_an_operation_id_replayed_with_another_body_is_refused_and_says_so(hub_node) -> None:  # noqa: ANN001
    app_id, op_id = str(uuid.uuid4()), str(uuid.uuid4())
    assert push(hub_node, [booked(app_id, op_id=op_id)])[0].ok
    assert push(hub_node, [booked(app_id, op_id=op_id)])[0].ok  # the same body: the same answer
    other = push(hub_node, [booked(str(uuid.uuid4()), op_id=op_id)])[0]
    assert (other.ok, other.permanent) == (False, True)
    assert "already used by office MND with a different body" in other.error
    assert count(hub_node, ct.registry_application) == 1


def test_a_refusal_is_evaluated_again_when_the_office_retries_after_the_cause_was_fixed(hub_node) -> None:  # noqa: ANN001
    """A print on a serial not yet allocated is refused; once the range is allocated the same
    operation (the office's dead letter, retried) applies."""
    from kanim.central import service
    from tests.integration.test_central import register

    register(hub_node, "MND")
    ops, app_id = Ops(), str(uuid.uuid4())
    for step in ([ops.booked(app_id)], [ops.intake(app_id, SITI.nik, SITI.full_name, "1990-08-05", "F")]):
        assert all(r.ok for r in push(hub_node, step))
    print_op = ops(app_id, "PassportPrinted", booklet_serial="X7000001", issued_on="2026-11-30",
                   expires_on="2036-11-29")
    assert not push(hub_node, [print_op])[0].ok
    service.allocate_booklets(hub_node, office_code="MND", first="X7000001", last="X7000010", actor="t")
    assert push(hub_node, [print_op])[0].ok
    assert [r.ok for r in rows(hub_node, ct.central_operation, ct.central_operation.c.id == print_op.id)] == [True]


# -- 8. unknown types and order -------------------------------------------------------------------

def test_an_unknown_operation_type_is_refused_for_good(hub_node) -> None:  # noqa: ANN001
    app_id = str(uuid.uuid4())
    results = push(hub_node, [booked(app_id), raw(str(uuid.uuid4()), 2, app_id, "ApplicationTeleported")])
    assert results[0].ok and (results[1].ok, results[1].permanent) == (False, True)
    assert "unknown operation type 'ApplicationTeleported'" in results[1].error


def test_an_applications_operations_apply_in_sequence_order_whatever_their_order_in_the_batch(hub_node) -> None:  # noqa: ANN001
    app_id = str(uuid.uuid4())
    later = raw(str(uuid.uuid4()), 40, app_id, "ApplicationApproved")
    earlier = raw(str(uuid.uuid4()), 39, app_id, "ApplicantCheckedIn", queue_ticket="A-001")
    results = push(hub_node, [booked(app_id, 1), later, earlier])
    assert all(r.ok for r in results), results
    assert [r.id for r in results[1:]] == [later["id"], earlier["id"]]  # answered in the batch's order
    (app,) = rows(hub_node, ct.registry_application)
    assert (app.stage, app.last_office_seq) == ("approved", 40)


def test_an_operation_older_than_what_the_registry_holds_is_refused(hub_node) -> None:  # noqa: ANN001
    app_id = str(uuid.uuid4())
    assert all(r.ok for r in push(hub_node, [booked(app_id, 1), raw(str(uuid.uuid4()), 40, app_id,
                                                                    "ApplicationApproved")]))
    late = push(hub_node, [raw(str(uuid.uuid4()), 39, app_id, "ApplicantCheckedIn")])[0]
    assert (late.ok, late.permanent) == (False, True) and "out of order" in late.error
    assert rows(hub_node, ct.registry_application)[0].stage == "approved"


# -- 7. biometrics sealed at rest, reads audited --------------------------------------------------

def _capture(app_id: str, seq: int, image: bytes) -> dict:
    return raw(str(uuid.uuid4()), seq, app_id, "BiometricsCaptured", fingerprints=0, finger_exceptions=10,
               biometrics=[{"position": 0, "sha256": hashlib.sha256(image).hexdigest(), "size_bytes": len(image),
                            "data": base64.b64encode(image).decode()},
                           {"position": 1, "exception": "injured"}])


def test_the_registry_keeps_biometrics_sealed_and_opens_them_only_with_its_key(hub_node) -> None:  # noqa: ANN001
    face, app_id = face_photo(), str(uuid.uuid4())
    assert all(r.ok for r in push(hub_node, [booked(app_id), _capture(app_id, 2, face)]))
    stored = {r.position: r for r in rows(hub_node, ct.registry_biometric)}
    assert stored[0].data is None and stored[0].sealed is not None
    blob = bytes(stored[0].sealed)
    assert face[:64] not in blob and base64.b64encode(face)[:64] not in blob  # no image in the database
    assert stored[1].sealed is None and stored[1].exception == "injured"
    assert biometrics.read(hub_node, application_id=app_id, position=0, actor="sup", purpose="review") == face
    stranger = biometrics.Keyring(hub_node.biometric_keys.path, b"\0" * 32)
    with pytest.raises(Exception, match="no key"):
        stranger.unseal(blob, biometrics.aad(app_id, 0))
    with pytest.raises(Exception, match="failed authentication"):  # moved to another row
        hub_node.biometric_keys.unseal(blob, biometrics.aad(app_id, 1))


def test_every_read_of_a_registry_biometric_is_audited(hub_node) -> None:  # noqa: ANN001
    from kanim.store import tables as t

    face, app_id = face_photo(), str(uuid.uuid4())
    push(hub_node, [booked(app_id), _capture(app_id, 2, face)])
    biometrics.read(hub_node, application_id=app_id, position=0, actor="supervisor", purpose="duplicate review")
    (audit,) = rows(hub_node, t.audit_event, t.audit_event.c.action == "BiometricRead")
    assert (audit.actor, audit.subject, audit.detail) == ("supervisor", app_id,
                                                          {"position": 0, "purpose": "duplicate review"})


def test_a_rotated_key_reseals_every_image_and_retired_keys_go_only_when_unused(hub_node, tmp_path) -> None:  # noqa: ANN001
    face, app_id = face_photo(), str(uuid.uuid4())
    push(hub_node, [booked(app_id), _capture(app_id, 2, face)])
    before = biometrics.key_id(hub_node.biometric_keys.current)
    done = biometrics.rekey(hub_node, actor="cli")
    assert done == {"resealed": 1, "retired_keys": 1}
    (row,) = [r for r in rows(hub_node, ct.registry_biometric) if r.sealed is not None]
    assert hub_node.biometric_keys.sealed_with(bytes(row.sealed)) != before
    assert biometrics.prune_retired(hub_node) == 1
    reopened = bootstrap_central(hub_node.settings, engine=hub_node.engine)  # what a restart loads
    assert biometrics.read(reopened, application_id=app_id, position=0, actor="s", purpose="after rekey") == face


def test_plain_images_stored_before_sealing_are_sealed_when_the_central_starts(hub_node) -> None:  # noqa: ANN001
    face, app_id = face_photo(), str(uuid.uuid4())
    push(hub_node, [booked(app_id)])
    with hub_node.uow() as uow:  # a row as the previous release wrote it
        uow.session.execute(ct.registry_biometric.insert().values(
            application_id=app_id, position=0, office_code="MND", sha256=hashlib.sha256(face).hexdigest(),
            size_bytes=len(face), data=base64.b64encode(face).decode()))
        uow.commit()
    assert biometrics.seal_plaintext(hub_node) == 1
    (row,) = rows(hub_node, ct.registry_biometric)
    assert row.data is None and biometrics.read(hub_node, application_id=app_id, position=0, actor="s",
                                                purpose="check") == face


# -- what the review found ---------------------------------------------------------------------

@pytest.mark.parametrize("case, fields", [
    ("a birth date given as a number", {"nik": SITI.nik, "full_name": SITI.full_name, "birth_date": 0, "sex": "F"}),
    ("a name with a NUL", {"nik": SITI.nik, "full_name": "Siti\x00Rahmawati", "birth_date": "1990-08-05", "sex": "F"}),
])
def test_an_intake_the_registry_cannot_hold_is_refused_not_stored_empty(hub_node, case, fields) -> None:  # noqa: ANN001
    app_id = str(uuid.uuid4())
    results = push(hub_node, [booked(app_id), raw(str(uuid.uuid4()), 2, app_id, "IntakeCompleted", **fields)])
    assert results[0].ok and (results[1].ok, results[1].permanent) == (False, True), (case, results)
    (app,) = rows(hub_node, ct.registry_application)
    assert (app.stage, app.birth_date, app.full_name) == ("booked", None, None)


def test_a_subject_longer_than_an_application_id_and_an_amount_beyond_the_column_are_refused(hub_node) -> None:  # noqa: ANN001
    app_id = str(uuid.uuid4())
    long = push(hub_node, [booked("A" * 40)])[0]
    assert not long.ok and long.permanent and "subject" in long.error
    push(hub_node, [booked(app_id)])
    big = push(hub_node, [raw(str(uuid.uuid4()), 2, app_id, "BillingIssued", billing_code="812345678901234",
                              amount=2**31)])[0]
    assert not big.ok and big.permanent and "payload.amount" in big.error


def test_the_same_id_twice_in_one_batch_with_different_bodies_is_refused_the_second_time(hub_node) -> None:  # noqa: ANN001
    a, b = str(uuid.uuid4()), str(uuid.uuid4())
    first, second = booked(a, 1, op_id="11111111-1111-4111-8111-111111111111"), booked(b, 2)
    second["id"] = first["id"]
    results = push(hub_node, [first, second])
    assert results[0].ok and not results[1].ok and "twice in this batch with different bodies" in results[1].error
    assert [r.id for r in rows(hub_node, ct.registry_application)] == [a]


def test_a_prune_keeps_the_key_a_running_central_seals_with(hub_node) -> None:  # noqa: ANN001
    face, app_id = face_photo(), str(uuid.uuid4())
    biometrics.record_sealing_key(hub_node)  # the running central says so when it starts
    old = biometrics.key_id(hub_node.biometric_keys.current)
    biometrics.rekey(hub_node, actor="cli")  # the operator rotates while it runs
    assert biometrics.prune_retired(hub_node) == 0  # too early: the running central still seals with `old`
    running = biometrics.Keyring(hub_node.biometric_keys.path, hub_node.biometric_keys.retired[old])
    blob = running.seal(face, biometrics.aad(app_id, 0))  # what it seals meanwhile stays readable
    assert biometrics.Keyring.open(hub_node.biometric_keys.path).unseal(blob, biometrics.aad(app_id, 0)) == face
    restarted = bootstrap_central(hub_node.settings, engine=hub_node.engine)
    biometrics.record_sealing_key(restarted)
    assert biometrics.prune_retired(restarted) == 1


# -- set-based writes: what a batch gathers lands as if each operation had written it ------------

def test_a_number_booked_twice_in_one_batch_is_refused_the_second_time(hub_node) -> None:  # noqa: ANN001
    first, second = str(uuid.uuid4()), str(uuid.uuid4())
    number = "MND-20261130-0007"
    results = push(hub_node, [raw(str(uuid.uuid4()), 1, first, "ApplicationBooked", number=number, app_type="new",
                                  passport_kind="ordinary"),
                              raw(str(uuid.uuid4()), 2, second, "ApplicationBooked", number=number, app_type="new",
                                  passport_kind="ordinary")])
    assert [r.ok for r in results] == [True, False]
    assert results[1].permanent and "already held by another application" in results[1].error
    assert [r.id for r in rows(hub_node, ct.registry_application)] == [first]


def test_an_application_booked_and_moved_in_one_batch_is_written_as_it_ends(hub_node) -> None:  # noqa: ANN001
    """Its INSERT carries the batch's later touches; others touched alike share one statement."""
    apps = [str(uuid.uuid4()) for _ in range(3)]
    ops = [booked(a, 1) for a in apps[:2]]
    results = push(hub_node, ops)
    assert all(r.ok for r in results)
    batch = [raw(str(uuid.uuid4()), 2, apps[0], "ApplicantCheckedIn"), raw(str(uuid.uuid4()), 2, apps[1],
                                                                             "ApplicantCheckedIn"),
             booked(apps[2], 1), raw(str(uuid.uuid4()), 2, apps[2], "ApplicantCheckedIn"),
             raw(str(uuid.uuid4()), 3, apps[1], "ApplicationCancelled", reason="applicant withdrew")]
    assert all(r.ok for r in push(hub_node, batch))
    got = {r.id: (r.stage, r.last_office_seq) for r in rows(hub_node, ct.registry_application)}
    assert got == {apps[0]: ("checked_in", 2), apps[1]: ("cancelled", 3), apps[2]: ("checked_in", 2)}


def test_images_captured_twice_in_one_batch_keep_the_later_and_the_positions_not_resent(hub_node) -> None:  # noqa: ANN001
    app_id = str(uuid.uuid4())
    face, other = face_photo(), face_photo()[:-10] + b"\xff\xd9" * 5
    assert all(r.ok for r in push(hub_node, [booked(app_id), _capture(app_id, 2, face)]))
    again = _capture(app_id, 3, other)
    again["payload"]["biometrics"] = again["payload"]["biometrics"][:1]  # only the face again
    third = _capture(app_id, 4, face)
    third["payload"]["biometrics"] = third["payload"]["biometrics"][:1]
    assert all(r.ok for r in push(hub_node, [again, third]))
    stored = {r.position: r for r in rows(hub_node, ct.registry_biometric)}
    assert sorted(stored) == [0, 1] and stored[1].exception == "injured"  # position 1 kept from the first capture
    assert biometrics.read(hub_node, application_id=app_id, position=0, actor="t", purpose="check") == face
