"""Vault files no row refers to (left by an upload whose process was killed between writing the
file and committing its row, or by a replaced scan whose old file was not deleted yet), and
their removal. `kanim vault orphans [--remove]`."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import Column, select, union

from kanim.bootstrap import Office
from kanim.security.vault import StoredFile
from kanim.store import tables as t

DEFAULT_GRACE = timedelta(hours=1)  # far longer than any upload: its file exists before its row
NOW = timedelta(0)  # no grace: only while no node serves the data folder


def file_ref_columns() -> list[Column]:
    """Every column that names a vault file, found by name: a new table with a `file_ref` is
    covered without anyone remembering to list it here."""
    return [c for table in t.metadata.sorted_tables for c in table.c if c.name == "file_ref"]


def referenced(office: Office) -> set[str]:
    with office.uow(readonly=True) as uow:
        query = union(*(select(c.label("ref")).where(c.is_not(None)) for c in file_ref_columns()))
        return set(uow.session.execute(query).scalars())


def orphans(office: Office, *, older_than: timedelta = DEFAULT_GRACE) -> list[StoredFile]:
    # File ages are the filesystem's, so measured on the real clock, not the office's.
    return office.vault.orphans(lambda: referenced(office), older_than=older_than)


def remove_orphans(office: Office, *, older_than: timedelta = DEFAULT_GRACE, actor: str) -> list[StoredFile]:
    """Delete the orphans, and audit how many (only counts: the file names say nothing)."""
    found = orphans(office, older_than=older_than)
    if not found:
        return found
    office.vault.remove(found)
    with office.uow() as uow:
        uow.audit(actor=actor, action="VaultOrphansRemoved", subject="vault",
                  detail={"files": len(found), "unfinished": sum(f.unfinished for f in found),
                          "bytes": sum(f.size for f in found), "older_than_s": older_than.total_seconds()})
        uow.commit()
    return found
