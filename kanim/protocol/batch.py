"""How a batch of operations travels in a push (`POST /api/v1/link/operations`), by protocol
version (docs/protocol.md, "The push body").

Versions 1 and 2: JSON, `{"operations": [...]}`, each capture's images base64 in `data`.

Version 3, the binary batch (`Content-Type: application/vnd.kanim.batch`):

    b"KNB3"      4 bytes: the layout's mark
    n            4 bytes, big-endian: the length of the document
    document     n bytes: zlib of the UTF-8 JSON {"operations": [...], "parts": [length, ...]}
    parts        the images as they are, one after another, of the lengths `parts` lists

An image item of a capture names its part (`"part": i`) instead of carrying `data`, and every
part is named by exactly one item. Why: base64 made every image a third bigger and cost an
encode and a decode of each byte, and the JSON around the images (ids, names, dates, keys
repeated in every operation) shrinks to a fraction under zlib; the images themselves (JPEG,
JPEG 2000) do not compress, so they go as they are.

Decoded, a version 3 batch is the same list of operation objects a JSON batch is, with each
image's `data` as bytes instead of base64: from there the central reads both alike, and an
operation's body digest (`schemas.body_digest`, which counts images by their digest) is the same
whichever version carried it, so a batch resent under another version is recognised as a resend.
"""

from __future__ import annotations

import base64
import json
import struct
import zlib
from collections.abc import Sequence
from typing import Any

from kanim.protocol.schemas import MAX_OPERATIONS
from kanim.protocol.wire import Operation

BINARY_FROM = 3  # the first protocol version whose pushes are binary batches
MAGIC = b"KNB3"
CONTENT_TYPE = "application/vnd.kanim.batch"
JSON_TYPE = "application/json"
_HEAD = struct.Struct(">4sI")
# zlib level 1: the document is small beside the images, and level 6 costs several times the CPU
# for a few per cent fewer bytes (bench/README.md, "The push body").
LEVEL = 1


class BodyMalformed(ValueError):
    """The body is not the layout its version declares: the whole batch is refused (400
    `request-malformed`), since no operation in it can be told apart with certainty."""


def encode(operations: Sequence[Operation], *, version: int | None) -> tuple[bytes, str]:
    """The push body for `operations` under `version` (None: a version 1 office), and its type."""
    documents = [o.document() for o in operations]
    if (version or 1) >= BINARY_FROM:
        return encode_binary(documents), CONTENT_TYPE
    return json.dumps({"operations": documents}, separators=(",", ":"), default=_base64).encode(), JSON_TYPE


def _base64(value: Any) -> str:
    if isinstance(value, (bytes, bytearray, memoryview)):
        return base64.b64encode(value).decode()
    raise TypeError(f"{type(value).__name__} cannot go in a push")


def encode_binary(documents: list[dict[str, Any]]) -> bytes:
    parts: list[bytes] = []
    out = [_with_parts(d, parts) for d in documents]
    doc = zlib.compress(json.dumps({"operations": out, "parts": [len(p) for p in parts]},
                                   separators=(",", ":")).encode(), LEVEL)
    return b"".join([_HEAD.pack(MAGIC, len(doc)), doc, *parts])


def _with_parts(document: dict[str, Any], parts: list[bytes]) -> dict[str, Any]:
    items = document["payload"].get("biometrics")
    if not isinstance(items, list):
        return document
    moved = []
    for item in items:
        data = item.get("data")
        if isinstance(data, bytes):
            item = {k: v for k, v in item.items() if k != "data"} | {"part": len(parts)}
            parts.append(data)
        moved.append(item)
    return {**document, "payload": {**document["payload"], "biometrics": moved}}


def decode(body: bytes, *, version: int, max_document: int) -> list[Any]:
    """The operations of a push body as sent under `version`: raw objects, each checked on its
    own afterwards (kanim.central.apply). BodyMalformed when the body is not its layout at all.
    `max_document` bounds the decompressed document (a small body must not inflate without end)."""
    if version < BINARY_FROM:
        try:
            doc = json.loads(body)
        except (ValueError, UnicodeDecodeError) as e:
            raise BodyMalformed(f"the body is not valid JSON: {type(e).__name__}") from None
        return _operations(doc)
    if len(body) < _HEAD.size:
        raise BodyMalformed("a version 3 push is a binary batch and this body is too short for one")
    magic, n = _HEAD.unpack_from(body)
    if magic != MAGIC:
        raise BodyMalformed(f"a version 3 push is a binary batch ({CONTENT_TYPE}) and this body is not one")
    if n > len(body) - _HEAD.size:
        raise BodyMalformed("the batch's document is cut short")
    doc = _document(body[_HEAD.size:_HEAD.size + n], max_document)
    operations = _operations(doc)
    parts = _parts(doc.get("parts"), memoryview(body)[_HEAD.size + n:])
    used = [False] * len(parts)
    resolved = [_resolved(op, parts, used) for op in operations]
    if not all(used):
        raise BodyMalformed(f"part {used.index(False)} of the batch is named by no image")
    return resolved


def _document(compressed: bytes, limit: int) -> dict[str, Any]:
    inflate = zlib.decompressobj()
    try:
        raw = inflate.decompress(compressed, limit)
    except zlib.error:
        raise BodyMalformed("the batch's document is not zlib data") from None
    if inflate.unconsumed_tail or not inflate.eof:
        raise BodyMalformed(f"the batch's document is cut short or larger than {limit} bytes once inflated")
    if inflate.unused_data:
        raise BodyMalformed("the batch's document has bytes after its end")
    try:
        doc = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as e:
        raise BodyMalformed(f"the batch's document is not valid JSON: {type(e).__name__}") from None
    if not isinstance(doc, dict):
        raise BodyMalformed("the batch's document must be an object")
    return doc


def _operations(doc: Any) -> list[Any]:
    operations = doc.get("operations") if isinstance(doc, dict) else None
    if not isinstance(operations, list):
        raise BodyMalformed("the body must be an object with a list `operations`")
    if len(operations) > MAX_OPERATIONS:
        raise BodyMalformed(f"a push carries at most {MAX_OPERATIONS} operations")
    return operations


def _parts(lengths: Any, rest: memoryview) -> list[memoryview]:
    if not isinstance(lengths, list) or not all(type(n) is int and n >= 0 for n in lengths):
        raise BodyMalformed("`parts` must list the length of each image, in bytes")
    if sum(lengths) != len(rest):
        raise BodyMalformed(f"`parts` add up to {sum(lengths)} bytes and the body carries {len(rest)} after "
                            "its document")
    parts, at = [], 0
    for n in lengths:
        parts.append(rest[at:at + n])
        at += n
    return parts


def _resolved(op: Any, parts: list[memoryview], used: list[bool]) -> Any:
    """The operation with each image item's `part` replaced by the part's bytes (`data`)."""
    payload = op.get("payload") if isinstance(op, dict) else None
    items = payload.get("biometrics") if isinstance(payload, dict) else None
    if not isinstance(items, list):
        return op
    out = []
    for item in items:
        if isinstance(item, dict) and "part" in item:
            i = item["part"]
            if type(i) is not int or not 0 <= i < len(parts) or used[i]:
                raise BodyMalformed("an image names a part the batch does not carry, or one already named")
            used[i] = True
            item = {k: v for k, v in item.items() if k != "part"} | {"data": bytes(parts[i])}
        out.append(item)
    return {**op, "payload": {**payload, "biometrics": out}}
