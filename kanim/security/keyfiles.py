"""Secret key files: created once with mode 0600 in a 0700 folder, refused when others can read
them. Shared by the vault key and the link's signing keys."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

from kanim.security.filemodes import FILE_MODE, fsync_dir, private_dir


class KeyFileError(Exception):
    """A key file kanim will not use. The message is one line that says how to fix it: the CLI
    prints it as it is (exit 2), `kanim serve` included."""


def load_or_create(path: Path, make: Callable[[], bytes]) -> bytes:
    if path.exists():
        return _read(path)
    private_dir(path.parent)
    data = make()
    try:
        # O_EXCL: two processes starting at once must not each write a different key; the one
        # that loses the race reads the winner's.
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE)
    except FileExistsError:
        return _read(path)
    try:
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)
    fsync_dir(path.parent)  # a key that vanishes after a power cut would orphan the whole vault
    return data


def _read(path: Path) -> bytes:
    mode = path.stat().st_mode & 0o777
    if mode & 0o077:
        # Refused, not silently tightened: others may already have copied it.
        raise KeyFileError(f"key file {path} is readable by other users (mode {mode:04o}); "
                           f"fix: chmod 600 {path}")
    try:
        return path.read_bytes()
    except PermissionError:
        raise KeyFileError(f"key file {path} cannot be read by this user; fix: run kanim as its owner "
                           f"or chown it") from None
