"""The schema the migrations build is the one kanim/store/tables.py (and kanim/central/tables.py)
describe: an index or column added to one and not the other fails here, not in production."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

import kanim.central.tables  # noqa: F401 - the central's tables, in the same metadata
from kanim.store.tables import metadata


def test_the_migrated_schema_is_the_schema_the_tables_describe(office) -> None:  # noqa: ANN001
    with office.engine.connect() as conn:
        differences = compare_metadata(MigrationContext.configure(conn), metadata)
    assert differences == []
