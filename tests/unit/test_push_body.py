"""The push body of each protocol version (kanim/protocol/batch.py): what goes in comes out, and
a body that is not its layout is refused whole with a reason, never half read."""

from __future__ import annotations

import hashlib
import json
import struct
import zlib

import pytest

from kanim.protocol import batch
from kanim.protocol.schemas import MAX_OPERATIONS, body_digest, envelope, normalized, payload
from kanim.protocol.wire import Operation

FACE, PRINT = bytes(range(256)) * 150, b"\xff\x4f\xff\x51" + b"\x00\x01" * 9000  # no UTF-8, no JSON


def capture(op_id: str = "op-1", images: tuple[bytes, ...] = (FACE, PRINT)) -> Operation:
    items = [{"position": i, "exception": None, "sha256": hashlib.sha256(d).hexdigest(), "size_bytes": len(d),
              "data": d} for i, d in enumerate(images)]
    items.append({"position": 10, "exception": "injured", "sha256": None, "size_bytes": 0, "data": None})
    return Operation(op_id, 7, "app-1", "BiometricsCaptured",
                     {"subject": "app-1", "at": "2026-12-02T01:00:00+00:00", "actor": "bio", "fingerprints": 1,
                      "finger_exceptions": 1, "biometrics": items}, "MND")


def booked(op_id: str) -> Operation:
    return Operation(op_id, 1, "app-1", "ApplicationBooked", {"subject": "app-1", "at": "2026-12-02T01:00:00+00:00",
                                                             "number": "MND-1", "app_type": "new",
                                                             "passport_kind": "ordinary"}, "MND")


@pytest.mark.parametrize("version", [None, 1, 2, 3])
def test_every_version_carries_the_same_operations_and_digests(version) -> None:  # noqa: ANN001
    ops = [booked("op-0"), capture()]
    body, content_type = batch.encode(ops, version=version)
    binary = version == 3
    assert content_type == (batch.CONTENT_TYPE if binary else batch.JSON_TYPE)
    decoded = batch.decode(body, version=version or 1, max_document=10_000_000)
    assert [d["id"] for d in decoded] == ["op-0", "op-1"]
    for op, raw in zip(ops, decoded, strict=True):
        env = envelope(raw)
        assert body_digest(env.seq, env.subject, env.op, env.payload) == body_digest(
            op.seq, op.subject, op.op, op.payload)  # a resend under another version is the same operation
        checked = normalized(env.payload, payload(env.op, env.payload))
        if op.op == "BiometricsCaptured":
            images = [i["data"] for i in checked["biometrics"]]
            assert [type(i) for i in images] == ([bytes, bytes, type(None)] if binary else [str, str, type(None)])
            model = payload(env.op, env.payload)
            assert [i.image() for i in model.biometrics] == [FACE, PRINT, None]
    if binary:
        assert FACE in body and PRINT in body and len(body) < len(FACE) + len(PRINT) + 1000
    else:
        assert len(body) > (len(FACE) + len(PRINT)) * 4 // 3


def test_the_binary_batch_is_smaller_than_base64_in_json() -> None:
    ops = [booked(f"op-{i}") for i in range(200)] + [capture(f"cap-{i}") for i in range(10)]
    json_body, _ = batch.encode(ops, version=2)
    binary, _ = batch.encode(ops, version=3)
    images = 10 * (len(FACE) + len(PRINT))
    assert len(binary) - images < (len(json_body) - images * 4 // 3) / 3  # the rest compressed


def frame(document: dict, parts: bytes = b"", *, raw: bytes | None = None) -> bytes:
    doc = raw if raw is not None else zlib.compress(json.dumps(document).encode())
    return struct.pack(">4sI", b"KNB3", len(doc)) + doc + parts


def item(part) -> dict:  # noqa: ANN001
    return {"id": "op-1", "seq": 1, "subject": "a", "op": "BiometricsCaptured",
            "payload": {"biometrics": [{"position": 0, "part": part}]}}


@pytest.mark.parametrize("body, says", [
    (b"", "too short"),
    (b'{"operations": []}', "not one"),
    (b"KNB3\x00\x00\x00\x09abc", "cut short"),
    (frame({}, raw=b"not zlib"), "not zlib"),
    (frame({}, raw=zlib.compress(b"[1, 2]")), "must be an object"),
    (frame({}, raw=zlib.compress(b"{nope")), "not valid JSON"),
    (frame({}, raw=zlib.compress(b"\xff\xfe")), "not valid JSON"),
    (frame({}, raw=zlib.compress(b'{"operations": []}')[:-3]), "cut short"),
    (frame({}, raw=zlib.compress(b'{"operations": []}') + b"junk"), "bytes after its end"),
    (frame({"operations": {}}), "list `operations`"),
    (frame({"operations": [None] * (MAX_OPERATIONS + 1), "parts": []}), f"at most {MAX_OPERATIONS}"),
    (frame({"operations": [], "parts": [3]}, b"ab"), "add up to 3"),
    (frame({"operations": [], "parts": [1]}, b"a"), "named by no image"),
    (frame({"operations": [], "parts": [-1]}), "length of each image"),
    (frame({"operations": [], "parts": [True]}, b"a"), "length of each image"),
    (frame({"operations": [], "parts": "3"}), "length of each image"),
    (frame({"operations": [item(1)], "parts": [1]}, b"a"), "does not carry"),
    (frame({"operations": [item("0")], "parts": [1]}, b"a"), "does not carry"),
    (frame({"operations": [item(0), item(0)], "parts": [1]}, b"a"), "already named"),
])
def test_a_body_that_is_not_its_layout_is_refused_with_a_reason(body: bytes, says: str) -> None:
    with pytest.raises(batch.BodyMalformed, match=says):
        batch.decode(body, version=3, max_document=1_000_000)


def test_a_small_document_that_inflates_past_the_limit_is_refused_before_it_is_held() -> None:
    bomb = zlib.compress(b'{"operations": [' + b" " * 50_000_000 + b"]}", 9)
    assert len(bomb) < 100_000
    with pytest.raises(batch.BodyMalformed, match="larger than 1000000 bytes"):
        batch.decode(frame({}, raw=bomb), version=3, max_document=1_000_000)


@pytest.mark.parametrize("body", [b"", b"{", b"[]", b'{"operations": 3}', b"\xff"])
def test_a_json_body_that_is_not_a_batch_is_refused_too(body: bytes) -> None:
    with pytest.raises(batch.BodyMalformed):
        batch.decode(body, version=2, max_document=1_000_000)


def test_an_operation_the_encoder_cannot_carry_is_an_error_not_a_silent_loss() -> None:
    odd = Operation("op-1", 1, "a", "ApplicationBooked", {"when": object()}, "MND")
    with pytest.raises(TypeError, match="cannot go in a push"):
        batch.encode([odd], version=2)
