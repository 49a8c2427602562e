"""`kanim backup …` and `kanim restore`: a thin layer over kanim/backup (docs/backup.md).

Errors are one line on stderr: exit 2 for bad input (a missing key, a wrong folder), 1 for a
check that failed (a damaged piece, a failed drill, a stale backup in `status`)."""

from __future__ import annotations

import json
import signal
import time
from collections.abc import Callable
from dataclasses import asdict
from datetime import UTC, datetime, timedelta
from functools import wraps
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

backup_app = typer.Typer(help="Encrypted, deduplicated backups to append-only targets; drills.",
                         no_args_is_help=True)
out = Console()
err = Console(stderr=True, soft_wrap=True)

Target = Annotated[str | None, typer.Option("--to", "--from", help="a folder or an off-site URL "
                                            "(default: the first of KANIM_BACKUP_TARGETS)")]
KeyOpt = Annotated[Path, typer.Option("--key", help="the backup private key's file (`kanim backup keygen`)")]
EscrowOpt = Annotated[Path | None, typer.Option("--escrow", help="the escrow sheet (`kanim backup escrow`)")]


def one_line(fn: Callable[..., Any]) -> Callable[..., Any]:
    @wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        from kanim.backup.keys import BackupKeyError
        from kanim.backup.restore import RestoreError
        from kanim.backup.snapshot import BackupError
        from kanim.backup.targets import TargetError

        try:
            return fn(*args, **kwargs)
        except (BackupKeyError, TargetError, BackupError, ValueError) as e:
            err.print(f"error: {e}", markup=False, highlight=False)
            raise typer.Exit(2) from None
        except RestoreError as e:
            err.print(f"error: {e}", markup=False, highlight=False)
            raise typer.Exit(1) from None

    wrapper._kanim_one_line = True  # type: ignore[attr-defined]  # kanim/cli.py: already one line
    return wrapper


def _settings():  # noqa: ANN202
    from kanim.config import Settings

    return Settings()


def _backup_settings():  # noqa: ANN202
    from kanim.backup.settings import BackupSettings

    return BackupSettings()


def _targets(spec: str | None, *, office: str | None = None) -> list:
    from kanim.backup.targets import open_target

    b = _backup_settings()
    specs = [spec] if spec else b.target_specs()
    if not specs:
        raise ValueError("no backup target: give --to PATH|URL or set KANIM_BACKUP_TARGETS")
    return [open_target(s, office=office or _settings().office_code, token=b.token) for s in specs]


def _node():  # noqa: ANN202
    """The settings of the node that is there (or one line saying where kanim looked)."""
    from kanim.ops.nodes import NoNode, require_node

    settings = _settings()
    try:
        require_node(settings)
    except NoNode as e:
        raise ValueError(str(e)) from None
    return settings


@backup_app.command("keygen")
@one_line
def keygen(
    private_out: Annotated[Path, typer.Option("--private-out", help="where the private key goes: a USB stick "
                                              "kept offline, never the node")],
    replace: Annotated[bool, typer.Option("--replace", help="replace this node's backup key")] = False,
) -> None:
    """Make the office's backup key pair: the node keeps the public key only.

    Example: kanim backup keygen --private-out /media/usb/kanim-backup.key   (then print the paper key)
    """
    from kanim.backup.keys import keygen as make

    sheet = make(_node(), private_out, replace=replace)
    print(sheet)
    out.print(f"private key written to {private_out}: print it, keep it offline, then remove it from this "
              "machine; the node keeps only the public key", markup=False)


@backup_app.command("escrow")
@one_line
def escrow(out_file: Annotated[Path | None, typer.Option("--out", help="also write the sheet here")] = None) -> None:
    """Print the escrow sheet: the node's own secret keys (vault, signing), to keep on paper.

    Example: kanim backup escrow --out /media/usb/kanim-escrow.txt
    """
    from kanim.backup.keys import escrow_sheet

    sheet = escrow_sheet(_node())
    if out_file:
        from kanim.backup.keys import _write_once

        _write_once(out_file, sheet.encode())
    print(sheet)


@backup_app.command("install-keys")
@one_line
def install_keys(escrow_file: EscrowOpt = None) -> None:
    """Put the escrowed keys into a new node, to rebuild it from the central when every backup is lost.

    Example: KANIM_DATA_DIR=/srv/kanim/data kanim backup install-keys --escrow escrow.txt && kanim db upgrade && kanim backup rejoin
    """
    from kanim.backup.keys import install_escrow, load_escrow

    from kanim.backup.rebuild import mark_rejoin_needed

    settings = _settings()
    names = install_escrow(settings, load_escrow(escrow_file))
    mark_rejoin_needed(settings.data_dir, after=0)  # nothing here yet: the whole history comes back
    out.print(f"installed {len(names)} escrowed keys into {settings.data_dir / 'keys'}: {', '.join(names)}",
              markup=False)
    out.print("next: kanim db upgrade, then kanim backup rejoin (with KANIM_CENTRAL_URL)", markup=False)


@backup_app.command("create")
@one_line
def create(to: Target = None) -> None:
    """Take a consistent snapshot of the node (while it serves) and send it to each target.

    Example: KANIM_BACKUP_TARGETS=/media/usb/kanim,https://offsite.example:8443 kanim backup create
    """
    for m in _create(to):
        out.print(f"{m.name} on {m.target}: {m.files} files, {m.bytes:,} bytes, {m.sent:,} bytes sent "
                  f"in {m.packs} packs, {m.seconds:.1f} s", markup=False, highlight=False)


def _create(to: str | None, *, folder_only: bool = False) -> list:
    from kanim.backup.keys import dedup_key, load_public
    from kanim.backup.snapshot import create as make

    settings = _node()
    return make(settings, _targets(to), public=load_public(settings), dedup_key=dedup_key(settings),
                now=datetime.now(UTC), folder_only=folder_only)


@backup_app.command("run")
@one_line
def run(every: Annotated[float | None, typer.Option(min=1, help="seconds between snapshots "
                                                    "(default KANIM_BACKUP_EVERY_SECONDS, 60)")] = None) -> None:
    """Take a snapshot every minute until stopped: the recovery point is at most that old.

    Example: kanim backup run --every 60
    """
    from kanim.backup.pg import PgBackupError
    from kanim.backup.snapshot import BackupError, is_postgresql
    from kanim.backup.targets import TargetError

    every = every or _backup_settings().every_seconds
    stop = []
    signal.signal(signal.SIGTERM, lambda *_: stop.append(1))
    while not stop:
        started = time.monotonic()
        try:
            if is_postgresql(_node()):
                _postgresql_round()
            else:
                for m in _create(None):
                    out.print(f"{m.name} on {m.target}: {m.sent:,} bytes sent, {m.seconds:.1f} s", markup=False)
        except (TargetError, BackupError, PgBackupError) as e:  # an off-site host down, a backup by hand: next round
            err.print(f"backup failed: {e}", markup=False, highlight=False)
        while not stop and time.monotonic() - started < every:
            time.sleep(0.2)


def _postgresql_round() -> None:
    """A PostgreSQL node's round (kanim/backup/pg.py): its log first, whatever else fails; then a
    base when one is due, else a snapshot of its data folder (the vault's new files)."""
    from kanim.backup.pg import PgBackupError
    from kanim.backup.snapshot import BackupError

    try:
        shipped = _ship(None)
        if shipped.segments:
            out.print(f"{shipped.segments} WAL segments shipped ({shipped.bytes:,} bytes)", markup=False)
    except PgBackupError as e:  # kept in the spool; the rest of the round still runs
        err.print(f"WAL not shipped: {e}", markup=False, highlight=False)
    if _base_due():
        for m in _create(None):
            out.print(f"base {m.name} on {m.target}: {m.sent:,} bytes sent, {m.seconds:.1f} s", markup=False)
        return
    try:
        made = _create(None, folder_only=True)
    except BackupError as e:
        if "a new base is due" not in str(e):
            raise
        made = _create(None)  # a target that lacks the base (added since): a new base for all
    for m in made:
        out.print(f"{m.name} on {m.target}: {m.sent:,} bytes sent", markup=False)


def _ship(to: str | None):  # noqa: ANN202 - a Shipped
    from kanim.backup.keys import load_public
    from kanim.backup.pg import ship
    from kanim.backup.snapshot import wal_ledger, wal_spool

    settings = _node()
    return ship(wal_spool(settings), _targets(to), load_public(settings), ledger=wal_ledger(settings))


def _base_due() -> bool:
    """Whether this PostgreSQL node's newest base is older than KANIM_BACKUP_PG_BASE_HOURS (or
    there is none); the snapshots between bases are its data folder's."""
    from kanim.backup.snapshot import last_base

    last = last_base(_node())
    return last is None or datetime.now(UTC) - last["at"] > timedelta(hours=_backup_settings().pg_base_hours)


@backup_app.command("wal-ship")
@one_line
def wal_ship(to: Target = None) -> None:
    """PostgreSQL nodes: seal the WAL segments archive_command spooled and put them on every target.

    Example: kanim backup wal-ship   (kanim backup run does it every round)
    """
    shipped = _ship(to)
    out.print(f"{shipped.segments} WAL segments shipped ({shipped.bytes:,} bytes)", markup=False)


@backup_app.command("pg-settings")
@one_line
def pg_settings() -> None:
    """PostgreSQL nodes: the postgresql.conf lines that archive the log for kanim's backups.

    Example: kanim backup pg-settings >> /etc/postgresql/15/main/conf.d/kanim-backup.conf
    """
    from kanim.backup.pg import archive_command_for, conf_value
    from kanim.backup.snapshot import wal_spool

    from kanim.backup.snapshot import BackupError

    try:
        spool = wal_spool(_settings())
    except BackupError:
        spool = Path("/var/lib/kanim-wal-spool")
        print(f"# set KANIM_BACKUP_WAL_SPOOL={spool} for kanim (or choose another folder)")
    print("# kanim backups (docs/backup.md): the log archived through a local spool, shipped sealed")
    print("wal_level = replica")
    print("archive_mode = on")
    print(f"archive_command = {conf_value(archive_command_for(spool))}")
    print("archive_timeout = 60   # a segment at least every minute: the recovery point")
    print(f"# mkdir -p {spool} && chown postgres {spool}   (the server's OS user writes there)")
    print("# pg_hba.conf: host replication <kanim's user> 127.0.0.1/32 scram-sha-256  (pg_basebackup)")


@backup_app.command("list")
@one_line
def list_(source: Target = None, office: Annotated[str | None, typer.Option(help="whose backups")] = None) -> None:
    """List the snapshots on a target (their names are their UTC times; contents stay sealed).

    Example: kanim backup list --from /media/usb/kanim
    """
    from kanim.backup.format import time_of

    for t in _targets(source, office=office):
        names = t.names("snapshots")
        table = Table(title=f"{len(names)} snapshots on {t.label}")
        table.add_column("snapshot")
        table.add_column("taken (UTC)")
        for n in names:
            table.add_row(n, f"{time_of(n):%Y-%m-%d %H:%M:%S}")
        out.print(table)


@backup_app.command("verify")
@one_line
def verify(key: KeyOpt, escrow_file: EscrowOpt = None, source: Target = None,
           office: Annotated[str | None, typer.Option(help="whose backups")] = None) -> None:
    """Check every stored piece of every snapshot, then restore the newest into scratch and check it.

    Example: kanim backup verify --from https://offsite.example:8443 --key kanim-backup.key --escrow escrow.txt
    """
    from kanim.backup.keys import load_escrow, load_private
    from kanim.backup.restore import check_pieces, scratch_restore

    private, escrowed = load_private(key), load_escrow(escrow_file)
    target = _targets(source, office=office)[0]
    pieces = check_pieces(target, private)
    for p in pieces.problems:
        err.print(f"damaged: {p}", markup=False, highlight=False)
    out.print(f"{pieces.snapshots} snapshots, {pieces.packs} packs, {pieces.blobs} pieces checked, "
              f"{len(pieces.problems)} problems", markup=False)
    r = scratch_restore(target, private, escrowed)
    out.print(f"{r.snapshot} restores: {r.files} files, audit chain of {r.audit_rows} rows intact, "
              f"{r.vault_files} vault files decrypt", markup=False)
    if pieces.problems:
        raise typer.Exit(1)


@backup_app.command("drill")
@one_line
def drill(key: KeyOpt, escrow_file: EscrowOpt = None, source: Target = None,
          office: Annotated[str | None, typer.Option(help="whose backups")] = None) -> None:
    """Restore the newest snapshot into scratch, check it, and record the result on the target.

    Example: kanim backup drill --from https://offsite.example:8443 --key kanim-backup.key --escrow escrow.txt
    """
    from kanim.backup.drills import drill as run_drill
    from kanim.backup.keys import load_escrow, load_private

    private, escrowed = load_private(key), load_escrow(escrow_file)
    result = run_drill(_targets(source, office=office)[0], private, escrowed, now=datetime.now(UTC))
    if not result.ok:
        err.print(f"drill failed: {result.problem}", markup=False, highlight=False)
        raise typer.Exit(1)
    out.print(f"drill passed: {result.snapshot} restored in {result.seconds} s, {result.files} files, "
              f"{result.audit_rows} audit rows, {result.vault_files} vault files", markup=False)


@backup_app.command("status")
@one_line
def status(as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """The age of the newest backup and of the last good drill on each target; exit 1 on a warning.

    Example: kanim backup status
    """
    from kanim.backup.drills import health

    b = _backup_settings()
    now = datetime.now(UTC)
    found = [health(t, now=now, stale=timedelta(minutes=b.stale_minutes), drill_every=timedelta(days=b.drill_days))
             for t in _targets(None)]
    if as_json:
        print(json.dumps([asdict(h) for h in found], default=str, indent=2))
    for h in found if not as_json else []:
        last = f"{h.last_snapshot_at:%Y-%m-%d %H:%M:%S} UTC" if h.last_snapshot_at else "never"
        good = f"{h.last_good_drill_at:%Y-%m-%d %H:%M:%S} UTC" if h.last_good_drill_at else "never"
        out.print(f"{h.target}: {h.snapshots} snapshots, newest {last}; last good drill {good}", markup=False)
        for w in h.warnings:
            err.print(f"warning: {h.target}: {w}", markup=False, highlight=False)
    if any(h.warnings for h in found):
        raise typer.Exit(1)


@backup_app.command("serve")
@one_line
def serve(
    directory: Annotated[Path, typer.Option("--dir", help="where the backups are kept")],
    host: str = "127.0.0.1",
    port: int = 8470,
) -> None:
    """Run the off-site, append-only backup store (on the off-site host, not on the node).

    Example: kanim backup serve --dir /srv/kanim-backups --host 0.0.0.0 --port 8470   (behind TLS)
    """
    import uvicorn

    from kanim.backup.server import make_app
    from kanim.ops.cluster import listen_problem

    if problem := listen_problem(host, port):
        raise ValueError(f"{problem} (choose another with --port)")

    out.print(f"append-only backup store for {directory} on http://{host}:{port}", markup=False)
    uvicorn.run(make_app(directory), host=host, port=port, log_level="warning")


@backup_app.command("grant")
@one_line
def grant(office: str, directory: Annotated[Path, typer.Option("--dir", help="the store's folder")]) -> None:
    """Make a token with which an office may add to (never delete from) the store; printed once.

    Example: kanim backup grant MND --dir /srv/kanim-backups   (the office sets KANIM_BACKUP_TOKEN to it)
    """
    from kanim.backup.server import grant as make

    print(make(directory, office))


@backup_app.command("rejoin")
@one_line
def rejoin(gap: Annotated[int, typer.Option(min=0, help="numbers also skipped today and on the newest day the "
                                             "central knows: lost work's receipts may carry them")] = 50) -> None:
    """After a restore: get back from the central what this office sent after its backup, and
    continue application numbers after the highest the central holds.

    Example: KANIM_DATA_DIR=/srv/kanim/data KANIM_CENTRAL_URL=https://central.example kanim backup rejoin
    """
    from kanim.backup.rebuild import finish_rejoin, rebuild
    from kanim.backup.rejoin import continue_numbers
    from kanim.bootstrap import bootstrap
    from kanim.office.ports import CentralUnavailable

    office = bootstrap(_node())
    if office.central is None or not hasattr(office.central, "history"):
        raise ValueError("rejoin asks the central: set KANIM_CENTRAL_URL (and the node's keys) first")
    try:
        got = rebuild(office, office.central)
        highest = office.central.highest_numbers()
    except CentralUnavailable as e:
        raise ValueError(f"cannot ask the central: {e}") from None
    out.print(f"from the central: {got.operations} operations this node had lost, {got.applications} applications, "
              f"{got.images} images, {got.booklets} booklets; {got.decisions} events of its feed applied", markup=False)
    if got.renumbered:
        out.print(f"  {got.renumbered} operations had been sent under a sequence number already used: kept under "
                  "new numbers", markup=False)
    for what, why in got.skipped[:20]:
        out.print(f"  not rebuilt: {what}: {why}", markup=False)
    if len(got.skipped) > 20:
        out.print(f"  … and {len(got.skipped) - 20} more not rebuilt", markup=False)
    if got.not_kept:
        out.print(f"  {got.not_kept} operations were applied before the central kept history: the central has "
                  "their result in its registry, not their bodies", markup=False)
    moved = continue_numbers(office, highest, gap=gap)
    for day, (before, after) in sorted(moved.items()):
        out.print(f"{day}: numbers continue after {after:04d} (this node was at {before:04d})", markup=False)
    out.print(f"application numbers checked for {len(highest)} days the central knows; {len(moved)} moved",
              markup=False)
    finish_rejoin(office.settings.data_dir)  # only now may it serve


def restore(
    into: Annotated[Path, typer.Option("--into", help="an empty or new folder: the restored data folder")],
    key: KeyOpt,
    escrow_file: EscrowOpt = None,
    source: Target = None,
    at: Annotated[datetime | None, typer.Option(help="the newest snapshot at or before this UTC time")] = None,
    snapshot: Annotated[str | None, typer.Option(help="this snapshot (from `kanim backup list`)")] = None,
    office: Annotated[str | None, typer.Option(help="whose backups (default KANIM_OFFICE_CODE)")] = None,
) -> None:
    """Restore a node from a backup into an empty folder; nothing is written unless it all checks.

    Example: kanim restore --from https://offsite.example:8443 --key kanim-backup.key --escrow escrow.txt --into /srv/kanim/data
    Example: kanim restore --from /media/usb/kanim --key kanim-backup.key --escrow escrow.txt --into data --at 2026-12-01T09:30:00
    """
    from kanim.backup import crypto, paper
    from kanim.backup.keys import PUBLIC, load_escrow, load_private
    from kanim.backup.rebuild import last_sent_in, mark_rejoin_needed
    from kanim.backup.restore import restore as run_restore

    private, escrowed = load_private(key), load_escrow(escrow_file)
    when = at.replace(tzinfo=UTC) if at and at.tzinfo is None else at
    r = run_restore(_targets(source, office=office)[0], private, escrowed, into, at=when, name=snapshot)
    # The node backs up again at once: its public key is the private key's.
    pub = into / "keys" / PUBLIC
    pub.write_text(f"public key: {paper.encode(crypto.public_of(private))}\n")
    pub.chmod(0o600)
    if r.database == "postgresql":
        if r.role != "central":  # an office rejoins once its cluster runs; where from, it reads then
            mark_rejoin_needed(into, after=None)
        _restored_cluster(into, r, when)
        return
    # The node must rejoin before it serves; its history starts where the backup's outbox stops.
    mark_rejoin_needed(into, after=last_sent_in(into / "kanim.db"))
    out.print(f"restored {r.snapshot} into {into}: {r.files} files, {r.bytes:,} bytes in {r.seconds:.1f} s; "
              f"audit chain of {r.audit_rows} rows intact, {r.vault_files} vault files decrypt", markup=False)
    out.print(f"next: KANIM_DATA_DIR={into} kanim backup rejoin, then kanim serve", markup=False)


def _restored_cluster(into: Path, r, when: datetime | None) -> None:  # noqa: ANN001 - a Restored
    """A PostgreSQL node: its cluster is in place, PostgreSQL replays the log when it starts."""
    from kanim.backup.pg import PGDATA

    pgdata = into / PGDATA
    out.print(f"restored {r.snapshot} into {into}: the cluster in {pgdata} ({r.bytes:,} bytes) with "
              f"{r.wal_segments} WAL segments to replay " + (f"up to {when:%Y-%m-%d %H:%M:%S} UTC" if when
                                                             else "to the end of the log"), markup=False)
    out.print(f"next: chmod 711 {into} && chown -R postgres {pgdata}; start PostgreSQL on it (pg_ctl -D {pgdata} "
              "start); once it has opened, reset the recovery settings (ALTER SYSTEM RESET restore_command, "
              "recovery_target_time, recovery_target_action, archive_mode) and check `kanim audit verify` with "
              "KANIM_DATABASE_URL pointing at it (docs/recovery-runbook.md)", markup=False)


restore_command = one_line(restore)
