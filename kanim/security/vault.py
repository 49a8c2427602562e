"""Encrypted files at rest: photos, fingerprints and document scans.

AES-256-GCM with a random 96-bit nonce per file; the file's reference is the associated data,
so a ciphertext moved under another name does not decrypt. The key lives in a file outside the
database (created on first run, mode 0600): a stolen database dump or backup of the vault alone
reveals nothing.
"""

from __future__ import annotations

import os
import secrets
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from kanim.security.keyfiles import KeyFileError, load_or_create

MAGIC = b"KNV1"  # format marker, so a future key rotation can tell versions apart
NONCE_BYTES = 12
TAG_BYTES = 16  # AES-GCM's authentication tag, appended to the ciphertext


class VaultError(Exception):
    pass


def load_or_create_key(path: Path) -> bytes:
    try:
        key = load_or_create(path, lambda: AESGCM.generate_key(bit_length=256))
    except KeyFileError as e:
        raise VaultError(str(e)) from None
    if len(key) != 32:
        raise VaultError(f"key file {path} does not hold a 256-bit key")
    return key


class Vault:
    def __init__(self, root: Path, key: bytes) -> None:
        self.root = root
        self.aead = AESGCM(key)
        root.mkdir(parents=True, exist_ok=True, mode=0o700)

    @classmethod
    def open(cls, root: Path, key_path: Path) -> Vault:
        return cls(root, load_or_create_key(key_path))

    def put(self, data: bytes) -> str:
        """Encrypt and store; returns the reference kept in the database. Written and fsynced
        before the transaction that refers to it commits, so a committed row never points at
        nothing (a rolled-back one may leave an orphan file, which `orphans()` lists)."""
        ref = uuid.uuid4().hex
        nonce = secrets.token_bytes(NONCE_BYTES)
        blob = MAGIC + nonce + self.aead.encrypt(nonce, data, ref.encode())
        path = self._path(ref)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        with open(tmp, "wb") as f:
            f.write(blob)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
        return ref

    @contextmanager
    def staged(self, data: bytes) -> Iterator[str]:
        """Store a file for a transaction that is about to refer to it; if the transaction
        fails, the file goes too. Written before the database lock is taken, so a slow disk
        never holds up the other desks."""
        ref = self.put(data)
        try:
            yield ref
        except BaseException:
            self.delete(ref)
            raise

    def get(self, ref: str) -> bytes:
        try:
            blob = self._path(ref).read_bytes()
        except FileNotFoundError:
            raise VaultError(f"vault file {ref} is missing") from None
        if not blob.startswith(MAGIC):
            raise VaultError(f"vault file {ref} has an unknown format")
        nonce, ct = blob[len(MAGIC):len(MAGIC) + NONCE_BYTES], blob[len(MAGIC) + NONCE_BYTES:]
        try:
            return self.aead.decrypt(nonce, ct, ref.encode())
        except InvalidTag as e:
            raise VaultError(f"vault file {ref} failed authentication (tampered or wrong key)") from e

    def plain_size(self, ref: str) -> int:
        """The size of the stored file once decrypted, without decrypting it (0 if missing)."""
        try:
            return max(0, self._path(ref).stat().st_size - len(MAGIC) - NONCE_BYTES - TAG_BYTES)
        except FileNotFoundError:
            return 0

    def delete(self, ref: str) -> None:
        self._path(ref).unlink(missing_ok=True)

    def refs(self) -> set[str]:
        return {p.stem for p in self.root.glob("*/*.bin")}

    def _path(self, ref: str) -> Path:
        if len(ref) != 32 or not all(c in "0123456789abcdef" for c in ref):
            raise VaultError(f"not a vault reference: {ref!r}")
        return self.root / ref[:2] / f"{ref}.bin"
