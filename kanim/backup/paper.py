"""Keys written on paper: base32 in groups of four, with a checksum, so a key typed back in at
3 a.m. with one wrong letter is refused with that reason instead of failing later as "cannot
decrypt". Pure: no I/O."""

from __future__ import annotations

import base64
import hashlib

GROUP = 4
CHECK_BYTES = 4


class PaperKeyError(ValueError):
    pass


def encode(data: bytes) -> str:
    """`data` and its checksum in base32, in dash-separated groups of four letters/digits."""
    text = base64.b32encode(data + _check(data)).decode().rstrip("=")
    return "-".join(text[i:i + GROUP] for i in range(0, len(text), GROUP))


def decode(text: str) -> bytes:
    """The bytes a paper key holds; spaces, dashes, line breaks and case do not matter."""
    letters = "".join(c for c in text.upper() if c not in " -\t\r\n")
    # Typed from paper: 0/O and 1/I/L look alike, and base32 has no 0, 1 or 8.
    letters = letters.replace("0", "O").replace("1", "I").replace("8", "B")
    try:
        raw = base64.b32decode(letters + "=" * (-len(letters) % 8))
    except ValueError:
        raise PaperKeyError("the key holds characters that are not in a paper key (A-Z, 2-7)") from None
    data, check = raw[:-CHECK_BYTES], raw[-CHECK_BYTES:]
    if len(raw) <= CHECK_BYTES or _check(data) != check:
        raise PaperKeyError("the key has a typo: its checksum does not match (compare each group with the paper)")
    return data


def _check(data: bytes) -> bytes:
    return hashlib.sha256(b"kanim-paper-key" + data).digest()[:CHECK_BYTES]


def labelled(lines: str) -> dict[str, str]:
    """`name: KEY` lines of a key sheet (blank lines and lines starting with # skipped)."""
    found = {}
    for line in lines.splitlines():
        line = line.strip()
        if not line or line.startswith("#") or ":" not in line:
            continue
        name, _, value = line.partition(":")
        found[name.strip()] = value.strip()
    return found
