"""Shared by the backup tests: an office with applications and scans, keys, and exact comparisons
of two nodes (every row of every table, every file's bytes)."""

from __future__ import annotations

import random
import sqlite3
from dataclasses import replace
from pathlib import Path

from kanim.backup import paper
from kanim.backup.keys import escrow_sheet, keygen
from kanim.office import booking, intake
from tests.integration.test_workflow import SITI


def applicant(n: int) -> booking.Applicant:
    return replace(SITI, full_name=f"Siti Rahmawati {chr(65 + n % 26)}", nik=f"317101450890{n + 1:04d}",
                   kk_number=f"71710112{n:08d}")


def scan(n: int, size: int = 20_000) -> bytes:
    return b"%PDF-1.4\n" + random.Random(n).randbytes(size) + b"\n%%EOF\n"


def add_applications(office, start: int, count: int) -> list[str]:  # noqa: ANN001
    """`count` walk-ins, each with a scanned KTP in the vault."""
    ids = []
    for n in range(start, start + count):
        app = booking.walk_in(office, applicant=applicant(n), actor="frontdesk")
        intake.upload_document(office, application_id=app.id, kind="ktp", data=scan(n), actor="frontdesk")
        ids.append(app.id)
    return ids


def keys(office, tmp_path: Path) -> tuple[Path, Path]:  # noqa: ANN001
    """(backup private key file, escrow sheet) of `office`, made as an operator would."""
    key, escrow = tmp_path / "backup.key", tmp_path / "escrow.txt"
    keygen(office.settings, key)
    escrow.write_text(escrow_sheet(office.settings))
    return key, escrow


def private_of(key: Path) -> bytes:
    return paper.decode(paper.labelled(key.read_text())["private key"])


def rows(db: Path) -> dict[str, list[tuple]]:
    """Every row of every table, in a stable order."""
    con = sqlite3.connect(db)
    try:
        tables = [r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type='table' ORDER BY name")]
        return {t: sorted(con.execute(f'SELECT * FROM "{t}"').fetchall(), key=repr) for t in tables}
    finally:
        con.close()


def vault_bytes(data_dir: Path) -> dict[str, bytes]:
    return {p.relative_to(data_dir).as_posix(): p.read_bytes() for p in sorted((data_dir / "vault").rglob("*.bin"))}


