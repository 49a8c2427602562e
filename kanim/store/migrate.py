"""Running Alembic from code (`kanim db upgrade`, tests, the demo)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import Engine, text
from sqlalchemy.exc import DBAPIError

if TYPE_CHECKING:
    from alembic.config import Config

MIGRATIONS = Path(__file__).parent / "migrations"
# The newest revision. Every node start upgrades its database, and a database already there (the
# usual case) is recognised by this constant alone: importing Alembic and reading its scripts
# would cost every `kanim serve` a third of a second. tests/unit/test_migration_head.py fails
# when a migration is added without moving HEAD.
HEAD = "0016_central_history"


def alembic_config(url: str) -> Config:
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    # Files named by date and slug, so the history reads in order.
    cfg.set_main_option("file_template", "%%(year)d%%(month).2d%%(day).2d_%%(slug)s_%%(rev)s")
    return cfg


def _revisions(engine: Engine) -> list[str] | None:
    """The database's Alembic revisions, read without Alembic; None when it has no such table."""
    try:
        with engine.connect() as conn:
            return list(conn.execute(text("SELECT version_num FROM alembic_version")).scalars())
    except DBAPIError:
        return None


def at_head(engine: Engine) -> bool:
    """Whether the database's one Alembic revision is HEAD (no table, no row: not there)."""
    return _revisions(engine) == [HEAD]


def upgrade(engine: Engine, revision: str = "head") -> None:
    if revision == "head" and at_head(engine):
        return
    from alembic import command

    cfg = alembic_config(engine.url.render_as_string(hide_password=False))
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, revision)


def current(engine: Engine) -> str | None:
    """The database's revision (None: not made yet); every CLI command asks, through require_node."""
    found = _revisions(engine)
    return found[0] if found else None
