"""Persistence with SQLAlchemy 2: SQLite by default, PostgreSQL for several replicas.

``build_store(url)`` makes the engine, brings the schema up to date with Alembic (under a
PostgreSQL advisory lock, so replicas starting together migrate once) and returns a SqlStore.
"""
from __future__ import annotations

import fcntl
import logging
import threading
from contextlib import contextmanager, nullcontext
from pathlib import Path
from typing import Iterator

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, OperationalError

from connectors.store.sql import SqlStore
from workflows.ports import StoreError

log = logging.getLogger(__name__)
_MIGRATIONS = Path(__file__).resolve().parent / "migrations"
_MIGRATION_LOCK = 0x17B07  # an arbitrary, fixed advisory-lock key for schema changes


def normalise_url(url: str) -> str:
    """Use the psycopg 3 driver for postgres:// and postgresql:// URLs."""
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix):]
    return url


def make_engine(url: str) -> Engine:
    url = normalise_url(url)
    try:
        parsed = make_url(url)
    except ArgumentError as exc:
        raise StoreError(f"DATABASE_URL is malformed: {exc}") from None
    if parsed.get_backend_name() == "sqlite":
        engine = create_engine(parsed, connect_args={"timeout": 30, "check_same_thread": False})
        event.listen(engine, "connect", _sqlite_pragmas)
    else:
        engine = create_engine(parsed, pool_pre_ping=True, pool_size=5, max_overflow=10,
                               connect_args={"connect_timeout": 10})
    return engine


def _sqlite_pragmas(dbapi_connection, _record) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")  # with WAL: durable across crashes of the process
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()


def _alembic_config() -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(_MIGRATIONS))
    return cfg


def head_revision() -> str:
    return ScriptDirectory.from_config(_alembic_config()).get_current_head()


def current_revision(engine: Engine) -> str | None:
    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


_in_process = threading.Lock()  # Alembic's migration context is process-global


@contextmanager
def _sqlite_file_lock(engine: Engine) -> Iterator[None]:
    database = engine.url.database
    if not database or database == ":memory:":
        yield
        return
    with open(f"{database}.migrate-lock", "a+") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def migrate(engine: Engine) -> None:
    """Upgrade the schema to the newest revision; safe to call from every replica at once.

    PostgreSQL replicas serialise on an advisory lock held for the migration's transaction;
    processes sharing a SQLite file serialise on a lock file beside it.
    """
    cfg = _alembic_config()
    file_lock = _sqlite_file_lock(engine) if engine.dialect.name == "sqlite" else nullcontext()
    with _in_process, file_lock, engine.connect() as conn:
        sqlite = conn.dialect.name == "sqlite"
        if sqlite:   # batch mode copies a table and drops the old one: that must not cascade to the rows that
            conn.exec_driver_sql("PRAGMA foreign_keys=OFF")   # point at it (set outside the transaction to count)
            conn.commit()
        try:
            with conn.begin():
                if conn.dialect.name == "postgresql":
                    conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _MIGRATION_LOCK})
                cfg.attributes["connection"] = conn
                command.upgrade(cfg, "head")
        finally:
            if sqlite:
                conn.exec_driver_sql("PRAGMA foreign_keys=ON")
                conn.commit()


def build_store(url: str) -> SqlStore:
    engine = make_engine(url)
    where = engine.url.render_as_string(hide_password=True)
    try:
        migrate(engine)
    except OperationalError as exc:
        reason = str(exc.orig).strip().splitlines()[0] if exc.orig else str(exc)
        raise StoreError(f"cannot open the database at {where}: {reason}") from None
    except OSError as exc:   # SQLite: the file's directory is missing or not writable (the lock file beside it)
        raise StoreError(f"cannot open the database at {where}: {exc.strerror} ({exc.filename})") from None
    log.info("store ready", extra={"database": engine.url.render_as_string(hide_password=True),
                                   "revision": head_revision()})
    return SqlStore(engine)
