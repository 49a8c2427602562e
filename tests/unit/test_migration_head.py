"""kanim.store.migrate.HEAD names the newest migration: node starts trust it to skip Alembic."""

from __future__ import annotations

from alembic.script import ScriptDirectory

from kanim.store.migrate import HEAD, alembic_config


def test_head_is_the_newest_migration_and_there_is_only_one() -> None:
    heads = ScriptDirectory.from_config(alembic_config("sqlite://")).get_heads()
    assert heads == [HEAD], f"move kanim.store.migrate.HEAD to the new migration's revision: {heads}"
