"""The `kanim` command: a thin layer over the Python API. Every command's help has an example.

Errors are one line on stderr and a non-zero exit code: 2 for bad input, 1 for a failed check.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from functools import wraps
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from kanim.config import Settings
from kanim.domain.errors import DomainError

app = typer.Typer(help="kanim: passport services of an immigration office.", no_args_is_help=True,
                  pretty_exceptions_enable=False)
db_app = typer.Typer(help="Database schema (Alembic migrations).", no_args_is_help=True)
user_app = typer.Typer(help="Staff accounts.", no_args_is_help=True)
audit_app = typer.Typer(help="The hash-chained audit log.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(user_app, name="user")
app.add_typer(audit_app, name="audit")
out = Console()
err = Console(stderr=True)


def cli_errors(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Bad input → one line, exit 2; nothing half-written (use cases run in one transaction)."""

    @wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except DomainError as e:
            err.print(f"error: {e.message} [{e.code}]", markup=False, highlight=False)
            raise typer.Exit(2) from None

    return wrapper


def _office(settings: Settings | None = None):  # noqa: ANN202
    from kanim.bootstrap import bootstrap

    return bootstrap(settings or Settings())


@db_app.command("upgrade")
@cli_errors
def db_upgrade(revision: str = "head") -> None:
    """Migrate the database to the newest schema.

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
    from kanim.store.db import make_engine
    from kanim.store.migrate import current

    out.print(current(make_engine(Settings().db_url)) or "empty (run: kanim db upgrade)")


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
    """Add a staff account.

    Example: kanim user add rina --role cashier --full-name "Rina Wati"
    """
    from kanim.office.accounts import add_user

    u = add_user(_office(), username=username, full_name=full_name or username, role=role,
                 password=password, actor="cli")
    out.print(f"added {u.username} ({u.role.value})")


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


@app.command()
def serve(
    host: str = "127.0.0.1",
    port: int = 8000,
    sync_interval: Annotated[float, typer.Option(help="seconds between link rounds (0: no link)")] = 2.0,
) -> None:
    """Run the office node's API server (migrates the database first).

    Example: KANIM_DATA_DIR=/srv/kanim kanim serve --host 0.0.0.0 --port 8000
    """
    from kanim.web.server import run

    run(Settings(), host=host, port=port, sync_interval=sync_interval)


@app.command()
def demo(
    host: str = "127.0.0.1",
    port: int = 8000,
    serve_after: Annotated[bool, typer.Option("--serve/--no-serve", help="serve after seeding")] = True,
) -> None:
    """Seed an office with demo data (users, booklets, a day of appointments) and serve it.

    Example: KANIM_DATA_DIR=.kanim-demo kanim demo --port 8000
    """
    from kanim.seed import seed_demo
    from kanim.web.server import run

    settings = Settings(central="simulated") if "KANIM_CENTRAL" not in _env() else Settings()
    summary = seed_demo(settings)
    table = Table(title=f"kanim demo office {settings.office_code}: staff accounts")
    for col in ("username", "role", "password"):
        table.add_column(col)
    for u in summary.users:
        table.add_row(u.username, u.role, u.password)
    out.print(table)
    out.print(f"applications by stage: {summary.stages}")
    out.print(f"booklets: {summary.booklets}")
    if serve_after:
        out.print(f"serving on http://{host}:{port}  (API docs: http://{host}:{port}/docs)")
        run(settings, host=host, port=port)


def _env() -> dict[str, str]:
    import os

    return dict(os.environ)


def main() -> None:  # pragma: no cover
    sys.exit(app())
