"""Engines. SQLite gets WAL, a busy timeout, foreign keys and BEGIN IMMEDIATE: every unit of
work that may write takes the write lock up front, so two concurrent requests never deadlock
upgrading a read transaction to a write one (SQLITE_BUSY that no retry can fix). Read-only units
of work begin a plain (deferred) transaction and read a WAL snapshot without waiting."""

from __future__ import annotations

import threading
from pathlib import Path

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url

from kanim.security.filemodes import sqlite_files

READONLY = "kanim_readonly"  # execution option: this transaction only reads
WRITE_WAIT_SECONDS = 30


def make_engine(url: str, *, echo: bool = False) -> Engine:
    """hide_parameters on every engine: SQLAlchemy's errors quote a failed statement's
    parameters, and those hold NIKs, names and contact data; an error must be safe to log."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        return _sqlite_engine(url, echo=echo)
    # hide_parameters: an error's message never quotes the values bound (NIKs, names, images).
    return create_engine(url, echo=echo, pool_pre_ping=True, pool_size=10, max_overflow=10, hide_parameters=True)


def _sqlite_engine(url: str, *, echo: bool) -> Engine:
    database = make_url(url).database
    if database and database != ":memory:" and not database.startswith("file:"):
        # 0600 before SQLite first opens it: its -wal and -shm then get the same mode.
        sqlite_files(Path(database))
    engine = create_engine(url, echo=echo, connect_args={"check_same_thread": False, "timeout": 30},
                           hide_parameters=True)

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn, _record):  # noqa: ANN001
        dbapi_conn.isolation_level = None  # let SQLAlchemy's "begin" event emit BEGIN itself
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        # FULL: a power cut at the office must not lose a committed payment or print record.
        cur.execute("PRAGMA synchronous=FULL")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute("PRAGMA busy_timeout=30000")
        cur.close()

    # Writers of this process queue on a mutex before asking SQLite for its write lock: SQLite's
    # own busy handler sleeps in growing steps (up to 100 ms) instead of queueing, which under
    # load wastes more time than the writes take. busy_timeout still arbitrates between processes.
    writer = threading.Lock()

    @event.listens_for(engine, "begin")
    def _on_begin(conn):  # noqa: ANN001
        if conn.get_execution_options().get(READONLY):
            conn.exec_driver_sql("BEGIN")
            return
        if not writer.acquire(timeout=WRITE_WAIT_SECONDS):
            raise TimeoutError("the database stayed busy for too long; try again")
        conn.info["kanim_writer"] = True
        try:
            conn.exec_driver_sql("BEGIN IMMEDIATE")
        except BaseException:
            _release(conn)
            raise

    def _release(conn) -> None:  # noqa: ANN001
        if conn.info.pop("kanim_writer", False):
            writer.release()

    event.listen(engine, "commit", _release)
    event.listen(engine, "rollback", _release)
    return engine


def is_sqlite(engine: Engine) -> bool:
    return engine.dialect.name == "sqlite"
