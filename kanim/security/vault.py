"""Encrypted files at rest: photos, fingerprints and document scans.

AES-256-GCM with a random 96-bit nonce per file; the file's reference is the associated data,
so a ciphertext moved under another name does not decrypt. The key lives in a file outside the
database (created on first run, mode 0600): a stolen database dump or backup of the vault alone
reveals nothing. Folders are 0700 and files 0600 (kanim/security/filemodes.py).

A file is written before the row that refers to it, so a process killed in between leaves a
file no row refers to (or a `.tmp` it never renamed): `orphans()` lists them and `remove()`
deletes them (`kanim vault orphans --remove`).
"""

from __future__ import annotations

import os
import secrets
import uuid
from collections.abc import Callable, Collection, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from kanim.security.filemodes import FILE_MODE, fsync_dir, private_dir
from kanim.security.keyfiles import KeyFileError, load_or_create

MAGIC = b"KNV1"  # format marker, so a future key rotation can tell versions apart
NONCE_BYTES = 12
TAG_BYTES = 16  # AES-GCM's authentication tag, appended to the ciphertext
BIN, TMP = ".bin", ".tmp"


class VaultError(Exception):
    pass


def load_or_create_key(path: Path) -> bytes:
    key = load_or_create(path, lambda: AESGCM.generate_key(bit_length=256))
    if len(key) != 32:
        raise KeyFileError(f"key file {path} does not hold a 256-bit key ({len(key)} bytes); fix: restore "
                           "the vault's key from its backup")
    return key


@dataclass(frozen=True)
class StoredFile:
    """A file in the vault's folders: an encrypted file (`ref` set) or a write a crash cut short
    (`unfinished`: a `.tmp` never renamed)."""

    path: Path
    ref: str | None
    size: int
    modified_at: datetime

    @property
    def unfinished(self) -> bool:
        return self.ref is None


class Vault:
    def __init__(self, root: Path, key: bytes) -> None:
        self.root = root
        self.aead = AESGCM(key)
        private_dir(root)

    @classmethod
    def open(cls, root: Path, key_path: Path) -> Vault:
        return cls(root, load_or_create_key(key_path))

    def put(self, data: bytes, *, sync: bool = True) -> str:
        """Encrypt and store; returns the reference kept in the database. Written and fsynced
        before the transaction that refers to it commits, so a committed row never points at
        nothing (a rolled-back or killed one may leave an orphan file, which `orphans()` lists).
        `sync=False` leaves the flush to the caller, who must `os.sync()` before committing: one
        flush for a rebuild's page of thousands of images instead of two per file."""
        ref = uuid.uuid4().hex
        nonce = secrets.token_bytes(NONCE_BYTES)
        blob = MAGIC + nonce + self.aead.encrypt(nonce, data, ref.encode())
        path = self._path(ref)
        if not path.parent.exists():
            private_dir(path.parent)
            fsync_dir(self.root)
        tmp = path.with_suffix(TMP)
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE)
        try:
            with open(fd, "wb") as f:
                f.write(blob)
                f.flush()
                if sync:
                    os.fsync(f.fileno())
            os.replace(tmp, path)
        except Exception:
            tmp.unlink(missing_ok=True)  # a full disk, say; only a killed process leaves a .tmp
            raise
        # The rename is durable only once the folder is: a power cut after the commit must not
        # leave a row whose file went back to being a .tmp (or nothing).
        if sync:
            fsync_dir(path.parent)
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
        path = self._path(ref)
        path.unlink(missing_ok=True)
        if path.parent.exists():
            fsync_dir(path.parent)

    def refs(self) -> set[str]:
        return {p.stem for p in self.root.glob(f"*/*{BIN}")}

    def files(self) -> list[StoredFile]:
        """Every file in the vault's folders, encrypted or unfinished."""
        found = []
        for p in sorted(self.root.glob("*/*")):
            # Only names kanim writes: whatever else someone put here is not kanim's to delete.
            if not (_is_ref(p.stem) and p.parent.name == p.stem[:2] and p.suffix in (BIN, TMP)):
                continue
            try:
                st = p.stat()
            except FileNotFoundError:  # deleted while listing
                continue
            ref = p.stem if p.suffix == BIN else None
            found.append(StoredFile(p, ref, st.st_size, datetime.fromtimestamp(st.st_mtime, UTC)))
        return found

    def orphans(self, referenced: Callable[[], Collection[str]], *, older_than: timedelta,
                now: datetime | None = None) -> list[StoredFile]:
        """Files no database row refers to: encrypted files left by a transaction that was rolled
        back or killed, and `.tmp` files a killed write never renamed. Only files last written
        more than `older_than` ago: an upload in flight has its file before its row (see
        `put`), so the grace period must be longer than any upload takes.

        `referenced` is called after the folders are listed, so a row committed meanwhile is seen."""
        now = now or datetime.now(UTC)
        candidates = [f for f in self.files() if now - f.modified_at >= older_than]
        refs = set(referenced())
        return [f for f in candidates if f.ref is None or f.ref not in refs]

    def remove(self, files: Iterable[StoredFile]) -> None:
        """Delete files `orphans()` listed (each folder fsynced once, after its deletions)."""
        folders = set()
        for f in files:
            f.path.unlink(missing_ok=True)
            folders.add(f.path.parent)
        for d in sorted(folders):
            fsync_dir(d)

    def _path(self, ref: str) -> Path:
        if not _is_ref(ref):
            raise VaultError(f"not a vault reference: {ref!r}")
        return self.root / ref[:2] / f"{ref}{BIN}"


def _is_ref(ref: str) -> bool:
    return len(ref) == 32 and all(c in "0123456789abcdef" for c in ref)
