"""PostgreSQL nodes — the central, a large office: a base backup of the cluster and its
write-ahead log archived, both sealed to the backup key like every snapshot, so a restore can
stop at any moment the log reaches (docs/backup.md, "PostgreSQL: base backup and WAL").

- **The log.** PostgreSQL's `archive_command` makes a durable local copy of each finished
  segment in a spool folder (`archive_command_for`): nothing slow or networked runs inside the
  server's archiver. `kanim backup wal-ship` (and `kanim backup run`, each round) seals each
  spooled segment to the backup public key, puts it on every target under `wal/<segment>`
  (append-only like the rest) and only then removes it from the spool. With
  `archive_timeout = 60` the recovery point is a minute plus a shipping round.
- **The base.** `kanim backup create` on a PostgreSQL node runs `pg_basebackup` (a replication
  connection; plain format, no WAL: the archive has it), ships the spool (the segments the base
  needs), and stores the cluster's files under `pgdata/` in an ordinary snapshot.
- **The restore** writes the cluster into `<folder>/pgdata`, every archived segment from the
  base's start into `pgdata/kanim_wal/`, and the recovery settings: PostgreSQL, started on it,
  replays the log up to `--at` (or its end) and opens. kanim never runs inside the server: its
  `restore_command` is a `cp` from that folder.
"""

from __future__ import annotations

import os
import pwd
import re
import shlex
import shutil
import subprocess
import tempfile
import time
import zlib
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from sqlalchemy.engine import make_url

from kanim.backup import crypto
from kanim.backup.format import valid_name
from kanim.backup.targets import AlreadyThere, Target

PGDATA = "pgdata"  # the cluster's files, in a snapshot and in a restored folder
RESTORED_WAL = "kanim_wal"  # inside a restored cluster: the segments its recovery reads
BASE_TIMEOUT = 6 * 3600  # a base of a large cluster over a slow disk
START = re.compile(r"^START WAL LOCATION: .* \(file ([0-9A-F]{24})\)$", re.M)


class PgBackupError(Exception):
    """One line: why the PostgreSQL backup or restore could not be made."""


def archive_command_for(spool: Path) -> str:
    """postgresql.conf's `archive_command` (a shell command; `conf_value` quotes it for the file):
    the segment copied into the spool and synced before it takes its name (PostgreSQL recycles
    the segment once this succeeds); an identical copy already there (the archiver retrying
    after a crash) is a success."""
    s = shlex.quote(str(spool))
    return (f"cmp -s %p {s}/%f || (cp %p {s}/%f.part && sync {s}/%f.part && mv {s}/%f.part {s}/%f)")


def conf_value(value: str) -> str:
    """A string as postgresql.conf reads one: in single quotes, each quote doubled."""
    return "'" + value.replace("'", "''") + "'"


def _aad(name: str) -> bytes:
    return f"kanim-wal:{name}".encode()


@dataclass(frozen=True)
class Shipped:
    segments: int
    bytes: int


LEDGER = "wal-shipped"  # in <data dir>/backup: every segment this node put on a target


def ship(spool: Path, targets: list[Target], public: bytes, *, ledger: Path | None = None) -> Shipped:
    """Every finished segment of the spool sealed and put on every target, then removed from the
    spool. A target out of reach keeps the segment for the next round (raises, after the others).

    A name a target already holds is a success only if this node shipped it before (`ledger`,
    a list of names, fsynced before the spool's copy goes): anyone with the node's token could
    have put that name there first, and the real segment must not be dropped for it."""
    sent = size = 0
    if not spool.is_dir():
        return Shipped(0, 0)
    shipped = set(ledger.read_text().split()) if ledger is not None and ledger.exists() else set()
    failures = []
    for path in sorted(spool.iterdir()):
        if not valid_name("wal", path.name):
            continue  # a copy in progress (.part), or not PostgreSQL's
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            continue  # another shipper took it
        box = crypto.seal(public, zlib.compress(data, 1), _aad(path.name))
        failed = False
        for target in targets:
            try:
                target.put_new("wal", path.name, box)
            except AlreadyThere:
                if ledger is not None and path.name not in shipped:
                    failures.append(f"{target.label} already holds wal/{path.name}, which this node never shipped: "
                                    "its token may be in someone else's hands (ask the off-site host's operator)")
                    failed = True
                # else shipped before (the spool kept it through a crash): it is safe there
            except Exception as e:  # noqa: BLE001 - each target's failure is reported, the others still get it
                failures.append(f"{target.label}: {e}")
                failed = True
        if not failed:
            if ledger is not None:
                _record(ledger, path.name)
                shipped.add(path.name)
            path.unlink(missing_ok=True)
            sent += 1
            size += len(data)
    if failures:
        raise PgBackupError(f"WAL not shipped to every target, kept in {spool}: {failures[0]}")
    return Shipped(sent, size)


def _record(ledger: Path, name: str) -> None:
    with ledger.open("a") as f:
        f.write(name + "\n")
        f.flush()
        os.fsync(f.fileno())


def gaps(names: list[str], start: str) -> list[str]:
    """Segments missing between the base's start and the newest archived one of its timeline
    (16 MiB segments, PostgreSQL's default): a replay stops at the first, short of the rest."""
    timeline = start[:8]
    held = sorted(_ordinal(n) for n in names if len(n) == 24 and n[:8] == timeline and n >= start)
    missing = []
    for a, b in zip(held, held[1:], strict=False):
        missing += [_segment(timeline, x) for x in range(a + 1, b)]
    return missing[:10]


def _ordinal(name: str) -> int:
    return int(name[8:16], 16) * 0x100 + int(name[16:24], 16)


def _segment(timeline: str, ordinal: int) -> str:
    return f"{timeline}{ordinal // 0x100:08X}{ordinal % 0x100:08X}"


def base_backup(db_url: str, dest: Path) -> str:
    """The cluster's files in `dest` (pg_basebackup over a replication connection); returns the
    first WAL segment a restore of it needs."""
    exe = shutil.which("pg_basebackup")
    if exe is None:
        raise PgBackupError("pg_basebackup is not installed: install PostgreSQL's client tools "
                            "(Debian: apt-get install postgresql-client)")
    url = make_url(db_url)
    env = {**os.environ, **({"PGPASSWORD": url.password} if url.password else {})}
    args = [exe, "-D", str(dest), "-Fp", "-X", "none", "-c", "fast", "-w", "--no-password"]
    args += [f"--host={url.host or '127.0.0.1'}", f"--port={url.port or 5432}",
             f"--username={url.username or 'postgres'}"]
    shutil.rmtree(dest, ignore_errors=True)
    try:
        r = subprocess.run(args, env=env, capture_output=True, text=True, timeout=BASE_TIMEOUT)
    except subprocess.TimeoutExpired:
        raise PgBackupError(f"pg_basebackup took more than {BASE_TIMEOUT // 3600} hours: stopped") from None
    if r.returncode != 0:
        why = (r.stderr.strip().splitlines() or ["no reason given"])[0]
        hint = (" (allow it in pg_hba.conf: `host replication <user> <address> <method>`, and give the user "
                "REPLICATION; docs/backup.md)" if "replication" in why else "")
        raise PgBackupError(f"pg_basebackup failed: {why}{hint}")
    found = START.search((dest / "backup_label").read_text())
    if found is None:
        raise PgBackupError("pg_basebackup wrote no backup_label with its start: not a usable base backup")
    return found[1]


def needed(names: list[str], start: str) -> list[str]:
    """The archived objects a restore from a base starting at segment `start` reads: every
    timeline history, and the segments from `start` on (segment names sort in log order within
    a timeline; a later timeline's are after, by their timeline prefix)."""
    return [n for n in names if n.endswith(".history") or (len(n) == 24 and n[8:] >= start[8:] and n[:8] >= start[:8])]


def open_wal(target: Target, private: bytes, name: str) -> bytes:
    """An archived segment, opened and checked (its AES-GCM tag, bound to its name)."""
    try:
        return zlib.decompress(crypto.open_sealed(private, target.get("wal", name), _aad(name)))
    except (crypto.DecryptError, zlib.error, ValueError):
        raise PgBackupError(f"WAL {name} on {target.label} does not open with this backup key, or is damaged") from None


KANIM_MARK = "# kanim restore"  # the recovery settings kanim writes, each line ending with it


def write_recovery(pgdata: Path, target: Target, private: bytes, *, start: str, at: datetime | None) -> int:
    """The segments the base needs, opened, in `pgdata/kanim_wal`, and the settings that make
    PostgreSQL replay them up to `at` (its end without) and open. Returns how many segments were
    written. A gap in the log is refused when the replay should reach its end (it would stop at
    the gap and open there without a word); with `at`, the gap may lie after it."""
    wal = pgdata / RESTORED_WAL
    wal.mkdir(mode=0o700, exist_ok=True)
    names = needed(target.names("wal"), start)
    if at is None and (missing := gaps(names, start)):
        raise PgBackupError(f"the archived log has a gap from {missing[0]}: a replay to its end would stop there; "
                            "restore with --at a time before it, or from a target that holds it")
    for name in names:
        (wal / name).write_bytes(open_wal(target, private, name))
    (pgdata / "recovery.signal").write_text("")
    _minimal_config(pgdata)
    settings = {
        "restore_command": conf_value(f"cp {shlex.quote(str(wal))}/%f %p"),
        "recovery_target_action": "'promote'",
        "recovery_target_time": conf_value(at.isoformat() if at is not None else ""),
        # The restored server must not archive into the old node's spool until IT says so.
        "archive_mode": "'off'",
    }
    # Replaced, not appended: a base taken from a node restored before carries the last
    # restore's lines (the runbook has IT reset them with ALTER SYSTEM once the node is back).
    conf = pgdata / "postgresql.auto.conf"
    kept = [line for line in (conf.read_text().splitlines() if conf.exists() else [])
            if not line.endswith(KANIM_MARK) and line.split("=")[0].strip() not in settings]
    conf.write_text("\n".join([*kept, *(f"{k} = {v}  {KANIM_MARK}" for k, v in settings.items())]) + "\n")
    return len([n for n in names if len(n) == 24])


def _minimal_config(pgdata: Path) -> None:
    """A cluster whose configuration lived outside it (Debian: /etc/postgresql) gets one that
    starts it on this host alone; IT puts the node's own back before serving."""
    if not (pgdata / "postgresql.conf").exists():
        (pgdata / "postgresql.conf").write_text(
            "# written by kanim restore: the original configuration was not part of the cluster\n"
            "listen_addresses = 'localhost'\n")
    if not (pgdata / "pg_hba.conf").exists():
        (pgdata / "pg_hba.conf").write_text(
            "# written by kanim restore: local connections only, as the restoring user chooses\n"
            "local all all peer\nhost all all 127.0.0.1/32 scram-sha-256\n")


# -- a PostgreSQL server of kanim's own, on a restored cluster (the drill's) ----------------------

def bindir() -> Path | None:
    """Where the server's programs are (Debian keeps them out of PATH), or None."""
    if shutil.which("pg_config"):
        found = Path(subprocess.run(["pg_config", "--bindir"], capture_output=True, text=True).stdout.strip())
        if (found / "pg_ctl").exists():
            return found
    for d in sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True):
        if (d / "pg_ctl").exists():
            return d
    return None


def server_unavailable() -> str | None:
    """Why kanim cannot run a PostgreSQL server here, or None."""
    if bindir() is None:
        return "PostgreSQL's server programs (pg_ctl) are not installed (Debian: apt-get install postgresql)"
    if os.geteuid() == 0:
        try:
            pwd.getpwnam("postgres")
        except KeyError:
            return "running as root, and there is no `postgres` user to run PostgreSQL as"
        if shutil.which("runuser") is None:
            return "running as root without runuser to run PostgreSQL as `postgres`"
    return None


def scratch_dir() -> Path:
    """A folder the server's OS user can reach (root's /tmp may be root's alone)."""
    base = Path(tempfile.mkdtemp(prefix="kanim-pg-", dir="/var/tmp" if Path("/var/tmp").is_dir() else None))
    base.chmod(0o755)
    give_to_server(base, recursive=False)
    return base


def give_to_server(path: Path, *, recursive: bool = True) -> None:
    """`path` to the server's OS user: PostgreSQL refuses to run as root, and as root kanim runs
    it as `postgres`."""
    if os.geteuid() == 0:
        subprocess.run(["chown", *(["-R"] if recursive else []), "postgres:postgres", str(path)], check=True)


class Server:
    """A PostgreSQL server on `data`, started and stopped with pg_ctl as a real process."""

    def __init__(self, base: Path, data: Path, *, port: int | None = None) -> None:
        from kanim.ops.cluster import free_port

        self.base, self.data, self.port = base, data, port or free_port()
        self.log = base / f"{data.name}.log"

    def run(self, program: str, *args: str) -> subprocess.CompletedProcess:
        if (where := bindir()) is None:
            raise PgBackupError(server_unavailable() or "no PostgreSQL server programs")
        prefix = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
        return subprocess.run([*prefix, str(where / program), *args], capture_output=True, text=True,
                              timeout=600, cwd=self.base)

    def configure(self, **conf: str) -> None:
        """Its own port and socket (the node it was copied from may run beside it)."""
        lines = {"port": str(self.port), "listen_addresses": "'127.0.0.1'",
                 "unix_socket_directories": f"'{self.base}'", **conf}
        with (self.data / "postgresql.auto.conf").open("a") as f:
            f.write("".join(f"{k} = {v}\n" for k, v in lines.items()))

    def start(self) -> Server:
        r = self.run("pg_ctl", "-D", str(self.data), "-l", str(self.log), "-w", "-t", "300", "start")
        if r.returncode != 0:
            tail = self.log.read_text()[-500:].strip().splitlines()[-1:] if self.log.exists() else []
            raise PgBackupError(f"PostgreSQL did not start on the restored cluster: {(tail or [r.stderr.strip()])[0]}")
        return self

    def stop(self) -> None:
        self.run("pg_ctl", "-D", str(self.data), "-m", "immediate", "-w", "stop")

    @property
    def url(self) -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/postgres"

    def wait_until_open(self, timeout: float = 600) -> None:
        """Until the log is replayed and the server takes writes."""
        from sqlalchemy import create_engine, text

        engine = create_engine(self.url)
        deadline = time.monotonic() + timeout
        try:
            while time.monotonic() < deadline:
                try:
                    with engine.connect() as c:
                        if not c.execute(text("SELECT pg_is_in_recovery()")).scalar():
                            return
                except Exception:  # noqa: BLE001, S110 - starting, or replaying: ask again
                    pass
                time.sleep(0.2)
        finally:
            engine.dispose()
        raise PgBackupError(f"the restored cluster did not finish its recovery within {timeout:.0f} s")
