"""Opening a node from a command. Only the commands that make a node (`kanim serve`, `kanim db
upgrade`, `kanim demo`) may create its database and keys; every other command opens a node that
is already there, and says where it looked when there is none: a mistyped or forgotten
KANIM_DATA_DIR must not quietly make a brand-new node (with a brand-new biometric key) and
report on that."""

from __future__ import annotations

import os
from pathlib import Path

from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError

from kanim.config import Settings


class NoNode(Exception):
    """No node where the settings point; the message says where that was and what to do."""


def where(settings: Settings) -> str:
    """The node's location as the operator set it (or did not)."""
    url = make_url(settings.db_url)
    if url.get_backend_name() == "sqlite":
        unset = "" if "KANIM_DATA_DIR" in os.environ else ", KANIM_DATA_DIR not set"
        return f"{Path(url.database or '').resolve().parent} ({url.database}{unset})"
    return url.render_as_string(hide_password=True)


def require_node(settings: Settings) -> None:
    """Raise NoNode unless a kanim database (migrated at least once) is where `settings` point.
    Nothing is created: SQLite would make an empty file just by connecting, so its file is
    looked for first."""
    from kanim.store.db import make_engine
    from kanim.store.migrate import current

    url = make_url(settings.db_url)
    role = "central" if settings.role == "central" else "office"
    fix = (f"set KANIM_DATA_DIR (or KANIM_DATABASE_URL) to the {role}'s, "
           f"or make a new node with `kanim db upgrade`")
    if url.get_backend_name() == "sqlite" and not Path(url.database or "").is_file():
        raise NoNode(f"no kanim node at {where(settings)}: {fix}")
    engine = make_engine(settings.db_url)
    try:
        revision = current(engine)
    except SQLAlchemyError as e:
        first = str(e.orig if getattr(e, "orig", None) else e).strip().splitlines()[0]
        raise NoNode(f"cannot open the database at {where(settings)}: {first}") from None
    finally:
        engine.dispose()
    if revision is None:
        raise NoNode(f"the database at {where(settings)} holds no kanim node: {fix}")
