"""Secret key files: created once with mode 0600 in a 0700 folder, refused when others can read
them. Shared by the vault key and the link's signing keys."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path


class KeyFileError(Exception):
    pass


def load_or_create(path: Path, make: Callable[[], bytes]) -> bytes:
    if path.exists():
        return _read(path)
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    data = make()
    try:
        # O_EXCL: two processes starting at once must not each write a different key; the one
        # that loses the race reads the winner's.
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return _read(path)
    try:
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)
    return data


def _read(path: Path) -> bytes:
    if path.stat().st_mode & 0o077:
        raise KeyFileError(f"key file {path} is readable by others: chmod 600 it")
    return path.read_bytes()
