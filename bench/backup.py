"""Backup and restore of a large office: a full backup, an incremental one after a day's work,
a restore into an empty folder, each against a plain copy of the same files on the same disk in
the same run; and the desks' p95 latency with and without a backup running.

The office: a SQLite database of N older applications (bench/lib/big_office.py) and a vault of
11 biometric files per application (a face and ten fingerprints, real vault files: AES-256-GCM
under the node's key, so the restore's check decrypts each one), written straight to disk.
The day: D walk-ins through kanim's own use case, each with its 11 files. The desk load: walk-ins
over HTTP to a real `kanim serve`, one after another, for `--desk-seconds`, once alone and once
while `kanim backup create` runs as its own process.

    python bench/backup.py --applications 10000 --day 400 --json result.json
Smoke size (make test): --applications 20 --day 4 --desk-seconds 0.5
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent / "lib"))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from big_office import populate  # noqa: E402

from kanim.config import Settings  # noqa: E402

FACE, FINGER = 60_000, 16_000  # bytes: about 220 KB a person, 2.2 GB for 10,000
PASSWORD = "bench-front-desk"


def vault_file(root: Path, key: bytes, data: bytes) -> str:
    """A vault file as kanim/security/vault.py writes it (without its per-file fsync: set-up)."""
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    from kanim.security.vault import MAGIC

    ref = uuid.uuid4().hex
    nonce = secrets.token_bytes(12)
    folder = root / ref[:2]
    folder.mkdir(mode=0o700, exist_ok=True)
    (folder / f"{ref}.bin").write_bytes(MAGIC + nonce + AESGCM(key).encrypt(nonce, data, ref.encode()))
    return ref


def add_biometrics(db: Path, vault: Path, key: bytes, app_ids: list[str], now: datetime) -> int:
    rows, total = [], 0
    for app_id in app_ids:
        for position in range(11):
            data = os.urandom(FACE if position == 0 else FINGER)  # images: as incompressible as JPEG/WSQ
            ref = vault_file(vault, key, data)
            total += len(data)
            rows.append((str(uuid.uuid4()), app_id, "face" if position == 0 else "fingerprint", position, ref,
                         640, 480, "{}", now.replace(tzinfo=None).isoformat(sep=" "), "bench"))
    con = sqlite3.connect(db, timeout=30)
    with con:
        con.executemany("INSERT INTO biometric (id, application_id, kind, position, file_ref, width, height, "
                        "quality, captured_at, captured_by) VALUES (?,?,?,?,?,?,?,?,?,?)", rows)
    con.close()
    return total


def folder_bytes(root: Path) -> int:
    return sum(p.stat().st_size for p in root.rglob("*") if p.is_file())


def timed(fn: Any) -> tuple[Any, float]:
    t = time.perf_counter()
    value = fn()
    return value, time.perf_counter() - t


def plain_copy(src: Path, dest: Path) -> float:
    """The reference: the same files copied on the same disk, and synced (as a restore syncs)."""
    def copy() -> None:
        shutil.copytree(src, dest)
        os.sync()
    return timed(copy)[1]


def walk_ins(api: str, token: str, start: int, until: Any) -> list[float]:
    """Walk-ins over HTTP one after another until `until()` is true."""
    latencies, n = [], start
    with httpx.Client(headers={"authorization": f"Bearer {token}"}, timeout=60) as c:
        while not until():
            n += 1
            body = {"full_name": "Bench Applicant", "nik": f"527201450890{n % 10000:04d}", "birth_date": "1990-08-05",
                    "sex": "F", "kk_number": f"52720112{n:08d}"}
            t = time.perf_counter()
            r = c.post(f"{api}/walk-ins", json=body)
            latencies.append(time.perf_counter() - t)
            if r.status_code != 201:
                raise RuntimeError(f"walk-in answered {r.status_code}: {r.text[:200]}")
    return latencies


def p95(xs: list[float]) -> float:
    return statistics.quantiles(xs, n=20)[-1] * 1000 if len(xs) >= 2 else (xs[0] * 1000 if xs else 0.0)


@dataclass
class Bench:
    root: Path
    settings: Settings
    key: bytes
    now: datetime

    @property
    def db(self) -> Path:
        return self.settings.data_dir / "kanim.db"

    def backup(self, target: Any) -> tuple[Any, float]:
        from kanim.backup.keys import dedup_key, load_public
        from kanim.backup.snapshot import create

        s = self.settings
        return timed(lambda: create(s, [target], public=load_public(s), dedup_key=dedup_key(s),
                                    now=datetime.now(UTC))[0])


def make_office(root: Path, applications: int) -> tuple[Bench, int]:
    from kanim.backup.keys import escrow_sheet, keygen
    from kanim.bootstrap import bootstrap
    from kanim.office.accounts import add_user
    from kanim.store.migrate import upgrade

    data = root / "office"
    settings = Settings(_env_file=None, data_dir=data, office_code="MND", database_url=f"sqlite:///{data / 'kanim.db'}",
                        chip_required=False)  # no Document Signer here: electronic passports get blank chips
    office = bootstrap(settings)
    upgrade(office.engine)
    add_user(office, username="frontdesk", full_name="F", role="front_desk", password=PASSWORD)
    office.engine.dispose()
    b = Bench(root, settings, settings.key_path.read_bytes(), datetime.now(UTC))
    populate(b.db, office_code="MND", older=applications, today_n=0, now=b.now)
    con = sqlite3.connect(b.db)
    ids = [r[0] for r in con.execute("SELECT id FROM application")]
    con.close()
    plain = add_biometrics(b.db, settings.vault_dir, b.key, ids, b.now)
    keygen(settings, root / "backup.key")
    (root / "escrow.txt").write_text(escrow_sheet(settings))
    os.sync()
    return b, plain


def desks(b: Bench, seconds: float) -> dict[str, Any]:
    """p95 of walk-ins over HTTP alone for `seconds`, then while `kanim backup create` runs."""
    from kanim.ops.cluster import NodeProcess, free_port, node_env

    port = free_port()
    env = node_env({"data_dir": str(b.settings.data_dir), "office_code": "MND", "database_url": f"sqlite:///{b.db}"})
    server = NodeProcess("office", ["serve", "--port", str(port), "--no-access-log", "--no-relay"], env,
                         b.root / "office.log", url=f"http://127.0.0.1:{port}").start(wait=120)
    try:
        api = f"{server.url}/api/v1"
        token = httpx.post(f"{api}/auth/token", json={"username": "frontdesk", "password": PASSWORD},
                           timeout=60).json()["access_token"]
        deadline = time.monotonic() + seconds
        alone = walk_ins(api, token, 0, lambda: time.monotonic() > deadline)
        t = time.perf_counter()
        proc = subprocess.Popen([sys.executable, "-m", "kanim", "backup", "create"], cwd=b.root,
                                env={**env, "KANIM_BACKUP_TARGETS": str(b.root / "target-desks")},
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        during = walk_ins(api, token, 5000, lambda: proc.poll() is not None)
        _, err = proc.communicate(timeout=3600)
        if proc.returncode != 0:
            raise RuntimeError(f"kanim backup create failed: {err.strip()}")
    finally:
        server.stop()
    return {"alone": {"requests": len(alone), "p95_ms": round(p95(alone), 2)},
            "during_backup": {"requests": len(during), "p95_ms": round(p95(during), 2),
                              "backup_seconds": round(time.perf_counter() - t, 2)},
            "p95_ratio": round(p95(during) / p95(alone), 2) if alone and during else None}


def a_day(b: Bench, n: int) -> None:
    """n walk-ins through kanim's own use case, each with its 11 biometric files."""
    from dataclasses import replace

    from kanim.bootstrap import bootstrap
    from kanim.office import booking
    from tests.integration.test_workflow import SITI

    office = bootstrap(b.settings)
    ids = [booking.walk_in(office, applicant=replace(SITI, nik=f"527101450890{i + 1:04d}",
                                                     kk_number=f"52710112{i:08d}"), actor="bench").id
           for i in range(n)]
    office.engine.dispose()
    add_biometrics(b.db, b.settings.vault_dir, b.key, ids, b.now)


def run(args: argparse.Namespace) -> dict[str, Any]:
    from kanim.backup.keys import load_escrow, load_private
    from kanim.backup.restore import restore
    from kanim.backup.targets import FolderTarget

    root = Path(tempfile.mkdtemp(prefix="kanim-bench-backup-"))
    b, plain = make_office(root, args.applications)
    size = folder_bytes(b.settings.data_dir)
    r: dict[str, Any] = {"benchmark": "backup", "applications": args.applications, "vault_files": args.applications * 11,
                         "node_bytes": size, "vault_plain_bytes": plain}
    copy_s = plain_copy(b.settings.data_dir, root / "copy")
    shutil.rmtree(root / "copy")
    r["plain_copy"] = {"seconds": round(copy_s, 3), "mb_per_s": round(size / copy_s / 1e6, 1)}

    target = FolderTarget(root / "target")
    made, full_s = b.backup(target)
    r["full_backup"] = {"seconds": round(full_s, 3), "sent_bytes": made.sent, "packs": made.packs,
                        "ratio_to_plain_copy": round(full_s / copy_s, 2)}
    if args.desk_seconds > 0:
        r["desks"] = desks(b, args.desk_seconds)
    a_day(b, args.day)
    inc, inc_s = b.backup(target)
    r["incremental_backup"] = {"day_applications": args.day, "seconds": round(inc_s, 3), "sent_bytes": inc.sent,
                               "node_bytes": inc.bytes}
    r["target_bytes"] = folder_bytes(root / "target")
    restored, restore_s = timed(lambda: restore(target, load_private(root / "backup.key"),
                                                load_escrow(root / "escrow.txt"), root / "restored"))
    r["restore"] = {"seconds": round(restore_s, 3), "bytes": restored.bytes, "vault_files": restored.vault_files,
                    "mb_per_s": round(restored.bytes / restore_s / 1e6, 1),
                    "speed_ratio_to_plain_copy": round((restored.bytes / restore_s) / (size / copy_s), 2)}
    r["machine"] = {"nproc": os.cpu_count(), "load_1min": round(os.getloadavg()[0], 2),
                    "date": f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC", "sqlite": sqlite3.sqlite_version}
    r["folder"] = str(root)
    return r


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--applications", type=int, default=10_000, help="older applications, each with 11 vault files")
    p.add_argument("--day", type=int, default=400, help="the day's applications before the incremental backup")
    p.add_argument("--desk-seconds", type=float, default=20,
                   help="walk-ins alone for this long, then during a backup (0: no desks, no server)")
    p.add_argument("--json", type=Path, help="write the result here")
    p.add_argument("--keep", action="store_true", help="keep the bench's folder")
    args = p.parse_args(argv)
    result = run(args)
    print(json.dumps(result, indent=2))
    if args.json:
        args.json.write_text(json.dumps(result, indent=2))
    if not args.keep:  # after the result is out: removing 200,000 files takes a while
        shutil.rmtree(result["folder"], ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
