"""The schema the migrations build is the one kanim/store/tables.py (and kanim/central/tables.py)
describe: an index or column added to one and not the other fails here, not in production."""

from __future__ import annotations

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

import kanim.central.tables  # noqa: F401 - the central's tables, in the same metadata
from kanim.store.tables import metadata


@pytest.fixture
def migrated(tmp_path, backend, clock, central):  # noqa: ANN001, ANN201
    """An office built by the migrations themselves (the other tests' offices take shortcuts
    that this test is what makes safe: a copied SQLite file, PostgreSQL's create_all)."""
    from tests.conftest import make_office

    office, cleanup = make_office(tmp_path, backend, clock, central, migrate=True)
    yield office
    office.engine.dispose()
    cleanup()


def test_the_migrated_schema_is_the_schema_the_tables_describe(migrated) -> None:  # noqa: ANN001
    office = migrated
    with office.engine.connect() as conn:
        differences = compare_metadata(MigrationContext.configure(conn), metadata)
    assert differences == []
