"""What a backup target holds, as bytes. Pure: no I/O.

- `packs/<sha256>`: blobs (pieces of files) encrypted with a fresh random pack key; the pack key
  is sealed to the office's public key in the pack's head. A pack's name is the SHA-256 of its
  bytes, so damage is found without any key (the target checks it on upload, verify again).
- `snapshots/<UTC time>-<random>`: a manifest (which files, which blobs, where each blob is),
  compressed and sealed to the public key, its name bound in as associated data: a manifest cannot
  be renamed to pass for another time.
- `drills/<UTC time>-<random>`: a drill's result, plain JSON (no personal data: counts, times).
"""

from __future__ import annotations

import hashlib
import json
import re
import secrets
import struct
import zlib
from dataclasses import dataclass, field
from datetime import UTC, datetime

from kanim.backup import crypto

PACK_MAGIC = b"KNBP1\n"
FORMAT = 1
KINDS = ("packs", "snapshots", "drills", "wal")
NAME = re.compile(r"^(?:[0-9a-f]{64}|[0-9]{8}T[0-9]{6}Z-[0-9a-f]{8})$")
# PostgreSQL's own names for what it archives: WAL segments, timeline histories, backup labels.
WAL_NAME = re.compile(r"^(?:[0-9A-F]{24}(?:\.[0-9A-F]{8}\.backup|\.partial)?|[0-9A-F]{8}\.history)$")


def valid_name(kind: str, name: str) -> bool:
    """Whether `name` may be an object of `kind`: what a target stores and lists, nothing else."""
    return bool((WAL_NAME if kind == "wal" else NAME).match(name))
RAW, ZLIB = b"\x00", b"\x01"
TIME_FORMAT = "%Y%m%dT%H%M%SZ"


class FormatError(Exception):
    pass


# -- names ----------------------------------------------------------------------------------------

def timed_name(at: datetime) -> str:
    return f"{at.astimezone(UTC):{TIME_FORMAT}}-{secrets.token_hex(4)}"


def time_of(name: str) -> datetime:
    return datetime.strptime(name.split("-")[0], TIME_FORMAT).replace(tzinfo=UTC)


def pack_name(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


# -- packs ----------------------------------------------------------------------------------------

@dataclass
class PackWriter:
    """Blobs gathered into one pack, each encrypted under the pack's own key as it comes."""

    public: bytes
    key: bytes = field(default_factory=lambda: secrets.token_bytes(crypto.KEY_BYTES))
    entries: list[tuple[str, int, int]] = field(default_factory=list)  # blob id, offset, length
    bodies: list[bytes] = field(default_factory=list)
    size: int = 0

    def add(self, bid: str, data: bytes, *, compress: bool) -> None:
        payload = RAW + data
        if compress:
            packed = zlib.compress(data, 1)
            if len(packed) < len(data) * 0.9:  # not worth a decompression otherwise
                payload = ZLIB + packed
        body = crypto.encrypt(self.key, payload, bid.encode())
        self.entries.append((bid, self.size, len(body)))
        self.bodies.append(body)
        self.size += len(body)

    def finish(self) -> tuple[str, bytes, list[tuple[str, int, int]]]:
        """(pack name, pack bytes, entries with offsets from the pack's start)."""
        sealed_key = crypto.seal(self.public, self.key, b"kanim-pack-key")
        index = json.dumps([[b, o, n] for b, o, n in self.entries]).encode()
        head = PACK_MAGIC + struct.pack(">II", len(sealed_key), len(index)) + sealed_key + index
        data = head + b"".join(self.bodies)
        return pack_name(data), data, [(b, len(head) + o, n) for b, o, n in self.entries]


def pack_key(private: bytes, data: bytes) -> bytes:
    if not data.startswith(PACK_MAGIC):
        raise FormatError("not a kanim backup pack")
    key_len, _ = struct.unpack(">II", data[len(PACK_MAGIC):len(PACK_MAGIC) + 8])
    start = len(PACK_MAGIC) + 8
    return crypto.open_sealed(private, data[start:start + key_len], b"kanim-pack-key")


def read_blob(key: bytes, data: bytes, bid: str, offset: int, length: int) -> bytes:
    """The blob's plaintext, checked twice: AES-GCM under its id, then its id recomputed."""
    payload = crypto.decrypt(key, data[offset:offset + length], bid.encode())
    return zlib.decompress(payload[1:]) if payload[:1] == ZLIB else payload[1:]


# -- manifests ------------------------------------------------------------------------------------

def seal_manifest(public: bytes, name: str, manifest: dict) -> bytes:
    return crypto.seal(public, zlib.compress(json.dumps(manifest).encode(), 6), b"kanim-snapshot:" + name.encode())


def open_manifest(private: bytes, name: str, data: bytes) -> dict:
    manifest = json.loads(zlib.decompress(crypto.open_sealed(private, data, b"kanim-snapshot:" + name.encode())))
    if manifest.get("format") != FORMAT:
        raise FormatError(f"snapshot {name} has format {manifest.get('format')!r}; this kanim reads {FORMAT}")
    return manifest


def chosen(names: list[str], at: datetime | None) -> str | None:
    """The newest snapshot taken at or before `at` (the newest of all without it)."""
    eligible = sorted(n for n in names if at is None or time_of(n) <= at)
    return eligible[-1] if eligible else None
