"""`kanim restore`, `kanim backup verify` and `kanim backup drill`.

A restore writes into a hidden folder beside the one asked for, checks the node it wrote (the
database's integrity check, the audit chain, every vault file a row names decrypts with the
escrowed key) and only then renames it into place: a failed restore leaves the asked-for folder
as it was (absent or empty), never half-written. Every piece is checked on the way: the pack's
SHA-256 against its name, each blob's AES-GCM tag, and its keyed hash against its id.
"""

from __future__ import annotations

import base64
import os
import secrets
import shutil
import sqlite3
import tempfile
import time
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path, PurePosixPath

from kanim.backup import crypto
from kanim.backup.format import FormatError, chosen, open_manifest, pack_key, pack_name, read_blob
from kanim.backup.keys import VAULT, BackupKeyError
from kanim.backup.snapshot import CHUNK, DB_NAME
from kanim.backup.targets import Target
from kanim.security.filemodes import FILE_MODE, private_dir


class RestoreError(Exception):
    """One line: why nothing was restored."""


@dataclass(frozen=True)
class Restored:
    snapshot: str
    files: int
    bytes: int
    seconds: float
    audit_rows: int
    vault_files: int
    database: str = "sqlite"
    wal_segments: int = 0  # PostgreSQL: archived segments written for the replay
    role: str = "office"


@dataclass
class Pieces:
    snapshots: int = 0
    packs: int = 0
    blobs: int = 0
    wal: int = 0  # a PostgreSQL node's archived log segments
    problems: list[str] = field(default_factory=list)


def pick(target: Target, private: bytes, *, at: datetime | None = None, name: str | None = None) -> tuple[str, dict]:
    names = target.names("snapshots")
    if name is not None and name not in names:
        raise RestoreError(f"no snapshot {name} on {target.label} (`kanim backup list` shows them)")
    name = name or chosen(names, at)
    if name is None:
        raise RestoreError(f"no snapshot on {target.label}" + (f" taken at or before {at:%Y-%m-%d %H:%M:%S} UTC"
                                                               if at and names else ""))
    return name, manifest_of(target, private, name)


def manifest_of(target: Target, private: bytes, name: str) -> dict:
    try:
        return open_manifest(private, name, target.get("snapshots", name))
    except crypto.DecryptError:
        raise RestoreError(f"snapshot {name} does not open with this backup key (another office's key, or the "
                           "snapshot was altered)") from None
    except (FormatError, ValueError) as e:
        raise RestoreError(f"snapshot {name} is damaged: {e}") from None


def restore(target: Target, private: bytes, escrow: dict[str, bytes], into: Path, *,
            at: datetime | None = None, name: str | None = None) -> Restored:
    if VAULT not in escrow:
        raise BackupKeyError(f"the escrow sheet has no {VAULT}: the vault could not be read")
    if into.exists() and (not into.is_dir() or any(into.iterdir())):
        raise RestoreError(f"{into} is not an empty folder: restore only into an empty or new one")
    started = time.monotonic()
    name, manifest = pick(target, private, at=at, name=name)
    if manifest.get("database") in ("postgresql", "folder"):
        name, manifest = cluster_and_folder(target, private, name, manifest, at)
    into.parent.mkdir(parents=True, exist_ok=True)
    staging = into.parent / f".{into.name}.restoring-{secrets.token_hex(4)}"
    private_dir(staging)
    try:
        total = write_files(target, private, manifest, staging)
        write_keys(staging, escrow, manifest)
        cluster = manifest.get("database") == "postgresql"
        if cluster:
            # The cluster opens once PostgreSQL has replayed its log: checked then (the runbook).
            segments = _postgresql(staging, target, private, manifest, at)
            rows, vault_files = 0, 0
        else:
            segments = 0
            rows, vault_files = check_node(staging, manifest["office"])
        if into.exists():
            into.rmdir()
        staging.rename(into)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    if cluster:
        _repoint(into, staging)
    return Restored(name, len(manifest["files"]), total, time.monotonic() - started, rows, vault_files,
                    manifest.get("database", "sqlite"), segments, manifest.get("role", "office"))


def cluster_and_folder(target: Target, private: bytes, name: str, chosen: dict,
                       at: datetime | None) -> tuple[str, dict]:
    """A PostgreSQL node restored to `at`: the cluster of the newest base at or before it (the
    log takes it to `at`), and the data folder of the snapshots around `at` — the newest at or
    before it, and the vault files of the first after it (a vault file never changes, and one a
    row names at `at` was written before it and is removed only once no row names it). Returns
    the base's name and one manifest of all those files."""
    base = chosen if chosen.get("database") == "postgresql" else manifest_of(target, private, chosen["base"])
    later = None
    if at is not None:
        after = [n for n in target.names("snapshots") if len(n) != 64 and n > name]
        later = manifest_of(target, private, min(after)) if after else None
    files = {f["path"]: f for f in base["files"]}
    blobs = dict(base["blobs"])
    if chosen is not base:
        files = {p: f for p, f in files.items() if p.startswith("pgdata/")} | {f["path"]: f for f in chosen["files"]}
        blobs |= chosen["blobs"]
    if later is not None:
        for f in later["files"]:
            if f["path"].startswith("vault/") and f["path"] not in files:
                files[f["path"]] = f
                blobs |= {b: later["blobs"][b] for b in f["blobs"]}
    base_name = name if chosen is base else chosen["base"]
    return base_name, {**base, "files": sorted(files.values(), key=lambda f: f["path"]), "blobs": blobs}


def _postgresql(staging: Path, target: Target, private: bytes, manifest: dict, at: datetime | None) -> int:
    from kanim.backup import pg

    try:
        return pg.write_recovery(staging / pg.PGDATA, target, private, start=manifest["wal_start"], at=at)
    except pg.PgBackupError as e:
        raise RestoreError(str(e)) from None


def _repoint(into: Path, staging: Path) -> None:
    """The recovery settings name the staging folder's path: the folder's final one instead."""
    from kanim.backup import pg

    conf = into / pg.PGDATA / "postgresql.auto.conf"
    conf.write_text(conf.read_text().replace(str(staging), str(into)))


def _safe(root: Path, rel: str) -> Path:
    parts = PurePosixPath(rel).parts
    if not parts or PurePosixPath(rel).is_absolute() or ".." in parts:
        raise RestoreError(f"the snapshot names a file outside the data folder ({rel!r}): refused")
    return root.joinpath(*parts)


def write_files(target: Target, private: bytes, manifest: dict, root: Path) -> int:
    """Every file, each pack fetched once: its blobs written where the files use them."""
    dedup = base64.b64decode(manifest["dedup_key"])
    uses: dict[str, list[tuple[Path, int]]] = defaultdict(list)
    total = 0
    for d in manifest.get("dirs", []):  # empty folders a PostgreSQL cluster needs
        private_dir(_safe(root, d))
    for f in manifest["files"]:
        path = _safe(root, f["path"])
        private_dir(path.parent)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE)
        os.close(fd)
        for i, bid in enumerate(f["blobs"]):
            uses[bid].append((path, i))
        total += f["size"]
    by_pack: dict[str, list[str]] = defaultdict(list)
    for bid in uses:
        by_pack[manifest["blobs"][bid][0]].append(bid)
    for pack, bids in by_pack.items():
        wanted = [(b, *manifest["blobs"][b][1:], dedup) for b in bids]
        for bid, data in _blobs(target, private, pack, wanted):
            for path, i in uses[bid]:
                with path.open("r+b") as out:
                    out.seek(i * manifest.get("chunk", CHUNK))
                    out.write(data)
    for f in manifest["files"]:
        path = _safe(root, f["path"])
        if path.stat().st_size != f["size"]:
            raise RestoreError(f"{f['path']} came out {path.stat().st_size} bytes, not {f['size']}")
    # One sync for the whole folder before it is renamed into place: an fsync per file would
    # cost a disk flush for each of a large office's 100,000 vault files.
    os.sync()
    return total


def _blobs(target: Target, private: bytes, pack: str, wanted: list[tuple[str, int, int, bytes]]):  # noqa: ANN202
    """(blob id, plaintext) of each wanted (id, offset, length, dedup key) of one pack, checked."""
    data = target.get("packs", pack)
    if pack_name(data) != pack:
        raise RestoreError(f"pack {pack[:12]} on {target.label} is damaged (its bytes do not match its name)")
    try:
        key = pack_key(private, data)
        for bid, offset, length, dedup in wanted:
            plain = read_blob(key, data, bid, offset, length)
            if crypto.blob_id(dedup, plain) != bid:
                raise RestoreError(f"pack {pack[:12]}: a piece is not what the snapshot names")
            yield bid, plain
    except (crypto.DecryptError, FormatError) as e:
        raise RestoreError(f"pack {pack[:12]} on {target.label}: {e}") from None


def write_keys(root: Path, escrow: dict[str, bytes], manifest: dict) -> None:
    """The escrowed keys back where the node looks for them, and the dedup key the manifest
    carries (the backup public key is put back by the CLI, from the private key)."""
    keys = private_dir(root / "keys")
    for name, data in {**escrow, "backup_dedup.key": base64.b64decode(manifest["dedup_key"])}.items():
        path = keys / name
        path.write_bytes(data)
        path.chmod(FILE_MODE)


def check_node(data_dir: Path, office_code: str) -> tuple[int, int]:
    """The restored node as kanim would open it: (audit rows, vault files). Raises RestoreError."""
    db = data_dir / DB_NAME
    con = sqlite3.connect(db)
    try:
        result = con.execute("PRAGMA integrity_check").fetchone()[0]
    finally:
        con.close()
    if result != "ok":
        raise RestoreError(f"the restored database fails its integrity check: {result}")
    from kanim.bootstrap import bootstrap
    from kanim.config import Settings
    from kanim.office.vault_files import referenced
    from kanim.security.audit import verify_chain
    from kanim.security.vault import VaultError

    # Every path explicit: the operator's KANIM_KEY_FILE (say) names where the node will live,
    # not this folder, and must neither be read nor created here.
    key = data_dir / "keys" / VAULT
    if not key.is_file():
        raise RestoreError(f"no vault key was restored ({key})")
    office = bootstrap(Settings(_env_file=None, data_dir=data_dir, database_url=f"sqlite:///{db}", key_file=key,
                                office_code=office_code, central="none"))
    try:
        with office.uow(readonly=True) as uow:
            report = verify_chain(uow.session)
        if not report.ok:
            raise RestoreError(f"the restored audit chain is broken: {report.problems[0]}")
        refs = referenced(office)
        for ref in refs:
            try:
                office.vault.get(ref)
            except VaultError as e:
                raise RestoreError(f"the restored vault does not open with the escrowed vault key ({e}): "
                                   "is the escrow sheet this office's?") from None
        return report.rows, len(refs)
    finally:
        office.engine.dispose()


def check_pieces(target: Target, private: bytes) -> Pieces:
    """Every piece every snapshot on `target` names: fetched, its hash, tag and id checked."""
    found = Pieces()
    wanted: dict[str, dict[str, tuple[int, int, bytes]]] = defaultdict(dict)
    for name in target.names("snapshots"):
        try:
            manifest = manifest_of(target, private, name)
        except RestoreError as e:
            found.problems.append(str(e))
            continue
        found.snapshots += 1
        if manifest.get("database") == "postgresql":
            from kanim.backup.pg import gaps

            if missing := gaps(target.names("wal"), manifest["wal_start"]):
                found.problems.append(f"snapshot {name}: the archived log has a gap from {missing[0]} "
                                      "(a replay past it stops there)")
        dedup = base64.b64decode(manifest["dedup_key"])
        for bid, (pack, offset, length) in manifest["blobs"].items():
            wanted[pack][bid] = (offset, length, dedup)
    for pack, bids in wanted.items():
        found.packs += 1
        try:
            for _ in _blobs(target, private, pack, [(b, *loc) for b, loc in bids.items()]):
                found.blobs += 1
        except RestoreError as e:
            found.problems.append(str(e))
    from kanim.backup.pg import PgBackupError, open_wal

    for name in target.names("wal"):
        try:
            open_wal(target, private, name)
            found.wal += 1
        except PgBackupError as e:
            found.problems.append(str(e))
    return found


def scratch_restore(target: Target, private: bytes, escrow: dict[str, bytes], *, name: str | None = None) -> Restored:
    """A restore into a throwaway folder, checked, removed after (the drill's and verify's). A
    PostgreSQL snapshot is opened by a PostgreSQL server of the drill's own, which replays its
    log to the end, and checked there."""
    name, manifest = pick(target, private, name=name)
    if manifest.get("database") not in ("postgresql", "folder"):
        with tempfile.TemporaryDirectory(prefix="kanim-drill-") as tmp:
            return restore(target, private, escrow, Path(tmp) / "node", name=name)
    from kanim.backup import pg

    if (why := pg.server_unavailable()) is not None:
        raise RestoreError(f"snapshot {name} is a PostgreSQL cluster; a drill opens it with a server: {why}")
    base = pg.scratch_dir()
    server = None
    try:
        r = restore(target, private, escrow, base / "node", name=name)
        server = pg.Server(base, base / "node" / pg.PGDATA)
        # Its own access rules (the cluster's may ask for passwords the drill does not have).
        hba = base / "drill_hba.conf"
        hba.write_text("local all all trust\nhost all all 127.0.0.1/32 trust\n")
        server.configure(hba_file=pg.conf_value(str(hba)))
        (base / "node").chmod(0o711)  # the server enters; the escrowed keys stay kanim's
        pg.give_to_server(base / "node" / pg.PGDATA)
        pg.give_to_server(hba)
        server.start().wait_until_open()
        rows, vault_files = check_cluster(base / "node", server, manifest)
        return Restored(r.snapshot, r.files, r.bytes, r.seconds, rows, vault_files, r.database, r.wal_segments, r.role)
    except pg.PgBackupError as e:
        raise RestoreError(str(e)) from None
    finally:
        try:
            if server is not None:
                server.stop()
        finally:
            shutil.rmtree(base, ignore_errors=True)  # personal data: never left in /var/tmp


def check_cluster(data_dir: Path, server, manifest: dict) -> tuple[int, int]:  # noqa: ANN001 - a pg.Server
    """A restored cluster, running: its audit chain, and what its key opens — the vault's files
    for an office, the registry's sealed images for the central. Raises RestoreError."""
    from sqlalchemy import create_engine
    from sqlalchemy.engine import make_url
    from sqlalchemy.orm import Session

    from kanim.security.audit import verify_chain

    url = make_url(server.url).set(database=manifest.get("database_name") or "postgres")
    engine = create_engine(url)
    try:
        with Session(engine) as session:
            report = verify_chain(session)
            if not report.ok:
                raise RestoreError(f"the restored audit chain is broken: {report.problems[0]}")
            if manifest.get("role") == "central":
                return report.rows, _unseal_registry(session, data_dir)
        return report.rows, _open_vault(data_dir, url.render_as_string(hide_password=False), manifest["office"])
    finally:
        engine.dispose()


def _unseal_registry(session, data_dir: Path) -> int:  # noqa: ANN001
    """Every sealed image of the registry opens with the escrowed key."""
    from sqlalchemy import select

    from kanim.central import tables as ct
    from kanim.central.biometrics import Keyring, aad
    from kanim.security.vault import VaultError

    ring = Keyring.open(data_dir / "keys" / VAULT)
    b = ct.registry_biometric.c
    rows = session.execute(select(b.application_id, b.position, b.sealed).where(b.sealed.is_not(None))).all()
    for r in rows:
        try:
            ring.unseal(r.sealed, aad(r.application_id, r.position))
        except VaultError:
            raise RestoreError("the restored registry's images do not open with the escrowed key: is the "
                               "escrow sheet the central's?") from None
    return len(rows)


def _open_vault(data_dir: Path, url: str, office_code: str) -> int:
    from kanim.bootstrap import bootstrap
    from kanim.config import Settings
    from kanim.office.vault_files import referenced
    from kanim.security.vault import VaultError

    office = bootstrap(Settings(_env_file=None, data_dir=data_dir, database_url=url, key_file=data_dir / "keys" / VAULT,
                                office_code=office_code, central="none"))
    try:
        refs = referenced(office)
        for ref in refs:
            try:
                office.vault.get(ref)
            except VaultError as e:
                raise RestoreError(f"the restored vault does not open with the escrowed vault key ({e})") from None
        return len(refs)
    finally:
        office.engine.dispose()
