"""The protocol package on its own: declared names, the version rule, the feed's signature."""

from __future__ import annotations

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from kanim.protocol import OLDEST_VERSION, PROTOCOL_VERSION, VersionUnsupported, version_of
from kanim.protocol.feed import FEED_SIGNATURE, sign_event, verify_event
from kanim.protocol.operations import Op
from kanim.protocol.schemas import SCHEMAS
from kanim.protocol.signing import SignatureError, public_b64
from kanim.protocol.wire import Operation


def test_an_office_that_declares_no_version_speaks_version_1() -> None:
    assert version_of(None) == version_of("") == 1 == OLDEST_VERSION


def test_every_version_from_the_oldest_to_this_one_is_spoken() -> None:
    assert [version_of(str(v)) for v in range(OLDEST_VERSION, PROTOCOL_VERSION + 1)] == list(
        range(OLDEST_VERSION, PROTOCOL_VERSION + 1))


@pytest.mark.parametrize("declared", [str(PROTOCOL_VERSION + 1), "0", "-1", "2.0", "two", "٣", "9" * 40])
def test_a_version_this_central_does_not_speak_is_refused_with_the_fix(declared: str) -> None:
    with pytest.raises(VersionUnsupported) as e:
        version_of(declared)
    assert "X-Kanim-Protocol" in str(e.value) or "upgrade the central" in str(e.value)


def test_operation_names_are_the_names_version_1_put_on_the_wire() -> None:
    # Renaming one would make every version 1 office's queued work unknown to the central.
    assert Op.APPLICATION_BOOKED == "ApplicationBooked" and Op.CHIP_PERSONALISED == "ChipPersonalised"
    assert len({o.value for o in Op}) == len(Op) == len(SCHEMAS)


def test_an_operation_is_pushed_as_its_five_fields() -> None:
    op = Operation("id-1", 3, "app-1", Op.PASSPORT_READY, {"booklet_serial": "X1"}, "MND")
    assert op.document() == {"id": "id-1", "seq": 3, "subject": "app-1", "op": "PassportReady",
                             "payload": {"booklet_serial": "X1"}}
    assert type(op.document()["op"]) is str


def test_a_feed_event_verifies_with_the_central_key_and_not_once_changed() -> None:
    key = Ed25519PrivateKey.generate()
    payload = sign_event(key, "e1", "clearance", "app-1", {"kind": "nik_verified", "state": "confirmed"})
    assert FEED_SIGNATURE in payload
    verify_event(public_b64(key), "e1", "clearance", "app-1", payload)
    with pytest.raises(SignatureError):
        verify_event(public_b64(key), "e1", "clearance", "app-2", payload)
    with pytest.raises(SignatureError):
        verify_event(public_b64(key), "e1", "clearance", "app-1", {**payload, "state": "flagged"})


@pytest.mark.parametrize("number", [float("nan"), float("inf"), float("-inf")])
def test_an_operation_carrying_a_number_json_does_not_have_is_refused(number: float) -> None:
    """Python's JSON parser reads NaN and Infinity; kept, such a payload would come back from
    the central's history as null and never verify (kanim/backup/rebuild.py)."""
    from kanim.protocol.schemas import OperationInvalid, envelope

    raw = {"id": "op-1", "seq": 1, "subject": "a1", "op": "BillingIssued",
           "payload": {"subject": "a1", "at": "2026-12-01T01:00:00+00:00", "extra": [{"x": number}]}}
    with pytest.raises(OperationInvalid, match="NaN or infinite"):
        envelope(raw)
    raw["payload"]["extra"] = [{"x": 1.5}]
    assert envelope(raw).id == "op-1"
