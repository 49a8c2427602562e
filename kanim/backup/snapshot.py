"""`kanim backup create`: one snapshot of the node, written to each target.

The database first, through SQLite's online backup API in one step: one read transaction, so a
consistent copy while the desks keep writing (in WAL mode readers never block writers). Then the
data folder's files, the vault's encrypted files copied as they are (backups never decrypt the
biometrics), each hard-linked into a staging folder first: a vault file never changes once
written, so its link is a snapshot of it that outlives its deletion. A file is written before
the row that names it, so every file the database copy names exists by then, except one a
replaced scan or photo deleted in between (the old file goes after the new row commits): the
link pass checks every name the database copy holds and starts again if one went missing.

Incremental by deduplication: every file is cut into fixed-size blobs named by a keyed hash;
a blob the target already holds is not sent again. Fixed size suits both kinds of content: the
SQLite copy keeps its page layout from one backup to the next (a change rewrites pages in
place), and vault files never change once written. A per-target cache of (size, mtime, inode)
skips re-reading files that did not change (a year-old office's vault, hourly).
"""

from __future__ import annotations

import base64
import fcntl
import hashlib
import json
import os
import shutil
import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy.engine import make_url

from kanim.backup import crypto
from kanim.backup.format import FORMAT, PackWriter, seal_manifest, time_of, timed_name
from kanim.backup.targets import AlreadyThere, Target
from kanim.config import Settings
from kanim.security.filemodes import FILE_MODE, private_dir

CHUNK = 256 * 1024  # a multiple of SQLite's page size: a changed page dirties one blob
PACK_TARGET = 8 * 1024 * 1024
DB_NAME = "kanim.db"
LAST_BASE = "last-base"  # in <data dir>/backup: when this PostgreSQL node's newest base was taken
ATTEMPTS = 5
# escrowed keys (keys.py); this module's own working files; the backup watch's findings, which
# would describe the old node after a restore; a restored node's note that it must rejoin
SKIPPED_TOP = {"keys", "backup", "backup-health.json", "rejoin-needed.json"}


class BackupError(Exception):
    """One line: why the backup could not be made."""


@dataclass(frozen=True)
class Made:
    target: str
    name: str
    files: int
    bytes: int  # the snapshot's size: what a restore writes
    sent: int  # bytes of new packs sent to the target
    packs: int
    seconds: float


def sqlite_path(settings: Settings) -> Path:
    url = make_url(settings.db_url)
    if url.get_backend_name() != "sqlite":
        raise BackupError("this node's database is not SQLite")
    return Path(url.database or "")


def last_base(settings: Settings) -> dict | None:
    """This PostgreSQL node's newest base, {"name", "at"}, as its last `create` recorded it."""
    try:
        found = json.loads((settings.data_dir / "backup" / LAST_BASE).read_text())
        return {"name": str(found["name"]), "at": datetime.fromisoformat(found["at"])}
    except (OSError, ValueError, KeyError, TypeError):
        return None


def is_postgresql(settings: Settings) -> bool:
    return make_url(settings.db_url).get_backend_name() == "postgresql"


def wal_ledger(settings: Settings) -> Path:
    from kanim.backup.pg import LEDGER

    return private_dir(settings.data_dir / "backup") / LEDGER


def wal_spool(settings: Settings) -> Path:
    """Where the server's archive_command leaves the log: a folder its OS user writes, so not
    inside kanim's data folder (only kanim's user may enter that)."""
    from kanim.backup.settings import BackupSettings

    spool = BackupSettings().wal_spool
    if spool is None:
        raise BackupError("a PostgreSQL node's backups need KANIM_BACKUP_WAL_SPOOL: the folder its archive_command "
                          "copies the log into (`kanim backup pg-settings` prints the lines)")
    return spool.resolve()


def _freeze_postgresql(settings: Settings, targets: list[Target], stage: Path,
                       public: bytes) -> tuple[list[tuple[str, Path]], dict]:
    """The cluster by pg_basebackup (kanim/backup/pg.py) and the data folder's files beside it.
    The log the base needs is shipped before the snapshot names the base: a snapshot on a
    target is always one that restores."""
    from kanim.backup import pg

    shutil.rmtree(stage, ignore_errors=True)
    private_dir(stage)
    base = stage / pg.PGDATA
    try:
        start = pg.base_backup(settings.db_url, base)
        pg.ship(wal_spool(settings), targets, public, ledger=wal_ledger(settings))
    except pg.PgBackupError as e:
        raise BackupError(str(e)) from None
    for t in targets:  # the base's own label in the archive: the log it needs is there
        if not any(n.startswith(start) and n.endswith(".backup") for n in t.names("wal")):
            raise BackupError(f"{t.label} holds no archived log for this base (wal/{start}.*.backup): is the server's "
                              "archive_command kanim's spool? (`kanim backup pg-settings`)")
    # A base of a node restored before: not the last restore's replay files.
    left_out = {pg.RESTORED_WAL, "recovery.signal"}
    cluster = [(f"{pg.PGDATA}/{p.relative_to(base).as_posix()}", p) for p in sorted(base.rglob("*"))
               if p.is_file() and not p.is_symlink() and p.relative_to(base).parts[0] not in left_out]
    folder = sorted(link_files(settings.data_dir, stage / "folder", {}).items())
    # PostgreSQL will not start without its empty folders (pg_notify, pg_wal, …): named too.
    dirs = sorted(f"{pg.PGDATA}/{p.relative_to(base).as_posix()}" for p in base.rglob("*")
                  if p.is_dir() and p.relative_to(base).parts[0] not in left_out)
    return [*cluster, *folder], {"database": "postgresql", "wal_start": start, "dirs": dirs,
                                 "database_name": make_url(settings.db_url).database or "postgres"}


def copy_database(source: Path, dest: Path) -> None:
    """A consistent copy of a live SQLite database (the online backup API, in one step)."""
    dest.unlink(missing_ok=True)
    src = sqlite3.connect(f"file:{source}?mode=ro", uri=True, timeout=30)
    dst = sqlite3.connect(dest)
    try:
        src.backup(dst)  # pages=-1: everything in one step, under one read transaction
    finally:
        dst.close()
        src.close()
    dest.chmod(FILE_MODE)


def node_files(data_dir: Path) -> list[tuple[str, Path]]:
    """(name in the snapshot, path) of the data folder's files, the database excluded."""
    found = []
    for p in sorted(data_dir.rglob("*")):
        rel = p.relative_to(data_dir)
        if rel.parts[0] in SKIPPED_TOP or (len(rel.parts) == 1 and p.name.startswith(DB_NAME)):
            continue
        if p.suffix == ".tmp" or not p.is_file() or p.is_symlink():  # a write in flight; not kanim's
            continue
        found.append((rel.as_posix(), p))
    return found


def create(settings: Settings, targets: list[Target], *, public: bytes, dedup_key: bytes,
           now: datetime, folder_only: bool = False) -> list[Made]:
    """A snapshot of the node. `folder_only`: a PostgreSQL node's data folder alone (its vault),
    taken between two bases while the log protects the database (docs/backup.md)."""
    work = private_dir(settings.data_dir / "backup")
    db_copy, stage = work / "snapshot.db", work / "stage"
    with _only_one(work):
        if folder_only:
            return _create_folder(settings, targets, stage, public=public, dedup_key=dedup_key, now=now)
        return _create(settings, targets, db_copy, stage, public=public, dedup_key=dedup_key, now=now)


def _create_folder(settings: Settings, targets: list[Target], stage: Path, *, public: bytes, dedup_key: bytes,
                   now: datetime) -> list[Made]:
    try:
        shutil.rmtree(stage, ignore_errors=True)
        private_dir(stage)
        base = last_base(settings)
        if base is None:
            raise BackupError("no base backup of this PostgreSQL node yet: `kanim backup create` first")
        for t in targets:
            if base["name"] not in t.names("snapshots"):
                raise BackupError(f"{t.label} does not hold this node's base {base['name']}: a new base is due")
        files = sorted(link_files(settings.data_dir, stage / "folder", {}).items())
        name = timed_name(_after_the_newest(targets, now))
        return [_to_target(settings, t, files, name, public=public, dedup_key=dedup_key, now=now,
                           extra={"database": "folder", "base": base["name"],
                                  "database_name": make_url(settings.db_url).database or "postgres"})
                for t in targets]
    finally:
        shutil.rmtree(stage, ignore_errors=True)


@contextmanager
def _only_one(work: Path) -> Iterator[None]:
    """One backup at a time per node: two would share the staging folder and the indexes
    (`kanim backup run` and a `create` typed by hand, say)."""
    fd = os.open(work / "lock", os.O_RDWR | os.O_CREAT, FILE_MODE)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise BackupError("another backup of this node is running; try again when it is done") from None
        yield
    finally:
        os.close(fd)  # releases the lock


def _create(settings: Settings, targets: list[Target], db_copy: Path, stage: Path, *, public: bytes,
            dedup_key: bytes, now: datetime) -> list[Made]:
    try:
        if is_postgresql(settings):
            files, extra = _freeze_postgresql(settings, targets, stage, public)
            now = max(now, datetime.now(UTC))  # named when it is whole: a restore to a time in it cannot open
        else:
            files, extra = freeze(settings, db_copy, stage), {"database": "sqlite"}
        name = timed_name(_after_the_newest(targets, now))
        made = [_to_target(settings, t, files, name, public=public, dedup_key=dedup_key, now=now, extra=extra)
                for t in targets]
        if extra["database"] == "postgresql":  # the folder snapshots name it; `backup run` times the next
            (settings.data_dir / "backup" / LAST_BASE).write_text(json.dumps({"name": name, "at": now.isoformat()}))
        return made
    finally:
        db_copy.unlink(missing_ok=True)
        shutil.rmtree(stage, ignore_errors=True)


def _after_the_newest(targets: list[Target], now: datetime) -> datetime:
    """The new snapshot's time, later than every snapshot already there: names order snapshots
    by their second, and two taken within one second (a manual backup just after the minute's)
    would otherwise order by their random suffix, so that "the newest" could be the older one."""
    times = []
    for t in targets:
        try:
            times += [time_of(n) for n in t.names("snapshots") if not _hex(n)]
        except Exception:  # noqa: BLE001 - a target out of reach fails in its own write, with its reason
            continue
    newest = max(times, default=None)
    if newest is not None and now.replace(microsecond=0) <= newest:
        return newest + timedelta(seconds=1)
    return now


def _hex(name: str) -> bool:
    return len(name) == 64  # a pack's name, not a snapshot's (the NAME pattern admits both)


def freeze(settings: Settings, db_copy: Path, stage: Path, *, attempts: int = ATTEMPTS) -> list[tuple[str, Path]]:
    """The database copied and the folder's files linked: the vault files the copy names, each of
    them (files it does not name are orphans as of the copy, or uploads in flight: left out).

    Linked once before the copy and once after: a file the copy names was either there before
    (first pass) or written since, before its row (second pass); only a file written and
    replaced again between the passes escapes both, and another copy and pass catch it."""
    shutil.rmtree(stage, ignore_errors=True)
    private_dir(stage)
    linked = link_files(settings.data_dir, stage, {})
    for _ in range(attempts):
        copy_database(sqlite_path(settings), db_copy)
        linked = link_files(settings.data_dir, stage, linked)
        named = named_refs(db_copy)
        if not (missing := named - {Path(rel).stem for rel in linked if rel.startswith("vault/")}):
            kept = [(rel, p) for rel, p in linked.items() if not rel.startswith("vault/") or Path(rel).stem in named]
            return [(DB_NAME, db_copy), *sorted(kept)]
    # The same files missing every time: not a race but a node that lost them before the backup.
    raise BackupError(f"{len(missing)} vault files the database names are missing from {settings.vault_dir}; "
                      "a backup of it would not restore (restore the node from an older backup)")


def link_files(data_dir: Path, stage: Path, linked: dict[str, Path]) -> dict[str, Path]:
    """`linked` and the folder's files not in it yet, each hard-linked into `stage`."""
    linked = dict(linked)
    for rel, path in node_files(data_dir):
        if rel in linked and rel.startswith("vault/"):  # a vault file never changes once written
            continue
        dest = stage / rel
        if not dest.parent.is_dir():
            private_dir(dest.parent)
        dest.unlink(missing_ok=True)
        try:
            os.link(path, dest)
        except FileNotFoundError:
            continue  # deleted while we walked: checked against the database copy
        except OSError:  # another file system: a copy, which a later deletion cannot touch either
            try:
                shutil.copy2(path, dest)
            except FileNotFoundError:
                continue
        linked[rel] = dest
    return linked


def named_refs(db: Path) -> set[str]:
    from sqlalchemy import create_engine, select, union

    from kanim.store import tables as t

    # As kanim/office/vault_files.py finds them (without importing the office: cv2 and all).
    file_ref_columns = lambda: [c for table in t.metadata.sorted_tables for c in table.c if c.name == "file_ref"]  # noqa: E731
    engine = create_engine(f"sqlite:///{db}")
    try:
        with engine.connect() as conn:
            query = union(*(select(c.label("ref")).where(c.is_not(None)) for c in file_ref_columns()))
            return set(conn.execute(query).scalars())
    finally:
        engine.dispose()


@dataclass
class _Index:
    """What this node has sent to one target: blob → (pack, offset, length), and the files it
    read last time with their blobs. Only a cache: lost, the next backup sends everything again."""

    path: Path
    blobs: dict[str, list]
    files: dict[str, list]  # name → [size, mtime_ns, inode, [blob ids]]

    @classmethod
    def load(cls, work: Path, target: Target) -> _Index:
        path = work / f"index-{hashlib.sha256(target.label.encode()).hexdigest()[:16]}.json"
        data = json.loads(path.read_text()) if path.exists() else {}
        return cls(path, data.get("blobs", {}), data.get("files", {}))

    def keep_only(self, packs: set[str]) -> None:
        """Forget blobs whose pack the target no longer lists (a local drive wiped, say):
        a snapshot must never point at a pack that is not there."""
        self.blobs = {b: loc for b, loc in self.blobs.items() if loc[0] in packs}
        self.files = {n: f for n, f in self.files.items() if all(b in self.blobs for b in f[3])}

    def save(self) -> None:
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps({"blobs": self.blobs, "files": self.files}))
        tmp.chmod(FILE_MODE)
        tmp.replace(self.path)


class _Sender:
    def __init__(self, target: Target, index: _Index, public: bytes) -> None:
        self.target, self.index, self.public = target, index, public
        self.pack = PackWriter(public)
        self.pending: set[str] = set()
        self.sent = self.packs = 0

    def add(self, bid: str, data: bytes, *, compress: bool) -> None:
        if bid in self.index.blobs or bid in self.pending:
            return
        self.pack.add(bid, data, compress=compress)
        self.pending.add(bid)
        if self.pack.size >= PACK_TARGET:
            self.flush()

    def flush(self) -> None:
        if not self.pack.entries:
            return
        name, data, entries = self.pack.finish()
        try:
            self.target.put_new("packs", name, data)
        except AlreadyThere:
            pass  # the same bytes (a pack is named by its hash): already safe there
        for bid, offset, length in entries:
            self.index.blobs[bid] = [name, offset, length]
        self.sent += len(data)
        self.packs += 1
        self.pack, self.pending = PackWriter(self.public), set()


def _to_target(settings: Settings, target: Target, files: list[tuple[str, Path]], name: str, *,
               public: bytes, dedup_key: bytes, now: datetime, extra: dict) -> Made:
    started = time.monotonic()
    index = _Index.load(settings.data_dir / "backup", target)
    index.keep_only(set(target.names("packs")))
    sender = _Sender(target, index, public)
    listed, total = [], 0
    for rel, path in files:
        entry = _file_blobs(rel, path, index, sender, dedup_key)
        if entry is None:
            continue  # deleted while we walked: an orphan swept, nothing a row names
        listed.append(entry)
        total += entry["size"]
    sender.flush()
    used = {b for f in listed for b in f["blobs"]}
    manifest = {"format": FORMAT, "office": settings.office_code, "role": settings.role,
                "created_at": now.isoformat(), **extra,
                "chunk": CHUNK, "dedup_key": base64.b64encode(dedup_key).decode(),
                "files": listed, "blobs": {b: index.blobs[b] for b in sorted(used)}}
    target.put_new("snapshots", name, seal_manifest(public, name, manifest))
    index.save()  # after the snapshot is safe: a crash before only costs sending again
    return Made(target.label, name, len(listed), total, sender.sent, sender.packs, time.monotonic() - started)


def _file_blobs(rel: str, path: Path, index: _Index, sender: _Sender, dedup_key: bytes) -> dict | None:
    try:
        st = path.stat()
        stamp = [st.st_size, st.st_mtime_ns, st.st_ino]
        cached = index.files.get(rel)
        if rel != DB_NAME and cached and cached[:3] == stamp:
            return {"path": rel, "size": st.st_size, "blobs": cached[3]}
        blobs, size = [], 0
        # Vault files are ciphertext: compressing them would only cost time.
        compress = not rel.startswith("vault/")
        with path.open("rb") as f:
            while chunk := f.read(CHUNK):
                bid = crypto.blob_id(dedup_key, chunk)
                sender.add(bid, chunk, compress=compress)
                blobs.append(bid)
                size += len(chunk)
    except FileNotFoundError:
        return None
    index.files[rel] = [size, *stamp[1:], blobs]
    return {"path": rel, "size": size, "blobs": blobs}
