"""Vault files no row refers to: a process killed between writing a file and committing its row
leaves one (or a `.tmp` it never renamed); `orphans()` lists them, the sweep removes only those
older than its grace period, and folders are fsynced so a rename or delete survives a power cut.

The crash points are hit for real and deterministically: a forked child runs the real upload and
dies with os._exit at the chosen point (no cleanup runs, as with SIGKILL); the parent looks at
what it left. tests/e2e/test_vault_orphans.py SIGKILLs a real `kanim serve` mid-upload."""

from __future__ import annotations

import os
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from kanim.office import booking, intake, vault_files
from kanim.security import filemodes
from kanim.security import vault as vault_module
from kanim.store import tables as t
from kanim.store.uow import UnitOfWork
from kanim.seed import advance
from tests.integration.test_workflow import SITI, book_one

PDF = b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n"
NOW = timedelta(0)


def checked_in(office) -> str:  # noqa: ANN001
    app = book_one(office)
    booking.check_in(office, application_id=app.id, actor="frontdesk")
    return app.id


def upload(office, app_id: str, data: bytes = PDF) -> None:  # noqa: ANN001
    intake.upload_document(office, application_id=app_id, kind="ktp", data=data, actor="frontdesk")


def die_during(office, work: Callable[[], None], patch: Callable[[], None]) -> None:  # noqa: ANN001
    """Run `work` in a forked child that dies (os._exit: nothing cleans up) where `patch` says."""
    pid = os.fork()
    if pid == 0:  # the child
        try:
            office.engine.dispose(close=False)  # the parent's connections are not the child's
            patch()
            work()
        finally:
            os._exit(0)  # never back into pytest
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 9, "the child should have died at the crash point"


def crash(*_: object, **__: object) -> None:
    os._exit(9)


def scan_refs(office) -> set[str]:  # noqa: ANN001
    with office.uow(readonly=True) as uow:
        return set(uow.session.execute(select(t.document_scan.c.file_ref)).scalars())


def test_a_file_whose_row_was_never_committed_is_an_orphan(sqlite_office, monkeypatch) -> None:  # noqa: ANN001
    office = sqlite_office
    app_id = checked_in(office)
    upload(office, app_id)
    kept = scan_refs(office)
    die_during(office, lambda: upload(office, app_id, PDF + b"%2"),
               lambda: setattr(UnitOfWork, "commit", crash))
    assert scan_refs(office) == kept  # the killed upload's row was never written
    (orphan,) = vault_files.orphans(office, older_than=NOW)
    assert orphan.ref not in kept and not orphan.unfinished
    assert orphan.path.exists()


def test_a_write_killed_before_its_rename_leaves_an_unfinished_file(sqlite_office) -> None:  # noqa: ANN001
    office = sqlite_office
    app_id = checked_in(office)
    die_during(office, lambda: upload(office, app_id), lambda: setattr(os, "replace", crash))
    (orphan,) = vault_files.orphans(office, older_than=NOW)
    assert orphan.unfinished and orphan.path.suffix == ".tmp"


def test_a_replaced_scan_whose_old_file_was_not_deleted_is_an_orphan(sqlite_office) -> None:  # noqa: ANN001
    office = sqlite_office
    app_id = checked_in(office)
    upload(office, app_id)
    (old,) = scan_refs(office)
    die_during(office, lambda: upload(office, app_id, PDF + b"%2"),
               lambda: setattr(vault_module.Vault, "delete", crash))
    assert scan_refs(office) != {old}  # the new scan is committed
    assert [o.ref for o in vault_files.orphans(office, older_than=NOW)] == [old]


def test_the_sweep_removes_only_orphans_older_than_its_grace(sqlite_office) -> None:  # noqa: ANN001
    office = sqlite_office
    app_id = checked_in(office)
    upload(office, app_id)
    stale = office.vault.put(b"killed an hour ago")
    in_flight = office.vault.put(b"an upload whose row is about to commit")
    hour_ago = (office.vault._path(stale).stat().st_mtime - 3601)
    os.utime(office.vault._path(stale), (hour_ago, hour_ago))
    removed = vault_files.remove_orphans(office, actor="admin")  # the default grace: an hour
    assert [f.ref for f in removed] == [stale]
    assert not office.vault._path(stale).exists() and office.vault._path(in_flight).exists()
    (ref,) = scan_refs(office)
    assert office.vault.get(ref) == PDF  # what rows refer to is untouched
    with office.uow(readonly=True) as uow:
        (row,) = uow.session.execute(select(t.audit_event).where(t.audit_event.c.action == "VaultOrphansRemoved")).all()
    assert (row.actor, row.detail["files"], row.detail["unfinished"]) == ("admin", 1, 0)


def test_every_file_ref_column_is_searched(office) -> None:  # noqa: ANN001
    assert {f"{c.table.name}.{c.name}" for c in vault_files.file_ref_columns()} == {
        "biometric.file_ref", "document_scan.file_ref", "chip_image.file_ref"}
    app = book_one(office)
    advance(office, app.id, "captured", app_type=SITI.app_type)  # scans, a photo, fingerprints
    with office.uow(readonly=True) as uow:
        photos = uow.session.execute(select(t.biometric.c.file_ref).where(t.biometric.c.kind == "face")).all()
    assert len(photos) == 1 and photos[0].file_ref in vault_files.referenced(office)
    assert scan_refs(office) <= vault_files.referenced(office)
    assert len(office.vault.files()) == len(vault_files.referenced(office)) >= 4
    assert vault_files.orphans(office, older_than=NOW) == []


def fsynced_dirs(monkeypatch) -> list:  # noqa: ANN001
    """Every (event, path) in order: renames and unlinks, and fsyncs of folders."""
    events: list[tuple[str, Path]] = []
    real_fsync, real_replace, real_unlink = os.fsync, os.replace, Path.unlink

    def fsync(fd: int) -> None:
        target = Path(os.readlink(f"/proc/self/fd/{fd}"))
        if target.is_dir():
            events.append(("fsync", target))
        real_fsync(fd)

    def replace(src, dst) -> None:  # noqa: ANN001
        real_replace(src, dst)
        events.append(("rename", Path(dst).parent))

    def unlink(self, missing_ok=False) -> None:  # noqa: ANN001
        real_unlink(self, missing_ok=missing_ok)
        events.append(("unlink", self.parent))

    monkeypatch.setattr(os, "fsync", fsync)
    monkeypatch.setattr(os, "replace", replace)
    monkeypatch.setattr(Path, "unlink", unlink)
    return events


@pytest.mark.skipif(not Path("/proc/self/fd").exists(), reason="needs /proc to name an fsynced descriptor")
def test_the_folder_is_fsynced_after_a_rename_and_after_a_delete(sqlite_office, monkeypatch) -> None:  # noqa: ANN001
    vault = sqlite_office.vault
    events = fsynced_dirs(monkeypatch)
    ref = vault.put(b"a scan")
    folder = vault._path(ref).parent
    vault.delete(ref)
    assert events.index(("rename", folder)) < events.index(("fsync", folder), events.index(("rename", folder)))
    after_unlink = events[events.index(("unlink", folder)):]
    assert ("fsync", folder) in after_unlink


def test_a_new_vault_folder_is_fsynced_in_its_parent(sqlite_office, monkeypatch) -> None:  # noqa: ANN001
    vault = sqlite_office.vault
    synced = []
    monkeypatch.setattr(vault_module, "fsync_dir", lambda p: synced.append(p) or filemodes.fsync_dir(p))
    for d in vault.root.iterdir():
        for f in d.iterdir():
            f.unlink()
        d.rmdir()
    ref = vault.put(b"first file in its folder")
    assert synced[:2] == [vault.root, vault._path(ref).parent]
