"""Shared fixtures. The `office` fixture is a whole office node (migrated database, vault, fake
clock) on SQLite, and also on PostgreSQL when KANIM_TEST_POSTGRES_URL is set."""

from __future__ import annotations

import os
import shutil
import tempfile
import uuid
from datetime import UTC, datetime
from pathlib import Path

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


def pytest_configure(config: pytest.Config) -> None:
    _remember_image_checks()


def _remember_image_checks() -> None:
    """The photo and fingerprint checks, remembered per image in this test process: the seed
    captures the same public-domain face and finger for every application it advances (nine
    fingers each), and re-measuring identical bytes was a tenth of the integration tests' time.
    The checks are pure functions of the bytes and the policy, so an image's first check is the
    real one and its answer stands; refusals are never remembered (they raise). The servers of
    the end-to-end tests are other processes, where every image is checked."""
    import functools

    from kanim.biometrics import fingerprint, photo

    for module, name in ((fingerprint, "check_fingerprint"), (photo, "check_photo")):
        check = getattr(module, name)
        if not hasattr(check, "cache_info"):  # once per process
            setattr(module, name, functools.lru_cache(maxsize=64)(check))


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


_SQLITE_TEMPLATE: list[Path] = []  # this test process's migrated SQLite database, copied per office


def _migrated_sqlite(db_file: Path) -> None:
    """A fresh office database: a copy of one this process migrated once (Alembic's upgrade,
    a tenth of a second, would otherwise run for each of the thousand offices the tests make)."""
    if not _SQLITE_TEMPLATE:
        folder = Path(tempfile.mkdtemp(prefix="kanim-template-"))
        engine = make_engine(f"sqlite:///{folder / 'template.db'}")
        upgrade(engine)
        engine.dispose()  # the last connection closing checkpoints the WAL into the file
        _SQLITE_TEMPLATE.append(folder / "template.db")
    db_file.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(_SQLITE_TEMPLATE[0], db_file)


_PG_SCHEMA_DDL: list[str] = []  # this test process's DDL for a schema at the head revision


def _schema_at_head(engine) -> None:  # noqa: ANN001
    """PostgreSQL: the tables created from the metadata and stamped at the head revision, in one
    round trip. tests/integration/test_migrations.py checks, on a really migrated database, that
    the migrations make exactly this schema, and tests/unit/test_migration_head.py that HEAD is
    the head. (create_all per test asked the catalog about each table first, and Alembic's stamp
    read every migration script again: a sixth of the integration tests' time.)"""
    if not _PG_SCHEMA_DDL:
        _PG_SCHEMA_DDL.append(_head_ddl(engine.dialect))
    with engine.begin() as conn:
        conn.exec_driver_sql(_PG_SCHEMA_DDL[0])


def _head_ddl(dialect) -> str:  # noqa: ANN001
    from sqlalchemy import create_mock_engine

    import kanim.central.tables  # noqa: F401 - the central's tables share the metadata (and the migrations)
    from kanim.store.migrate import HEAD
    from kanim.store.tables import metadata

    statements: list[str] = []
    mock = create_mock_engine("postgresql+psycopg://",
                              lambda sql, *_a, **_k: statements.append(str(sql.compile(dialect=dialect)).strip()))
    metadata.create_all(mock, checkfirst=False)
    statements += ["CREATE TABLE alembic_version (version_num VARCHAR(32) NOT NULL, "
                   "CONSTRAINT alembic_version_pkc PRIMARY KEY (version_num))",
                   f"INSERT INTO alembic_version (version_num) VALUES ('{HEAD}')"]
    return ";\n".join(statements)


def make_office(tmp_path, backend: str, clock: FakeClock, central, *, migrate: bool = False,  # noqa: ANN001
                **settings) -> tuple[Office, callable]:
    """A whole office node; `migrate` runs the real migrations instead of the fast paths above."""
    settings.setdefault("chip_required", False)  # no Document Signer unless a test installs one
    s = Settings(data_dir=tmp_path / "data", office_code="MND", office_name="Kantor Imigrasi Manado",
                 office_phone="(0431) 863 000",
                 **settings)
    cleanup = lambda: None  # noqa: E731
    if backend == "postgresql":
        schema = f"t_{uuid.uuid4().hex[:12]}"
        engine = _pg_engine(schema)
        cleanup = lambda: (engine.dispose(), _drop_schema(schema))  # noqa: E731
        if not migrate:
            _schema_at_head(engine)
    else:
        if not migrate:
            _migrated_sqlite(Path(s.db_url.removeprefix("sqlite:///")))
        engine = make_engine(s.db_url)
    office = bootstrap(s, clock=clock, central=central, engine=engine)
    if migrate:
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


# The files that take longest (seconds on the 2-core machine, from `pytest --durations`) run
# first, then the others by their number of tests: `make test` hands whole files to its workers
# (one per core) in this order (pytest_xdist_make_scheduler below), so that the run ends on small
# files that even out between the workers, not on a long one that keeps one worker busy while the
# other has nothing left. Measured back to back from a clean clone on 2026-12-01: 13 min 17 s
# this way, 14 min 23 s in xdist's own order (by number of tests).
SLOW_FILES = {
    "tests/e2e/test_schemathesis.py": 97, "tests/e2e/test_link_abuse.py": 68, "tests/e2e/test_benches.py": 67,
    "tests/e2e/test_console_browser.py": 62, "tests/e2e/test_link_faults.py": 58,
    "tests/e2e/test_schemathesis_central.py": 43, "tests/e2e/test_notify_worker.py": 43, "tests/e2e/test_demo.py": 39,
    "tests/e2e/test_outage_scenario.py": 26, "tests/e2e/test_http_limits.py": 23, "tests/e2e/test_input_rules.py": 20,
    "tests/e2e/test_dashboard_live.py": 20, "tests/e2e/test_ransomware_scenario.py": 21,
    "tests/integration/test_cli_link.py": 19, "tests/integration/test_cli_nodes.py": 18,
    "tests/e2e/test_public_browser.py": 18, "tests/e2e/test_backup_offsite.py": 15, "tests/e2e/test_errors.py": 14,
    "tests/e2e/test_chip_journey.py": 9, "tests/e2e/test_central_scale_out.py": 45,
}


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    root = config.rootpath
    files = [item.path.relative_to(root).as_posix() for item in items]
    count: dict[str, int] = {}
    for f in files:
        count[f] = count.get(f, 0) + 1
    key = {id(item): (-SLOW_FILES.get(f, 0), -count[f], f) for item, f in zip(items, files, strict=True)}
    items.sort(key=lambda item: key[id(item)])  # stable: a file's own tests keep their order


@pytest.hookimpl(optionalhook=True)  # a run without xdist (-p no:xdist) has no such hook
def pytest_xdist_make_scheduler(config: pytest.Config, log):  # noqa: ANN201 - xdist's scheduler, or None
    """`--dist loadfile` in the collection's order: by itself xdist would sort the files by their
    number of tests, which puts the long one-test end-to-end files last. Other modes: xdist's own."""
    if config.getvalue("dist") != "loadfile":
        return None
    from xdist.scheduler import LoadFileScheduling

    config.option.loadscopereorder = False  # xdist >= 3.8 (pyproject.toml)
    return LoadFileScheduling(config, log)
