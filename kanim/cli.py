"""The `kanim` command: a thin layer over the Python API. Every command's help has an example.

Errors are one line on stderr and a non-zero exit code: 2 for bad input, 1 for a failed check.
Only `serve`, `db upgrade` and `demo` make a node where there is none; every other command opens
the node that is there or says where it looked (kanim/ops/nodes.py).
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from functools import wraps
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from kanim.config import Settings
from kanim.domain.errors import DomainError
from kanim.security.keyfiles import KeyFileError

app = typer.Typer(help="kanim: passport services of an immigration office.", no_args_is_help=True,
                  pretty_exceptions_enable=False)
db_app = typer.Typer(help="Database schema (Alembic migrations).", no_args_is_help=True)
user_app = typer.Typer(help="Staff accounts.", no_args_is_help=True)
audit_app = typer.Typer(help="The hash-chained audit log.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(user_app, name="user")
app.add_typer(audit_app, name="audit")
vault_app = typer.Typer(help="The encrypted vault of photos, fingerprints and scans.", no_args_is_help=True)
app.add_typer(vault_app, name="vault")
link_app = typer.Typer(help="The office's link to the central hub.", no_args_is_help=True)
central_app = typer.Typer(help="The central hub (run with KANIM_ROLE=central).", no_args_is_help=True)
app.add_typer(link_app, name="link")
notify_app = typer.Typer(help="Messages to applicants: queue, worker, rules.", no_args_is_help=True)
app.add_typer(notify_app, name="notify")
pickup_app = typer.Typer(help="Staged pickup: the desk's day, extra service.", no_args_is_help=True)
app.add_typer(pickup_app, name="pickup")
status_app = typer.Typer(help="The office's public status page.", no_args_is_help=True)
app.add_typer(status_app, name="status")
app.add_typer(central_app, name="central")
from kanim.backup.cli import backup_app, restore_command  # noqa: E402 - registered beside the others

app.add_typer(backup_app, name="backup")
app.command("restore")(restore_command)
central_office_app = typer.Typer(help="Offices linked to this central.", no_args_is_help=True)
central_registry_app = typer.Typer(help="The civil registry (Dukcapil) extract.", no_args_is_help=True)
central_payments_app = typer.Typer(help="Payments confirmed by the treasury.", no_args_is_help=True)
central_booklets_app = typer.Typer(help="Booklet serial ranges.", no_args_is_help=True)
central_biometrics_app = typer.Typer(help="The registry's faces and fingerprints, sealed at rest.",
                                     no_args_is_help=True)
central_app.add_typer(central_office_app, name="office")
central_app.add_typer(central_registry_app, name="registry")
central_app.add_typer(central_payments_app, name="payments")
central_app.add_typer(central_booklets_app, name="booklets")
central_app.add_typer(central_biometrics_app, name="biometrics")
from kanim.chip.cli import chip_app, csca_app  # noqa: E402  (docs/chip.md)
app.add_typer(chip_app, name="chip")
central_app.add_typer(csca_app, name="csca")
out = Console()
err = Console(stderr=True, soft_wrap=True)  # one problem, one line, however long


def cli_errors(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Bad input → one line, exit 2; nothing half-written (use cases run in one transaction).
    A key file kanim refuses is one line with its fix too (every command, `serve` included:
    `_one_line_errors_everywhere` below)."""

    @wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except DomainError as e:
            err.print(f"error: {e.message} [{e.code}]", markup=False, highlight=False)
            raise typer.Exit(2) from None
        except KeyFileError as e:
            err.print(f"error: {e}", markup=False, highlight=False)
            raise typer.Exit(2) from None

    wrapper._kanim_one_line = True  # type: ignore[attr-defined]
    return wrapper


def _require_node(settings: Settings) -> None:
    """Commands other than serve, db upgrade and demo open a node that is there, or say where
    they looked (kanim/ops/nodes.py)."""
    from kanim.ops.nodes import NoNode, require_node

    try:
        require_node(settings)
    except NoNode as e:
        err.print(f"error: {e}", markup=False, highlight=False)
        raise typer.Exit(2) from None


def _office(settings: Settings | None = None):  # noqa: ANN202
    """The office node that is there, its database migrated (a no-op when it is current)."""
    from kanim.bootstrap import bootstrap
    from kanim.store.migrate import upgrade

    settings = settings or Settings()
    _require_node(settings)
    office = bootstrap(settings)
    upgrade(office.engine)
    return office


def _check_port(host: str, port: int) -> None:
    """A taken port is said in one line before anything starts (not after "serving on")."""
    from kanim.ops.cluster import listen_problem

    if problem := listen_problem(host, port):
        err.print(f"error: {problem} (choose another with --port)", markup=False, highlight=False)
        raise typer.Exit(2)


@db_app.command("upgrade")
@cli_errors
def db_upgrade(revision: str = "head") -> None:
    """Migrate the database to the newest schema (and make a new node where there is none).

    Example: KANIM_DATABASE_URL=postgresql+psycopg://kanim@db/kanim kanim db upgrade
    """
    from kanim.store.db import make_engine
    from kanim.store.migrate import current, upgrade

    settings = Settings()
    engine = make_engine(settings.db_url)
    upgrade(engine, revision)
    out.print(f"database at revision {current(engine)}")


@db_app.command("current")
def db_current() -> None:
    """Print the schema revision of the database.

    Example: kanim db current
    """
    from sqlalchemy.engine import make_url

    from kanim.store.db import make_engine
    from kanim.store.migrate import current

    settings = Settings()
    url = make_url(settings.db_url)
    if url.get_backend_name() == "sqlite" and not Path(url.database or "").is_file():
        _require_node(settings)  # says where it looked; connecting would create an empty file
    out.print(current(make_engine(settings.db_url)) or "empty (run: kanim db upgrade)")


@user_app.command("add")
@cli_errors
def user_add(
    username: str,
    role: Annotated[str, typer.Option(help="front_desk, cashier, biometric_operator, interviewer, "
                                      "supervisor, print_operator, pickup_desk or admin")],
    full_name: Annotated[str, typer.Option(help="the name shown in the audit log")] = "",
    password: Annotated[str, typer.Option(prompt=True, hide_input=True, confirmation_prompt=True,
                                          help="at least 10 characters")] = "",
) -> None:
    """Add a staff account to the node that is there (`kanim db upgrade` makes a new one).

    Example: kanim user add rina --role cashier --full-name "Rina Wati"
    """
    from kanim.office.accounts import add_user

    u = add_user(_office(), username=username, full_name=full_name or username, role=role,
                 password=password, actor="cli")
    out.print(f"added {u.username} ({u.role.value})")


@user_app.command("locked")
def user_locked() -> None:
    """List the staff accounts locked by failed logins.

    Example: kanim user locked
    """
    from kanim.office.accounts import locked_accounts

    rows = locked_accounts(_node())
    table = Table(title=f"{len(rows)} locked accounts")
    for col in ("username", "failures", "last failed", "locked until"):
        table.add_column(col)
    for r in rows:
        table.add_row(r["username"], str(r["failures"]), f"{r['last_failed_at']:%Y-%m-%d %H:%M} UTC",
                      f"{r['locked_until']:%Y-%m-%d %H:%M} UTC")
    out.print(table)


@user_app.command("unlock")
@cli_errors
def user_unlock(username: str) -> None:
    """Lift the lock failed logins put on an account, and forget its failures.

    Example: kanim user unlock rina
    """
    from kanim.office.accounts import unlock

    done = unlock(_node(), username=username, actor="cli")
    out.print(f"{username} unlocked" if done else f"{username} was not locked (no failed logins)")


def _node():  # noqa: ANN202
    """The node this data folder holds (KANIM_ROLE): staff accounts live on both roles."""
    return _central() if Settings().role == "central" else _office()


@audit_app.command("verify")
def audit_verify() -> None:
    """Walk the audit log's hash chain; exit 1 if a row was edited or deleted.

    Example: kanim audit verify
    """
    from kanim.security.audit import verify_chain

    office = _office()
    with office.uow() as uow:
        report = verify_chain(uow.session)
    if report.ok:
        out.print(f"audit chain intact: {report.rows} rows")
        return
    for p in report.problems:
        err.print(f"audit chain broken: {p}", markup=False)
    raise typer.Exit(1)


@vault_app.command("orphans")
@cli_errors
def vault_orphans(
    remove: Annotated[bool, typer.Option("--remove", help="delete them (audited)")] = False,
    older_than: Annotated[float, typer.Option(min=0, help="only files last written this many minutes ago "
                                              "or more; an upload in flight has its file before its row, "
                                              "so 0 only while no node serves this data folder")] = 60,
) -> None:
    """List vault files no database row refers to (a killed upload's, an unfinished .tmp).

    Example: kanim vault orphans            (then)   kanim vault orphans --remove
    """
    from datetime import timedelta

    from kanim.office import vault_files

    office = _office()
    grace = timedelta(minutes=older_than)
    found = (vault_files.remove_orphans(office, older_than=grace, actor="cli") if remove
             else vault_files.orphans(office, older_than=grace))
    table = Table(title=f"{len(found)} orphan files {'removed' if remove else 'found'} "
                        f"({sum(f.size for f in found):,} bytes)")
    for col in ("file", "kind", "bytes", "last written (UTC)"):
        table.add_column(col)
    for f in found:
        table.add_row(str(f.path.relative_to(office.vault.root)), "unfinished" if f.unfinished else "unreferenced",
                      f"{f.size:,}", f"{f.modified_at:%Y-%m-%d %H:%M:%S}")
    out.print(table)


@app.command()
def serve(
    host: str = "127.0.0.1",
    port: int = 8000,
    role: Annotated[str | None, typer.Option(help="office or central (default: KANIM_ROLE, office)")] = None,
    relay: Annotated[bool, typer.Option("--relay/--no-relay", help="run the outbox relay in the server "
                                        "(off when a separate `kanim worker` runs)")] = True,
    workers: Annotated[int, typer.Option(min=1, max=32, help="worker processes (one per core)")] = 1,
    access_log: Annotated[bool, typer.Option("--access-log/--no-access-log")] = True,
) -> None:
    """Run a node's API server (migrates the database first).

    Example: KANIM_DATA_DIR=/srv/kanim kanim serve --host 0.0.0.0 --port 8000
    Example: KANIM_DATA_DIR=/srv/central kanim serve --role central --port 9000
    """
    from kanim.web.server import run

    _check_port(host, port)
    settings = Settings(role=role) if role else Settings()
    _check_rejoined(settings)
    run(settings, host=host, port=port, relay=relay, workers=workers, access_log=access_log)


def _check_rejoined(settings: Settings) -> None:
    """A node restored from a backup (or made from the escrow sheet) serves, and its relay runs,
    only once it has rejoined the central: otherwise its desks hand out numbers and sequence numbers the central
    already holds (docs/recovery-runbook.md, step 5)."""
    from kanim.backup.rebuild import MARKER

    if settings.role == "central" or not (settings.data_dir / MARKER).is_file():
        return
    if settings.link_mode != "http":
        err.print(f"error: this node was restored and has no central to rejoin; if it works alone, remove "
                  f"{settings.data_dir / MARKER} and serve", markup=False)
    else:
        err.print("error: this node was restored and has not rejoined the central: run `kanim backup rejoin` "
                  "first (docs/recovery-runbook.md, step 5)", markup=False)
    raise typer.Exit(2)


@app.command()
def worker() -> None:
    """Run the outbox relay on its own: push operations, pull central events, until stopped.

    Example: KANIM_CENTRAL_URL=https://central.example kanim worker
    """
    import signal
    import threading

    from kanim.link.relay import Relay

    from kanim import logs

    logs.configure()
    office = _office()
    _check_rejoined(office.settings)
    if office.central is None:
        err.print("error: no central configured (set KANIM_CENTRAL_URL or KANIM_CENTRAL)")
        raise typer.Exit(2)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    out.print(f"relay for office {office.settings.office_code} → {office.settings.central_url or office.settings.central}")
    Relay(office, office.central).run_forever(stop)


@notify_app.command("status")
def notify_status(as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """Messages by state and channel, events waiting for the rules, the worker, the latest
    failures (addresses masked).

    Example: kanim notify status
    """
    from kanim.office.queries.notify import status

    st = status(_office())
    if as_json:
        import json

        out.print_json(json.dumps(st.as_dict(), default=str))
        return
    table = Table(title="messages to applicants", show_header=False)
    table.add_row("waiting", str(st.waiting))
    for state, n in sorted(st.by_state.items()):
        table.add_row(state, str(n))
    table.add_row("events for the rules", f"{st.events_queued} ({st.events_dead} dead)")
    table.add_row("oldest waiting", str(st.oldest_waiting_at or "-"))
    table.add_row("worker", st.worker or "none running")
    if st.quiet_now:
        table.add_row("quiet hours", f"now ({st.quiet_hours}): {st.waits['quiet_hours']} wait for the morning")
    table.add_row("waiting for their moment", f"{st.waits['reminder']} reminder(s), {st.waits['retry']} retry(ies)")
    out.print(table)
    if st.alerts:
        shown = Table(title="alerts to the office's staff")
        for col in ("at", "kind", "channel", "reason", "state"):
            shown.add_column(col)
        for a in st.alerts:
            shown.add_row(f"{a['created_at']:%Y-%m-%d %H:%M}", a["kind"], a["channel"], a["reason"] or "", a["state"])
        out.print(shown)
    if st.failures:
        failed = Table(title="latest failures")
        for col in ("number", "purpose", "channel", "to", "state", "reason"):
            failed.add_column(col)
        for f in st.failures:
            failed.add_row(f["number"] or "-", f["purpose"], f["channel"], f["to"], f["state"], f["reason"] or "")
        out.print(failed)


@notify_app.command("run")
def notify_run() -> None:
    """Run the notification worker on its own (when `kanim serve` runs with KANIM_NOTIFY=false).

    Example: kanim notify run
    """
    import signal
    import threading

    from kanim import logs
    from kanim.notify.worker import Worker

    logs.configure()
    office = _office()
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    out.print(f"notification worker for office {office.settings.office_code}")
    Worker(office).run_forever(stop)


@notify_app.command("test-office")
def notify_test_office() -> None:
    """Send a test alert to the office's own alert URL (KANIM_NOTIFY_OFFICE_URL, a Telegram group
    of the office's staff: tgram://BOT_TOKEN/CHAT_ID) and say what the channel answered.

    Example: kanim notify test-office
    """
    from kanim.notify import alerts
    from kanim.notify.worker import transport_for

    office = _office()
    if not office.settings.notify_office_url:
        err.print("error: no office alert URL: set KANIM_NOTIFY_OFFICE_URL (a Telegram group: tgram://BOT_TOKEN/CHAT_ID)")
        raise typer.Exit(2)
    try:
        transport = transport_for(office)
    except ValueError as exc:
        err.print(f"error: {exc}")
        raise typer.Exit(2) from None
    text = alerts.text(alerts.Kind.TEST, {}, office.settings.office_name)
    result = transport.send_office(text.title, text.body, message_id="test")
    if result.outcome.value != "accepted":
        err.print(f"error: the office alert URL did not take the test alert: {result.outcome.value} ({result.reason})")
        raise typer.Exit(1)
    out.print("the office alert URL took the test alert")


@notify_app.command("sink")
def notify_sink(port: Annotated[int, typer.Option(help="0: a free port, printed on stdout")] = 0,
                host: Annotated[str, typer.Option(help="the address to listen on")] = "127.0.0.1") -> None:
    """A local stand-in for the WhatsApp Cloud API, an SMSEagle gateway and the Telegram Bot API,
    for demos and drills: messages stop here (nothing leaves the machine) and its page lists them.

    Example: kanim notify sink --port 8002
    """
    import threading

    from kanim.ops.cluster import listen_problem
    from kanim.ops.notify_sink import NotifySink

    if port and (problem := listen_problem(host, port)):
        err.print(f"error: {problem}")
        raise typer.Exit(2)
    with NotifySink(port=port, host=host) as sink:
        out.print(f"{sink.port}", highlight=False)
        out.print(f"messages received: {sink.base_url}/", highlight=False, soft_wrap=True)
        try:
            threading.Event().wait()
        except KeyboardInterrupt:
            pass


@notify_app.command("retry-dead")
def notify_retry_dead(actor: Annotated[str, typer.Option(help="who retries them (audited)")] = "cli") -> None:
    """Put the events whose rules kept failing back in the queue, once the cause is fixed: each
    dead event holds back its application's later ones until then.

    Example: kanim notify retry-dead
    """
    from kanim.office.notify import CONSUMER
    from kanim.store import fanout

    office = _office()
    with office.uow() as uow:
        n = fanout.retry_dead(uow, CONSUMER.name)
        if n:
            uow.audit(actor=actor, action="notify_events_retried", subject=CONSUMER.name, detail={"events": n})
        uow.commit()
    out.print(f"{n} dead event(s) back in the queue" if n else "no dead events")


@notify_app.command("telegram-unlink")
def notify_telegram_unlink(number: str, actor: Annotated[str, typer.Option(help="who unlinks it (audited)")] = "cli") -> None:
    """Forget the Telegram chat of an application's booking (the applicant changed Telegram
    accounts, or someone else opened their link first): its messages go to the phone again,
    and the next Start of the booking's link (on its receipt) links that chat.

    Example: kanim notify telegram-unlink MND-20261201-0042
    """
    from kanim.office import telegram

    number = number.strip().upper()
    office = _office()
    with office.uow() as uow:
        booking_id = telegram.unlink(uow, number=number, actor=actor)
        uow.commit()
    if booking_id is None:
        err.print(f"error: application {number} has no booking linked to a Telegram chat", markup=False)
        raise typer.Exit(1)
    out.print(f"{number}: Telegram chat unlinked; the next Start links again", markup=False)


@notify_app.command("rule")
def notify_rule(purpose: str, enabled: Annotated[bool, typer.Option("--on/--off")] = True,
                actor: Annotated[str, typer.Option(help="who switches it (audited)")] = "cli") -> None:
    """Switch one rule on or off (purposes: booking_confirmed, billing_issued, billing_reminder,
    payment_received, printed_waiting, ready, pickup_reminder, on_hold, rescheduled, no_show,
    ticket_reply, announcement, status_confirm, status_notice, track_code).

    Example: kanim notify rule billing_reminder --off
    """
    from kanim.notify.purposes import Purpose
    from kanim.office import notify

    try:
        p = Purpose(purpose)
    except ValueError:
        err.print(f"error: unknown purpose {purpose!r}; one of: {', '.join(x.value for x in Purpose)}")
        raise typer.Exit(2) from None
    office = _office()
    with office.uow() as uow:
        notify.set_rule(uow, p, enabled=enabled, actor=actor)
        uow.commit()
    out.print(f"{p.value}: {'on' if enabled else 'off'}")


@notify_app.command("announce")
@cli_errors
def notify_announce(
    text_id: Annotated[str, typer.Option("--text-id", help="the message in Indonesian (at most 300 characters)")],
    text_en: Annotated[str, typer.Option("--text-en", help="the message in English")],
    stage: Annotated[str | None, typer.Option(help="applications in this stage (qc_passed: printed, waiting "
                                                    "for national confirmation; ready; ...)")] = None,
    pickup_on: Annotated[str | None, typer.Option("--pickup-on", help="applications with a pickup slot on this day "
                                                                      "(YYYY-MM-DD)")] = None,
    not_collected: Annotated[bool, typer.Option("--not-collected", help="only passports not yet collected")] = False,
    social: Annotated[bool, typer.Option("--social", help="also post it to the office's social channels")] = False,
    yes: Annotated[bool, typer.Option("--yes", help="send it (without: only count, nothing is written)")] = False,
    actor: Annotated[str, typer.Option(help="who sends it (audited)")] = "cli",
) -> None:
    """One message to a set of applicants, in each one's language, through the notifications
    queue and its caps (one per contact). Without --yes it only counts.

    Example: kanim notify announce --stage qc_passed --text-id "Sistem nasional sudah pulih." --text-en "The national system is back."
    Example: kanim notify announce --pickup-on 2026-12-04 --not-collected --text-id "..." --text-en "..." --yes
    """
    from datetime import date

    from kanim.domain.application import Stage
    from kanim.domain.errors import InvalidInput
    from kanim.office import announce

    try:
        chosen = Stage(stage) if stage else None
    except ValueError:
        raise InvalidInput(f"unknown stage {stage!r}; one of: {', '.join(s.value for s in Stage)}",
                           code="announce-stage") from None
    try:
        day = date.fromisoformat(pickup_on) if pickup_on else None
    except ValueError:
        raise InvalidInput(f"--pickup-on {pickup_on!r} is not a day written YYYY-MM-DD", code="announce-day") from None
    office = _office()
    selection = announce.Selection(stage=chosen, pickup_on=day, not_collected=not_collected)
    announce.check_texts(office, text_id, text_en)
    counted = announce.preview(office, selection)
    line = (f"{counted.recipients} message(s) to {counted.applications} application(s); "
            f"{counted.no_channel} without a phone or email")
    if counted.rule_off:
        line += "; the announcement rule is off: nothing would be written (kanim notify rule announcement --on)"
    if not yes:
        out.print(f"{line}. Dry run: nothing written (add --yes to send).", markup=False, highlight=False)
        return
    sent = announce.send(office, selection, text_id=text_id, text_en=text_en, actor=actor, social=social)
    out.print(f"announcement {sent.id}: {sent.written} message(s) written to {counted.applications} "
              f"application(s); {counted.no_channel} without a phone or email", markup=False, highlight=False)


@pickup_app.command("day")
def pickup_day(day: Annotated[str, typer.Argument(help="YYYY-MM-DD")]) -> None:
    """The pickup desk's day by slot: who comes and who confirmed.

    Example: kanim pickup day 2026-12-02
    """
    from kanim.office.pickup_slots import day_view

    rows = day_view(_office(), _iso_day(day))
    table = Table(title=f"pickup on {day}")
    for col in ("slot", "number", "state"):
        table.add_column(col)
    for slot in rows:
        for p in slot["people"]:
            table.add_row(slot["slot"], p["number"], "collected" if p["collected"] else p["state"])
    out.print(table)


@pickup_app.command("extra")
def pickup_extra(day: Annotated[str, typer.Argument(help="YYYY-MM-DD")],
                 slots: Annotated[str, typer.Option(help="comma-separated times")] = "09:00,10:00,11:00",
                 seats: Annotated[int, typer.Option(min=1, max=1000)] = 20,
                 actor: Annotated[str, typer.Option(help="who opens it (audited)")] = "cli") -> None:
    """Open extra pickup service (a Saturday): passports waiting for a slot fill it.

    Example: kanim pickup extra 2026-12-05 --slots 08:00,09:00,10:00 --seats 30
    """
    from kanim.office.pickup_slots import open_extra

    open_extra(_office(), day=_iso_day(day), slots=[s.strip() for s in slots.split(",") if s.strip()],
               seats=seats, actor=actor)
    out.print(f"extra pickup service on {day}: {slots}, {seats} seats each")



@status_app.command("export")
def status_export(folder: Annotated[Path, typer.Argument(help="where to write the files (created if missing)")]) -> None:
    """Write the status page and its Atom feed, in both languages, as static files: to publish
    from a host outside the office when the office itself is cut off.

    Example: kanim status export /srv/www/status
    """
    from kanim.web.status_page import export

    for path in export(_office(), folder):
        out.print(str(path))

def _iso_day(text: str):  # noqa: ANN202
    from datetime import date

    try:
        return date.fromisoformat(text)
    except ValueError:
        err.print(f"error: {text!r} is not a date like 2026-12-02")
        raise typer.Exit(2) from None


@link_app.command("status")
def link_status(as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """State of the link: breaker state, queue depth, oldest unsent item, drain rate, ETA.

    Example: kanim link status
    """
    from kanim.link.views import status

    office = _office()
    st = {"central": office.settings.central_url or office.settings.link_mode, **status(office)}
    if office.central is None:  # nothing to be up: the outbox fills until a central is set
        st.update(central=None, state="no central configured (set KANIM_CENTRAL_URL and KANIM_CENTRAL_PUBLIC_KEY)")
    if as_json:
        import json

        out.print_json(json.dumps(st, default=str))
        return
    table = Table(title="link to the central", show_header=False)
    for k, v in st.items():
        table.add_row(k.replace("_", " "), "-" if v is None else str(v))
    out.print(table)


@link_app.command("dead-letters")
def link_dead_letters() -> None:
    """Operations the central refused for good, with its reason.

    Example: kanim link dead-letters
    """
    from kanim.link.views import dead_letters

    rows = dead_letters(_office())
    table = Table(title=f"{len(rows)} dead letters")
    for col in ("id", "op", "subject", "attempts", "error"):
        table.add_column(col)
    for r in rows:
        table.add_row(r["id"], r["op"], r["subject"], str(r["attempts"]), r["error"] or "")
    out.print(table)


@link_app.command("retry")
def link_retry(op_id: Annotated[str | None, typer.Argument(help="a dead letter's id")] = None,
               every: Annotated[bool, typer.Option("--all", help="every dead letter")] = False) -> None:
    """Send a dead letter again once its cause is fixed (or every one, with --all).

    If the central takes it, the flag its refusal raised on the application is lifted; a
    supervisor then releases the hold.

    Example: kanim link retry 6f1c0a9e-...      kanim link retry --all
    """
    from kanim.link.views import retry_dead_letters

    if (op_id is None) == (not every):
        err.print("error: name one dead letter's id, or --all")
        raise typer.Exit(2)
    n = retry_dead_letters(_office(), None if every else [op_id], actor="cli")
    if op_id and not n:
        err.print(f"error: {op_id} is not a dead letter")
        raise typer.Exit(2)
    out.print(f"{n} dead letter{'s' if n != 1 else ''} queued again")


@link_app.command("key")
def link_key() -> None:
    """Print this office's public key, for the central's operator (`kanim central office add`).

    Example: kanim link key
    """
    from kanim.protocol.signing import load_or_create_key, public_b64

    settings = Settings()
    _require_node(settings)  # the key is made with the node's first use here, not in a stray folder
    out.print(public_b64(load_or_create_key(settings.office_key_path)))


def _central():  # noqa: ANN202
    from kanim.central.node import bootstrap_central
    from kanim.store.migrate import upgrade

    settings = Settings(role="central")
    _require_node(settings)
    node = bootstrap_central(settings)
    upgrade(node.engine)
    return node


@central_app.command("key")
def central_key() -> None:
    """Print the central's public key (offices set it as KANIM_CENTRAL_PUBLIC_KEY).

    Example: KANIM_DATA_DIR=/srv/central kanim central key
    """
    from kanim.protocol.signing import public_b64

    out.print(public_b64(_central().signing_key))


@central_office_app.command("add")
@cli_errors
def central_office_add(code: str, public_key: str, name: Annotated[str, typer.Option()] = "") -> None:
    """Register an office and the public key its requests are signed with.

    Example: kanim central office add MND "$(ssh mnd kanim link key)" --name "Kanim Manado"
    """
    from kanim.central.service import register_office

    register_office(_central(), code=code, name=name or code, public_key=public_key, actor="cli")
    out.print(f"office {code} registered")


@central_registry_app.command("load")
@cli_errors
def central_registry_load(file: Path) -> None:
    """Load civil-registry records (CSV: nik,full_name,birth_date,sex[,kk_number]).

    Example: kanim central registry load dukcapil-extract.csv
    """
    from kanim.central.service import load_civil_registry

    out.print(f"{load_civil_registry(_central(), file)} records loaded")


@central_payments_app.command("import")
@cli_errors
def central_payments_import(file: Path) -> None:
    """Import the bank's paid billing codes (CSV: billing_code,amount,paid_at,reference).

    Example: kanim central payments import bank-2024-06-24.csv
    """
    from kanim.central.service import import_payments

    out.print(import_payments(_central(), file, actor="cli"))


@central_booklets_app.command("allocate")
@cli_errors
def central_allocate(office_code: str, first: str, last: str) -> None:
    """Allocate a range of booklet serials to an office.

    Example: kanim central booklets allocate MND X1000001 X1000500
    """
    from kanim.central.service import allocate_booklets

    a = allocate_booklets(_central(), office_code=office_code, first=first, last=last, actor="cli")
    out.print(f"{a['count']} booklets {a['first']}..{a['last']} allocated to {office_code}")


@central_biometrics_app.command("rekey")
def central_biometrics_rekey(prune: Annotated[bool, typer.Option(
        "--prune", help="only remove retired keys no sealed image and no running central needs")] = False) -> None:
    """Rotate the key that seals the registry's faces and fingerprints.

    The current key is retired (kept as biometric-<id>.key beside it), a new one is made and
    every image is sealed again with it. Back the new key up apart from the database; restart
    the central so it seals with it; then --prune (it keeps any key still in use).

    Example: KANIM_DATA_DIR=/srv/central kanim central biometrics rekey     (later)  ... rekey --prune
    """
    from kanim.central import biometrics

    node = _central()
    if prune:
        out.print(f"{biometrics.prune_retired(node)} retired keys removed")
        return
    sealed = biometrics.seal_plaintext(node)
    done = biometrics.rekey(node, actor="cli")
    out.print(f"new key in place; {done['resealed'] + sealed} images sealed with it; "
              f"{done['retired_keys']} retired keys kept (remove with --prune once the central has restarted)")


@central_app.command("rebuild")
def central_rebuild(done: Annotated[bool, typer.Option("--done", help="close the rebuild window")] = False) -> None:
    """Ask every office to re-push everything it ever sent (after restoring an empty central);
    `--done` once they have drained and the registry extract and orders are back.

    Example: kanim central rebuild        (then, later)   kanim central rebuild --done
    """
    from kanim.central.service import finish_rebuild, rebuild

    if done:
        closed = finish_rebuild(_central(), actor="cli")
        out.print("rebuild window closed" if closed else "no rebuild was open")
        return
    out.print(f"rebuild requested (epoch {rebuild(_central(), actor='cli')})")


@app.command()
def demo(
    host: str = "127.0.0.1",
    port: Annotated[int, typer.Option(help="the office's port")] = 8000,
    central_port: Annotated[int, typer.Option(help="the central's port")] = 8001,
    sink_port: Annotated[int | None, typer.Option(help="the stand-in message providers' port (default: port + 2)")] = None,
    directory: Annotated[Path, typer.Option("--dir", envvar="KANIM_DEMO_DIR",
                                            help="the demo's folder (both nodes' data)")] = Path(".kanim-demo"),
    reset: Annotated[bool, typer.Option("--reset", help="remove the demo's folder and stop")] = False,
    serve_after: Annotated[bool, typer.Option("--serve/--no-serve", help="serve after seeding")] = True,
    scenario: Annotated[str | None, typer.Option(help="outage: replay the June 2024 incident with a real "
                                                 "central and office (killed, then back); ransomware: an office's "
                                                 "data encrypted, restored from its off-site backup")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="with --scenario: only the report, as JSON")] = False,
    applicants: Annotated[int, typer.Option(min=4, help="with --scenario: the day's applicants")] = 40,
) -> None:
    """A central hub and an office as real processes, linked; seeded on the first run (staff
    accounts, booklets, civil registry, a day of appointments), served as they are after.

    Example: kanim demo --dir .kanim-demo --port 8000 --central-port 8001   (Ctrl-C stops every process)
    Example: kanim demo --reset --dir .kanim-demo
    Example: kanim demo --scenario outage --applicants 40   (exit 1 if anything was lost)
    Example: kanim demo --scenario ransomware --applicants 12
    """
    if scenario == "ransomware":
        from kanim.ops.ransomware import render as show
        from kanim.ops.ransomware import run_ransomware

        _report(run_ransomware(applicants=applicants), show, as_json=as_json)
    if scenario is not None:
        _outage(scenario, as_json=as_json, applicants=applicants)
    from kanim.ops import demo as the_demo

    try:
        if reset:
            out.print(the_demo.reset(directory), soft_wrap=True)
            return
        code = the_demo.run(the_demo.Demo(directory.resolve(), host, port, central_port, sink_port), serve=serve_after,
                            console=out)
    except the_demo.DemoError as e:
        err.print(f"error: {e}", markup=False, highlight=False)
        raise typer.Exit(2) from None
    raise typer.Exit(code)


def _report(report: dict, show: Callable[..., None], *, as_json: bool) -> None:
    import json

    if as_json:
        print(json.dumps(report, default=str, indent=2))
    else:
        show(report, out)
    raise typer.Exit(0 if report.get("ok") else 1)


def _outage(scenario: str, *, as_json: bool, applicants: int) -> None:
    if scenario != "outage":
        err.print(f"error: unknown scenario {scenario!r} (there are: outage, ransomware)")
        raise typer.Exit(2)
    import json

    from kanim.ops.scenario import render, run_outage

    report = run_outage(applicants=applicants)
    if as_json:
        print(json.dumps(report, default=str, indent=2))
    else:
        render(report, out)
    raise typer.Exit(0 if report.get("ok") else 1)


def _one_line_errors_everywhere(group: typer.Typer) -> None:
    """Every command of every group reports refused input and refused key files in one line
    (cli_errors), those written without the decorator too."""
    for command in group.registered_commands:
        if not getattr(command.callback, "_kanim_one_line", False):
            command.callback = cli_errors(command.callback)
    for sub in group.registered_groups:
        _one_line_errors_everywhere(sub.typer_instance)


_one_line_errors_everywhere(app)


def main() -> None:  # pragma: no cover
    sys.exit(app())
