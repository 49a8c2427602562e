"""BER-TLV as the LDS files use it (9303 Part 10 §4): ICAO's application-class tags (0x61,
0x5F1F, 0x7F61) with definite lengths. asn1crypto writes the security object; these plain
templates are only nested tag-length-value, so a few lines serve, both ways."""

from __future__ import annotations


class TlvError(ValueError):
    """A file is not well-formed BER-TLV; the message says where."""


def encode(tag: int, value: bytes) -> bytes:
    return _tag_bytes(tag) + _length(len(value)) + value


def _tag_bytes(tag: int) -> bytes:
    return tag.to_bytes((tag.bit_length() + 7) // 8 or 1, "big")


def _length(n: int) -> bytes:
    if n < 0x80:
        return bytes([n])
    body = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes([0x80 | len(body)]) + body


def decode(data: bytes, offset: int = 0) -> tuple[int, bytes, int]:
    """(tag, value, offset after it) of the object at `offset`."""
    try:
        tag, i = data[offset], offset + 1
        if tag & 0x1F == 0x1F:  # multi-byte tag: continues while the high bit is set
            while True:
                tag, i = (tag << 8) | data[i], i + 1
                if not data[i - 1] & 0x80:
                    break
        n, i = data[i], i + 1
        if n & 0x80:
            count = n & 0x7F
            if count == 0 or count > 4:
                raise TlvError(f"unsupported length form at byte {i - 1}")
            n, i = int.from_bytes(data[i:i + count], "big"), i + count
    except IndexError:
        raise TlvError(f"truncated object at byte {offset}") from None
    if i + n > len(data):
        raise TlvError(f"object at byte {offset} runs past the end of the file")
    return tag, data[i:i + n], i + n


def children(value: bytes) -> list[tuple[int, bytes]]:
    """The objects a constructed value holds, in order."""
    out, i = [], 0
    while i < len(value):
        tag, v, i = decode(value, i)
        out.append((tag, v))
    return out


def unwrap(data: bytes, tag: int) -> bytes:
    """The value of a file that must be exactly one object with `tag`."""
    got, value, end = decode(data)
    if got != tag:
        raise TlvError(f"expected tag {tag:X}, found {got:X}")
    if end != len(data):
        raise TlvError("bytes after the file's object")
    return value


def first(value: bytes, tag: int) -> bytes:
    for t, v in children(value):
        if t == tag:
            return v
    raise TlvError(f"no object with tag {tag:X}")
