"""Who may read kanim's files: only the user kanim runs as. Data folders are 0700 and the files
in them 0600 (the database and its -wal/-shm, vault files, key files, logs), whatever the umask;
an install made before this rule is tightened when a node starts.

SQLite creates its -wal and -shm files with the mode of the database file, so creating the
database file 0600 before SQLite opens it is enough for all three (no umask games, which are
process-wide and would race with other threads).
"""

from __future__ import annotations

import os
from pathlib import Path

DIR_MODE, FILE_MODE = 0o700, 0o600
SQLITE_COMPANIONS = ("-wal", "-shm", "-journal")


def private_dir(path: Path, *, tighten: bool = True) -> Path:
    """`path` and any missing parents created 0700; an existing `path` tightened to 0700 unless
    `tighten` is false (a folder kanim does not own, such as the one a database URL names)."""
    missing = []
    p = path
    while not p.exists():
        missing.append(p)
        p = p.parent
    for d in reversed(missing):
        try:
            d.mkdir(mode=DIR_MODE)
        except FileExistsError:  # another process made it first
            pass
        os.chmod(d, DIR_MODE)  # mkdir's mode passes through the umask
    if tighten and not missing:
        _tighten(path, DIR_MODE)
    return path


def private_file(path: Path) -> None:
    """An existing file tightened to 0600 (a missing one is left alone)."""
    if path.exists():
        _tighten(path, FILE_MODE)


def create_private(path: Path) -> None:
    """Make `path` exist as a 0600 file (empty if new), or tighten it if it exists."""
    try:
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE))
    except FileExistsError:
        _tighten(path, FILE_MODE)


def sqlite_files(database: Path) -> None:
    """The database file 0600 before SQLite opens it, and its companions tightened too."""
    private_dir(database.parent, tighten=False)
    create_private(database)
    for suffix in SQLITE_COMPANIONS:
        private_file(database.with_name(database.name + suffix))


def open_private_append(path: Path) -> int:
    """A file descriptor for appending to a 0600 file (a log)."""
    private_dir(path.parent, tighten=False)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, FILE_MODE)
    _tighten(path, FILE_MODE)
    return fd


def fsync_dir(path: Path) -> None:
    """Make a rename or unlink in `path` durable: the new name is in the directory's own blocks,
    which a file's fsync does not write."""
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _tighten(path: Path, mode: int) -> None:
    st = path.stat()
    if st.st_mode & 0o777 & ~mode and st.st_uid == os.geteuid():
        os.chmod(path, mode)
