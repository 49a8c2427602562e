"""Shared fixtures. The `office` fixture is a whole office node (migrated database, vault, fake
clock) on SQLite, and also on PostgreSQL when KANIM_TEST_POSTGRES_URL is set."""

from __future__ import annotations

import os
import uuid
from datetime import UTC, datetime

import pytest
from sqlalchemy import create_engine, text

from kanim.bootstrap import Office, bootstrap
from kanim.clock import FakeClock
from kanim.config import Settings
from kanim.link.simulated import SimulatedCentral
from kanim.office import admin
from kanim.store.db import make_engine
from kanim.store.migrate import upgrade

PG_URL = os.environ.get("KANIM_TEST_POSTGRES_URL")
NO_PG = "KANIM_TEST_POSTGRES_URL is not set: no PostgreSQL to test against (CI sets it)"
# A Monday morning in Jakarta (01:00 UTC = 08:00 WIB), far from holidays.
MONDAY_MORNING = datetime(2026, 11, 30, 1, 0, tzinfo=UTC)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(MONDAY_MORNING)


@pytest.fixture
def central() -> SimulatedCentral:
    return SimulatedCentral()


def _pg_engine(schema: str):  # noqa: ANN202
    admin = create_engine(PG_URL)
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    admin.dispose()
    sep = "&" if "?" in PG_URL else "?"
    return make_engine(f"{PG_URL}{sep}options=-csearch_path%3D{schema}")


def _drop_schema(schema: str) -> None:
    admin = create_engine(PG_URL)
    with admin.begin() as conn:
        conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
    admin.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def backend(request: pytest.FixtureRequest) -> str:
    if request.param == "postgresql" and not PG_URL:
        pytest.skip(NO_PG)
    return request.param


def make_office(tmp_path, backend: str, clock: FakeClock, central, **settings) -> tuple[Office, callable]:  # noqa: ANN001
    s = Settings(data_dir=tmp_path / "data", office_code="MND", office_name="Kantor Imigrasi Manado",
                 office_phone="(0431) 863 000",
                 **settings)
    cleanup = lambda: None  # noqa: E731
    if backend == "postgresql":
        schema = f"t_{uuid.uuid4().hex[:12]}"
        engine = _pg_engine(schema)
        cleanup = lambda: (engine.dispose(), _drop_schema(schema))  # noqa: E731
    else:
        engine = make_engine(s.db_url)
    office = bootstrap(s, clock=clock, central=central, engine=engine)
    upgrade(office.engine)
    # An office normally holds a recent watch-list snapshot from the central; without one the
    # watch-list clearance stays pending and nothing may print (tested on its own).
    admin.load_watchlist_snapshot(office, taken_at=clock.now(), source="test", orders=[], actor="test")
    return office, cleanup


@pytest.fixture
def office(tmp_path, backend, clock, central):  # noqa: ANN001, ANN201
    o, cleanup = make_office(tmp_path, backend, clock, central)
    yield o
    o.engine.dispose()
    cleanup()


@pytest.fixture
def sqlite_office(tmp_path, clock, central):  # noqa: ANN001, ANN201
    o, _ = make_office(tmp_path, "sqlite", clock, central)
    yield o
    o.engine.dispose()


# The files that take longest (seconds on the 2-core machine, from `pytest --durations`), run
# first: `make test` hands whole files to its two workers in collection order, and a long file
# started last keeps one worker busy while the other has nothing left (minutes of wall time).
SLOW_FILES = {
    "tests/e2e/test_schemathesis.py": 97, "tests/e2e/test_link_abuse.py": 68, "tests/e2e/test_console_browser.py": 62,
    "tests/e2e/test_link_faults.py": 58, "tests/e2e/test_benches.py": 52, "tests/e2e/test_schemathesis_central.py": 43,
    "tests/e2e/test_notify_worker.py": 43, "tests/e2e/test_demo.py": 39, "tests/e2e/test_outage_scenario.py": 26,
    "tests/e2e/test_http_limits.py": 23, "tests/e2e/test_input_rules.py": 20, "tests/e2e/test_dashboard_live.py": 20,
    "tests/integration/test_cli_link.py": 19, "tests/integration/test_cli_nodes.py": 18, "tests/e2e/test_errors.py": 14,
}


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    root = config.rootpath
    weight = {item: SLOW_FILES.get(item.path.relative_to(root).as_posix(), 0) for item in items}
    items.sort(key=lambda item: -weight[item])  # stable: a file's own tests keep their order
